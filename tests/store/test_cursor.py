"""Opaque cursors: what goes in comes out, anything else is a 400, and `after` walks any order with ties once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from oneflow_ai.errors import InvalidRequest
from oneflow_ai.store import cursor

T0 = datetime(2030, 1, 1, tzinfo=UTC)


@given(
    st.datetimes(timezones=st.just(UTC)),
    st.text(max_size=64),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
)
def test_round_trip(at: datetime, ident: str, n: int) -> None:
    assert cursor.decode(cursor.encode([at, ident, n]), ("time", "str", "int")) == (at, ident, n)


@pytest.mark.parametrize(
    "bad",
    ["", "!!", "e30", cursor.encode([1]), cursor.encode(["x", "y"]), cursor.encode(["2030-01-01T00:00:00", "y"])],
)
def test_anything_else_is_a_clear_400(bad: str) -> None:
    """Not base64, not a list, wrong arity, wrong types, a time without its zone."""
    with pytest.raises(InvalidRequest) as e:
        cursor.decode(bad, ("time", "str"))
    assert e.value.code == "invalid_cursor" and e.value.param == "cursor"


def test_a_long_cursor_is_refused_before_decoding() -> None:
    with pytest.raises(InvalidRequest):
        cursor.decode("A" * (cursor.MAX_CURSOR + 1), ("int",))


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(st.tuples(st.integers(0, 3), st.text("abc", min_size=1, max_size=3)), unique_by=lambda r: r[1]),
    limit=st.integers(1, 5),
    descending=st.booleans(),
)
def test_after_walks_every_row_once_in_order(rows: list[tuple[int, str]], limit: int, descending: bool) -> None:
    """Keyset pages over (time, id) on a real SQLite, many rows sharing a time: each row once, in order."""
    engine = sa.create_engine("sqlite://")
    meta = sa.MetaData()
    table = sa.Table("t", meta, sa.Column("at", sa.DateTime(timezone=True)), sa.Column("id", sa.String))
    meta.create_all(engine)
    stored = [(T0 + timedelta(seconds=s), i) for s, i in rows]
    columns = [table.c.at, table.c.id]
    order = [c.desc() if descending else c for c in columns]
    seen: list[tuple[datetime, str]] = []
    with engine.begin() as conn:
        if stored:
            conn.execute(table.insert(), [{"at": a, "id": i} for a, i in stored])
        position: str | None = None
        for _ in range(len(stored) + 1):
            query = sa.select(*columns).order_by(*order).limit(limit)
            if position is not None:
                last = cursor.decode(position, ("time", "str"))
                query = query.where(cursor.after(columns, last, descending=descending))
            page = [(a.replace(tzinfo=UTC), i) for a, i in conn.execute(query)]
            seen += page
            if len(page) < limit:
                break
            position = cursor.encode(list(page[-1]))
    assert seen == sorted(stored, reverse=descending)
