"""The session state machine: every relogin decision, with no I/O, no lock and no clock.

Both shells (``AsyncNeoClient`` with an ``asyncio.Lock``/``asyncio.Event``, ``NeoClient``
with a ``threading.Lock``/``threading.Event``) drive one :class:`SessionMachine` per
session. They ask it what to do, act (send, wait, log in, sleep), and feed the result
back. Time (``now``, unix seconds) and randomness (``jitter`` in ``[0, 1)``) are
arguments. The async shell calls it from one event loop thread; the sync shell calls it
only while holding its short data lock, never across I/O.

The relogin contract (``design.md``) in terms of this machine:

* A successful login raises ``epoch`` by one. A request remembers the epoch of the
  session it was sent with (``Session.epoch``).
* :meth:`SessionMachine.acquire` (before sending) answers ``SEND`` with the current
  session, ``WAIT`` when a login is in flight (new requests never go out with a token
  known to be dead, contract item 8), ``LEAD`` when a login is needed and nobody runs one,
  or ``FAIL`` with a cached error (fatal login failure, cooldown, closed client).
* :meth:`SessionMachine.on_expired` (a response said "session expired" for epoch *e*)
  answers ``RETRY`` when a newer session already exists (a straggler: no login),
  ``WAIT`` when a login is in flight, ``LEAD`` otherwise, or ``FAIL`` as above.
* The leader calls :meth:`begin_login`, then :meth:`login_succeeded` or
  :meth:`login_failed` exactly once with the same :class:`LoginTicket`. The ticket is the
  one-shot outcome that waiters of *that* login read; a later login gets a new ticket, so a
  finished login's result is never reused for the next expiry (scenario 4).
* Failure is shared and cached: a :class:`~aioneo.FatalLoginError` stays until
  :meth:`reset_failures` (new credentials, or an explicit ``login()``); a
  :class:`~aioneo.TransientLoginError` starts a jittered cooldown of at least the server's
  ``Retry-After``, during which requests fail fast with that error instead of hammering
  the login host; each further transient failure in a row doubles it (up to
  ``MAX_LOGIN_COOLDOWN``). The first call after the cooldown leads a new login. A success
  clears both (scenario 16).
* Proactive refresh (``refresh_ahead``, off unless the shell asks; policy in
  ``_refresh.py``): when the current session is due, :meth:`acquire` answers ``SEND``
  *with* a ticket: the shell sends with the current session and starts the login for
  that ticket without waiting for it. While a proactive login is in flight, calls keep
  getting ``SEND`` with the current session as long as it is usable; a "session expired"
  answer meanwhile waits for that same ticket (one login, scenario 39). A proactive login
  that fails while the session is still usable fails softly: no caller sees it, no
  cooldown starts, the next attempt is scheduled after a backoff (scenario 15).
* The relogin breaker (``max_relogins`` within ``relogin_window``, policy in
  ``_breaker.py``) refuses automatic logins with :class:`~aioneo.ReloginLoopError`
  once logins after "session expired" come too fast (a ping-pong, scenario 40).
* A login ticket may end by *adopting* a session another client wrote to a shared
  session store (``login_succeeded(..., adopted=True)``): no TOTP code was used, so it
  counts in ``stats.adopted``, not in ``stats.logins``. ``generation`` is the newest
  store generation this machine has held; only a newer stored session is adopted.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field

from .._exceptions import (
    ClientClosedError,
    FatalLoginError,
    LoginError,
    NeoError,
    SessionStoreError,
    TransientLoginError,
)
from ._breaker import DEFAULT_RELOGIN_WINDOW, ReloginBreaker
from ._jwt import TokenError, token_times
from ._refresh import RefreshSchedule
from ._totp import DEFAULT_GUARD, TotpPlan, plan_code

__all__ = [
    "DEFAULT_LOGIN_COOLDOWN",
    "Action",
    "Decision",
    "LoginTicket",
    "Session",
    "SessionMachine",
    "SessionStats",
    "cooldown_seconds",
    "new_session",
]

#: Base cooldown after a transient login failure, in seconds (jitter adds up to 50 %).
DEFAULT_LOGIN_COOLDOWN = 5.0
#: The doubled cooldown of consecutive transient failures stops growing here (seconds).
MAX_LOGIN_COOLDOWN = 300.0


@dataclass(frozen=True, slots=True)
class Session:
    """One live trade session. Its ``repr`` never shows the token or the sid."""

    token: str = field(repr=False)
    sid: str = field(repr=False)
    base_url: str
    epoch: int
    data_center: str | None = None
    ucc: str | None = None
    #: Local unix time at which the session ends, from the token's lifetime; ``None`` if
    #: the token carries no expiry (then only the server's "session expired" ends it).
    expires_at: float | None = None
    #: The session store's generation of this login (0 when no store record exists).
    generation: int = 0
    #: Local unix time the token was received (by this client, or by the store's writer).
    issued_at: float | None = None
    #: Taken from a session store (another client's login), not logged in by this client.
    adopted: bool = False
    #: The market and order feed URLs validate named (``feedUrl``, ``rtUrl``), if any.
    feed_url: str | None = None
    rt_url: str | None = None

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and now >= self.expires_at


def new_session(
    *,
    token: str,
    sid: str,
    base_url: str,
    epoch: int,
    now: float,
    data_center: str | None = None,
    ucc: str | None = None,
    generation: int = 0,
    server_date: float | None = None,
    feed_url: str | None = None,
    rt_url: str | None = None,
) -> Session:
    """Build the session a validate response describes, or raise ``TransientLoginError``.

    The expiry is computed from the token's own lifetime (``exp - iat``) counted from
    ``now``, the local time the token was received, so a local clock that runs fast or
    slow by minutes neither rejects a fresh token nor keeps a dead one (scenario 36). A
    token without ``iat`` measures its lifetime from the server's ``Date`` header
    (``server_date``, unix seconds) when the answer had one, which corrects the local
    clock's skew the same way; only without either does ``exp`` meet the local clock. A
    token that is already expired or unreadable is a failed login, and the old session is
    left as it was (scenario 14).
    """
    try:
        iat, exp = token_times(token)
    except TokenError as exc:
        raise TransientLoginError(f"login returned an unusable token: {exc}") from None
    expires_at: float | None = None
    if exp is not None:
        issued = iat if iat is not None else server_date if server_date is not None else now
        lifetime = exp - issued
        if lifetime <= 0:
            raise TransientLoginError("login returned a token that is already expired")
        expires_at = now + lifetime
    return Session(
        token,
        sid,
        base_url.rstrip("/"),
        epoch,
        data_center,
        ucc,
        expires_at,
        generation,
        now,
        feed_url=feed_url or None,
        rt_url=rt_url or None,
    )


def cooldown_seconds(base: float, retry_after: float | None, jitter: float) -> float:
    """Cooldown after a transient login failure: at least ``Retry-After``, plus jitter.

    ``max(base, retry_after) * (1 + jitter / 2)`` with ``jitter`` in ``[0, 1)``, so callers
    of many clients that failed together do not come back in the same instant.
    """
    floor = max(base, retry_after or 0.0)
    return floor * (1.0 + 0.5 * min(max(jitter, 0.0), 1.0))


class Action(enum.Enum):
    SEND = "send"  # send now with ``Decision.session``
    WAIT = "wait"  # a login is in flight: wait for ``Decision.ticket``
    LEAD = "lead"  # run the login for ``Decision.ticket``, then publish its outcome
    RETRY = "retry"  # a newer session exists: ask ``acquire`` again
    FAIL = "fail"  # raise ``Decision.error``


@dataclass(eq=False, slots=True)
class LoginTicket:
    """The one-shot outcome of one login attempt, read by the callers that waited on it."""

    number: int
    explicit: bool = False
    #: Started ahead of expiry while the session was still usable.
    proactive: bool = False
    #: Started because a response said "session expired".
    reactive: bool = False
    #: The credentials version the login uses (``SessionMachine.credentials_version``).
    version: int = 0
    #: Failed with credentials replaced since it started: its error decides nothing;
    #: its waiters ask again (and lead a login with the new credentials).
    stale: bool = False
    done: bool = False
    session: Session | None = None
    error: NeoError | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    session: Session | None = None
    ticket: LoginTicket | None = None
    error: NeoError | None = None


@dataclass(slots=True)
class SessionStats:
    """Counters a user and a test can read (``client.stats``). Exact, never sampled.

    * ``login_attempts``: logins started (each consumes one TOTP code);
    * ``logins``: logins that produced a session;
    * ``login_failures``: logins that failed (fatal or transient);
    * ``relogins``: "session expired" events this client led: each ended in one login,
      or in adopting a newer session from the session store;
    * ``coalesced``: callers that waited for a login somebody else ran;
    * ``stragglers``: "session expired" answers for an epoch already replaced: retried
      with the new session, no login;
    * ``cooldown_hits``: calls refused fast because of a recent transient login failure;
    * ``expired_responses``: responses classified "session expired";
    * ``refreshes``: proactive refreshes started (each a login, or an adoption);
    * ``adopted``: sessions taken from the session store (another client's login)
      instead of logging in;
    * ``loop_refusals``: automatic logins refused by the relogin breaker.
    """

    login_attempts: int = 0
    logins: int = 0
    login_failures: int = 0
    relogins: int = 0
    coalesced: int = 0
    stragglers: int = 0
    cooldown_hits: int = 0
    expired_responses: int = 0
    refreshes: int = 0
    adopted: int = 0
    loop_refusals: int = 0

    def snapshot(self) -> SessionStats:
        return dataclasses.replace(self)


class SessionMachine:
    """Decisions for one session. Not thread-safe by itself: the sync shell guards it."""

    def __init__(
        self,
        *,
        login_cooldown: float = DEFAULT_LOGIN_COOLDOWN,
        refresh_ahead: float | None = None,
        max_relogins: int | None = None,
        relogin_window: float = DEFAULT_RELOGIN_WINDOW,
    ) -> None:
        if login_cooldown < 0:
            raise ValueError(f"login_cooldown must be >= 0 seconds, got {login_cooldown!r}")
        self.login_cooldown = login_cooldown
        self.refresh = RefreshSchedule(refresh_ahead)
        self.breaker = (
            ReloginBreaker(max_relogins, relogin_window) if max_relogins is not None else None
        )
        #: The newest session-store generation this machine has held (0: none).
        self.generation = 0
        self.session: Session | None = None
        self.epoch = 0
        #: The highest epoch whose session the server has declared dead.
        self.dead_epoch = 0
        self.ticket: LoginTicket | None = None
        self.fatal_error: FatalLoginError | None = None
        self.cooldown_until: float | None = None
        self.cooldown_error: TransientLoginError | None = None
        #: Transient login failures in a row (reset by a success or new credentials).
        self.transient_streak = 0
        self.last_totp_step: int | None = None
        self.closed = False
        #: Raised by :meth:`credentials_changed`; a login records the version it uses.
        self.credentials_version = 0
        self.stats = SessionStats()
        self._tickets = 0

    # -- questions ------------------------------------------------------------------
    def _refusal(self, now: float) -> NeoError | None:
        """The cached error a caller gets instead of a new login, if any."""
        if self.fatal_error is not None:
            return self.fatal_error
        if self.breaker is not None:
            loop = self.breaker.refusal(now)
            if loop is not None:
                self.stats.loop_refusals += 1
                return loop
        if self.cooldown_until is not None:
            if now < self.cooldown_until:
                self.stats.cooldown_hits += 1
                return self.cooldown_error
            self.cooldown_until = None
            self.cooldown_error = None
        return None

    def _usable(self, now: float) -> Session | None:
        session = self.session
        if session is None or session.epoch <= self.dead_epoch or session.expired(now):
            return None
        return session

    def acquire(self, now: float) -> Decision:
        """Before sending a protected request: send, wait, lead a login, or fail."""
        if self.closed:
            return Decision(Action.FAIL, error=ClientClosedError("the client is closed"))
        session = self._usable(now)
        if self.ticket is not None:
            if self.ticket.proactive and session is not None:
                return Decision(Action.SEND, session=session)  # scenario 15: keep using it
            self.stats.coalesced += 1
            return Decision(Action.WAIT, ticket=self.ticket)
        if session is not None:
            if self.refresh.due(now) and self.fatal_error is None:
                self.refresh.on_attempt(now)
                self.stats.refreshes += 1
                ticket = self.begin_login(proactive=True)
                return Decision(Action.SEND, session=session, ticket=ticket)
            return Decision(Action.SEND, session=session)
        refusal = self._refusal(now)
        if refusal is not None:
            return Decision(Action.FAIL, error=refusal)
        return Decision(Action.LEAD, ticket=self.begin_login())

    def on_expired(self, epoch: int, now: float) -> Decision:
        """A request sent with session ``epoch`` was answered "session expired"."""
        self.stats.expired_responses += 1
        if self.closed:
            return Decision(Action.FAIL, error=ClientClosedError("the client is closed"))
        if self.epoch > epoch:
            self.stats.stragglers += 1
            return Decision(Action.RETRY)
        self.dead_epoch = max(self.dead_epoch, epoch)
        if self.ticket is not None:
            self.stats.coalesced += 1
            return Decision(Action.WAIT, ticket=self.ticket)
        refusal = self._refusal(now)
        if refusal is not None:
            return Decision(Action.FAIL, error=refusal)
        self.stats.relogins += 1
        return Decision(Action.LEAD, ticket=self.begin_login(reactive=True))

    def login_decision(self) -> Decision:
        """An explicit ``login()``: wait for one in flight, else lead a fresh one.

        An explicit login clears a cached fatal error and any cooldown: the user asked.
        """
        if self.closed:
            return Decision(Action.FAIL, error=ClientClosedError("the client is closed"))
        if self.ticket is not None:
            self.stats.coalesced += 1
            return Decision(Action.WAIT, ticket=self.ticket)
        self.reset_failures()
        return Decision(Action.LEAD, ticket=self.begin_login(explicit=True))

    # -- the leader's side ------------------------------------------------------------
    def begin_login(
        self, *, explicit: bool = False, proactive: bool = False, reactive: bool = False
    ) -> LoginTicket:
        if self.ticket is not None:
            raise RuntimeError("a login is already in flight")  # a shell bug, never a user's
        self._tickets += 1
        self.ticket = LoginTicket(
            self._tickets, explicit, proactive, reactive, version=self.credentials_version
        )
        self.stats.login_attempts += 1
        return self.ticket

    def plan_totp(self, now: float, *, guard: float = DEFAULT_GUARD) -> TotpPlan:
        """Which TOTP step the login may use, and how long to wait for it."""
        return plan_code(now, self.last_totp_step, guard=guard)

    def totp_used(self, step: int) -> None:
        """Record that a login sent the code of ``step`` (success or not)."""
        if self.last_totp_step is None or step > self.last_totp_step:
            self.last_totp_step = step

    def next_epoch(self) -> int:
        return self.epoch + 1

    def next_generation(self, stored: int | None = None) -> int:
        """The store generation a new login gets: one more than any seen or stored."""
        return max(self.generation, stored or 0) + 1

    def login_succeeded(
        self, ticket: LoginTicket, session: Session, *, adopted: bool = False, jitter: float = 0.5
    ) -> None:
        """Publish a new session (built by :func:`new_session` with ``next_epoch()``).

        ``adopted``: the session was taken from the session store, not logged in by this
        client (no TOTP code used). ``jitter`` in ``[0, 1)`` places the proactive refresh.
        """
        self._check_ticket(ticket)
        if session.epoch != self.epoch + 1:
            raise RuntimeError("session epoch out of order")  # a shell bug
        self.epoch = session.epoch
        self.session = session
        self.generation = max(self.generation, session.generation)
        self.reset_failures()
        if adopted:
            self.stats.adopted += 1
            self.stats.login_attempts -= 1  # counted when the ticket began: no code was used
        else:
            self.stats.logins += 1
            if ticket.reactive and self.breaker is not None and session.issued_at is not None:
                self.breaker.record(session.issued_at)
        now = session.issued_at if session.issued_at is not None else 0.0
        self.refresh.on_session(session.issued_at, session.expires_at, now, jitter)
        ticket.session = session
        ticket.done = True
        self.ticket = None

    def login_failed(self, ticket: LoginTicket, error: NeoError, now: float, jitter: float) -> bool:
        """Publish a failed login. The current session, if any, is left untouched.

        Returns ``True`` for a *soft* failure: a proactive login failed while the current
        session is still usable. Then no cooldown starts (the callers never see the
        error), a fatal error is still cached (no automatic retry of a wrong MPIN), and the
        next proactive attempt waits for a backoff. A :class:`~aioneo.SessionStoreError`
        means no login was sent (the store failed first): not counted as a login.
        """
        self._check_ticket(ticket)
        if isinstance(error, SessionStoreError):
            self.stats.login_attempts -= 1
        else:
            self.stats.login_failures += 1
        if ticket.version != self.credentials_version:
            # Issue 10 item 3: the credentials were replaced while this login ran; its
            # failure says nothing about the new ones. No cache, no cooldown: the waiters
            # ask again, and the next login uses the new credentials. A proactive refresh
            # is scheduled again (after the usual backoff) and stays soft.
            ticket.stale = True
            ticket.error = error
            ticket.done = True
            self.ticket = None
            if ticket.proactive and self._usable(now) is not None:
                self.refresh.on_failure(now, jitter)
                return True
            return False
        if ticket.proactive and self._usable(now) is not None:
            if isinstance(error, FatalLoginError):
                self.fatal_error = error
            self.refresh.on_failure(now, jitter)
            ticket.error = error
            ticket.done = True
            self.ticket = None
            return True
        if isinstance(error, FatalLoginError):
            self.fatal_error = error
        elif isinstance(error, TransientLoginError):
            # Consecutive transient failures double the cooldown (up to MAX_LOGIN_COOLDOWN):
            # a login host that keeps failing (a validate step that keeps refusing the view
            # token, say) gets one full login, TOTP and MPIN included, ever more rarely.
            self.transient_streak += 1
            base = min(self.login_cooldown * 2.0 ** (self.transient_streak - 1), MAX_LOGIN_COOLDOWN)
            delay = cooldown_seconds(max(base, self.login_cooldown), error.retry_after, jitter)
            self.cooldown_until = now + delay
            self.cooldown_error = error
        elif isinstance(error, LoginError):  # pragma: no cover - every LoginError is one of both
            self.fatal_error = FatalLoginError(str(error))
        ticket.error = error
        ticket.done = True
        self.ticket = None
        return False

    def _check_ticket(self, ticket: LoginTicket) -> None:
        if ticket is not self.ticket:
            raise RuntimeError("login outcome published for a ticket that is not current")

    # -- lifecycle ----------------------------------------------------------------------
    def credentials_changed(self) -> None:
        """New credentials: forget cached failures; a login in flight becomes stale."""
        self.credentials_version += 1
        self.reset_failures()

    def reset_failures(self) -> None:
        """Forget a cached fatal error and any cooldown (new credentials, explicit login)."""
        self.fatal_error = None
        self.cooldown_until = None
        self.cooldown_error = None
        self.transient_streak = 0

    def logged_out(self, epoch: int | None = None) -> None:
        """The session (of ``epoch``, default the current one) was ended on purpose: the
        next call logs in again. A newer session published meanwhile is kept."""
        if epoch is not None and epoch != self.epoch:
            self.dead_epoch = max(self.dead_epoch, epoch)
            return
        self.dead_epoch = self.epoch
        self.session = None
        self.refresh.clear()

    def close(self) -> LoginTicket | None:
        """Mark closed; return the in-flight ticket, if any, for the shell to cancel."""
        self.closed = True
        return self.ticket

    def abandon_login(self) -> None:
        """Forget an in-flight login whose runner no longer exists.

        Used in a child process after ``fork`` (scenario 30) and when an async client
        moves to a new event loop after its old one closed: the login attempt of the old
        process or loop will never publish an outcome. The session itself is kept (it
        may still be valid).
        """
        if self.ticket is not None:
            self.ticket = None
