"""Wires the briefs service together (its composition root)."""

from services.briefs.service import BriefServiceServicer
from switchboard.briefs.v1 import briefs_pb2, briefs_pb2_grpc
from switchboard.runtime.server import GrpcApp, Runtime
from switchboard.runtime.settings import MeshSettings

SETTINGS = MeshSettings


def create(runtime: Runtime) -> GrpcApp:
    return GrpcApp(
        service_names=[briefs_pb2.DESCRIPTOR.services_by_name["BriefService"].full_name],
        servicers=[(briefs_pb2_grpc.add_BriefServiceServicer_to_server, BriefServiceServicer())],
    )
