"""AsyncNeoClient: the asyncio shell around ``aioneo._core``.

The shell only locks, sends, awaits and sleeps; every decision (is this "session
expired"? retry? which exception?) is made by the core. See ``design.md`` "The relogin
contract" for the rules this file implements, item by item:

1. responses are classified by ``_core._classify.classify`` (one table);
2. "session expired" for a request sent with epoch *e* goes to
   ``SessionMachine.on_expired``: retry at once when the epoch is already newer, wait for
   a login in flight, or lead one;
3. each session object (``_AsyncSession``) carries one ``asyncio.Lock`` and one
   ``asyncio.Event`` per login, created lazily inside the running loop; the lock is held
   only by the login task, around the login's own network calls, never around a
   protected request;
4. the login runs as a task owned by the session; callers wait on its event, so
   cancelling the caller that started it cancels nobody else (scenario 17), and if every
   waiter is cancelled the login still completes and is stored for the next caller
   (scenario 18: the policy is "finish and keep"); the login's network steps have their
   own deadline (``login_timeout``);
5. the leader's outcome goes to every waiter at once (a copy of the same exception);
6. no two logins use the same TOTP step;
7. one relogin per call at most;
8. calls that start while a login is in flight wait for it.

Beyond one process (``session_store=``, ``aioneo._stores``): the login task first reads
the store and adopts a newer session another process wrote; otherwise it takes the
store's login lock (polling, and adopting a sibling's session the moment it appears),
reads the store again under the lock, and logs in only if it still has to. The new
session is published to the waiters first, then written to the store once, outside the
session's ``asyncio.Lock``, and only then is the store's lock released. Store calls run
in worker threads (``asyncio.to_thread``), except for a ``MemorySessionStore``.

Proactive refresh (``refresh_ahead``): a call that finds the session due starts a login
task and is sent at once with the current session; see ``_core/_refresh.py``.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import os
import random
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import date
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import anyio
import httpx

from . import _models as models
from ._backends import PoolTransports
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
from ._feeds_async import FeedBase, MarketFeed, OrderFeed
from ._feeds_shared import check_config_url, text_or_none
from ._instruments import (
    AsyncFlights,
    cache_key,
    download_failed,
    download_garbled,
    download_refused,
    load_async,
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
from ._stores import MemorySessionStore, SessionStore, account_key, lock_owner, store_option

__all__ = ["AsyncNeoClient"]

logger = logging.getLogger("aioneo")


class _AsyncSession:
    """One session: the core machine plus the asyncio primitives that act on it.

    Bound to one event loop: the primitives are created lazily in the loop that first
    uses the client, and created again if that loop has been closed and a new one runs.
    """

    __slots__ = (
        "_event",
        "_holds",
        "_lock",
        "_reported",
        "_taken",
        "_task",
        "_ticket",
        "machine",
    )

    def __init__(self, machine: SessionMachine) -> None:
        self.machine = machine
        self._lock: asyncio.Lock | None = None
        self._event: asyncio.Event | None = None
        self._ticket: LoginTicket | None = None
        self._task: asyncio.Task[None] | None = None
        #: Tasks keeping a shared store's lock after a failed login, by lock owner.
        self._holds: dict[str, asyncio.Task[None]] = {}
        #: Owners whose hold a new login of this client took over (see take_hold).
        self._taken: set[str] = set()
        #: The relogin-loop error last logged (logged once per opening of the breaker).
        self._reported: ReloginLoopError | None = None

    def rebind(self) -> None:
        """Fresh primitives for a new loop; a login of a dead loop will never finish."""
        self._lock = asyncio.Lock()
        self._event = None
        self._ticket = None
        self._task = None
        self._holds = {}
        self._taken = set()
        self.machine.abandon_login()

    async def follow(self, decision: Decision, client: AsyncNeoClient) -> Session | None:
        """Act on a decision; return the session to use, or None to ask again."""
        action = decision.action
        if action is Action.SEND:
            if decision.ticket is not None:  # due for a proactive refresh: start it, send
                self._start_login(decision.ticket, client)
            return decision.session
        if action is Action.RETRY:
            return None
        if action is Action.FAIL:
            error = decision.error
            assert error is not None
            if isinstance(error, ReloginLoopError) and error is not self._reported:
                self._reported = error
                logger.warning("automatic logins paused: %s", error)
            raise copy.copy(error)
        ticket = decision.ticket
        assert ticket is not None
        if action is Action.LEAD:
            self._start_login(ticket, client)
        await self._wait(ticket)
        if ticket.error is not None and not ticket.stale:
            raise copy.copy(ticket.error)
        return None

    def _start_login(self, ticket: LoginTicket, client: AsyncNeoClient) -> None:
        # Synchronous with the decision that created the ticket: no waiter can observe
        # the ticket before its event exists.
        self._event = asyncio.Event()
        self._ticket = ticket
        self._task = asyncio.get_running_loop().create_task(
            self._run_login(ticket, self._event, client), name=f"aioneo-login-{ticket.number}"
        )

    async def _wait(self, ticket: LoginTicket) -> None:
        if ticket.done:
            return
        assert self._ticket is ticket
        assert self._event is not None
        await self._event.wait()

    async def _run_login(
        self, ticket: LoginTicket, event: asyncio.Event, client: AsyncNeoClient
    ) -> None:
        assert self._lock is not None
        machine = self.machine
        obtained: Obtained | None = None
        try:
            async with self._lock:
                obtained = await client._obtain_session(self, ticket)
        except asyncio.CancelledError:
            machine.login_failed(
                ticket, ClientClosedError("the client was closed during login"), 0.0, 0.0
            )
            raise
        except NeoError as exc:
            soft = machine.login_failed(ticket, exc, client._now(), client._random.random())
            if not soft:
                logger.warning("login failed: %s", exc)
            else:
                # Scenario 15: logged once per streak of failed refreshes.
                log = logger.warning if machine.refresh.failures == 1 else logger.debug
                due = machine.refresh.due_at
                log(
                    "proactive refresh failed; the current session stays in use, next "
                    "attempt in %.0f s: %s",
                    max(0.0, (due or 0.0) - client._now()),
                    exc,
                )
        except Exception as exc:  # a bug, or an exception from a user-provided transport
            logger.exception("login failed unexpectedly")
            error = TransientLoginError(f"login failed unexpectedly: {type(exc).__name__}")
            machine.login_failed(ticket, error, client._now(), client._random.random())
        else:
            session = obtained.session
            machine.login_succeeded(
                ticket, session, adopted=obtained.adopted, jitter=client._random.random()
            )
            logger.info(
                "%s: epoch %d, generation %d, data center %s",
                "adopted the session another client wrote to the store"
                if obtained.adopted
                else "logged in",
                session.epoch,
                session.generation,
                session.data_center or "?",
            )
        finally:
            # Publishing (above) and waking the waiters (here) happen with no await in
            # between, so a cancellation cannot split them (scenario 22).
            event.set()
        if obtained is not None and obtained.owner is not None:
            # Scenario 42: written once per login, after the waiters have their session,
            # outside the session lock; the store's lock is released whatever happens.
            await client._persist(obtained.record, obtained.owner)

    def _hold_lock(self, client: AsyncNeoClient, owner: str, seconds: float) -> None:
        """Keep a shared store's lock for ``seconds``, then release it, in the background."""

        async def hold() -> None:
            release = True
            try:
                await asyncio.sleep(seconds)
            except asyncio.CancelledError:
                release = owner not in self._taken  # taken over: the lock stays held
                raise
            finally:
                if self._holds.get(owner) is task:
                    del self._holds[owner]
                self._taken.discard(owner)
                if release:
                    await client._release(owner)

        if self.machine.closed:  # aclose() has already ended the holds: release now
            if client._store_inline:
                release_quietly(client._store, owner)
            else:  # a store call blocks: not on the loop, and not awaited by a closed client
                threading.Thread(
                    target=release_quietly, args=(client._store, owner), daemon=True
                ).start()
            return
        task = asyncio.get_running_loop().create_task(hold(), name="aioneo-login-lock-hold")
        self._holds[owner] = task

    def take_hold(self) -> str | None:
        """The owner of a store lock this client keeps after a failed login, taken over by
        a new login of this client (which keeps it: no gap a sibling could use), or None.

        The hold keeps *siblings* off the TOTP step that login may have spent; this client's
        own machine knows that step and never plans it again, so it need not wait.
        """
        for owner, task in list(self._holds.items()):
            if not task.done():
                del self._holds[owner]
                self._taken.add(owner)
                task.cancel()
                return owner
        return None

    async def close(self) -> None:
        ticket = self.machine.close()
        task = self._task
        pending = [t for t in self._holds.values() if not t.done()]
        for hold in pending:
            hold.cancel()  # releases the store lock it kept
        if task is not None and not task.done():
            if ticket is not None:
                task.cancel()
            # Without a ticket the task is writing a published session to the store: let
            # it finish. wait() does not re-raise the task's CancelledError, but a
            # cancellation of aclose() itself still propagates.
            pending.append(task)
        if pending:
            await asyncio.wait(pending)


class AsyncNeoClient:
    """Asyncio client for the Kotak Neo Trade API.

    >>> async with AsyncNeoClient(Credentials.from_env()) as neo:  # doctest: +SKIP
    ...     positions = await neo.positions()

    Logs in lazily on the first call (or explicitly with :meth:`login`). When the session
    dies, any number of concurrent calls cause exactly one login; the others wait for it
    and are then replayed with the new session. Calls that fail for good raise a
    :class:`~aioneo.NeoError` subclass.

    Concurrency: share one client between all tasks of one event loop. The client binds
    to the loop that first uses it; using it from another running loop raises
    ``RuntimeError``; after that loop has closed, a new loop may use it.

    ``timeout`` bounds each network step of a request (connect, write, read), not the
    time a call waits in the client's queue, for the rate limiter or for an in-flight
    login. ``max_connections`` bounds the requests on the wire; the rest queue inside the
    client (cheaply), so the cost per request does not grow with the number of callers.
    Logins use a separate pool of their own, so a login never queues behind the requests
    it is rescuing; ``login_timeout`` bounds its two network steps together.

    ``rate_limit`` is requests per second per session (Kotak documents 10); ``None`` turns
    the client-side limiter off. Clients that share a ``session_store`` share one limiter,
    at the lowest rate any of them asked for; a :class:`~aioneo.RedisSessionStore` keeps
    it on Redis, for every host. ``transport`` replaces the network: an
    ``httpx.AsyncBaseTransport`` (for example ``aioneo.testing.Emulator().transport()``;
    a synchronous one raises ``TypeError`` here, it belongs to ``NeoClient``). ``clock``
    returns unix time and is used for TOTP codes and session expiry (tests shift it, for
    example with ``aioneo.testing.StepClock``; keep the default otherwise).

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
    jittered), a call starts one login in the background and is itself sent with the
    current session; later calls keep using it until the new one is published. A failed
    refresh is logged once and retried after a backoff; callers see nothing until the
    session really ends. ``None`` turns it off; a token without an expiry is never
    refreshed. No background task runs between calls.

    ``max_relogins`` logins caused by "session expired" within ``relogin_window`` seconds
    open a breaker: further automatic logins raise :class:`~aioneo.ReloginLoopError` until
    the oldest leaves the window (another program logging in with the same account keeps
    ending this session; see the error). ``None`` turns the breaker off.

    ``http_backend`` picks the HTTP stack under httpx: ``"httpx"`` (the default: httpcore's
    own transport) or ``"aiohttp"`` (``pip install 'aioneo[aiohttp]'``: aioneo's transport
    over aiohttp, about a third of the CPU per request at one caller and a fifth at a thousand).
    Both keep the same promises: a failure before the request could be written is "not
    sent", any later one leaves an order's outcome unknown; ``timeout``, ``max_connections``
    and the separate login pool are honoured alike; see ``aioneo/_aiohttp.py``. With
    ``"aiohttp"`` the client makes its own transports: ``transport`` must be ``None``.

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
        transport: httpx.AsyncBaseTransport | None = None,
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
            sync=False,
        )
        self._credentials = credentials
        self._timeout = timeout
        # Sent as each request's timeout extension: connect, write and read are bounded;
        # waiting for a pooled connection is not (the client's own queue bounds that).
        self._timeout_ext = httpx.Timeout(timeout, pool=None).as_dict()
        self._login_timeout = login_timeout
        self._max_connections = max_connections
        self._neo_fin_key = neo_fin_key
        self._transport = transport
        check_http_backend(http_backend, transport=transport, sync=False)
        self._transports = PoolTransports(http_backend, transport, max_connections=max_connections)
        self._clock = clock or time.time
        self._random = random.Random()
        # The TOTP-step wait sleeps through this; a test seam (a fake clock advances instead).
        self._sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
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
        self._store_inline = isinstance(self._store, MemorySessionStore)
        self._session = _AsyncSession(
            SessionMachine(
                login_cooldown=login_cooldown,
                refresh_ahead=refresh_ahead,
                max_relogins=max_relogins,
                relogin_window=relogin_window,
            )
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._http: httpx.AsyncClient | None = None
        self._login_http: httpx.AsyncClient | None = None
        self._sockets: Sockets | None = None  # those of the two pools, made with them
        self._slots: asyncio.Semaphore | None = None
        self._closed = False
        self._flights = AsyncFlights()
        # The live feeds (aioneo._feeds_async): closed with the client.
        self._config_url = check_config_url(config_url)
        self._feed_endpoints: dict[str | None, FeedEndpoints] = {}
        self._feeds: set[FeedBase[Any]] = set()

    # -- lifecycle ----------------------------------------------------------------------
    async def __aenter__(self) -> Self:
        self._bind()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            await self.aclose()
            return
        try:
            await self.aclose()
        except Exception as error:  # logged: the exception leaving the block goes on
            report_masked(error, exc)

    async def aclose(self) -> None:
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
        for feed in list(self._feeds):
            with steps.step("closing a feed"):
                await feed.close()
        if self._loop is not None and self._loop.is_closed():
            # Closed from a later loop: the last loop's login and connections cannot be
            # awaited any more; the login is abandoned, the sockets are released.
            with steps.step("releasing the connections of the closed event loop"):
                self._session.rebind()
                self._drop_closed_loop()
        with steps.step("ending the login in flight"):
            await self._session.close()
        if self._sockets is not None:
            self._sockets.close()  # a connection made from now on is shut down at once
        for http in (self._http, self._login_http):
            if http is not None:
                with steps.step("closing a connection pool"):
                    await http.aclose()
        steps.raise_first()

    def _drop_closed_loop(self) -> None:
        """Forget the pools of the closed loop this client was bound to, releasing their
        sockets first: closing them the asyncio way needs that loop (see ``_lifecycle``)."""
        loop, sockets = self._loop, self._sockets
        if loop is not None and sockets is not None:
            sockets.release(loop)
        self._transports.release_closed_loop()
        self._http = self._login_http = None
        self._sockets = None

    def _bind(self) -> tuple[httpx.AsyncClient, asyncio.Semaphore]:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            if self._loop is not None and not self._loop.is_closed():
                raise RuntimeError(
                    "this AsyncNeoClient is bound to another running event loop; "
                    "create one client per event loop"
                )
            if self._closed:  # no new pools for a closed client
                raise ClientClosedError("the client is closed")
            self._drop_closed_loop()
            self._loop = loop
            self._session.rebind()
            if self._store_private:  # a login of the closed loop is gone with it
                assert isinstance(self._store, MemorySessionStore)
                self._store._free_lock()
            self._slots = asyncio.Semaphore(self._max_connections)
            timeout = httpx.Timeout(self._timeout, pool=None)
            sockets = self._sockets = Sockets()
            self._http = httpx.AsyncClient(
                transport=self._transports.trading,
                timeout=timeout,
                limits=httpx.Limits(
                    max_connections=self._max_connections,
                    max_keepalive_connections=self._max_connections,
                ),
                event_hooks=sockets.async_hooks(),
            )
            self._login_http = httpx.AsyncClient(
                transport=self._transports.login,
                timeout=httpx.Timeout(self._timeout, pool=None),
                limits=httpx.Limits(
                    max_connections=LOGIN_CONNECTIONS, max_keepalive_connections=LOGIN_CONNECTIONS
                ),
                event_hooks=sockets.async_hooks(),
            )
        if self._closed:
            raise ClientClosedError("the client is closed")
        assert self._http is not None
        assert self._slots is not None
        return self._http, self._slots

    def _now(self) -> float:
        return self._clock()

    # -- observability ------------------------------------------------------------------
    @property
    def stats(self) -> SessionStats:
        """A snapshot of the relogin counters (logins, coalesced callers, stragglers, ...)."""
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
        self._credentials = credentials
        # A login in flight keeps the credentials it started with; if it fails, that
        # decides nothing: its callers try again with these (issue 10 item 3).
        self._session.machine.credentials_changed()

    # -- login --------------------------------------------------------------------------
    async def login(self) -> SessionInfo:
        """Log in now (TOTP step, then MPIN step) and return the new session's facts.

        If a login is already in flight, waits for it instead of starting another. An
        explicit call clears a cached fatal login error and any cooldown. With a shared
        session store holding a newer session of this account (another process logged
        in), that session is adopted instead, and no TOTP code is used.
        """
        self._bind()
        machine = self._session.machine
        while True:
            decision = machine.login_decision()
            await self._session.follow(decision, self)
            assert decision.ticket is not None
            if not decision.ticket.stale:  # else: credentials changed meanwhile, again
                break
        session = decision.ticket.session
        assert session is not None
        return SessionInfo.of(session)

    async def _login_flow(
        self,
        machine: SessionMachine,
        *,
        generation: int = 0,
        progress: LoginProgress | None = None,
        ticket: LoginTicket | None = None,
        renew: Callable[[float], Awaitable[object]] | None = None,
    ) -> Session:
        """The two login steps. Runs inside the login task, under the session lock.

        A refused TOTP code is tried once more with the next step's code (``retry_totp``);
        ``renew(wait)`` then extends a shared store's lock lease over that wait.
        """
        http = self._login_http
        assert http is not None
        progress = progress or LoginProgress()
        # One set of credentials for the whole login; the ticket records which (item 3).
        credentials = self._credentials
        if ticket is not None:
            ticket.version = machine.credentials_version
        consumer_key, mpin = credentials._secret_fields()
        attempt = 0
        while True:
            plan = machine.plan_totp(self._now())
            progress.step, progress.sent, progress.refused = plan.step, False, False
            if plan.wait > 0:
                logger.info("waiting %.1f s for a fresh TOTP step: %s", plan.wait, plan.reason)
                if renew is not None and attempt > 0:
                    await renew(plan.wait)
                await self._sleep(plan.wait)
            code = credentials.totp_code(plan.at)
            machine.totp_used(plan.step)
            try:
                async with asyncio.timeout(self._login_timeout):
                    progress.sent = True
                    try:
                        view, _ = await self._login_step(
                            http,
                            "login",
                            requests.totp_login(
                                mobile_number=credentials.mobile_number,
                                ucc=credentials.ucc,
                                totp=code,
                            ),
                            consumer_key,
                            ("token", "sid"),
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
                    trade, server_date = await self._login_step(
                        http,
                        "validate",
                        requests.totp_validate(mpin=mpin),
                        consumer_key,
                        ("token", "sid", "baseUrl"),
                        view_token=str(view["token"]),
                        view_sid=str(view["sid"]),
                    )
            except TimeoutError:
                raise TransientLoginError(
                    f"login did not finish within login_timeout={self._login_timeout:g} s"
                ) from None
            break
        data_center = trade.get("dataCenter")
        ucc = trade.get("ucc")
        return new_session(
            token=str(trade["token"]),
            sid=str(trade["sid"]),
            base_url=str(trade["baseUrl"]),
            epoch=machine.next_epoch(),
            now=self._now(),
            data_center=str(data_center) if data_center is not None else None,
            ucc=str(ucc) if ucc is not None else None,
            generation=generation or machine.next_generation(),
            server_date=server_date,
            feed_url=text_or_none(trade.get("feedUrl")),
            rt_url=text_or_none(trade.get("rtUrl")),
        )

    async def _login_step(
        self,
        http: httpx.AsyncClient,
        step: str,
        spec: RequestSpec,
        consumer_key: str,
        require: tuple[str, ...],
        *,
        view_token: str | None = None,
        view_sid: str | None = None,
        retried: bool = False,
    ) -> tuple[dict[str, Any], float | None]:
        """One login step; returns its ``data`` and the server's ``Date``, if any."""
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
            extensions={"timeout": self._timeout_ext},
        )
        try:
            response = await self._transports.send(http, request, login=True)
        except httpx.TransportError as exc:
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
    async def _store_io(self, action: str, call: Callable[..., Any], *args: Any) -> Any:
        """One store call: inline for a memory store, else in a worker thread. Anything
        but a ``SessionStoreError`` becomes one that names the action, never the data."""
        try:
            if self._store_inline:
                return call(*args)
            return await asyncio.to_thread(call, *args)
        except SessionStoreError:
            raise
        except Exception as exc:
            raise SessionStoreError(
                f"session store {type(self._store).__name__}: {action} failed "
                f"({type(exc).__name__})"
            ) from exc

    async def _try_lock(self, owner: str, ttl: float) -> bool:
        """One non-blocking attempt at the store's login lock, safe against cancellation:
        a lock the worker thread takes after this task was cancelled is released."""
        store = self._store
        if self._store_inline:
            return bool(await self._store_io("locking", store.acquire_lock, owner, ttl))
        mutex = threading.Lock()
        state = {"abandoned": False, "acquired": False}

        def attempt() -> bool:
            got = store.acquire_lock(owner, ttl)
            with mutex:
                if state["abandoned"]:
                    if got:
                        release_quietly(store, owner)
                    return False
                state["acquired"] = got
            return got

        try:
            return bool(await self._store_io("locking", attempt))
        except asyncio.CancelledError:
            with mutex:
                state["abandoned"] = True
                acquired = state["acquired"]
            if acquired:
                threading.Thread(target=release_quietly, args=(store, owner), daemon=True).start()
            raise

    async def _release(self, owner: str) -> None:
        """Release the store's login lock; never raises (a failure is logged)."""
        if self._store_inline:
            release_quietly(self._store, owner)
            return
        # The worker thread runs to the end even if this await is cancelled.
        await asyncio.shield(asyncio.to_thread(release_quietly, self._store, owner))

    async def _persist(self, record: StoredSession | None, owner: str) -> None:
        """Write a new login to the store (once), then release the store's lock."""
        try:
            if record is not None:
                try:
                    await self._store_io("writing", self._store.save, record)
                except SessionStoreError as exc:
                    logger.warning(
                        "the new session could not be written to the session store; other "
                        "processes will log in by themselves: %s",
                        exc,
                    )
        finally:
            await self._release(owner)

    async def _obtain_session(self, gate: _AsyncSession, ticket: LoginTicket) -> Obtained:
        """Adopt a newer stored session, or log in under the store's lock (scenario 41).

        Runs inside the login task. On success with a login of its own, the store's lock
        is still held (``Obtained.owner``): the caller publishes, writes, releases.
        """
        machine = gate.machine
        store = self._store
        account = self._credentials.ucc
        owner = gate.take_hold() or lock_owner()
        lease = login_lease(self._login_timeout)
        wait_limit = longest_lease(self._login_timeout) + STORE_WAIT_MARGIN
        give_up = time.monotonic() + wait_limit
        while True:
            stored = await self._store_io("reading", store.load)
            if should_adopt(
                stored, generation=machine.generation, account=account, now=self._now()
            ):
                assert stored is not None
                return self._adopt(machine, stored)
            if await self._try_lock(owner, lease):
                break
            if time.monotonic() >= give_up:
                raise SessionStoreError(
                    f"another client has held the login lock of {store!r} for more than "
                    f"{wait_limit:.0f} s; not logging in without it"
                )
            await asyncio.sleep(STORE_POLL * (0.5 + self._random.random()))
        progress = LoginProgress()
        try:
            stored = await self._store_io("reading", store.load)
            if should_adopt(
                stored, generation=machine.generation, account=account, now=self._now()
            ):
                assert stored is not None
                await self._release(owner)
                return self._adopt(machine, stored)
            if stored is not None and stored.totp_step is not None:
                machine.totp_used(stored.totp_step)  # a sibling's step is spent too
            totp_wait = machine.plan_totp(self._now()).wait
            if totp_wait > 0:  # renew the lease: this login will first wait for a step
                await self._try_lock(owner, login_lease(self._login_timeout, totp_wait))
            generation = machine.next_generation(stored.generation if stored else None)
            session = await self._login_flow(
                machine,
                generation=generation,
                progress=progress,
                ticket=ticket,
                renew=lambda wait: self._try_lock(owner, login_lease(self._login_timeout, wait)),
            )
        except BaseException:
            hold = 0.0
            if not self._store_private:
                hold = failed_login_hold(
                    self._now(), progress.step, code_may_be_used=progress.code_may_be_used
                )
            if hold > 0:
                gate._hold_lock(self, owner, hold)
            else:
                await self._release(owner)
            raise
        record = record_of(session, account=account, totp_step=machine.last_totp_step)
        return Obtained(session, adopted=False, owner=owner, record=record)

    def _adopt(self, machine: SessionMachine, stored: StoredSession) -> Obtained:
        if stored.totp_step is not None:
            machine.totp_used(stored.totp_step)
        return Obtained(session_of(stored, epoch=machine.next_epoch()), adopted=True)

    # -- the protected call -------------------------------------------------------------
    async def _call(self, spec: RequestSpec) -> Any:
        """Send one protected call under the relogin contract; return the decoded body."""
        http, slots = self._bind()
        gate = self._session
        machine = gate.machine
        auth_retries = retries = forgiven = 0
        replayed = False
        while True:
            no_answer: NoResponse | None = None
            async with slots:
                session = await self._current_session()
                limiter = self._limiter
                if limiter is not None:
                    # Reserved once the session is known (a login wait must not eat the
                    # schedule); the session is read again after the wait (scenario 5).
                    # A Redis reservation is a round trip: in a worker thread, like the
                    # store's calls. It never raises (Redis failing: a local schedule).
                    if limiter.blocking:
                        wait = await asyncio.to_thread(limiter.reserve)
                    else:
                        wait = limiter.reserve()
                    if wait > 0:
                        await asyncio.sleep(wait)
                        session = await self._current_session()
                try:
                    response = await self._send(http, spec, session)
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
                return await self._reconcile(spec, step.error)
            if step.kind is StepKind.RELOGIN:
                auth_retries += 1
                replayed = True
                await gate.follow(machine.on_expired(session.epoch, self._now()), self)
                continue
            if step.kind is StepKind.RETRY:
                retries += 1
                await asyncio.sleep(step.delay)
                continue
            assert step.error is not None
            raise step.error

    async def _current_session(self) -> Session:
        """The session to send with now: waits for, or leads, a login when needed."""
        gate = self._session
        while True:
            session = await gate.follow(gate.machine.acquire(self._now()), self)
            if session is not None:
                return session

    async def _send(
        self, http: httpx.AsyncClient, spec: RequestSpec, session: Session
    ) -> httpx.Response:
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
        if self._closed:
            raise ClientClosedError("the client was closed before the call was sent")
        try:
            return await self._transports.send(http, request, login=False)
        except httpx.TransportError as exc:
            if self._closed:  # an order that may have been sent: outcome unknown
                raise closed_during(spec, failure_of(exc)) from exc
            raise no_response(exc, request) from exc

    async def _reconcile(self, spec: RequestSpec, error: NeoError | None) -> dict[str, Any]:
        """A replayed order failed or was refused as a duplicate: read the order book.

        ``_core._reconcile.reconcile`` decides whether an order in the book is this call's
        (its tag in one of Kotak's forms *and* its fields as sent); ``after_reconcile`` turns
        that into the result or the exception. A failed read is "unknown".
        """
        assert spec.tag is not None
        try:
            orders = await self.order_report()
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
    async def place_order(
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
        return models.parse_place_order(await self._call(spec), tag=spec.tag)

    async def modify_order(
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
        return models.parse_modify_order(await self._call(spec), order_id=order_id)

    async def cancel_order(
        self, order_id: str, *, amo: str = "NO", isVerify: bool = False
    ) -> models.OrderResult:
        """Cancel an order (``quick/order/cancel``). ``isVerify`` is kept for SDK callers."""
        spec = requests.cancel_order(order_id, amo=amo, isVerify=isVerify)
        return models.parse_cancel_order(await self._call(spec), order_id=order_id)

    async def find_order(self, tag: str) -> models.Order | None:
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
        return lookup(tag, await self.order_report())

    # -- reports --------------------------------------------------------------------------
    async def order_report(self, order_id: str | None = None) -> list[models.Order]:
        """The order book, or the rows of one order when ``order_id`` is given."""
        return models.parse_order_report(await self._call(requests.order_report(order_id)))

    async def order_history(
        self, order_id: str, *, missing: MissingMode = "ignore"
    ) -> list[models.OrderHistoryEntry]:
        """Every state of one order, newest first (``quick/order/history``).

        An order has at least one state, so ``[]`` means the account has no order
        ``order_id`` (Kotak answers "No Data" for an unknown number, as for an empty book).
        With ``missing="raise"`` that raises :class:`~aioneo.NotFoundError` instead
        (``.missing == (order_id,)``); the default, ``"ignore"``, returns ``[]``.
        """
        raise_missing = check_missing(missing)
        history = models.parse_order_history(await self._call(requests.order_history(order_id)))
        if raise_missing and not history:
            raise no_history(order_id)
        return history

    async def trade_report(self) -> list[models.Trade]:
        """The day's fills (``quick/user/trades``)."""
        return models.parse_trade_report(await self._call(requests.trade_report()))

    # -- portfolio and funds ----------------------------------------------------------------
    async def positions(self) -> list[models.Position]:
        """Open positions of the day (``portfolio/v2/positions``)."""
        return models.parse_positions(await self._call(requests.positions()))

    async def holdings(self) -> list[models.Holding]:
        """Long-term holdings (``portfolio/v1/holdings``)."""
        return models.parse_holdings(await self._call(requests.holdings()))

    async def limits(
        self, segment: str = "ALL", exchange: str = "ALL", product: str = "ALL"
    ) -> models.Limits:
        """Funds and margin limits (``quick/user/limits``)."""
        return models.parse_limits(
            await self._call(requests.limits(segment=segment, exchange=exchange, product=product))
        )

    async def margin_required(
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
        return models.parse_margin_required(await self._call(spec))

    # -- market data ------------------------------------------------------------------------
    async def instruments(
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
        if self._closed:
            raise ClientClosedError("the client is closed")
        seg = canonical_segment(segment)
        key = cache_key(seg, trading_day(self._now()), cache_dir)

        async def url_of() -> str:
            return scrip_url(await self.scrip_master(), seg)

        async def download(url: str, part: Path) -> None:
            http, _ = self._bind()
            try:
                async with http.stream(
                    "GET", url, extensions={"timeout": self._timeout_ext}
                ) as response:
                    if response.status_code != 200:
                        raise download_refused(seg, response.status_code)
                    # Written in worker threads: the event loop never blocks on the disk.
                    async with await anyio.open_file(part, "wb") as sink:
                        async for chunk in response.aiter_bytes(1 << 16):
                            await sink.write(chunk)
            except httpx.TransportError as exc:
                raise download_failed(seg, exc) from exc
            except httpx.HTTPError as exc:
                raise download_garbled(seg, exc) from exc

        return await self._flights.run(
            key, lambda: load_async(key, refresh=refresh, url_of=url_of, download=download)
        )

    async def search_scrip(
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
        table = await self.instruments(exchange_segment)
        return table.search_scrip(symbol, expiry, option_type, strike_price)

    async def scrip_master(self) -> models.ScripMasterPaths:
        """The URLs of today's scrip-master CSV files (``for_segment`` picks one)."""
        return models.parse_scrip_master(await self._call(requests.scrip_master()))

    async def quotes(
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
            result.extend(models.parse_quotes(await self._call(spec)))
        if raise_missing:
            absent = missing_instruments(instrument_tokens, result)
            if absent:
                raise no_quotes(absent, asked=len(instrument_tokens), found=result)
        return result

    async def expiries(
        self, *, exchange: str, underlying: str, instrument_type: str | None = None
    ) -> list[date]:
        """Expiry dates of an underlying, ascending."""
        spec = requests.expiries(
            exchange=exchange, underlying=underlying, instrument_type=instrument_type
        )
        return models.parse_expiries(await self._call(spec))

    async def option_chain(
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
        return models.parse_option_chain(await self._call(spec))

    async def historical_data(
        self, *, neosymbol: str, interval: str, from_date: str | date, to_date: str | date
    ) -> list[models.Candle]:
        """Candles for ``neosymbol`` (``seg|token``) between two dates, per ``interval``."""
        spec = requests.historical_data(
            neosymbol=neosymbol, interval=interval, from_date=from_date, to_date=to_date
        )
        return models.parse_historical_data(await self._call(spec))

    # -- session ----------------------------------------------------------------------------
    async def whatsmyip(self) -> models.ClientIp:
        """The IP address Kotak sees for this client (orders must come from a whitelisted one)."""
        return models.parse_whatsmyip(await self._call(requests.whatsmyip()))

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
    ) -> MarketFeed:
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
        return MarketFeed(
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
    ) -> OrderFeed:
        """The live order and position feed (:class:`~aioneo.OrderFeed`; ``NeoClient``
        returns its blocking twin :class:`~aioneo.SyncOrderFeed`), a context manager:
        ``async with neo.order_feed() as updates:`` (``with`` for ``NeoClient``). Never
        conflated or dropped (more than ``capacity`` unread updates raise
        :class:`~aioneo.FeedOverflowError`), and reconciled with :meth:`order_report`
        after every connect."""
        return OrderFeed(
            self,
            url=url,
            capacity=capacity,
            stall_timeout=stall_timeout,
            max_reconnects=max_reconnects,
        )

    async def logout(self) -> None:
        """End the session on the server (the SDK only forgets it locally); idempotent.

        Without a live session nothing is sent. A "session expired" answer counts as logged
        out. The next call after a logout logs in again. A login in flight is waited for
        (a TOTP-step wait included) and the session it produced is ended: logout wins.
        The client's open feeds are closed first (their readers get ``FeedClosedError``):
        a feed that outlived the logout would take the server's close as an expiry and
        log in again, undoing the logout.
        """
        http, _ = self._bind()
        for feed in list(self._feeds):
            await feed.close()
        gate = self._session
        machine = gate.machine
        while machine.ticket is not None:
            # Logout wins over a login in flight (issue 10 item 6): wait for it to end,
            # then end the session it produced, instead of letting it install a live one.
            await gate._wait(machine.ticket)
        session = machine.session
        if session is None or session.epoch <= machine.dead_epoch:
            machine.logged_out()
            return
        spec = requests.logout()
        try:
            response = await self._send(http, spec, session)
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
        machine.logged_out(session.epoch)
        logger.info("logged out")
