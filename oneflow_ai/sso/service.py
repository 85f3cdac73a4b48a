"""`SingleSignOn`: the OIDC client, the claim rules and the provisioning of users, composed once by `create_app`'s
lifespan when the config has an `sso:` section (`build_sso`); the console's `/ui/sso/*` routes call it."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace

from sqlalchemy.ext.asyncio import AsyncEngine

from oneflow_ai.identity.signing import Keyring
from oneflow_ai.sso import pending as pending_cookie
from oneflow_ai.sso.provision import Account, Provisioner, display_name, missing_tenants
from oneflow_ai.sso.rules import grant_for, verified_email
from oneflow_ai.sso.settings import SSOSettings

log = logging.getLogger("oneflow.sso")


class SingleSignOn:
    def __init__(self, settings: SSOSettings, environ: Mapping[str, str], engine: AsyncEngine) -> None:
        from oneflow_ai.sso.oidc import OIDCClient  # Authlib: the `sso` extra, loaded only when configured

        self.settings = settings
        self.client = OIDCClient(settings, settings.resolve_secret(environ))
        self.provisioner = Provisioner(engine)
        self._engine = engine

    async def check_tenants(self) -> list[str]:
        """The tenants the rules name that do not exist, each logged as a warning (not an error: an administrator
        may create them after the start; until then a user those rules admit is refused, with a page naming it)."""
        named = [r.tenant for r in self.settings.rules]
        if self.settings.default != "deny":
            named.append(self.settings.default.tenant)
        missing = await missing_tenants(self._engine, named)
        for tenant in missing:
            log.warning("sso: the claim rules name tenant %r, which does not exist (yet)", tenant)
        return missing

    async def begin(self, keyring: Keyring, now: float, next_url: str) -> tuple[str, str]:
        """(the provider's authorization URL, the pending sign-in's cookie value)."""
        url, pending = await self.client.start()
        return url, pending_cookie.seal(replace(pending, next=next_url), keyring, now)

    async def complete(
        self, cookie: str | None, params: Mapping[str, str], keyring: Keyring, now: float, source_ip: str | None
    ) -> tuple[Account, str]:
        """The callback: the pending sign-in checked, the code exchanged and the ID token verified, the rules
        applied and the user created or updated. (the account, the console page to open)."""
        pending = pending_cookie.unseal(cookie, keyring, now)
        signed_in = await self.client.finish(pending, params, now)
        grant = grant_for(self.settings, signed_in.claims)
        email = verified_email(signed_in.claims, trust_unverified_email=self.settings.trust_unverified_email)
        account = await self.provisioner.sign_in(
            signed_in.issuer,
            signed_in.subject,
            grant,
            email=email,
            name=display_name(signed_in.claims, email),
            source_ip=source_ip,
        )
        return account, pending.next


def build_sso(settings: SSOSettings | None, environ: Mapping[str, str], engine: AsyncEngine) -> SingleSignOn | None:
    return None if settings is None else SingleSignOn(settings, environ, engine)
