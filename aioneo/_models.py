"""Typed results: what each Kotak Neo endpoint answers, as frozen dataclasses.

Why frozen, slotted dataclasses (and not pydantic models or ``TypedDict``):

* **No dependency.** aioneo depends on httpx and pyotp only; pydantic would add a compiled
  package (and a major-version split) to every user's environment for what is a handful of
  field conversions.
* **Small, and fast enough.** ``slots=True`` instances have no ``__dict__``; parsing is
  plain function calls with no validation framework in between: about 30 µs per order-book
  row on CPython 3.11 (2,000 rows in about 60 ms), far below one network round trip.
* **Typed.** Every field has a real type mypy checks (``Decimal``, ``int``, ``datetime``,
  enums); a ``TypedDict`` would only describe Kotak's terse keys (``nOrdNo``, ``fldQty``)
  and their string-vs-number mix instead of fixing them.
* **Immutable**, so a result can be shared between tasks and threads without copying.
  Nothing here does I/O or holds a lock.

Every model keeps the decoded JSON it came from in ``raw`` (left out of ``repr``), so a
field Kotak adds tomorrow, or one we chose not to type, is one ``raw["key"]`` away.

How values are read (Kotak mixes types freely: ``"qty": 1`` next to ``"prc": "9.39"``):

* numbers may arrive as JSON numbers or strings; ``""``, ``"NA"``, ``"N/A"``, ``"-"``,
  ``"--"`` and ``"null"`` mean "no value" (``None``); a JSON float becomes the ``Decimal``
  of its shortest repr (``9.5699`` gives ``Decimal("9.5699")``, not binary noise);
* quantities are ``int`` (``"10"``, ``10`` and ``"10.0"`` all give ``10``);
* a value that should be a number and is not one raises
  :class:`~aioneo._exceptions.InvalidResponseError` naming the endpoint and the key;
* timestamps become timezone-aware ``datetime`` in IST (``+05:30``), the exchange's clock.
  The formats seen are ``"22-Jan-2025 14:28:01"``, ``"2025/01/22 14:28:01"``,
  ``"22-Jan-2025 14: 32: 53"`` (sic), ISO 8601 with or without an offset, and epoch
  seconds, milliseconds or nanoseconds. A timestamp in a format not listed becomes ``None``
  (the text stays in ``raw``): a timestamp is informational, a wrong type is not;
* codes become enums (:class:`OrderStatus`, :class:`TransactionType`, :class:`Product`,
  :class:`ExchangeSegment`, :class:`OrderType`, :class:`Validity`) that never fail on a new
  value: ``OrderStatus("after market order req received")`` is a member, and
  ``OrderStatus("some new state")`` is an *unknown* member whose ``value`` is the raw text
  and whose ``is_known`` is ``False``. Members compare equal to their text
  (``OrderStatus.OPEN == "open"``), and matching ignores case and surrounding spaces.

Business errors (``stCode``/``errMsg`` bodies) are not handled here: the core classifies
a response before any ``parse_*`` function sees it. A ``parse_*`` function raises
``InvalidResponseError`` only when the body does not have the endpoint's shape at all.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, TypeVar

from aioneo._exceptions import InvalidResponseError

__all__ = [
    "IST",
    "Candle",
    "ClientIp",
    "DepthLevel",
    "ExchangeSegment",
    "FutureChainRow",
    "Holding",
    "Limits",
    "MarginRequirement",
    "Ohlc",
    "OptionChain",
    "OptionChainRow",
    "Order",
    "OrderHistoryEntry",
    "OrderResult",
    "OrderStatus",
    "OrderType",
    "Position",
    "Product",
    "Quote",
    "ScripMasterPaths",
    "Trade",
    "TransactionType",
    "Validity",
    "parse_cancel_order",
    "parse_expiries",
    "parse_historical_data",
    "parse_holdings",
    "parse_limits",
    "parse_logout",
    "parse_margin_required",
    "parse_modify_order",
    "parse_option_chain",
    "parse_order_history",
    "parse_order_report",
    "parse_place_order",
    "parse_positions",
    "parse_quotes",
    "parse_scrip_master",
    "parse_trade_report",
    "parse_whatsmyip",
]

IST = timezone(timedelta(hours=5, minutes=30), "IST")
"""India Standard Time, the zone of every Kotak timestamp."""

# --- Enums that tolerate values they do not know --------------------------------------------

_UNKNOWN: dict[tuple[type, str], Any] = {}


class _OpenEnum(enum.StrEnum):
    """A ``StrEnum`` whose constructor never fails on a string.

    Known values (matched ignoring case and surrounding spaces) give the member; any other
    string gives a cached *unknown* member named ``UNKNOWN`` whose ``value`` is the text as
    received. Unknown members are not listed when iterating the enum.
    """

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if not isinstance(value, str):
            return None
        folded = value.strip().casefold()
        for known in cls:
            if known.value.casefold() == folded:
                return known
        key = (cls, value)
        unknown: Any = _UNKNOWN.get(key)
        if unknown is None:
            unknown = str.__new__(cls, value)
            unknown._name_ = "UNKNOWN"
            unknown._value_ = value
            unknown = _UNKNOWN.setdefault(key, unknown)
        return unknown

    @property
    def is_known(self) -> bool:
        """``False`` for a value this version of aioneo has never seen."""
        return type(self)._member_map_.get(self._name_) is self


class OrderStatus(_OpenEnum):
    """``ordSt``: where an order is in its life. Kotak sends lowercase text."""

    PUT_ORDER_REQ_RECEIVED = "put order req received"
    VALIDATION_PENDING = "validation pending"
    OPEN_PENDING = "open pending"
    OPEN = "open"
    TRIGGER_PENDING = "trigger pending"
    AFTER_MARKET_ORDER_REQ_RECEIVED = "after market order req received"
    MODIFY_VALIDATION_PENDING = "modify validation pending"
    MODIFY_PENDING = "modify pending"
    MODIFIED = "modified"
    NOT_MODIFIED = "not modified"
    CANCEL_PENDING = "cancel pending"
    NOT_CANCELLED = "not cancelled"
    TRADED = "traded"
    COMPLETE = "complete"
    REJECTED = "rejected"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        """``True`` for complete, rejected and cancelled: the order will not change again."""
        return self in _TERMINAL


_TERMINAL = frozenset({OrderStatus.COMPLETE, OrderStatus.REJECTED, OrderStatus.CANCELLED})


class TransactionType(_OpenEnum):
    """``trnsTp``: the side."""

    BUY = "B"
    SELL = "S"


class Product(_OpenEnum):
    """``prod``. CO and BO may appear in reports; aioneo does not place them."""

    CNC = "CNC"
    NRML = "NRML"
    MIS = "MIS"
    MTF = "MTF"
    CO = "CO"
    BO = "BO"


class ExchangeSegment(_OpenEnum):
    """``exSeg``: exchange and segment, e.g. ``nse_cm`` (NSE cash), ``nse_fo`` (NSE F&O)."""

    NSE_CM = "nse_cm"
    BSE_CM = "bse_cm"
    NSE_FO = "nse_fo"
    BSE_FO = "bse_fo"
    MCX_FO = "mcx_fo"
    CDE_FO = "cde_fo"
    NSE_COM = "nse_com"


class OrderType(_OpenEnum):
    """``prcTp``: limit, market, stop-loss limit, stop-loss market."""

    LIMIT = "L"
    MARKET = "MKT"
    STOP_LOSS = "SL"
    STOP_LOSS_MARKET = "SL-M"


class Validity(_OpenEnum):
    """``vldt`` / ``ordDur``."""

    DAY = "DAY"
    IOC = "IOC"


# --- Reading fields ------------------------------------------------------------------------

_PLACEHOLDERS = frozenset({"", "na", "n/a", "-", "--", "null", "none"})
_MONTHS = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
_DMY = re.compile(
    r"(\d{1,2})[- ]([A-Za-z]{3})[a-z]*,?[- ](\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?"
)
_YMD_SLASH = re.compile(r"(\d{4})/(\d{2})/(\d{2})(?: (\d{1,2}):(\d{2})(?::(\d{2}))?)?")
_COLON_SPACE = re.compile(r":\s+")
_EnumT = TypeVar("_EnumT", bound=_OpenEnum)
_T = TypeVar("_T")


def _bad(endpoint: str, what: str, body: object = None) -> InvalidResponseError:
    return InvalidResponseError(f"{endpoint}: {what}", endpoint=endpoint, body=body)


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and value.strip().casefold() in _PLACEHOLDERS)


def _epoch(number: Decimal) -> datetime | None:
    magnitude = abs(number)
    if magnitude >= 10**17:
        seconds = number / 10**9
    elif magnitude >= 10**14:
        seconds = number / 10**6
    elif magnitude >= 10**11:
        seconds = number / 10**3
    else:
        seconds = number
    try:
        return datetime.fromtimestamp(float(seconds), IST)
    except (OverflowError, OSError, ValueError):
        return None


def _parse_datetime(value: object) -> datetime | None:
    if _blank(value) or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return _epoch(Decimal(str(value)))
    if not isinstance(value, str):
        return None
    text = _COLON_SPACE.sub(":", value.strip())
    if text.isdigit():
        return _epoch(Decimal(text))
    try:
        if match := _DMY.fullmatch(text):
            day, month_name, year, hour, minute, second = match.groups()
            month = _MONTHS.get(month_name.casefold())
            if month is None:
                return None
            return datetime(
                int(year),
                month,
                int(day),
                int(hour or 0),
                int(minute or 0),
                int(second or 0),
                tzinfo=IST,
            )
        if match := _YMD_SLASH.fullmatch(text):
            year, month_text, day, hour, minute, second = match.groups()
            return datetime(
                int(year),
                int(month_text),
                int(day),
                int(hour or 0),
                int(minute or 0),
                int(second or 0),
                tzinfo=IST,
            )
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=IST)


def _parse_date(value: object) -> date | None:
    parsed = _parse_datetime(value)
    return None if parsed is None else parsed.date()


class _Row:
    """One JSON object being read, knowing which endpoint it came from (for error messages)."""

    __slots__ = ("endpoint", "raw")

    def __init__(self, endpoint: str, raw: object) -> None:
        if not isinstance(raw, Mapping):
            raise _bad(endpoint, f"expected a JSON object, got {type(raw).__name__}", raw)
        self.endpoint = endpoint
        self.raw: Mapping[str, Any] = raw

    def sub(self, key: str) -> _Row | None:
        value = self.raw.get(key)
        return None if value is None else _Row(self.endpoint, value)

    def text(self, key: str) -> str | None:
        value = self.raw.get(key)
        if _blank(value):
            return None
        if isinstance(value, str):
            return value.strip()
        if isinstance(value, bool):
            raise _bad(self.endpoint, f"{key!r} should be text, got {value!r}", self.raw)
        if isinstance(value, int | float):
            return str(value)
        raise _bad(self.endpoint, f"{key!r} should be text, got {type(value).__name__}", self.raw)

    def required_text(self, key: str) -> str:
        value = self.text(key)
        if value is None:
            raise _bad(self.endpoint, f"{key!r} is missing or empty", self.raw)
        return value

    def decimal(self, key: str) -> Decimal | None:
        value = self.raw.get(key)
        if _blank(value):
            return None
        try:
            if isinstance(value, bool):
                raise InvalidOperation
            if isinstance(value, int):
                return Decimal(value)
            if isinstance(value, float):
                number = Decimal(repr(value))
            elif isinstance(value, str):
                number = Decimal(value.strip())
            else:
                raise InvalidOperation
            if not number.is_finite():
                raise InvalidOperation
        except (InvalidOperation, ValueError):
            raise _bad(self.endpoint, f"{key!r} is not a number: {value!r}", self.raw) from None
        return number

    def decimal0(self, key: str) -> Decimal:
        value = self.decimal(key)
        return Decimal(0) if value is None else value

    def integer(self, key: str) -> int | None:
        number = self.decimal(key)
        if number is None:
            return None
        if number != number.to_integral_value():
            raise _bad(
                self.endpoint, f"{key!r} is not a whole number: {self.raw.get(key)!r}", self.raw
            )
        return int(number)

    def integer0(self, key: str) -> int:
        value = self.integer(key)
        return 0 if value is None else value

    def flag(self, key: str) -> bool | None:
        value = self.raw.get(key)
        if isinstance(value, bool):
            return value
        if _blank(value):
            return None
        if isinstance(value, str) and value.strip().casefold() in ("true", "y", "yes"):
            return True
        if isinstance(value, str) and value.strip().casefold() in ("false", "n", "no"):
            return False
        raise _bad(self.endpoint, f"{key!r} is not a yes/no value: {value!r}", self.raw)

    def when(self, key: str) -> datetime | None:
        return _parse_datetime(self.raw.get(key))

    def day(self, key: str) -> date | None:
        return _parse_date(self.raw.get(key))

    def code(self, key: str, kind: type[_EnumT]) -> _EnumT | None:
        value = self.text(key)
        return None if value is None else kind(value)

    def first_text(self, *keys: str) -> str | None:
        for key in keys:
            value = self.text(key)
            if value is not None:
                return value
        return None


def _object(endpoint: str, body: object) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise _bad(endpoint, f"expected a JSON object, got {type(body).__name__}", body)
    return body


def _rows(endpoint: str, body: object, *, key: str = "data") -> list[_Row]:
    """The list under ``key`` (missing or null: no rows; one object: one row)."""
    data = _object(endpoint, body).get(key)
    if data is None:
        return []
    if isinstance(data, Mapping):
        return [_Row(endpoint, data)]
    if not isinstance(data, list):
        raise _bad(endpoint, f"{key!r} should be a list, got {type(data).__name__}", body)
    return [_Row(endpoint, item) for item in data]


def _round(value: Decimal, precision: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-precision), rounding=ROUND_HALF_UP)


def _raw() -> Any:
    return field(repr=False, hash=False)


# --- Orders ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderResult:
    """What place, modify and cancel answer: the order number (``nOrdNo``).

    ``tag`` is the tag the request carried (place only; Kotak does not echo it here).
    Acceptance is not execution: follow the order in the order book or history.
    """

    order_id: str
    tag: str | None = None
    raw: Mapping[str, Any] = _raw()


@dataclass(frozen=True, slots=True, kw_only=True)
class Order:
    """One row of the order book (``order_report``), or the single order fetched by id."""

    order_id: str
    status: OrderStatus | None
    trading_symbol: str | None
    symbol: str | None
    exchange_segment: ExchangeSegment | None
    instrument_token: str | None
    transaction_type: TransactionType | None
    product: Product | None
    order_type: OrderType | None
    validity: Validity | None
    quantity: int | None
    filled_quantity: int | None
    pending_quantity: int | None
    cancelled_quantity: int | None
    disclosed_quantity: int | None
    price: Decimal | None
    average_price: Decimal | None
    trigger_price: Decimal | None
    tag: str | None
    """``GuiOrdId``: the tag sent as ``ig``. Kotak rewrites it to ``<tag>-M<n>`` on modify
    and ``<tag>-<epoch>`` on cancel; :meth:`~aioneo.AsyncNeoClient.find_order` knows both
    forms (a plain prefix match would take ``strat-10`` for ``strat-1``)."""
    exchange_order_id: str | None
    rejection_reason: str | None
    order_time: datetime | None
    exchange_time: datetime | None
    updated_at: datetime | None
    lot_size: int | None
    tick_size: Decimal | None
    raw: Mapping[str, Any] = _raw()

    @classmethod
    def _from(cls, row: _Row) -> Order:
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
            validity=row.code("vldt", Validity),
            quantity=row.integer("qty"),
            filled_quantity=row.integer("fldQty"),
            pending_quantity=row.integer("unFldSz"),
            cancelled_quantity=row.integer("cnlQty"),
            disclosed_quantity=row.integer("dscQty"),
            price=row.decimal("prc"),
            average_price=row.decimal("avgPrc"),
            trigger_price=row.decimal("trgPrc"),
            tag=row.text("GuiOrdId"),
            exchange_order_id=row.text("exOrdId"),
            rejection_reason=row.text("rejRsn"),
            order_time=row.when("ordDtTm"),
            exchange_time=row.when("exCfmTm"),
            updated_at=row.when("hsUpTm"),
            lot_size=row.integer("lotSz"),
            tick_size=row.decimal("tckSz"),
            raw=row.raw,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderHistoryEntry:
    """One state of an order (``order_history`` lists them newest first)."""

    order_id: str
    status: OrderStatus | None
    trading_symbol: str | None
    exchange_segment: ExchangeSegment | None
    instrument_token: str | None
    transaction_type: TransactionType | None
    product: Product | None
    order_type: OrderType | None
    validity: Validity | None
    quantity: int | None
    filled_quantity: int | None
    pending_quantity: int | None
    price: Decimal | None
    average_price: Decimal | None
    trigger_price: Decimal | None
    tag: str | None
    exchange_order_id: str | None
    rejection_reason: str | None
    exchange_time: datetime | None
    updated_at: datetime | None
    raw: Mapping[str, Any] = _raw()

    @classmethod
    def _from(cls, row: _Row) -> OrderHistoryEntry:
        return cls(
            order_id=row.required_text("nOrdNo"),
            status=row.code("ordSt", OrderStatus),
            trading_symbol=row.text("trdSym"),
            exchange_segment=row.code("exSeg", ExchangeSegment),
            instrument_token=row.text("tok"),
            transaction_type=row.code("trnsTp", TransactionType),
            product=row.code("prod", Product),
            order_type=row.code("prcTp", OrderType),
            validity=row.code("ordDur", Validity),
            quantity=row.integer("qty"),
            filled_quantity=row.integer("fldQty"),
            pending_quantity=row.integer("unFldSz"),
            price=row.decimal("prc"),
            average_price=row.decimal("avgPrc"),
            trigger_price=row.decimal("trgPrc"),
            tag=row.text("GuiOrdId"),
            exchange_order_id=row.first_text("exchOrdId", "exOrdId"),
            rejection_reason=row.text("rejRsn"),
            exchange_time=row.when("exchTmstp"),
            updated_at=row.when("flDtTm"),
            raw=row.raw,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Trade:
    """One fill from the trade book (``trade_report``)."""

    order_id: str
    fill_id: str | None
    trading_symbol: str | None
    symbol: str | None
    exchange_segment: ExchangeSegment | None
    instrument_token: str | None
    transaction_type: TransactionType | None
    product: Product | None
    order_type: OrderType | None
    filled_quantity: int | None
    average_price: Decimal | None
    tag: str | None
    exchange_order_id: str | None
    fill_time: datetime | None
    """``flDt`` + ``flTm`` (e.g. ``22-Jan-2025`` and ``14:28:16``), in IST."""
    exchange_time: datetime | None
    updated_at: datetime | None
    raw: Mapping[str, Any] = _raw()

    @classmethod
    def _from(cls, row: _Row) -> Trade:
        fill_day, fill_clock = row.text("flDt"), row.text("flTm")
        fill_time = _parse_datetime(f"{fill_day} {fill_clock}") if fill_day and fill_clock else None
        return cls(
            order_id=row.required_text("nOrdNo"),
            fill_id=row.text("flId"),
            trading_symbol=row.text("trdSym"),
            symbol=row.text("sym"),
            exchange_segment=row.code("exSeg", ExchangeSegment),
            instrument_token=row.text("tok"),
            transaction_type=row.code("trnsTp", TransactionType),
            product=row.code("prod", Product),
            order_type=row.code("prcTp", OrderType),
            filled_quantity=row.integer("fldQty"),
            average_price=row.decimal("avgPrc"),
            tag=row.text("GuiOrdId"),
            exchange_order_id=row.text("exOrdId"),
            fill_time=fill_time,
            exchange_time=row.when("exTm"),
            updated_at=row.when("hsUpTm"),
            raw=row.raw,
        )


# --- Portfolio ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Position:
    """One row of ``positions``, with Kotak's documented arithmetic as properties.

    Quantities and amounts missing from the row count as 0; the scaling factors
    (``multiplier``, ``gen_num``/``gen_den``, ``prc_num``/``prc_den``) count as 1 when
    missing or 0. Amounts are as Kotak reports them: the carry-forward amounts
    (``cf_buy_amount``, ``cf_sell_amount``) are valued at the previous close, so for an equity
    carry-forward the averages below are close-based, not your purchase cost (that lives in
    :class:`Holding` ``average_price``).
    """

    exchange_segment: ExchangeSegment | None
    instrument_token: str | None
    trading_symbol: str | None
    symbol: str | None
    product: Product | None
    cf_buy_quantity: int
    cf_sell_quantity: int
    buy_quantity: int
    """Today's buys (``flBuyQty``)."""
    sell_quantity: int
    """Today's sells (``flSellQty``)."""
    cf_buy_amount: Decimal
    cf_sell_amount: Decimal
    buy_amount: Decimal
    sell_amount: Decimal
    lot_size: int | None
    multiplier: Decimal
    gen_num: Decimal
    gen_den: Decimal
    prc_num: Decimal
    prc_den: Decimal
    precision: int
    """Decimal places for prices (``precision``; 2 when missing)."""
    ltp: Decimal | None
    """Last traded price as sent by positions v2; Kotak notes it is sometimes 0."""
    option_type: str | None
    strike_price: Decimal | None
    expiry: date | None
    updated_at: datetime | None
    raw: Mapping[str, Any] = _raw()

    @property
    def total_buy_quantity(self) -> int:
        return self.cf_buy_quantity + self.buy_quantity

    @property
    def total_sell_quantity(self) -> int:
        return self.cf_sell_quantity + self.sell_quantity

    @property
    def net_quantity(self) -> int:
        """(cfBuyQty + flBuyQty) − (cfSellQty + flSellQty): > 0 long, < 0 short, 0 flat."""
        return self.total_buy_quantity - self.total_sell_quantity

    @property
    def carry_forward_quantity(self) -> int:
        return self.cf_buy_quantity - self.cf_sell_quantity

    @property
    def total_buy_amount(self) -> Decimal:
        return self.cf_buy_amount + self.buy_amount

    @property
    def total_sell_amount(self) -> Decimal:
        return self.cf_sell_amount + self.sell_amount

    @property
    def price_factor(self) -> Decimal:
        """multiplier × (genNum / genDen) × (prcNum / prcDen): 1 for equity."""
        return self.multiplier * (self.gen_num / self.gen_den) * (self.prc_num / self.prc_den)

    @property
    def buy_average_price(self) -> Decimal | None:
        """Total buy amount / (total buy quantity × price factor), rounded; ``None`` if no buys."""
        if not self.total_buy_quantity:
            return None
        value = self.total_buy_amount / (self.total_buy_quantity * self.price_factor)
        return _round(value, self.precision)

    @property
    def sell_average_price(self) -> Decimal | None:
        """Total sell amount / (total sell quantity × price factor), rounded; ``None`` if none."""
        if not self.total_sell_quantity:
            return None
        value = self.total_sell_amount / (self.total_sell_quantity * self.price_factor)
        return _round(value, self.precision)

    @property
    def average_price(self) -> Decimal:
        """Buy average when long, sell average when short, 0 when flat (Kotak's rule)."""
        if self.net_quantity > 0:
            return self.buy_average_price or Decimal(0)
        if self.net_quantity < 0:
            return self.sell_average_price or Decimal(0)
        return _round(Decimal(0), self.precision)

    def pnl(self, ltp: Decimal | None = None) -> Decimal | None:
        """(Total sell − total buy amount) + net quantity × LTP × price factor, rounded.

        Uses ``ltp`` if given, else the row's own ``ltp``; ``None`` when neither is known.
        """
        price = self.ltp if ltp is None else ltp
        if price is None:
            return None
        value = (self.total_sell_amount - self.total_buy_amount) + (
            self.net_quantity * price * self.price_factor
        )
        return _round(value, self.precision)

    @classmethod
    def _from(cls, row: _Row) -> Position:
        def factor(key: str) -> Decimal:
            value = row.decimal(key)
            return value if value else Decimal(1)

        precision = row.integer("precision")
        return cls(
            exchange_segment=row.code("exSeg", ExchangeSegment),
            instrument_token=row.text("tok"),
            trading_symbol=row.text("trdSym"),
            symbol=row.text("sym"),
            product=row.code("prod", Product),
            cf_buy_quantity=row.integer0("cfBuyQty"),
            cf_sell_quantity=row.integer0("cfSellQty"),
            buy_quantity=row.integer0("flBuyQty"),
            sell_quantity=row.integer0("flSellQty"),
            cf_buy_amount=row.decimal0("cfBuyAmt"),
            cf_sell_amount=row.decimal0("cfSellAmt"),
            buy_amount=row.decimal0("buyAmt"),
            sell_amount=row.decimal0("sellAmt"),
            lot_size=row.integer("lotSz"),
            multiplier=factor("multiplier"),
            gen_num=factor("genNum"),
            gen_den=factor("genDen"),
            prc_num=factor("prcNum"),
            prc_den=factor("prcDen"),
            precision=2 if precision is None or precision < 0 else precision,
            ltp=row.decimal("ltp"),
            option_type=row.text("optTp"),
            strike_price=row.decimal("stkPrc"),
            expiry=row.day("expDt"),
            updated_at=row.when("hsUpTm"),
            raw=row.raw,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Holding:
    """One demat holding (``holdings``). Kotak sends these as JSON numbers."""

    symbol: str | None
    display_symbol: str | None
    exchange_segment: ExchangeSegment | None
    exchange_identifier: str | None
    """Matches ``Position.instrument_token`` (``tok``); ``instrument_token`` here does not."""
    instrument_token: str | None
    instrument_type: str | None
    quantity: int | None
    sellable_quantity: int | None
    average_price: Decimal | None
    """What was actually paid, per share."""
    holding_cost: Decimal | None
    market_value: Decimal | None
    closing_price: Decimal | None
    is_alternate_scrip: bool | None
    raw: Mapping[str, Any] = _raw()

    @classmethod
    def _from(cls, row: _Row) -> Holding:
        return cls(
            symbol=row.text("symbol"),
            display_symbol=row.text("displaySymbol"),
            exchange_segment=row.code("exchangeSegment", ExchangeSegment),
            exchange_identifier=row.text("exchangeIdentifier"),
            instrument_token=row.text("instrumentToken"),
            instrument_type=row.text("instrumentType"),
            quantity=row.integer("quantity"),
            sellable_quantity=row.integer("sellableQuantity"),
            average_price=row.decimal("averagePrice"),
            holding_cost=row.decimal("holdingCost"),
            market_value=row.decimal("mktValue"),
            closing_price=row.decimal("closingPrice"),
            is_alternate_scrip=row.flag("isAlternateScrip"),
            raw=row.raw,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """Funds and margins (``limits``): the key figures typed; about 100 more in ``raw``."""

    category: str | None
    net: Decimal | None
    """Funds available to trade (``Net``)."""
    collateral_value: Decimal | None
    margin_used: Decimal | None
    adhoc_margin: Decimal | None
    notional_cash: Decimal | None
    realized_mtm: Decimal | None
    unrealized_mtm: Decimal | None
    board_lot_limit: int | None
    timestamp: datetime | None
    raw: Mapping[str, Any] = _raw()

    @classmethod
    def _from(cls, row: _Row) -> Limits:
        return cls(
            category=row.text("Category"),
            net=row.decimal("Net"),
            collateral_value=row.decimal("CollateralValue"),
            margin_used=row.decimal("MarginUsed"),
            adhoc_margin=row.decimal("AdhocMargin"),
            notional_cash=row.decimal("NotionalCash"),
            realized_mtm=row.decimal("RealizedMtomPrsnt"),
            unrealized_mtm=row.decimal("UnrealizedMtomPrsnt"),
            board_lot_limit=row.integer("BoardLotLimit"),
            timestamp=row.when("TimeStamp"),
            raw=row.raw,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class MarginRequirement:
    """Margin check for one order (``margin_required``)."""

    available_cash: Decimal | None
    total_margin_used: Decimal | None
    margin_used: Decimal | None
    order_margin: Decimal | None
    required_margin: Decimal | None
    available_margin: Decimal | None
    insufficient_funds: Decimal | None
    rms_validated: str | None
    """``rmsVldtd``: ``"OK"`` when the risk system accepts the order."""
    raw: Mapping[str, Any] = _raw()

    @property
    def is_ok(self) -> bool:
        return (self.rms_validated or "").upper() == "OK"

    @classmethod
    def _from(cls, row: _Row) -> MarginRequirement:
        return cls(
            available_cash=row.decimal("avlCash"),
            total_margin_used=row.decimal("totMrgnUsd"),
            margin_used=row.decimal("mrgnUsd"),
            order_margin=row.decimal("ordMrgn"),
            required_margin=row.decimal("reqdMrgn"),
            available_margin=row.decimal("avlMrgn"),
            insufficient_funds=row.decimal("insufFund"),
            rms_validated=row.text("rmsVldtd"),
            raw=row.raw,
        )


# --- Market data ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Ohlc:
    open: Decimal | None
    high: Decimal | None
    low: Decimal | None
    close: Decimal | None


@dataclass(frozen=True, slots=True, kw_only=True)
class DepthLevel:
    """One level of the order book: price, total quantity, number of orders."""

    price: Decimal | None
    quantity: int | None
    orders: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Quote:
    """One instrument from ``quotes``; fields the chosen ``quote_type`` omits are ``None``."""

    exchange_token: str | None
    display_symbol: str | None
    exchange_segment: ExchangeSegment | None
    last_update: datetime | None
    ltp: Decimal | None
    last_traded_quantity: int | None
    total_buy_quantity: int | None
    total_sell_quantity: int | None
    volume: int | None
    average_price: Decimal | None
    open_interest: int | None
    change: Decimal | None
    change_percent: Decimal | None
    lower_circuit: Decimal | None
    upper_circuit: Decimal | None
    year_high: Decimal | None
    year_low: Decimal | None
    ohlc: Ohlc | None
    bids: tuple[DepthLevel, ...]
    asks: tuple[DepthLevel, ...]
    raw: Mapping[str, Any] = _raw()

    @classmethod
    def _from(cls, row: _Row) -> Quote:
        ohlc = row.sub("ohlc")
        depth = row.sub("depth")

        def levels(side: str) -> tuple[DepthLevel, ...]:
            if depth is None:
                return ()
            items = depth.raw.get(side)
            if items is None:
                return ()
            if not isinstance(items, list):
                raise _bad(row.endpoint, f"depth.{side} should be a list", row.raw)
            out = []
            for item in items:
                level = _Row(row.endpoint, item)
                out.append(
                    DepthLevel(
                        price=level.decimal("price"),
                        quantity=level.integer("quantity"),
                        orders=level.integer("orders"),
                    )
                )
            return tuple(out)

        return cls(
            exchange_token=row.text("exchange_token"),
            display_symbol=row.text("display_symbol"),
            exchange_segment=row.code("exchange", ExchangeSegment),
            last_update=row.when("lstup_time"),
            ltp=row.decimal("ltp"),
            last_traded_quantity=row.integer("last_traded_quantity"),
            total_buy_quantity=row.integer("total_buy"),
            total_sell_quantity=row.integer("total_sell"),
            volume=row.integer("last_volume"),
            average_price=row.decimal("avg_cost"),
            open_interest=row.integer("open_int"),
            change=row.decimal("change"),
            change_percent=row.decimal("per_change"),
            lower_circuit=row.decimal("low_price_range"),
            upper_circuit=row.decimal("high_price_range"),
            year_high=row.decimal("year_high"),
            year_low=row.decimal("year_low"),
            ohlc=None
            if ohlc is None
            else Ohlc(
                open=ohlc.decimal("open"),
                high=ohlc.decimal("high"),
                low=ohlc.decimal("low"),
                close=ohlc.decimal("close"),
            ),
            bids=levels("buy"),
            asks=levels("sell"),
            raw=row.raw,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class OptionChainRow:
    """One call or put of an option chain."""

    neo_symbol: str | None
    """``"<segment>|<token>"``, ready for :func:`quotes` or ``historical_data``."""
    symbol: str | None
    option_type: str | None
    strike_price: Decimal | None
    moneyness: str | None
    ltp: Decimal | None
    open: Decimal | None
    high: Decimal | None
    low: Decimal | None
    close: Decimal | None
    """``None`` intraday; set at settlement."""
    prev_close: Decimal | None
    volume: int | None
    open_interest: int | None
    open_interest_previous: int | None
    open_interest_change: int | None
    open_interest_change_percent: Decimal | None
    raw: Mapping[str, Any] = _raw()

    @classmethod
    def _from(cls, row: _Row) -> OptionChainRow:
        instrument = row.sub("instrument") or _Row(row.endpoint, {})
        quote = row.sub("quote") or _Row(row.endpoint, {})
        oi = row.sub("openInterest") or _Row(row.endpoint, {})
        return cls(
            neo_symbol=instrument.text("neoSymbol"),
            symbol=instrument.text("symbol"),
            option_type=instrument.text("optionType"),
            strike_price=instrument.decimal("strikePrice"),
            moneyness=instrument.text("moneyness"),
            ltp=quote.decimal("ltp"),
            open=quote.decimal("open"),
            high=quote.decimal("high"),
            low=quote.decimal("low"),
            close=quote.decimal("close"),
            prev_close=quote.decimal("prevClose"),
            volume=quote.integer("volume"),
            open_interest=oi.integer("current"),
            open_interest_previous=oi.integer("previous"),
            open_interest_change=oi.integer("change"),
            open_interest_change_percent=oi.decimal("changePct"),
            raw=row.raw,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class FutureChainRow:
    """One futures contract of a futures chain (``instrument_type="fut"``)."""

    neo_symbol: str | None
    symbol: str | None
    expiry: date | None
    ltp: Decimal | None
    open: Decimal | None
    high: Decimal | None
    low: Decimal | None
    close: Decimal | None
    prev_close: Decimal | None
    volume: int | None
    open_interest: int | None
    open_interest_previous: int | None
    open_interest_change: int | None
    open_interest_change_percent: Decimal | None
    raw: Mapping[str, Any] = _raw()

    @classmethod
    def _from(cls, row: _Row) -> FutureChainRow:
        instrument = row.sub("inst") or _Row(row.endpoint, {})
        quote = row.sub("quote") or _Row(row.endpoint, {})
        oi = row.sub("oi") or _Row(row.endpoint, {})
        return cls(
            neo_symbol=instrument.text("neoSymbol"),
            symbol=instrument.text("symbol"),
            expiry=instrument.day("expiryDt"),
            ltp=quote.decimal("ltp"),
            open=quote.decimal("o"),
            high=quote.decimal("h"),
            low=quote.decimal("l"),
            close=quote.decimal("c"),
            prev_close=quote.decimal("pc"),
            volume=quote.integer("vol"),
            open_interest=oi.integer("cur"),
            open_interest_previous=oi.integer("prev"),
            open_interest_change=oi.integer("chg"),
            open_interest_change_percent=oi.decimal("chgPct"),
            raw=row.raw,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class OptionChain:
    """``option_chain``: the underlying's common data plus calls, puts and futures."""

    underlying: str | None
    exchange_segment: ExchangeSegment | None
    expiry: date | None
    lot_size: int | None
    multiplier: Decimal | None
    calls: tuple[OptionChainRow, ...]
    puts: tuple[OptionChainRow, ...]
    futures: tuple[FutureChainRow, ...]
    raw: Mapping[str, Any] = _raw()


@dataclass(frozen=True, slots=True, kw_only=True)
class Candle:
    """One bar of ``historical_data``; ``open_interest`` is not populated by Kotak yet."""

    timestamp: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: int
    open_interest: int | None
    raw: Sequence[Any] = _raw()


@dataclass(frozen=True, slots=True, kw_only=True)
class ScripMasterPaths:
    """``scrip_master``: today's scrip-master CSV URLs (the folder is date-stamped)."""

    base_folder: str | None
    file_paths: tuple[str, ...]
    raw: Mapping[str, Any] = _raw()

    def for_segment(self, segment: str) -> str | None:
        """The first file whose name contains ``segment`` (``"nse_cm"`` finds
        ``nse_cm-v1.csv``), as the SDK's ``scrip_master(exchange_segment)`` picks it."""
        wanted = segment.casefold()
        for path in self.file_paths:
            if wanted in path.rsplit("/", 1)[-1].casefold():
                return path
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientIp:
    """``whatsmyip``: the IP Kotak sees for this session, and Kotak's clock."""

    ip: str
    time: datetime | None
    raw: Mapping[str, Any] = _raw()


# --- One parse function per endpoint -------------------------------------------------------


def _result(
    endpoint: str, body: object, *, tag: str | None = None, order_id: str | None = None
) -> OrderResult:
    row = _Row(endpoint, _object(endpoint, body))
    number = row.text("nOrdNo") or order_id
    if number is None:
        raise _bad(endpoint, "'nOrdNo' is missing: no order number in the answer", body)
    return OrderResult(order_id=number, tag=tag, raw=row.raw)


def parse_place_order(body: object, *, tag: str | None = None) -> OrderResult:
    """``{"stat": "Ok", "nOrdNo": "...", "stCode": 200}``; ``tag`` is the one that was sent."""
    return _result("place_order", body, tag=tag)


def parse_modify_order(body: object, *, order_id: str | None = None) -> OrderResult:
    """The modify answer; ``order_id`` (the one modified) is used if Kotak omits ``nOrdNo``."""
    return _result("modify_order", body, order_id=order_id)


def parse_cancel_order(body: object, *, order_id: str | None = None) -> OrderResult:
    """The cancel answer; ``order_id`` (the one cancelled) is used if Kotak omits ``nOrdNo``."""
    return _result("cancel_order", body, order_id=order_id)


def _each(endpoint: str, rows: list[_Row], build: Callable[[_Row], _T]) -> list[_T]:
    return [build(row) for row in rows]


def parse_order_report(body: object) -> list[Order]:
    """``{"stat": "Ok", "data": [...]}`` (order book) or the one order asked for by id."""
    return _each("order_report", _rows("order_report", body), Order._from)


def parse_order_history(body: object) -> list[OrderHistoryEntry]:
    """``{"stat": "Ok", "data": [...]}``, newest first. The SDK's ``{"data": <body>}``
    wrapping is accepted too."""
    data = _object("order_history", body).get("data")
    if isinstance(data, Mapping) and "data" in data:
        body = data
    return _each("order_history", _rows("order_history", body), OrderHistoryEntry._from)


def parse_trade_report(body: object) -> list[Trade]:
    """``{"stat": "ok", "data": [...]}``."""
    return _each("trade_report", _rows("trade_report", body), Trade._from)


def parse_positions(body: object) -> list[Position]:
    """``{"stat": "ok", "data": [...]}``."""
    return _each("positions", _rows("positions", body), Position._from)


def parse_holdings(body: object) -> list[Holding]:
    """``{"data": [...]}`` (no ``stat`` on this endpoint)."""
    return _each("holdings", _rows("holdings", body), Holding._from)


def parse_limits(body: object) -> Limits:
    """One flat object of about 100 string fields."""
    return Limits._from(_Row("limits", _object("limits", body)))


def parse_margin_required(body: object) -> MarginRequirement:
    """``{"avlCash": ..., "stat": "Ok"}``; the SDK's ``{"data": {...}}`` wrapping is accepted."""
    raw = _object("margin_required", body)
    inner = raw.get("data")
    if isinstance(inner, Mapping) and "avlCash" not in raw:
        raw = inner
    return MarginRequirement._from(_Row("margin_required", raw))


def parse_scrip_master(body: object) -> ScripMasterPaths:
    """``{"data": {"baseFolder": ..., "filesPaths": [...]}}`` (or the inner object)."""
    raw = _object("scrip_master", body)
    inner = raw.get("data")
    if isinstance(inner, Mapping):
        raw = inner
    paths = raw.get("filesPaths")
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        raise _bad("scrip_master", "'filesPaths' should be a list of URLs", body)
    row = _Row("scrip_master", raw)
    return ScripMasterPaths(base_folder=row.text("baseFolder"), file_paths=tuple(paths), raw=raw)


def parse_quotes(body: object) -> list[Quote]:
    """A top-level JSON array, one object per instrument (``{"data": [...]}`` accepted too)."""
    if isinstance(body, Mapping):
        return _each("quotes", _rows("quotes", body), Quote._from)
    if not isinstance(body, list):
        raise _bad("quotes", f"expected a JSON array, got {type(body).__name__}", body)
    return [Quote._from(_Row("quotes", item)) for item in body]


def parse_expiries(body: object) -> list[date]:
    """``{"exchange": ..., "underlying": ..., "expiries": ["2026-06-25", ...]}``, ascending."""
    values = _object("expiries", body).get("expiries")
    if not isinstance(values, list):
        raise _bad("expiries", "'expiries' should be a list of dates", body)
    out = []
    for value in values:
        day = _parse_date(value)
        if day is None:
            raise _bad("expiries", f"{value!r} is not a date", body)
        out.append(day)
    return out


def parse_option_chain(body: object) -> OptionChain:
    """``{"data": {"common_data": {...}, "call": [...], "put": [...], "fut": [...]}}``."""
    endpoint = "option_chain"
    data = _object(endpoint, body).get("data")
    if not isinstance(data, Mapping):
        raise _bad(endpoint, "'data' should be an object", body)
    common = _Row(endpoint, data.get("common_data") or {})
    return OptionChain(
        underlying=common.text("unlSymbol"),
        exchange_segment=common.code("exSeg", ExchangeSegment),
        expiry=common.day("expiryDt"),
        lot_size=common.integer("mktLot"),
        multiplier=common.decimal("multiplier"),
        calls=tuple(OptionChainRow._from(r) for r in _rows(endpoint, data, key="call")),
        puts=tuple(OptionChainRow._from(r) for r in _rows(endpoint, data, key="put")),
        futures=tuple(FutureChainRow._from(r) for r in _rows(endpoint, data, key="fut")),
        raw=_object(endpoint, body),
    )


def parse_historical_data(body: object) -> list[Candle]:
    """``{"status": "success", "data": {"candles": [[time, o, h, l, c, volume, oi], ...]}}``."""
    endpoint = "historical_data"
    data = _object(endpoint, body).get("data")
    if not isinstance(data, Mapping):
        raise _bad(endpoint, "'data' should be an object", body)
    candles = data.get("candles")
    if candles is None:
        return []
    if not isinstance(candles, list):
        raise _bad(endpoint, "'candles' should be a list", body)
    out = []
    for index, item in enumerate(candles):
        if not isinstance(item, list) or len(item) < 6:
            raise _bad(endpoint, f"candle {index} should be [time, o, h, l, c, volume(, oi)]", body)
        row = _Row(endpoint, dict(zip(("t", "o", "h", "l", "c", "v", "oi"), item, strict=False)))
        timestamp = row.when("t")
        prices = [row.decimal(key) for key in ("o", "h", "l", "c")]
        volume = row.integer("v")
        if timestamp is None or volume is None or any(p is None for p in prices):
            raise _bad(endpoint, f"candle {index} has an empty time, price or volume", body)
        open_, high, low, close = (p for p in prices if p is not None)
        out.append(
            Candle(
                timestamp=timestamp,
                open=open_,
                high=high,
                low=low,
                close=close,
                volume=volume,
                open_interest=row.integer("oi"),
                raw=item,
            )
        )
    return out


def parse_whatsmyip(body: object) -> ClientIp:
    """``{"data": [{"ip": "...", "time": "2026-07-07 12:07:34.440"}], "stCode": 1000}``."""
    rows = _rows("whatsmyip", body)
    if not rows:
        raise _bad("whatsmyip", "'data' holds no IP", body)
    row = rows[0]
    return ClientIp(ip=row.required_text("ip"), time=row.when("time"), raw=row.raw)


def parse_logout(body: object) -> None:
    """The legacy logout answers an object whose content nothing relies on."""
    _object("logout", body)
