"""Baseline clients the benchmarks measure NeoClient against. Not part of the package.

Both are thread-based, on one shared ``httpx.Client``, and speak to Kotak (or the
emulator) with aioneo's own request builders (``aioneo._core._requests``), renderer
(``render``) and response classification (``classify``, ``classify_login``), so that the
only thing that differs from :class:`aioneo.NeoClient` is how a "session expired" answer is
coordinated between threads:

:class:`SeedClient`
    The design of ``seed/thread-safe-reauth.md``, reimplemented faithfully: module-level
    dicts of per-auth ``threading.Lock`` and ``threading.Event`` keyed by ``id(auth)``;
    the thread that sees "session expired" tries a non-blocking acquire; the winner clears
    the event, calls ``force_relogin()`` and sets the event on success; the others wait on
    the event for up to 30 s (``wait_timeout``). The seed elides what a waiter does when
    the wait times out ("Handle timeout..."); its "Edge cases" say "if re-auth fails,
    other threads can retry", and ``design.md`` reads it as "then each logs in again by
    itself": a timed-out waiter calls ``force_relogin()`` itself. A call is retried once
    after a successful re-auth, with whatever token the auth object holds at that moment.
:class:`NaiveClient`
    Every thread that sees "session expired" logs in again by itself, then retries once.

Counters (``client.stats``) only observe; they never change what a thread does. They
count ``force_relogin()`` calls and failures, threads that waited on the event, waits
that timed out, waits that started with the event already set (a stale signal from an
earlier re-auth), retries, and retries answered "session expired" again. The emulator
counts the logins it saw (``Emulator.counters``).

What the seed gets wrong, and ``tests/test_seed_design.py`` shows against the emulator:
redundant logins from stragglers, waiters sitting out the timeout after a failed login
and then each logging in, and a retry with a dead token after a stale event.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from aioneo import Credentials, LoginError, SessionExpiredError
from aioneo import _models as models
from aioneo._core import _requests as requests
from aioneo._core._classify import LoginOutcome, Outcome, classify, classify_login
from aioneo._core._policy import error_for
from aioneo._core._protocol import RequestSpec
from aioneo._core._render import render

__all__ = [
    "DEFAULT_WAIT_TIMEOUT",
    "BaselineStats",
    "KotakNeoAuth",
    "NaiveClient",
    "SeedClient",
]

logger = logging.getLogger("aioneo.benchmarks")

#: The seed's wait on the re-auth event, in seconds.
DEFAULT_WAIT_TIMEOUT = 30.0


@dataclasses.dataclass
class BaselineStats:
    """What the baseline clients did; exact counts (incremented under a lock)."""

    relogins: int = 0  # force_relogin() calls
    relogin_failures: int = 0
    waits: int = 0  # threads that waited on the re-auth event
    wait_timeouts: int = 0  # ... and whose wait ran out
    stale_event_waits: int = 0  # ... and found the event already set when they began
    waiting: int = 0  # threads waiting on the event right now
    retries: int = 0  # calls retried after re-auth
    retries_expired: int = 0  # retries answered "session expired" again
    _lock: threading.Lock = dataclasses.field(
        default_factory=threading.Lock, repr=False, compare=False
    )

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, n in counts.items():
                setattr(self, name, getattr(self, name) + n)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.repr}


@dataclasses.dataclass(frozen=True)
class _Session:
    token: str = dataclasses.field(repr=False)
    sid: str = dataclasses.field(repr=False)
    base_url: str


class KotakNeoAuth:
    """The seed's auth object: holds the session and logs in again on demand.

    ``force_relogin()`` runs the two login steps (TOTP code of the current time, then
    MPIN) and returns ``True`` with the new session stored, or ``False`` (as the seed's
    does) when a step fails. It does no coordination of its own.
    """

    def __init__(
        self,
        credentials: Credentials,
        *,
        login_url: str,
        http: httpx.Client,
        clock: Callable[[], float],
        stats: BaselineStats,
        neo_fin_key: str = "neotradeapi",
    ) -> None:
        self.credentials = credentials
        self.login_url = login_url.rstrip("/")
        self.session: _Session | None = None
        self._http = http
        self._clock = clock
        self._stats = stats
        self._neo_fin_key = neo_fin_key

    def force_relogin(self) -> bool:
        self._stats.add(relogins=1)
        try:
            self.session = self._login()
        except (httpx.HTTPError, _LoginFailed) as exc:
            self._stats.add(relogin_failures=1)
            logger.warning("re-authentication failed: %s", exc)
            return False
        return True

    def _login(self) -> _Session:
        creds = self.credentials
        consumer_key, mpin = creds._secret_fields()
        code = creds.totp_code(self._clock())
        view = self._step(
            requests.totp_login(mobile_number=creds.mobile_number, ucc=creds.ucc, totp=code),
            consumer_key,
            ("token", "sid"),
        )
        trade = self._step(
            requests.totp_validate(mpin=mpin),
            consumer_key,
            ("token", "sid", "baseUrl"),
            view_token=str(view["token"]),
            view_sid=str(view["sid"]),
        )
        return _Session(str(trade["token"]), str(trade["sid"]), str(trade["baseUrl"]))

    def _step(
        self,
        spec: RequestSpec,
        consumer_key: str,
        require: tuple[str, ...],
        *,
        view_token: str | None = None,
        view_sid: str | None = None,
    ) -> dict[str, Any]:
        rendered = render(
            spec,
            login_url=self.login_url,
            base_url=self.login_url,
            consumer_key=consumer_key,
            neo_fin_key=self._neo_fin_key,
            view_token=view_token,
            view_sid=view_sid,
        )
        response = self._http.send(
            httpx.Request(
                rendered.method, rendered.url, headers=rendered.headers, content=rendered.content
            )
        )
        result = classify_login(
            response.status_code, response.content, response.headers, require=require
        )
        if result.outcome is not LoginOutcome.SUCCESS:
            raise _LoginFailed(f"{spec.op}: HTTP {response.status_code} {result.message}")
        assert result.data is not None
        return dict(result.data)


class _LoginFailed(Exception):
    pass


# -- the seed's coordination, as written in seed/thread-safe-reauth.md ----------------------

# Thread-safe locks per auth object
_reauth_locks: dict[int, threading.Lock] = {}
_reauth_locks_lock = threading.Lock()  # Protects the dict itself
_reauth_in_progress: dict[int, threading.Event] = {}


def _get_reauth_lock(auth: KotakNeoAuth) -> threading.Lock:
    with _reauth_locks_lock:
        key = id(auth)
        if key not in _reauth_locks:
            _reauth_locks[key] = threading.Lock()
        return _reauth_locks[key]


def _get_reauth_event(auth: KotakNeoAuth) -> threading.Event:
    with _reauth_locks_lock:
        key = id(auth)
        if key not in _reauth_in_progress:
            _reauth_in_progress[key] = threading.Event()
        return _reauth_in_progress[key]


def _attempt_reauth_thread_safe(
    auth: KotakNeoAuth,
    method_name: str,
    *,
    wait_timeout: float = DEFAULT_WAIT_TIMEOUT,
    stats: BaselineStats,
) -> bool:
    lock = _get_reauth_lock(auth)
    reauth_event = _get_reauth_event(auth)

    # Try non-blocking acquire
    if lock.acquire(blocking=False):
        # Got lock - perform re-auth
        reauth_event.clear()  # Clear previous state
        try:
            if auth.force_relogin():
                reauth_event.set()  # Signal success
                return True
            return False
        finally:
            lock.release()
    else:
        # Lock held - wait for re-auth
        stats.add(waits=1, waiting=1, stale_event_waits=int(reauth_event.is_set()))
        try:
            completed = reauth_event.wait(timeout=wait_timeout)
        finally:
            stats.add(waiting=-1)
        if completed:
            return True  # Re-auth completed
        # Handle timeout: the seed lets "other threads retry"; each logs in by itself.
        stats.add(wait_timeouts=1)
        logger.warning("%s: re-auth wait timed out after %g s", method_name, wait_timeout)
        return auth.force_relogin()


# -- the clients ------------------------------------------------------------------------------


class _BaselineClient:
    """The shared request path: send, classify, recover (the subclass's way), retry once."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        login_url: str,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] | None = None,
        max_connections: int = 100,
        timeout: float = 10.0,
        neo_fin_key: str = "neotradeapi",
    ) -> None:
        self.stats = BaselineStats()
        self._http = httpx.Client(
            transport=transport,
            timeout=httpx.Timeout(timeout, pool=None),
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
        )
        self.auth = KotakNeoAuth(
            credentials,
            login_url=login_url,
            http=self._http,
            clock=clock or time.time,
            stats=self.stats,
            neo_fin_key=neo_fin_key,
        )

    def __enter__(self) -> _BaselineClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def login(self) -> None:
        """The first login, before the threads start (as the seed's programs do)."""
        if not self.auth.force_relogin():
            raise LoginError("the first login failed (see the log)")

    def _recover(self, method_name: str) -> bool:
        raise NotImplementedError

    def _send(self, spec: RequestSpec) -> httpx.Response:
        session = self.auth.session  # the token the auth object holds right now
        if session is None:
            raise RuntimeError("call login() first")
        consumer_key, _ = self.auth.credentials._secret_fields()
        rendered = render(
            spec,
            login_url=self.auth.login_url,
            base_url=session.base_url,
            consumer_key=consumer_key,
            trade_token=session.token,
            trade_sid=session.sid,
        )
        return self._http.send(
            httpx.Request(
                rendered.method, rendered.url, headers=rendered.headers, content=rendered.content
            )
        )

    def _call(self, spec: RequestSpec) -> Any:
        result = classify(*self._answer(spec))
        if result.outcome is Outcome.SESSION_EXPIRED:
            if not self._recover(spec.op):
                raise SessionExpiredError(
                    f"{spec.op}: session expired and re-authentication failed", endpoint=spec.op
                )
            self.stats.add(retries=1)
            result = classify(*self._answer(spec))  # retry once
            if result.outcome is Outcome.SESSION_EXPIRED:
                self.stats.add(retries_expired=1)
        if result.outcome is not Outcome.SUCCESS:
            raise error_for(spec, result)
        return result.body

    def _answer(self, spec: RequestSpec) -> tuple[int, bytes, httpx.Headers]:
        response = self._send(spec)
        return response.status_code, response.content, response.headers

    def positions(self) -> list[models.Position]:
        return models.parse_positions(self._call(requests.positions()))

    def trade_report(self) -> list[models.Trade]:
        return models.parse_trade_report(self._call(requests.trade_report()))

    def order_report(self) -> list[models.Order]:
        return models.parse_order_report(self._call(requests.order_report()))


class SeedClient(_BaselineClient):
    """The seed's lock-and-event design (see the module docstring). ``wait_timeout`` is
    the seed's 30 s; tests shorten it."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        login_url: str,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] | None = None,
        max_connections: int = 100,
        timeout: float = 10.0,
        wait_timeout: float = DEFAULT_WAIT_TIMEOUT,
        neo_fin_key: str = "neotradeapi",
    ) -> None:
        super().__init__(
            credentials,
            login_url=login_url,
            transport=transport,
            clock=clock,
            max_connections=max_connections,
            timeout=timeout,
            neo_fin_key=neo_fin_key,
        )
        self.wait_timeout = wait_timeout

    def _recover(self, method_name: str) -> bool:
        return _attempt_reauth_thread_safe(
            self.auth, method_name, wait_timeout=self.wait_timeout, stats=self.stats
        )


class NaiveClient(_BaselineClient):
    """Every thread that sees "session expired" logs in again by itself."""

    def _recover(self, method_name: str) -> bool:
        return self.auth.force_relogin()
