"""The monitor service (MonitorService). See issue #7 for its behaviour."""
