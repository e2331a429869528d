"""Thin gRPC layer of the router service.

RPCs not implemented yet fall through to the generated base class and answer
UNIMPLEMENTED (issue #3 tracks them).
"""

from switchboard.router.v1 import router_pb2_grpc


class RouterServiceServicer(router_pb2_grpc.RouterServiceServicer):
    pass
