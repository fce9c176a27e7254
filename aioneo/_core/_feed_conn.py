"""One feed's whole state, sans I/O: what the shells drive (the h11 / ``websockets`` shape).

A shell owns a socket and a clock; it tells the core what happened and does what the core
answers. Nothing here reads a clock, sleeps, locks or touches a socket:

* the socket opened: ``begin(...)`` returns the auth frame to send;
* a frame arrived: ``receive(frame, now)`` decodes it into the buffer and returns what to
  send (the wanted subscriptions once authenticated) and whether the session was refused;
* the user (un)subscribed: ``subscribe(...)`` edits the wanted set and returns the frame to
  send now, or ``None`` while there is no live connection (the next connect sends it);
* time passed: ``stall(now)`` says whether to give up on a silent socket: ``stall_timeout``
  once live, and ``auth_timeout`` (10 s) for an auth answer that never comes (the server
  may keep a refused socket open and mute; openalgo's "auth watchdog");
* the socket ended or failed to open: ``closed(...)`` says whether the session was refused
  (report "session expired" for :attr:`epoch` to the client's ``SessionMachine``), how long
  to wait before the next attempt, or to give up;
* the consumer reads: ``next_item()`` pops the buffer (``FeedOverflowError`` after the
  backlog if the buffer failed).

Events (:class:`~aioneo.FeedEvent`) are pushed into the same buffer as the data, so the
consumer sees "disconnected", "stalled", "connected" and "resubscribed" in order with the
ticks. ``"disconnected"`` is emitted when a live connection ends, once per outage: failed
attempts while down only count (``stats``), they do not flood the stream.

Not thread-safe by itself: the sync shell holds its lock around each call (never across
I/O); the async shell calls it from its loop only.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from .._models import Order
from ._feed_buffer import DEFAULT_CAPACITY, FeedBuffer
from ._feed_decode import EXCHANGE_IDS, FeedDecoder, FeedItem, IndexTick, Tick
from ._feed_events import FeedEvent, FeedStats
from ._feed_policy import DEFAULT_BACKOFF_BASE, DEFAULT_BACKOFF_CAP, ReconnectPolicy, stall_check
from ._feed_protocol import (
    AUTH_CLOSE_CODES,
    AuthOutcome,
    AuthResult,
    CloseKind,
    SFeedAuthWait,
    close_kind,
    handshake_status_kind,
    order_feed_handshake,
    parse_sfeed_control,
    sfeed_auth_frame,
)
from ._feed_subs import DEFAULT_MAX_SUBSCRIPTIONS, Subscriptions
from ._order_feed import OrderLedger, OrderUpdate, OtherMessage, PositionUpdate, parse_order_feed
from ._requests import InstrumentLike, _neo_symbol

__all__ = [
    "DEFAULT_AUTH_TIMEOUT",
    "DEFAULT_ORDER_CAPACITY",
    "Closed",
    "MarketFeedCore",
    "OrderFeedCore",
    "Phase",
    "Received",
]

#: Order updates waiting unread before the order feed fails (it never drops one).
DEFAULT_ORDER_CAPACITY = 100_000
#: Seconds a new connection may wait for its auth answer (the SDK waits 10 s per frame).
DEFAULT_AUTH_TIMEOUT = 10.0

T = TypeVar("T")


class Phase(enum.Enum):
    DOWN = "down"  # no socket (before the first, between attempts)
    AUTHENTICATING = "authenticating"  # socket open, auth sent, no answer yet
    LIVE = "live"


@dataclass(frozen=True, slots=True)
class Received:
    """What to do after a frame: ``send`` these texts, in order; if ``auth`` is set the
    authentication did not succeed (refused or failed: close the socket, then call
    ``closed(auth=...)``); the order feed asks for the order book with ``fetch_orders``
    (``"baseline"`` after the first connect, ``"reconcile"`` after a reconnect)."""

    send: tuple[str, ...] = ()
    auth: AuthResult | None = None
    fetch_orders: str | None = None


@dataclass(frozen=True, slots=True)
class Closed:
    """What to do after a connection ended.

    ``expired``: the session of ``epoch`` was refused: report it to the session machine
    (``on_expired(epoch, now)``) and reconnect when that answers, without ``delay``.
    Otherwise wait ``delay`` seconds and reconnect with the current session. ``give_up``:
    ``max_reconnects`` attempts in a row failed: end the feed with ``reason``.
    """

    delay: float
    attempt: int
    expired: bool = False
    epoch: int | None = None
    give_up: bool = False
    reason: str = ""


class _FeedCore(Generic[T]):
    """What both feeds share: phases, reconnect policy, stall, events, buffer, stats."""

    def __init__(
        self,
        buffer: FeedBuffer[T | FeedEvent],
        *,
        max_reconnects: int | None,
        stall_timeout: float | None,
        backoff_base: float,
        backoff_cap: float,
        auth_close_codes: frozenset[int],
        auth_timeout: float,
    ) -> None:
        if not auth_timeout > 0:
            raise ValueError(f"auth_timeout must be > 0 seconds, got {auth_timeout!r}")
        if stall_timeout is not None and (
            isinstance(stall_timeout, bool)
            or not isinstance(stall_timeout, int | float)
            or not stall_timeout > 0
        ):
            raise ValueError(
                f"stall_timeout must be a number of seconds > 0, or None; got {stall_timeout!r}"
            )
        self.buffer = buffer
        self.reconnect = ReconnectPolicy(
            max_reconnects=max_reconnects, base=backoff_base, cap=backoff_cap
        )
        self.stall_timeout = stall_timeout
        self.auth_timeout = float(auth_timeout)
        self.auth_close_codes = auth_close_codes
        self.stats = FeedStats()
        self.phase = Phase.DOWN
        #: The session epoch of the current (or last) connection's credentials.
        self.epoch: int | None = None
        self.last_frame_at = 0.0
        self._live_once = False
        self._was_live = False

    # -- shared steps ------------------------------------------------------------------
    def _opened(self, epoch: int, now: float) -> None:
        self.phase = Phase.AUTHENTICATING
        self.epoch = epoch
        self.last_frame_at = now

    def _push(self, item: T | FeedEvent) -> None:
        self.buffer.push(item)
        self.stats.conflated = self.buffer.conflated
        self.stats.dropped = self.buffer.dropped

    def _went_live(self, now: float) -> bool:
        """Record a live connection; ``True`` if it is a reconnect."""
        reconnect = self._live_once
        self.phase = Phase.LIVE
        self._live_once = self._was_live = True
        self.stats.connects += 1
        if reconnect:
            self.stats.reconnects += 1
        self.reconnect.on_live(now)
        self._push(FeedEvent(kind="connected", at=now, reconnect=reconnect, epoch=self.epoch))
        return reconnect

    def stall(self, now: float) -> float | None:
        """``None``: the socket has been silent for ``stall_timeout``: close it (a
        ``"stalled"`` event is queued), then call :meth:`closed`. Else: seconds until
        the next check (``inf`` when there is no watchdog or no socket)."""
        if self.phase is Phase.DOWN:
            return float("inf")
        limit = self.stall_timeout
        if self.phase is Phase.AUTHENTICATING and (limit is None or limit > self.auth_timeout):
            limit = self.auth_timeout  # an auth reply that never comes
        remaining = stall_check(last_frame_at=self.last_frame_at, now=now, stall_timeout=limit)
        if remaining is None:
            self.stats.stalls += 1
            waiting = "no auth reply" if self.phase is Phase.AUTHENTICATING else "no frame"
            self._push(
                FeedEvent(
                    kind="stalled", at=now, reason=f"{waiting} for {limit:g} s", epoch=self.epoch
                )
            )
        return remaining

    def closed(
        self,
        *,
        now: float,
        jitter: float,
        code: int | None = None,
        reason: str = "",
        auth: AuthResult | None = None,
        handshake_status: int | None = None,
    ) -> Closed:
        """The socket ended, or the open failed (``handshake_status``: the HTTP status of
        a refused upgrade; ``auth``: what :meth:`receive` reported). ``code``/``reason``
        are the close frame's (``None``/``""`` when no close frame arrived)."""
        expired = (
            (auth is not None and auth.outcome is AuthOutcome.REFUSED)
            or close_kind(code, auth_codes=self.auth_close_codes) is CloseKind.AUTH
            or (
                handshake_status is not None
                and handshake_status_kind(handshake_status) is CloseKind.AUTH
            )
        )
        if auth is not None:
            why = auth.reason
        elif handshake_status is not None:
            why = f"the WebSocket handshake was answered HTTP {handshake_status}"
        else:
            why = reason
        if self._was_live:
            self._push(
                FeedEvent(kind="disconnected", at=now, code=code, reason=why, epoch=self.epoch)
            )
        self._was_live = False
        self.phase = Phase.DOWN
        if expired:
            self.stats.auth_refusals += 1
        decision = self.reconnect.on_closed(now, jitter)
        if decision.give_up:
            return Closed(
                0.0,
                decision.attempt,
                give_up=True,
                reason=f"gave up after {decision.attempt} reconnect attempts in a row"
                + (f"; the last one: {why}" if why else ""),
            )
        if expired:
            return Closed(0.0, decision.attempt, expired=True, epoch=self.epoch, reason=why)
        return Closed(decision.delay, decision.attempt, reason=why)

    def next_item(self) -> T | FeedEvent | None:
        """The next item for the consumer, ``None`` if none is waiting."""
        item = self.buffer.pop()
        if item is not None:
            self.stats.items += 1
        return item


class MarketFeedCore(_FeedCore[FeedItem]):
    """The market feed's state (see the module docstring)."""

    def __init__(
        self,
        *,
        capacity: int = DEFAULT_CAPACITY,
        overflow: str = "conflate",
        max_subscriptions: int = DEFAULT_MAX_SUBSCRIPTIONS,
        max_reconnects: int | None = None,
        stall_timeout: float | None = None,
        backoff_base: float = DEFAULT_BACKOFF_BASE,
        backoff_cap: float = DEFAULT_BACKOFF_CAP,
        auth_close_codes: frozenset[int] = AUTH_CLOSE_CODES,
        auth_timeout: float = DEFAULT_AUTH_TIMEOUT,
    ) -> None:
        super().__init__(
            FeedBuffer(capacity=capacity, overflow=overflow, what="market items"),
            max_reconnects=max_reconnects,
            stall_timeout=stall_timeout,
            backoff_base=backoff_base,
            backoff_cap=backoff_cap,
            auth_close_codes=auth_close_codes,
            auth_timeout=auth_timeout,
        )
        self.subscriptions = Subscriptions(max_subscriptions=max_subscriptions)
        #: ``"nse_cm|2885" -> "RELIANCE-EQ"`` from the subscribe acknowledgements.
        self.trading_symbols: dict[str, str] = {}
        #: The last tick of each instrument, by (exchange id, token), kept before the
        #: buffer (conflation and drops do not change it); see :meth:`latest_of`.
        self.latest: dict[tuple[int, int], Tick | IndexTick] = {}
        self._auth: SFeedAuthWait | None = None
        self._decoder: FeedDecoder | None = None
        self._malformed_before = 0

    @property
    def dividers(self) -> Mapping[int, int]:
        """The live connection's dividers by exchange id (empty before auth)."""
        return {} if self._decoder is None else self._decoder.dividers

    def begin(self, *, user: str, sid: str, epoch: int, now: float) -> str:
        """The socket opened with the session of ``epoch``: the auth frame to send."""
        frame = sfeed_auth_frame(user=user, sid=sid, now_ms=int(now * 1000))
        self._opened(epoch, now)
        self._auth = SFeedAuthWait()
        self._decoder = None
        return frame

    def receive(self, frame: str | bytes, now: float) -> Received:
        self.last_frame_at = now
        if self.phase is Phase.LIVE:
            decoder = self._decoder
            assert decoder is not None  # set with LIVE
            if isinstance(frame, bytes | bytearray | memoryview):
                push = self.buffer.push
                latest = self.latest
                for item in decoder.decode(frame):
                    push(item)
                    if isinstance(item, Tick | IndexTick):
                        values = item._v
                        latest[(values[2], values[7])] = item
                self.stats.conflated = self.buffer.conflated
                self.stats.dropped = self.buffer.dropped
                if decoder.malformed != self._malformed_before:
                    self.stats.malformed += decoder.malformed - self._malformed_before
                    self._malformed_before = decoder.malformed
            else:
                control = parse_sfeed_control(frame)
                self.trading_symbols.update(control.trading_symbols)
            return Received()
        if self.phase is not Phase.AUTHENTICATING or self._auth is None:
            return Received()  # a frame after close: ignored
        result = self._auth.feed(frame)
        if result is None:
            return Received()
        if result.outcome is not AuthOutcome.ACCEPTED:
            return Received(auth=result)
        self._decoder = FeedDecoder(result.dividers)
        self._malformed_before = 0
        self._auth = None
        reconnect = self._went_live(now)
        frames = tuple(self.subscriptions.connect_frames())
        if reconnect and frames:
            self._push(
                FeedEvent(
                    kind="resubscribed", at=now, subscriptions=len(self.subscriptions),
                    epoch=self.epoch,
                )
            )  # fmt: skip
        return Received(send=frames)

    def latest_of(self, instrument: InstrumentLike) -> Tick | IndexTick | None:
        """The last tick received for ``instrument`` (given as to ``subscribe``), any
        mode, or ``None``. An index is looked up by name (``"nse_cm|Nifty 50"``) or by
        the numeric token its ticks carry. Keyed by numbers, so the reader builds no
        string per tick; the lookup pays for the parsing."""
        try:
            segment, token = _neo_symbol(0, instrument)
        except (TypeError, ValueError) as exc:  # name the argument as it is called here
            raise type(exc)(str(exc).replace("instrument_tokens[0]", "instrument", 1)) from None
        segment = str(segment).strip().lower()
        token = str(token).strip()
        exchange_id = EXCHANGE_IDS.get(segment)
        if exchange_id is None:
            return None
        if token.isdigit():
            return self.latest.get((exchange_id, int(token)))
        for (exid, _), item in self.latest.items():
            if exid == exchange_id and isinstance(item, IndexTick) and item.name == token:
                return item
        return None

    def subscribe(self, instruments: Sequence[InstrumentLike], *, mode: str) -> str | None:
        """Edit the wanted set; the frame to send now if live (``SubscriptionError`` over
        the cap, before anything changes)."""
        change = self.subscriptions.subscribe(instruments, mode=mode)
        return change.frame if self.phase is Phase.LIVE else None

    def unsubscribe(self, instruments: Sequence[InstrumentLike], *, mode: str) -> str | None:
        change = self.subscriptions.unsubscribe(instruments, mode=mode)
        return change.frame if self.phase is Phase.LIVE else None

    def set_market_status(self, on: bool) -> str | None:
        frame = self.subscriptions.set_market_status(on)
        return frame if self.phase is Phase.LIVE else None


class OrderFeedCore(_FeedCore[OrderUpdate | PositionUpdate]):
    """The order feed's state: nothing conflated or dropped, gaps reconciled.

    Live on the server's ``"ak": "ok"`` (or on a first order/position message, which
    proves the session was accepted). After going live the shell fetches the order book
    (``Received.fetch_orders``) and hands it to :meth:`baseline` (first connect) or
    :meth:`reconcile` (a reconnect). Pushed order states already delivered are dropped
    (``stats.duplicates``).
    """

    def __init__(
        self,
        *,
        capacity: int = DEFAULT_ORDER_CAPACITY,
        max_reconnects: int | None = None,
        stall_timeout: float | None = None,
        backoff_base: float = DEFAULT_BACKOFF_BASE,
        backoff_cap: float = DEFAULT_BACKOFF_CAP,
        auth_close_codes: frozenset[int] = AUTH_CLOSE_CODES,
        auth_timeout: float = DEFAULT_AUTH_TIMEOUT,
    ) -> None:
        super().__init__(
            FeedBuffer.never_drop(capacity=capacity),
            max_reconnects=max_reconnects,
            stall_timeout=stall_timeout,
            backoff_base=backoff_base,
            backoff_cap=backoff_cap,
            auth_close_codes=auth_close_codes,
            auth_timeout=auth_timeout,
        )
        self.ledger = OrderLedger()

    def begin(self, *, token: str, sid: str, epoch: int, now: float) -> str:
        """The socket opened with the session of ``epoch``: the handshake to send."""
        frame = order_feed_handshake(token=token, sid=sid)
        self._opened(epoch, now)
        return frame

    def receive(self, frame: str | bytes, now: float) -> Received:
        self.last_frame_at = now
        if self.phase is Phase.DOWN:
            return Received()
        message = parse_order_feed(frame)
        fetch: str | None = None
        if isinstance(message, AuthResult):
            if message.outcome is not AuthOutcome.ACCEPTED:
                return Received(auth=message)
            if self.phase is Phase.AUTHENTICATING:
                fetch = "reconcile" if self._went_live(now) else "baseline"
            return Received(fetch_orders=fetch)
        if isinstance(message, OtherMessage):
            self.stats.malformed += 1
            return Received()
        if self.phase is Phase.AUTHENTICATING:
            fetch = "reconcile" if self._went_live(now) else "baseline"
        if isinstance(message, OrderUpdate) and not self.ledger.accept(message):
            self.stats.duplicates += 1
        else:
            self._push(message)
        return Received(fetch_orders=fetch)

    def baseline(self, orders: Iterable[Order]) -> None:
        """The book fetched after the first connect: known, nothing emitted."""
        self.ledger.baseline(orders)

    def reconcile(self, orders: Iterable[Order]) -> int:
        """The book fetched after a reconnect: queue an update for every order that
        changed during the gap; returns how many."""
        updates = self.ledger.reconcile(orders)
        for update in updates:
            self._push(update)
        self.stats.reconciled += len(updates)
        return len(updates)
