"""The asyncio feed shells: :class:`MarketFeed` and :class:`OrderFeed` of ``AsyncNeoClient``.

Each feed is one reader task driving its sans-IO core (``aioneo._core._feed_conn``, see
``FEEDS-DESIGN.md``): it takes the client's current session, opens the socket, sends what
the core answers, hands every frame to the core, and sleeps what the core says. It never
decides anything and never logs in by itself:

* a refused feed auth (``native_fallback``, ``"ak":"nk"``, an auth close code such as the
  1008 a server sends when the session ends, 401/403 at the handshake) is "session expired"
  for the epoch that connection used, reported to the client's ``SessionMachine`` exactly
  as a REST call reports it: when the session is already newer the feed reconnects at
  once, when a login is in flight it waits for it, otherwise it leads one. A REST storm
  and both feeds together make one login.
* the reader never waits for the consumer: items go into the core's bounded buffer and
  the consumer is woken; ``overflow=`` says what happens when it falls behind.
* it reconnects forever (``max_reconnects=`` bounds it) with the core's jittered backoff;
  ``stall_timeout=`` closes a socket that stays open and silent.
* a fatal login error, the relogin breaker, ``max_reconnects`` or an overflow reach the
  consumer as an exception from the iterator, after what was received before it.

Times given to the core are this machine's unix time (``time.time()``), not the client's
``clock``: that one exists to shift TOTP and token expiry in tests, and a jump of it must
not look like a silent socket to the stall watchdog.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import time
from collections.abc import AsyncIterator, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Generic, Self, TypeVar

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from ._core._feed_buffer import DEFAULT_CAPACITY
from ._core._feed_conn import DEFAULT_ORDER_CAPACITY, Closed, MarketFeedCore, OrderFeedCore
from ._core._feed_decode import FeedItem, IndexTick, Tick
from ._core._feed_events import FeedEvent, FeedStats
from ._core._feed_subs import DEFAULT_MAX_SUBSCRIPTIONS
from ._core._feed_urls import FeedEndpoints, config_params, parse_feed_config
from ._core._order_feed import OrderUpdate, PositionUpdate
from ._core._requests import InstrumentLike
from ._core._session import Session
from ._exceptions import FeedClosedError, FeedError, NeoError
from ._feeds_shared import (
    CLOSE_TIMEOUT,
    CONFIG_TIMEOUT,
    MAX_FRAME,
    OPEN_TIMEOUT,
    PING_INTERVAL,
    PING_TIMEOUT,
    WIRE_LOGGER,
    check_feed_url,
    close_of,
    feed_url_for,
)
from ._version import __version__

if TYPE_CHECKING:
    from ._async_client import AsyncNeoClient

__all__ = ["FeedBase", "MarketFeed", "OrderFeed", "feed_endpoints"]

logger = logging.getLogger("aioneo")

T = TypeVar("T")
_INF = float("inf")


async def feed_endpoints(client: AsyncNeoClient, session: Session) -> FeedEndpoints:
    """What the config service says for the session's data centre, asked once per client
    and data centre; any failure is "not given" (logged at DEBUG, never raised) and is
    asked again at the next connect: only a usable answer is kept."""
    cache = client._feed_endpoints
    key = session.data_center
    found = cache.get(key)
    if found is not None:
        return found
    url = client._config_url
    endpoints = FeedEndpoints()
    if url is not None and key:
        try:
            http, _ = client._bind()
            response = await http.get(
                url, params=config_params(app_version=__version__), timeout=CONFIG_TIMEOUT
            )
            if response.status_code == 200:
                endpoints = parse_feed_config(response.json(), key)
                cache[key] = endpoints
        except Exception as exc:  # best effort, as the SDK: fall through to validate's URLs
            logger.debug("the feed config service did not answer usably: %s", type(exc).__name__)
    else:
        cache[key] = endpoints
    return endpoints


class FeedBase(Generic[T]):
    """The reader task and the consumer side both feeds share."""

    _kind = "feed"

    def __init__(
        self,
        client: AsyncNeoClient,
        core: MarketFeedCore | OrderFeedCore,
        *,
        url: str | None,
    ) -> None:
        self._client = client
        self._core = core
        self._url = check_feed_url(url)
        self._ws: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._failure: BaseException | None = None
        self._closed = False

    # -- lifecycle ----------------------------------------------------------------------
    def _start(self) -> None:
        if self._closed:
            raise FeedClosedError(f"the {self._kind} is closed", endpoint=self._kind)
        if self._task is None:
            self._client._bind()
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"aioneo-{self._kind.replace(' ', '-')}"
            )
            self._client._feeds.add(self)

    async def __aenter__(self) -> Self:
        self._start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop the feed: its reader ends and its socket is closed; readers waiting for
        an item get :class:`~aioneo.FeedClosedError`. Idempotent; returns once the reader
        has ended (no task or thread of the feed is left)."""
        self._closed = True
        self._wake.set()
        tasks = [t for t in (self._task,) if t is not None and not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            # wait() neither raises the tasks' CancelledError nor leaves an exception
            # unretrieved; a cancellation of close() itself still propagates.
            await asyncio.wait(tasks)
        self._client._feeds.discard(self)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def stats(self) -> FeedStats:
        """A snapshot of the counters (connects, reconnects, auth refusals, items, ...)."""
        return self._core.stats.snapshot()

    @property
    def connected(self) -> bool:
        """Whether a connection is live (authenticated) right now (never after close)."""
        return not self._closed and self._core.phase.value == "live"

    # -- consumer -----------------------------------------------------------------------
    def __aiter__(self) -> AsyncIterator[T | FeedEvent]:
        return self

    async def __anext__(self) -> T | FeedEvent:
        if self._task is None and not self._closed:
            self._start()  # iterating a feed not entered with ``async with`` starts it
        while True:
            if self._closed:
                raise FeedClosedError(f"the {self._kind} is closed", endpoint=self._kind)
            item = self._core.next_item()  # FeedOverflowError after the backlog
            if item is not None:
                return item  # type: ignore[return-value]
            if self._failure is not None:
                raise copy.copy(self._failure)
            self._wake.clear()
            await self._wake.wait()

    # -- the reader ---------------------------------------------------------------------
    def _fail(self, error: BaseException) -> None:
        self._failure = error
        self._wake.set()

    async def _run(self) -> None:
        client = self._client
        core = self._core
        try:
            while True:
                session = await client._current_session()
                url = feed_url_for(
                    "market" if isinstance(core, MarketFeedCore) else "order",
                    url=self._url,
                    endpoints=await feed_endpoints(client, session) if self._url is None else None,
                    session=session,
                )
                closed = await self._connection(url, session)
                self._wake.set()
                if closed.give_up:
                    self._fail(FeedError(closed.reason, endpoint=self._kind))
                    return
                if closed.expired:
                    assert closed.epoch is not None
                    gate = client._session
                    await gate.follow(gate.machine.on_expired(closed.epoch, client._now()), client)
                    continue  # no backoff: the session is a new one
                logger.debug(
                    "%s connection ended (%s); reconnecting in %.2f s",
                    self._kind,
                    closed.reason or "no reason",
                    closed.delay,
                )
                await asyncio.sleep(closed.delay)
        except NeoError as exc:  # a fatal login error, the relogin breaker, the client closed
            self._fail(exc)
        except (TypeError, ValueError) as exc:  # an unusable URL from the config service
            self._fail(FeedError(f"{self._kind}: {exc}", endpoint=self._kind))
        except Exception as exc:  # a bug: never a silent death of the feed
            logger.exception("%s reader failed", self._kind)
            self._fail(FeedError(f"{self._kind} failed: {type(exc).__name__}", endpoint=self._kind))

    async def _connection(self, url: str, session: Session) -> Closed:
        """One connection from open to end; what the core says to do next."""
        core = self._core
        client = self._client
        try:
            ws = await connect(
                url,
                open_timeout=OPEN_TIMEOUT,
                ping_interval=PING_INTERVAL,
                ping_timeout=PING_TIMEOUT,
                close_timeout=CLOSE_TIMEOUT,
                max_size=MAX_FRAME,
                compression=None,
                user_agent_header=f"aioneo/{__version__}",
                logger=WIRE_LOGGER,
            )
        except InvalidStatus as exc:
            return core.closed(
                now=time.time(),
                jitter=client._random.random(),
                handshake_status=exc.response.status_code,
            )
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            return core.closed(
                now=time.time(),
                jitter=client._random.random(),
                reason=f"could not connect: {type(exc).__name__}: {exc}",
            )
        self._ws = ws
        try:
            return await self._read(ws, session)
        finally:
            self._ws = None
            await self._close_socket(ws)

    @staticmethod
    async def _close_socket(ws: ClientConnection) -> None:
        try:
            await ws.close()
        except Exception:  # the socket is going away anyway
            ws.transport.abort()

    async def _read(self, ws: ClientConnection, session: Session) -> Closed:
        core = self._core
        client = self._client
        wake = self._wake
        try:
            await ws.send(self._begin(session, time.time()))
            while True:
                timeout = core.stall(time.time())
                if timeout is None:
                    wake.set()  # the "stalled" event
                    return core.closed(
                        now=time.time(), jitter=client._random.random(), reason="stalled"
                    )
                if timeout == _INF:
                    frame = await ws.recv()
                else:
                    try:
                        async with asyncio.timeout(timeout):
                            frame = await ws.recv()
                    except TimeoutError:
                        continue  # core.stall decides on the next turn
                received = core.receive(frame, time.time())
                for text in received.send:
                    await ws.send(text)
                wake.set()
                if received.auth is not None:
                    return core.closed(
                        now=time.time(), jitter=client._random.random(), auth=received.auth
                    )
                if received.fetch_orders is not None:
                    await self._fetch_orders(received.fetch_orders)
        except ConnectionClosed as exc:
            code, reason = close_of(exc)
            return core.closed(
                now=time.time(), jitter=client._random.random(), code=code, reason=reason
            )

    def _begin(self, session: Session, now: float) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    async def _fetch_orders(self, why: str) -> None:  # pragma: no cover - order feed only
        raise NotImplementedError

    async def _send_now(self, frame: str | None) -> None:
        """Send an edit on the live socket. A socket that just died is fine: the next
        connection sends the whole wanted set."""
        ws = self._ws
        if frame is None or ws is None:
            return
        with contextlib.suppress(ConnectionClosed):
            await ws.send(frame)


class MarketFeed(FeedBase[FeedItem]):
    """The live market feed of an :class:`~aioneo.AsyncNeoClient` (``neo.market_feed()``).

    >>> async with neo.market_feed() as feed:  # doctest: +SKIP
    ...     await feed.subscribe(["nse_cm|11536"], mode="quote")
    ...     async for item in feed:  # Tick | IndexTick | MarketStatus | FeedEvent
    ...         ...

    ``subscribe`` / ``unsubscribe`` edit the wanted set, which is the truth: made while
    disconnected they are sent by the next connection, and every connection is told the
    whole set (one frame per mode). ``latest(instrument)`` is the last tick received for
    it, before the buffer, so it is right even when the consumer is behind and items were
    conflated. Ticks are not held back until the subscribe acknowledgement (the SDK waits
    up to 5 s); trading symbols from it are in :meth:`trading_symbol`.
    """

    _kind = "market feed"
    _core: MarketFeedCore

    def __init__(
        self,
        client: AsyncNeoClient,
        *,
        url: str | None = None,
        capacity: int = DEFAULT_CAPACITY,
        overflow: str = "conflate",
        stall_timeout: float | None = None,
        max_reconnects: int | None = None,
        max_subscriptions: int = DEFAULT_MAX_SUBSCRIPTIONS,
    ) -> None:
        core = MarketFeedCore(
            capacity=capacity,
            overflow=overflow,
            stall_timeout=stall_timeout,
            max_reconnects=max_reconnects,
            max_subscriptions=max_subscriptions,
        )
        super().__init__(client, core, url=url)

    def _begin(self, session: Session, now: float) -> str:
        return self._core.begin(
            user=session.ucc or self._client.credentials.ucc,
            sid=session.sid,
            epoch=session.epoch,
            now=now,
        )

    async def subscribe(
        self, instruments: Sequence[InstrumentLike], *, mode: str = "quote"
    ) -> None:
        """Add ``instruments`` (as for ``quotes()``, or :class:`~aioneo.Instrument`) in
        ``mode``: ``"ltp"``, ``"quote"``, ``"depth"``, ``"full_depth"`` or ``"index"``
        (by name: ``"nse_cm|Nifty 50"``). Over ``max_subscriptions`` pairs it raises
        :class:`~aioneo.SubscriptionError` and changes nothing."""
        self._check_open()
        await self._send_now(self._core.subscribe(instruments, mode=mode))

    async def unsubscribe(
        self, instruments: Sequence[InstrumentLike], *, mode: str = "quote"
    ) -> None:
        """Remove ``instruments`` from ``mode`` (those not subscribed are ignored)."""
        self._check_open()
        await self._send_now(self._core.unsubscribe(instruments, mode=mode))

    async def subscribe_market_status(self, on: bool = True) -> None:
        """Turn the exchanges' status messages (:class:`~aioneo.MarketStatus`) on or off."""
        self._check_open()
        await self._send_now(self._core.set_market_status(on))

    def latest(self, instrument: InstrumentLike) -> Tick | IndexTick | None:
        """The last tick received for ``instrument`` (any mode), or ``None``."""
        return self._core.latest_of(instrument)

    def trading_symbol(self, instrument: str) -> str | None:
        """The trading symbol the server acknowledged for ``"seg|token"``, if any."""
        return self._core.trading_symbols.get(instrument)

    @property
    def subscriptions(self) -> int:
        """How many (instrument, mode) pairs are wanted."""
        return len(self._core.subscriptions)

    def _check_open(self) -> None:
        if self._closed:
            raise FeedClosedError("the market feed is closed", endpoint=self._kind)


class OrderFeed(FeedBase[OrderUpdate | PositionUpdate]):
    """The live order and position feed (``neo.order_feed()``): nothing conflated or
    dropped; gaps reconciled with ``order_report()``.

    After every connect the reader fetches the order book *before* reading on, and hands
    it to the core's reconciliation: every order whose state is not the one last
    delivered is delivered once, as an :class:`~aioneo.OrderUpdate` with
    ``reconciled=True`` (after a reconnect: what changed while the feed was down), and
    the server's push of those same states that follows is dropped
    (``stats.duplicates``).

    Trade-offs. The reader pauses for one ``order_report()`` round trip after each
    connect; pushed updates wait in the socket meanwhile (none is lost). On the *first*
    connect the book is reconciled too, rather than taken as a silent baseline: a silent
    baseline fetched while orders change would swallow a state that the server pushed
    after the book was read (the push then looks like a repeat), so instead the day's
    orders arrive once at the start, marked reconciled, as the server's own first push
    would bring them. A book that cannot be fetched (``order_report()`` failed) is logged
    and skipped: updates then arrive as pushed, unreconciled, until the next reconnect.
    """

    _kind = "order feed"
    _core: OrderFeedCore

    def __init__(
        self,
        client: AsyncNeoClient,
        *,
        url: str | None = None,
        capacity: int = DEFAULT_ORDER_CAPACITY,
        stall_timeout: float | None = None,
        max_reconnects: int | None = None,
    ) -> None:
        core = OrderFeedCore(
            capacity=capacity, stall_timeout=stall_timeout, max_reconnects=max_reconnects
        )
        super().__init__(client, core, url=url)

    def _begin(self, session: Session, now: float) -> str:
        return self._core.begin(token=session.token, sid=session.sid, epoch=session.epoch, now=now)

    async def _fetch_orders(self, why: str) -> None:
        try:
            orders = await self._client.order_report()
        except NeoError as exc:
            log = logger.debug if self._closed or self._client._closed else logger.warning
            log(
                "order feed: the order book could not be fetched after a connect (%s); "
                "updates arrive as pushed until the next reconnect",
                type(exc).__name__,
            )
        else:
            # The first connect too (``why == "baseline"``): see the class docstring.
            self._core.reconcile(orders)
            self._wake.set()
        # The reader waited for the book: that wait is not the socket's silence.
        self._core.last_frame_at = time.time()
