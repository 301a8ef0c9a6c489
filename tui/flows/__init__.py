"""Dialog flows a pane runs (a series of forms and requests), with no widget of their own:
org access requests and the check-out queue."""
