"""Thin gRPC layer of the briefs service.

RPCs not implemented yet fall through to the generated base class and answer
UNIMPLEMENTED (issue #8 tracks them).
"""

from switchboard.briefs.v1 import briefs_pb2_grpc


class BriefServiceServicer(briefs_pb2_grpc.BriefServiceServicer):
    pass
