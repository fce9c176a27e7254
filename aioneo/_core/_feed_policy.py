"""When a feed reconnects and when it counts as stalled. Pure: time and jitter come in.

Reconnect backoff (:class:`ReconnectPolicy`). After a drop the next attempt waits
``min(cap, base * 2**n)`` scaled into its upper half by ``jitter`` (``d/2 + jitter*d/2``,
"equal jitter"): the first retry comes within ``base`` (0.5 s by default, so under a
second), later ones double up to ``cap`` (30 s), and feeds of many clients that dropped
together do not come back in the same instant. Unlimited by default; ``max_reconnects``
bounds the attempts in a row, after which the feed gives up and says so (an exception from
the iterator, never a silent end).

What resets the count. The SDK resets its attempt counter on every successful open, so a
server that accepts and then drops at once (a stale sid, a policy close) makes it
reconnect forever at full speed (``feeds-and-instruments.md`` A.10 item 3). Here the count
resets only when a connection *lasted*: it stayed up ``stable_after`` seconds (30 s by
default) after authenticating. An accept-then-drop loop therefore backs off to the cap,
and counts towards ``max_reconnects``.

An auth refusal is not a drop: the shell hands it to the session machine instead, and
reconnects without a backoff once that answers (a newer session already exists, or the
login it waited for or led has finished). It still counts as an attempt here, so a server
that refuses every fresh session cannot make a feed spin.

Stall (:func:`stall_check`). A socket that stays open but sends nothing looks exactly like
a quiet market (A.10 item 10). With ``stall_timeout`` set, a connection whose last frame
(data or control) is older than that is declared stalled and reconnected. Pings are not
frames here: the server answering pings is precisely the case a stall watchdog is for.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

__all__ = [
    "DEFAULT_BACKOFF_BASE",
    "DEFAULT_BACKOFF_CAP",
    "DEFAULT_STABLE_AFTER",
    "ReconnectDecision",
    "ReconnectPolicy",
    "backoff_delay",
    "stall_check",
]

#: The first retry waits at most this long (seconds).
DEFAULT_BACKOFF_BASE: Final = 0.5
#: No retry waits longer than this (seconds).
DEFAULT_BACKOFF_CAP: Final = 30.0
#: A connection that lasted this long (seconds) resets the attempt count.
DEFAULT_STABLE_AFTER: Final = 30.0


def backoff_delay(attempt: int, jitter: float, *, base: float, cap: float) -> float:
    """The wait before retry ``attempt`` (0 for the first): ``d/2 + jitter*d/2`` with
    ``d = min(cap, base * 2**attempt)`` and ``jitter`` in ``[0, 1)``."""
    if attempt < 0:
        raise ValueError(f"attempt must be >= 0, got {attempt!r}")
    ceiling = cap if attempt >= 64 else min(cap, base * 2.0**attempt)
    j = min(max(jitter, 0.0), 1.0)
    return ceiling * (0.5 + 0.5 * j)


@dataclass(frozen=True, slots=True)
class ReconnectDecision:
    """``delay`` seconds before the next attempt, or ``give_up`` (``max_reconnects`` in a
    row failed); ``attempt`` counts the attempts in a row, from 1."""

    delay: float
    attempt: int
    give_up: bool = False


def _positive(name: str, value: object, *, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise TypeError(f"{name} must be a number of seconds, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        limit = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {limit} seconds, got {value!r}")
    return float(value)


class ReconnectPolicy:
    """Reconnect decisions for one feed. The shell reports, the policy answers."""

    def __init__(
        self,
        *,
        max_reconnects: int | None = None,
        base: float = DEFAULT_BACKOFF_BASE,
        cap: float = DEFAULT_BACKOFF_CAP,
        stable_after: float = DEFAULT_STABLE_AFTER,
    ) -> None:
        if max_reconnects is not None and (
            isinstance(max_reconnects, bool) or not isinstance(max_reconnects, int)
        ):
            raise TypeError(f"max_reconnects must be an int or None, got {max_reconnects!r}")
        if max_reconnects is not None and max_reconnects < 0:
            raise ValueError(
                f"max_reconnects must be >= 0 or None (unlimited), got {max_reconnects!r}"
            )
        self.max_reconnects = max_reconnects
        self.base = _positive("backoff base", base)
        self.cap = _positive("backoff cap", cap)
        if self.cap < self.base:
            raise ValueError(f"backoff cap ({cap!r}) must be >= its base ({base!r})")
        self.stable_after = _positive("stable_after", stable_after, allow_zero=True)
        #: Attempts in a row since the last connection that lasted.
        self.attempts = 0
        self._live_since: float | None = None

    def on_live(self, now: float) -> None:
        """A connection authenticated and is live."""
        self._live_since = now

    def on_closed(self, now: float, jitter: float) -> ReconnectDecision:
        """The connection ended (dropped, stalled, refused, or never opened): what next."""
        if self._live_since is not None and now - self._live_since >= self.stable_after:
            self.attempts = 0
        self._live_since = None
        if self.max_reconnects is not None and self.attempts >= self.max_reconnects:
            return ReconnectDecision(0.0, self.attempts, give_up=True)
        delay = backoff_delay(self.attempts, jitter, base=self.base, cap=self.cap)
        self.attempts += 1
        return ReconnectDecision(delay, self.attempts)


def stall_check(*, last_frame_at: float, now: float, stall_timeout: float | None) -> float | None:
    """``None``: stalled (no frame for ``stall_timeout`` seconds); else the seconds until
    it would be, i.e. when to check again. ``stall_timeout=None`` never stalls (``inf``)."""
    if stall_timeout is None:
        return math.inf
    remaining = last_frame_at + stall_timeout - now
    return None if remaining <= 0 else remaining
