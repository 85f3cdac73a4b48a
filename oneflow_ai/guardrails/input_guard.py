"""The input side: an `Admission` that scans the request and refuses it when a policy blocks what it carries, and the
`RequestRewriter` after it that redacts and masks what it found, before the cache or any upstream reads the body.

Both the call's OpenAI body and, for a caller speaking another protocol (`/v1/messages`), its own body are scanned
and rewritten, with the same placeholders. Files carried inline (images, PDF, DOCX as base64) are read when the
`files` option is on (`guardrails.files`: the `files` extra, OCR by tesseract, in a worker thread); a file cannot
be rewritten, so a finding there that a policy would redact, mask or block refuses the call.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable
from dataclasses import dataclass

from oneflow_ai.errors import InvalidRequest
from oneflow_ai.gateway.call import Call
from oneflow_ai.gateway.stages import DONE
from oneflow_ai.guardrails.actions import Hit, rewrite
from oneflow_ai.guardrails.body_text import REQUEST_ROOTS, Blob, Path, files, replaced, texts
from oneflow_ai.guardrails.engine import CallGuard, Guardrails
from oneflow_ai.guardrails.policy import Rule
from oneflow_ai.guardrails.verdicts import judge


@dataclass(slots=True)
class Found:
    """The request's texts that a rewrite changes: per body (`openai`, `native`), path -> (text, hits)."""

    openai: dict[Path, tuple[str, list[Hit]]]
    native: dict[Path, tuple[str, list[Hit]]]


class InputGuard:
    def __init__(self, guardrails: Guardrails, *, read_files: bool = False) -> None:
        self.guardrails = guardrails
        self.read_files = read_files

    def admit(self, call: Call) -> Awaitable[None]:
        guard = self.guardrails.open(call.principal, call.model)
        if guard is None:
            return DONE
        call.guard = guard
        if not guard.input:
            return DONE
        everything: list[Hit] = []
        found = Found(self._scan(call.body, guard, everything), {})
        if call.native is not None:
            found.native = self._scan(call.native.body, guard, everything)
        judge(call, guard, everything, "request")
        guard.pending = found if (found.openai or found.native) else None
        if self.read_files:
            blobs = [*files(call.body), *(files(call.native.body) if call.native is not None else ())]
            if blobs:
                return self._judge_files(call, guard, blobs)
        return DONE

    def _scan(self, body: object, guard: CallGuard, everything: list[Hit]) -> dict[Path, tuple[str, list[Hit]]]:
        out: dict[Path, tuple[str, list[Hit]]] = {}
        slots = texts(body, REQUEST_ROOTS)
        if not slots:
            return out
        for (path, text), found in zip(slots, guard.scan_all([t for _, t in slots], "input"), strict=True):
            if found:
                everything += found
                if any(h.rule.action in ("redact", "mask") for h in found):
                    out[path] = (text, found)
        return out

    async def _judge_files(self, call: Call, guard: CallGuard, blobs: list[Blob]) -> None:
        from oneflow_ai.guardrails.files import text_of

        found: list[Hit] = []
        for blob in blobs:
            try:
                text = await asyncio.to_thread(text_of, blob.data, blob.media_type, blob.filename)
            except Exception:  # a damaged file: refused, not let through unread
                raise InvalidRequest(
                    "A file in the request could not be read for the guardrails.", code="unreadable_file"
                ) from None
            found += guard.scan(text, "input")
        # a file cannot be rewritten: what a policy would redact or mask in it refuses the call
        strict = [dataclasses.replace(h, rule=_blocking(h)) for h in found]
        judge(call, guard, strict, "file")

    def rewrite(self, call: Call) -> None:
        guard = call.guard
        if not isinstance(guard, CallGuard) or not isinstance(guard.pending, Found):
            return
        found, guard.pending = guard.pending, None
        placeholders = guard.placeholders
        if found.openai:
            changes = {p: rewrite(text, hits, placeholders) for p, (text, hits) in found.openai.items()}
            call.body = replaced(call.body, changes)
        if found.native and call.native is not None:
            changes = {p: rewrite(text, hits, placeholders) for p, (text, hits) in found.native.items()}
            call.native = dataclasses.replace(call.native, body=replaced(call.native.body, changes))


def _blocking(hit: Hit) -> Rule:
    rule = hit.rule
    return dataclasses.replace(rule, action="block") if rule.action in ("redact", "mask") else rule
