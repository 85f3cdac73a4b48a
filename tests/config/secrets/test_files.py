"""`file:/path`: a mounted Kubernetes secret's content, its trailing newline not part of the value."""

from __future__ import annotations

from pathlib import Path

import pytest

from oneflow_ai.config.secrets import SecretError, resolve


def test_the_file_is_read_and_its_trailing_newline_dropped(tmp_path: Path) -> None:
    (tmp_path / "key").write_text("sk-from-a-file\n")
    (tmp_path / "plain").write_text("sk-no-newline")
    (tmp_path / "crlf").write_text("sk-windows\r\n")
    assert resolve(f"file:{tmp_path}/key", {}) == "sk-from-a-file"
    assert resolve(f"file:{tmp_path}/plain", {}) == "sk-no-newline"
    assert resolve(f"file:{tmp_path}/crlf", {}) == "sk-windows"


def test_only_one_newline_is_dropped_and_inner_spaces_kept(tmp_path: Path) -> None:
    (tmp_path / "key").write_text(" a b \n\n")
    assert resolve(f"file:{tmp_path}/key", {}) == " a b \n"


def test_a_missing_or_empty_file_is_an_error_naming_the_reference(tmp_path: Path) -> None:
    with pytest.raises(SecretError, match=f"file:{tmp_path}/absent: cannot read the file: No such file"):
        resolve(f"file:{tmp_path}/absent", {})
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(SecretError, match="the file is empty"):
        resolve(f"file:{tmp_path}/empty", {})


def test_env_references_read_the_given_environment() -> None:
    assert resolve("env:MY_KEY", {"MY_KEY": "sk-env"}) == "sk-env"
    with pytest.raises(SecretError, match="env:MY_KEY: the environment variable MY_KEY is not set"):
        resolve("env:MY_KEY", {})
    assert resolve("sk-literal", {}) == "sk-literal"
