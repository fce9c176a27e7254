"""The order feed's messages, typed, and the reconnect-gap reconciliation. Pure.

Messages (``kotak-neo-api.md`` 6.2) are JSON text (bytes are read as UTF-8):
``{"type": "order", "data": {...}}`` becomes :class:`OrderUpdate`, ``{"type": "position",
"data": {...}}`` :class:`PositionUpdate`, and the handshake ack (``"ak"``) an
:class:`~aioneo._core._feed_protocol.AuthResult`. Fields are read with the REST models'
rules (``aioneo._models``: the same enums, ``Decimal`` amounts, IST times, blanks as
``None``); ``raw`` keeps the ``data`` object, so a field Kotak adds is one ``raw["key"]``
away. A message that is not one of those, or whose fields cannot be read, is an
:class:`OtherMessage` for the shell to count; parsing never raises.

Reconciliation (:class:`OrderLedger`). The server pushes the account's current states
again after a reconnect, but nothing replays what changed while the socket was down. The
ledger remembers the state it last delivered per order; after a reconnect the shell
fetches ``order_report()`` and :meth:`OrderLedger.reconcile` returns an update, marked
``reconciled=True``, for every order whose state in the book is not the one last delivered
(it changed during the gap, or the order was placed during it); and
:meth:`OrderLedger.accept` tells the shell to drop a pushed state that repeats the one last
delivered for that order (the re-push), counted as a duplicate. A "state" is the status,
filled quantity, quantity, average price, price and trigger price; a field one side does
not carry (the feed omits some the book has) does not make two states differ. Comparing
with the *last* state only (not every state ever delivered) keeps a genuine return to an
earlier state (open, modified, open) from being taken for a repeat. The trade-off: the
same state pushed twice in a row is delivered once, which loses no information. A state
that is not final pushed after a final one was delivered is stale (the book read after a
reconnect can be newer than the pushes still queued in the socket) and is dropped too.

The first connect is not a gap: the shell calls :meth:`OrderLedger.baseline` with the book
fetched then, so orders that were already in their state before the feed started are not
reported as reconciled at the first reconnect.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from .._exceptions import InvalidResponseError
from .._models import (
    ExchangeSegment,
    Order,
    OrderStatus,
    OrderType,
    Product,
    TransactionType,
    _Row,
)
from ._feed_protocol import AuthResult, parse_order_feed_ack

__all__ = [
    "OrderLedger",
    "OrderUpdate",
    "OtherMessage",
    "PositionUpdate",
    "parse_order_feed",
]

_ENDPOINT = "order_feed"


def _raw() -> Any:
    return field(repr=False, hash=False, compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderUpdate:
    """A change in one order's life, from the order feed (or from reconciliation).

    Fields are named as on :class:`~aioneo.Order`. ``reconciled`` is ``True`` for an
    update the feed did not deliver but the order book showed after a reconnect (then
    ``raw`` is the order-book row, whose keys differ from the feed's, and ``updated_at``
    the book's time). ``tag`` is the order's tag when the message carries it
    (``GuiOrdId``): the link to an :class:`~aioneo.OrderOutcomeUnknown` (see the README).
    """

    order_id: str
    status: OrderStatus | None
    trading_symbol: str | None
    symbol: str | None
    exchange_segment: ExchangeSegment | None
    instrument_token: str | None
    transaction_type: TransactionType | None
    product: Product | None
    order_type: OrderType | None
    quantity: int | None
    filled_quantity: int | None
    pending_quantity: int | None
    price: Decimal | None
    average_price: Decimal | None
    trigger_price: Decimal | None
    tag: str | None
    exchange_order_id: str | None
    rejection_reason: str | None
    order_time: datetime | None
    exchange_time: datetime | None
    updated_at: datetime | None
    reconciled: bool = False
    raw: Mapping[str, Any] = _raw()

    @classmethod
    def _from(cls, row: _Row) -> OrderUpdate:
        updated = row.when("updRecvTm")
        if updated is None:
            updated = row.when("boeSec")
        return cls(
            order_id=row.required_text("nOrdNo"),
            status=row.code("ordSt", OrderStatus),
            trading_symbol=row.text("trdSym"),
            symbol=row.text("sym"),
            exchange_segment=row.code("exSeg", ExchangeSegment),
            instrument_token=row.text("tok"),
            transaction_type=row.code("trnsTp", TransactionType),
            product=row.code("prod", Product),
            order_type=row.code("prcTp", OrderType),
            quantity=row.integer("qty"),
            filled_quantity=row.integer("fldQty"),
            pending_quantity=row.integer("unFldSz"),
            price=row.decimal("prc"),
            average_price=row.decimal("avgPrc"),
            trigger_price=row.decimal("trgPrc"),
            tag=row.text("GuiOrdId"),
            exchange_order_id=row.text("exOrdId"),
            rejection_reason=row.text("rejRsn"),
            order_time=row.when("ordDtTm"),
            exchange_time=row.when("exCfmTm"),
            updated_at=updated,
            raw=row.raw,
        )

    @classmethod
    def from_order(cls, order: Order, *, reconciled: bool = True) -> OrderUpdate:
        """The update an order-book row stands for (reconciliation)."""
        return cls(
            order_id=order.order_id,
            status=order.status,
            trading_symbol=order.trading_symbol,
            symbol=order.symbol,
            exchange_segment=order.exchange_segment,
            instrument_token=order.instrument_token,
            transaction_type=order.transaction_type,
            product=order.product,
            order_type=order.order_type,
            quantity=order.quantity,
            filled_quantity=order.filled_quantity,
            pending_quantity=order.pending_quantity,
            price=order.price,
            average_price=order.average_price,
            trigger_price=order.trigger_price,
            tag=order.tag,
            exchange_order_id=order.exchange_order_id,
            rejection_reason=order.rejection_reason,
            order_time=order.order_time,
            exchange_time=order.exchange_time,
            updated_at=order.updated_at,
            reconciled=reconciled,
            raw=order.raw,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class PositionUpdate:
    """A change in one position, from the order feed. Quantities and amounts are today's
    (``flBuyQty``, ``buyAmt``, ...); missing ones are 0, as in :class:`~aioneo.Position`."""

    account_id: str | None
    symbol: str | None
    exchange_segment: ExchangeSegment | None
    product: Product | None
    buy_quantity: int
    sell_quantity: int
    buy_amount: Decimal
    sell_amount: Decimal
    position_flag: str | None
    square_off_flag: str | None
    lot_size: int | None
    multiplier: Decimal | None
    updated_at: datetime | None
    raw: Mapping[str, Any] = _raw()

    @property
    def net_quantity(self) -> int:
        """Today's buys minus today's sells."""
        return self.buy_quantity - self.sell_quantity

    @classmethod
    def _from(cls, row: _Row) -> PositionUpdate:
        return cls(
            account_id=row.text("actId"),
            symbol=row.text("sym"),
            exchange_segment=row.code("exSeg", ExchangeSegment),
            product=row.code("prod", Product),
            buy_quantity=row.integer0("flBuyQty"),
            sell_quantity=row.integer0("flSellQty"),
            buy_amount=row.decimal0("buyAmt"),
            sell_amount=row.decimal0("sellAmt"),
            position_flag=row.text("posFlg"),
            square_off_flag=row.text("sqrFlg"),
            lot_size=row.integer("lotSz"),
            multiplier=row.decimal("multiplier"),
            updated_at=row.when("hsUpTm"),
            raw=row.raw,
        )


@dataclass(frozen=True, slots=True)
class OtherMessage:
    """An order-feed frame that is not an order, a position or a handshake ack (or could
    not be read: ``reason`` says why). Counted by the shell, not delivered."""

    reason: str
    raw: object = field(repr=False)


def parse_order_feed(
    frame: str | bytes,
) -> OrderUpdate | PositionUpdate | AuthResult | OtherMessage:
    """One order-feed frame, typed. Never raises."""
    if isinstance(frame, bytes | bytearray):
        try:
            frame = bytes(frame).decode("utf-8")
        except UnicodeDecodeError:
            return OtherMessage("not UTF-8", frame)
    try:
        data = json.loads(frame)
    except ValueError:
        return OtherMessage("not JSON", frame)
    if not isinstance(data, Mapping):
        return OtherMessage("not a JSON object", data)
    kind = data.get("type")
    try:
        if kind == "order":
            return OrderUpdate._from(_Row(_ENDPOINT, data.get("data")))
        if kind == "position":
            return PositionUpdate._from(_Row(_ENDPOINT, data.get("data")))
    except InvalidResponseError as exc:
        return OtherMessage(f"unreadable {kind} message: {exc}", data)
    ack = parse_order_feed_ack(data)
    if ack is not None:
        return ack
    return OtherMessage(f"unknown message type {kind!r}", data)


_State = tuple[
    OrderStatus | None, int | None, int | None, Decimal | None, Decimal | None, Decimal | None
]


def _state(item: OrderUpdate | Order) -> _State:
    return (
        item.status,
        item.filled_quantity,
        item.quantity,
        item.average_price,
        item.price,
        item.trigger_price,
    )


def _same(a: _State, b: _State) -> bool:
    if a[0] != b[0]:
        return False
    return all(x is None or y is None or x == y for x, y in zip(a[1:], b[1:], strict=True))


def _older(state: _State, last: _State) -> bool:
    """Whether ``state`` must be older than ``last`` for the same order: a final status is
    never followed by a live one, and a filled quantity never goes down."""
    was, now = last[0], state[0]
    if was is not None and was.is_terminal and not (now is not None and now.is_terminal):
        return True
    return state[1] is not None and last[1] is not None and state[1] < last[1]


class OrderLedger:
    """The order states delivered so far, per order id (see the module docstring).

    Not thread-safe by itself: the feed's reader owns it.
    """

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last: dict[str, _State] = {}

    def __len__(self) -> int:
        return len(self._last)

    def _delivered(self, order_id: str, state: _State) -> bool:
        last = self._last.get(order_id)
        return last is not None and _same(state, last)

    def baseline(self, orders: Iterable[Order]) -> None:
        """Take the book at the first connect as known (nothing emitted)."""
        for order in orders:
            self._last.setdefault(order.order_id, _state(order))

    def accept(self, update: OrderUpdate) -> bool:
        """``True``: deliver ``update`` (now recorded); ``False``: it repeats the state last
        delivered for that order (the server's re-push after a reconnect), or it is stale:
        a state that is not final arriving after a final one was delivered, or one with
        less filled than already delivered (the book, read after a reconnect, was newer
        than pushes still in the socket; an order that is complete, rejected or cancelled
        does not change again, and a fill is never undone): drop it."""
        state = _state(update)
        if self._delivered(update.order_id, state):
            return False
        last = self._last.get(update.order_id)
        if last is not None and _older(state, last):
            return False
        self._last[update.order_id] = state
        return True

    def reconcile(self, orders: Iterable[Order]) -> list[OrderUpdate]:
        """After a reconnect: an update (``reconciled=True``) for every order whose state
        in the book differs from the one last delivered (or that was never delivered), in
        the book's order; each is then recorded, so the server's re-push of the same state
        is dropped by :meth:`accept`. An order last delivered in a final state (complete,
        rejected, cancelled) is left alone: it cannot have changed, and a book row that
        says otherwise is older than the feed."""
        out = []
        for order in orders:
            state = _state(order)
            last = self._last.get(order.order_id)
            if last is not None:
                status = last[0]
                if _same(state, last) or (status is not None and status.is_terminal):
                    continue
                if _older(state, last):  # a book that lags the feed
                    continue
            self._last[order.order_id] = state
            out.append(OrderUpdate.from_order(order, reconciled=True))
        return out
