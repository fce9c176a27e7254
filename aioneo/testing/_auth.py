"""Sessions, JWT-shaped tokens and TOTP checks of the emulator.

Pure bookkeeping: no I/O, no locks, no clock reads. Time comes in as ``now`` (unix
seconds) and randomness from the ``random.Random`` the emulator seeds, so runs are
reproducible. The emulator calls these under its own lock.

Tokens look like Kotak's historical RS256 JWTs (``kotak-neo-api.md`` section 5.1): a
base64url header ``{"alg": "RS256", "typ": "JWT"}``, a payload with ``scope``
(``["View"]`` after login, ``["Trade"]`` after validate), ``iss: "login-service"``,
``iat``, ``exp``, ``jti``, ``sub`` and ``ucc``, and a random signature that nobody checks:
the emulator recognises its tokens by looking them up, never by verifying them.
"""

from __future__ import annotations

import base64
import dataclasses
import hmac
import json
import math
import random
import uuid

import pyotp

__all__ = [
    "IST_OFFSET",
    "TOTP_STEP",
    "Session",
    "SessionStore",
    "TotpCheck",
    "TotpVerifier",
    "next_ist_midnight",
]

#: India Standard Time is UTC+05:30, with no daylight saving.
IST_OFFSET = 5 * 3600 + 30 * 60
#: RFC 6238 time step used by Kotak's authenticator-app TOTPs.
TOTP_STEP = 30

VIEW = "View"
TRADE = "Trade"


def next_ist_midnight(now: float) -> float:
    """The unix time of the first 00:00 IST strictly after ``now``."""
    day = math.floor((now + IST_OFFSET) / 86400)
    return (day + 1) * 86400 - IST_OFFSET


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


@dataclasses.dataclass(slots=True)
class Session:
    """One issued token and sid. ``ended`` is ``None`` while the session is usable."""

    kind: str  # "View" or "Trade"
    token: str = dataclasses.field(repr=False)
    sid: str = dataclasses.field(repr=False)
    rid: str = dataclasses.field(repr=False)
    ucc: str
    issued_at: float
    expires_at: float
    client_ip: str | None = None
    ended: str | None = None  # "expired", "revoked" or "logged_out"

    def usable(self, now: float) -> bool:
        return self.ended is None and now < self.expires_at


class SessionStore:
    """All view and trade sessions the emulator has issued, by token."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._by_token: dict[str, Session] = {}

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def issue(
        self, kind: str, *, ucc: str, now: float, ttl: float | None, client_ip: str | None
    ) -> Session:
        """Mint a session of ``kind`` ("View" or "Trade") for ``ucc``, valid from ``now``."""
        expires_at = next_ist_midnight(now) if ttl is None else now + ttl
        payload = {
            "scope": [kind],
            "exp": math.ceil(expires_at),
            "iat": math.floor(now),
            "jti": self._uuid(),
            "iss": "login-service",
            "sub": str(uuid.uuid5(uuid.NAMESPACE_URL, f"neo-emulator:{ucc}")),
            "ucc": ucc,
            "nap": "",
            "fetchcachingrule": 0,
            "categorisation": "",
        }
        header = {"alg": "RS256", "typ": "JWT"}
        token = ".".join(
            (
                _b64url(json.dumps(header, separators=(",", ":")).encode()),
                _b64url(json.dumps(payload, separators=(",", ":")).encode()),
                _b64url(self._rng.randbytes(256)),
            )
        )
        session = Session(
            kind=kind,
            token=token,
            sid=self._uuid(),
            rid=self._uuid(),
            ucc=ucc,
            issued_at=now,
            expires_at=expires_at,
            client_ip=client_ip,
        )
        self._by_token[token] = session
        return session

    def lookup(self, token: str, sid: str | None, *, kind: str, now: float) -> Session | None:
        """The usable session of ``kind`` holding both ``token`` and ``sid``, else ``None``."""
        session = self._by_token.get(token)
        if session is None or session.kind != kind or not session.usable(now):
            return None
        if sid is None or not hmac.compare_digest(session.sid, sid):
            return None
        return session

    def lookup_sid(self, sid: str, *, ucc: str, kind: str, now: float) -> Session | None:
        """The usable session of ``kind`` and ``ucc`` holding ``sid``, else ``None``."""
        for session in self._by_token.values():
            usable = session.kind == kind and session.ucc == ucc and session.usable(now)
            if usable and hmac.compare_digest(session.sid, sid):
                return session
        return None

    def end(
        self,
        reason: str,
        *,
        ucc: str | None = None,
        kinds: tuple[str, ...] = (VIEW, TRADE),
        now: float,
        keep: Session | None = None,
    ) -> int:
        """End every usable session of ``ucc`` (or everyone's) whose kind is in ``kinds``.

        Returns how many sessions were ended. ``keep`` is left alone (the session a
        single-session validate just issued).
        """
        count = 0
        for session in self._by_token.values():
            if session is keep or session.kind not in kinds or not session.usable(now):
                continue
            if ucc is not None and session.ucc != ucc:
                continue
            session.ended = reason
            count += 1
        return count

    def prune(self, now: float) -> list[Session]:
        """Forget sessions that can no longer be used; returns them."""
        dead = [s for s in self._by_token.values() if not s.usable(now)]
        for session in dead:
            del self._by_token[session.token]
        return dead

    def active(self, now: float, *, kind: str | None = None) -> int:
        """How many sessions (of ``kind``, or of any kind) are usable at ``now``."""
        return sum(1 for s in self._by_token.values() if s.usable(now) and kind in (None, s.kind))


@dataclasses.dataclass(frozen=True, slots=True)
class TotpCheck:
    """Outcome of one TOTP check: ``ok``, ``invalid`` or ``replayed``, and the step used."""

    outcome: str
    step: int | None = None


class TotpVerifier:
    """RFC 6238 checks (HMAC-SHA1, 6 digits, 30 s) with optional same-step replay refusal."""

    def __init__(self) -> None:
        self._used: dict[str, set[int]] = {}

    def check(
        self,
        code: str,
        *,
        secret: str,
        ucc: str,
        now: float,
        skew_steps: int,
        reject_replay: bool,
    ) -> TotpCheck:
        """Which step ``code`` belongs to, looking ``skew_steps`` either side of ``now``.

        The current step is tried first, then the nearest neighbours. With
        ``reject_replay``, a step already marked used for ``ucc`` answers ``replayed``.
        """
        if len(code) != 6 or not code.isdigit():
            return TotpCheck("invalid")
        totp = pyotp.TOTP(secret)
        current = math.floor(now / TOTP_STEP)
        offsets = sorted(range(-skew_steps, skew_steps + 1), key=lambda o: (abs(o), o))
        for offset in offsets:
            step = current + offset
            if hmac.compare_digest(totp.at(step * TOTP_STEP), code):
                if reject_replay and step in self._used.get(ucc, set()):
                    return TotpCheck("replayed", step)
                return TotpCheck("ok", step)
        return TotpCheck("invalid")

    def mark_used(self, ucc: str, step: int, *, now: float, skew_steps: int) -> None:
        """Remember that a successful login used ``step``; forget steps too old to matter."""
        oldest = math.floor(now / TOTP_STEP) - skew_steps - 1
        used = self._used.setdefault(ucc, set())
        used.add(step)
        for old in [s for s in used if s < oldest]:
            used.discard(old)
