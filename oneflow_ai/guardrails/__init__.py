"""Guardrails: detectors of sensitive content (PII, secrets, prompt injection) and the policies that act on them."""
