"""The gateway's guardrails: the policies it knows, which apply to a call, and what a scan of a text decides.

Policies are found by name: a tenant's own (made through the admin API), then the YAML's, then the presets. The
policies of a call are the gateway's default, then the caller's (its key's and its tenant's, on the `Principal`),
then its model group's, each named once. Their rules per side are merged once per combination and kept.

`CallGuard` is one call's state, made by the input stage and read by the output stages: the merged rules, the
placeholders (so the answer can be given its values back) and the decisions taken, which it writes on the call for
the ledger (`Call.guardrail`: `policy:TYPE,TYPE;policy:TYPE`, and the strongest action) and counts once each.
"""

from __future__ import annotations

import logging
from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from oneflow_ai.auth.principal import Principal
from oneflow_ai.guardrails.actions import Hit, Placeholders, hits
from oneflow_ai.guardrails.policy import NO_RULES, Policy, Rules, Side, merge, strongest
from oneflow_ai.guardrails.presets import PRESETS
from oneflow_ai.guardrails.spans import Detector, Finding

log = logging.getLogger("oneflow.guardrails")

Count = Callable[[str, str, str], None]
"""Counts one decision: (policy, action, entity type)."""
MAX_CACHED_RULES = 4096
MAX_SUMMARY = 255
SEPARATOR = "\n\n"


def _no_count(policy: str, action: str, entity: str) -> None:
    return None


class Guardrails:
    def __init__(
        self,
        policies: Mapping[str, Policy] | None = None,
        default: Sequence[str] = (),
        models: Mapping[str, Sequence[str]] | None = None,
        *,
        detectors: tuple[Detector, ...] | None = None,
        count: Count = _no_count,
    ) -> None:
        self.policies: dict[str, Policy] = {**PRESETS, **(policies or {})}
        self.tenant_policies: dict[str, dict[str, Policy]] = {}
        """Made through the admin API, per tenant id; the superuser's under `""`, seen by every tenant."""
        self.tenant_names: dict[str, tuple[str, ...]] = {}
        """The policies a tenant's calls carry (set through the admin API), by tenant id."""
        self.default = tuple(default)
        self.models = {name: tuple(names) for name, names in (models or {}).items()}
        from oneflow_ai.guardrails.detectors import detect, detectors_for  # loaded only when guardrails are on

        self.detectors = detectors
        """The detectors to choose from (None: the built-in ones)."""
        self._detect = detect
        self._detectors_for = detectors_for
        self._by_types: dict[frozenset[str], tuple[Detector, ...]] = {}
        self.count = count
        self._rules: dict[tuple[tuple[str, ...], str, str], Rules] = {}

    def policy(self, name: str, tenant: str | None) -> Policy | None:
        """The tenant's own policy of that name, else the superuser's (every tenant's), else the YAML's or a preset."""
        for bucket in (tenant or "", ""):
            own = self.tenant_policies.get(bucket)
            if own is not None and name in own:
                return own[name]
        return self.policies.get(name)

    def put(self, tenant: str | None, policy: Policy) -> None:
        self.tenant_policies.setdefault(tenant or "", {})[policy.name] = policy
        self._rules.clear()

    def replace(self, tenant_policies: dict[str, dict[str, Policy]], tenant_names: dict[str, tuple[str, ...]]) -> None:
        """Hold what the database holds (`guardrails.store`), replacing what was there."""
        self.tenant_policies = tenant_policies
        self.tenant_names = tenant_names
        self._rules.clear()

    def remove(self, tenant: str | None, name: str) -> bool:
        own = self.tenant_policies.get(tenant or "", {})
        found = own.pop(name, None) is not None
        self._rules.clear()
        return found

    def names(self, principal: Principal, model: str) -> tuple[str, ...]:
        tenant = self.tenant_names.get(principal.tenant_id or "", ()) if self.tenant_names else ()
        names = (*self.default, *tenant, *principal.guardrails, *self.models.get(model, ()))
        return tuple(dict.fromkeys(names))

    def rules(self, names: tuple[str, ...], side: Side, tenant: str | None) -> Rules:
        key = (names, side, tenant or "")
        found = self._rules.get(key)
        if found is None:
            policies = []
            for name in names:
                policy = self.policy(name, tenant)
                if policy is None:
                    log.warning("guardrail policy %r is not defined: it is skipped", name)
                    continue
                policies.append(policy)
            found = merge(policies, side)
            if len(self._rules) >= MAX_CACHED_RULES:
                self._rules.clear()
            self._rules[key] = found
        return found

    def scan(self, text: str, rules: Rules) -> list[Hit]:
        if not rules or not text:
            return []
        return hits(self._detect(text, rules.types, self._covering(rules.types)), rules)

    def _covering(self, types: frozenset[str]) -> tuple[Detector, ...]:
        """The detectors of `types`, chosen once per set of types (a detector of other types never runs)."""
        found = self._by_types.get(types)
        if found is None:
            if self.detectors is None:
                found = self._detectors_for(types)
            else:
                found = tuple(d for d in self.detectors if d.types & types)
            if len(self._by_types) >= MAX_CACHED_RULES:
                self._by_types.clear()
            self._by_types[types] = found
        return found

    def open(self, principal: Principal, model: str) -> CallGuard | None:
        """The call's guard, or None when no policy applies to it."""
        names = self.names(principal, model)
        if not names:
            return None
        tenant = principal.tenant_id
        rules_in, rules_out = self.rules(names, "input", tenant), self.rules(names, "output", tenant)
        if not rules_in and not rules_out:
            return None
        return CallGuard(self, rules_in, rules_out)


@dataclass(slots=True)
class CallGuard:
    guardrails: Guardrails
    input: Rules = NO_RULES
    output: Rules = NO_RULES
    placeholders: Placeholders = field(default_factory=Placeholders)
    decisions: dict[tuple[str, str], str] = field(default_factory=dict)
    """(policy, entity type) -> the strongest action it took."""
    pending: object = None
    """What the input admission found, for the rewriter that follows it."""

    def scan(self, text: str, side: Side) -> list[Hit]:
        return self.guardrails.scan(text, self.input if side == "input" else self.output)

    def scan_all(self, texts: Sequence[str], side: Side) -> list[list[Hit]]:
        """The hits in each of `texts`, found in one pass over them joined (a detector's cost per call is paid once,
        not per message); a hit that would span two texts is dropped."""
        if len(texts) == 1:
            return [self.scan(texts[0], side)]
        starts = []
        at = 0
        for text in texts:
            starts.append(at)
            at += len(text) + len(SEPARATOR)
        out: list[list[Hit]] = [[] for _ in texts]
        for hit in self.scan(SEPARATOR.join(texts), side):
            f = hit.finding
            i = bisect_right(starts, f.start) - 1
            start = starts[i]
            if f.end - start <= len(texts[i]):
                out[i].append(Hit(Finding(f.type, f.start - start, f.end - start, f.score), hit.rule))
        return out

    def decided(self, found: Sequence[Hit]) -> bool:
        """Note the hits' decisions (each counted once per call); True when one is new."""
        new = False
        for hit in found:
            key = (hit.rule.policy, hit.finding.type)
            held = self.decisions.get(key)
            action = hit.rule.action
            if held is None or strongest((held, action)) != held:
                self.decisions[key] = action
                self.guardrails.count(hit.rule.policy, action, hit.finding.type)
                new = True
        return new

    def summary(self) -> tuple[str | None, str | None]:
        """What the ledger records: `policy:TYPE,TYPE;...`, and the strongest action."""
        if not self.decisions:
            return None, None
        by_policy: dict[str, list[str]] = {}
        for policy, entity in sorted(self.decisions):
            by_policy.setdefault(policy, []).append(entity)
        text = ";".join(f"{p}:{','.join(types)}" for p, types in by_policy.items())
        return text[:MAX_SUMMARY], strongest(self.decisions.values())

    def types_of(self, action: str) -> list[str]:
        return sorted({entity for (_, entity), a in self.decisions.items() if a == action})

    def policies_of(self, action: str) -> list[str]:
        return sorted({policy for (policy, _), a in self.decisions.items() if a == action})
