"""What the TUI computes without drawing: picker choices, report lines, export rows,
additional fields, check-out state, and the one time formatter."""
