"""Experiments made through the admin API, in the `experiments` table (migration 0010)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from oneflow_ai.experiments.split import Experiment, Variant
from oneflow_ai.store.tables import experiments


async def load_all(engine: AsyncEngine) -> list[Experiment]:
    """Every stored experiment, running or ended, oldest first; a row that no longer reads is skipped."""
    async with engine.connect() as conn:
        rows = await conn.execute(select(experiments).order_by(experiments.c.created_at, experiments.c.id))
        out = []
        for r in rows:
            found = _read(r._mapping)
            if found is not None:
                out.append(found)
        return out


async def create(engine: AsyncEngine, e: Experiment) -> bool:
    """Store a new experiment; False when its tenant has one of that name already."""
    row = {
        "id": e.id,
        "tenant_id": e.tenant_id,
        "name": e.name,
        "model": e.model,
        "variants": json.dumps([{"name": v.name, "model": v.model, "weight": v.weight} for v in e.variants]),
        "sticky": e.sticky,
        "status": e.status,
        "created_at": e.created_at,
        "ended_at": e.ended_at,
    }
    try:
        async with engine.begin() as conn:
            await conn.execute(insert(experiments).values(row))
    except IntegrityError:
        return False
    return True


async def end(engine: AsyncEngine, experiment_id: str, at: datetime) -> bool:
    """Stop a running experiment (its calls go to its model again); False when none was running."""
    async with engine.begin() as conn:
        result = await conn.execute(
            update(experiments)
            .where(experiments.c.id == experiment_id, experiments.c.status == "running")
            .values(status="ended", ended_at=at)
        )
        return bool(result.rowcount)


def _read(row: Any) -> Experiment | None:
    try:
        variants = tuple(
            Variant(str(v["name"]), str(v["model"]), float(v["weight"])) for v in json.loads(row["variants"])
        )
        return Experiment(
            row["id"],
            row["name"],
            row["model"],
            variants,
            bool(row["sticky"]),
            row["tenant_id"] or "",
            "ended" if row["status"] == "ended" else "running",
            _utc(row["created_at"]),
            _utc(row["ended_at"]),
        )
    except (ValueError, TypeError, KeyError):
        return None


def _utc(t: datetime | None) -> datetime | None:
    if t is None:
        return None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
