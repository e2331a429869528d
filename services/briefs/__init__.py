"""The briefs service (BriefService). See issue #8 for its behaviour."""
