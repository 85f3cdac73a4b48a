"""The outbox: an event is a row written in the transaction of the change that caused it (as the audit log
is), so there is no event of a change that rolled back and no change without its event. The dispatcher
delivers the rows later (`dispatcher`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from oneflow_ai.events.event import AUDITED, Event
from oneflow_ai.store.dialects import upsert_dialect
from oneflow_ai.store.tables import event_outbox


async def write(conn: AsyncConnection, event: Event) -> None:
    """Insert `event`, unless an event with its id is there already (an id made from what the event is, as
    `quota.exhausted`'s, makes it one event however many replicas or paths report it)."""
    dialect = upsert_dialect(conn.dialect.name)
    await conn.execute(
        dialect.insert(event_outbox)
        .on_conflict_do_nothing(index_elements=["event_id"])
        .values(
            event_id=event.id,
            type=event.type,
            tenant_id=event.tenant,
            data=orjson.dumps(event.data, default=str).decode(),
            created_at=event.created_at,
        )
    )


def from_audit(
    action: str, tenant_id: str | None, target_id: str | None, detail: dict[str, Any] | None, at: datetime
) -> Event | None:
    """The event an audited action is, if it is one (`event.AUDITED`)."""
    kind = AUDITED.get(action)
    if kind is None:
        return None
    data: dict[str, Any] = {"key_id": target_id}
    if kind == "key.created" and detail:
        data.update(role=detail.get("role"), user_id=detail.get("user_id"))
    elif kind == "key.rotated" and detail:
        data.update(new_key_id=detail.get("new_key_id"), grace_period_s=detail.get("grace_period_s"))
    return Event(kind, tenant_id, data, at)


def utc(t: datetime) -> datetime:
    """SQLite gives back naive datetimes; every time stored here is UTC."""
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def stored(row: Any) -> Event:
    """An outbox row as an event again."""
    return Event(
        row["type"],
        row["tenant_id"],
        orjson.loads(row["data"]),
        utc(row["created_at"]),
        id=row["event_id"],
    )
