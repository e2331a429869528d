"""The runtime every switchboard service shares: settings, logging, telemetry,
the gRPC server bootstrap and channels to peers. Written once, used by all six."""
