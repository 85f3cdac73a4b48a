"""Outbound HTTP: the request/response values, the transport seam, and SSE framing."""
