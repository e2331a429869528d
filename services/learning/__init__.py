"""The learning service (LearningService). See issue #4 for its behaviour."""
