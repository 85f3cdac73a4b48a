"""The form parser (`api.multipart`) and the encoder (`upstream.multipart`): round trips, limits, malformed bodies."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oneflow_ai.api.multipart import parse_form
from oneflow_ai.errors import InvalidRequest, PayloadTooLarge
from oneflow_ai.upstream.multipart import FormFile, FormValue, encode_form

names = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=20)
values: st.SearchStrategy[FormValue] = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=50),
    st.builds(FormFile, names, st.sampled_from(["audio/wav", "image/png"]), st.binary(max_size=300)),
)


@given(st.lists(st.tuples(names, values), max_size=8))
def test_what_is_encoded_is_parsed_back(parts: list[tuple[str, FormValue]]) -> None:
    content_type, body = encode_form(parts)
    parsed = parse_form(body, content_type).parts
    assert [n for n, _ in parsed] == [n.replace('"', "%22") for n, _ in parts]
    for (_, got), (_, want) in zip(parsed, parts, strict=True):
        if isinstance(want, FormFile):
            assert isinstance(got, FormFile) and (got.data, got.content_type) == (want.data, want.content_type)
        else:
            assert got == want


def test_a_browser_style_form() -> None:
    body = (
        b"preamble\r\n--XyZ\r\n"
        b'Content-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n'
        b"--XyZ\r\n"
        b'Content-Disposition: form-data; name="file"; filename="a b.wav"\r\nContent-Type: audio/wav\r\n\r\n'
        b"RIFF\r\n--not the boundary\r\n"
        b"--XyZ--\r\n"
    )
    form = parse_form(body, 'multipart/form-data; charset=utf-8; boundary="XyZ"')
    assert form.text("model") == "whisper-1"
    assert form.file("file") == FormFile("a b.wav", "audio/wav", b"RIFF\r\n--not the boundary")
    assert form.file("model") is None and form.text("file") is None


@pytest.mark.parametrize(
    ("content_type", "body", "error", "words"),
    [
        ("application/json", b"{}", InvalidRequest, "must be multipart/form-data"),
        ("multipart/form-data", b"", InvalidRequest, "no valid boundary"),
        ("multipart/form-data; boundary=b", b"nothing", InvalidRequest, "no part"),
        (
            "multipart/form-data; boundary=b",
            b'--b\r\ncontent-disposition: form-data; name="a"\r\n\r\nx',
            InvalidRequest,
            "does not end",
        ),
        (
            "multipart/form-data; boundary=b",
            b"--b\r\ncontent-type: text/plain\r\n\r\nx\r\n--b--",
            InvalidRequest,
            "no content-disposition",
        ),
        (
            "multipart/form-data; boundary=b",
            b'--b\r\ncontent-disposition: form-data; name="a"\r\n\r\n\xff\r\n--b--',
            InvalidRequest,
            "not UTF-8",
        ),
    ],
)
def test_malformed_forms_are_400(content_type: str, body: bytes, error: type[Exception], words: str) -> None:
    with pytest.raises(error, match=words):
        parse_form(body, content_type)


def test_limits_are_413() -> None:
    content_type, body = encode_form([("file", FormFile("a.wav", "audio/wav", bytes(101)))])
    with pytest.raises(PayloadTooLarge, match="larger than 100 bytes"):
        parse_form(body, content_type, max_file_bytes=100)
    content_type, body = encode_form([("prompt", "x" * 11)])
    with pytest.raises(PayloadTooLarge, match="'prompt' is larger"):
        parse_form(body, content_type, max_field_bytes=10)
    content_type, body = encode_form([("a", "1")] * 3)
    with pytest.raises(PayloadTooLarge, match="more than 2 parts"):
        parse_form(body, content_type, max_parts=2)
    assert len(parse_form(body, content_type, max_parts=3).parts) == 3
