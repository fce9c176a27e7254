"""The client-side rate limit of a session, shared by every client that shares the session.

Kotak counts requests per trade *session* (about 10 per second). Clients that share a
session through a store (``session_store=``) must therefore share one schedule, or two
of them together send twice the rate and meet the server's 429s (an order is not
retried on a 429). The arithmetic is the pure GCRA of ``aioneo._core._ratelimit``; this
module decides which clients share which schedule, and holds the lock around it.

Who shares what (:func:`limiter_for`, called once per client, in its constructor):

* A client without a store of its own (a private :class:`~aioneo.MemorySessionStore`)
  has a limiter of its own: it shares its session with nobody.
* Clients given the same store object (any store, including one of your own) and the
  same account (``Credentials.ucc``) share one :class:`LocalLimiter`, whatever their
  kind: async and sync clients, any number of threads and event loops.
* :class:`~aioneo.FileSessionStore`: clients whose stores name the same file (the path
  resolved, symbolic links followed) share one, even through different store objects.
  Other processes are *not* coordinated (see the store's docstring for why, and what to
  use instead).
* :class:`~aioneo.RedisSessionStore`: the schedule lives on Redis (:class:`RedisLimiter`),
  so every process on every host using that Redis key and account shares it. Clients
  of one process given the same store object share one :class:`RedisLimiter` (one
  fallback schedule, one outage warning).

Mixed rates: the clients sharing a limiter may ask for different ``rate_limit`` values;
the shared limiter runs at the *lowest* rate any of them asked for (with that rate's
burst), from the moment that client is created for as long as the limiter lives. A
limit that is too low costs throughput; one that is too high costs 429s on orders. A
client with ``rate_limit=None`` takes no part: its requests are not counted by anyone.
A shared limiter lives as long as some client holds it; a client created after all the
others are gone starts a new schedule.

Locks: each limiter has one ``threading.Lock`` held only for the arithmetic, never
across a sleep or I/O; the Redis round trip happens outside it. A forked child replaces
every lock (a thread of the parent may have held one at the fork).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import ClassVar

from ._core._ratelimit import RateLimiter
from ._exceptions import SessionStoreError
from ._stores import FileSessionStore, RedisSessionStore, SessionStore

__all__ = ["REDIS_RETRY", "Limiter", "LocalLimiter", "RedisLimiter", "limiter_for"]

logger = logging.getLogger("aioneo")

#: Seconds a :class:`RedisLimiter` stays on its process-local schedule after Redis failed
#: before one request tries Redis again.
REDIS_RETRY = 5.0


class Limiter:
    """What a client holds: ``reserve()`` takes the next slot and returns the seconds to
    wait before sending (0: send now). Thread-safe. ``blocking``: whether ``reserve`` does
    network I/O (the async client then calls it in a worker thread)."""

    blocking: ClassVar[bool] = False

    def reserve(self) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def _join(self, rate: float) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _after_fork_in_child(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


class LocalLimiter(Limiter):
    """The GCRA behind a ``threading.Lock``, on the process's monotonic clock (``clock``:
    a test seam)."""

    def __init__(
        self,
        rate: float,
        *,
        owner: object = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._gcra = RateLimiter(rate)
        self._clock = clock
        self._mutex = threading.Lock()
        # The store this limiter is keyed on by identity: held, so that its id cannot be
        # reused by another store while the registry entry exists.
        self._owner = owner
        _limiters.add(self)

    def __repr__(self) -> str:
        return f"LocalLimiter(rate={self.rate:g}, burst={self.burst})"

    @property
    def rate(self) -> float:
        return self._gcra.rate

    @property
    def burst(self) -> int:
        return self._gcra.burst

    def schedule(self) -> tuple[float, float]:
        """``(interval, tolerance)`` in seconds, for a schedule kept elsewhere (Redis)."""
        with self._mutex:
            return self._gcra.interval, self._gcra.tolerance

    def reserve(self) -> float:
        with self._mutex:
            return self._gcra.reserve(self._clock())

    def _join(self, rate: float) -> None:
        """Another client shares this limiter and asked for ``rate``: the lowest wins."""
        with self._mutex:
            if rate < self._gcra.rate:
                self._gcra = self._gcra.with_rate(rate)

    def _after_fork_in_child(self) -> None:
        self._mutex = threading.Lock()


class RedisLimiter(Limiter):
    """The schedule of one account kept on Redis, shared by every host; a process-local
    schedule when Redis fails.

    Each :meth:`reserve` runs one atomic Lua script on the Redis server
    (:meth:`~aioneo.RedisSessionStore.rate_key` holds the schedule): the GCRA on the
    server's own clock (``TIME``), so hosts whose clocks disagree still agree on the
    schedule, and the returned wait is a duration, not a time. Together, N hosts stay
    under the rate; the Redis round trip (well under a millisecond on a LAN) is added to
    each request. The key expires once its last slot has passed.

    Redis failing (unreachable, a timeout after ``RATE_SOCKET_TIMEOUT`` s, an error) never
    fails a trading call: that request and those of the next :data:`REDIS_RETRY` seconds
    are paced by the process-local limiter instead, and one request then tries Redis
    again. A warning is logged once when the outage starts (an info line when Redis works
    again), not per request. During the outage each process keeps the rate on its own, so N
    processes together may send up to N times the rate: the server's 429s (retried for
    reads, raised for orders) are then the limit.
    """

    blocking: ClassVar[bool] = True

    def __init__(self, store: RedisSessionStore, account: str, local: LocalLimiter) -> None:
        self._store = store
        self._account = account
        self._local = local
        self._mutex = threading.Lock()
        # None: Redis is used; else the monotonic time of the last failed attempt.
        self._failed_at: float | None = None
        _limiters.add(self)

    def __repr__(self) -> str:
        return f"RedisLimiter({self._store!r}, rate={self.rate:g}, burst={self.burst})"

    @property
    def rate(self) -> float:
        return self._local.rate

    @property
    def burst(self) -> int:
        return self._local.burst

    def reserve(self) -> float:
        now = time.monotonic()
        with self._mutex:
            failed_at = self._failed_at
            if failed_at is not None:
                if now - failed_at < REDIS_RETRY:
                    return self._local.reserve()
                self._failed_at = now  # this caller tries Redis; the others stay local
        interval, tolerance = self._local.schedule()
        try:
            wait = self._store._reserve_rate(self._account, interval=interval, tolerance=tolerance)
        except Exception as exc:
            with self._mutex:
                first = self._failed_at is None
                self._failed_at = time.monotonic()
            if first:
                logger.warning(
                    "the shared rate limit on Redis cannot be used (%s); requests are paced "
                    "by a process-local rate limit until Redis answers again (other "
                    "processes of the account are not counted meanwhile)",
                    exc if isinstance(exc, SessionStoreError) else type(exc).__name__,
                )
            return self._local.reserve()
        with self._mutex:
            recovered = self._failed_at is not None
            self._failed_at = None
        if recovered:
            logger.info("the shared rate limit on Redis works again: %r", self._store)
        return wait

    def _join(self, rate: float) -> None:
        self._local._join(rate)

    def _after_fork_in_child(self) -> None:
        self._mutex = threading.Lock()


#: Shared limiters by scope and account; an entry lives while some client holds it.
_shared: weakref.WeakValueDictionary[tuple[object, ...], Limiter] = weakref.WeakValueDictionary()
_shared_mutex = threading.Lock()
#: Every limiter, for the fork handler.
_limiters: weakref.WeakSet[Limiter] = weakref.WeakSet()


def limiter_for(
    store: SessionStore, *, private: bool, account: str, rate: float | None
) -> Limiter | None:
    """The limiter a client with these options uses (see the module docstring).

    ``rate`` ``None``: none. ``private``: the client's store is its own, so is its
    limiter. Raises ``ValueError`` for a rate that is not a positive number.
    """
    if rate is None:
        return None
    RateLimiter(rate)  # refuse a bad rate the same way whether or not a limiter exists
    if private:
        return LocalLimiter(rate)
    key: tuple[object, ...]
    if isinstance(store, FileSessionStore):
        key = ("file", os.path.realpath(store.path), account)
    else:
        # By identity, not equality. The limiter holds the store (RedisLimiter._store,
        # LocalLimiter._owner), so while the entry exists the id is that store's.
        key = ("store", id(store), account)
    with _shared_mutex:
        limiter = _shared.get(key)
        if limiter is not None:
            limiter._join(rate)
            return limiter
        if isinstance(store, RedisSessionStore):
            limiter = RedisLimiter(store, account, LocalLimiter(rate))
        elif isinstance(store, FileSessionStore):
            limiter = LocalLimiter(rate)
        else:
            limiter = LocalLimiter(rate, owner=store)
        _shared[key] = limiter
        return limiter


def _after_fork_in_child() -> None:
    global _shared_mutex
    _shared_mutex = threading.Lock()
    for limiter in list(_limiters):
        limiter._after_fork_in_child()


if hasattr(os, "register_at_fork"):  # POSIX only
    os.register_at_fork(after_in_child=_after_fork_in_child)
