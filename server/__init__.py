"""Strongroom server: configuration, database access, crypto, auth, domain services, HTTP."""
