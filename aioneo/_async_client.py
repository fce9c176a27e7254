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
"""

from __future__ import annotations

import asyncio
import copy
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import date
from types import TracebackType
from typing import Any, Self

import httpx

from . import _models as models
from ._core import _requests as requests
from ._core._classify import LoginOutcome, Outcome, classify, classify_login
from ._core._policy import (
    Failure,
    StepKind,
    after_failure,
    after_response,
    error_for,
    login_error,
    login_failure,
    unknown_outcome,
)
from ._core._protocol import RequestSpec
from ._core._ratelimit import RateLimiter
from ._core._render import render
from ._core._requests import InstrumentLike, PriceLike, QuantityLike
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
from ._exceptions import ClientClosedError, NeoError, TransientLoginError
from ._session_info import SessionInfo

__all__ = [
    "DEFAULT_LOGIN_TIMEOUT",
    "DEFAULT_LOGIN_URL",
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_RATE_LIMIT",
    "DEFAULT_TIMEOUT",
    "AsyncNeoClient",
]

logger = logging.getLogger("aioneo")

DEFAULT_LOGIN_URL = "https://mis.kotaksecurities.com"
#: Seconds for each network step of a request (connect, write, read).
DEFAULT_TIMEOUT = 10.0
#: Seconds for the two network steps of a login together (the TOTP wait is not counted).
DEFAULT_LOGIN_TIMEOUT = 30.0
#: Concurrent trading requests on the wire; the rest queue inside the client.
DEFAULT_MAX_CONNECTIONS = 10
#: Requests per second per session, as Kotak documents.
DEFAULT_RATE_LIMIT: float | None = 10.0
#: Connections reserved for the login host: a login never queues behind requests.
LOGIN_CONNECTIONS = 2


def _failure_of(exc: httpx.TransportError) -> Failure:
    """The one place httpx's transport exceptions are translated."""
    if isinstance(exc, httpx.ConnectTimeout):
        return Failure.CONNECT_TIMEOUT
    if isinstance(exc, httpx.PoolTimeout):
        return Failure.POOL_TIMEOUT
    if isinstance(exc, httpx.WriteTimeout):
        return Failure.WRITE_TIMEOUT
    if isinstance(exc, httpx.TimeoutException):
        return Failure.READ_TIMEOUT
    if isinstance(exc, httpx.ConnectError):
        return Failure.CONNECT
    return Failure.RESET


class _NoResponse(Exception):
    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.value)
        self.failure = failure


class _AsyncSession:
    """One session: the core machine plus the asyncio primitives that act on it.

    Bound to one event loop: the primitives are created lazily in the loop that first
    uses the client, and created again if that loop has been closed and a new one runs.
    """

    __slots__ = ("_event", "_lock", "_task", "_ticket", "machine")

    def __init__(self, machine: SessionMachine) -> None:
        self.machine = machine
        self._lock: asyncio.Lock | None = None
        self._event: asyncio.Event | None = None
        self._ticket: LoginTicket | None = None
        self._task: asyncio.Task[None] | None = None

    def rebind(self) -> None:
        """Fresh primitives for a new loop; a login of a dead loop will never finish."""
        self._lock = asyncio.Lock()
        self._event = None
        self._ticket = None
        self._task = None
        self.machine.abandon_login()

    async def follow(self, decision: Decision, client: AsyncNeoClient) -> Session | None:
        """Act on a decision; return the session to use, or None to ask again."""
        action = decision.action
        if action is Action.SEND:
            return decision.session
        if action is Action.RETRY:
            return None
        if action is Action.FAIL:
            assert decision.error is not None
            raise copy.copy(decision.error)
        ticket = decision.ticket
        assert ticket is not None
        if action is Action.LEAD:
            self._start_login(ticket, client)
        await self._wait(ticket)
        if ticket.error is not None:
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
        try:
            async with self._lock:
                session = await client._login_flow(machine)
        except asyncio.CancelledError:
            machine.login_failed(
                ticket, ClientClosedError("the client was closed during login"), 0.0, 0.0
            )
            raise
        except NeoError as exc:
            machine.login_failed(ticket, exc, client._now(), client._random.random())
            logger.warning("login failed: %s", exc)
        except Exception as exc:  # a bug, or an exception from a user-provided transport
            logger.exception("login failed unexpectedly")
            error = TransientLoginError(f"login failed unexpectedly: {type(exc).__name__}")
            machine.login_failed(ticket, error, client._now(), client._random.random())
        else:
            machine.login_succeeded(ticket, session)
            logger.info(
                "logged in: epoch %d, data center %s", session.epoch, session.data_center or "?"
            )
        finally:
            # Publishing (above) and waking the waiters (here) happen with no await in
            # between, so a cancellation cannot split them (scenario 22).
            event.set()

    async def close(self) -> None:
        ticket = self.machine.close()
        task = self._task
        if ticket is not None and task is not None and not task.done():
            task.cancel()
            # wait() does not re-raise the task's CancelledError, but a cancellation of
            # aclose() itself still propagates.
            await asyncio.wait([task])


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
    the client-side limiter off. ``transport`` replaces the network (for example
    ``aioneo.testing.Emulator().transport()``). ``clock`` returns unix time and is used for
    TOTP codes and session expiry (tests shift it; keep the default otherwise).
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
    ) -> None:
        if not isinstance(credentials, Credentials):
            raise TypeError(
                f"credentials must be aioneo.Credentials, got {type(credentials).__name__}"
            )
        if not login_url.startswith(("http://", "https://")):
            raise ValueError(f"login_url must start with http:// or https://, got {login_url!r}")
        if timeout is not None and not timeout > 0:
            raise ValueError(
                f"timeout must be a positive number of seconds or None, got {timeout!r}"
            )
        if not login_timeout > 0:
            raise ValueError(
                f"login_timeout must be a positive number of seconds, got {login_timeout!r}"
            )
        if (
            isinstance(max_connections, bool)
            or not isinstance(max_connections, int)
            or max_connections < 1
        ):
            raise ValueError(f"max_connections must be an int >= 1, got {max_connections!r}")
        self._limiter = RateLimiter(rate_limit) if rate_limit is not None else None
        self._credentials = credentials
        self._login_url = login_url.rstrip("/")
        self._timeout = timeout
        # Sent as each request's timeout extension: connect, write and read are bounded;
        # waiting for a pooled connection is not (the client's own queue bounds that).
        self._timeout_ext = httpx.Timeout(timeout, pool=None).as_dict()
        self._login_timeout = login_timeout
        self._max_connections = max_connections
        self._neo_fin_key = neo_fin_key
        self._transport = transport
        self._clock = clock or time.time
        self._random = random.Random()
        # The TOTP-step wait sleeps through this; a test seam (a fake clock advances instead).
        self._sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
        self._session = _AsyncSession(SessionMachine(login_cooldown=login_cooldown))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._http: httpx.AsyncClient | None = None
        self._login_http: httpx.AsyncClient | None = None
        self._slots: asyncio.Semaphore | None = None
        self._closed = False

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
        await self.aclose()

    async def aclose(self) -> None:
        """Close the client. Calls still waiting get ``ClientClosedError``. Idempotent."""
        self._closed = True
        await self._session.close()
        for http in (self._http, self._login_http):
            if http is not None:
                await http.aclose()

    def _bind(self) -> tuple[httpx.AsyncClient, asyncio.Semaphore]:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            if self._loop is not None and not self._loop.is_closed():
                raise RuntimeError(
                    "this AsyncNeoClient is bound to another running event loop; "
                    "create one client per event loop"
                )
            self._loop = loop
            self._session.rebind()
            self._slots = asyncio.Semaphore(self._max_connections)
            timeout = httpx.Timeout(self._timeout, pool=None)
            self._http = httpx.AsyncClient(
                transport=self._transport,
                timeout=timeout,
                limits=httpx.Limits(
                    max_connections=self._max_connections,
                    max_keepalive_connections=self._max_connections,
                ),
            )
            self._login_http = httpx.AsyncClient(
                transport=self._transport,
                timeout=httpx.Timeout(self._timeout, pool=None),
                limits=httpx.Limits(
                    max_connections=LOGIN_CONNECTIONS, max_keepalive_connections=LOGIN_CONNECTIONS
                ),
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
        self._session.machine.reset_failures()

    # -- login --------------------------------------------------------------------------
    async def login(self) -> SessionInfo:
        """Log in now (TOTP step, then MPIN step) and return the new session's facts.

        If a login is already in flight, waits for it instead of starting another. An
        explicit call clears a cached fatal login error and any cooldown.
        """
        self._bind()
        machine = self._session.machine
        decision = machine.login_decision()
        await self._session.follow(decision, self)
        assert decision.ticket is not None
        session = decision.ticket.session
        assert session is not None
        return SessionInfo.of(session)

    async def _login_flow(self, machine: SessionMachine) -> Session:
        """The two login steps. Runs inside the login task, under the session lock."""
        http = self._login_http
        assert http is not None
        plan = machine.plan_totp(self._now())
        if plan.wait > 0:
            logger.info("waiting %.1f s for a fresh TOTP step: %s", plan.wait, plan.reason)
            await self._sleep(plan.wait)
        code = self._credentials.totp_code(plan.at)
        machine.totp_used(plan.step)
        consumer_key, mpin = self._credentials._secret_fields()
        try:
            async with asyncio.timeout(self._login_timeout):
                view = await self._login_step(
                    http,
                    "login",
                    requests.totp_login(
                        mobile_number=self._credentials.mobile_number,
                        ucc=self._credentials.ucc,
                        totp=code,
                    ),
                    consumer_key,
                    ("token", "sid"),
                )
                trade = await self._login_step(
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
    ) -> dict[str, Any]:
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
            response = await http.send(request)
        except httpx.TransportError as exc:
            raise login_failure(step, _failure_of(exc), self._timeout) from exc
        result = classify_login(
            response.status_code, response.content, response.headers, require=require
        )
        if result.outcome is not LoginOutcome.SUCCESS:
            raise login_error(step, result)
        assert result.data is not None
        return dict(result.data)

    # -- the protected call -------------------------------------------------------------
    async def _call(self, spec: RequestSpec) -> Any:
        """Send one protected call under the relogin contract; return the decoded body."""
        http, slots = self._bind()
        gate = self._session
        machine = gate.machine
        auth_retries = retries = 0
        while True:
            failure: Failure | None = None
            async with slots:
                session = await self._current_session()
                if self._limiter is not None:
                    # Reserved once the session is known (a login wait must not eat the
                    # schedule); the session is read again after the wait (scenario 5).
                    wait = self._limiter.reserve(time.monotonic())
                    if wait > 0:
                        await asyncio.sleep(wait)
                        session = await self._current_session()
                try:
                    response = await self._send(http, spec, session)
                except _NoResponse as exc:
                    failure = exc.failure
            if failure is not None:
                step = after_failure(
                    spec,
                    failure,
                    retries=retries,
                    jitter=self._random.random(),
                    timeout=self._timeout,
                    auth_retries=auth_retries,
                )
            else:
                result = classify(response.status_code, response.content, response.headers)
                step = after_response(
                    spec,
                    result,
                    auth_retries=auth_retries,
                    retries=retries,
                    jitter=self._random.random(),
                )
                if step.kind is StepKind.RETURN:
                    return result.body

            if step.kind is StepKind.RECONCILE:
                return await self._reconcile(spec, step.error)
            if step.kind is StepKind.RELOGIN:
                auth_retries += 1
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
            return await http.send(request)
        except httpx.TransportError as exc:
            if self._closed:
                raise ClientClosedError("the client was closed during the call") from exc
            raise _NoResponse(_failure_of(exc)) from exc

    async def _reconcile(self, spec: RequestSpec, error: NeoError | None) -> dict[str, Any]:
        """A replayed order failed or was refused as a duplicate: look its tag up.

        Found: the first attempt was placed after all; its order number is returned.
        Not found: ``error`` (the replay's own definite error) is raised, or, for a
        duplicate-tag refusal, ``OrderOutcomeUnknown``. A failed lookup is "unknown".
        """
        assert spec.tag is not None
        try:
            order = await self.find_order(spec.tag)
        except NeoError as exc:
            raise unknown_outcome(spec, f"looking the tag up failed: {exc}") from exc
        if order is not None:
            logger.warning(
                "%s was replayed after a relogin and the order exists: order %s",
                spec.op,
                order.order_id,
            )
            return {"stat": "Ok", "nOrdNo": order.order_id, "stCode": 200}
        if error is not None:
            raise error
        raise unknown_outcome(
            spec,
            "the replay was refused because its tag is already used, yet no order with "
            "that tag is in the order book",
        )

    # -- orders ---------------------------------------------------------------------------
    async def place_order(
        self,
        *,
        exchange_segment: str,
        product: str,
        price: PriceLike,
        order_type: str,
        quantity: QuantityLike,
        validity: str,
        trading_symbol: str,
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

        Kotak rewrites ``GuiOrdId`` on modify and cancel, keeping the original tag as a
        prefix, so an exact match is preferred and a prefix match accepted; among several
        prefix matches the order whose ``GuiOrdId`` is shortest (least rewritten) wins.
        """
        if not isinstance(tag, str) or not tag.strip():
            raise ValueError(f"tag must be a non-empty str, got {tag!r}")
        orders = await self.order_report()
        exact = [o for o in orders if o.tag == tag]
        if exact:
            return exact[0]
        prefixed = [o for o in orders if o.tag is not None and o.tag.startswith(tag)]
        return min(prefixed, key=lambda o: len(o.tag or "")) if prefixed else None

    # -- reports --------------------------------------------------------------------------
    async def order_report(self, order_id: str | None = None) -> list[models.Order]:
        """The order book, or the rows of one order when ``order_id`` is given."""
        return models.parse_order_report(await self._call(requests.order_report(order_id)))

    async def order_history(self, order_id: str) -> list[models.OrderHistoryEntry]:
        """Every state of one order, newest first (``quick/order/history``)."""
        return models.parse_order_history(await self._call(requests.order_history(order_id)))

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
        exchange_segment: str,
        price: PriceLike,
        order_type: str,
        product: str,
        quantity: QuantityLike,
        instrument_token: str | int,
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
    ) -> models.MarginRequirement:
        """The margin an order would need (``quick/user/check-margin``). A read."""
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
        )
        return models.parse_margin_required(await self._call(spec))

    # -- market data ------------------------------------------------------------------------
    async def scrip_master(self) -> models.ScripMasterPaths:
        """The URLs of today's scrip-master CSV files (``for_segment`` picks one)."""
        return models.parse_scrip_master(await self._call(requests.scrip_master()))

    async def quotes(
        self, instrument_tokens: Sequence[InstrumentLike], *, quote_type: str = "all"
    ) -> list[models.Quote]:
        """Quotes for instruments (``"nse_cm|11536"`` or the SDK's dicts), in order.

        More than 50 instruments (Kotak's per-call cap) are split into several calls, sent
        one after another through the rate limiter; the results are concatenated.
        """
        result: list[models.Quote] = []
        for spec in requests.quotes(instrument_tokens, quote_type=quote_type):
            result.extend(models.parse_quotes(await self._call(spec)))
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

    async def logout(self) -> None:
        """End the session on the server (the SDK only forgets it locally); idempotent.

        Without a live session nothing is sent. A "session expired" answer counts as logged
        out. The next call after a logout logs in again.
        """
        http, _ = self._bind()
        machine = self._session.machine
        session = machine.session
        if session is None or machine.ticket is not None or session.epoch <= machine.dead_epoch:
            machine.logged_out()
            return
        spec = requests.logout()
        try:
            response = await self._send(http, spec, session)
        except _NoResponse as exc:
            step = after_failure(
                spec, exc.failure, retries=0, jitter=self._random.random(), timeout=self._timeout
            )
            assert step.error is not None
            raise step.error from None
        result = classify(response.status_code, response.content, response.headers)
        if result.outcome not in (Outcome.SUCCESS, Outcome.SESSION_EXPIRED):
            raise error_for(spec, result)
        machine.logged_out()
        logger.info("logged out")
