"""The cache service (CacheService). See issue #5 for its behaviour."""
