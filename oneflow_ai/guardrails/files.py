"""The text of a file, for the guardrails: PDF (pypdf), DOCX (python-docx), images (OCR: pytesseract over Debian's
`tesseract-ocr`), plain text. The libraries are the optional extra `files`, imported here only when a file comes.

The kind is told by the file's first bytes (its magic number), then by its media type or name; a file of no known
kind gives no text. Blocking work: callers run it in a thread.
"""

from __future__ import annotations

import importlib.util
import io

MAX_PAGES = 200
TEXT_TYPES = ("text/", "application/json")
EXTRA_MODULES = ("pypdf", "docx", "pytesseract", "PIL")


class FilesExtraMissing(RuntimeError):
    pass


def check_extra() -> None:
    """Raise when the `files` extra is not installed (or tesseract is not on the PATH)."""
    missing = [m for m in EXTRA_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        raise FilesExtraMissing(
            f"guardrails.files needs the files extra (missing: {', '.join(missing)}): pip install 'oneflow-ai[files]'"
        )
    import shutil

    if shutil.which("tesseract") is None:
        raise FilesExtraMissing("guardrails.files needs tesseract on the PATH (Debian: apt-get install tesseract-ocr)")


def kind_of(data: bytes, media_type: str | None, filename: str | None) -> str | None:
    if data.startswith(b"%PDF"):
        return "pdf"
    if data.startswith(b"PK\x03\x04") and (b"word/" in data[:4096] or (filename or "").lower().endswith(".docx")):
        return "docx"
    if data.startswith((b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"RIFF", b"II*\x00", b"MM\x00*", b"BM")):
        return "image"
    media = (media_type or "").lower()
    if media.startswith("image/"):
        return "image"
    if media.startswith(TEXT_TYPES) or (filename or "").lower().endswith((".txt", ".md", ".csv", ".json")):
        return "text"
    return None


def text_of(data: bytes, media_type: str | None = None, filename: str | None = None) -> str:
    kind = kind_of(data, media_type, filename)
    if kind == "pdf":
        return _pdf(data)
    if kind == "docx":
        return _docx(data)
    if kind == "image":
        return _image(data)
    if kind == "text":
        return data.decode("utf-8", errors="replace")
    return ""


def _pdf(data: bytes) -> str:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    return "\n".join((page.extract_text() or "") for page in reader.pages[:MAX_PAGES])


def _docx(data: bytes) -> str:
    import docx

    document = docx.Document(io.BytesIO(data))
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        parts += [cell.text for row in table.rows for cell in row.cells]
    return "\n".join(parts)


def _image(data: bytes) -> str:
    import pytesseract  # type: ignore[import-untyped]
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return str(pytesseract.image_to_string(image.convert("RGB")))
