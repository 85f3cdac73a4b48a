"""Gemini's answers as OpenAI's (pure translation): `from_gemini` (a `GenerateContentResponse` as a
`chat.completion`: each candidate a choice, thought parts left out, `functionCall` parts as tool calls), and the
mappings the stream shares (finish reasons, usage, a candidate's text and calls, tool call ids)."""

from __future__ import annotations

from typing import Any

import orjson

from oneflow_ai.providers.base import Usage

_FINISH_REASONS = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
}
SIGNATURE_MARK = "__thought__"
"""Between a tool call's id and the Gemini `thoughtSignature` it carries (`openai_call_id`)."""


def finish_reason(reason: Any, *, called: bool) -> str:
    """Gemini's `finishReason` as OpenAI's `finish_reason` (`tool_calls` when the candidate called a function)."""
    if called and reason in ("STOP", None):
        return "tool_calls"
    return _FINISH_REASONS.get(reason, "stop") if isinstance(reason, str) else "stop"


def usage_of(metadata: Any) -> Usage | None:
    """Gemini's `usageMetadata` as ours: the prompt counts the cached part (`cachedContentTokenCount`) and the tool
    use prompt; the completion counts the thoughts, billed as output."""
    if not isinstance(metadata, dict):
        return None
    prompt = _int(metadata, "promptTokenCount") + _int(metadata, "toolUsePromptTokenCount")
    completion = _int(metadata, "candidatesTokenCount") + _int(metadata, "thoughtsTokenCount")
    return Usage(prompt, completion, _int(metadata, "cachedContentTokenCount"))


def openai_usage(metadata: Any) -> dict[str, Any] | None:
    """The OpenAI `usage` object of Gemini's `usageMetadata`, with the reasoning (thought) tokens detailed."""
    usage = usage_of(metadata)
    if usage is None:
        return None
    out = usage.to_openai()
    thoughts = _int(metadata, "thoughtsTokenCount")
    if thoughts:
        out["completion_tokens_details"] = {"reasoning_tokens": thoughts}
    return out


def _int(mapping: dict[str, Any], key: str) -> int:
    value = mapping.get(key)
    return value if isinstance(value, int) else 0


def candidate_delta(candidate: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """A candidate's text (thoughts left out) and its function calls (`{"name", "arguments"}`)."""
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for part in (candidate.get("content") or {}).get("parts") or ():
        if not isinstance(part, dict) or part.get("thought"):
            continue
        if isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif isinstance(part.get("functionCall"), dict):
            call = part["functionCall"]
            arguments = orjson.dumps(call.get("args") or {}).decode()
            signature = part.get("thoughtSignature")
            calls.append(
                {"id": call.get("id"), "name": call.get("name"), "arguments": arguments, "signature": signature}
            )
    return "".join(texts), calls


def from_gemini(response: dict[str, Any], *, response_id: str, model: str, created: int) -> dict[str, Any]:
    """A Gemini `GenerateContentResponse` as an OpenAI `chat.completion`. A prompt Gemini blocked (no candidate,
    a `promptFeedback.blockReason`) is one empty choice finished by `content_filter`."""
    choices = []
    candidates = response.get("candidates") or [{"finishReason": "SAFETY"}]
    for position, candidate in enumerate(candidates):
        text, calls = candidate_delta(candidate)
        message: dict[str, Any] = {"role": "assistant", "content": text if text or not calls else None}
        if calls:
            message["tool_calls"] = [
                {
                    "id": openai_call_id(call, response_id, position, k),
                    "type": "function",
                    "function": {"name": call["name"], "arguments": call["arguments"]},
                }
                for k, call in enumerate(calls)
            ]
        reason = finish_reason(candidate.get("finishReason"), called=bool(calls))
        index = candidate.get("index", position)
        choices.append({"index": index, "message": message, "logprobs": None, "finish_reason": reason})
    out: dict[str, Any] = {
        "id": response_id,
        "object": "chat.completion",
        "created": created,
        "model": response.get("modelVersion") or model,
        "choices": choices,
    }
    usage = openai_usage(response.get("usageMetadata"))
    if usage is not None:
        out["usage"] = usage
    return out


def openai_call_id(call: dict[str, Any], response_id: str, candidate: int, k: int) -> str:
    """A function call's OpenAI id: Gemini's own, or one made unique per response, candidate and call (the Gemini API
    gives none), with the part's `thoughtSignature` after `SIGNATURE_MARK` when it has one. Gemini wants the
    signature back with the call in the next turn (thinking models refuse a call without it), and an OpenAI client
    sends back the id it was given: `to_gemini` takes the signature out of it again."""
    base = call.get("id") or f"call_{response_id.removeprefix('chatcmpl-')}_{candidate}_{k}"
    signature = call.get("signature")
    return f"{base}{SIGNATURE_MARK}{signature}" if isinstance(signature, str) and signature else str(base)
