"""Fixtures for tests/unit (shared ones live in tests/conftest.py)."""
