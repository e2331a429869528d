"""Wires the cache service together (its composition root)."""

from services.cache.service import CacheServiceServicer
from switchboard.cache.v1 import cache_pb2, cache_pb2_grpc
from switchboard.runtime.server import GrpcApp, Runtime
from switchboard.runtime.settings import MeshSettings

SETTINGS = MeshSettings


def create(runtime: Runtime) -> GrpcApp:
    return GrpcApp(
        service_names=[cache_pb2.DESCRIPTOR.services_by_name["CacheService"].full_name],
        servicers=[(cache_pb2_grpc.add_CacheServiceServicer_to_server, CacheServiceServicer())],
    )
