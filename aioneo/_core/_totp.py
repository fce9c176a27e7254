"""TOTP step arithmetic (RFC 6238: 30 s steps, 6 digits, HMAC-SHA1), without a clock.

Each login consumes one TOTP code. Two logins of one client never send codes from the same
30 s step, because a server that follows RFC 6238 section 5.2 rejects a code it has already
accepted, and Kotak does not document whether it does. :func:`plan_code` decides which
step the next login uses and how long to wait for it; the shell sleeps that long and then
computes the code *for that step number* (never for "now" again), so the step used is
always computed from the same timestamp as the code (scenario 32).

Boundary rule: a code generated in the last ``guard`` seconds of its step may reach the
server after the step has ended; a server without a skew window would then reject it.
So inside the guard window the plan waits for the next step instead (at most ``guard``
seconds). Replay rule: when the current step was already used by an earlier login of this
client, the plan waits for the next step (at most one step, 30 s). Neither wait is ever
longer than ``STEP + guard`` seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_GUARD", "STEP", "TotpPlan", "plan_code", "step_of"]

STEP = 30
#: Seconds before a step's end in which no code of that step is sent.
DEFAULT_GUARD = 1.0


def step_of(now: float) -> int:
    """The RFC 6238 time-step counter at unix time ``now``."""
    return int(now // STEP)


@dataclass(frozen=True, slots=True)
class TotpPlan:
    """Use the code of ``step`` after waiting ``wait`` seconds (0 when it can go now)."""

    step: int
    wait: float
    reason: str = ""

    @property
    def at(self) -> int:
        """A unix time inside ``step``, for ``pyotp.TOTP.at``."""
        return self.step * STEP


def plan_code(now: float, last_used_step: int | None, *, guard: float = DEFAULT_GUARD) -> TotpPlan:
    """Choose the step for the next login at ``now``.

    ``last_used_step`` is the step of this client's previous login attempt (``None`` before
    the first one).
    """
    if not 0 <= guard < STEP:
        raise ValueError(f"guard must be in [0, {STEP}) seconds, got {guard!r}")
    step = step_of(now)
    reason = ""
    if last_used_step is not None and step <= last_used_step:
        step = last_used_step + 1
        reason = "the current TOTP step was already used by the previous login"
    elif (step + 1) * STEP - now < guard:
        step += 1
        reason = "the current TOTP step ends in under a second"
    wait = max(0.0, step * STEP - now)
    return TotpPlan(step, wait, reason)
