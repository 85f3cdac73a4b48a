"""The top-level `guardrails:` section of the YAML, checked at load.

```yaml
guardrails:
  default: [default]          # applied to every call, before the caller's and the model's
  files: true                 # read images, PDF and DOCX in requests (the `files` extra)
  policies:
    - name: support
      entities: {EMAIL_ADDRESS: redact, CREDIT_CARD: mask, API_KEY: block}
      output: {CREDIT_CARD: redact}
      applies_to: both
      restore: true
models:
  - name: payments
    guardrails: [pci_dss]
```

The section's presence turns the guardrail stages on (with no section, nothing is scanned and no stage is built:
a key's or a tenant's `guardrails` then need `guardrails: {}` at least).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import BaseModel, ConfigDict, model_validator

from oneflow_ai.guardrails.policy import Policy
from oneflow_ai.guardrails.presets import PRESETS


class GuardrailsSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    default: tuple[str, ...] = ()
    policies: tuple[Policy, ...] = ()
    files: bool = False

    @model_validator(mode="after")
    def _checked(self) -> GuardrailsSettings:
        names = [p.name for p in self.policies]
        twice = {n for n in names if names.count(n) > 1}
        if twice:
            raise ValueError(f"guardrail policy {sorted(twice)[0]!r} is defined twice")
        if self.files:
            from oneflow_ai.guardrails.files import FilesExtraMissing, check_extra

            try:
                check_extra()
            except FilesExtraMissing as e:
                raise ValueError(str(e)) from None
        return self

    def by_name(self) -> dict[str, Policy]:
        return {p.name: p for p in self.policies}

    def known(self) -> frozenset[str]:
        return frozenset(PRESETS) | {p.name for p in self.policies}


def check_guardrails(settings: GuardrailsSettings | None, models: Mapping[str, Sequence[str]]) -> None:
    """Every policy named (the default, each model's) is a preset or defined in the section."""
    settings = settings or GuardrailsSettings()
    known = settings.known()
    for name in settings.default:
        if name not in known:
            raise ValueError(f"guardrails.default names unknown policy {name!r}; known: {', '.join(sorted(known))}")
    for model, names in models.items():
        for name in names:
            if name not in known:
                raise ValueError(f"model {model!r} names unknown guardrail policy {name!r}")


def on(settings: GuardrailsSettings | None, models: Mapping[str, Sequence[str]]) -> bool:
    """Whether the gateway builds the guardrail stages: the section is there, or a model names a policy."""
    return settings is not None or any(models.values())
