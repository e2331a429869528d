"""Wires the learning service together (its composition root)."""

from services.learning.service import LearningServiceServicer
from switchboard.learning.v1 import learning_pb2, learning_pb2_grpc
from switchboard.runtime.server import GrpcApp, Runtime
from switchboard.runtime.settings import MeshSettings

SETTINGS = MeshSettings


def create(runtime: Runtime) -> GrpcApp:
    return GrpcApp(
        service_names=[learning_pb2.DESCRIPTOR.services_by_name["LearningService"].full_name],
        servicers=[(learning_pb2_grpc.add_LearningServiceServicer_to_server, LearningServiceServicer())],
    )
