"""Single sign-on: OpenID Connect's authorization code flow with PKCE, through Authlib (the `sso` extra).

`settings` (the config's `sso:` section) and `rules` (which tenant and role a user's claims earn) are pure and
import nothing optional; `oidc` (the provider's discovery, the code exchange, the ID token's checks) imports Authlib
and is loaded only when `sso:` is configured. `provision` creates or updates the user, `routes` serves
`/ui/sso/login` and `/ui/sso/callback`, `service.SingleSignOn` composes them (built by `create_app`'s lifespan).
"""
