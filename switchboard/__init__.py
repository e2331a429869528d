"""switchboard: a mesh of small gRPC services that routes AI (LLM) requests.

This package is the mesh's shared home: the server bootstrap and settings
(`switchboard.runtime`), the CLI and supervisor, and the generated gRPC stubs
(`switchboard.<svc>.v1`, produced by ``make protos``).
"""

__version__ = "0.1.0"
