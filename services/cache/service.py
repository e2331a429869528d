"""Thin gRPC layer of the cache service.

RPCs not implemented yet fall through to the generated base class and answer
UNIMPLEMENTED (issue #5 tracks them).
"""

from switchboard.cache.v1 import cache_pb2_grpc


class CacheServiceServicer(cache_pb2_grpc.CacheServiceServicer):
    pass
