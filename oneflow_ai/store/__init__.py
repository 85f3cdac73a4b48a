"""Persistence: tables, the database engine and migrations, and the batched usage ledger."""
