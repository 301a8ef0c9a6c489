"""The SSH gateway (issue 30): ``ssh -p 2222 alice@vault`` lands in the TUI.

A layer beside server/web: it imports services and below; only server/ops imports it.
"""
