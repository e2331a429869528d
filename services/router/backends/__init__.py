"""Backend adapters: the router's HTTP clients for LLM servers (OpenAI-compatible,
Ollama, Anthropic) and the deterministic mock. Domain code, no gRPC."""

from services.router.backends.base import (
    Backend,
    BackendError,
    BackendRequest,
    ChatTurn,
    Chunk,
    DeadlineReached,
    ErrorKind,
)
from services.router.backends.client import BackendClient, PoolExhausted
from services.router.backends.config import (
    BackendConfig,
    BackendKind,
    MockOptions,
    Timeouts,
    default_backends,
    load_backends,
)
from services.router.backends.factory import (
    build_backend,
    make_http_client,
    ollama_probe,
)

__all__ = [
    "Backend",
    "BackendClient",
    "BackendConfig",
    "BackendError",
    "BackendKind",
    "BackendRequest",
    "ChatTurn",
    "Chunk",
    "DeadlineReached",
    "ErrorKind",
    "MockOptions",
    "PoolExhausted",
    "Timeouts",
    "build_backend",
    "default_backends",
    "load_backends",
    "make_http_client",
    "ollama_probe",
]
