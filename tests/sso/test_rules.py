"""The claim rules: pure, claims in and a grant (or a refusal) out."""

from __future__ import annotations

from typing import Any

import pytest

from oneflow_ai.sso.rules import claim_value, grant_for, verified_email, with_derived
from oneflow_ai.sso.settings import Grant, SSOSettings

BASE: dict[str, Any] = {
    "issuer": "https://login.example.com/realms/acme",
    "client_id": "oneflow",
    "public_url": "https://gateway.example.com",
}
RULES = [
    {"claim": "groups", "contains": "platform-admins", "tenant": "acme", "role": "admin"},
    {"claim": "realm_access.roles", "contains": "oneflow-owner", "tenant": "acme", "role": "owner"},
    {"claim": "email_domain", "equals": "acme.com", "tenant": "acme", "role": "viewer"},
    {"claim": "https://example.com/department", "equals": "research", "tenant": "lab", "role": "member"},
]


def settings(**over: Any) -> SSOSettings:
    return SSOSettings.model_validate({**BASE, "rules": RULES, **over})


def email(address: str, verified: object = True) -> dict[str, Any]:
    return {"email": address, "email_verified": verified}


def test_the_first_matching_rule_wins() -> None:
    claims = {"groups": ["staff", "platform-admins"], **email("ana@acme.com")}
    assert grant_for(settings(), claims) == Grant(tenant="acme", role="admin")
    assert grant_for(settings(), email("ana@acme.com")) == Grant(tenant="acme", role="viewer")


def test_contains_needs_the_value_in_the_list() -> None:
    assert grant_for(settings(), {"groups": ["platform-admins-old", "staff"]}) is None
    assert grant_for(settings(), {"groups": "platform-admins"}) == Grant(tenant="acme", role="admin")  # one group
    assert grant_for(settings(), {"groups": [["platform-admins"]]}) is None  # nested lists are not flattened


def test_dotted_paths_reach_nested_claims() -> None:
    claims = {"realm_access": {"roles": ["offline_access", "oneflow-owner"]}}
    assert grant_for(settings(), claims) == Grant(tenant="acme", role="owner")
    assert grant_for(settings(), {"realm_access": ["oneflow-owner"]}) is None


def test_a_claim_name_with_dots_is_taken_whole_first() -> None:
    assert grant_for(settings(), {"https://example.com/department": "research"}) == Grant(tenant="lab", role="member")
    assert claim_value({"a.b": 1, "a": {"b": 2}}, "a.b") == 1
    assert claim_value({"a": {"b": 2}}, "a.b") == 2


def test_email_domain_only_from_a_verified_address() -> None:
    assert grant_for(settings(), email("ana@ACME.com")) == Grant(tenant="acme", role="viewer")
    assert grant_for(settings(), email("ana@acme.com", verified=False)) is None
    assert grant_for(settings(), email("ana@acme.com", verified="true")) is None  # a string is not true
    assert grant_for(settings(), {"email": "ana@acme.com"}) is None
    trusting = settings(trust_unverified_email=True)
    assert grant_for(trusting, {"email": "ana@acme.com"}) == Grant(tenant="acme", role="viewer")


def test_a_provider_cannot_send_its_own_email_domain() -> None:
    assert grant_for(settings(), {"email_domain": "acme.com"}) is None
    assert (
        with_derived({"email_domain": "acme.com", **email("x@evil.com")}, trust_unverified_email=False)["email_domain"]
        == "evil.com"
    )


def test_equals_refuses_lookalikes() -> None:
    for domain in ("evilacme.com", "acme.com.evil.io", "sub.acme.com"):
        assert grant_for(settings(), email(f"ana@{domain}")) is None
    assert grant_for(settings(), email("ana@acme.com@evil.com")) is None


@pytest.mark.parametrize(
    ("rule_value", "claim", "matched"),
    [(42, "42", True), ("42", 42, True), (True, True, True), (True, "true", False), (1, True, False)],
)
def test_equals_compares_as_text_but_booleans_only_to_booleans(rule_value: Any, claim: Any, matched: bool) -> None:
    s = settings(rules=[{"claim": "level", "equals": rule_value, "tenant": "acme", "role": "member"}])
    assert (grant_for(s, {"level": claim}) is not None) is matched


def test_no_match_falls_to_the_default() -> None:
    assert grant_for(settings(), {"groups": ["staff"]}) is None
    fallback = settings(default={"tenant": "guests", "role": "viewer"})
    assert grant_for(fallback, {"groups": ["staff"]}) == Grant(tenant="guests", role="viewer")


def test_missing_or_null_claims_never_match() -> None:
    s = settings(rules=[{"claim": "groups", "equals": "None", "tenant": "acme", "role": "viewer"}])
    assert grant_for(s, {}) is None
    assert grant_for(s, {"groups": None}) is None


def test_verified_email_is_lower_cased_and_well_formed() -> None:
    assert verified_email(email(" Ana@Acme.COM "), trust_unverified_email=False) == "ana@acme.com"
    assert verified_email(email("no-at-sign"), trust_unverified_email=False) is None
    assert verified_email(email("ana@"), trust_unverified_email=False) is None
    assert verified_email({"email": 7, "email_verified": True}, trust_unverified_email=False) is None
    assert verified_email(email("a" * 312 + "@acme.com"), trust_unverified_email=False) is None  # past 320
