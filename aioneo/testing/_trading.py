"""The emulator's trading domain: orders, reports, portfolio, limits, margin, market data.

:class:`TradingBook` answers one already-authenticated, already-decoded request at a time::

    book = TradingBook(seed=7)
    status, body = book.handle(
        "place_order", ucc="AB123", now=1_767_000_000.0, path={}, query={},
        data={"am": "NO", "dq": "0", "es": "nse_cm", "mp": "0", "pc": "CNC", "pr": "0",
              "pt": "MKT", "qt": "1", "rt": "DAY", "tp": "0", "ts": "TCS-EQ", "tt": "B",
              "ig": "strat-01", "os": "NEOTRADEAPI"},
    )
    # status == 200, body == {"stat": "Ok", "nOrdNo": "2512...", "stCode": 200}

It is pure: no I/O, no asyncio, no clock reads (time comes in as ``now``, unix seconds),
and randomness comes from ``random.Random`` seeded with ``seed``. The same seed and the
same sequence of calls give identical answers.

The order state machine (all transitions happen inside the call that causes them)::

    place:  put order req received -> validation pending -> open pending -> open
              -> complete   MKT, SL-M once triggered, and marketable L/SL: filled at the LTP
              -> cancelled  a non-marketable IOC
              (rests open)  a non-marketable L/SL, an untriggered SL/SL-M, any AMO
            put order req received -> validation pending -> rejected   (RMS: not enough cash)
    modify: open -> modified -> open (-> complete / cancelled as above)
    cancel: open -> cancelled
    walk:   open -> complete    a resting L / SL / SL-M (not AMO) whose price the market
                                crosses (filled at the crossing price, see below)

Resting orders fill from the moving market (see "The moving market" below), at the first
walk step that reaches them or at a jump (``set_price`` / ``push_tick``) that crosses them.
Fills are whole (no partial fills). An SL whose trigger is met but whose limit is not stays
``open`` (Kotak's "trigger pending" is not modelled) and from then on waits as a limit
order. AMO orders are never matched by the walk (there is no pre-open session): they rest
until modified with ``am=NO`` or cancelled.

The moving market: an instrument is *live* while a feed subscription (:meth:`activate`,
reference counted), a resting order, or a price given by a test (:meth:`set_price`,
:meth:`push_tick`; for good) holds it. A live instrument walks at :attr:`tick_rate` steps
per second, at any hour (a paper-trading venue is used most at night; prices of
instruments never live still follow the sine model, frozen outside the session), by the
seeded walk of :mod:`aioneo.testing._trading_walk`; an instrument that stops being live
keeps its walked price and walks on from it when live again. Every public call first walks
the market up to its ``now`` (so REST, snapshots and fills agree at the same ``now``);
time never runs back: a call with an earlier ``now`` than one already seen sees the
latest state. A walk fill happens at the time of its step (``t0 + n / rate``), so whether
and when an order fills does not depend on how often anyone looks; one ``advance`` walks
the live instruments one after another, so fills of different instruments within one
call are not interleaved by time (trade ids follow that order).

Order-feed events (:meth:`add_listener`): every status an order passes through is an
``{"type": "order", "data": <its order-book row>}`` message and every fill also an
``{"type": "position", "data": <its position row, all strings>}`` message; they are
collected during a call and handed to the listeners at its end, under the lock.

Money model (integer paise, per user): every user starts with :data:`OPENING_CASH`. A buy
fill debits its value, a sell fill credits it; an open buy order blocks its value.
``Net = OPENING_CASH - bought + sold - blocked`` and
``MarginUsed = max(bought - sold, 0) + blocked``; check-margin's ``reqdMrgn`` for a buy is
exactly what placing that order at the same ``now`` debits or blocks (0 for a sell).
The cash check (RMS) runs at placement only; a modify is not re-checked.
Holdings are a fixed demo portfolio per user (T+1: today's fills show in positions only).

Tags: an accepted order's ``ig`` is echoed as ``GuiOrdId``; reusing it on the same IST day
for the same user is refused with stCode 5204 and creates nothing. Modify rewrites the tag
to ``<tag>-M<n>`` (n-th modification) and cancel to ``<tag>-<unix seconds>``, so the
original stays a prefix. Untagged orders get a system value ``<secs>-<usec>-<ucc>-ADMINAPI``.

Error bodies (trading endpoints): ``{"stCode": <code>, "errMsg": <text>, "stat": "Not_Ok"}``
with HTTP 200, except a missing or non-object jData (HTTP 400, stCode 5202). Codes:
1006 exchange, 1007 symbol, 1009 quantity, 5202 any other field, 5203 unknown order
number ("No Data"), 5204 tag already used, 1021 modify/cancel of an order that is not
open (``errMsg`` "order is completed" / "order is cancelled" / "order is rejected").
Market-data errors use ``{"status": "ERROR", "fault": {"code": 400, "message": ...}}``
with HTTP 400. :meth:`TradingBook.handle` never raises: an internal bug answers HTTP 500
with stCode 1005 "Internal Error".

Concurrency: every public method takes one internal ``threading.Lock``, so a book may be
shared by the event loop and by threads (control API, tests). Bodies returned by
``handle`` share their row dicts with later answers and with the book: rows are replaced,
never mutated, once published, so serializing a body outside the lock is safe; callers
must treat bodies as read-only. :meth:`order_rows` returns copies.
"""

from __future__ import annotations

import math
import random
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation

from aioneo.testing._trading_market import (
    MAX_QUOTES,
    SEGMENTS,
    FeedSnapshot,
    Instrument,
    Market,
    day_date,
    expiry_epoch,
    fmt6,
    fmt_paise,
    ist_day,
    to_paise,
)
from aioneo.testing._trading_walk import Tape

__all__ = [
    "DEFAULT_SCRIP_BASE_URL",
    "DEFAULT_TICK_RATE",
    "MAX_TICK_RATE",
    "OPENING_CASH",
    "TRADING_OPS",
    "FeedListener",
    "FeedSnapshot",
    "TradingBook",
    "check_tick_rate",
    "rupees_to_paise",
]

#: Cash every user starts with, in rupees.
OPENING_CASH = 1_000_000
DEFAULT_SCRIP_BASE_URL = "https://lapi.kotaksecurities.com/wso2-scripmaster/v1/prod"

#: The endpoint names :meth:`TradingBook.handle` answers.
TRADING_OPS = (
    "place_order",
    "modify_order",
    "cancel_order",
    "order_book",
    "order_detail",
    "order_history",
    "trades",
    "positions",
    "holdings",
    "limits",
    "margin",
    "scrip_master",
    "quotes",
    "expiries",
    "option_chain",
    "historical",
)

#: Walk steps per second per live instrument (see :mod:`aioneo.testing._trading_walk`).
DEFAULT_TICK_RATE = 2.0
#: The highest tick rate accepted.
MAX_TICK_RATE = 1_000_000.0
#: Largest trade print :meth:`TradingBook.push_tick` takes: the feed's quantity fields are
#: signed 64-bit, and the day's volume adds every print to the model's own.
MAX_PRINT_QTY = 10**12

#: ``fn(ucc, message)``: called under the book's lock for every order-feed event.
FeedListener = Callable[[str, dict[str, object]], None]

_IST = timezone(timedelta(hours=5, minutes=30))
_OPENING_PAISE = OPENING_CASH * 100

_ORDER_TYPES = ("L", "MKT", "SL", "SL-M")
_PRODUCTS = ("CNC", "NRML", "MIS", "MTF")
_VALIDITIES = ("DAY", "IOC")
_SIDES = ("B", "S")
_YES_NO = ("NO", "YES")

_ST_OK = 200
_ST_INTERNAL = 1005
_ST_EXCHANGE = 1006
_ST_SYMBOL = 1007
_ST_QUANTITY = 1009
_ST_NOT_OPEN = 1021
_ST_REQUEST = 5202
_ST_NO_DATA = 5203
_ST_TAG_USED = 5204

_PUT = "put order req received"
_VALIDATION = "validation pending"
_OPEN_PENDING = "open pending"
_OPEN = "open"
_COMPLETE = "complete"
_REJECTED = "rejected"
_CANCELLED = "cancelled"
_MODIFIED = "modified"

_Reply = tuple[int, object]


class _Reject(Exception):
    """Internal: abort the current operation with this (status, body)."""

    def __init__(self, status: int, body: dict[str, object]) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


def _finite(now: object) -> float:
    if isinstance(now, bool) or not isinstance(now, int | float) or not math.isfinite(now):
        raise ValueError(f"now={now!r} is not allowed: pass finite unix seconds")
    return float(now)


def _business(code: int, message: str, *, status: int = 200) -> _Reject:
    return _Reject(status, {"stCode": code, "errMsg": message, "stat": "Not_Ok"})


# --- value parsing (jData values are usually strings, but be lenient with numbers) -----


def _text(value: object) -> str | None:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _quantity(value: object, name: str, *, code: int = _ST_QUANTITY) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        qty = value
    else:
        text = value.strip() if isinstance(value, str) else None
        if not text or not text.isdigit():
            raise _business(code, f"Invalid Quantity: {name}={value!r} is not a positive integer")
        qty = int(text)
    if qty <= 0:
        raise _business(code, f"Invalid Quantity: {name}={value!r} is not a positive integer")
    return qty


def _money(value: object, name: str) -> int | None:
    """A price field in paise; ``None`` when absent or empty."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        number = math.nan
    elif isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = math.nan
    else:
        number = math.nan
    if not math.isfinite(number) or number < 0 or number > 1e12:
        raise _business(_ST_REQUEST, f"Invalid Request: {name}={value!r} is not a price >= 0")
    return to_paise(number)


def _choice(data: Mapping[str, object], name: str, allowed: tuple[str, ...], default: str) -> str:
    raw = data.get(name)
    if raw is None or raw == "":
        if default:
            return default
        raise _business(
            _ST_REQUEST,
            f"Invalid Request: missing {name!r}; expected one of {', '.join(allowed)}",
        )
    text = _text(raw)
    if text is None or text not in allowed:
        raise _business(
            _ST_REQUEST,
            f"Invalid Request: {name}={raw!r} is not one of {', '.join(allowed)}",
        )
    return text


def _order_no(value: object, name: str) -> str:
    text = _text(value)
    if not text:
        raise _business(_ST_REQUEST, f"Invalid Request: missing order number {name!r}")
    return text


def _jdata(data: Mapping[str, object] | None) -> Mapping[str, object]:
    if not isinstance(data, Mapping):
        raise _business(
            _ST_REQUEST,
            f"Invalid Request: jData must be a JSON object, got {type(data).__name__}",
            status=400,
        )
    return data


def check_tick_rate(value: object) -> float:
    """``value`` as a tick rate (steps per second, 0 to :data:`MAX_TICK_RATE`), or ValueError."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 <= value <= MAX_TICK_RATE
    ):
        raise ValueError(
            f"tick_rate={value!r} is not allowed: pass a number of walk steps per second per "
            f"live instrument from 0 (prices move only when set) to {MAX_TICK_RATE:,.0f}"
        )
    return float(value)


def rupees_to_paise(price: object, *, name: str = "price") -> int:
    """A price in rupees (``Decimal``, ``str``, ``int`` or ``float``) as integer paise.

    Raises ``ValueError`` naming ``name`` unless the price is finite, above 0 and has at
    most two decimals (a float is read by its shortest repr: ``0.1`` is 10 paise).
    """
    allowed = "pass rupees above 0 with at most 2 decimals, e.g. Decimal('3450.05') or '3450.05'"
    if isinstance(price, bool) or not isinstance(price, Decimal | str | int | float):
        raise ValueError(f"{name}={price!r} is not allowed: {allowed}")
    try:
        value = Decimal(repr(price)) if isinstance(price, float) else Decimal(str(price).strip())
    except InvalidOperation:
        raise ValueError(f"{name}={price!r} is not allowed: {allowed}") from None
    if not value.is_finite() or value <= 0:
        raise ValueError(f"{name}={price!r} is not allowed: {allowed}")
    paise = value * 100
    if paise != paise.to_integral_value():
        raise ValueError(f"{name}={price!r} is not allowed: {allowed}")
    return int(paise)


# --- time formats -----------------------------------------------------------------------


def _dt(now: float) -> datetime:
    return datetime.fromtimestamp(now, _IST)


def _dt_text(now: float) -> str:
    return _dt(now).strftime("%d-%b-%Y %H:%M:%S")  # 21-Jun-2022 14:49:32


def _hs_text(now: float) -> str:
    return _dt(now).strftime("%Y/%m/%d %H:%M:%S")  # 2022/06/21 14:55:28


def _expiry_text(inst: Instrument) -> str:
    return day_date(inst.expiry).strftime("%d %b, %Y") if inst.expiry else "NA"


# --- state ------------------------------------------------------------------------------


@dataclass(slots=True)
class _Order:
    no: str
    ucc: str
    inst: Instrument
    side: str
    product: str
    order_type: str
    validity: str
    qty: int
    price: int  # paise; 0 for MKT / SL-M
    trigger: int
    disclosed: int
    amo: bool
    source: str
    tag: str | None
    gui: str
    placed: float
    usec: int
    status: str = _PUT
    filled: int = 0
    avg: int = 0
    cancelled: int = 0
    blocked: int = 0  # paise held for an open buy
    reject_reason: str = "--"
    ex_ord_id: str = "NA"
    ex_confirmed: str = "--"
    modifications: int = 0
    triggered: bool = False  # an SL that met its trigger and now waits as a limit
    last_ns: int = 0
    row: dict[str, object] = field(default_factory=dict)
    history: list[dict[str, object]] = field(default_factory=list)  # oldest first


@dataclass(slots=True)
class _Position:
    inst: Instrument
    product: str
    buy_qty: int = 0
    sell_qty: int = 0
    buy_amt: int = 0  # paise
    sell_amt: int = 0
    updated: float = 0.0
    updated_ns: int = 0


@dataclass(slots=True)
class _Account:
    ucc: str
    orders: list[_Order] = field(default_factory=list)  # oldest first
    tags: dict[int, set[str]] = field(default_factory=dict)  # IST day -> tags used
    trades: list[dict[str, object]] = field(default_factory=list)  # oldest first
    positions: dict[tuple[str, str, str], _Position] = field(default_factory=dict)
    bought: int = 0
    sold: int = 0
    blocked: int = 0
    version: int = 0  # bumps on every order change
    fills: int = 0  # bumps on every fill
    book: tuple[int, list[dict[str, object]]] | None = None
    trade_rows: tuple[int, list[dict[str, object]]] | None = None
    position_rows: tuple[int, int, int, list[dict[str, object]]] | None = None
    holdings: list[tuple[Instrument, int, int]] | None = None  # (instrument, qty, avg paise)

    @property
    def net(self) -> int:
        return _OPENING_PAISE - self.bought + self.sold - self.blocked

    @property
    def margin_used(self) -> int:
        return max(self.bought - self.sold, 0) + self.blocked


def _price_rules(
    data: Mapping[str, object], order_type: str, keys: tuple[str, str, str]
) -> tuple[int, int]:
    """Price and trigger (in paise) under the order-type rules, for place and check-margin.

    ``keys`` names the price, trigger and order-type fields of the calling endpoint (place:
    ``pr``/``tp``/``pt``; check-margin: ``prc``/``trgPrc``/``prcTp``), for the messages.
    L and SL need a price above 0; SL and SL-M need a trigger price above 0.
    """
    price_key, trigger_key, type_key = keys
    price = _money(data.get(price_key), price_key) or 0
    trigger = _money(data.get(trigger_key), trigger_key) or 0
    if order_type in ("L", "SL") and price <= 0:
        raise _business(
            _ST_REQUEST,
            f"Invalid Request: {price_key}={data.get(price_key)!r}; "
            f"{type_key}={order_type} needs a price > 0",
        )
    if order_type in ("SL", "SL-M") and trigger <= 0:
        raise _business(
            _ST_REQUEST,
            f"Invalid Request: {trigger_key}={data.get(trigger_key)!r}; "
            f"{type_key}={order_type} needs a trigger price > 0",
        )
    return price, trigger


class TradingBook:
    """Kotak Neo's order system and market data, simulated, for one emulator.

    ``seed`` fixes order numbers, exchange ids, prices and demo holdings. ``max_quotes``
    caps the instruments per quotes call (HTTP 400 above it); it may be changed later
    through the :attr:`max_quotes` property. ``scrip_base_url`` is the ``baseFolder`` the
    scrip-master answer points at (the CSVs themselves come from :meth:`scrip_csv`).

    Thread-safe: all methods serialize on one internal lock (see the module docstring).
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        max_quotes: int = MAX_QUOTES,
        scrip_base_url: str = DEFAULT_SCRIP_BASE_URL,
        tick_rate: float = DEFAULT_TICK_RATE,
    ) -> None:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed must be an int, got {seed!r}")
        self._check_max_quotes(max_quotes)
        tick_rate = check_tick_rate(tick_rate)
        self._lock = threading.Lock()
        self._seed = seed
        self._max_quotes = max_quotes
        self._scrip_base_url = scrip_base_url.rstrip("/")
        rng = random.Random(f"aioneo-trading|{seed}")
        self._order_seq = rng.randrange(100_000, 900_000)
        self._exchange_seq = rng.randrange(100_000, 900_000)
        self._fill_seq = rng.randrange(10_000, 90_000)
        self._market = Market(seed=seed, tick_rate=tick_rate)
        self._accounts: dict[str, _Account] = {}
        # the moving market: open orders each live instrument holds (oldest first), the
        # walk clock (latest ``now`` seen), instruments changed since the last advance()
        self._resting: dict[tuple[str, str], list[_Order]] = {}
        self._walk_now = -math.inf
        self._changed: dict[tuple[str, str], None] = {}
        self._price_epoch = 0
        self._listeners: list[FeedListener] = []
        self._events: list[tuple[str, dict[str, object]]] = []
        self.listener_errors = 0
        self._event_seq = 0
        self._orders: dict[str, _Order] = {}
        self._all_orders: list[_Order] = []
        self._tags: Counter[str] = Counter()
        self._handlers: dict[
            str,
            Callable[
                [
                    _Account,
                    float,
                    Mapping[str, object] | None,
                    Mapping[str, str],
                    Mapping[str, str],
                ],
                _Reply,
            ],
        ] = {
            "place_order": self._place,
            "modify_order": self._modify,
            "cancel_order": self._cancel,
            "order_book": self._order_book,
            "order_detail": self._order_detail,
            "order_history": self._order_history,
            "trades": self._trades,
            "positions": self._positions,
            "holdings": self._holdings,
            "limits": self._limits,
            "margin": self._margin,
        }

    # -- public surface --

    @property
    def max_quotes(self) -> int:
        """Most instruments one quotes call may ask for (Kotak: 50)."""
        return self._max_quotes

    @max_quotes.setter
    def max_quotes(self, value: int) -> None:
        self._check_max_quotes(value)
        with self._lock:
            self._max_quotes = value

    @staticmethod
    def _check_max_quotes(value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"max_quotes must be an int >= 1, got {value!r}")

    def handle(
        self,
        op: str,
        *,
        ucc: str,
        now: float,
        data: Mapping[str, object] | None,
        path: Mapping[str, str],
        query: Mapping[str, str],
    ) -> tuple[int, object]:
        """Answer one request as Kotak would: ``(HTTP status, JSON-able body)``.

        ``op`` is one of :data:`TRADING_OPS`; ``data`` the decoded jData (or ``None``);
        ``path`` holds ``order_no`` (order_detail) or ``symbols``/``quote_type`` (quotes);
        ``query`` the query parameters (expiries, option_chain, historical). Never raises.
        """
        try:
            with self._lock:
                try:
                    when = float(now)
                    self._catch_up(when)
                    return self._dispatch(op, str(ucc), when, data, path or {}, query or {})
                finally:
                    self._flush()
        except _Reject as reject:
            return reject.status, reject.body
        except Exception as exc:  # a bug must not take the emulator down
            return 500, {
                "stCode": _ST_INTERNAL,
                "errMsg": f"Internal Error ({type(exc).__name__})",
                "stat": "Not_Ok",
            }

    def orders_by_tag(self) -> dict[str, int]:
        """Orders the order system accepted, per original ``ig`` tag (untagged: left out)."""
        with self._lock:
            return dict(self._tags)

    def order_rows(self, *, now: float | None = None) -> list[dict[str, object]]:
        """Current order-book rows of every user, newest first (copies).

        With ``now``, the market walks up to it first (fills included), as a request would.
        """
        with self._lock:
            try:
                if now is not None:
                    self._catch_up(_finite(now))
                return [dict(order.row) for order in reversed(self._all_orders)]
            finally:
                self._flush()

    def scrip_csv(self, segment: str, *, now: float) -> str | None:
        """The scrip-master CSV for ``segment`` at ``now`` (``None``: no such segment)."""
        with self._lock:
            return self._market.scrip_csv(segment, now)

    # -- the moving market: what the feeds and tests use --

    @property
    def tick_rate(self) -> float:
        """Walk steps per second per live instrument (change with :meth:`set_tick_rate`)."""
        return self._market.tick_rate

    def set_tick_rate(self, rate: float, now: float) -> None:
        """Walk at ``rate`` from ``now`` on (steps due before ``now`` keep the old rate).

        ``rate`` is 0 (prices move only by :meth:`set_price` / :meth:`push_tick`) up to
        :data:`MAX_TICK_RATE`; anything else raises ``ValueError``.
        """
        rate = check_tick_rate(rate)
        with self._lock:
            try:
                self._catch_up(_finite(now))
                self._market.set_tick_rate(rate, self._walk_now)
            finally:
                self._flush()

    def advance(self, now: float) -> list[tuple[str, str]]:
        """Apply every walk step and fill due by ``now``; the ``(seg, token)`` that changed.

        Changed means a new price, trade print or day range since the previous
        ``advance`` call (steps taken inside other calls, such as a REST request, count
        too: they are reported here, not lost). Order-feed events of the fills go to the
        listeners before this returns. Time never runs back: a ``now`` earlier than one
        already seen walks nothing.
        """
        with self._lock:
            try:
                self._catch_up(_finite(now))
                changed = list(self._changed)
                self._changed.clear()
                return changed
            finally:
                self._flush()

    def activate(self, seg: str, token: str, now: float) -> bool:
        """A feed subscribed to ``seg|token``: it walks from ``now`` (reference counted).

        Returns False (and changes nothing) for an unknown instrument.
        """
        with self._lock:
            try:
                self._catch_up(_finite(now))
                inst = self._market.by_token(seg, token, now)
                if inst is None:
                    return False
                self._market.retain(inst, "feed", now, self._walk_now)
                return True
            finally:
                self._flush()

    def deactivate(self, seg: str, token: str, now: float) -> bool:
        """Undo one :meth:`activate`; False if ``seg|token`` held no activation.

        The instrument stands still once nothing keeps it live (no activation, no resting
        order, never given a price); it walks on from the same price when live again.
        """
        with self._lock:
            try:
                self._catch_up(_finite(now))
                tape_inst = self._tape_instrument(seg, token, now)
                if tape_inst is None:
                    return False
                return self._market.release(tape_inst, "feed")
            finally:
                self._flush()

    def snapshot(self, seg: str, token: str, now: float) -> FeedSnapshot | None:
        """Every market-data value of ``seg|token`` at ``now``; None for an unknown token.

        Walks the market up to ``now`` first, so it agrees with the REST quote of the same
        ``now``.
        """
        with self._lock:
            try:
                self._catch_up(_finite(now))
                inst = self._tape_instrument(seg, token, now)
                return None if inst is None else self._market.snapshot(inst, now)
            finally:
                self._flush()

    def trading_symbol(self, seg: str, token: str, now: float) -> str | None:
        """The trading symbol of ``seg|token`` (an index: its name); None if unknown."""
        with self._lock:
            inst = self._tape_instrument(seg, token, _finite(now))
            return None if inst is None else inst.trd_sym

    def set_price(self, seg: str, token: str, price_paise: int, now: float) -> None:
        """Move ``seg|token`` to ``price_paise`` at ``now``; the walk goes on from there.

        The instrument becomes (and stays) live. Resting orders the new price crosses fill
        at once, at that price. ``ValueError`` for an unknown instrument or a price that is
        not an int, not a multiple of the tick or outside the circuit limits.
        """
        self._trade_print(seg, token, price_paise, now, qty=0)

    def push_tick(
        self, seg: str, token: str, price_paise: int, now: float, *, qty: int | None = None
    ) -> None:
        """An exact trade print: ``qty`` units (default one lot) at ``price_paise``, at ``now``.

        Like :meth:`set_price`, and the print is the LTP, last traded quantity, last trade
        time and a volume increment the feed sends next (until the walk's next step, one
        ``1 / tick_rate`` later; with ``tick_rate`` 0 it stays).
        """
        if qty is not None and (
            isinstance(qty, bool) or not isinstance(qty, int) or not 1 <= qty <= MAX_PRINT_QTY
        ):
            raise ValueError(
                f"qty={qty!r} is not allowed: pass an int from 1 to {MAX_PRINT_QTY:,} "
                "(what a feed packet's quantity fields carry, with room for the day's volume), "
                "or None for a lot"
            )
        self._trade_print(seg, token, price_paise, now, qty=qty)

    def resolve(self, instrument: str, now: float) -> tuple[str, str]:
        """``"seg|token"``, ``"seg|trading symbol"`` or a trading symbol -> ``(seg, token)``.

        A bare symbol is looked up in :data:`SEGMENTS` order (``TCS-EQ`` is nse_cm, ``TCS``
        bse_cm); an index is found by its name (``"Nifty 50"``). ``ValueError`` otherwise.
        """
        allowed = (
            "pass 'seg|token' (e.g. 'nse_cm|11536'), 'seg|trading symbol' or a trading symbol "
            "(e.g. 'TCS-EQ', 'Nifty 50')"
        )
        if not isinstance(instrument, str) or not instrument.strip():
            raise ValueError(f"instrument={instrument!r} is not allowed: {allowed}")
        text = instrument.strip()
        with self._lock:
            market = self._market
            inst: Instrument | None = None
            if "|" in text:
                seg, _, name = (part.strip() for part in text.partition("|"))
                inst = market.by_token(seg, name, now) or market.by_symbol(seg, name, now)
            else:
                for seg in SEGMENTS:
                    inst = market.by_symbol(seg, text, now)
                    if inst is not None:
                        break
                for seg in ("nse_cm", "bse_cm"):
                    if inst is None:
                        inst = market.by_token(seg, text, now)
            if inst is None:
                raise ValueError(f"instrument={instrument!r} is not known: {allowed}")
            return inst.seg, inst.token

    def live_instruments(self) -> list[tuple[str, str]]:
        """``(seg, token)`` of every live instrument, in the order they went live."""
        with self._lock:
            return [key for key, _ in self._market.live_tapes()]

    def add_listener(self, fn: FeedListener) -> None:
        """Call ``fn(ucc, message)`` for every order-feed event of any account.

        ``{"type": "order", "data": row}`` for each status an order passes through
        (``row`` is the order-book row of that moment) and ``{"type": "position", "data":
        {...}}`` (every value a string) after each fill. Called under the book's lock, in
        order, at the end of the call that caused them: ``fn`` must only enqueue, and must
        treat the message as read-only. An exception from ``fn`` is counted in
        :attr:`listener_errors` and otherwise ignored.
        """
        with self._lock:
            self._listeners.append(fn)

    def remove_listener(self, fn: FeedListener) -> bool:
        """Stop calling ``fn``; False if it was not listening."""
        with self._lock:
            if fn in self._listeners:
                self._listeners.remove(fn)
                return True
            return False

    def order_feed_state(self, ucc: str) -> list[dict[str, object]]:
        """The messages that push the account's current state again (for a reconnect).

        One ``order`` message per order (its current row, oldest order first), then one
        ``position`` message per position; the same shapes :meth:`add_listener` sends.
        """
        return self.order_feed_state_at(ucc)[1]

    @property
    def event_seq(self) -> int:
        """How many order-feed events have gone to the listeners; read inside a listener,
        the number of the event being delivered."""
        return self._event_seq

    def order_feed_state_at(self, ucc: str) -> tuple[int, list[dict[str, object]]]:
        """:meth:`order_feed_state` and, read under the same lock, :attr:`event_seq`: the
        state reflects exactly the events numbered up to it (a feed skips those)."""
        with self._lock:
            return self._event_seq, self._order_feed_state(ucc)

    def _order_feed_state(self, ucc: str) -> list[dict[str, object]]:
        account = self._accounts.get(ucc)
        if account is None:
            return []
        out: list[dict[str, object]] = [
            {"type": "order", "data": dict(order.row)} for order in account.orders
        ]
        for pos in account.positions.values():
            at = self._walk_now if math.isfinite(self._walk_now) else pos.updated
            out.append({"type": "position", "data": self._position_feed(account, pos, at)})
        return out

    # -- the moving market: internals --

    def _tape_instrument(self, seg: str, token: str, now: float) -> Instrument | None:
        """The instrument of ``seg|token``: live at ``now``, or one with a tape (expired too)."""
        return self._market.known(seg, token, now)

    def _catch_up(self, now: float) -> None:
        """Walk every live tape up to ``now`` (a no-op unless ``now`` is the latest seen).

        Only tapes with a step due are touched (the market keeps them in a heap by next
        step time), so a call costs O(due tapes * log live tapes), not O(live tapes).
        """
        if not math.isfinite(now):
            raise ValueError(f"now={now!r} is not allowed: pass finite unix seconds")
        if now <= self._walk_now:
            return
        self._walk_now = now
        day = ist_day(now)
        for key, tape in self._market.due_tapes(now):
            if not self._market.is_live_key(key):
                continue  # stopped by a fill earlier in this loop
            self._walk(key, tape, now, day)
            self._market.schedule(key, tape)

    def _walk(self, key: tuple[str, str], tape: Tape, now: float, day: int) -> None:
        """Walk one live tape up to ``now``, filling the resting orders it crosses."""
        before = tape.version
        tape.new_day(day)
        n_end = tape.due(now)
        while True:
            for order in list(self._resting.get(key, ())):
                self._try_fill(order, tape.price_paise, tape.ltt)
            if not self._market.is_live_key(key):
                break  # its last resting order filled and nothing else keeps it live
            watch = [self._level(order, tape.tick) for order in self._resting.get(key, ())]
            if tape.run(n_end, watch) is None:
                break
        if tape.version != before:
            self._changed[key] = None
            self._price_epoch += 1

    @staticmethod
    def _level(order: _Order, tick: int) -> tuple[int, bool]:
        """The price (ticks) at which ``order`` next acts, and whether it is reached upwards."""
        buy = order.side == "B"
        if order.order_type in ("SL", "SL-M") and not order.triggered:
            level, up = order.trigger, buy
        else:
            level, up = order.price, not buy
        return (-(-level // tick), True) if up else (level // tick, False)

    def _try_fill(self, order: _Order, ltp: int, at: float) -> None:
        """Fill a resting ``order`` if ``ltp`` crosses it (an SL may only trigger)."""
        fill = self._fill_price(order, at, ltp=ltp)
        if fill is None:
            return
        self._take_resting(order)
        at = max(at, order.last_ns / 1e9)
        self._fill(order, self._accounts[order.ucc], at, fill)
        self._market.release(order.inst, "order")

    def _rest(self, order: _Order, now: float) -> None:
        self._resting.setdefault((order.inst.seg, order.inst.token), []).append(order)
        self._market.retain(order.inst, "order", now, max(now, self._walk_now))

    def _take_resting(self, order: _Order) -> bool:
        """Take ``order`` out of its instrument's resting list (its live reason stays)."""
        key = (order.inst.seg, order.inst.token)
        orders = self._resting.get(key)
        if not orders or order not in orders:
            return False
        orders.remove(order)
        if not orders:
            del self._resting[key]
        return True

    def _trade_print(
        self, seg: str, token: str, price: int, now: float, *, qty: int | None
    ) -> None:
        now = _finite(now)
        with self._lock:
            try:
                inst = self._tape_instrument(seg, token, now)
                if inst is None:
                    raise ValueError(
                        f"instrument {seg}|{token} is not known: pass the seg and token of a "
                        "live instrument (see the scrip master or the quotes)"
                    )
                if isinstance(price, bool) or not isinstance(price, int):
                    raise ValueError(
                        f"price_paise={price!r} is not allowed: pass an int number of paise"
                    )
                self._catch_up(now)
                at = max(now, self._walk_now)
                lower, upper = self._market.band(inst, at)
                if price % inst.tick or not lower <= price <= upper:
                    raise ValueError(
                        f"price {fmt_paise(price)} is not allowed for {inst.trd_sym}: pass a "
                        f"multiple of its tick {fmt_paise(inst.tick)} within its circuit "
                        f"limits {fmt_paise(lower)} to {fmt_paise(upper)}"
                    )
                tape = self._market.retain(inst, "pin", now, at)
                units = inst.lot if qty is None else qty
                tape.jump(price // inst.tick, at, 0 if inst.kind == "INDEX" else units)
                key = (inst.seg, inst.token)
                self._market.schedule(key, tape)  # the walk restarted from the print
                self._changed[key] = None
                self._price_epoch += 1
                for order in list(self._resting.get(key, ())):
                    self._try_fill(order, price, at)
            finally:
                self._flush()

    def _flush(self) -> None:
        """Hand the collected order-feed events to the listeners (still under the lock)."""
        if not self._events:
            return
        events, self._events = self._events, []
        listeners = list(self._listeners)
        for ucc, message in events:
            self._event_seq += 1  # what a listener reads as this event's number
            for fn in listeners:
                try:
                    fn(ucc, message)
                except Exception:
                    self.listener_errors += 1

    def _position_feed(self, account: _Account, pos: _Position, now: float) -> dict[str, object]:
        """A position row with every value a string (the order feed's PositionData)."""
        return {k: str(v) for k, v in self._position_row(account, pos, now).items()}

    # -- dispatch --

    def _dispatch(
        self,
        op: str,
        ucc: str,
        now: float,
        data: Mapping[str, object] | None,
        path: Mapping[str, str],
        query: Mapping[str, str],
    ) -> _Reply:
        if not math.isfinite(now):
            raise ValueError("now must be finite")
        handler = self._handlers.get(op)
        if handler is not None:
            account = self._accounts.get(ucc)
            if account is None:
                account = self._accounts[ucc] = _Account(ucc)
            return handler(account, now, data, path, query)
        if op == "quotes":
            return self._market.quotes(path, now=now, max_quotes=self._max_quotes)
        if op == "expiries":
            return self._market.expiries(query, now=now)
        if op == "option_chain":
            return self._market.option_chain(query, now=now)
        if op == "historical":
            return self._market.historical(query, now=now)
        if op == "scrip_master":
            return self._scrip_master(now)
        return 404, {
            "stCode": _ST_REQUEST,
            "errMsg": f"unknown endpoint {op!r}; expected one of {', '.join(TRADING_OPS)}",
            "stat": "Not_Ok",
        }

    # -- orders --

    def _place(
        self,
        account: _Account,
        now: float,
        data: Mapping[str, object] | None,
        path: Mapping[str, str],
        query: Mapping[str, str],
    ) -> _Reply:
        jdata = _jdata(data)
        seg = _text(jdata.get("es"))
        if seg not in SEGMENTS:
            raise _business(
                _ST_EXCHANGE,
                f"Invalid Exchange: es={jdata.get('es')!r} is not one of {', '.join(SEGMENTS)}",
            )
        symbol = _text(jdata.get("ts"))
        inst = self._market.by_symbol(seg, symbol, now) if symbol else None
        if inst is None:
            raise _business(
                _ST_SYMBOL,
                f"Invalid Symbol: ts={jdata.get('ts')!r} is not a tradable symbol of {seg}",
            )
        qty = _quantity(jdata.get("qt"), "qt")
        if qty % inst.lot:
            raise _business(
                _ST_QUANTITY,
                f"Invalid Quantity: qt={qty} is not a multiple of the lot size {inst.lot} "
                f"of {inst.trd_sym}",
            )
        side = _choice(jdata, "tt", _SIDES, "")
        order_type = _choice(jdata, "pt", _ORDER_TYPES, "")
        product = _choice(jdata, "pc", _PRODUCTS, "")
        validity = _choice(jdata, "rt", _VALIDITIES, "DAY")
        if seg == "mcx_fo" and validity != "DAY":
            raise _business(_ST_REQUEST, f"Invalid Request: rt={validity!r}; mcx_fo allows DAY")
        amo = _choice(jdata, "am", _YES_NO, "NO") == "YES"
        price, trigger = self._prices(jdata, order_type)
        disclosed = self._disclosed(jdata.get("dq"), qty)
        _money(jdata.get("mp"), "mp")
        raw_tag = jdata.get("ig")
        if raw_tag is not None and not isinstance(raw_tag, str):
            raise _business(_ST_REQUEST, f"Invalid Request: ig={raw_tag!r} is not a string")
        tag = raw_tag.strip() if raw_tag else None
        source = _text(jdata.get("os")) or "NEOTRADEAPI"

        day = ist_day(now)
        used = account.tags.setdefault(day, set())
        if tag is not None and tag in used:
            raise _business(_ST_TAG_USED, f"Client OrderID already exists: tag {tag!r} is used")

        self._order_seq += 1
        yymmdd = day_date(day).strftime("%y%m%d")
        no = f"{yymmdd}{self._order_seq % 1_000_000_000:09d}"
        usec = (self._order_seq * 7919) % 1_000_000
        order = _Order(
            no=no,
            ucc=account.ucc,
            inst=inst,
            side=side,
            product=product,
            order_type=order_type,
            validity=validity,
            qty=qty,
            price=price,
            trigger=trigger,
            disclosed=disclosed,
            amo=amo,
            source=source,
            tag=tag,
            gui=tag if tag is not None else f"{int(now)}-{usec:06d}-{account.ucc}-ADMINAPI",
            placed=now,
            usec=usec,
        )
        if tag is not None:
            used.add(tag)
            self._tags[tag] += 1
        self._orders[no] = order
        self._all_orders.append(order)
        account.orders.append(order)

        self._record(order, account, _PUT, now)
        self._record(order, account, _VALIDATION, now)
        fill_price = self._fill_price(order, now)
        required = self._required(order, fill_price)
        if required > account.net:
            order.reject_reason = (
                f"RMS:Margin Exceeds,Required:{fmt_paise(required)}, Available:"
                f"{fmt_paise(account.net)} for entity account-{account.ucc} across exchange "
                "across segment across product"
            )
            self._record(order, account, _REJECTED, now)
        else:
            self._record(order, account, _OPEN_PENDING, now)
            self._exchange_seq += 1
            order.ex_ord_id = str(1_000_000_000_000_000 + self._exchange_seq)
            order.ex_confirmed = _dt_text(now)
            self._settle(order, account, now, fill_price)
        return 200, {"stat": "Ok", "nOrdNo": no, "stCode": _ST_OK}

    def _prices(self, data: Mapping[str, object], order_type: str) -> tuple[int, int]:
        price, trigger = _price_rules(data, order_type, ("pr", "tp", "pt"))
        if order_type in ("MKT", "SL-M"):
            price = 0
        if order_type in ("L", "MKT"):
            trigger = 0
        return price, trigger

    @staticmethod
    def _disclosed(value: object, qty: int) -> int:
        if value is None or value == "" or value == "0" or value == 0:
            return 0
        disclosed = _quantity(value, "dq", code=_ST_REQUEST)
        if disclosed > qty:
            raise _business(
                _ST_REQUEST, f"Invalid Request: dq={value!r} is more than the quantity {qty}"
            )
        return disclosed

    def _fill_price(self, order: _Order, now: float, *, ltp: int | None = None) -> int | None:
        """The price the order fills at right now (at ``ltp``), or ``None`` if it rests.

        An SL whose trigger is met but whose limit is not is marked ``triggered``: from then
        on it waits as a plain limit order.
        """
        if order.amo:
            return None
        if ltp is None:
            ltp = self._market.ltp(order.inst, now)
        buy = order.side == "B"
        if order.order_type in ("SL", "SL-M") and not order.triggered:
            triggered = ltp >= order.trigger if buy else ltp <= order.trigger
            if not triggered:
                return None
            order.triggered = True
        if order.order_type in ("MKT", "SL-M"):
            return ltp
        marketable = order.price >= ltp if buy else order.price <= ltp
        return ltp if marketable else None

    @staticmethod
    def _required(order: _Order, fill_price: int | None) -> int:
        """Cash a buy takes: its fill value now, or the value it blocks while open."""
        if order.side != "B":
            return 0
        if fill_price is not None:
            return order.qty * fill_price
        if order.validity == "IOC" and not order.amo:
            return 0  # cancelled at once
        return order.qty * (order.price or order.trigger)

    def _settle(self, order: _Order, account: _Account, now: float, fill: int | None) -> None:
        """From open pending/modified: fill, cancel (IOC) or rest open."""
        if fill is not None:
            self._fill(order, account, now, fill)
        elif order.validity == "IOC" and not order.amo:
            self._record(order, account, _OPEN, now)
            order.cancelled = order.qty - order.filled
            self._record(order, account, _CANCELLED, now)
        else:
            order.blocked = self._required(order, None)
            account.blocked += order.blocked
            self._record(order, account, _OPEN, now)
            if not order.amo:
                self._rest(order, now)  # the walk fills it when the price crosses it

    def _fill(self, order: _Order, account: _Account, now: float, price: int) -> None:
        self._release(order, account)
        if order.status != _OPEN:
            self._record(order, account, _OPEN, now)
        value = order.qty * price
        order.filled = order.qty
        order.avg = price
        inst = order.inst
        key = (inst.seg, inst.token, order.product)
        position = account.positions.get(key)
        if position is None:
            position = account.positions[key] = _Position(inst, order.product)
        if order.side == "B":
            account.bought += value
            position.buy_qty += order.qty
            position.buy_amt += value
        else:
            account.sold += value
            position.sell_qty += order.qty
            position.sell_amt += value
        self._record(order, account, _COMPLETE, now)
        position.updated = now
        position.updated_ns = order.last_ns
        account.fills += 1
        self._fill_seq += 1
        account.trades.append(self._trade_row(order, account, now))
        if self._listeners:
            data = self._position_feed(account, position, now)
            self._events.append((account.ucc, {"type": "position", "data": data}))

    @staticmethod
    def _release(order: _Order, account: _Account) -> None:
        account.blocked -= order.blocked
        order.blocked = 0

    def _owned(self, account: _Account, no: str) -> _Order:
        order = self._orders.get(no)
        if order is None or order.ucc != account.ucc:
            raise _business(_ST_NO_DATA, f"No Data: order number {no!r} not found")
        return order

    @staticmethod
    def _ensure_open(order: _Order) -> None:
        if order.status != _OPEN:
            message = {
                _COMPLETE: "order is completed",
                _CANCELLED: "order is cancelled",
                _REJECTED: "order is rejected",
            }.get(order.status, f"order is {order.status}")
            raise _Reject(
                200,
                {
                    "stCode": _ST_NOT_OPEN,
                    "errMsg": message,
                    "stat": "please provide valid order number",
                },
            )

    def _modify(
        self,
        account: _Account,
        now: float,
        data: Mapping[str, object] | None,
        path: Mapping[str, str],
        query: Mapping[str, str],
    ) -> _Reply:
        jdata = _jdata(data)
        order = self._owned(account, _order_no(jdata.get("no"), "no"))
        self._ensure_open(order)
        qty = _quantity(jdata.get("qt"), "qt")
        if qty % order.inst.lot:
            raise _business(
                _ST_QUANTITY,
                f"Invalid Quantity: qt={qty} is not a multiple of the lot size {order.inst.lot}",
            )
        order_type = _choice(jdata, "pt", _ORDER_TYPES, order.order_type)
        validity = _choice(jdata, "vd", _VALIDITIES, order.validity)
        amo = _choice(jdata, "am", _YES_NO, "YES" if order.amo else "NO") == "YES"
        price, trigger = self._prices(jdata, order_type)
        disclosed = self._disclosed(jdata.get("dq"), qty)
        _money(jdata.get("mp"), "mp")

        was_resting = self._take_resting(order)
        self._release(order, account)
        order.qty, order.order_type, order.validity = qty, order_type, validity
        order.price, order.trigger, order.disclosed, order.amo = price, trigger, disclosed, amo
        order.triggered = False
        order.modifications += 1
        order.gui = (
            f"{order.tag}-M{order.modifications}"
            if order.tag is not None
            else f"{int(now)}-{order.usec:06d}-{account.ucc}-ADMINAPI"
        )
        self._record(order, account, _MODIFIED, now)
        self._settle(order, account, now, self._fill_price(order, now))
        if was_resting:  # after settling, so a modified order that rests keeps its tape
            self._market.release(order.inst, "order")
        return 200, {"stat": "Ok", "nOrdNo": order.no, "stCode": _ST_OK}

    def _cancel(
        self,
        account: _Account,
        now: float,
        data: Mapping[str, object] | None,
        path: Mapping[str, str],
        query: Mapping[str, str],
    ) -> _Reply:
        jdata = _jdata(data)
        order = self._owned(account, _order_no(jdata.get("on"), "on"))
        self._ensure_open(order)
        _choice(jdata, "am", _YES_NO, "NO")
        if self._take_resting(order):
            self._market.release(order.inst, "order")
        self._release(order, account)
        order.cancelled = order.qty - order.filled
        base = order.tag if order.tag is not None else order.gui
        order.gui = f"{base}-{int(now)}"
        self._record(order, account, _CANCELLED, now)
        return 200, {"stat": "Ok", "nOrdNo": order.no, "stCode": _ST_OK}

    def _record(self, order: _Order, account: _Account, status: str, now: float) -> None:
        """Move ``order`` to ``status``: a fresh book row, appended to its history."""
        order.status = status
        ns = max(int(now * 1_000_000_000), order.last_ns + 1)
        order.last_ns = ns
        order.row = self._order_row(order, now, ns)
        order.history.append(order.row)
        account.version += 1
        if self._listeners:
            self._events.append((order.ucc, {"type": "order", "data": dict(order.row)}))

    # -- rows --

    @staticmethod
    def _order_row(order: _Order, now: float, ns: int) -> dict[str, object]:
        inst = order.inst
        placed = _dt_text(order.placed)
        open_qty = order.qty - order.filled - order.cancelled
        if order.status in (_REJECTED, _CANCELLED, _COMPLETE):
            open_qty = 0
        return {
            "nOrdNo": order.no,
            "ordSt": order.status,
            "stat": "Ok",
            "trdSym": inst.trd_sym,
            "sym": inst.sym,
            "exSeg": inst.seg,
            "tok": inst.token,
            "qty": order.qty,
            "fldQty": order.filled,
            "unFldSz": open_qty,
            "cnlQty": order.cancelled,
            "dscQty": order.disclosed,
            "prc": fmt_paise(order.price),
            "avgPrc": fmt_paise(order.avg),
            "trgPrc": fmt_paise(order.trigger),
            "prcTp": order.order_type,
            "prod": order.product,
            "trnsTp": order.side,
            "vldt": order.validity,
            "exOrdId": order.ex_ord_id,
            "rejRsn": order.reject_reason,
            "ordDtTm": placed,
            "ordEntTm": placed,
            "exCfmTm": order.ex_confirmed,
            "hsUpTm": _hs_text(now),
            "updRecvTm": ns,
            "boeSec": int(order.placed),
            "uSec": str(order.usec),
            "GuiOrdId": order.gui,
            "usrId": order.ucc,
            "actId": order.ucc,
            "ordSrc": order.source,
            "amo": "YES" if order.amo else "NO",
            "lotSz": str(inst.lot),
            "multiplier": "1",
            "precision": "2",
            "genNum": "1",
            "genDen": "1",
            "prcNum": "1",
            "prcDen": "1",
            "series": inst.series,
            "it": inst.kind,
            "tckSz": fmt_paise(inst.tick),
            "brdLtQty": str(inst.lot),
            "optTp": inst.opt_tp,
            "stkPrc": f"{inst.strike}.00",
            "expDt": _expiry_text(inst),
            "mktPro": "0.00",
            "rmk": "--",
            "algId": "NA",
            "rptTp": "NA",
            "symOrdId": "NA",
            "ordGenTp": "NA",
            "ordAutSt": "NA",
            "reqId": str(order.modifications + 1),
            "refLmtPrc": 0,
            "coPct": 0,
            "minQty": 0,
        }

    def _trade_row(self, order: _Order, account: _Account, now: float) -> dict[str, object]:
        inst = order.inst
        dt = _dt(now)
        return {
            "nOrdNo": order.no,
            "flId": str(self._fill_seq),
            "flDt": dt.strftime("%d-%b-%Y"),
            "flTm": dt.strftime("%H:%M:%S"),
            "exTm": dt.strftime("%d-%b-%Y %H:%M:%S"),
            "fldQty": order.filled,
            "avgPrc": fmt_paise(order.avg),
            "exOrdId": order.ex_ord_id,
            "trdSym": inst.trd_sym,
            "sym": inst.sym,
            "exSeg": inst.seg,
            "tok": inst.token,
            "trnsTp": order.side,
            "prod": order.product,
            "prcTp": order.order_type,
            "ordDur": order.validity,
            "rptTp": "fill",
            "flLeg": 1,
            "GuiOrdId": order.gui,
            "actId": account.ucc,
            "usrId": account.ucc,
            "hsUpTm": _hs_text(now),
            "updRecvTm": order.last_ns,
            "boeSec": int(order.placed),
            "lotSz": str(inst.lot),
            "multiplier": "1",
            "precision": "2",
            "genNum": "1",
            "genDen": "1",
            "prcNum": "1",
            "prcDen": "1",
            "series": inst.series,
            "brdLtQty": inst.lot,
            "optTp": inst.opt_tp,
            "stkPrc": f"{inst.strike}.00",
            "expDt": _expiry_text(inst),
            "exp": "--",
            "minQty": 0,
            "algId": "NA",
        }

    def _position_row(self, account: _Account, pos: _Position, now: float) -> dict[str, object]:
        inst = pos.inst
        return {
            "actId": account.ucc,
            "exSeg": inst.seg,
            "tok": inst.token,
            "trdSym": inst.trd_sym,
            "sym": inst.sym,
            "prod": pos.product,
            "cfBuyQty": "0",
            "cfSellQty": "0",
            "flBuyQty": str(pos.buy_qty),
            "flSellQty": str(pos.sell_qty),
            "cfBuyAmt": "0.00",
            "cfSellAmt": "0.00",
            "buyAmt": fmt_paise(pos.buy_amt),
            "sellAmt": fmt_paise(pos.sell_amt),
            "lotSz": str(inst.lot),
            "multiplier": "1",
            "precision": "2",
            "genNum": "1",
            "genDen": "1",
            "prcNum": "1",
            "prcDen": "1",
            "type": inst.kind,
            "optTp": inst.opt_tp,
            "stkPrc": f"{inst.strike}.00",
            "series": inst.series,
            "expDt": _expiry_text(inst),
            "exp": str(int(expiry_epoch(inst))) if inst.expiry else "--",
            "sqrFlg": "Y",
            "posFlg": "true",
            "hsUpTm": _hs_text(pos.updated),
            "updRecvTm": pos.updated_ns,
            "brdLtQty": inst.lot,
            "dscQty": "0",
            "upldPrc": "0.00",
            "ltp": fmt_paise(self._market.ltp(inst, now)),
        }

    # -- reports --

    def _order_book(
        self,
        account: _Account,
        now: float,
        data: Mapping[str, object] | None,
        path: Mapping[str, str],
        query: Mapping[str, str],
    ) -> _Reply:
        cached = account.book
        if cached is None or cached[0] != account.version:
            cached = account.book = (account.version, [o.row for o in reversed(account.orders)])
        return 200, {"stat": "Ok", "stCode": _ST_OK, "data": cached[1]}

    def _order_detail(
        self,
        account: _Account,
        now: float,
        data: Mapping[str, object] | None,
        path: Mapping[str, str],
        query: Mapping[str, str],
    ) -> _Reply:
        order = self._owned(account, _order_no(path.get("order_no"), "order_no"))
        return 200, {"stat": "Ok", "stCode": _ST_OK, "data": [order.row]}

    def _order_history(
        self,
        account: _Account,
        now: float,
        data: Mapping[str, object] | None,
        path: Mapping[str, str],
        query: Mapping[str, str],
    ) -> _Reply:
        jdata = _jdata(data)
        order = self._owned(account, _order_no(jdata.get("nOrdNo"), "nOrdNo"))
        return 200, {"stat": "Ok", "stCode": _ST_OK, "data": order.history[::-1]}

    def _trades(
        self,
        account: _Account,
        now: float,
        data: Mapping[str, object] | None,
        path: Mapping[str, str],
        query: Mapping[str, str],
    ) -> _Reply:
        cached = account.trade_rows
        if cached is None or cached[0] != account.fills:
            cached = account.trade_rows = (account.fills, account.trades[::-1])
        return 200, {"stat": "ok", "stCode": _ST_OK, "data": cached[1]}

    def _positions(
        self,
        account: _Account,
        now: float,
        data: Mapping[str, object] | None,
        path: Mapping[str, str],
        query: Mapping[str, str],
    ) -> _Reply:
        if not account.positions:
            return 200, {"stat": "ok", "stCode": _ST_OK, "data": []}
        key = (account.fills, int(now), self._price_epoch)
        cached = account.position_rows
        if cached is None or cached[:3] != key:
            rows = [self._position_row(account, p, now) for p in account.positions.values()]
            cached = account.position_rows = (*key, rows)
        return 200, {"stat": "ok", "stCode": _ST_OK, "data": cached[3]}

    def _holdings(
        self,
        account: _Account,
        now: float,
        data: Mapping[str, object] | None,
        path: Mapping[str, str],
        query: Mapping[str, str],
    ) -> _Reply:
        if account.holdings is None:
            rng = random.Random(f"aioneo-holdings|{self._seed}|{account.ucc}")
            picks = rng.sample(["ITBEES-EQ", "TCS-EQ", "SBIN-EQ", "INFY-EQ", "ITC-EQ"], 3)
            held: list[tuple[Instrument, int, int]] = []
            for ts in sorted(picks):
                inst = self._market.by_symbol("nse_cm", ts, now)
                if inst is None:  # pragma: no cover - the symbols are static
                    continue
                qty = rng.randint(1, 40) * (25 if inst.tick == 1 else 1)
                avg = self._market.ltp(inst, now) * rng.randint(80, 105) // 100
                held.append((inst, qty, avg))
            account.holdings = held
        rows: list[dict[str, object]] = []
        for inst, qty, avg in account.holdings:
            ltp = self._market.ltp(inst, now)
            close = self._market.prev_close(inst, now)
            cost = qty * avg
            gain = qty * ltp - cost
            rows.append(
                {
                    "displaySymbol": inst.sym,
                    "averagePrice": avg / 100,
                    "quantity": qty,
                    "exchangeSegment": inst.seg,
                    "exchangeIdentifier": inst.token,
                    "holdingCost": cost / 100,
                    "mktValue": qty * ltp / 100,
                    "scripId": f"{inst.seg}|{inst.token}",
                    "instrumentToken": int(inst.token),
                    "instrumentType": "Equity",
                    "isAlternateScrip": False,
                    "closingPrice": close / 100,
                    "symbol": inst.sym,
                    "sellableQuantity": qty,
                    "commonScripCode": inst.sym,
                    "logoUrl": "",
                    "cmotCode": int(inst.token),
                    "unrealisedGainLoss": gain / 100,
                    "sqGainLoss": 0,
                    "delGainLoss": gain / 100,
                    "marketLot": inst.lot,
                    "securitySubType": inst.series,
                }
            )
        return 200, {"data": rows}

    # -- limits and margin --

    def _limits(
        self,
        account: _Account,
        now: float,
        data: Mapping[str, object] | None,
        path: Mapping[str, str],
        query: Mapping[str, str],
    ) -> _Reply:
        jdata = _jdata(data)
        _choice(jdata, "seg", ("ALL", "CASH", "CUR", "FO"), "ALL")
        _choice(jdata, "exch", ("ALL", "NSE", "BSE"), "ALL")
        _choice(jdata, "prod", ("ALL", "NRML", "CNC", "MIS"), "ALL")
        body: dict[str, object] = dict.fromkeys(_LIMIT_ZERO_FIELDS, "0.00")
        used = fmt_paise(account.margin_used)
        body.update(
            {
                "Category": "CLIENT",
                "BoardLotLimit": "0",
                "CollateralValue": fmt_paise(_OPENING_PAISE),
                "Net": fmt_paise(account.net),
                "MarginUsed": used,
                "MarginUsedPrsnt": used,
                "AmountUtilizedPrsnt": used,
                "AmtUntilizedPrsnt": fmt_paise(account.net),
                "stCode": _ST_OK,
                "stat": "Ok",
            }
        )
        return 200, body

    def _margin(
        self,
        account: _Account,
        now: float,
        data: Mapping[str, object] | None,
        path: Mapping[str, str],
        query: Mapping[str, str],
    ) -> _Reply:
        jdata = _jdata(data)
        seg = _text(jdata.get("exSeg"))
        if seg not in SEGMENTS:
            raise _business(
                _ST_EXCHANGE,
                f"Invalid Exchange: exSeg={jdata.get('exSeg')!r} is not one of "
                f"{', '.join(SEGMENTS)}",
            )
        token = _text(jdata.get("tok"))
        inst = self._market.by_token(seg, token, now) if token else None
        if inst is None or not inst.tradable:
            raise _business(
                _ST_SYMBOL, f"Invalid Symbol: tok={jdata.get('tok')!r} is not a token of {seg}"
            )
        qty = _quantity(jdata.get("qty"), "qty")
        side = _choice(jdata, "trnsTp", _SIDES, "")
        order_type = _choice(jdata, "prcTp", _ORDER_TYPES, "")
        product = _choice(jdata, "prod", _PRODUCTS, "")
        price, trigger = _price_rules(jdata, order_type, ("prc", "trgPrc", "prcTp"))
        probe = _Order(
            no="",
            ucc=account.ucc,
            inst=inst,
            side=side,
            product=product,
            order_type=order_type,
            validity="DAY",
            qty=qty,
            price=0 if order_type in ("MKT", "SL-M") else price,
            trigger=0 if order_type in ("L", "MKT") else trigger,
            disclosed=0,
            amo=False,
            source="",
            tag=None,
            gui="",
            placed=now,
            usec=0,
        )
        required = self._required(probe, self._fill_price(probe, now))
        available = account.net
        return 200, {
            "avlCash": fmt6(available),
            "totMrgnUsd": fmt6(account.margin_used + required),
            "mrgnUsd": fmt6(account.margin_used),
            "ordMrgn": fmt6(required),
            "rmsVldtd": "OK" if required <= available else "NOT_OK",
            "reqdMrgn": fmt6(required),
            "avlMrgn": fmt6(available),
            "insufFund": fmt6(max(required - available, 0)),
            "stat": "Ok",
            "stCode": _ST_OK,
        }

    # -- market data --

    def _scrip_master(self, now: float) -> _Reply:
        base = self._scrip_base_url
        day = day_date(ist_day(now)).isoformat()
        paths = [
            f"{base}/{day}/transformed/nse_fo.csv",
            f"{base}/{day}/transformed/bse_fo.csv",
            f"{base}/{day}/transformed/mcx_fo.csv",
            f"{base}/{day}/transformed-v1/nse_cm-v1.csv",
            f"{base}/{day}/transformed-v1/bse_cm-v1.csv",
        ]
        return 200, {"data": {"baseFolder": base, "filesPaths": paths}}


# Every key of Kotak's documented limits sample that stays "0.00" in this model.
_LIMIT_ZERO_FIELDS = (
    "AddPreExpMrgnMisPrsnt",
    "CurExpMrgnNrmlPrsnt",
    "CurPremiumNrmlPrsnt",
    "RmsPayOutAmt",
    "AdhocMargin",
    "MrgnScrpBsktCncPrsnt",
    "FoPremiumMisPrsnt",
    "MrgnVarNrmlPrsnt",
    "AmountUtilizedPrsnt",
    "SplMrgnMisPrsnt",
    "CurSpanMrgnNrmlPrsnt",
    "AuxRmsCollateral",
    "FoUnRlsMtomPrsnt",
    "AuxNotionalCash",
    "AuxAdhocMargin",
    "DaneLimit",
    "RmsPayInAmt",
    "CurPremiumMisPrsnt",
    "MarginWarningPrcntPrsnt",
    "MrgnVarMisPrsnt",
    "CurRlsMtomPrsnt",
    "ExposureMarginPrsnt",
    "NfospreadBenefit",
    "CollateralValue",
    "AddMrgnNrmlPrsnt",
    "RmsCollateralMult",
    "CncMrgnVarPrsnt",
    "ComRlsMtomPrsnt",
    "MarginVarPrsnt",
    "DeliveryMarginPresent",
    "RmsCollateral",
    "ComExpsrMrgnMisPrsnt",
    "CollateralValueMult",
    "FoSpanrgnMisPrsnt",
    "CurUnRlsMtomPrsnt",
    "SpanMarginPrsnt",
    "CncSellcrdPresent",
    "Collateral",
    "MrgnScrpBsktNrmlPrsnt",
    "UnrealizedMtomPrsnt",
    "MrgnScrpBsktMisPrsnt",
    "RealizedMtomPrsnt",
    "MtomWarningPrcntPrsnt",
    "ComSpanMrgnNrmlPrsnt",
    "DeliveryMrgnNrmlPrsnt",
    "AdhocLimitMult",
    "FoPremiumNrmlPrsnt",
    "SpecialMarginPrsnt",
    "SplMrgnNrmlPrsnt",
    "MtomSquareOffWarningPrcntPrsnt",
    "MarginUsedPrsnt",
    "FoRlsMtomPrsnt",
    "NationalCashMult",
    "FoSpanrgnNrmlPrsnt",
    "AmtUntilizedPrsnt",
    "PremiumPrsnt",
    "AddMrgnMisPrsnt",
    "DeliveryMrgnMisPrsnt",
    "CdsSpreadBenefit",
    "ComExpsrMrgnNrmlPrsnt",
    "FoExpMrgnNrmlPrsnt",
    "BrokeragePrsnt",
    "CashUnRlsMtomPrsnt",
    "AddPreExpMrgnNrmlPrsnt",
    "CurSpanMrgnMisPrsnt",
    "ComUnRlsMtomPrsnt",
    "CashRlsMtomPrsnt",
    "NotionalCash",
    "CurExpMrgnMisPrsnt",
    "MarginUsed",
    "Net",
    "TenderMrgnMisPrsnt",
    "FoExpMrgnMisPrsnt",
    "TenderMrgnNrmlPrsnt",
    "MarginScripBasketPrsnt",
    "ComSpanMrgnMisPrsnt",
)
