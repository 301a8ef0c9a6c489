"""Fixtures for tests/tui (shared ones live in tests/conftest.py)."""
