"""The price catalog: what each model costs, read once from YAML and validated as it is read.

Prices are written per million tokens (how vendors publish them) as quoted strings, and held per token as
exact `Decimal`s. A model is found by its name or an alias, case-insensitively, with or without a
`provider/` prefix. A deployment's config may override prices or add models (`with_overrides`); the result
is a new catalog, validated by the same rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal, get_args

import yaml

Mode = Literal["chat", "embedding", "image", "audio_speech", "audio_transcription"]
MODES: frozenset[str] = frozenset(get_args(Mode))
DEFAULT_PATH = Path(__file__).with_name("catalog.yaml")

_PER_MILLION = ("input_per_million", "output_per_million", "cached_input_per_million")
_PER_UNIT = ("per_image", "per_second", "per_character")
_REQUIRED: dict[str, tuple[str, ...]] = {
    "chat": ("input_per_million", "output_per_million", "context_window", "max_output_tokens"),
    "embedding": ("input_per_million", "context_window"),
    "image": ("per_image",),
    "audio_speech": ("per_character",),
    "audio_transcription": ("per_second",),
}
_ALWAYS = ("provider", "mode", "supports_tools", "supports_vision", "quality")
_FIELDS = frozenset(
    (*_ALWAYS, *_PER_MILLION, *_PER_UNIT, "image_prices", "context_window", "max_output_tokens", "aliases")
)


class CatalogError(ValueError):
    """The catalog (or an override of it) is malformed; the message names the model and the field."""


class UnknownModelPrice(KeyError):
    """No price for this model, or none for this kind of use of it (e.g. images from a chat model)."""

    def __init__(self, model: str, detail: str = "is not in the price catalog") -> None:
        super().__init__(model)
        self.model = model
        self.message = f"model {model!r} {detail}"

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """One model's prices (USD per token / image / second / character) and what it can do."""

    name: str
    provider: str
    mode: Mode
    input_per_token: Decimal
    output_per_token: Decimal
    cached_input_per_token: Decimal | None
    per_image: Decimal | None
    per_second: Decimal | None
    per_character: Decimal | None
    context_window: int
    max_output_tokens: int
    supports_tools: bool
    supports_vision: bool
    quality: float
    aliases: tuple[str, ...] = ()
    image_prices: tuple[tuple[str, str, Decimal], ...] = ()
    """USD per image by (quality, size), in the order `image_prices: {quality: {size: price}}` writes them."""

    def per_image_at(self, quality: str | None, size: str | None) -> Decimal | None:
        """The price of one image of this quality and size in `image_prices`. A quality not given (or `auto`) is
        the first one listed, a size not given (or `auto`) the first listed under its quality: the model's
        defaults. `per_image` when the table has no such image (or there is no table)."""
        rows = self.image_prices
        if quality in (None, "auto") and rows:
            quality = rows[0][0]
        if size in (None, "auto"):
            size = next((s for q, s, _ in rows if q == quality), None)
        return next((amount for q, s, amount in rows if q == quality and s == size), self.per_image)


class PriceCatalog:
    def __init__(self, entries: Mapping[str, Mapping[str, Any]], prices_as_of: date) -> None:
        """Validate `entries` (model name -> fields, as written in the YAML file) into a catalog."""
        for name, fields in entries.items():
            if not isinstance(name, str) or not name.strip():
                raise CatalogError(f"price catalog: model name {name!r} must be a non-empty string")
            if not isinstance(fields, Mapping):
                raise CatalogError(f"price catalog: model {name!r}: expected a mapping of fields")
        self._entries = {name: dict(fields) for name, fields in entries.items()}
        self._prices_as_of = prices_as_of
        self._models = {name: _parse(name, fields) for name, fields in entries.items()}
        self._index: dict[str, str] = {}
        for price in self._models.values():
            for key in (price.name, *price.aliases):
                taken = self._index.setdefault(key.strip().lower(), price.name)
                if taken != price.name:
                    raise CatalogError(f"price catalog: model {price.name!r}: name {key!r} is already {taken!r}")

    @classmethod
    def load(cls, path: str | Path | None = None) -> PriceCatalog:
        """The catalog in the YAML file at `path`; by default the one shipped with OneFlow."""
        source = Path(path) if path is not None else DEFAULT_PATH
        try:
            data = yaml.load(source.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        except (OSError, yaml.YAMLError) as e:
            raise CatalogError(f"price catalog {source}: cannot read it: {e}") from e
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: object) -> PriceCatalog:
        """The catalog from the parsed YAML document: `{prices_as_of, models: {name: fields}}`."""
        if not isinstance(data, Mapping) or set(data) != {"prices_as_of", "models"}:
            raise CatalogError("price catalog: expected exactly the keys 'prices_as_of' and 'models'")
        models = data["models"]
        if not isinstance(models, Mapping) or not models:
            raise CatalogError("price catalog: 'models' must be a non-empty mapping of model name to fields")
        return cls(models, _as_of(data["prices_as_of"]))

    @property
    def prices_as_of(self) -> date:
        """The date on which the prices were the vendors' list prices."""
        return self._prices_as_of

    def get(self, model: str) -> ModelPrice | None:
        """The price of `model` (a name or alias; any `provider/` prefixes ignored), or None if unknown."""
        key = model.strip().lower()
        while True:
            name = self._index.get(key)
            if name is not None:
                return self._models[name]
            _, slash, key = key.partition("/")
            if not slash:
                return None

    def require(self, model: str) -> ModelPrice:
        """Like `get`, but an unknown model raises `UnknownModelPrice`."""
        price = self.get(model)
        if price is None:
            raise UnknownModelPrice(model)
        return price

    def models(self) -> list[ModelPrice]:
        return list(self._models.values())

    def __contains__(self, model: object) -> bool:
        return isinstance(model, str) and self.get(model) is not None

    def __len__(self) -> int:
        return len(self._models)

    def with_overrides(self, overrides: Mapping[str, Mapping[str, Any]]) -> PriceCatalog:
        """A new catalog with `overrides` applied: for a known model (name or alias) the given fields
        replace its own (`None` removes an optional one); an unknown name is a new model, given in full."""
        entries = {name: dict(fields) for name, fields in self._entries.items()}
        for key, fields in overrides.items():
            if not isinstance(fields, Mapping):
                raise CatalogError(f"price override for {key!r}: expected a mapping of fields")
            known = self.get(key) if isinstance(key, str) else None
            if known is None:
                entries[key] = dict(fields)
            else:
                entries[known.name] = {**entries[known.name], **fields}
        return PriceCatalog(entries, self._prices_as_of)


def _as_of(value: object) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise CatalogError(f"price catalog: prices_as_of {value!r} is not a date (YYYY-MM-DD)") from None


def _parse(name: str, fields: Mapping[str, Any]) -> ModelPrice:
    f = _Fields(name, {k: v for k, v in fields.items() if v is not None})
    if unknown := sorted(set(f.present) - _FIELDS, key=str):
        raise f.error(f"unknown field(s) {', '.join(map(repr, unknown))}")
    if missing := [k for k in _ALWAYS if k not in f.present]:
        raise f.error(f"missing field(s) {', '.join(missing)}")
    if (mode := f.present["mode"]) not in MODES:
        raise f.error(f"mode {mode!r} is not one of {', '.join(sorted(MODES))}")
    if missing := [k for k in _REQUIRED[mode] if k not in f.present]:
        raise f.error(f"missing field(s) {', '.join(missing)} (required for mode {mode})")
    inp, out, cached = (f.money(k) for k in _PER_MILLION)
    if cached is not None and inp is not None and cached > inp:
        raise f.error(f"cached_input_per_million {cached} is more than input_per_million {inp}")
    context, max_output = f.count("context_window"), f.count("max_output_tokens")
    if max_output > context or ("context_window" in _REQUIRED[mode] and not context):
        raise f.error(f"context_window {context} must be > 0 and at least max_output_tokens {max_output}")
    if mode == "chat" and not max_output:
        raise f.error("max_output_tokens must be > 0")
    return ModelPrice(
        name=name,
        provider=f.text("provider"),
        mode=mode,
        input_per_token=_per_token(inp or Decimal(0)),
        output_per_token=_per_token(out or Decimal(0)),
        cached_input_per_token=None if cached is None else _per_token(cached),
        per_image=f.money("per_image"),
        per_second=f.money("per_second"),
        per_character=f.money("per_character"),
        context_window=context,
        max_output_tokens=max_output,
        supports_tools=f.flag("supports_tools"),
        supports_vision=f.flag("supports_vision"),
        quality=f.quality(),
        aliases=f.aliases(),
        image_prices=f.image_prices(),
    )


@dataclass(frozen=True, slots=True)
class _Fields:
    """One model's fields as written, read with type checks that name the model and the field."""

    name: str
    present: Mapping[str, Any]

    def error(self, message: str) -> CatalogError:
        return CatalogError(f"price catalog: model {self.name!r}: {message}")

    def money(self, field: str) -> Decimal | None:
        """An exact, finite, non-negative amount; a float is refused, for it may already be inexact."""
        if (value := self.present.get(field)) is None:
            return None
        if isinstance(value, float):
            raise self.error(f'{field} is the unquoted number {value!r}; write prices as quoted strings ("{value}")')
        if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
            raise self.error(f"{field} must be a decimal string, got {value!r}")
        try:
            amount = Decimal(value.strip() if isinstance(value, str) else value)
        except InvalidOperation:
            raise self.error(f"{field} {value!r} is not a decimal number") from None
        if not amount.is_finite() or amount < 0:
            raise self.error(f"{field} must be a finite amount >= 0, got {value!r}")
        return amount

    def count(self, field: str) -> int:
        value = self.present.get(field, 0)
        if type(value) is not int or value < 0:
            raise self.error(f"{field} must be a whole number >= 0, got {value!r}")
        return value

    def flag(self, field: str) -> bool:
        value = self.present[field]
        if not isinstance(value, bool):
            raise self.error(f"{field} must be true or false, got {value!r}")
        return value

    def text(self, field: str) -> str:
        value = self.present[field]
        if not isinstance(value, str) or not value.strip():
            raise self.error(f"{field} must be a non-empty string, got {value!r}")
        return value

    def quality(self) -> float:
        value = self.present["quality"]
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise self.error(f"quality must be a number from 0 to 1, got {value!r}")
        return float(value)

    def image_prices(self) -> tuple[tuple[str, str, Decimal], ...]:
        table = self.present.get("image_prices", {})
        if not isinstance(table, Mapping) or not all(isinstance(v, Mapping) for v in table.values()):
            raise self.error(f"image_prices must map a quality to sizes and prices, got {table!r}")
        out: list[tuple[str, str, Decimal]] = []
        for quality, sizes in table.items():
            for size, value in sizes.items():
                amount = _Fields(self.name, {"price": value}).money("price")
                if amount is None:
                    raise self.error(f"image_prices.{quality}.{size} must be a decimal string")
                out.append((str(quality), str(size), amount))
        return tuple(out)

    def aliases(self) -> tuple[str, ...]:
        value = self.present.get("aliases", [])
        if not isinstance(value, list) or not all(isinstance(a, str) and a.strip() for a in value):
            raise self.error(f"aliases must be a list of non-empty strings, got {value!r}")
        return tuple(value)


def _per_token(per_million: Decimal) -> Decimal:
    return per_million.scaleb(-6)
