"""Events (budget thresholds, exhausted quotas, breakers, API keys, guardrail blocks), their outbox, and their
delivery to webhooks. See `event` for the types, `outbox` for how an event is written with its change, and
`dispatcher` for how it is delivered."""
