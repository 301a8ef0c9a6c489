"""Typed models of the REST API, one module per domain: request bodies, query strings and
answers. Handlers validate into them, the OpenAPI document is assembled from them, and the
tests check every real answer against them."""
