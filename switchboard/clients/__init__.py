"""Small clients of the mesh shared by the CLI, the supervisor, the gateway and tests."""
