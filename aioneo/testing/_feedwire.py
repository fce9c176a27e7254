"""The emulator's encoder for Kotak's SFeed ``native_batch`` market-data packets.

Pure: values in, bytes out. Written from the layouts in ``kotak-neo-api.md`` section 6.1
(the SDK's ``neo_api_client/websocket/feed/protocol.py`` is the reference it is tested
against); aioneo's own client decoder is separate code, so the two meet only on the wire.

Every packet is little-endian and packed, and starts with a 9-byte header
``<HHbBBBB>``: total length, message code, exchange id, level, auction flag, sequence
number, bitmask length. Several packets go back to back in one binary frame
(:func:`batch`), each frame kept under the websockets library's 1 MiB default.

Prices travel as integers: rupees times the segment's divider (:data:`DIVIDERS`, sent in
the auth reply). The emulator keeps money in paise, so a wire price is
``paise * divider // 100``; every divider here is a multiple of 100, so nothing is lost.
``mcx_fo`` uses 10,000 and ``cde_fo`` 10,000,000, as currency and commodity feeds carry
more decimals: a client that hard-codes 100 shows MCX prices 100 times too large.

Each packet type is a frozen dataclass holding exactly the integers it puts on the wire,
so a test can compare what a client decoded with what was sent, field by field.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

__all__ = [
    "DIVIDERS",
    "EXCHANGE_IDS",
    "MAX_FRAME",
    "CasPacket",
    "IndexPacket",
    "MarketPicture",
    "MiniTouchLine",
    "StatusPacket",
    "batch",
    "wire_price",
]

#: Segment name -> exchange id in the packet header (the SDK's ``EXCHANGE_NAME_TO_ID``).
EXCHANGE_IDS: dict[str, int] = {
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

#: Segment name -> price divider announced in the auth reply.
DIVIDERS: dict[str, int] = {
    "nse_cm": 100,
    "nse_fo": 100,
    "cde_fo": 10_000_000,
    "nse_com": 10_000,
    "bse_cm": 100,
    "bse_fo": 100,
    "bse_cd": 10_000,
    "bse_co": 10_000,
    "mcx_fo": 10_000,
    "ncd_co": 10_000,
}

#: Largest binary frame :func:`batch` builds (the websockets client's default max_size
#: is 1 MiB; stay well under it).
MAX_FRAME = 512 * 1024

MSG_MARKET_OPEN = 6511
MSG_MARKET_CLOSE = 6521
MSG_INDEX = 7207
MSG_MARKET_PICTURE = 7208
MSG_MINI = 7202
MSG_MARKET_STATUS = 105
MSG_CAS = 104

LEVEL_MINI = 1
LEVEL_TOUCH = 4
LEVEL_DEPTH = 8
LEVEL_FULL_DEPTH = 16

_HEADER = struct.Struct("<HHbBBBB")
_MINI = struct.Struct("<IqIqIiiIBI")
_MP = struct.Struct("<IqqqqqIIIIIqIIIIhiIdiIIIIIBI")
_ROW = struct.Struct("<qii")
_INDEX = struct.Struct("<IiiiiiQiiidBi21s")
_STATUS = struct.Struct("<H5s")
_CAS = struct.Struct("<IIqq")


def wire_price(paise: int, divider: int) -> int:
    """``paise`` as the integer a packet carries for a segment with ``divider``."""
    return paise * divider // 100


def _header(length: int, code: int, exchange: int, level: int, seq: int, auction: int) -> bytes:
    return _HEADER.pack(length, code, exchange, level, auction, seq & 0xFF, 0)


@dataclass(frozen=True, slots=True)
class MiniTouchLine:
    """Level 1 (scrips lite): 54 bytes."""

    exchange_id: int
    token: int
    last_trade_time: int
    ltp: int
    last_trade_qty: int
    close: int
    net_change_percent: int  # hundredths of a percent
    net_change: int
    market_lot: int
    precision: int
    multiplier: int
    seq: int = 0

    def encode(self) -> bytes:
        body = _MINI.pack(
            self.token,
            self.last_trade_time,
            self.ltp,
            self.last_trade_qty,
            self.close,
            self.net_change_percent,
            self.net_change,
            self.market_lot,
            self.precision,
            self.multiplier,
        )
        size = _HEADER.size + len(body)
        return _header(size, MSG_MINI, self.exchange_id, LEVEL_MINI, self.seq, 0) + body


@dataclass(frozen=True, slots=True)
class MarketPicture:
    """Levels 4 (touch line: one row each side), 8 (depth) and 16 (full depth)."""

    exchange_id: int
    level: int
    token: int
    total_buy_qty: int
    total_sell_qty: int
    volume: int
    last_trade_time: int
    last_update_time: int
    open: int
    close: int
    high: int
    low: int
    ltp: int
    last_trade_qty: int
    avg_price: int
    indicative_close: int
    trading_status: int
    net_change_percent: int
    open_interest: int
    total_traded_value: float
    net_change: int
    upper_circuit: int
    lower_circuit: int
    yearly_high: int
    yearly_low: int
    market_lot: int
    precision: int
    multiplier: int
    buy: tuple[tuple[int, int, int], ...]  # (qty, price, orders), best first
    sell: tuple[tuple[int, int, int], ...]
    auction: int = 0
    seq: int = 0

    def encode(self) -> bytes:
        body = _MP.pack(
            self.token,
            self.total_buy_qty,
            self.total_sell_qty,
            self.volume,
            self.last_trade_time,
            self.last_update_time,
            self.open,
            self.close,
            self.high,
            self.low,
            self.ltp,
            self.last_trade_qty,
            self.avg_price,
            self.indicative_close,
            len(self.buy),
            len(self.sell),
            self.trading_status,
            self.net_change_percent,
            self.open_interest,
            self.total_traded_value,
            self.net_change,
            self.upper_circuit,
            self.lower_circuit,
            self.yearly_high,
            self.yearly_low,
            self.market_lot,
            self.precision,
            self.multiplier,
        )
        rows = b"".join(_ROW.pack(*row) for row in (*self.buy, *self.sell))
        size = _HEADER.size + len(body) + len(rows)
        header = _header(
            size, MSG_MARKET_PICTURE, self.exchange_id, self.level, self.seq, self.auction
        )
        return header + body + rows


@dataclass(frozen=True, slots=True)
class IndexPacket:
    """Message code 7207: 87 bytes; ``name`` is NUL-padded to 21 bytes."""

    exchange_id: int
    token: int
    open: int
    close: int
    high: int
    low: int
    value: int
    last_trade_time: int
    yearly_high: int
    yearly_low: int
    net_change_percent: int
    market_cap: float
    precision: int
    multiplier: int
    name: str
    seq: int = 0

    def encode(self) -> bytes:
        name = self.name.encode("utf-8")[:21]
        body = _INDEX.pack(
            self.token,
            self.open,
            self.close,
            self.high,
            self.low,
            self.value,
            self.last_trade_time,
            self.yearly_high,
            self.yearly_low,
            self.net_change_percent,
            self.market_cap,
            self.precision,
            self.multiplier,
            name,
        )
        size = _HEADER.size + len(body)
        return _header(size, MSG_INDEX, self.exchange_id, 0, self.seq, 0) + body


@dataclass(frozen=True, slots=True)
class StatusPacket:
    """Market status: code 105 with a body, or 6511/6521 (open/close), header only."""

    exchange_id: int
    code: int  # MSG_MARKET_STATUS, MSG_MARKET_OPEN or MSG_MARKET_CLOSE
    status_code: int = 0
    status: str = ""
    seq: int = 0

    def encode(self) -> bytes:
        if self.code != MSG_MARKET_STATUS:
            return _header(_HEADER.size, self.code, self.exchange_id, 0, self.seq, 0)
        body = _STATUS.pack(self.status_code, self.status.encode("ascii")[:5])
        size = _HEADER.size + len(body)
        return _header(size, self.code, self.exchange_id, 0, self.seq, 0) + body


@dataclass(frozen=True, slots=True)
class CasPacket:
    """Message code 104, closing-auction reference price and imbalance: 33 bytes."""

    exchange_id: int
    token: int
    ref_price: int
    imbalance_qty: int
    imbalance_qty_at_market: int
    seq: int = 0

    def encode(self) -> bytes:
        body = _CAS.pack(
            self.token, self.ref_price, self.imbalance_qty, self.imbalance_qty_at_market
        )
        size = _HEADER.size + len(body)
        return _header(size, MSG_CAS, self.exchange_id, 0, self.seq, 0) + body


Packet = MiniTouchLine | MarketPicture | IndexPacket | StatusPacket | CasPacket


def batch(packets: Iterable[bytes], *, max_frame: int = MAX_FRAME) -> Iterator[bytes]:
    """Lay encoded packets end to end in frames of at most ``max_frame`` bytes."""
    frame = bytearray()
    for packet in packets:
        if frame and len(frame) + len(packet) > max_frame:
            yield bytes(frame)
            frame = bytearray()
        frame += packet
    if frame:
        yield bytes(frame)
