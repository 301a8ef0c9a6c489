"""Fixtures for tests/server (shared ones live in tests/conftest.py)."""
