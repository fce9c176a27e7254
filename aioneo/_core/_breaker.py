"""The relogin circuit breaker: stop a login ping-pong instead of feeding it (scenario 40).

If Kotak keeps one trade session per account, two programs logging in with the same
account end each other's session on every login: A logs in, B's next call is "session
expired", B logs in, A's next call is "session expired", and so on, each login burning a
TOTP code. Each client on its own sees only "my session died, log in again", which is
the right answer once and the wrong one forever.

Policy: a client counts the logins it starts *because the server said "session
expired"* (reactive relogins; not the first login, not proactive refreshes, not an
explicit ``login()``, not a session adopted from a store). When ``max_relogins`` of them
already happened within the last ``window`` seconds, the next automatic relogin is
refused with :class:`~aioneo.ReloginLoopError` until the oldest of them leaves the
window; callers fail fast meanwhile with the same error (``retry_in`` says how long).
So at most ``max_relogins`` automatic relogins run per ``window`` seconds, whatever
happens. An explicit ``login()`` is never refused (the user asked).

The defaults (:data:`DEFAULT_MAX_RELOGINS` in :data:`DEFAULT_RELOGIN_WINDOW`) allow what
a healthy session never needs: Kotak sessions last hours (until midnight by default), and
a client never logs in twice within one 30 s TOTP step, so 10 relogins within 5 minutes
means the session is being taken away as fast as the TOTP steps allow.

Pure: time comes in as ``now``; no clock, no lock.
"""

from __future__ import annotations

from collections import deque

from .._exceptions import ReloginLoopError

__all__ = ["DEFAULT_MAX_RELOGINS", "DEFAULT_RELOGIN_WINDOW", "ReloginBreaker"]

#: Reactive relogins allowed within :data:`DEFAULT_RELOGIN_WINDOW` seconds.
DEFAULT_MAX_RELOGINS = 10
#: Seconds over which reactive relogins are counted.
DEFAULT_RELOGIN_WINDOW = 300.0


class ReloginBreaker:
    """Counts reactive relogins in a sliding window and refuses one too many."""

    __slots__ = ("_error", "_times", "max_relogins", "refusals", "window")

    def __init__(self, max_relogins: int, window: float) -> None:
        if isinstance(max_relogins, bool) or not isinstance(max_relogins, int) or max_relogins < 1:
            raise ValueError(f"max_relogins must be an int >= 1 or None, got {max_relogins!r}")
        if isinstance(window, bool) or not isinstance(window, int | float) or not window > 0:
            raise ValueError(f"relogin_window must be a number of seconds > 0, got {window!r}")
        self.max_relogins = max_relogins
        self.window = float(window)
        self._times: deque[float] = deque()
        self._error: ReloginLoopError | None = None
        #: Automatic relogins refused so far.
        self.refusals = 0

    def _prune(self, now: float) -> None:
        while self._times and self._times[0] <= now - self.window:
            self._times.popleft()
        if len(self._times) < self.max_relogins:
            self._error = None  # closed again: the next opening gets a new error

    def refusal(self, now: float) -> ReloginLoopError | None:
        """The error to raise instead of one more automatic relogin at ``now``, if any.

        The same error object is returned for as long as the breaker stays open, so a
        shell can tell a newly opened breaker from one it already reported; its
        ``retry_in`` and message are brought up to date at every call (the time left as of
        ``now``), and the shells raise a copy, so each raised error keeps its own value.
        """
        self._prune(now)
        if len(self._times) < self.max_relogins:
            return None
        self.refusals += 1
        retry_in = max(0.0, self._times[0] + self.window - now)
        message = (
            f"logged in again {len(self._times)} times within {self.window:g} s because "
            "the server kept ending the session: another program or device is probably "
            "logging in with the same account, and each login ends the other's session. "
            "Share one session store between the processes (FileSessionStore, "
            "RedisSessionStore) or stop the other login. Automatic logins resume in "
            f"{retry_in:.0f} s; login() tries at once"
        )
        if self._error is None:
            self._error = ReloginLoopError(message, retry_in=retry_in)
        else:  # the same opening: the same object, with the time left as of ``now``
            self._error.message = message
            self._error.retry_in = retry_in
        return self._error

    def record(self, now: float) -> None:
        """A reactive relogin starts at ``now``."""
        self._prune(now)
        self._times.append(now)

    def recent(self, now: float) -> int:
        """Reactive relogins within the window ending at ``now``."""
        self._prune(now)
        return len(self._times)
