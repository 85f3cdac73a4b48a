"""`Matching`: pydantic's `pattern=` checked with Python's `re`, with pydantic's error and JSON schema."""

from __future__ import annotations

from typing import Annotated

import pytest
from pydantic import BaseModel, ValidationError

from oneflow_ai.config.matching import Matching


class Model(BaseModel):
    role: Annotated[str, Matching("^(owner|viewer)$")]
    tenant: Annotated[str | None, Matching(r"^[\w-]{1,8}$")] = None


def test_a_value_matches_whole_and_none_passes() -> None:
    assert Model(role="owner", tenant="acme-1").tenant == "acme-1"
    assert Model(role="viewer").tenant is None


@pytest.mark.parametrize(
    "fields", [{"role": "owner\n"}, {"role": "owners"}, {"role": "owner", "tenant": "a b"}, {"role": "x", "tenant": ""}]
)
def test_a_value_that_does_not_match_fails_as_with_pydantic_pattern(fields: dict[str, str]) -> None:
    with pytest.raises(ValidationError) as raised:
        Model(**fields)
    error = raised.value.errors()[0]
    assert error["type"] == "string_pattern_mismatch"
    assert error["msg"].startswith("String should match pattern '^")


def test_the_json_schema_shows_the_pattern() -> None:
    properties = Model.model_json_schema()["properties"]
    assert properties["role"]["pattern"] == "^(owner|viewer)$"
    assert {"type": "string", "pattern": r"^[\w-]{1,8}$"} in properties["tenant"]["anyOf"]
