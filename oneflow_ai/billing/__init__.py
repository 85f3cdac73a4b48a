"""Budgets and usage reports.

Spending limits per key, user, end user, department, tenant, provider or model are enforced before each call
(reserve the estimate) and settled after it (the actual cost), in one process or across replicas through
Redis (`budgets.py`, `counters.py`, `redis_counters.py`). The arithmetic is pure (`periods.py`). Usage reports
read the hourly aggregates (`usage.py`).
"""
