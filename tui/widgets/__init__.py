"""Reusable widgets: the panes of the main screen."""
