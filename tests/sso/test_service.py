"""`SingleSignOn.check_tenants`: the rules' tenants that do not exist are named at start-up (a warning)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy import insert

from oneflow_ai.identity.tables import now_utc, tenants
from oneflow_ai.sso.service import SingleSignOn
from oneflow_ai.sso.settings import SSOSettings
from oneflow_ai.store.db import create_engine, migrate


async def test_missing_tenants_are_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'oneflow.db'}")
    try:
        await migrate(engine)
        async with engine.begin() as conn:
            await conn.execute(insert(tenants).values(id="acme", name="Acme", created_at=now_utc()))
        settings = SSOSettings.model_validate(
            {
                "issuer": "https://login.example.com",
                "client_id": "oneflow",
                "public_url": "https://gateway.example.com",
                "rules": [
                    {"claim": "groups", "contains": "a", "tenant": "acme", "role": "admin"},
                    {"claim": "groups", "contains": "b", "tenant": "lab", "role": "member"},
                    {"claim": "groups", "contains": "c", "tenant": "lab", "role": "viewer"},
                ],
                "default": {"tenant": "guests", "role": "viewer"},
            }
        )
        with caplog.at_level(logging.WARNING, logger="oneflow.sso"):
            assert await SingleSignOn(settings, {}, engine).check_tenants() == ["lab", "guests"]
        assert [r.getMessage() for r in caplog.records if r.name == "oneflow.sso"] == [
            "sso: the claim rules name tenant 'lab', which does not exist (yet)",
            "sso: the claim rules name tenant 'guests', which does not exist (yet)",
        ]
    finally:
        await engine.dispose()
