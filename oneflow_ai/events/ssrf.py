"""The SSRF guard: a webhook may not reach a private, loopback, link-local or metadata address unless its
endpoint allows it. Checked on every address a host resolves to, at delivery time (`resolve`), and the
connection goes to the checked address, so DNS cannot answer differently between check and use."""

from __future__ import annotations

import asyncio
import ipaddress
import socket

from oneflow_ai.errors import InvalidRequest

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

METADATA = (ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254"))


class Refused(Exception):
    """A webhook URL resolves to an address it may not reach."""


def forbidden(address: Address) -> bool:
    """Private, loopback, link-local, multicast, reserved, unspecified, shared (CGNAT) or a cloud metadata
    address; an IPv4-mapped or 6to4/Teredo IPv6 address is judged by the IPv4 address it carries."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = address.ipv4_mapped or address.sixtofour or (address.teredo[1] if address.teredo else None)
        if inner is not None:
            return forbidden(inner)
    if address in METADATA:
        return True
    return (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    )


async def resolve(host: str, port: int, *, allow_private: bool) -> str:
    """The address to connect to for `host`; raises `Refused` if any address it resolves to is forbidden."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as e:
        raise Refused(f"cannot resolve {host}: {e}") from None
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    if not addresses:
        raise Refused(f"{host} resolves to no address")
    if not allow_private:
        bad = [a for a in addresses if forbidden(a)]
        if bad:
            raise Refused(f"{host} resolves to {bad[0]}, a private or reserved address (allow_private is off)")
    return str(addresses[0])


def check_literal(url_host: str, *, allow_private: bool) -> None:
    """At configuration time: refuse a URL whose host is a forbidden IP literal (names are checked on delivery)."""
    try:
        address = ipaddress.ip_address(url_host.strip("[]"))
    except ValueError:
        return
    if not allow_private and forbidden(address):
        raise InvalidRequest(f"The webhook URL's address {address} is private or reserved.", param="url")
