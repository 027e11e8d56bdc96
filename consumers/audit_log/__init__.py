"""Audit log consumer: every event, exactly once, as partitioned JSON Lines in S3 for Athena."""
