"""The request pipeline: authenticate, (limit, guard, cache), plan, call with fallbacks, price, record."""
