"""The gateway: the mesh's REST face (issue #6). HTTP, not gRPC."""
