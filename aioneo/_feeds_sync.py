"""The threading feed shells: :class:`SyncMarketFeed` and :class:`SyncOrderFeed` of
``NeoClient``, twins of ``_feeds_async.py`` on ``websockets.sync``.

One reader thread per feed runs the same loop as the asyncio shell (see that module and
``FEEDS-DESIGN.md``): take the client's current session, connect, send what the core
answers, hand every frame to the core, sleep what it says. Refused auth goes to the same
``SessionMachine`` through the threading gate's ``follow``, so threads calling REST,
coroutines of an ``AsyncNeoClient`` sharing the store, and both feeds make one login.

Locks: every call into the core happens under the feed's one ``threading.Lock``, held
for those few statements only, never across ``recv``/``send``/``sleep`` or user code; the
consumer waits on a ``Condition`` over that lock. ``websockets.sync`` makes a whole
(unfragmented) ``send`` atomic, so ``subscribe()`` from the consumer's thread and the
reader's sends need no lock of their own.

Shutdown: ``close()`` marks the feed closed, wakes the consumers (``FeedClosedError``),
ends a backoff sleep at once (it is an ``Event.wait``), closes the socket (which ends a
blocked ``recv``) and joins the reader thread, so no thread is left when it returns. The
trade-off: a reader that is itself leading a login (the feed found the session dead
first) finishes that login before it stops: the login is the client's, other callers
wait for it, and it is bounded by ``login_timeout``; a connect in progress is bounded by
``OPEN_TIMEOUT`` (10 s; instant on a reachable host). The reader thread is not a daemon:
a feed that is never closed keeps the process alive, as an open socket should.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import logging
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.sync.client import ClientConnection, connect

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
    from ._sync_client import NeoClient

__all__ = ["SyncFeedBase", "SyncMarketFeed", "SyncOrderFeed", "feed_endpoints"]

logger = logging.getLogger("aioneo")

T = TypeVar("T")
_INF = float("inf")
#: websockets 17 warns when ``connect()`` is not used as a context manager unless
#: ``legacy=True`` says that returning the connection is meant (14-16 have no flag).
_CONNECT_OPTIONS: dict[str, Any] = (
    {"legacy": True} if "legacy" in inspect.signature(connect).parameters else {}
)


def feed_endpoints(client: NeoClient, session: Session) -> FeedEndpoints:
    """What the config service says for the session's data centre, asked once per client
    and data centre; any failure is "not given" (logged at DEBUG, never raised) and is
    asked again at the next connect: only a usable answer is kept."""
    key = session.data_center
    with client._session.data:
        found = client._feed_endpoints.get(key)
    if found is not None:
        return found
    url = client._config_url
    endpoints = FeedEndpoints()
    if url is not None and key:
        try:
            http = client._bind("market_feed")
            response = http.get(
                url, params=config_params(app_version=__version__), timeout=CONFIG_TIMEOUT
            )
            if response.status_code == 200:
                endpoints = parse_feed_config(response.json(), key)
                with client._session.data:
                    client._feed_endpoints[key] = endpoints
        except Exception as exc:  # best effort, as the SDK: fall through to validate's URLs
            logger.debug("the feed config service did not answer usably: %s", type(exc).__name__)
    else:
        with client._session.data:
            client._feed_endpoints[key] = endpoints
    return endpoints


class SyncFeedBase(Generic[T]):
    """The reader thread and the consumer side both feeds share."""

    _kind = "feed"

    def __init__(
        self, client: NeoClient, core: MarketFeedCore | OrderFeedCore, *, url: str | None
    ) -> None:
        self._client = client
        self._core = core
        self._url = check_feed_url(url)
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._ws: ClientConnection | None = None
        self._connecting: socket.socket | None = None  # the TCP socket of an open in progress
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None
        self._closed = False

    # -- lifecycle ----------------------------------------------------------------------
    def _start(self) -> None:
        with self._lock:
            if self._closed:
                raise FeedClosedError(f"the {self._kind} is closed", endpoint=self._kind)
            if self._thread is not None:
                return
        self._client._bind(self._kind.replace(" ", "_"))
        with self._client._session.data:
            self._client._feeds.add(self)
        # The thread is made and started under the lock: a close() from another thread
        # either comes first (and this start refuses) or finds a started thread to join.
        with self._lock:
            if self.closed:  # a close() from another thread came first
                with self._client._session.data:
                    self._client._feeds.discard(self)
                raise FeedClosedError(f"the {self._kind} is closed", endpoint=self._kind)
            if self._started():
                return
            self._thread = threading.Thread(
                target=self._run, name=f"aioneo-{self._kind.replace(' ', '-')}"
            )
            self._thread.start()

    def _started(self) -> bool:
        return self._thread is not None

    def __enter__(self) -> Self:
        self._start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop the feed: its reader ends and its socket is closed; readers waiting for
        an item get :class:`~aioneo.FeedClosedError`. Idempotent; returns once the reader
        has ended (no task or thread of the feed is left)."""
        thread = self._signal_close()
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        with self._client._session.data:
            self._client._feeds.discard(self)

    def _signal_close(self) -> threading.Thread | None:
        """Everything :meth:`close` does but the join (``NeoClient.close`` signals its
        feeds first, so a reader waiting for a login does not see the client's close as
        its own failure)."""
        with self._lock:
            self._closed = True
            self._ready.notify_all()
            ws = self._ws
            thread = self._thread
            opening = self._connecting
        self._stop.set()
        if ws is not None:
            self._close_socket(ws)
        if opening is not None:  # the handshake waits: end it now
            with contextlib.suppress(OSError):
                opening.shutdown(socket.SHUT_RDWR)
        return thread

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def stats(self) -> FeedStats:
        """A snapshot of the counters (connects, reconnects, auth refusals, items, ...)."""
        with self._lock:
            return self._core.stats.snapshot()

    @property
    def connected(self) -> bool:
        """Whether a connection is live (authenticated) right now (never after close)."""
        return not self._closed and self._core.phase.value == "live"

    # -- consumer -----------------------------------------------------------------------
    def __iter__(self) -> Iterator[T | FeedEvent]:
        return self

    def __next__(self) -> T | FeedEvent:
        if self._thread is None and not self._closed:
            self._start()  # iterating a feed not entered with ``with`` starts it
        with self._ready:
            while True:
                if self._closed:
                    raise FeedClosedError(f"the {self._kind} is closed", endpoint=self._kind)
                item = self._core.next_item()  # FeedOverflowError after the backlog
                if item is not None:
                    return item  # type: ignore[return-value]
                if self._failure is not None:
                    raise copy.copy(self._failure)
                self._ready.wait()

    # -- the reader ---------------------------------------------------------------------
    def _fail(self, error: BaseException) -> None:
        with self._ready:
            self._failure = error
            self._ready.notify_all()

    def _run(self) -> None:
        client = self._client
        core = self._core
        gate = client._session
        try:
            while not self._stop.is_set():
                session = client._current_session()
                url = feed_url_for(
                    "market" if isinstance(core, MarketFeedCore) else "order",
                    url=self._url,
                    endpoints=feed_endpoints(client, session) if self._url is None else None,
                    session=session,
                )
                closed = self._connection(url, session)
                if closed is None:  # closed by close()
                    return
                with self._ready:
                    self._ready.notify_all()
                if closed.give_up:
                    self._fail(FeedError(closed.reason, endpoint=self._kind))
                    return
                if closed.expired:
                    assert closed.epoch is not None
                    decision, event = gate.on_expired(closed.epoch, client._now(), client)
                    gate.follow(decision, event, client)
                    continue  # no backoff: the session is a new one
                logger.debug(
                    "%s connection ended (%s); reconnecting in %.2f s",
                    self._kind,
                    closed.reason or "no reason",
                    closed.delay,
                )
                self._stop.wait(closed.delay)
        except NeoError as exc:  # a fatal login error, the relogin breaker, the client closed
            self._fail(exc)
        except (TypeError, ValueError) as exc:  # an unusable URL from the config service
            self._fail(FeedError(f"{self._kind}: {exc}", endpoint=self._kind))
        except Exception as exc:  # a bug: never a silent death of the feed
            logger.exception("%s reader failed", self._kind)
            self._fail(FeedError(f"{self._kind} failed: {type(exc).__name__}", endpoint=self._kind))

    def _closed_now(self, **what: Any) -> Closed:
        with self._lock:
            return self._core.closed(now=time.time(), jitter=self._client._random.random(), **what)

    def _connection(self, url: str, session: Session) -> Closed | None:
        """One connection from open to end; what the core says to do next (``None``:
        the feed was closed meanwhile).

        The TCP socket is opened here and handed to ``connect(sock=...)``, so that a
        ``close()`` from another thread can shut it down while the handshake waits (a
        gateway that accepts and never upgrades would otherwise hold ``close()`` for the
        whole open timeout). The cost: ``websockets``' own proxy lookup is skipped, so the
        sync feeds connect directly (the async twin honours proxy settings).
        """
        parts = urllib.parse.urlsplit(url)
        default_port = 443 if parts.scheme == "wss" else 80
        try:
            sock = socket.create_connection(
                (parts.hostname or "", parts.port or default_port), timeout=OPEN_TIMEOUT
            )
        except (OSError, TimeoutError) as exc:
            return self._closed_now(reason=f"could not connect: {type(exc).__name__}: {exc}")
        with self._lock:
            if self._closed:
                sock.close()
                return None
            self._connecting = sock
        try:
            ws = connect(
                url,
                sock=sock,
                open_timeout=OPEN_TIMEOUT,
                ping_interval=PING_INTERVAL,
                ping_timeout=PING_TIMEOUT,
                close_timeout=CLOSE_TIMEOUT,
                max_size=MAX_FRAME,
                compression=None,
                user_agent_header=f"aioneo/{__version__}",
                logger=WIRE_LOGGER,
                **_CONNECT_OPTIONS,
            )
        except InvalidStatus as exc:
            sock.close()
            return self._closed_now(handshake_status=exc.response.status_code)
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            sock.close()
            if self.closed:  # shut down by close() from another thread
                return None
            return self._closed_now(reason=f"could not connect: {type(exc).__name__}: {exc}")
        finally:
            with self._lock:
                self._connecting = None
        with self._lock:
            if self.closed:
                closing = True
            else:
                closing = False
                self._ws = ws
        if closing:
            self._close_socket(ws)
            return None
        try:
            return self._read(ws, session)
        finally:
            with self._lock:
                self._ws = None
            self._close_socket(ws)

    @staticmethod
    def _close_socket(ws: ClientConnection) -> None:
        try:
            ws.close()
        except Exception:  # the socket is going away anyway
            ws.socket.close()

    def _read(self, ws: ClientConnection, session: Session) -> Closed | None:
        core = self._core
        lock = self._lock
        ready = self._ready
        random = self._client._random
        try:
            with lock:
                hello = self._begin(session, time.time())
            ws.send(hello)
            while True:
                with lock:
                    timeout = core.stall(time.time())
                    if timeout is None:
                        ready.notify_all()  # the "stalled" event
                        return core.closed(
                            now=time.time(), jitter=random.random(), reason="stalled"
                        )
                try:
                    frame = ws.recv(timeout=None if timeout == _INF else timeout)
                except TimeoutError:
                    continue  # core.stall decides on the next turn
                with lock:
                    received = core.receive(frame, time.time())
                    ready.notify_all()
                for text in received.send:
                    ws.send(text)
                if received.auth is not None:
                    return self._closed_now(auth=received.auth)
                if received.fetch_orders is not None:
                    self._fetch_orders(received.fetch_orders)
        except ConnectionClosed as exc:
            if self._closed:
                return None
            code, reason = close_of(exc)
            return self._closed_now(code=code, reason=reason)

    def _begin(self, session: Session, now: float) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    def _fetch_orders(self, why: str) -> None:  # pragma: no cover - order feed only
        raise NotImplementedError

    def _send_now(self, frame: str | None) -> None:
        """Send an edit on the live socket. A socket that just died is fine: the next
        connection sends the whole wanted set."""
        with self._lock:
            ws = self._ws
        if frame is None or ws is None:
            return
        with contextlib.suppress(ConnectionClosed):
            ws.send(frame)

    def _check_open(self) -> None:
        if self._closed:
            raise FeedClosedError(f"the {self._kind} is closed", endpoint=self._kind)


class SyncMarketFeed(SyncFeedBase[FeedItem]):
    """The live market feed of a :class:`~aioneo.NeoClient` (``neo.market_feed()``), the
    twin of :class:`~aioneo.MarketFeed`: the same methods, blocking.

    >>> with neo.market_feed() as feed:  # doctest: +SKIP
    ...     feed.subscribe(["nse_cm|11536"], mode="quote")
    ...     for item in feed:  # Tick | IndexTick | MarketStatus | FeedEvent
    ...         ...
    """

    _kind = "market feed"
    _core: MarketFeedCore

    def __init__(
        self,
        client: NeoClient,
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

    def subscribe(self, instruments: Sequence[InstrumentLike], *, mode: str = "quote") -> None:
        """Add ``instruments`` (as for ``quotes()``, or :class:`~aioneo.Instrument`) in
        ``mode``: ``"ltp"``, ``"quote"``, ``"depth"``, ``"full_depth"`` or ``"index"``
        (by name: ``"nse_cm|Nifty 50"``). Over ``max_subscriptions`` pairs it raises
        :class:`~aioneo.SubscriptionError` and changes nothing."""
        self._check_open()
        with self._lock:
            frame = self._core.subscribe(instruments, mode=mode)
        self._send_now(frame)

    def unsubscribe(self, instruments: Sequence[InstrumentLike], *, mode: str = "quote") -> None:
        """Remove ``instruments`` from ``mode`` (those not subscribed are ignored)."""
        self._check_open()
        with self._lock:
            frame = self._core.unsubscribe(instruments, mode=mode)
        self._send_now(frame)

    def subscribe_market_status(self, on: bool = True) -> None:
        """Turn the exchanges' status messages (:class:`~aioneo.MarketStatus`) on or off."""
        self._check_open()
        with self._lock:
            frame = self._core.set_market_status(on)
        self._send_now(frame)

    def latest(self, instrument: InstrumentLike) -> Tick | IndexTick | None:
        """The last tick received for ``instrument`` (any mode), or ``None``."""
        with self._lock:
            return self._core.latest_of(instrument)

    def trading_symbol(self, instrument: str) -> str | None:
        """The trading symbol the server acknowledged for ``"seg|token"``, if any."""
        with self._lock:
            return self._core.trading_symbols.get(instrument)

    @property
    def subscriptions(self) -> int:
        """How many (instrument, mode) pairs are wanted."""
        with self._lock:
            return len(self._core.subscriptions)


class SyncOrderFeed(SyncFeedBase[OrderUpdate | PositionUpdate]):
    """The live order and position feed of a :class:`~aioneo.NeoClient`, the twin of
    :class:`~aioneo.OrderFeed` (reconciled with ``order_report()`` after every connect,
    in the reader thread, before it reads on; see that class for the trade-offs)."""

    _kind = "order feed"
    _core: OrderFeedCore

    def __init__(
        self,
        client: NeoClient,
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

    def _fetch_orders(self, why: str) -> None:
        try:
            orders = self._client.order_report()
        except NeoError as exc:
            log = logger.debug if self._closed or self._client._closed else logger.warning
            log(
                "order feed: the order book could not be fetched after a connect (%s); "
                "updates arrive as pushed until the next reconnect",
                type(exc).__name__,
            )
            orders = None
        with self._ready:
            if orders is not None:
                # The first connect too (``why == "baseline"``): see OrderFeed.
                self._core.reconcile(orders)
                self._ready.notify_all()
            # The reader waited for the book: that wait is not the socket's silence.
            self._core.last_frame_at = time.time()
