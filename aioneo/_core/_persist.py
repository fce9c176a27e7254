"""Sessions that outlive a client: what a session store holds, and the decisions about it.

Pure: no file, no socket, no lock, no clock. The shells read and write a store
(``aioneo._stores``) and ask these functions what the values mean.

A store holds one :class:`StoredSession`, the newest login of one account among every
client that shares the store, plus a login lock. ``generation`` goes up by one with each
login written to the store (the writer holds the store's login lock, so two logins never
get the same number), so "is the stored session newer than the one that just failed?"
is a comparison of two integers (:func:`should_adopt`). The relogin contract across
processes (scenario 41), as the shells run it:

1. a client that needs a session (none yet, or "session expired" for generation *g*)
   first reads the store: a session newer than *g* that has not expired is adopted, no
   login;
2. otherwise it takes the store's login lock (waiting, and reading the store again while
   it waits: a sibling that logs in meanwhile is adopted the moment its session is
   written), reads the store once more under the lock, and adopts or logs in;
3. the login's TOTP step is chosen after the newest step any sharing client used
   (``totp_step``), so two processes never send codes of one 30 s step;
4. the new session is written once, after it was published inside the client and
   before the lock is released, so a sibling that gets the lock next finds it.

A failed login writes nothing; if its TOTP code may have been accepted (the TOTP step
succeeded, or went unanswered), it keeps the lock until that step is over
(:func:`failed_login_hold`), so no sibling sends a code of the same step. Not covered:
a process *killed* after its TOTP step was accepted and before it wrote the store. Its
lock is gone at once (file) or after its lease (Redis), and a sibling that logs in
within the same 30 s step sends a code of that step again; a server that refuses reused
codes (RFC 6238; Kotak does not document it) answers that login as a wrong TOTP, a
:class:`~aioneo.FatalLoginError` in that sibling until ``login()`` is called.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .._exceptions import SessionStoreError
from ._session import Session
from ._totp import DEFAULT_GUARD, STEP

__all__ = [
    "FORMAT",
    "LEASE_MARGIN",
    "StoredSession",
    "decode",
    "encode",
    "failed_login_hold",
    "login_lease",
    "longest_lease",
    "record_of",
    "session_of",
    "should_adopt",
]

#: Version of the stored JSON layout.
FORMAT = 1
#: Seconds added to a login's duration for the lease on the login lock (store I/O).
LEASE_MARGIN = 5.0
#: A stored session within this many seconds of its end is not adopted.
ADOPT_MARGIN = 5.0


@dataclass(frozen=True, slots=True)
class StoredSession:
    """One login as a session store keeps it. ``repr`` never shows the token or sid.

    ``generation``: 1 for the first login written to the store, then one more per login.
    ``account``: the UCC the client logged in with (a client refuses another account's
    session). ``issued_at`` and ``expires_at``: unix times on the writer's clock (the
    expiry comes from the token's lifetime counted from receipt; ``None`` when the token
    carries none). ``totp_step``: the RFC 6238 step the login used, so the next login of
    any sharing client uses a later one.
    """

    generation: int
    account: str
    token: str = field(repr=False)
    sid: str = field(repr=False)
    base_url: str
    issued_at: float
    expires_at: float | None = None
    data_center: str | None = None
    ucc: str | None = None
    totp_step: int | None = None
    #: The feed URLs validate named (``feedUrl``, ``rtUrl``), so an adopted session's feeds
    #: connect where the login's would; absent in records written before they were kept.
    feed_url: str | None = None
    rt_url: str | None = None

    def expired(self, now: float, *, margin: float = 0.0) -> bool:
        return self.expires_at is not None and now >= self.expires_at - margin


def encode(stored: StoredSession) -> dict[str, Any]:
    """The JSON object a store writes."""
    return {
        "format": FORMAT,
        "generation": stored.generation,
        "account": stored.account,
        "token": stored.token,
        "sid": stored.sid,
        "base_url": stored.base_url,
        "issued_at": stored.issued_at,
        "expires_at": stored.expires_at,
        "data_center": stored.data_center,
        "ucc": stored.ucc,
        "totp_step": stored.totp_step,
        "feed_url": stored.feed_url,
        "rt_url": stored.rt_url,
    }


def _field(obj: Mapping[str, Any], name: str, kind: type | tuple[type, ...], where: str) -> Any:
    # The message names the field and the expected type, never the value: values may be
    # a token or a sid.
    value = obj.get(name)
    ok = isinstance(value, kind) and not isinstance(value, bool)
    if ok and isinstance(value, float) and not math.isfinite(value):
        ok = False
    if not ok:
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise SessionStoreError(
            f"{where}: field {name!r} is missing or not {names}; the stored session is "
            "refused (delete it, the next login writes a new one)"
        )
    return value


def decode(payload: object, *, where: str) -> StoredSession:
    """Validate a decoded JSON object; ``where`` names the store in error messages."""
    if not isinstance(payload, Mapping):
        raise SessionStoreError(
            f"{where}: holds {type(payload).__name__}, not a stored session object; refused "
            "(delete it, the next login writes a new one)"
        )
    fmt = payload.get("format")
    if fmt != FORMAT:
        raise SessionStoreError(
            f"{where}: stored session format {fmt!r} is not supported (expected {FORMAT}); "
            "refused (delete it, the next login writes a new one)"
        )
    number = (int, float)
    optional_number = (int, float, type(None))
    optional_text = (str, type(None))
    generation = _field(payload, "generation", int, where)
    if generation < 1:
        raise SessionStoreError(f"{where}: field 'generation' must be >= 1; refused")
    totp_step = _field(payload, "totp_step", (int, type(None)), where)
    expires_at = _field(payload, "expires_at", optional_number, where)
    for name in ("account", "token", "sid", "base_url"):
        if not _field(payload, name, str, where):
            raise SessionStoreError(f"{where}: field {name!r} is empty; refused")
    return StoredSession(
        generation=generation,
        account=payload["account"],
        token=payload["token"],
        sid=payload["sid"],
        base_url=payload["base_url"],
        issued_at=float(_field(payload, "issued_at", number, where)),
        expires_at=float(expires_at) if expires_at is not None else None,
        data_center=_field(payload, "data_center", optional_text, where),
        ucc=_field(payload, "ucc", optional_text, where),
        totp_step=totp_step,
        feed_url=_field(payload, "feed_url", optional_text, where),
        rt_url=_field(payload, "rt_url", optional_text, where),
    )


def should_adopt(
    stored: StoredSession | None, *, generation: int, account: str, now: float
) -> bool:
    """Whether to use ``stored`` instead of logging in.

    ``generation`` is the newest generation this client has held (its current session,
    or the one that just failed, or the one it logged out of): only a strictly newer one
    is adopted, so a session that failed is never taken back. A stored session that has
    ended, or ends within :data:`ADOPT_MARGIN` seconds, is not adopted. A session of
    another account raises :class:`~aioneo.SessionStoreError` (two accounts share one
    store by mistake: neither may use the other's session).
    """
    if stored is None:
        return False
    if stored.account != account:
        raise SessionStoreError(
            f"the session store holds a session of account {stored.account!r}, and this "
            f"client logs in as {account!r}: give each account its own store (file path "
            "or Redis key)"
        )
    return stored.generation > generation and not stored.expired(now, margin=ADOPT_MARGIN)


def session_of(stored: StoredSession, *, epoch: int) -> Session:
    """The in-client session for an adopted stored session, as local ``epoch``."""
    return Session(
        stored.token,
        stored.sid,
        stored.base_url.rstrip("/"),
        epoch,
        stored.data_center,
        stored.ucc,
        stored.expires_at,
        stored.generation,
        stored.issued_at,
        adopted=True,
        feed_url=stored.feed_url,
        rt_url=stored.rt_url,
    )


def record_of(session: Session, *, account: str, totp_step: int | None) -> StoredSession:
    """What a store keeps for a session this client logged in itself."""
    return StoredSession(
        generation=session.generation,
        account=account,
        token=session.token,
        sid=session.sid,
        base_url=session.base_url,
        issued_at=session.issued_at if session.issued_at is not None else 0.0,
        expires_at=session.expires_at,
        data_center=session.data_center,
        ucc=session.ucc,
        totp_step=totp_step,
        feed_url=session.feed_url,
        rt_url=session.rt_url,
    )


def login_lease(login_timeout: float, totp_wait: float = 0.0) -> float:
    """Seconds a login may hold the store's login lock.

    Covers the TOTP wait, the two login steps (``login_timeout``) and the store reads and
    write (:data:`LEASE_MARGIN`). A store whose lock expires by itself (Redis) frees it
    after this long if the holder died. The holder takes the lock with ``totp_wait`` 0
    and renews it with its real TOTP wait once it has read the store and planned its
    code, so a dead holder that never had to wait delays the others by
    ``login_timeout + LEASE_MARGIN`` at most.
    """
    return max(totp_wait, 0.0) + login_timeout + LEASE_MARGIN


def longest_lease(login_timeout: float) -> float:
    """The longest lease a login may take: with the longest TOTP wait (a step and the
    guard). A client waits this long for another's login before giving up."""
    return login_lease(login_timeout, STEP + DEFAULT_GUARD)


def failed_login_hold(now: float, step: int | None, *, code_may_be_used: bool) -> float:
    """Seconds a failed login keeps the store's lock, so no sibling reuses its TOTP step.

    A code the server may have accepted (the TOTP step succeeded and the MPIN step
    failed, or no answer came to the TOTP step) cannot be sent again by anyone sharing
    the account; a successful login records its step in the store, a failed one writes
    nothing, so its lock is held until the step is over instead. A code the server
    refused was not used: the lock is released at once.
    """
    if not code_may_be_used or step is None:
        return 0.0
    return max(0.0, (step + 1) * STEP - now)
