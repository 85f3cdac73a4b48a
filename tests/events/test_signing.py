"""Pure tests: the webhook signature, the backoff and the SSRF address check."""

from __future__ import annotations

import ipaddress

from hypothesis import given
from hypothesis import strategies as st

from oneflow_ai.events.backoff import delay_s
from oneflow_ai.events.signing import signature, verify
from oneflow_ai.events.ssrf import forbidden

SECRET = "whsec_test"


@given(st.binary(max_size=2000), st.integers(min_value=0, max_value=2**33))
def test_a_signature_verifies_and_nothing_else_does(body: bytes, t: int) -> None:
    header = signature(SECRET, body, t)
    assert header.startswith(f"t={t},v1=")
    assert verify(SECRET, header, body, now=t + 10)
    assert not verify("another", header, body, now=t)
    assert not verify(SECRET, header, body + b"x", now=t)
    assert not verify(SECRET, header, body, now=t + 301)  # too old: a replay
    assert not verify(SECRET, header.replace(f"t={t}", f"t={t + 1}"), body, now=t)  # the time is signed too


def test_signature_is_hmac_sha256_over_t_dot_body() -> None:
    import hashlib
    import hmac

    mac = hmac.new(b"k", b"1700000000.{}", hashlib.sha256).hexdigest()
    assert signature("k", b"{}", 1700000000) == f"t=1700000000,v1={mac}"
    assert not verify("k", "garbage", b"{}", now=1700000000)


@given(
    st.integers(min_value=1, max_value=100),
    st.floats(min_value=0.01, max_value=100),
    st.floats(min_value=0.01, max_value=10_000),
    st.floats(min_value=0, max_value=1, exclude_max=True),
)
def test_backoff_is_bounded_and_grows(attempt: int, base: float, cap: float, rand: float) -> None:
    d = delay_s(attempt, base, cap, rand)
    ceiling = min(cap, base * 2 ** (attempt - 1))
    assert min(base / 2, ceiling) <= d <= ceiling + 1e-9
    assert delay_s(attempt, base, cap, 0.999) >= delay_s(max(1, attempt - 1), base, cap, 0.999) - 1e-9


def test_backoff_doubles_until_the_cap() -> None:
    assert [delay_s(a, 1.0, 8.0, 0.999999) for a in range(1, 7)] == [
        pytest_approx(x) for x in (1.0, 2.0, 4.0, 8.0, 8.0, 8.0)
    ]
    assert delay_s(3, 1.0, 8.0, 0.0) == 0.5  # jitter's floor: half the base


def pytest_approx(x: float) -> object:
    import pytest

    return pytest.approx(x, abs=1e-4)


PRIVATE_V4 = [
    ipaddress.ip_network(n)
    for n in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "100.64.0.0/10",
        "0.0.0.0/8",
    )
]


@given(st.sampled_from(PRIVATE_V4), st.integers(min_value=0, max_value=2**32 - 1))
def test_private_loopback_and_link_local_v4_are_forbidden(net: ipaddress.IPv4Network, n: int) -> None:
    address = net[n % net.num_addresses]
    assert forbidden(address)
    assert forbidden(ipaddress.IPv6Address(f"::ffff:{address}"))  # the same, mapped into IPv6


@given(st.ip_addresses(v=4))
def test_v4_forbidden_unless_global(address: ipaddress.IPv4Address) -> None:
    assert forbidden(address) == (not address.is_global or address.is_multicast or address.is_reserved)
    assert forbidden(ipaddress.IPv6Address(f"::ffff:{address}")) == forbidden(address)


@given(st.ip_addresses(v=6))
def test_v6_forbidden_unless_global(address: ipaddress.IPv6Address) -> None:
    if address.ipv4_mapped or address.sixtofour or address.teredo:
        return
    assert forbidden(address) == (not address.is_global or address.is_multicast or address.is_reserved)


def test_known_addresses() -> None:
    for a in ("127.0.0.1", "::1", "169.254.169.254", "fd00:ec2::254", "10.1.2.3", "fe80::1", "0.0.0.0", "::"):
        assert forbidden(ipaddress.ip_address(a)), a
    for a in ("8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"):
        assert not forbidden(ipaddress.ip_address(a)), a


async def test_a_name_is_judged_by_the_addresses_it_resolves_to() -> None:
    import pytest

    from oneflow_ai.events.ssrf import Refused, resolve

    with pytest.raises(Refused, match="private or reserved"):
        await resolve("localhost", 80, allow_private=False)
    assert await resolve("localhost", 80, allow_private=True) in ("127.0.0.1", "::1")
