"""The SFeed ``native_batch`` decoder: binary frames in, typed items out. No I/O.

Wire format (``kotak-neo-api.md`` 6.1, and the official SDK's
``neo_api_client/websocket/feed/protocol.py``, the ground truth): little-endian, packed,
and batched: one binary WebSocket frame holds packets back to back, each starting with a
9-byte header ``u16 length, u16 message_code, i8 exchange_id, u8 level, u8 auction_flag,
u8 seq_no, u8 bitmask_length``. Packets are routed by message code first (6511/6521
market open/close, 7207 index, 105 market status, 104 closing-auction change), then by
the level byte (1 mini touch line; 2, 4, 8, 16 market picture).

What a packet becomes:

* level 1 (mode ``"ltp"``), 2, 4 (``"quote"``), 8 (``"depth"``), 16 (``"full_depth"``):
  :class:`Tick`;
* 7207: :class:`IndexTick`; 105, 6511, 6521: :class:`MarketStatus`; 104: :class:`CasChange`
  (an all-zero one, which the exchange sends outside the auction, is skipped like the SDK
  skips it).

Prices are exact :class:`~decimal.Decimal`: the integer on the wire divided by the
segment's divider from the auth reply (``exchanges[name].divider``), by moving the decimal
point when the divider is a power of ten (100 is the SDK's default; peers' feeds use 10**4
and 10**7 for currency segments), else by
``Decimal`` division (exact for any divider of the form 2**a * 5**b, otherwise rounded to
the decimal context, 28 digits by default). A segment the reply did not mention uses
:data:`DEFAULT_DIVIDER` (100), which is what the SDK does too. Times
are timezone-aware IST ``datetime`` (the wire carries epoch seconds; 0 and negative values,
the exchange's "blank", become ``None``).

Why the items are lazy. The hot path of a feed is "unpack, wrap, hand over": a touch-line
packet carries 16 prices (2 in depth rows) and 2 timestamps, and building a ``Decimal``
costs about 150 ns and an aware ``datetime`` about 500 ns on this machine, so converting
everything up front would cost about 4 us per packet, several times the unpacking itself,
mostly for fields the consumer never reads, or for ticks a conflating buffer throws away
unread. So a
:class:`Tick` (and :class:`IndexTick`) keeps the tuple ``struct`` unpacked, its segment's
divider and the raw depth bytes, and each property converts when read (the same value
every time). The objects are slotted and immutable; they compare equal when their wire
content and divider are equal, and they pickle.

Where aioneo deliberately differs from the SDK's ``decode_packet`` (the differential test
``tests/core/test_feed_decode.py`` asserts each difference):

* ``IndexTick.multiplier`` is the wire integer; the SDK divides the index multiplier (and
  only that one) by the price divider.
* A non-finite ``total_traded_value`` / ``market_cap`` (NaN, infinity) is ``None``.
* ``last_update`` of a market picture is ``None`` for 0 and negative values (the SDK turns
  negatives into 0); ``last_trade_time`` likewise.
* Fields the SDK reads and drops are kept: ``indicative_close``, ``trading_status``, the
  index ``market_cap``, the raw market-status text.
* Malformed input never raises: a packet shorter than its layout, a length prefix below
  9 or past the end of the frame (the rest of that frame is then unreadable, and the SDK
  stops there too) are counted in :attr:`FeedDecoder.malformed` and skipped; a well-formed
  packet of an unknown kind is counted in :attr:`FeedDecoder.unknown`. The SDK's
  ``decode_packet`` raises ``struct.error`` on a short packet.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Final, Literal, NoReturn

from .._models import IST, DepthLevel, ExchangeSegment

__all__ = [
    "DEFAULT_DIVIDER",
    "EXCHANGE_IDS",
    "MARKET_STATUS_TEXT",
    "CasChange",
    "DecodeStats",
    "FeedDecoder",
    "FeedItem",
    "IndexTick",
    "MarketStatus",
    "Tick",
    "TickMode",
]

#: Divider for a segment the auth reply does not mention (the SDK's default).
DEFAULT_DIVIDER: Final = 100

#: Exchange ids of the binary header, by segment name (``kotak-neo-api.md`` 6.1).
EXCHANGE_IDS: Final[Mapping[str, int]] = {
    "none": 0,
    "nse_cm": 1,
    "nse_fo": 2,
    "cde_fo": 3,
    "nse_com": 4,
    "bse_cm": 5,
    "bse_fo": 6,
    "bse_cd": 7,
    "bse_co": 8,
    "mcx_fo": 9,
    "ncd_co": 10,
}
_NAMES: Final = {v: k for k, v in EXCHANGE_IDS.items()}

#: Text per market-status code (the SDK's static table; the wire text is unreliable).
MARKET_STATUS_TEXT: Final[Mapping[int, str]] = {
    1: "Market open",
    2: "Market closed",
    3: "Pre-open session ending",
    4: "Pre-open ended, normal market open",
    5: "Auction status changed",
    6: "Closing session started",
    7: "Closing session ended",
    8: "Continuous trading closed, closing auction starting soon",
    9: "Closing auction price band set",
    10: "Closing auction (CAS) started",
    11: "Market orders restricted",
    12: "Closing auction (CAS) ended",
}

TickMode = Literal["ltp", "quote", "depth", "full_depth"]
_MODES: Final[Mapping[int, TickMode]] = {
    1: "ltp",
    2: "depth",
    4: "quote",
    8: "depth",
    16: "full_depth",
}

_HEADER = "<HHbBBBB"
_PEEK = struct.Struct("<HHbB")  # length, code, exchange id, level
_MINI = struct.Struct(_HEADER + "IqIqIiiIBI")  # 54 bytes
_MP = struct.Struct(_HEADER + "IqqqqqIIIIIqIIIIhiIdiIIIIIBI")  # 144 bytes
_INDEX = struct.Struct(_HEADER + "IiiiiiQiiidBi21s")  # 87 bytes
_STATUS = struct.Struct(_HEADER + "H5s")  # 16 bytes
_CAS = struct.Struct(_HEADER + "IIqq")  # 33 bytes
_ROW = struct.Struct("<qii")
_ROW_SIZE: Final = 16
_HEADER_SIZE: Final = 9

_CODE_STATUS: Final = 105
_CODE_CAS: Final = 104
_CODE_OPEN: Final = 6511
_CODE_CLOSE: Final = 6521
_CODE_INDEX: Final = 7207
_SPECIAL: Final = frozenset({_CODE_STATUS, _CODE_CAS, _CODE_OPEN, _CODE_CLOSE, _CODE_INDEX})

_EPOCH: Final = datetime(1970, 1, 1, 5, 30, tzinfo=IST)  # the unix epoch, in IST
_PCT: Final = Decimal(100)


def _when(seconds: int) -> datetime | None:
    if seconds <= 0:
        return None
    try:
        return _EPOCH + timedelta(seconds=seconds)
    except OverflowError:
        return None


def _float(value: float) -> Decimal | None:
    if not math.isfinite(value):
        return None
    return Decimal(repr(value))


def _text(raw: bytes) -> str:
    return raw.split(b"\x00", 1)[0].decode("utf-8", "replace").strip()


@dataclass(frozen=True, slots=True)
class _Segment:
    """One exchange segment as this connection's auth reply described it."""

    exchange_id: int
    name: str
    divider: int
    #: ``10**-k`` when the divider is ``10**k``: a multiplication moves the decimal point
    #: exactly and costs a third of ``scaleb`` (about 150 ns against 430 ns here).
    quantum: Decimal | None = field(compare=False)
    code: ExchangeSegment = field(compare=False)

    @classmethod
    def make(cls, exchange_id: int, divider: int) -> _Segment:
        name = _NAMES.get(exchange_id, str(exchange_id))
        quantum: Decimal | None = None
        text = str(divider)
        if text == "1" + "0" * (len(text) - 1):
            quantum = Decimal(1).scaleb(1 - len(text))
        return cls(exchange_id, name, divider, quantum, ExchangeSegment(name))

    def price(self, raw: int) -> Decimal:
        quantum = self.quantum
        if quantum is not None:
            return Decimal(raw) * quantum
        return Decimal(raw) / self.divider

    def amount(self, raw: float) -> Decimal | None:
        value = _float(raw)
        if value is None:
            return None
        if self.quantum is not None:
            return value * self.quantum
        return value / self.divider


def _frozen(self: object, name: str, value: object) -> NoReturn:
    raise AttributeError(f"{type(self).__name__} is immutable; cannot set {name!r}")


def _frozen_del(self: object, name: str) -> NoReturn:
    raise AttributeError(f"{type(self).__name__} is immutable; cannot delete {name!r}")


class _Packet:
    """Base of the lazy items: the unpacked tuple ``_v`` and the segment ``_s``."""

    __slots__ = ("_s", "_v")
    _v: tuple[Any, ...]
    _s: _Segment

    __setattr__ = _frozen
    __delattr__ = _frozen_del

    @property
    def exchange_segment(self) -> ExchangeSegment:
        """``nse_cm``, ``nse_fo``, ... (an unknown exchange id is its number as text)."""
        return self._s.code

    @property
    def divider(self) -> int:
        """The divider the prices were scaled with (from this connection's auth reply)."""
        return self._s.divider

    @property
    def sequence(self) -> int:
        """The header's ``seq_no`` byte."""
        return self._v[5]  # type: ignore[no-any-return]

    def _key(self) -> tuple[Any, ...]:
        values = self._v
        if any(x != x for x in values):  # a NaN float: equal to itself here
            values = tuple("NaN" if x != x else x for x in values)
        return (type(self), values, self._s.exchange_id, self._s.divider)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _Packet):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())


def _rebuild(
    cls: type[_Packet], values: tuple[Any, ...], exchange_id: int, divider: int, rows: bytes = b""
) -> _Packet:
    item = _NEW(cls)
    _SET_V(item, values)
    _SET_S(item, _Segment.make(exchange_id, divider))
    if isinstance(item, Tick) and not isinstance(item, _LiteTick):
        _SET_D(item, rows)
    return item


_NEW = object.__new__
_SET_PRICE = vars(DepthLevel)["price"].__set__
_SET_QUANTITY = vars(DepthLevel)["quantity"].__set__
_SET_ORDERS = vars(DepthLevel)["orders"].__set__


def _depth_level(price: Decimal, quantity: int, orders: int) -> DepthLevel:
    """``DepthLevel(price=..., quantity=..., orders=...)`` through its slots: the same
    object (it has no ``__post_init__``; a test checks) for 250 ns instead of 670 ns, which
    matters for a full-depth tick's 40 rows."""
    level = _NEW(DepthLevel)
    _SET_PRICE(level, price)
    _SET_QUANTITY(level, quantity)
    _SET_ORDERS(level, orders)
    return level


_SET_V = vars(_Packet)["_v"].__set__  # the slot descriptors: set past __setattr__
_SET_S = vars(_Packet)["_s"].__set__


class Tick(_Packet):
    """One market-data packet of an instrument: LTP, quote (touch line) or depth.

    ``mode`` says which subscription produced it: ``"ltp"`` (the mini touch line: price,
    last quantity and time, close, change, lot) or ``"quote"`` / ``"depth"`` /
    ``"full_depth"`` (the market picture: OHLC, volumes, circuits, and depth rows). Fields
    the mini touch line does not carry are ``None`` in ``"ltp"`` mode. ``bids`` / ``asks``
    are tuples of :class:`~aioneo.DepthLevel`, best first: one row each for a quote, up to
    the counts the packet declares for depth.

    Prices are ``Decimal`` (wire integer / segment divider), quantities ``int``, times IST
    ``datetime``. Immutable; values are converted when read (see the module docstring);
    safe to share between tasks and threads.

    Example::

        match item:
            case aioneo.Tick(mode="quote") if item.ltp is not None:
                print(item.instrument, item.ltp, item.bids[0].price)
    """

    __slots__ = ("_d",)
    _d: bytes
    __match_args__ = ("instrument", "mode", "ltp")

    # Market picture layout of ``_v``: 7 header fields, then the body.
    @property
    def instrument_token(self) -> str:
        """The exchange token as text (``"11536"``)."""
        return str(self._v[7])

    @property
    def instrument(self) -> str:
        """``"<segment>|<token>"``, the form ``subscribe`` and ``quotes`` take."""
        return f"{self._s.name}|{self._v[7]}"

    @property
    def level(self) -> int:
        """The header's level byte: 1, 2, 4, 8 or 16."""
        return self._v[3]  # type: ignore[no-any-return]

    @property
    def mode(self) -> TickMode:
        """``"ltp"`` (level 1), ``"quote"`` (4), ``"depth"`` (8, and 2), ``"full_depth"`` (16)."""
        return _MODES[self._v[3]]

    @property
    def auction(self) -> bool:
        """The header's auction flag is set."""
        return bool(self._v[4])

    @property
    def ltp(self) -> Decimal:
        """Last traded price."""
        return self._s.price(self._v[17])

    @property
    def last_traded_quantity(self) -> int:
        return self._v[18]  # type: ignore[no-any-return]

    @property
    def last_trade_time(self) -> datetime | None:
        return _when(self._v[11])

    @property
    def last_update(self) -> datetime | None:
        """When the exchange last updated the picture (``None`` while blank)."""
        return _when(self._v[12])

    @property
    def open(self) -> Decimal | None:
        return self._s.price(self._v[13])

    @property
    def close(self) -> Decimal | None:
        """Previous close."""
        return self._s.price(self._v[14])

    @property
    def high(self) -> Decimal | None:
        return self._s.price(self._v[15])

    @property
    def low(self) -> Decimal | None:
        return self._s.price(self._v[16])

    @property
    def average_price(self) -> Decimal | None:
        return self._s.price(self._v[19])

    @property
    def indicative_close(self) -> Decimal | None:
        return self._s.price(self._v[20])

    @property
    def total_buy_quantity(self) -> int | None:
        return self._v[8]  # type: ignore[no-any-return]

    @property
    def total_sell_quantity(self) -> int | None:
        return self._v[9]  # type: ignore[no-any-return]

    @property
    def volume(self) -> int | None:
        """Quantity traded today."""
        return self._v[10]  # type: ignore[no-any-return]

    @property
    def trading_status(self) -> int | None:
        return self._v[23]  # type: ignore[no-any-return]

    @property
    def change_percent(self) -> Decimal:
        """Net change in percent (wire value / 100)."""
        return Decimal(self._v[24]) / _PCT

    @property
    def open_interest(self) -> int | None:
        return self._v[25]  # type: ignore[no-any-return]

    @property
    def total_traded_value(self) -> Decimal | None:
        """Turnover (wire ``f64`` / divider; ``None`` if not finite)."""
        return self._s.amount(self._v[26])

    @property
    def change(self) -> Decimal:
        """Net change against the previous close."""
        return self._s.price(self._v[27])

    @property
    def upper_circuit(self) -> Decimal | None:
        return self._s.price(self._v[28])

    @property
    def lower_circuit(self) -> Decimal | None:
        return self._s.price(self._v[29])

    @property
    def year_high(self) -> Decimal | None:
        return self._s.price(self._v[30])

    @property
    def year_low(self) -> Decimal | None:
        return self._s.price(self._v[31])

    @property
    def market_lot(self) -> int:
        return self._v[32]  # type: ignore[no-any-return]

    @property
    def precision(self) -> int:
        return self._v[33]  # type: ignore[no-any-return]

    @property
    def multiplier(self) -> int:
        return self._v[34]  # type: ignore[no-any-return]

    def _sides(self) -> tuple[int, int]:
        if self._v[3] == 4:
            return 1, 1  # a touch line always carries one row per side (as the SDK reads it)
        buy: int = self._v[21]
        sell: int = self._v[22]
        return buy, sell

    def _side(self, first: int, last: int | None) -> tuple[DepthLevel, ...]:
        price = self._s.price
        rows = _ROW.iter_unpack(self._d[first << 4 : None if last is None else last << 4])
        return tuple([_depth_level(price(p), q, o) for q, p, o in rows])

    @property
    def bids(self) -> tuple[DepthLevel, ...]:
        """Buy side, best first (as many rows as the packet carries, up to its count)."""
        return self._side(0, self._sides()[0])

    @property
    def asks(self) -> tuple[DepthLevel, ...]:
        """Sell side, best first."""
        return self._side(self._sides()[0], None)

    def _key(self) -> tuple[Any, ...]:
        return (*_Packet._key(self), self._d)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self._v, self._s.exchange_id, self._s.divider, self._d))

    def __repr__(self) -> str:
        return (
            f"Tick(instrument={self.instrument!r}, mode={self.mode!r}, ltp={self.ltp!r}, "
            f"last_traded_quantity={self.last_traded_quantity!r}, "
            f"last_trade_time={self.last_trade_time!r})"
        )


_SET_D = vars(Tick)["_d"].__set__


class _LiteTick(Tick):
    """A level-1 (mini touch line) :class:`Tick`: a different layout of ``_v``, no rows
    (its ``_d`` slot stays unset)."""

    __slots__ = ()

    def _key(self) -> tuple[Any, ...]:
        return _Packet._key(self)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self._v, self._s.exchange_id, self._s.divider))

    @property
    def ltp(self) -> Decimal:
        return self._s.price(self._v[9])

    @property
    def last_traded_quantity(self) -> int:
        return self._v[10]  # type: ignore[no-any-return]

    @property
    def last_trade_time(self) -> datetime | None:
        return _when(self._v[8])

    @property
    def close(self) -> Decimal | None:
        return self._s.price(self._v[11])

    @property
    def change_percent(self) -> Decimal:
        return Decimal(self._v[12]) / _PCT

    @property
    def change(self) -> Decimal:
        return self._s.price(self._v[13])

    @property
    def market_lot(self) -> int:
        return self._v[14]  # type: ignore[no-any-return]

    @property
    def precision(self) -> int:
        return self._v[15]  # type: ignore[no-any-return]

    @property
    def multiplier(self) -> int:
        return self._v[16]  # type: ignore[no-any-return]

    @property
    def bids(self) -> tuple[DepthLevel, ...]:
        return ()

    @property
    def asks(self) -> tuple[DepthLevel, ...]:
        return ()

    last_update = open = high = low = average_price = indicative_close = property(
        lambda self: None, doc="Not carried by the mini touch line (``None``)."
    )
    total_buy_quantity = total_sell_quantity = volume = trading_status = open_interest = property(
        lambda self: None, doc="Not carried by the mini touch line (``None``)."
    )
    total_traded_value = upper_circuit = lower_circuit = year_high = year_low = property(
        lambda self: None, doc="Not carried by the mini touch line (``None``)."
    )


class IndexTick(_Packet):
    """One index packet (message code 7207), e.g. Nifty 50.

    ``ltp`` is the index value; ``change`` is value − previous close. ``instrument`` is
    ``"<segment>|<token>"`` with the numeric token the server streams; ``name`` is the
    index name (the form ``subscribe(..., mode="index")`` takes, ``"nse_cm|Nifty 50"``).
    Lazy and immutable like :class:`Tick`.
    """

    __slots__ = ()
    __match_args__ = ("instrument", "name", "ltp")

    @property
    def instrument_token(self) -> str:
        return str(self._v[7])

    @property
    def instrument(self) -> str:
        return f"{self._s.name}|{self._v[7]}"

    @property
    def name(self) -> str:
        return _text(self._v[20])

    @property
    def ltp(self) -> Decimal:
        """The index value."""
        return self._s.price(self._v[12])

    @property
    def open(self) -> Decimal:
        return self._s.price(self._v[8])

    @property
    def close(self) -> Decimal:
        """Previous close."""
        return self._s.price(self._v[9])

    @property
    def high(self) -> Decimal:
        return self._s.price(self._v[10])

    @property
    def low(self) -> Decimal:
        return self._s.price(self._v[11])

    @property
    def change(self) -> Decimal:
        return self._s.price(self._v[12] - self._v[9])

    @property
    def change_percent(self) -> Decimal:
        return Decimal(self._v[16]) / _PCT

    @property
    def last_trade_time(self) -> datetime | None:
        return _when(self._v[13])

    @property
    def year_high(self) -> Decimal:
        return self._s.price(self._v[14])

    @property
    def year_low(self) -> Decimal:
        return self._s.price(self._v[15])

    @property
    def market_cap(self) -> Decimal | None:
        """As sent (``f64``, unscaled; ``None`` if not finite). The SDK drops it."""
        return _float(self._v[17])

    @property
    def precision(self) -> int:
        return self._v[18]  # type: ignore[no-any-return]

    @property
    def multiplier(self) -> int:
        """The wire integer (the SDK divides it by the price divider, a bug)."""
        return self._v[19]  # type: ignore[no-any-return]

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self._v, self._s.exchange_id, self._s.divider))

    def __repr__(self) -> str:
        return (
            f"IndexTick(instrument={self.instrument!r}, name={self.name!r}, ltp={self.ltp!r}, "
            f"change={self.change!r})"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class MarketStatus:
    """An exchange segment's market status (message 105, or the 6511/6521 open/close).

    ``status_code`` 1 = open, 2 = closed, 3..12 the pre-open, closing and closing-auction
    phases (:data:`MARKET_STATUS_TEXT`); ``status`` is that table's text (the wire text is
    unreliable, so the SDK does the same), ``wire_status`` what the packet said (empty for
    6511/6521, which carry no body).
    """

    exchange_segment: ExchangeSegment
    status_code: int
    status: str
    wire_status: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class CasChange:
    """A closing-auction-session (CAS) update of one instrument (message 104).

    The reference price and the order imbalance (total, and at market price). Arrives on
    quote and depth subscriptions during the closing auction; the all-zero packets the
    exchange sends outside it are skipped.
    """

    exchange_segment: ExchangeSegment
    instrument_token: str
    ref_price: Decimal
    imbalance_quantity: int
    imbalance_quantity_at_market: int

    @property
    def instrument(self) -> str:
        return f"{self.exchange_segment.value}|{self.instrument_token}"


FeedItem = Tick | IndexTick | MarketStatus | CasChange


@dataclass(frozen=True, slots=True)
class DecodeStats:
    """What a decoder has seen. ``malformed``: truncated or garbage packets skipped;
    ``unknown``: well-formed packets of a kind aioneo does not know; ``ignored``: all-zero
    closing-auction packets (skipped on purpose)."""

    frames: int = 0
    packets: int = 0
    items: int = 0
    malformed: int = 0
    unknown: int = 0
    ignored: int = 0


class FeedDecoder:
    """Decodes binary frames of one SFeed connection (its dividers) into items.

    ``decode(frame)`` never raises on content: whatever cannot be read is counted and
    skipped. Not thread-safe (one reader per connection owns it); a new connection with a
    new auth reply gets a new decoder.

    Example::

        decoder = FeedDecoder({1: 100, 3: 10_000_000})
        for item in decoder.decode(frame):
            ...
    """

    __slots__ = ("_segments", "frames", "ignored", "items", "malformed", "packets", "unknown")

    def __init__(self, dividers: Mapping[int, int] | None = None) -> None:
        self._segments: dict[int, _Segment] = {}
        for exchange_id, divider in (dividers or {}).items():
            if isinstance(divider, bool) or not isinstance(divider, int) or divider <= 0:
                raise ValueError(
                    f"dividers[{exchange_id!r}] = {divider!r} is not allowed: "
                    "a divider is a positive int"
                )
            if not -128 <= int(exchange_id) <= 127:
                raise ValueError(
                    f"dividers key {exchange_id!r} is not allowed: an exchange id is -128..127"
                )
            self._segments[int(exchange_id)] = _Segment.make(int(exchange_id), divider)
        self.frames = 0
        self.packets = 0
        self.items = 0
        self.malformed = 0
        self.unknown = 0
        self.ignored = 0

    def _segment(self, exchange_id: int) -> _Segment:
        """A segment the auth reply did not mention: the SDK's default divider."""
        segment = self._segments[exchange_id] = _Segment.make(exchange_id, DEFAULT_DIVIDER)
        return segment

    @property
    def dividers(self) -> dict[int, int]:
        """The divider of every segment seen or configured, by exchange id."""
        return {s.exchange_id: s.divider for s in self._segments.values()}

    @property
    def stats(self) -> DecodeStats:
        return DecodeStats(
            self.frames, self.packets, self.items, self.malformed, self.unknown, self.ignored
        )

    def decode(self, frame: bytes | bytearray | memoryview) -> list[FeedItem]:
        """Every item in one binary frame, in wire order."""
        out: list[FeedItem] = []
        append = out.append
        segments = self._segments
        new, set_v, set_s, set_d = _NEW, _SET_V, _SET_S, _SET_D
        mp_unpack, mini_unpack, peek = _MP.unpack_from, _MINI.unpack_from, _PEEK.unpack_from
        n = len(frame)
        offset = 0
        packets = malformed = unknown = ignored = 0
        while offset < n:
            if n - offset < _HEADER_SIZE:
                malformed += 1  # a tail too short for a header
                break
            length, code, exchange_id, level = peek(frame, offset)
            end = offset + length
            if length < _HEADER_SIZE or end > n:
                malformed += 1  # a garbage or truncated length: the rest cannot be found
                break
            packets += 1
            segment = segments.get(exchange_id)
            if segment is None:
                segment = self._segment(exchange_id)
            if code not in _SPECIAL:
                if level == 4:  # the touch line: one row per side, always
                    if length < 144:
                        malformed += 1
                    else:
                        tick = new(Tick)
                        set_v(tick, mp_unpack(frame, offset))
                        set_s(tick, segment)
                        rows = 32 if length >= 176 else (length - 144) & ~15
                        set_d(tick, bytes(frame[offset + 144 : offset + 144 + rows]))
                        append(tick)
                elif level == 1:
                    if length < 54:
                        malformed += 1
                    else:
                        tick = new(_LiteTick)
                        set_v(tick, mini_unpack(frame, offset))
                        set_s(tick, segment)
                        append(tick)
                elif level == 8 or level == 16 or level == 2:
                    if length < 144:
                        malformed += 1
                    else:
                        tick = new(Tick)
                        values = mp_unpack(frame, offset)
                        set_v(tick, values)
                        set_s(tick, segment)
                        rows = min(values[21] + values[22], (length - 144) >> 4)
                        set_d(tick, bytes(frame[offset + 144 : offset + 144 + (rows << 4)]))
                        append(tick)
                else:
                    unknown += 1
                offset = end
                continue
            if code == _CODE_INDEX:
                if length < _INDEX.size:
                    malformed += 1
                else:
                    index = new(IndexTick)
                    set_v(index, _INDEX.unpack_from(frame, offset))
                    set_s(index, segment)
                    append(index)
            elif code == _CODE_STATUS:
                if length < _STATUS.size:
                    malformed += 1
                else:
                    status_code, wire = _STATUS.unpack_from(frame, offset)[7:]
                    wire_text = _text(wire)
                    text = MARKET_STATUS_TEXT.get(status_code)
                    if text is None:
                        text = wire_text or f"Unknown status_code {status_code}"
                    append(
                        MarketStatus(
                            exchange_segment=segment.code,
                            status_code=status_code,
                            status=text,
                            wire_status=wire_text,
                        )
                    )
            elif code == _CODE_CAS:
                if length < _CAS.size:
                    malformed += 1
                else:
                    token, ref, imbalance, at_market = _CAS.unpack_from(frame, offset)[7:]
                    if ref == 0 and imbalance == 0 and at_market == 0:
                        ignored += 1
                    else:
                        append(
                            CasChange(
                                exchange_segment=segment.code,
                                instrument_token=str(token),
                                ref_price=segment.price(ref),
                                imbalance_quantity=imbalance,
                                imbalance_quantity_at_market=at_market,
                            )
                        )
            else:  # 6511 / 6521: header only
                status_code = 1 if code == _CODE_OPEN else 2
                append(
                    MarketStatus(
                        exchange_segment=segment.code,
                        status_code=status_code,
                        status=MARKET_STATUS_TEXT[status_code],
                    )
                )
            offset = end
        self.frames += 1
        self.packets += packets
        self.malformed += malformed
        self.unknown += unknown
        self.ignored += ignored
        self.items += len(out)
        return out
