"""Fixtures for tests/replication (shared ones live in tests/conftest.py)."""
