"""POST one webhook body, to the address the SSRF guard checked (a minimal HTTP/1.1 client on asyncio: the
connection goes to the resolved, checked address, with the URL's host in `Host` and, for https, in SNI)."""

from __future__ import annotations

import asyncio
import ssl
from urllib.parse import urlsplit

from oneflow_ai.events import ssrf


async def post(url: str, body: bytes, headers: dict[str, str], *, allow_private: bool, timeout_s: float) -> int:
    """The answer's status; raises `ssrf.Refused`, `OSError` or `TimeoutError`."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    tls = parts.scheme == "https"
    port = parts.port or (443 if tls else 80)
    address = await ssrf.resolve(host, port, allow_private=allow_private)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host_header = host if parts.port is None else f"{host}:{port}"
    if ":" in host and not host.startswith("["):
        host_header = f"[{host}]" if parts.port is None else f"[{host}]:{port}"
    head = [f"POST {path} HTTP/1.1", f"Host: {host_header}", "Connection: close", f"Content-Length: {len(body)}"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    request = ("\r\n".join(head) + "\r\n\r\n").encode() + body
    async with asyncio.timeout(timeout_s):
        reader, writer = await asyncio.open_connection(
            address, port, ssl=ssl.create_default_context() if tls else None, server_hostname=host if tls else None
        )
        try:
            writer.write(request)
            await writer.drain()
            status_line = await reader.readline()
        finally:
            writer.close()
    fields = status_line.split()
    if len(fields) < 2 or not fields[0].startswith(b"HTTP/") or not fields[1].isdigit():
        raise OSError(f"not an HTTP answer: {status_line[:80]!r}")
    return int(fields[1])
