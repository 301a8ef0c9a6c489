"""Strongroom terminal UI (Textual); talks to the server only through the REST API."""
