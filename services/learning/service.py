"""Thin gRPC layer of the learning service.

RPCs not implemented yet fall through to the generated base class and answer
UNIMPLEMENTED (issue #4 tracks them).
"""

from switchboard.learning.v1 import learning_pb2_grpc


class LearningServiceServicer(learning_pb2_grpc.LearningServiceServicer):
    pass
