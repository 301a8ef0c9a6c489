"""HTTP handlers: parse the request, call one service function, shape the answer."""
