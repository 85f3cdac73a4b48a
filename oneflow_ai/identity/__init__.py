"""Identity and access: tenants, departments, users (argon2id passwords, JWT sessions), virtual API keys,
roles, rate limits and the audit log. `service.Identity` composes it; `create_app`'s lifespan owns it.

Pure cores (no I/O, `now` passed in): `buckets` (token-bucket arithmetic), `cache` (the key cache), `roles`
(who may do what), `passwords.Lockout`. Everything else is a thin layer over the database or Redis.
"""
