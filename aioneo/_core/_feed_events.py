"""What a feed says about itself: :class:`FeedEvent` in the stream, :class:`FeedStats`.

A feed never goes quiet about its own state: every connect, drop, resubscription and stall
is an item in the stream, between the data items, in the order it happened. The counters
are exact (incremented by the one reader that owns them), never sampled.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Final, Literal

__all__ = ["EVENT_KINDS", "EventKind", "FeedEvent", "FeedStats"]

EventKind = Literal["connected", "disconnected", "resubscribed", "stalled"]
EVENT_KINDS: Final[tuple[EventKind, ...]] = ("connected", "disconnected", "resubscribed", "stalled")


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedEvent:
    """A change in a feed's connection, delivered in the stream with the data.

    * ``"connected"``: authenticated and live (``reconnect`` is ``False`` for the first);
    * ``"disconnected"``: the connection ended; ``code`` / ``reason`` are the close
      frame's (1006 and ``""`` when none arrived), or ``None`` with a ``reason`` saying
      what happened (a refused auth, an open that failed, a stall);
    * ``"resubscribed"``: a new connection was told the whole wanted set again
      (``subscriptions`` pairs);
    * ``"stalled"``: no frame for ``stall_timeout`` seconds: the feed reconnects.

    Data stopped at a ``"disconnected"`` or ``"stalled"`` and resumes after the next
    ``"connected"``. ``at`` is the local unix time it happened; ``epoch`` the session epoch
    the connection used (no credential is ever part of an event).
    """

    kind: EventKind
    at: float
    code: int | None = None
    reason: str = ""
    reconnect: bool = False
    subscriptions: int = 0
    epoch: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in EVENT_KINDS:
            allowed = ", ".join(repr(k) for k in EVENT_KINDS)
            raise ValueError(f"kind={self.kind!r} is not allowed: use one of {allowed}")


@dataclass(slots=True)
class FeedStats:
    """Counters of one feed (``feed.stats``); ``snapshot()`` copies them.

    * ``connects``: connections that authenticated (the first and every reconnect);
    * ``reconnects``: of those, the ones after the first;
    * ``auth_refusals``: connections whose session was refused (reported to the client's
      session machine as "session expired");
    * ``items``: items handed to the consumer (data and events);
    * ``conflated``: items merged into a newer one of the same instrument and mode by
      ``overflow="conflate"``;
    * ``dropped``: items thrown away by ``overflow="drop_oldest"``;
    * ``malformed``: truncated or garbage packets and frames skipped;
    * ``stalls``: connections closed by the stall watchdog;
    * ``duplicates``: order-feed updates already delivered, pushed again by the server
      after a reconnect, and dropped;
    * ``reconciled``: order updates produced by reconciling with ``order_report()``.
    """

    connects: int = 0
    reconnects: int = 0
    auth_refusals: int = 0
    items: int = 0
    conflated: int = 0
    dropped: int = 0
    malformed: int = 0
    stalls: int = 0
    duplicates: int = 0
    reconciled: int = 0

    def snapshot(self) -> FeedStats:
        return dataclasses.replace(self)
