"""Thin gRPC layer of the monitor service.

RPCs not implemented yet fall through to the generated base class and answer
UNIMPLEMENTED (issue #7 tracks them).
"""

from switchboard.monitor.v1 import monitor_pb2_grpc


class MonitorServiceServicer(monitor_pb2_grpc.MonitorServiceServicer):
    pass
