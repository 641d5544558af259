"""The HTTP edge.

Everything that knows a request or a response lives here and nowhere below: the one exception handler
that maps error kinds to status codes, idempotency keys, strict JSON parsing, the API's input helpers
and query filters, cursor pagination, rate limiting, the OpenAPI helpers, the card-number guard
middleware, the health check and the JSON error pages. ``core`` below it knows nothing of HTTP; the
apps above use it for their ``api/`` packages.
"""
