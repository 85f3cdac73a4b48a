"""The HTTP edge: ASGI middleware, response types, and thin route handlers."""
