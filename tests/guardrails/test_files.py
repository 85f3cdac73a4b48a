"""Files' text (PDF, DOCX, images by OCR, told by their bytes), and the input guard on files and on a caller's own
protocol body (`/v1/messages` as it would pass through untranslated)."""

from __future__ import annotations

import asyncio
import base64
import io
from typing import Any

import pytest

from oneflow_ai.auth.principal import Principal
from oneflow_ai.errors import ContentBlocked, InvalidRequest
from oneflow_ai.gateway.call import Call, NativeBody
from oneflow_ai.guardrails.engine import Guardrails
from oneflow_ai.guardrails.files import kind_of, text_of
from oneflow_ai.guardrails.input_guard import InputGuard
from oneflow_ai.providers.anthropic_native import ANTHROPIC_MESSAGES

SSN = "536-90-4399"


def pdf_with(text: str) -> bytes:
    """A one-page PDF showing `text` in Helvetica, written by hand (no PDF writer needed)."""
    content = f"BT /F1 24 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for i, obj in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % i + obj + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def docx_with(text: str) -> bytes:
    import docx

    document = docx.Document()
    document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def test_the_text_of_a_pdf_and_a_docx() -> None:
    assert text_of(pdf_with(f"SSN {SSN}")).strip() == f"SSN {SSN}"
    assert text_of(docx_with(f"Patient SSN {SSN}")).strip() == f"Patient SSN {SSN}"
    assert kind_of(b"\x89PNG....", None, None) == "image"
    assert kind_of(b"plain", "text/plain", None) == "text"
    assert text_of(b"\x00\x01 unknown") == ""


def call_with(body: dict[str, Any], native: NativeBody | None = None) -> Call:
    call = Call("req-1", Principal("k"), "chat", body, "m")
    call.native = native
    return call


def hipaa(read_files: bool = True) -> InputGuard:
    return InputGuard(Guardrails(default=["hipaa"]), read_files=read_files)


@pytest.mark.parametrize(
    "part",
    [
        {"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,{pdf}"}},
        {"type": "file", "file": {"filename": "a.docx", "file_data": "{docx}"}},
    ],
)
def test_an_ssn_in_an_attached_file_blocks_the_call(part: dict[str, Any]) -> None:
    pdf = base64.b64encode(pdf_with(f"SSN {SSN}")).decode()
    docx = base64.b64encode(docx_with(f"SSN {SSN}")).decode()
    data = part["file"]["file_data"].format(pdf=pdf, docx=docx)
    part = {"type": "file", "file": {**part["file"], "file_data": data}}
    body = {"messages": [{"role": "user", "content": [{"type": "text", "text": "read this"}, part]}]}
    with pytest.raises(ContentBlocked, match=r"A file in the request.*US_SSN"):
        asyncio.run(_admit(hipaa(), call_with(body)))
    asyncio.run(_admit(hipaa(read_files=False), call_with(body)))  # files off: not read


def test_a_damaged_file_is_refused() -> None:
    part = {"type": "file", "file": {"file_data": base64.b64encode(b"%PDF-1.4 broken").decode()}}
    body = {"messages": [{"role": "user", "content": [part]}]}
    with pytest.raises(InvalidRequest, match="could not be read"):
        asyncio.run(_admit(hipaa(), call_with(body)))


async def _admit(guard: InputGuard, call: Call) -> None:
    await guard.admit(call)


def test_the_callers_own_protocol_body_is_redacted_too() -> None:
    guard = InputGuard(Guardrails(default=["gdpr"]))
    native_body = {"model": "m", "system": "be kind", "messages": [{"role": "user", "content": "mail a@example.com"}]}
    call = call_with({"messages": [{"role": "user", "content": "mail a@example.com"}]})
    call.native = _native(native_body)
    asyncio.run(_admit(guard, call))
    guard.rewrite(call)
    assert call.body["messages"][0]["content"] == "mail <EMAIL_ADDRESS_1>"
    assert call.native is not None
    assert call.native.body["messages"][0]["content"] == "mail <EMAIL_ADDRESS_1>"
    assert native_body["messages"][0]["content"] == "mail a@example.com"  # the caller's object is left alone


def _native(body: dict[str, Any]) -> NativeBody:
    return NativeBody(ANTHROPIC_MESSAGES, body, {})
