"""Wires the router service together (its composition root)."""

from services.router.service import RouterServiceServicer
from switchboard.router.v1 import router_pb2, router_pb2_grpc
from switchboard.runtime.server import GrpcApp, Runtime
from switchboard.runtime.settings import MeshSettings

SETTINGS = MeshSettings


def create(runtime: Runtime) -> GrpcApp:
    return GrpcApp(
        service_names=[router_pb2.DESCRIPTOR.services_by_name["RouterService"].full_name],
        servicers=[(router_pb2_grpc.add_RouterServiceServicer_to_server, RouterServiceServicer())],
    )
