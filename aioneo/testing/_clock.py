"""A test clock for relogins without 30 s waits.

Every login consumes a TOTP code from a 30 s step that no earlier login used (the client
never reuses a step, and the emulator, like RFC 6238 servers, rejects a replayed one). So
a test or demo that makes a session expire and relogs in would wait up to 30 s for a fresh
step. Give the emulator and the client the same :class:`StepClock` (``clock=`` on both)
and jump it to the next step instead: by hand with :meth:`StepClock.next_step`, or by
itself with ``auto_step=True`` (what the pytest fixtures use).
"""

from __future__ import annotations

import time

__all__ = ["TOTP_STEP", "StepClock"]

TOTP_STEP = 30


class StepClock:
    """Unix time that runs with the real clock but can jump ahead.

    >>> clock = StepClock()  # doctest: +SKIP
    >>> emu = Emulator(clock=clock)
    >>> client = AsyncNeoClient(creds, clock=clock, login_url=emu.login_url, ...)
    >>> emu.expire_sessions(); clock.next_step()  # the relogin needs no wait

    It starts ``into_step`` seconds into the TOTP step ``steps_ahead`` steps after the
    current one.

    ``auto_step=True``: each time an :class:`~aioneo.testing.Emulator` that runs on this
    clock accepts a TOTP code of the clock's current step (or of a later one), the clock
    jumps to ``into_step`` seconds into the step after it, as if the wait for a fresh step
    had passed. So the next login of a client on the same clock needs no wait, and no
    ``next_step()`` call. Time then moves up to 30 s ahead per login. A code of a step the
    clock has already left (a client on the real clock) moves nothing.

    Thread-safe: reading and jumping are single attribute operations; two jumps at the
    same moment (a login and a ``next_step()`` from another thread) may count as one.
    """

    def __init__(
        self, *, into_step: float = 5.0, steps_ahead: int = 1, auto_step: bool = False
    ) -> None:
        _check_into_step(into_step)
        if not isinstance(auto_step, bool):
            raise TypeError(f"auto_step must be True or False, got {auto_step!r}")
        now = time.time()
        self.offset = (int(now // TOTP_STEP) + steps_ahead) * TOTP_STEP + into_step - now
        self.auto_step = auto_step
        self._into_step = into_step

    def __repr__(self) -> str:
        return f"StepClock(offset={self.offset:.1f}, auto_step={self.auto_step})"

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        """Move the clock forward (or back, with a negative number)."""
        self.offset += seconds

    def next_step(self, *, into_step: float = 5.0) -> None:
        """Jump to ``into_step`` seconds into the next 30 s TOTP step."""
        _check_into_step(into_step)
        now = self()
        self.offset += (int(now // TOTP_STEP) + 1) * TOTP_STEP + into_step - now

    def step_used(self, step: int) -> None:
        """A TOTP code of ``step`` was accepted; with ``auto_step``, leave that step.

        Called by the emulator. Jumps to ``into_step`` seconds (as constructed) into step
        ``step + 1`` when the clock has not reached it yet; otherwise does nothing.
        """
        if not self.auto_step:
            return
        now = self()
        if int(now // TOTP_STEP) <= step:
            self.offset += (step + 1) * TOTP_STEP + self._into_step - now


def _check_into_step(into_step: float) -> None:
    if not 0 <= into_step < TOTP_STEP:
        raise ValueError(f"into_step must be in [0, {TOTP_STEP}) seconds, got {into_step!r}")
