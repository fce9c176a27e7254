"""A test clock for relogins without 30 s waits.

Every login consumes a TOTP code from a 30 s step that no earlier login used (the client
never reuses a step, and the emulator, like RFC 6238 servers, rejects a replayed one). So
a test or demo that makes a session expire and relogs in would wait up to 30 s for a fresh
step. Give the emulator and the client the same :class:`StepClock` (``clock=`` on both)
and jump it to the next step instead.
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
    current one. Thread-safe: reading and jumping are single attribute operations.
    """

    def __init__(self, *, into_step: float = 5.0, steps_ahead: int = 1) -> None:
        if not 0 <= into_step < TOTP_STEP:
            raise ValueError(f"into_step must be in [0, {TOTP_STEP}) seconds, got {into_step!r}")
        now = time.time()
        self.offset = (int(now // TOTP_STEP) + steps_ahead) * TOTP_STEP + into_step - now

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        """Move the clock forward (or back, with a negative number)."""
        self.offset += seconds

    def next_step(self, *, into_step: float = 5.0) -> None:
        """Jump to ``into_step`` seconds into the next 30 s TOTP step."""
        if not 0 <= into_step < TOTP_STEP:
            raise ValueError(f"into_step must be in [0, {TOTP_STEP}) seconds, got {into_step!r}")
        now = self()
        self.offset += (int(now // TOTP_STEP) + 1) * TOTP_STEP + into_step - now
