"""Small widgets every screen and pane builds on (pickers, the key bar, filling a table):
below both ``tui.screens`` and ``tui.widgets``, importing neither."""
