"""Wires the monitor service together (its composition root)."""

from services.health.service import MonitorServiceServicer
from switchboard.monitor.v1 import monitor_pb2, monitor_pb2_grpc
from switchboard.runtime.server import GrpcApp, Runtime
from switchboard.runtime.settings import MeshSettings

SETTINGS = MeshSettings


def create(runtime: Runtime) -> GrpcApp:
    return GrpcApp(
        service_names=[monitor_pb2.DESCRIPTOR.services_by_name["MonitorService"].full_name],
        servicers=[(monitor_pb2_grpc.add_MonitorServiceServicer_to_server, MonitorServiceServicer())],
    )
