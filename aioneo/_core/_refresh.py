"""Proactive refresh: log in again shortly *before* the trade token expires.

Without it, the first call after expiry pays for a relogin (and, for an order, a replay).
With it, a call made in the last minutes of a session starts one login in the
background and is itself sent at once with the still-valid token; the calls after it
keep using the current token until the new one is published. Pure: time (``now``, unix
seconds) and randomness (``jitter`` in ``[0, 1)``) come in as arguments, and nothing
here starts a timer: the shells ask :meth:`RefreshSchedule.due` on each call, so a
client that makes no calls makes no logins (no background task).

When (:func:`refresh_time`): ``expires_at - lead``, where ``lead`` is ``ahead`` seconds
but at most half the token's lifetime (a token valid for 2 minutes is not refreshed
after 1 second), shortened by up to a quarter by the jitter so processes that logged in
together do not all refresh in the same instant. ``expires_at`` is the session's local
end, computed from the token's lifetime counted from receipt (``new_session``), so a
local clock that runs minutes fast or slow does not move the refresh. A token without
an expiry is never refreshed proactively (scenario 38); the reactive path still works.

Failure (scenario 15): a failed refresh while the current token is still valid does not
reach any caller; calls keep using the current token. The next attempt is scheduled
after a jittered exponential backoff (:data:`RETRY_BASE` doubling up to
:data:`RETRY_CAP`), not on the next call; the shell logs the first failure of a streak
as a warning and the rest at debug level. A fatal login error is cached as usual and
stops further refreshes (retrying a wrong MPIN could lock the account).

No loop (scenario 35): after any proactive attempt, the next one is at least
:data:`RETRY_BASE` seconds later, even when the login returned a token that is itself
already inside its refresh window (a server that re-issues the same near-expiry token).

Coalescing (scenario 39) is the session machine's job: a refresh is a login ticket like
any other, so a "session expired" answer that arrives while it runs waits for it.
"""

from __future__ import annotations

import email.utils
import math
from dataclasses import dataclass

__all__ = [
    "DEFAULT_REFRESH_AHEAD",
    "RETRY_BASE",
    "RETRY_CAP",
    "RefreshSchedule",
    "parse_http_date",
    "refresh_time",
]

#: Seconds before expiry at which a session is refreshed (at most half its lifetime).
DEFAULT_REFRESH_AHEAD = 300.0
#: Seconds between two proactive attempts at least, and the first retry delay.
RETRY_BASE = 30.0
#: Longest delay between two failed proactive attempts.
RETRY_CAP = 600.0


def refresh_time(
    issued_at: float | None, expires_at: float | None, *, ahead: float, jitter: float
) -> float | None:
    """Unix time at which a session should be refreshed, or ``None`` for never."""
    if expires_at is None:
        return None
    lifetime = expires_at - issued_at if issued_at is not None else ahead * 2
    lead = min(ahead, max(lifetime, 0.0) / 2)
    lead *= 1.0 - 0.25 * min(max(jitter, 0.0), 1.0)
    return expires_at - lead


def retry_delay(failures: int, jitter: float) -> float:
    """Delay after the ``failures``-th failed proactive attempt in a row (1-based)."""
    ceiling = min(RETRY_CAP, RETRY_BASE * float(2 ** max(failures - 1, 0)))
    return ceiling * (0.75 + 0.25 * min(max(jitter, 0.0), 1.0))


@dataclass(slots=True)
class RefreshSchedule:
    """When the current session is due for a proactive refresh.

    ``ahead`` ``None`` switches proactive refresh off. The session machine calls
    :meth:`on_session` whenever it publishes a session, :meth:`on_attempt` when it starts
    a proactive login, :meth:`on_failure` when one fails softly, :meth:`clear` when the
    session ends.
    """

    ahead: float | None
    due_at: float | None = None
    failures: int = 0
    last_attempt: float | None = None

    def __post_init__(self) -> None:
        ahead = self.ahead
        if ahead is not None and (
            isinstance(ahead, bool)
            or not isinstance(ahead, int | float)
            or not math.isfinite(ahead)
            or ahead <= 0
        ):
            raise ValueError(
                f"refresh_ahead must be a number of seconds > 0, or None to switch proactive "
                f"refresh off, got {ahead!r}"
            )

    def on_session(
        self, issued_at: float | None, expires_at: float | None, now: float, jitter: float
    ) -> None:
        """A session was published: schedule its refresh (none without an expiry)."""
        self.failures = 0
        if self.ahead is None:
            self.due_at = None
            return
        at = refresh_time(issued_at, expires_at, ahead=self.ahead, jitter=jitter)
        if at is not None and self.last_attempt is not None:
            at = max(at, self.last_attempt + RETRY_BASE)  # scenario 35: never a loop
        self.due_at = at

    def due(self, now: float) -> bool:
        return self.due_at is not None and now >= self.due_at

    def on_attempt(self, now: float) -> None:
        """A proactive login starts: no second one until this one has an outcome."""
        self.last_attempt = now
        self.due_at = None

    def on_failure(self, now: float, jitter: float) -> float:
        """A proactive login failed while the session stays valid; returns the delay."""
        self.failures += 1
        delay = retry_delay(self.failures, jitter)
        self.due_at = now + delay
        return delay

    def clear(self) -> None:
        """The session ended (logout, or declared dead): nothing to refresh."""
        self.due_at = None


def parse_http_date(value: str | None) -> float | None:
    """An HTTP ``Date`` header as unix seconds, or ``None`` if absent or unreadable."""
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:  # RFC 9110: an HTTP date is always GMT
        return None
    return parsed.timestamp()
