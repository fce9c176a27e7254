"""NeoClient: the threading shell around ``aioneo._core``, twin of ``AsyncNeoClient``.

The same relogin contract (``design.md``) with threads instead of tasks:

1. responses are classified by ``_core._classify.classify`` (one table);
2. "session expired" for a request sent with epoch *e* goes to
   ``SessionMachine.on_expired``: retry at once when the epoch is already newer, wait for
   a login in flight, or lead one;
3. each session object (``_SyncSession``) carries one ``threading.Lock`` for the login
   (held only by the leader, around the login's own network calls, never around a
   protected request), one ``threading.Event`` per login, and a short data lock that
   guards the ``SessionMachine`` and is never held across I/O, a sleep or user code;
4. the leader is the thread whose call needed the login: it runs the login itself (no
   helper thread, no event loop), publishes the outcome on the login's ticket, then sets
   the event. Each network step of the login is bounded by the time left of
   ``login_timeout`` (and by ``timeout``); waiters also watch that deadline, so a login
   whose transport ignores timeouts still ends, for every waiter, with a
   ``TransientLoginError`` and frees the slot;
5. the leader's outcome goes to every waiter at once (a copy of the same exception);
6. no two logins use the same TOTP step;
7. one relogin per call at most;
8. calls that start while a login is in flight wait for it.

Fork: a child process gets fresh locks, no in-flight login and new connection pools
(see :class:`NeoClient`).

Beyond one process (``session_store=``, ``aioneo._stores``), the leader first reads the
store and adopts a newer session another process wrote; otherwise it takes the store's
login lock (polling, and adopting a sibling's session the moment it appears), reads the
store again under the lock, and logs in only if it still has to. The new session is
published to the waiters first, then written to the store once, and only then is the
store's lock released. While the leader waits for the store's lock, its waiters'
deadline is the lock's lease plus the login's own.

Proactive refresh (``refresh_ahead``): the call that finds the session due starts the
login in a short-lived daemon thread (``aioneo-refresh-N``) and is itself sent at once
with the current session; see ``_core/_refresh.py``. Besides that thread (a few times a
day) and a timer that keeps a shared store's lock until a failed login's TOTP step is
over, a ``NeoClient`` starts no thread.
"""

from __future__ import annotations

import asyncio
import collections
import copy
import logging
import os
import random
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx

from . import _models as models
from ._core import _requests as requests
from ._core._backend import check_http_backend
from ._core._breaker import DEFAULT_MAX_RELOGINS, DEFAULT_RELOGIN_WINDOW
from ._core._classify import LoginOutcome, Outcome, classify, classify_login
from ._core._feed_buffer import DEFAULT_CAPACITY
from ._core._feed_conn import DEFAULT_ORDER_CAPACITY
from ._core._feed_subs import DEFAULT_MAX_SUBSCRIPTIONS
from ._core._feed_urls import CONFIG_URL, FeedEndpoints
from ._core._missing import (
    MissingMode,
    check_missing,
    missing_instruments,
    no_history,
    no_quotes,
)
from ._core._options import check_client_options
from ._core._persist import (
    StoredSession,
    failed_login_hold,
    login_lease,
    longest_lease,
    record_of,
    session_of,
    should_adopt,
)
from ._core._policy import (
    StepKind,
    after_failure,
    after_reconcile,
    after_response,
    closed_during,
    connect_cause,
    error_for,
    login_error,
    login_failure,
    relogin_charged,
    retry_totp,
    totp_code_refused,
    unknown_outcome,
)
from ._core._protocol import RequestSpec
from ._core._reconcile import lookup, reconcile
from ._core._refresh import DEFAULT_REFRESH_AHEAD, parse_http_date
from ._core._render import render
from ._core._requests import InstrumentLike, PriceLike, QuantityLike
from ._core._scrip import Instrument, InstrumentTable, canonical_segment, trading_day
from ._core._session import (
    DEFAULT_LOGIN_COOLDOWN,
    Action,
    Decision,
    LoginTicket,
    Session,
    SessionMachine,
    SessionStats,
    new_session,
)
from ._credentials import Credentials
from ._exceptions import (
    ClientClosedError,
    LoginError,
    NeoError,
    ReloginLoopError,
    SessionStoreError,
    TransientLoginError,
)
from ._feeds_shared import check_config_url, text_or_none
from ._feeds_sync import SyncFeedBase, SyncMarketFeed, SyncOrderFeed
from ._instruments import (
    SyncFlights,
    cache_key,
    download_failed,
    download_garbled,
    download_refused,
    load_sync,
    scrip_url,
)
from ._lifecycle import CloseSteps, Sockets, report_masked
from ._limits import limiter_for
from ._session_info import SessionInfo
from ._shell import (
    DEFAULT_LOGIN_TIMEOUT,
    DEFAULT_LOGIN_URL,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_RATE_LIMIT,
    DEFAULT_TIMEOUT,
    LOGIN_CONNECTIONS,
    STORE_POLL,
    STORE_WAIT_MARGIN,
    LoginProgress,
    NoResponse,
    Obtained,
    error_text,
    failure_of,
    no_response,
    release_quietly,
)
from ._stores import SessionStore, account_key, lock_owner, store_option

__all__ = ["NeoClient"]

logger = logging.getLogger("aioneo")

#: How long after the login's own deadline waiters give up on a leader that has not
#: published (a transport that ignores timeouts); the leader's own timeout fires first.
LOGIN_GRACE = 1.0


def _refuse_inside_event_loop(op: str) -> None:
    """Raise at once when called from a thread that runs an asyncio event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise RuntimeError(
        f"NeoClient.{op}() was called from a running asyncio event loop: it would block "
        "the loop's thread and every task on it. Use AsyncNeoClient in async code, or run "
        f"the call in a worker thread: await asyncio.to_thread(client.{op}, ...)"
    )


class _SyncSession:
    """One session: the core machine plus the threading primitives that act on it.

    ``data`` guards ``machine`` and the fields below; it is held for a few statements at
    a time, never across network I/O, a sleep, a log call or user code (the clock, the
    TOTP provider, a transport). ``_login_lock`` is held by the leader around the
    login's network steps only. ``_event`` belongs to the current login (``_ticket``);
    every login gets a new one, so a finished login's event is never reused.
    """

    __slots__ = (
        "_deadline",
        "_event",
        "_holds",
        "_login_lock",
        "_reported",
        "_ticket",
        "data",
        "machine",
    )

    def __init__(self, machine: SessionMachine) -> None:
        self.machine = machine
        self.data = threading.Lock()
        self._login_lock = threading.Lock()
        self._ticket: LoginTicket | None = None
        self._event: threading.Event | None = None
        #: ``time.monotonic()`` after which waiters stop waiting for the current login.
        self._deadline = 0.0
        #: Timers keeping a shared store's lock after a failed login, by lock owner.
        self._holds: dict[str, threading.Timer] = {}
        #: The relogin-loop error last logged (logged once per opening of the breaker).
        self._reported: ReloginLoopError | None = None

    def reset_after_fork(self) -> None:
        """In a forked child: fresh locks; the parent's login in flight is forgotten."""
        self.data = threading.Lock()
        self._login_lock = threading.Lock()
        self._ticket = None
        self._event = None
        self._holds = {}
        self.machine.abandon_login()

    def acquire(self, now: float, client: NeoClient) -> tuple[Decision, threading.Event | None]:
        return self._decide(lambda: self.machine.acquire(now), now, client)

    def on_expired(
        self, epoch: int, now: float, client: NeoClient
    ) -> tuple[Decision, threading.Event | None]:
        return self._decide(lambda: self.machine.on_expired(epoch, now), now, client)

    def login_decision(
        self, now: float, client: NeoClient
    ) -> tuple[Decision, threading.Event | None]:
        return self._decide(self.machine.login_decision, now, client)

    def _decide(
        self, ask: Callable[[], Decision], now: float, client: NeoClient
    ) -> tuple[Decision, threading.Event | None]:
        """Ask the machine under the data lock; a new login gets its event and its
        deadline right here, so no waiter can see the ticket before they exist."""
        with self.data:
            decision = ask()
            event: threading.Event | None = None
            if decision.action is Action.LEAD or (
                decision.action is Action.SEND and decision.ticket is not None
            ):
                event = self._event = threading.Event()
                self._ticket = decision.ticket
                # The leader plans the same TOTP wait and refines this (set_deadline).
                wait = self.machine.plan_totp(now).wait
                self._deadline = time.monotonic() + wait + client._login_timeout + LOGIN_GRACE
            elif decision.action is Action.WAIT:
                assert self._ticket is decision.ticket
                event = self._event
        return decision, event

    def follow(
        self, decision: Decision, event: threading.Event | None, client: NeoClient
    ) -> Session | None:
        """Act on a decision; return the session to use, or None to ask again."""
        action = decision.action
        if action is Action.SEND:
            if decision.ticket is not None:  # due for a proactive refresh: start it, send
                assert event is not None
                threading.Thread(
                    target=self._run_login,
                    args=(decision.ticket, event, client),
                    name=f"aioneo-refresh-{decision.ticket.number}",
                    daemon=True,
                ).start()
            return decision.session
        if action is Action.RETRY:
            return None
        if action is Action.FAIL:
            error = decision.error
            assert error is not None
            if isinstance(error, ReloginLoopError):
                with self.data:
                    report, self._reported = error is not self._reported, error
                if report:
                    logger.warning("automatic logins paused: %s", error)
            raise copy.copy(error)
        ticket = decision.ticket
        assert ticket is not None
        assert event is not None
        if action is Action.LEAD:
            self._run_login(ticket, event, client)
        self._wait(ticket, event, client)
        if ticket.error is not None and not ticket.stale:
            raise copy.copy(ticket.error)
        return None

    def _wait(self, ticket: LoginTicket, event: threading.Event, client: NeoClient) -> None:
        """Until the login's outcome is published, or its deadline has passed: then give
        it up for everyone (its leader is stuck in a transport that ignores timeouts)."""
        while True:
            with self.data:
                if ticket.done:
                    return
                remaining = self._deadline - time.monotonic()
            if remaining <= 0:
                error = TransientLoginError(
                    f"login did not finish within login_timeout={client._login_timeout:g} s"
                )
                if self.publish(ticket, event, client, error=error)[0]:
                    logger.warning("login abandoned: %s", error)
                return
            event.wait(remaining)

    def publish(
        self,
        ticket: LoginTicket,
        event: threading.Event,
        client: NeoClient,
        *,
        session: Session | None = None,
        error: NeoError | None = None,
        adopted: bool = False,
    ) -> tuple[bool, bool]:
        """Publish an outcome for ``ticket`` if it is still the current login, then wake
        its waiters. Returns whether this outcome was the one published, and whether it
        was a soft failure (a proactive refresh failed while the session stays usable)."""
        now, jitter = client._now(), client._random.random()
        soft = False
        with self.data:
            current = self.machine.ticket is ticket
            if current:
                if session is not None:
                    self.machine.login_succeeded(ticket, session, adopted=adopted, jitter=jitter)
                else:
                    assert error is not None
                    soft = self.machine.login_failed(ticket, error, now, jitter)
        # Published (above) before anyone is woken (here): a waiter never wakes to an
        # undecided ticket.
        event.set()
        return current, soft

    def set_deadline(self, ticket: LoginTicket, deadline: float) -> None:
        with self.data:
            if self.machine.ticket is ticket:
                self._deadline = deadline

    def _run_login(self, ticket: LoginTicket, event: threading.Event, client: NeoClient) -> None:
        """Run the login in this (the leader's) thread; every exit path publishes."""
        try:
            obtained = client._obtain_session(self, ticket, event)
        except NeoError as exc:
            published, soft = self.publish(ticket, event, client, error=exc)
            if published and not soft:
                logger.warning("login failed: %s", exc)
            elif published:
                # Scenario 15: logged once per streak of failed refreshes.
                with self.data:
                    failures, due = self.machine.refresh.failures, self.machine.refresh.due_at
                log = logger.warning if failures == 1 else logger.debug
                log(
                    "proactive refresh failed; the current session stays in use, next "
                    "attempt in %.0f s: %s",
                    max(0.0, (due or 0.0) - client._now()),
                    exc,
                )
        except Exception as exc:  # a bug, or an exception from a user-provided transport
            if client._closed:
                error: NeoError = ClientClosedError("the client was closed during login")
            else:
                logger.exception("login failed unexpectedly")
                error = TransientLoginError(f"login failed unexpectedly: {type(exc).__name__}")
            self.publish(ticket, event, client, error=error)
        except BaseException:  # KeyboardInterrupt, SystemExit: never strand the waiters
            self.publish(
                ticket, event, client, error=TransientLoginError("the login was interrupted")
            )
            raise
        else:
            if obtained is None:  # published by someone else (close, waiters' deadline)
                return
            session = obtained.session
            published, _ = self.publish(
                ticket, event, client, session=session, adopted=obtained.adopted
            )
            if published:
                logger.info(
                    "%s: epoch %d, generation %d, data center %s",
                    "adopted the session another client wrote to the store"
                    if obtained.adopted
                    else "logged in",
                    session.epoch,
                    session.generation,
                    session.data_center or "?",
                )
            else:
                logger.info("a login finished after it had been abandoned; result discarded")
            if obtained.owner is not None:
                # Scenario 42: written once per published login, after the waiters have
                # it, outside the data lock; the store's lock is released whatever happens.
                client._persist(obtained.record if published else None, obtained.owner)

    def hold_lock(self, client: NeoClient, owner: str, seconds: float) -> None:
        """Keep a shared store's lock for ``seconds``, then release it (a daemon timer)."""

        def release() -> None:
            with self.data:
                mine = self._holds.get(owner) is timer
                if mine:
                    del self._holds[owner]
            if mine:  # else: taken over by a new login of this client, or closed
                release_quietly(client._store, owner)

        timer = threading.Timer(seconds, release)
        timer.daemon = True
        timer.name = "aioneo-login-lock-hold"
        with self.data:
            closed = self.machine.closed
            if not closed:
                self._holds[owner] = timer
        if closed:  # close() has already ended the holds: release now, start no thread
            release_quietly(client._store, owner)
            return
        timer.start()

    def take_hold(self) -> str | None:
        """The owner of a store lock this client keeps after a failed login, taken over by
        a new login of this client (which keeps it: no gap a sibling could use), or None.

        The hold keeps *siblings* off the TOTP step that login may have spent; this client's
        own machine knows that step and never plans it again, so it need not wait.
        """
        with self.data:
            if not self._holds:
                return None
            owner, timer = self._holds.popitem()
        timer.cancel()
        return owner

    def close(self, client: NeoClient) -> None:
        """Mark closed; an in-flight login ends for its waiters with ``ClientClosedError``."""
        with self.data:
            ticket = self.machine.close()
            event = self._event
            if ticket is not None:
                error = ClientClosedError("the client was closed during login")
                self.machine.login_failed(ticket, error, 0.0, 0.0)
            holds, self._holds = self._holds, {}
        if ticket is not None and event is not None:
            event.set()
        for owner, timer in holds.items():
            timer.cancel()
            release_quietly(client._store, owner)


# -- fork safety ---------------------------------------------------------------------------
# One registration for the module (os.register_at_fork cannot unregister); live clients
# are tracked weakly. Before a fork, every client's data lock is taken, so the child
# copies each SessionMachine in a consistent state; the child then replaces every lock.

_live: weakref.WeakSet[NeoClient] = weakref.WeakSet()
_live_lock = threading.Lock()
_held_for_fork: list[NeoClient] = []


def _before_fork() -> None:
    _live_lock.acquire()
    _held_for_fork[:] = list(_live)
    for client in _held_for_fork:
        client._session.data.acquire()


def _after_fork_in_parent() -> None:
    for client in _held_for_fork:
        client._session.data.release()
    _held_for_fork.clear()
    _live_lock.release()


def _after_fork_in_child() -> None:
    global _live_lock
    for client in _held_for_fork:
        client._after_fork_in_child()
    _held_for_fork.clear()
    _live_lock = threading.Lock()


if hasattr(os, "register_at_fork"):  # POSIX only
    os.register_at_fork(
        before=_before_fork,
        after_in_parent=_after_fork_in_parent,
        after_in_child=_after_fork_in_child,
    )


class _FairSlots:
    """At most ``n`` holders; a released slot goes to the longest waiter (FIFO, no barging).

    ``threading.BoundedSemaphore`` lets the thread that releases a slot take it straight
    back ahead of the threads already waiting; at 64 threads on 10 slots that starved some
    callers for seconds (p99 about 3 s where p50 was 22 ms). Here a release hands the slot
    to the oldest waiter directly.
    """

    __slots__ = ("_free", "_lock", "_waiters")

    def __init__(self, n: int) -> None:
        self._free = n
        self._lock = threading.Lock()
        self._waiters: collections.deque[threading.Lock] = collections.deque()

    def __enter__(self) -> None:
        with self._lock:
            if self._free and not self._waiters:
                self._free -= 1
                return
            waiter = threading.Lock()
            waiter.acquire()
            self._waiters.append(waiter)
        try:
            waiter.acquire()  # released by __exit__: the slot has been handed to us
        except BaseException:
            with self._lock:
                try:
                    self._waiters.remove(waiter)
                except ValueError:  # handed over meanwhile: pass it on
                    self._release_locked()
            raise

    def __exit__(self, *exc_info: object) -> None:
        with self._lock:
            self._release_locked()

    def _release_locked(self) -> None:
        if self._waiters:
            self._waiters.popleft().release()
        else:
            self._free += 1

    @property
    def waiting(self) -> int:
        return len(self._waiters)


class NeoClient:
    """Thread-safe blocking client for the Kotak Neo Trade API; twin of ``AsyncNeoClient``.

    >>> with NeoClient(Credentials.from_env()) as neo:  # doctest: +SKIP
    ...     positions = neo.positions()

    Same methods, arguments, defaults and results as :class:`~aioneo.AsyncNeoClient`
    (``close`` for ``aclose``, ``with`` for ``async with``). Logs in lazily on the first
    call (or explicitly with :meth:`login`). When the session dies, any number of threads
    calling at once cause exactly one login: the thread whose call needed it runs it, the
    others block until it ends and then replay their calls with the new session; if it
    fails, every one of them gets the same error as soon as it fails. Calls that fail for
    good raise a :class:`~aioneo.NeoError` subclass.

    Concurrency: share one client between all threads of a process; no event loop is
    ever started, and no helper thread but a short-lived one per proactive refresh (see
    ``refresh_ahead``). Calling a blocking method from a thread that is running an
    asyncio event loop raises ``RuntimeError`` at once (it would stall the loop, and with
    it anything the call might wait for): use ``AsyncNeoClient`` there, or
    ``await asyncio.to_thread(neo.positions)``.

    ``timeout`` bounds each network step of a request (connect, write, read), not the
    time a call waits in the client's queue, for the rate limiter or for a login run by
    another thread. ``max_connections`` bounds the requests on the wire; other threads
    wait their turn. Logins use a separate pool of their own, so a login never queues
    behind the requests it is rescuing. ``login_timeout`` bounds the login's network
    steps together (each step gets the time that is left; a wait for a fresh TOTP step
    comes first and is not counted). A login still unfinished a moment after that (a
    transport that ignores timeouts) is given up by its waiters with
    ``TransientLoginError``, the slot is freed, and its late result is discarded.

    A blocking call cannot be cancelled. A caller that stops waiting for one (say, a
    ``future.result(timeout=...)`` that expires) leaves that call running in its thread:
    it finishes on its own, and a login it leads completes and serves everyone.
    ``close()`` ends every call at once with ``ClientClosedError``: those waiting for a
    login, and those on the wire, the login's own steps included (their connections are
    shut down beneath them).

    Fork (``os.fork``, ``multiprocessing`` with the fork start method): the child process
    gets fresh locks, no login in flight (one that was running in the parent is forgotten)
    and new connection pools, opened on first use; the current session is kept and used
    if it is still valid, otherwise the child logs in by itself. A ``transport`` you pass
    is yours and is kept as it is: create the client after forking if it is not
    fork-safe.

    ``rate_limit`` is requests per second per session (Kotak documents 10); ``None`` turns
    the client-side limiter off. Clients that share a ``session_store`` share one limiter,
    at the lowest rate any of them asked for; a :class:`~aioneo.RedisSessionStore` keeps
    it on Redis, for every host. ``transport`` replaces the network: an
    ``httpx.BaseTransport`` (for example ``aioneo.testing.Emulator().sync_transport()`` or
    ``aioneo.testing.EmulatorServer().transport()``; an asynchronous one raises
    ``TypeError`` here, it belongs to ``AsyncNeoClient``). ``clock`` returns unix time and
    is used for TOTP codes and session expiry (tests shift it, for example with
    ``aioneo.testing.StepClock``; keep the default otherwise).

    ``session_store`` shares the session with other clients, processes and hosts of the
    same account (:class:`~aioneo.FileSessionStore`, :class:`~aioneo.RedisSessionStore`,
    or a :class:`~aioneo.MemorySessionStore` shared in-process; by default the memory
    store this process keeps for clients with the same credentials, ``login_url`` and
    ``transport``, so those share one session by themselves): before logging in, the
    client adopts a newer session another client wrote there, logs in only under the
    store's login lock, and writes its own login back,
    so all of them together make one login per expiry event, and a restarted process
    reuses the session of the day. A login may then first wait for another client's login
    (at most its lease: ``login_timeout`` plus 5 s, plus the holder's TOTP-step wait if
    it has one; longer means the holder is stuck). A store that cannot be read, locked or
    trusted fails the login with :class:`~aioneo.SessionStoreError` rather than logging
    in without coordination; a store write that fails is logged, never raised (the login
    stands).

    ``refresh_ahead`` seconds before the session ends (at most half its lifetime,
    jittered), the call that notices starts one login in a short-lived daemon thread and
    is itself sent with the current session; later calls keep using it until the new one
    is published. A failed refresh is logged once and retried after a backoff; callers see
    nothing until the session really ends. ``None`` turns it off; a token without an
    expiry is never refreshed.

    ``max_relogins`` logins caused by "session expired" within ``relogin_window`` seconds
    open a breaker: further automatic logins raise :class:`~aioneo.ReloginLoopError` until
    the oldest leaves the window (another program logging in with the same account keeps
    ending this session; see the error). ``None`` turns the breaker off.

    ``http_backend`` is spelled as ``AsyncNeoClient``'s, but only ``"httpx"`` is allowed:
    aiohttp has no synchronous client.

    ``config_url`` is the service the live feeds ask where they are (Kotak's by default;
    an emulator serves ``/5config/config``); ``None`` skips it (validate's ``feedUrl`` /
    ``rtUrl``, then the documented defaults, are used). See :meth:`market_feed`.
    """

    def __init__(
        self,
        credentials: Credentials,
        *,
        login_url: str = DEFAULT_LOGIN_URL,
        timeout: float | None = DEFAULT_TIMEOUT,
        login_timeout: float = DEFAULT_LOGIN_TIMEOUT,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        rate_limit: float | None = DEFAULT_RATE_LIMIT,
        login_cooldown: float = DEFAULT_LOGIN_COOLDOWN,
        neo_fin_key: str = "neotradeapi",
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] | None = None,
        session_store: SessionStore | None = None,
        refresh_ahead: float | None = DEFAULT_REFRESH_AHEAD,
        max_relogins: int | None = DEFAULT_MAX_RELOGINS,
        relogin_window: float = DEFAULT_RELOGIN_WINDOW,
        http_backend: str = "httpx",
        config_url: str | None = CONFIG_URL,
    ) -> None:
        self._login_url = check_client_options(
            credentials,
            login_url=login_url,
            timeout=timeout,
            login_timeout=login_timeout,
            max_connections=max_connections,
            transport=transport,
            sync=True,
        )
        # Spelled as AsyncNeoClient's; aiohttp has no synchronous client: "httpx" only.
        check_http_backend(http_backend, transport=transport, sync=True)
        self._credentials = credentials
        self._timeout = timeout
        # Sent as each request's timeout extension: connect, write and read are bounded;
        # waiting for a pooled connection is not (the semaphore in front bounds that).
        self._timeout_ext = httpx.Timeout(timeout, pool=None).as_dict()
        self._login_timeout = login_timeout
        self._max_connections = max_connections
        self._neo_fin_key = neo_fin_key
        self._transport = transport
        self._clock = clock or time.time
        self._random = random.Random()
        # Without a store: the one shared by clients of this process with the same account,
        # login URL and transport (so they make one login), see _stores.default_store.
        consumer_key, _ = credentials._secret_fields()
        account = account_key(consumer_key, credentials.mobile_number, credentials.ucc)
        self._store, self._store_private = store_option(
            session_store, shared=(account, self._login_url, transport)
        )
        # Shared with every client of this store and account (aioneo._limits).
        self._limiter = limiter_for(
            self._store, private=self._store_private, account=credentials.ucc, rate=rate_limit
        )
        self._session = _SyncSession(
            SessionMachine(
                login_cooldown=login_cooldown,
                refresh_ahead=refresh_ahead,
                max_relogins=max_relogins,
                relogin_window=relogin_window,
            )
        )
        self._slots = _FairSlots(max_connections)
        self._http: httpx.Client | None = None
        self._login_http: httpx.Client | None = None
        self._sockets: Sockets | None = None  # those of the two pools, made with them
        self._closed = False
        self._flights = SyncFlights()
        # The live feeds (aioneo._feeds_sync): closed with the client; guarded by the
        # session's data lock.
        self._config_url = check_config_url(config_url)
        self._feed_endpoints: dict[str | None, FeedEndpoints] = {}
        self._feeds: set[SyncFeedBase[Any]] = set()
        with _live_lock:
            _live.add(self)

    # -- lifecycle ----------------------------------------------------------------------
    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.close()
            return
        try:
            self.close()
        except Exception as error:  # logged: the exception leaving the block goes on
            report_masked(error, exc)

    def close(self) -> None:
        """Close the client. Calls still waiting get ``ClientClosedError``. Idempotent.

        Every call ends at once, wherever it waits: for a login, for a connection, or on
        the wire (its connection is closed beneath it; a thread blocked reading returns
        now, not when ``timeout`` expires). Every part of the client is closed even if
        closing one fails; the first failure is then raised, the others are logged.
        Leaving a ``with`` block with an exception, a close failure is logged instead,
        so that the block's exception is not replaced. An ``AsyncNeoClient`` may be
        closed in a later event loop than the one it last used, once that one has
        closed: the old loop's connections are released without it.
        """
        self._closed = True
        steps = CloseSteps()
        with self._session.data:
            feeds = list(self._feeds)
        for feed in feeds:  # stopped first, joined once the login in flight has ended
            with steps.step("closing a feed"):
                feed._signal_close()
        with steps.step("ending the login in flight"):
            self._session.close(self)
        for feed in feeds:
            with steps.step("closing a feed"):
                feed.close()
        sockets = self._sockets
        if sockets is not None:
            with steps.step("shutting the connections down"):
                sockets.shutdown()
        for http in (self._http, self._login_http):
            if http is not None:
                with steps.step("closing a connection pool"):
                    http.close()
        steps.raise_first()

    def _after_fork_in_child(self) -> None:
        # The parent's pools share sockets (and maybe held locks) with the parent: drop
        # them without closing, a close here could disturb the parent's connections.
        self._session.reset_after_fork()
        self._slots = _FairSlots(self._max_connections)
        self._http = None
        self._login_http = None

    def _bind(self, op: str) -> httpx.Client:
        """Refuse event-loop threads and closed clients; open the pools on first use."""
        _refuse_inside_event_loop(op)
        if self._closed:
            raise ClientClosedError("the client is closed")
        http = self._http
        if http is None:
            with self._session.data:  # creating a client does no I/O
                if self._http is None:
                    # Learns the pools' sockets, so that close() can shut them down. A
                    # forked child makes new pools, and new Sockets, here.
                    sockets = self._sockets = Sockets()
                    self._login_http = httpx.Client(
                        transport=self._transport,
                        timeout=httpx.Timeout(self._timeout, pool=None),
                        limits=httpx.Limits(
                            max_connections=LOGIN_CONNECTIONS,
                            max_keepalive_connections=LOGIN_CONNECTIONS,
                        ),
                        event_hooks=sockets.hooks(),
                    )
                    self._http = httpx.Client(
                        transport=self._transport,
                        timeout=httpx.Timeout(self._timeout, pool=None),
                        limits=httpx.Limits(
                            max_connections=self._max_connections,
                            max_keepalive_connections=self._max_connections,
                        ),
                        event_hooks=sockets.hooks(),
                    )
                http = self._http
        return http

    def _now(self) -> float:
        return self._clock()

    # -- observability ------------------------------------------------------------------
    @property
    def stats(self) -> SessionStats:
        """A snapshot of the relogin counters (logins, coalesced callers, stragglers, ...)."""
        with self._session.data:
            return self._session.machine.stats.snapshot()

    @property
    def session(self) -> SessionInfo | None:
        """The current session's public facts (no token, no sid), or ``None``."""
        session = self._session.machine.session
        return SessionInfo.of(session) if session is not None else None

    @property
    def credentials(self) -> Credentials:
        return self._credentials

    def set_credentials(self, credentials: Credentials) -> None:
        """Use new credentials from the next login on; forgets a cached login failure."""
        if not isinstance(credentials, Credentials):
            raise TypeError(
                f"credentials must be aioneo.Credentials, got {type(credentials).__name__}"
            )
        with self._session.data:
            self._credentials = credentials
            # A login in flight keeps the credentials it started with; if it fails, that
            # decides nothing: its callers try again with these (issue 10 item 3).
            self._session.machine.credentials_changed()

    # -- login --------------------------------------------------------------------------
    def login(self) -> SessionInfo:
        """Log in now (TOTP step, then MPIN step) and return the new session's facts.

        If a login is already in flight, waits for it instead of starting another. An
        explicit call clears a cached fatal login error and any cooldown. With a shared
        session store holding a newer session of this account (another process logged
        in), that session is adopted instead, and no TOTP code is used.
        """
        self._bind("login")
        gate = self._session
        while True:
            decision, event = gate.login_decision(self._now(), self)
            gate.follow(decision, event, self)
            assert decision.ticket is not None
            if not decision.ticket.stale:  # else: credentials changed meanwhile, again
                break
        session = decision.ticket.session
        assert session is not None
        return SessionInfo.of(session)

    def _login_flow(
        self,
        gate: _SyncSession,
        ticket: LoginTicket,
        event: threading.Event,
        *,
        generation: int = 0,
        progress: LoginProgress | None = None,
        renew: Callable[[float], object] | None = None,
    ) -> Session | None:
        """The two login steps, in the leader's thread. ``None``: the login was ended by
        someone else (``close``) while it waited for a fresh TOTP step.

        A refused TOTP code is tried once more with the next step's code (``retry_totp``);
        ``renew(wait)`` then extends a shared store's lock lease over that wait.
        """
        http = self._login_http
        assert http is not None
        machine = gate.machine
        progress = progress or LoginProgress()
        with gate.data:  # one set of credentials for the whole login; the ticket records it
            credentials = self._credentials
            ticket.version = machine.credentials_version
        consumer_key, mpin = credentials._secret_fields()
        attempt = 0
        while True:
            now = self._now()
            with gate.data:
                plan = machine.plan_totp(now)
            progress.step, progress.sent, progress.refused = plan.step, False, False
            gate.set_deadline(
                ticket, time.monotonic() + plan.wait + self._login_timeout + LOGIN_GRACE
            )
            if plan.wait > 0:
                logger.info("waiting %.1f s for a fresh TOTP step: %s", plan.wait, plan.reason)
                if renew is not None and attempt > 0:
                    renew(plan.wait)
                if event.wait(plan.wait):  # set early only when somebody else published
                    return None
            code = credentials.totp_code(plan.at)
            with gate.data:
                machine.totp_used(plan.step)
            deadline = time.monotonic() + self._login_timeout
            login_lock = gate._login_lock
            # Free unless an abandoned login of this client is still stuck on the wire; the
            # wait for it counts against this login's deadline.
            if not login_lock.acquire(timeout=self._login_timeout):
                raise TransientLoginError(
                    "an earlier login of this client is still waiting for the server; "
                    "will try again after a cooldown"
                )
            try:
                progress.sent = True
                try:
                    view, _ = self._login_step(
                        http,
                        "login",
                        requests.totp_login(
                            mobile_number=credentials.mobile_number,
                            ucc=credentials.ucc,
                            totp=code,
                        ),
                        consumer_key,
                        ("token", "sid"),
                        deadline=deadline,
                        retried=attempt > 0,
                    )
                except LoginError as exc:
                    progress.refused = totp_code_refused(exc)  # a definite "no": not used
                    if not retry_totp(exc, attempt):
                        raise
                    logger.info(
                        "the TOTP code was refused; another login may have used its 30 s "
                        "step: trying once more with the next step's code"
                    )
                    attempt += 1
                    continue
                trade, server_date = self._login_step(
                    http,
                    "validate",
                    requests.totp_validate(mpin=mpin),
                    consumer_key,
                    ("token", "sid", "baseUrl"),
                    deadline=deadline,
                    view_token=str(view["token"]),
                    view_sid=str(view["sid"]),
                )
            finally:
                login_lock.release()
            break
        with gate.data:
            epoch = machine.next_epoch()
            generation = generation or machine.next_generation()
        data_center = trade.get("dataCenter")
        ucc = trade.get("ucc")
        return new_session(
            token=str(trade["token"]),
            sid=str(trade["sid"]),
            base_url=str(trade["baseUrl"]),
            epoch=epoch,
            now=self._now(),
            data_center=str(data_center) if data_center is not None else None,
            ucc=str(ucc) if ucc is not None else None,
            generation=generation,
            server_date=server_date,
            feed_url=text_or_none(trade.get("feedUrl")),
            rt_url=text_or_none(trade.get("rtUrl")),
        )

    def _login_timed_out(self) -> TransientLoginError:
        return TransientLoginError(
            f"login did not finish within login_timeout={self._login_timeout:g} s"
        )

    def _login_step(
        self,
        http: httpx.Client,
        step: str,
        spec: RequestSpec,
        consumer_key: str,
        require: tuple[str, ...],
        *,
        deadline: float,
        view_token: str | None = None,
        view_sid: str | None = None,
        retried: bool = False,
    ) -> tuple[dict[str, Any], float | None]:
        """One login step; returns its ``data`` and the server's ``Date``, if any."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise self._login_timed_out()
        capped = self._timeout is None or remaining < self._timeout
        step_timeout = remaining if capped or self._timeout is None else self._timeout
        rendered = render(
            spec,
            login_url=self._login_url,
            base_url=self._login_url,
            consumer_key=consumer_key,
            neo_fin_key=self._neo_fin_key,
            view_token=view_token,
            view_sid=view_sid,
        )
        request = httpx.Request(
            rendered.method,
            rendered.url,
            headers=rendered.headers,
            content=rendered.content,
            extensions={"timeout": httpx.Timeout(step_timeout).as_dict()},
        )
        try:
            response = http.send(request)
        except httpx.TransportError as exc:
            if capped and isinstance(exc, httpx.TimeoutException):
                raise self._login_timed_out() from exc
            raise login_failure(
                step,
                failure_of(exc),
                self._timeout,
                host=request.url.host or None,
                cause=connect_cause(error_text(exc)),
            ) from exc
        result = classify_login(
            response.status_code, response.content, response.headers, require=require, step=step
        )
        if result.outcome is not LoginOutcome.SUCCESS:
            raise login_error(step, result, url=rendered.url, retried=retried)
        assert result.data is not None
        return dict(result.data), parse_http_date(response.headers.get("date"))

    # -- the session store ----------------------------------------------------------------
    def _store_io(self, action: str, call: Callable[..., Any], *args: Any) -> Any:
        """One store call, in this thread. Anything but a ``SessionStoreError`` becomes
        one that names the action, never the data."""
        try:
            return call(*args)
        except SessionStoreError:
            raise
        except Exception as exc:
            raise SessionStoreError(
                f"session store {type(self._store).__name__}: {action} failed "
                f"({type(exc).__name__})"
            ) from exc

    def _persist(self, record: StoredSession | None, owner: str) -> None:
        """Write a new login to the store (once), then release the store's lock."""
        try:
            if record is not None:
                try:
                    self._store_io("writing", self._store.save, record)
                except SessionStoreError as exc:
                    logger.warning(
                        "the new session could not be written to the session store; other "
                        "processes will log in by themselves: %s",
                        exc,
                    )
        finally:
            release_quietly(self._store, owner)

    def _newer(self, gate: _SyncSession, stored: StoredSession | None) -> StoredSession | None:
        """``stored`` if it is a session to adopt (see ``should_adopt``), else ``None``."""
        with gate.data:
            generation = gate.machine.generation
        adopt = should_adopt(
            stored, generation=generation, account=self._credentials.ucc, now=self._now()
        )
        return stored if adopt else None

    def _adopt(self, gate: _SyncSession, stored: StoredSession) -> Obtained:
        with gate.data:
            if stored.totp_step is not None:
                gate.machine.totp_used(stored.totp_step)
            epoch = gate.machine.next_epoch()
        return Obtained(session_of(stored, epoch=epoch), adopted=True)

    def _obtain_session(
        self, gate: _SyncSession, ticket: LoginTicket, event: threading.Event
    ) -> Obtained | None:
        """Adopt a newer stored session, or log in under the store's lock (scenario 41).

        ``None``: the login was ended by someone else (``close``, the waiters' deadline)
        meanwhile. On success with a login of its own, the store's lock is still held
        (``Obtained.owner``): the caller publishes, writes, releases.
        """
        store = self._store
        owner = gate.take_hold() or lock_owner()
        lease = login_lease(self._login_timeout)
        wait_limit = longest_lease(self._login_timeout) + STORE_WAIT_MARGIN
        if not self._store_private:  # waiting for another process's login is allowed
            gate.set_deadline(ticket, time.monotonic() + wait_limit + LOGIN_GRACE)
        give_up = time.monotonic() + wait_limit
        while True:
            newer = self._newer(gate, self._store_io("reading", store.load))
            if newer is not None:
                return self._adopt(gate, newer)
            if self._store_io("locking", store.acquire_lock, owner, lease):
                break
            if time.monotonic() >= give_up:
                raise SessionStoreError(
                    f"another client has held the login lock of {store!r} for more than "
                    f"{wait_limit:.0f} s; not logging in without it"
                )
            if event.wait(STORE_POLL * (0.5 + self._random.random())):
                return None  # published by someone else meanwhile
        progress = LoginProgress()
        try:
            stored = self._store_io("reading", store.load)
            newer = self._newer(gate, stored)
            if newer is not None:
                release_quietly(store, owner)
                return self._adopt(gate, newer)
            now = self._now()
            with gate.data:
                if stored is not None and stored.totp_step is not None:
                    gate.machine.totp_used(stored.totp_step)  # a sibling's step is spent too
                totp_wait = gate.machine.plan_totp(now).wait
                generation = gate.machine.next_generation(
                    stored.generation if stored is not None else None
                )
            if totp_wait > 0:  # renew the lease: this login will first wait for a step
                lease = login_lease(self._login_timeout, totp_wait)
                self._store_io("locking", store.acquire_lock, owner, lease)
            session = self._login_flow(
                gate,
                ticket,
                event,
                generation=generation,
                progress=progress,
                renew=lambda wait: self._store_io(
                    "locking", store.acquire_lock, owner, login_lease(self._login_timeout, wait)
                ),
            )
        except BaseException:
            hold = 0.0
            if not self._store_private:
                hold = failed_login_hold(
                    self._now(), progress.step, code_may_be_used=progress.code_may_be_used
                )
            if hold > 0:
                gate.hold_lock(self, owner, hold)
            else:
                release_quietly(store, owner)
            raise
        if session is None:
            release_quietly(store, owner)
            return None
        with gate.data:
            step = gate.machine.last_totp_step
        record = record_of(session, account=self._credentials.ucc, totp_step=step)
        return Obtained(session, adopted=False, owner=owner, record=record)

    # -- the protected call -------------------------------------------------------------
    def _call(self, spec: RequestSpec) -> Any:
        """Send one protected call under the relogin contract; return the decoded body."""
        http = self._bind(spec.op)
        gate = self._session
        auth_retries = retries = forgiven = 0
        replayed = False
        while True:
            no_answer: NoResponse | None = None
            with self._slots:
                session = self._current_session()
                limiter = self._limiter
                if limiter is not None:
                    # Reserved once the session is known (a login wait must not eat the
                    # schedule); the session is read again after the wait (scenario 5).
                    # The limiter has its own lock (gate.data is never held across the
                    # Redis round trip). It never raises (Redis failing: a local schedule).
                    wait = limiter.reserve()
                    if wait > 0:
                        time.sleep(wait)
                        session = self._current_session()
                try:
                    response = self._send(http, spec, session)
                except NoResponse as exc:
                    no_answer = exc
            if no_answer is not None:
                step = after_failure(
                    spec,
                    no_answer.failure,
                    retries=retries,
                    jitter=self._random.random(),
                    timeout=self._timeout,
                    auth_retries=auth_retries,
                    replayed=replayed,
                    host=no_answer.host,
                    cause=no_answer.cause,
                )
            else:
                result = classify(response.status_code, response.content, response.headers)
                if result.outcome is Outcome.SESSION_EXPIRED and not relogin_charged(
                    adopted=session.adopted, auth_retries=auth_retries, forgiven=forgiven
                ):
                    forgiven += 1  # the relogin ended in adopting a dead session: refund
                    auth_retries -= 1
                step = after_response(
                    spec,
                    result,
                    auth_retries=auth_retries,
                    retries=retries,
                    jitter=self._random.random(),
                    replayed=replayed,
                )
                if step.kind is StepKind.RETURN:
                    return result.body

            if step.kind is StepKind.RECONCILE:
                return self._reconcile(spec, step.error)
            if step.kind is StepKind.RELOGIN:
                auth_retries += 1
                replayed = True
                decision, event = gate.on_expired(session.epoch, self._now(), self)
                gate.follow(decision, event, self)
                continue
            if step.kind is StepKind.RETRY:
                retries += 1
                time.sleep(step.delay)
                continue
            assert step.error is not None
            raise step.error

    def _current_session(self) -> Session:
        """The session to send with now: waits for, or leads, a login when needed."""
        gate = self._session
        while True:
            decision, event = gate.acquire(self._now(), self)
            session = gate.follow(decision, event, self)
            if session is not None:
                return session

    def _send(self, http: httpx.Client, spec: RequestSpec, session: Session) -> httpx.Response:
        consumer_key, _ = self._credentials._secret_fields()
        rendered = render(
            spec,
            login_url=self._login_url,
            base_url=session.base_url,
            consumer_key=consumer_key,
            trade_token=session.token,
            trade_sid=session.sid,
        )
        request = httpx.Request(
            rendered.method,
            rendered.url,
            headers=rendered.headers,
            content=rendered.content,
            extensions={"timeout": self._timeout_ext},
        )
        if self._closed:  # e.g. a call that waited for a slot while close() ran
            raise ClientClosedError("the client was closed before the call was sent")
        try:
            return http.send(request)
        except httpx.TransportError as exc:
            # Also the error of a connection close() shut down beneath this call.
            if self._closed:  # an order that may have been sent: outcome unknown
                raise closed_during(spec, failure_of(exc)) from exc
            raise no_response(exc, request) from exc
        except RuntimeError as exc:  # httpx refuses to send on a client closed meanwhile
            if self._closed:
                raise ClientClosedError("the client was closed during the call") from exc
            raise

    def _reconcile(self, spec: RequestSpec, error: NeoError | None) -> dict[str, Any]:
        """A replayed order failed or was refused as a duplicate: read the order book.

        ``_core._reconcile.reconcile`` decides whether an order in the book is this call's
        (its tag in one of Kotak's forms *and* its fields as sent); ``after_reconcile`` turns
        that into the result or the exception. A failed read is "unknown".
        """
        assert spec.tag is not None
        try:
            orders = self.order_report()
        except NeoError as exc:
            raise unknown_outcome(spec, f"looking the tag up failed: {exc}") from exc
        outcome = after_reconcile(spec, reconcile(spec.tag, spec.jdata or {}, orders), error)
        if isinstance(outcome, NeoError):
            raise outcome
        logger.warning(
            "%s was replayed after a relogin and the order exists: order %s",
            spec.op,
            outcome["nOrdNo"],
        )
        return outcome

    # -- orders ---------------------------------------------------------------------------
    def place_order(
        self,
        *,
        exchange_segment: str | None = None,
        product: str,
        price: PriceLike,
        order_type: str,
        quantity: QuantityLike,
        validity: str,
        trading_symbol: str | Instrument,
        transaction_type: str,
        amo: str = "NO",
        disclosed_quantity: QuantityLike = "0",
        trigger_price: PriceLike = "0",
        tag: str | None = None,
    ) -> models.OrderResult:
        """Place an order (``quick/order/rule/ms/place``); the SDK's keyword names.

        Every order carries a tag (``ig``, echoed as ``GuiOrdId``): ``tag`` if given, else a
        unique one made for this call (``OrderResult.tag``). The request is sent once. It is
        replayed, once, with the same body and tag, only when the answer proves the order
        system never saw it (the gateway's "session expired" rejection), after the relogin.
        If that replay is refused because the tag is already used, the first attempt was
        placed after all: the order is looked up by tag and returned. Anything that leaves
        the outcome open (timeout or reset after sending, 5xx, an unreadable answer) raises
        ``OrderOutcomeUnknown`` with the tag: look the order up with :meth:`find_order`
        before placing it again.

        ``trading_symbol`` may be an :class:`~aioneo.Instrument`; its segment is then the
        ``exchange_segment``, which may be left out (given, it must match).
        """
        spec = requests.place_order(
            exchange_segment=exchange_segment,
            product=product,
            price=price,
            order_type=order_type,
            quantity=quantity,
            validity=validity,
            trading_symbol=trading_symbol,
            transaction_type=transaction_type,
            amo=amo,
            disclosed_quantity=disclosed_quantity,
            trigger_price=trigger_price,
            tag=tag,
        )
        return models.parse_place_order(self._call(spec), tag=spec.tag)

    def modify_order(
        self,
        *,
        order_id: str,
        price: PriceLike,
        order_type: str,
        quantity: QuantityLike,
        validity: str,
        trigger_price: PriceLike = "0",
        disclosed_quantity: QuantityLike = "0",
        amo: str = "NO",
    ) -> models.OrderResult:
        """Modify an open order (``quick/order/vr/modify``). Same replay rule as orders."""
        spec = requests.modify_order(
            order_id=order_id,
            price=price,
            order_type=order_type,
            quantity=quantity,
            validity=validity,
            trigger_price=trigger_price,
            disclosed_quantity=disclosed_quantity,
            amo=amo,
        )
        return models.parse_modify_order(self._call(spec), order_id=order_id)

    def cancel_order(
        self, order_id: str, *, amo: str = "NO", isVerify: bool = False
    ) -> models.OrderResult:
        """Cancel an order (``quick/order/cancel``). ``isVerify`` is kept for SDK callers."""
        spec = requests.cancel_order(order_id, amo=amo, isVerify=isVerify)
        return models.parse_cancel_order(self._call(spec), order_id=order_id)

    def find_order(self, tag: str) -> models.Order | None:
        """The order placed with ``tag``, from the order book, or ``None``.

        Kotak rewrites ``GuiOrdId`` on modify (``<tag>-M<n>``) and cancel
        (``<tag>-<unix seconds>``), so besides an exact match those two forms are accepted,
        and nothing else: ``strat-10`` is never taken for ``strat-1``. The cancel form
        counts only for a cancelled order and ten digits of a plausible time (an IOC
        ``strat-20`` the exchange cancelled is your own tag, not a cancelled ``strat``). An
        exact match wins; if no order carries the tag exactly and several carry it in a
        rewritten form, :class:`~aioneo.AmbiguousTagError` is raised. A tag of your own
        shaped like a rewrite of another (``strat-M1`` beside ``strat``) is taken for it.
        The match is on the tag alone: check the order's fields if you reuse tags.
        """
        if not isinstance(tag, str) or not tag.strip():
            raise ValueError(f"tag must be a non-empty str, got {tag!r}")
        return lookup(tag, self.order_report())

    # -- reports --------------------------------------------------------------------------
    def order_report(self, order_id: str | None = None) -> list[models.Order]:
        """The order book, or the rows of one order when ``order_id`` is given."""
        return models.parse_order_report(self._call(requests.order_report(order_id)))

    def order_history(
        self, order_id: str, *, missing: MissingMode = "ignore"
    ) -> list[models.OrderHistoryEntry]:
        """Every state of one order, newest first (``quick/order/history``).

        An order has at least one state, so ``[]`` means the account has no order
        ``order_id`` (Kotak answers "No Data" for an unknown number, as for an empty book).
        With ``missing="raise"`` that raises :class:`~aioneo.NotFoundError` instead
        (``.missing == (order_id,)``); the default, ``"ignore"``, returns ``[]``.
        """
        raise_missing = check_missing(missing)
        history = models.parse_order_history(self._call(requests.order_history(order_id)))
        if raise_missing and not history:
            raise no_history(order_id)
        return history

    def trade_report(self) -> list[models.Trade]:
        """The day's fills (``quick/user/trades``)."""
        return models.parse_trade_report(self._call(requests.trade_report()))

    # -- portfolio and funds ----------------------------------------------------------------
    def positions(self) -> list[models.Position]:
        """Open positions of the day (``portfolio/v2/positions``)."""
        return models.parse_positions(self._call(requests.positions()))

    def holdings(self) -> list[models.Holding]:
        """Long-term holdings (``portfolio/v1/holdings``)."""
        return models.parse_holdings(self._call(requests.holdings()))

    def limits(
        self, segment: str = "ALL", exchange: str = "ALL", product: str = "ALL"
    ) -> models.Limits:
        """Funds and margin limits (``quick/user/limits``)."""
        return models.parse_limits(
            self._call(requests.limits(segment=segment, exchange=exchange, product=product))
        )

    def margin_required(
        self,
        *,
        exchange_segment: str | None = None,
        price: PriceLike,
        order_type: str,
        product: str,
        quantity: QuantityLike,
        instrument_token: str | int | Instrument,
        transaction_type: str,
        trigger_price: PriceLike | None = None,
        broker_name: str = "KOTAK",
        branch_id: str = "ONLINE",
        stop_loss_type: str | None = None,
        stop_loss_value: PriceLike | None = None,
        square_off_type: str | None = None,
        square_off_value: PriceLike | None = None,
        trailing_stop_loss: str | None = None,
        trailing_sl_value: PriceLike | None = None,
        validity: str | None = None,
        trading_symbol: str | None = None,
        amo: str | None = None,
        disclosed_quantity: QuantityLike | None = None,
        tag: str | None = None,
    ) -> models.MarginRequirement:
        """The margin an order would need (``quick/user/check-margin``). A read.

        The SDK's keywords, plus those of :meth:`place_order` that it lacks (``validity``,
        ``trading_symbol``, ``amo``, ``disclosed_quantity``, ``tag``), so an order's keywords
        can be passed as they are: ``margin_required(**order, instrument_token="11536")``.
        Those five are checked as :meth:`place_order` checks them and are not sent: Kotak's
        check-margin has no field for them and knows the instrument by ``instrument_token``
        alone (the ``tok`` of ``"nse_cm|11536"``). All other keywords are spelled the same
        in both methods. ``instrument_token`` may be an :class:`~aioneo.Instrument` (its
        token is sent; ``exchange_segment`` may then be left out).
        """
        spec = requests.margin_required(
            exchange_segment=exchange_segment,
            price=price,
            order_type=order_type,
            product=product,
            quantity=quantity,
            instrument_token=instrument_token,
            transaction_type=transaction_type,
            trigger_price=trigger_price,
            broker_name=broker_name,
            branch_id=branch_id,
            stop_loss_type=stop_loss_type,
            stop_loss_value=stop_loss_value,
            square_off_type=square_off_type,
            square_off_value=square_off_value,
            trailing_stop_loss=trailing_stop_loss,
            trailing_sl_value=trailing_sl_value,
            validity=validity,
            trading_symbol=trading_symbol,
            amo=amo,
            disclosed_quantity=disclosed_quantity,
            tag=tag,
        )
        return models.parse_margin_required(self._call(spec))

    # -- market data ------------------------------------------------------------------------
    def instruments(
        self,
        segment: str,
        *,
        cache_dir: str | os.PathLike[str] | None = None,
        refresh: bool = False,
    ) -> InstrumentTable:
        """The scrip master of ``segment`` as a typed, indexed :class:`~aioneo.InstrumentTable`.

        ``segment`` is ``"nse_cm"``, ``"nse_fo"``, ``"bse_cm"``, ``"bse_fo"``, ``"mcx_fo"``,
        ``"cde_fo"`` or one of the SDK's aliases (``"NSE"``, ``"NFO"``, ...). The file is
        downloaded once per IST trading day and kept on disk for every process of the host
        (``cache_dir``, default ``$AIONEO_INSTRUMENTS_DIR`` or the user cache directory);
        later calls, in any process, parse the kept file, and a second call in the same
        process returns the same table at once. ``refresh=True`` downloads again. A
        header-only, truncated or garbled file is refused; the last good file is used with
        a warning, or :class:`~aioneo.InstrumentFileError` is raised when there is none.
        Concurrent calls share one download; two processes never download the same file at
        once (a file lock). See ``aioneo._instruments`` for the whole sequence.
        """
        _refuse_inside_event_loop("instruments")
        if self._closed:
            raise ClientClosedError("the client is closed")
        seg = canonical_segment(segment)
        key = cache_key(seg, trading_day(self._now()), cache_dir)

        def url_of() -> str:
            return scrip_url(self.scrip_master(), seg)

        def download(url: str, part: Path) -> None:
            http = self._bind("instruments")
            try:
                with http.stream("GET", url, extensions={"timeout": self._timeout_ext}) as response:
                    if response.status_code != 200:
                        raise download_refused(seg, response.status_code)
                    with open(part, "wb") as sink:
                        for chunk in response.iter_bytes(1 << 16):
                            sink.write(chunk)
            except httpx.TransportError as exc:
                raise download_failed(seg, exc) from exc
            except httpx.HTTPError as exc:
                raise download_garbled(seg, exc) from exc

        return self._flights.run(
            key, lambda: load_sync(key, refresh=refresh, url_of=url_of, download=download)
        )

    def search_scrip(
        self,
        exchange_segment: str,
        symbol: str = "",
        expiry: str | None = None,
        option_type: str | None = None,
        strike_price: str | None = None,
        ignore_50multiple: bool = True,
    ) -> list[Instrument]:
        """The SDK's ``search_scrip``, same name and keywords, typed and exact first.

        Loads the segment's table with :meth:`instruments` (so repeated calls cost
        microseconds, not a pandas parse per call) and filters it: see
        :meth:`InstrumentTable.search_scrip <aioneo.InstrumentTable.search_scrip>` for
        ``symbol`` (exact symbol first, unlike the SDK's substring match), ``expiry``
        (``DDMMMYYYY`` or a range), ``option_type`` (``CE``, ``PE``, ``FUT``) and
        ``strike_price`` (value, ``LOW-HIGH``, ``>X``, ``<X``). ``ignore_50multiple`` is
        accepted for SDK callers and, as in the SDK, changes nothing. Returns a list of
        :class:`~aioneo.Instrument`, sorted by strike; bad input raises ``ValueError``.
        """
        table = self.instruments(exchange_segment)
        return table.search_scrip(symbol, expiry, option_type, strike_price)

    def scrip_master(self) -> models.ScripMasterPaths:
        """The URLs of today's scrip-master CSV files (``for_segment`` picks one)."""
        return models.parse_scrip_master(self._call(requests.scrip_master()))

    def quotes(
        self,
        instrument_tokens: Sequence[InstrumentLike],
        *,
        quote_type: str = "all",
        missing: MissingMode = "ignore",
    ) -> list[models.Quote]:
        r"""Quotes for instruments (``"nse_cm|11536"``, the SDK's dicts or
        :class:`~aioneo.Instrument`\ s from :meth:`instruments`), in order.

        More than 50 instruments (Kotak's per-call cap) are split into several calls, sent
        one after another through the rate limiter; the results are concatenated.

        Kotak leaves an instrument it does not know out of its answer, so the list can be
        shorter than ``instrument_tokens`` (``[]`` when it knows none of them), and a
        quote's place in it is not its instrument's: read ``exchange_segment`` and
        ``exchange_token``. With ``missing="raise"``, any instrument without a quote raises
        :class:`~aioneo.NotFoundError` instead: ``.missing`` names each one as sent
        (``"nse_cm|99999"``, in the order given), ``.found`` holds the quotes that came
        back. The default, ``"ignore"``, returns what came back.
        """
        raise_missing = check_missing(missing)
        result: list[models.Quote] = []
        for spec in requests.quotes(instrument_tokens, quote_type=quote_type):
            result.extend(models.parse_quotes(self._call(spec)))
        if raise_missing:
            absent = missing_instruments(instrument_tokens, result)
            if absent:
                raise no_quotes(absent, asked=len(instrument_tokens), found=result)
        return result

    def expiries(
        self, *, exchange: str, underlying: str, instrument_type: str | None = None
    ) -> list[date]:
        """Expiry dates of an underlying, ascending."""
        spec = requests.expiries(
            exchange=exchange, underlying=underlying, instrument_type=instrument_type
        )
        return models.parse_expiries(self._call(spec))

    def option_chain(
        self,
        *,
        exchange: str,
        underlying: str,
        expiry: str | date | None = None,
        instrument_type: str | None = None,
        count: int | None = None,
    ) -> models.OptionChain:
        """The option chain of an underlying (nearest expiry when ``expiry`` is omitted)."""
        spec = requests.option_chain(
            exchange=exchange,
            underlying=underlying,
            expiry=expiry,
            instrument_type=instrument_type,
            count=count,
        )
        return models.parse_option_chain(self._call(spec))

    def historical_data(
        self, *, neosymbol: str, interval: str, from_date: str | date, to_date: str | date
    ) -> list[models.Candle]:
        """Candles for ``neosymbol`` (``seg|token``) between two dates, per ``interval``."""
        spec = requests.historical_data(
            neosymbol=neosymbol, interval=interval, from_date=from_date, to_date=to_date
        )
        return models.parse_historical_data(self._call(spec))

    # -- session ----------------------------------------------------------------------------
    def whatsmyip(self) -> models.ClientIp:
        """The IP address Kotak sees for this client (orders must come from a whitelisted one)."""
        return models.parse_whatsmyip(self._call(requests.whatsmyip()))

    # -- live feeds ---------------------------------------------------------------------
    def market_feed(
        self,
        *,
        url: str | None = None,
        capacity: int = DEFAULT_CAPACITY,
        overflow: str = "conflate",
        stall_timeout: float | None = None,
        max_reconnects: int | None = None,
        max_subscriptions: int = DEFAULT_MAX_SUBSCRIPTIONS,
    ) -> SyncMarketFeed:
        """The live market feed (:class:`~aioneo.MarketFeed`; ``NeoClient`` returns its
        blocking twin :class:`~aioneo.SyncMarketFeed`), a context manager: ``async with
        neo.market_feed() as feed:`` (``with`` for ``NeoClient``). Nothing connects until
        it is entered.

        ``url`` replaces the URL the config service (``config_url=`` of the client) or
        the login name. ``capacity`` items wait unread at most; then ``overflow``:
        ``"conflate"`` keeps the latest item per (instrument, mode), ``"drop_oldest"``,
        or ``"error"`` (the iterator raises :class:`~aioneo.FeedOverflowError`).
        ``stall_timeout`` seconds without a frame reconnect (``None``: no watchdog; a
        quiet market is not a dead socket). ``max_reconnects`` failed attempts in a row
        end the feed with :class:`~aioneo.FeedError` (``None``: never).
        """
        _refuse_inside_event_loop("market_feed")
        return SyncMarketFeed(
            self,
            url=url,
            capacity=capacity,
            overflow=overflow,
            stall_timeout=stall_timeout,
            max_reconnects=max_reconnects,
            max_subscriptions=max_subscriptions,
        )

    def order_feed(
        self,
        *,
        url: str | None = None,
        capacity: int = DEFAULT_ORDER_CAPACITY,
        stall_timeout: float | None = None,
        max_reconnects: int | None = None,
    ) -> SyncOrderFeed:
        """The live order and position feed (:class:`~aioneo.OrderFeed`; ``NeoClient``
        returns its blocking twin :class:`~aioneo.SyncOrderFeed`), a context manager:
        ``async with neo.order_feed() as updates:`` (``with`` for ``NeoClient``). Never
        conflated or dropped (more than ``capacity`` unread updates raise
        :class:`~aioneo.FeedOverflowError`), and reconciled with :meth:`order_report`
        after every connect."""
        _refuse_inside_event_loop("order_feed")
        return SyncOrderFeed(
            self,
            url=url,
            capacity=capacity,
            stall_timeout=stall_timeout,
            max_reconnects=max_reconnects,
        )

    def logout(self) -> None:
        """End the session on the server (the SDK only forgets it locally); idempotent.

        Without a live session nothing is sent. A "session expired" answer counts as logged
        out. The next call after a logout logs in again. A login in flight is waited for
        (a TOTP-step wait included) and the session it produced is ended: logout wins.
        The client's open feeds are closed first (their readers get ``FeedClosedError``):
        a feed that outlived the logout would take the server's close as an expiry and
        log in again, undoing the logout.
        """
        http = self._bind("logout")
        with self._session.data:
            feeds = list(self._feeds)
        for feed in feeds:
            feed.close()
        gate = self._session
        machine = gate.machine
        while True:
            with gate.data:
                ticket, event = machine.ticket, gate._event
                session = machine.session
                if ticket is None:
                    if session is None or session.epoch <= machine.dead_epoch:
                        machine.logged_out()
                        return
                    break
            # Logout wins over a login in flight (issue 10 item 6): wait for it to end,
            # then end the session it produced, instead of letting it install a live one.
            assert event is not None
            gate._wait(ticket, event, self)
        spec = requests.logout()
        try:
            response = self._send(http, spec, session)
        except NoResponse as exc:
            step = after_failure(
                spec,
                exc.failure,
                retries=0,
                jitter=self._random.random(),
                timeout=self._timeout,
                host=exc.host,
                cause=exc.cause,
            )
            assert step.error is not None
            raise step.error from None
        result = classify(response.status_code, response.content, response.headers)
        if result.outcome not in (Outcome.SUCCESS, Outcome.SESSION_EXPIRED):
            raise error_for(spec, result)
        with gate.data:
            machine.logged_out(session.epoch)
        logger.info("logged out")
