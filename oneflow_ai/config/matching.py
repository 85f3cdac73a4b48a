"""`Matching(pattern)`: a string constraint checked with Python's `re`, for pydantic fields and FastAPI parameters.

pydantic's own `pattern=` compiles its expression in pydantic-core (Rust's regex crate), and the first one a process
compiles costs it ~4 MiB (docs/performance.md); models and routes built at start-up would pay it in every worker.
`Annotated[str, Matching(r"^[a-z]+$")]` checks the same with Python's `re`: the pattern is matched against the whole
value (`re.fullmatch`, so a `$` never accepts a final newline, as in Rust's regex), a value that does not match
fails with pydantic's own error (`string_pattern_mismatch`, "String should match pattern '...'"), None passes (an
optional parameter), and the JSON schema still shows the pattern.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema


@dataclass(frozen=True)
class Matching:
    pattern: str
    _compiled: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_compiled", re.compile(self.pattern))

    def check(self, value: Any) -> Any:
        if value is None or self._compiled.fullmatch(value):
            return value
        raise PydanticCustomError(
            "string_pattern_mismatch", "String should match pattern '{pattern}'", {"pattern": self.pattern}
        )

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self.check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json = handler(schema)
        for alternative in [json, *json.get("anyOf", ())]:
            if alternative.get("type") == "string":
                alternative["pattern"] = self.pattern
        return json
