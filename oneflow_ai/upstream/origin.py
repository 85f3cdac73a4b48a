"""Where an upstream request goes and how it gets there: the origin (scheme, host, port), the request line,
the proxy the environment names for it (`HTTP_PROXY`, `HTTPS_PROXY`, `NO_PROXY`, as `urllib.request`
reads them), and an origin's own TLS identity and connection limit from the deployments that use it.

All of it is worked out once per URL or origin, never per request.
"""

from __future__ import annotations

import base64
import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit
from urllib.request import proxy_bypass_environment  # type: ignore[attr-defined]  # not in typeshed

from oneflow_ai.config.schema import Deployment


@dataclass(frozen=True, slots=True)
class Origin:
    host: str
    port: int
    tls: bool
    host_header: bytes


@dataclass(frozen=True, slots=True)
class Target:
    origin: Origin
    request_line_tail: bytes
    """` <path?query> HTTP/1.1\\r\\nhost: <host>\\r\\n`: everything after the method up to the headers (through a
    forward proxy the path is the absolute URL and the proxy's credentials follow)."""


@dataclass(frozen=True, slots=True)
class Proxy:
    """An HTTP proxy: `http://` upstreams go through it as absolute-form requests, `https://` ones through a
    CONNECT tunnel (so TLS runs end to end with the upstream)."""

    host: str
    port: int
    authorization: bytes
    """A `proxy-authorization: ...\\r\\n` header line from the proxy URL's user and password, or b""."""


@dataclass(frozen=True, slots=True)
class OriginSettings:
    """What the deployments of one origin ask of its connections (None: the transport's defaults)."""

    max_connections: int | None = None
    ssl_context: ssl.SSLContext | None = None


def target_of(url: str, proxy: Proxy | None = None) -> Target:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    tls = parts.scheme == "https"
    port = parts.port or (443 if tls else 80)
    default = port == (443 if tls else 80)
    host = parts.hostname
    shown = f"[{host}]" if ":" in host else host
    host_header = (shown if default else f"{shown}:{port}").encode("idna")
    path = ((parts.path or "/") + (f"?{parts.query}" if parts.query else "")).encode("latin-1")
    origin = Origin(host, port, tls, host_header)
    if proxy is not None and not tls:  # a forward proxy is asked for the absolute URL
        path = b"http://" + host_header + path
    tail = b" " + path + b" HTTP/1.1\r\nhost: " + host_header + b"\r\n"
    if proxy is not None and not tls:
        tail += proxy.authorization
    return Target(origin, tail)


def proxies_of(environ: Mapping[str, str]) -> dict[str, str]:
    """`urllib.request.getproxies_environment()` over `environ`: `<scheme>_proxy` variables in either case, the
    lower-case one winning; `no` holds NO_PROXY."""
    proxies: dict[str, str] = {}
    for name, value in environ.items():
        if value and name.lower().endswith("_proxy"):
            proxies[name.lower()[:-6]] = value
    for name, value in environ.items():
        if name.endswith("_proxy"):  # lower case: set or cleared by it
            if value:
                proxies[name[:-6]] = value
            else:
                proxies.pop(name[:-6], None)
    return proxies


def proxy_for(origin: Origin, proxies: Mapping[str, str]) -> Proxy | None:
    """The proxy to reach `origin` by, or None: none is set for its scheme, or NO_PROXY names the host."""
    url = proxies.get("https" if origin.tls else "http")
    if not url:
        return None
    shown = f"[{origin.host}]" if ":" in origin.host else origin.host
    if proxy_bypass_environment(f"{shown}:{origin.port}", proxies):
        return None
    return parse_proxy(url)


def parse_proxy(url: str) -> Proxy:
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"proxy {url!r}: only http:// proxies are supported (https upstreams are tunnelled)")
    authorization = b""
    if parts.username is not None:
        user = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        authorization = b"proxy-authorization: Basic " + base64.b64encode(user.encode()) + b"\r\n"
    return Proxy(parts.hostname, parts.port or 80, authorization)


def tls_context(ca_bundle: str | None, client_cert: str | None, client_key: str | None) -> ssl.SSLContext:
    """Certificates verified against `ca_bundle` (or the system's store), presenting `client_cert` when given.
    Raises `ValueError` naming the file that cannot be read or used."""
    try:
        context = ssl.create_default_context(cafile=ca_bundle)
    except (OSError, ssl.SSLError) as e:
        raise ValueError(f"ca_bundle {ca_bundle!r} cannot be used: {e}") from None
    if client_cert is not None:
        try:
            context.load_cert_chain(client_cert, client_key)
        except (OSError, ssl.SSLError) as e:
            raise ValueError(f"client_cert {client_cert!r} / client_key {client_key!r} cannot be used: {e}") from None
    return context


def origin_settings(deployments: Iterable[Deployment]) -> dict[Origin, OriginSettings]:
    """Each origin's settings, from the deployments that set any (the config made sure they agree)."""
    table: dict[Origin, OriginSettings] = {}
    for d in deployments:
        if d.max_connections is None and d.ca_bundle is None and d.client_cert is None:
            continue
        origin = target_of(d.url).origin
        if origin in table:
            continue
        context = None
        if origin.tls and (d.ca_bundle is not None or d.client_cert is not None):
            context = tls_context(d.ca_bundle, d.client_cert, d.client_key)
        table[origin] = OriginSettings(d.max_connections, context)
    return table
