"""The pure core: policies merged per side, the presets as documented, actions on a text, where text and files are
in a body, the `guardrails:` configuration checked at load, the restoring of placeholders split over chunks."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from oneflow_ai.config.loader import ConfigError, load_config
from oneflow_ai.guardrails.actions import Hit, Placeholders, mask, restore, rewrite
from oneflow_ai.guardrails.body_text import REPLY_ROOTS, REQUEST_ROOTS, files, replaced, texts
from oneflow_ai.guardrails.policy import Policy, Rule, merge
from oneflow_ai.guardrails.presets import ALL_TYPES, PRESETS
from oneflow_ai.guardrails.restore_guard import RestoreWatch
from oneflow_ai.guardrails.spans import Finding


def actions(name: str, side: str) -> dict[str, str]:
    return {t: r.action for t, r in merge([PRESETS[name]], side).by_type.items()}  # type: ignore[arg-type]


def test_the_presets_do_what_they_document() -> None:
    default_in, default_out = actions("default", "input"), actions("default", "output")
    assert set(default_in) == set(ALL_TYPES)
    assert default_in["PRIVATE_KEY"] == default_in["PROMPT_INJECTION"] == "block"
    assert {a for t, a in default_in.items() if t not in ("PRIVATE_KEY", "PROMPT_INJECTION")} == {"redact"}
    assert "PROMPT_INJECTION" not in default_out and set(default_out.values()) == {"redact"}
    assert actions("pci_dss", "input") == actions("pci_dss", "output") == {"CREDIT_CARD": "redact"}
    assert actions("hipaa", "input")["US_SSN"] == "block" and actions("hipaa", "output")["US_SSN"] == "redact"
    assert actions("gdpr", "input")["EMAIL_ADDRESS"] == "redact" and PRESETS["gdpr"].restore
    assert {"IN_AADHAAR", "IN_PAN", "PHONE_NUMBER"} <= set(actions("dpdp", "input"))


def test_the_strongest_action_wins_and_names_its_policy() -> None:
    loose = Policy(name="loose", entities={"EMAIL_ADDRESS": "log", "IP_ADDRESS": "warn"})
    strict = Policy(name="strict", entities={"EMAIL_ADDRESS": "block"}, applies_to="input")
    rules = merge([loose, strict], "input")
    assert rules.by_type["EMAIL_ADDRESS"] == Rule("block", "strict")
    assert rules.by_type["IP_ADDRESS"] == Rule("warn", "loose")
    assert merge([loose, strict], "output").by_type["EMAIL_ADDRESS"] == Rule("log", "loose")


def test_a_policy_refuses_unknown_actions_and_names() -> None:
    with pytest.raises(ValueError, match=r"Input should be"):
        Policy(name="x", entities={"EMAIL_ADDRESS": "explode"})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="entity type"):
        Policy(name="x", entities={"email": "redact"})


def hit(kind: str, start: int, end: int, action: str = "redact", restore_: bool = False) -> Hit:
    return Hit(Finding(kind, start, end, 1.0), Rule(action, "p", restore_))  # type: ignore[arg-type]


def test_the_same_value_gets_the_same_placeholder_and_restores() -> None:
    text = "a@x.io, b@y.io, a@x.io"
    placeholders = Placeholders()
    found = [hit("EMAIL_ADDRESS", 0, 6, restore_=True), hit("EMAIL_ADDRESS", 8, 14), hit("EMAIL_ADDRESS", 16, 22)]
    out = rewrite(text, found, placeholders)
    assert out == "<EMAIL_ADDRESS_1>, <EMAIL_ADDRESS_2>, <EMAIL_ADDRESS_1>"
    assert restore(out, placeholders) == "a@x.io, <EMAIL_ADDRESS_2>, a@x.io"  # only what a restoring rule redacted
    assert rewrite("card 4111111111111111", [hit("CREDIT_CARD", 5, 21, "mask")], placeholders) == "card ****1111"
    assert mask("12") == "****"
    assert rewrite("warn only", [hit("X", 0, 4, "warn")], placeholders) == "warn only"


def test_texts_and_files_of_every_shape() -> None:
    png = base64.b64encode(b"\x89PNG fake").decode()
    body: dict[str, Any] = {
        "model": "m",
        "system": [{"type": "text", "text": "sys"}],
        "messages": [
            {"role": "user", "content": "plain"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "part"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}"}},
                    {"type": "file", "file": {"file_data": f"data:application/pdf;base64,{png}", "filename": "a.pdf"}},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": png}},
                ],
            },
            {"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": '{"a": 1}'}}]},
        ],
        "input": ["e1", "e2"],
    }
    found = dict(texts(body, REQUEST_ROOTS))
    assert sorted(found.values()) == sorted(["sys", "plain", "part", '{"a": 1}', "e1", "e2"])
    assert [(b.media_type, b.data) for b in files(body)].count(("image/png", b"\x89PNG fake")) == 2
    assert len(list(files(body))) == 3
    new = replaced(body, {("messages", 0, "content"): "changed"})
    assert new["messages"][0]["content"] == "changed" and body["messages"][0]["content"] == "plain"
    reply = {"choices": [{"message": {"content": "hi", "role": "assistant"}}], "output": [{"content": [{"text": "r"}]}]}
    assert sorted(t for _, t in texts(reply, REPLY_ROOTS)) == ["hi", "r"]


def test_a_placeholder_split_over_chunks_is_restored() -> None:
    placeholders = Placeholders()
    placeholders.of("EMAIL_ADDRESS", "a@x.io", restore=True)
    watch = RestoreWatch(placeholders)
    out = []
    for piece in ["Mail <EMAIL", "_ADDRESS", "_1> now < 3"]:
        [chunk] = watch.feed({"id": "c", "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]})
        out.append(chunk["choices"][0]["delta"]["content"])
    out += [c["choices"][0]["delta"]["content"] for c in watch.finish()]
    assert "".join(out) == "Mail a@x.io now < 3"


def test_the_configuration_names_only_known_policies(tmp_path: Path) -> None:
    dep = "deployments: [{provider: openai, model: m, base_url: 'http://127.0.0.1:9/v1', api_key: k}]"
    config = tmp_path / "c.yaml"
    config.write_text(f"models:\n  - {{name: a, guardrails: [nope], {dep}}}\n")
    with pytest.raises(ConfigError, match="unknown guardrail policy 'nope'"):
        load_config(config, {})
    config.write_text("guardrails:\n  default: [missing]\n")
    with pytest.raises(ConfigError, match=r"c.yaml:1.*unknown policy 'missing'"):
        load_config(config, {})
    config.write_text(
        "guardrails:\n  default: [mine]\n  policies:\n    - {name: mine, entities: {EMAIL_ADDRESS: mask}}\n"
    )
    loaded = load_config(config, {})
    assert loaded.guardrails is not None and loaded.guardrails.default == ("mine",)
    assert load_config(None, {}).guardrails is None


def test_an_injection_counts_from_the_policy_threshold_up() -> None:
    from oneflow_ai.guardrails.actions import hits

    strict = Policy(name="strict", entities={"PROMPT_INJECTION": "block"}, injection_threshold=0.5)
    lax = Policy(name="lax", entities={"PROMPT_INJECTION": "warn"}, injection_threshold=0.9)
    rules = merge([lax, strict], "input")
    assert rules.injection_threshold == 0.5  # the strictest
    weak, strong = Finding("PROMPT_INJECTION", 0, 5, 0.4), Finding("PROMPT_INJECTION", 6, 9, 0.7)
    assert [h.finding for h in hits([weak, strong], rules)] == [strong]
    assert [
        h.finding
        for h in hits([weak, strong], merge([Policy(name="all", entities={"PROMPT_INJECTION": "log"})], "input"))
    ] == [weak, strong]


class Emails:
    """A stand-in detector: e-mail addresses, and 'x y' as one span that would cross a message boundary."""

    name = "emails"
    types = frozenset({"EMAIL_ADDRESS", "PAIR"})

    def find(self, text: str) -> list[Finding]:
        import re

        found = [Finding("EMAIL_ADDRESS", m.start(), m.end(), 1.0) for m in re.finditer(r"\w+@\w+\.io", text)]
        return found + [Finding("PAIR", m.start(), m.end(), 1.0) for m in re.finditer(r"x\s+y", text)]


def test_texts_are_scanned_in_one_pass_each_hit_in_its_own_text() -> None:
    from oneflow_ai.auth.principal import Principal
    from oneflow_ai.guardrails.engine import Guardrails

    policy = Policy(name="p", entities={"EMAIL_ADDRESS": "redact", "PAIR": "block"})
    guard = Guardrails({"p": policy}, ["p"], detectors=(Emails(),)).open(Principal("k"), "m")
    assert guard is not None
    texts_ = ["mail a@x.io", "and b@y.io here x", "y"]
    found = guard.scan_all(texts_, "input")
    spans = [
        [(h.finding.type, t[h.finding.start : h.finding.end]) for h in hits]
        for t, hits in zip(texts_, found, strict=True)
    ]
    assert spans == [[("EMAIL_ADDRESS", "a@x.io")], [("EMAIL_ADDRESS", "b@y.io")], []]  # 'x' + 'y' across: dropped
    assert guard.scan_all(["x y"], "input")[0][0].finding.type == "PAIR"
