"""Token-bucket rate limiting for the emulator, keyed by session or consumer key.

Pure: time comes in as ``now``; the emulator calls it under its own lock. Each key has a
bucket holding at most ``max(1, rate)`` tokens, refilled at ``rate`` tokens per second; a
request takes one token or is refused. Kotak documents "10 requests/second across APIs"
and nothing about bursts, so the burst equals one second's worth.
"""

from __future__ import annotations

import dataclasses
import math

__all__ = ["Decision", "RateLimiter"]

_EPSILON = 1e-6


@dataclasses.dataclass(frozen=True, slots=True)
class Decision:
    """Whether a request may go ahead; when refused, the headers' numbers."""

    allowed: bool
    limit: float
    retry_after: float = 0.0  # seconds until one token is back
    reset: float = 0.0  # seconds until the bucket is full again

    def headers(self) -> list[tuple[bytes, bytes]]:
        """``Retry-After`` and ``X-RateLimit-*`` headers (whole seconds, rounded up, >= 1)."""
        limit = int(self.limit) if float(self.limit).is_integer() else self.limit
        return [
            (b"retry-after", str(max(1, math.ceil(self.retry_after))).encode()),
            (b"x-ratelimit-limit", str(limit).encode()),
            (b"x-ratelimit-remaining", b"0"),
            (b"x-ratelimit-reset", str(max(1, math.ceil(self.reset))).encode()),
        ]


class RateLimiter:
    """One bucket per key; ``rate=None`` lets everything through."""

    def __init__(self, rate: float | None) -> None:
        self._rate = rate
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last update)

    def take(self, key: str, now: float) -> Decision:
        """Take one token from ``key``'s bucket at time ``now``."""
        rate = self._rate
        if rate is None:
            return Decision(True, 0.0)
        capacity = max(1.0, rate)
        tokens, last = self._buckets.get(key, (capacity, now))
        tokens = min(capacity, tokens + max(0.0, now - last) * rate)
        if tokens >= 1.0 - _EPSILON:  # unix-time floats lose a few digits
            self._buckets[key] = (max(0.0, tokens - 1.0), now)
            return Decision(True, rate)
        self._buckets[key] = (tokens, now)
        return Decision(
            False, rate, retry_after=(1.0 - tokens) / rate, reset=(capacity - tokens) / rate
        )

    def forget(self, key: str) -> None:
        """Drop ``key``'s bucket (its session is gone)."""
        self._buckets.pop(key, None)
