"""The in-process cache of virtual keys, keyed by the SHA-256 of the presented key. `now` is passed in.

A warm entry answers without touching the database. Entries live `ttl_s` (short when no invalidation channel is
listening, longer while Redis pub/sub is delivering invalidations); unknown keys are remembered as absent for
`negative_ttl_s`. An invalidation bumps `epoch`, and a load that started before it is not stored, so a slow
database read can never put back a key that was revoked while it ran.
"""

from __future__ import annotations

from dataclasses import dataclass

from oneflow_ai.auth.principal import Principal


@dataclass(frozen=True, slots=True)
class KeyEntry:
    """What authentication needs to know about one key; times are UNIX seconds."""

    principal: Principal
    expires_at: float | None = None
    revoked_at: float | None = None
    grace_until: float | None = None


@dataclass(frozen=True, slots=True)
class _Slot:
    entry: KeyEntry | None
    until: float


MISS = object()


class KeyCache:
    def __init__(self, ttl_s: float, negative_ttl_s: float = 1.0, max_entries: int = 100_000) -> None:
        self.ttl_s = ttl_s
        self.negative_ttl_s = negative_ttl_s
        self.max_entries = max_entries
        self.epoch = 0
        self._slots: dict[str, _Slot] = {}

    def get(self, key_hash: str, now: float) -> KeyEntry | object | None:
        """The entry, None for a key known not to exist, or `MISS`."""
        slot = self._slots.get(key_hash)
        if slot is None or slot.until <= now:
            return MISS
        return slot.entry

    def put(self, key_hash: str, entry: KeyEntry | None, epoch: int, now: float) -> None:
        if epoch != self.epoch:
            return
        if len(self._slots) >= self.max_entries and key_hash not in self._slots:
            self._evict(now)
        ttl = self.ttl_s if entry is not None else min(self.ttl_s, self.negative_ttl_s)
        self._slots[key_hash] = _Slot(entry, now + ttl)

    def invalidate(self, key_hashes: list[str] | None) -> None:
        """Forget these keys (None: every key)."""
        self.epoch += 1
        if key_hashes is None:
            self._slots.clear()
            return
        for h in key_hashes:
            self._slots.pop(h, None)

    def __len__(self) -> int:
        return len(self._slots)

    def _evict(self, now: float) -> None:
        expired = [h for h, s in self._slots.items() if s.until <= now]
        for h in expired:
            del self._slots[h]
        while len(self._slots) >= self.max_entries * 0.9:  # still full: drop the oldest tenth
            del self._slots[next(iter(self._slots))]
