"""Client-side rate limiting as pure arithmetic (GCRA, the "virtual scheduling" form).

Kotak documents about 10 requests per second per session across APIs. The limiter keeps a
*theoretical arrival time* ``tat``; each request reserves the next slot and is told how
long to wait for it, so callers are served in the order they asked, in O(1), with no
timer and no background task. A burst of up to ``burst`` requests passes at once after a
quiet period. Logins are not counted: a login must never queue behind the requests it is
rescuing.

Headroom: the steady rate is exactly ``rate``, but the default burst is only half a
second's worth. The server's bucket (one second's worth, as far as anyone knows) then
keeps half its tokens as slack, which absorbs arrival jitter: requests that leave on
schedule but arrive bunched (a slow first burst, a queue in a proxy) do not meet a 429. A
429 on an order is not retried, so avoiding it matters more than the last half-second
of burst.

The same arithmetic runs in three places: in one client, in a shell-side limiter that
the clients sharing a session share (``aioneo._limits``), and as a Lua script on Redis
for clients on several hosts (``aioneo._stores.RedisSessionStore``), which keeps the
schedule in integer microseconds of the Redis server's clock.
"""

from __future__ import annotations

__all__ = ["RateLimiter"]


class RateLimiter:
    """``reserve(now)`` returns how many seconds to wait before sending (0 = go)."""

    __slots__ = ("_interval", "_tat", "_tolerance", "burst", "rate")

    def __init__(self, rate: float, *, burst: int | None = None) -> None:
        if not rate > 0:
            raise ValueError(
                f"rate_limit must be a positive number of requests per second or None, got {rate!r}"
            )
        self.rate = float(rate)
        self.burst = max(1, int(rate) // 2 if burst is None else burst)
        self._interval = 1.0 / self.rate
        self._tolerance = self._interval * (self.burst - 1)
        self._tat = float("-inf")

    @property
    def interval(self) -> float:
        """Seconds between two slots at the steady rate (``1 / rate``)."""
        return self._interval

    @property
    def tolerance(self) -> float:
        """How far ahead of the schedule a request may go: ``interval * (burst - 1)``."""
        return self._tolerance

    def reserve(self, now: float) -> float:
        tat = max(self._tat, now)
        wait = max(0.0, tat - self._tolerance - now)
        self._tat = tat + self._interval
        return wait

    def with_rate(self, rate: float) -> RateLimiter:
        """A limiter at ``rate`` (its default burst) that continues this one's schedule:
        the slots already handed out stay handed out."""
        limiter = RateLimiter(rate)
        limiter._tat = self._tat
        return limiter
