"""The router service (RouterService). See issue #3 for its behaviour."""
