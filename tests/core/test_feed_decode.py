"""The feed decoder against the official SDK's ``decode_packet``, field by field.

Seeded: 10,000 random packets of every kind (``feed_packets.KINDS``), batched into frames,
decoded by aioneo's :class:`FeedDecoder` and by the SDK's ``split_batch`` +
``decode_packet``. Every field agrees, except the differences aioneo makes on purpose
(asserted here as differences): the index multiplier, non-finite floats, blank times.
Then truncation and garbage: never an exception, every skipped packet counted.
"""

from __future__ import annotations

import math
import pickle
import random
import struct
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from aioneo import IST, CasChange, DepthLevel, IndexTick, MarketStatus, Tick
from aioneo._core._feed_decode import FeedDecoder

from . import feed_packets as fp

sdk_protocol = pytest.importorskip("neo_api_client.websocket.feed.protocol")
sdk_models = pytest.importorskip("neo_api_client.websocket.feed.models")

PER_KIND = 10_000
SEED = 20261202


def _when(value: int) -> datetime | None:
    """An independent reading of a wire time: epoch seconds, blank when <= 0."""
    if value <= 0:
        return None
    try:
        return datetime.fromtimestamp(value, IST)
    except (OverflowError, OSError, ValueError):
        return None


def _price(ours: Decimal | None, sdk: float) -> None:
    assert ours is not None
    assert isinstance(ours, Decimal)
    assert float(ours) == sdk


def _amount(ours: Decimal | None, sdk: float) -> None:
    if not math.isfinite(sdk):
        assert ours is None  # deliberate: NaN/inf is no amount
        return
    assert ours is not None
    value = float(ours)
    assert (
        value == sdk
        or math.isclose(value, sdk, rel_tol=4e-16)
        or (abs(value - sdk) <= 2 * math.ulp(sdk))
    )


def _depth(ours: tuple[DepthLevel, ...], sdk: list[Any]) -> None:
    assert isinstance(ours, tuple)
    assert len(ours) == len(sdk)
    for mine, theirs in zip(ours, sdk, strict=True):
        assert mine.quantity == theirs.quantity
        assert mine.orders == theirs.orders
        _price(mine.price, theirs.price)


def agree(ours: Any, sdk: Any, packet: bytes) -> None:
    """Every field of aioneo's item against the SDK's message for the same packet."""
    if isinstance(sdk, sdk_models.SFeedMarketStatus):
        assert isinstance(ours, MarketStatus)
        assert ours.exchange_segment.value == sdk.exchange_segment
        assert ours.status_code == sdk.status_code
        assert ours.status == sdk.status
        return
    assert ours.exchange_segment.value == sdk.exchange_segment
    assert ours.instrument_token == sdk.instrument_token
    assert ours.instrument == f"{sdk.exchange_segment}|{sdk.instrument_token}"
    if isinstance(sdk, sdk_models.SFeedCasChange):
        assert isinstance(ours, CasChange)
        _price(ours.ref_price, sdk.ref_price)
        assert ours.imbalance_quantity == sdk.imbalance_qty
        assert ours.imbalance_quantity_at_market == sdk.imbalance_qty_at_market
        return
    if isinstance(sdk, sdk_models.SFeedIndex):
        assert isinstance(ours, IndexTick)
        assert ours.name == sdk.name
        for mine, theirs in (
            (ours.ltp, sdk.last_traded_price),
            (ours.open, sdk.open_price),
            (ours.high, sdk.high_price),
            (ours.low, sdk.low_price),
            (ours.close, sdk.close_price),
            (ours.change, sdk.change),
            (ours.change_percent, sdk.net_change_percent),
            (ours.year_high, sdk.yearly_high),
            (ours.year_low, sdk.yearly_low),
        ):
            _price(mine, theirs)
        assert ours.last_trade_time == _when(sdk.last_trade_time)
        assert ours.precision == sdk.precision
        # Deliberate difference: the SDK divides the index multiplier by the divider.
        assert sdk.multiplier == ours.multiplier / ours.divider
        market_cap = struct.unpack_from("<d", packet, 9 + 44)[0]
        _amount(ours.market_cap, market_cap)
        return
    assert isinstance(ours, Tick)
    common = (
        (ours.ltp, sdk.last_traded_price),
        (ours.close, sdk.close_price),
        (ours.change, sdk.net_change),
        (ours.change_percent, sdk.net_change_percent),
    )
    for mine, theirs in common:
        _price(mine, theirs)
    assert ours.last_trade_time == _when(sdk.last_trade_time)
    assert ours.last_traded_quantity == sdk.last_trade_qty
    assert ours.market_lot == sdk.market_lot
    assert ours.precision == sdk.precision
    assert ours.multiplier == sdk.multiplier
    if isinstance(sdk, sdk_models.SFeedScripLite):
        assert ours.mode == "ltp"
        assert ours.level == 1
        for absent in (
            ours.open, ours.high, ours.low, ours.volume, ours.average_price,
            ours.total_buy_quantity, ours.total_sell_quantity, ours.open_interest,
            ours.upper_circuit, ours.lower_circuit, ours.year_high, ours.year_low,
            ours.total_traded_value, ours.last_update, ours.indicative_close,
            ours.trading_status,
        ):  # fmt: skip
            assert absent is None
        assert ours.bids == ()
        assert ours.asks == ()
        return
    assert isinstance(sdk, sdk_models.SFeedScrip)
    assert ours.level == sdk.level
    assert ours.mode == {2: "depth", 4: "quote", 8: "depth", 16: "full_depth"}[sdk.level]
    assert ours.auction == sdk.auction
    for mine, theirs in (
        (ours.open, sdk.open_price),
        (ours.high, sdk.high_price),
        (ours.low, sdk.low_price),
        (ours.average_price, sdk.average_trade_price),
        (ours.upper_circuit, sdk.upper_circuit_limit),
        (ours.lower_circuit, sdk.lower_circuit_limit),
        (ours.year_high, sdk.yearly_high),
        (ours.year_low, sdk.yearly_low),
    ):
        _price(mine, theirs)
    _amount(ours.total_traded_value, sdk.total_traded_value)
    # The SDK turns a negative "blank" update time into 0; aioneo says None for both.
    assert ours.last_update == _when(sdk.last_update_time)
    assert ours.total_buy_quantity == sdk.total_buy_quantity
    assert ours.total_sell_quantity == sdk.total_sell_quantity
    assert ours.volume == sdk.volume_traded_today
    assert ours.open_interest == sdk.open_interest
    _depth(ours.bids, sdk.buy)
    _depth(ours.asks, sdk.sell)
    # Kept where the SDK drops them: read straight from the packet.
    indicative = struct.unpack_from("<I", packet, 9 + 76)[0]
    trading_status = struct.unpack_from("<h", packet, 9 + 88)[0]
    _price(ours.indicative_close, indicative / ours.divider)
    assert ours.trading_status == trading_status


def sdk_decode(frame: bytes) -> list[tuple[Any, bytes]]:
    out = []
    for packet in sdk_protocol.split_batch(frame):
        message = sdk_protocol.decode_packet(packet, fp.DIVIDERS)
        if message is not None:
            out.append((message, packet))
    return out


@pytest.mark.parametrize("kind", fp.KINDS)
def test_every_field_agrees_with_the_sdk(kind: str) -> None:
    rng = random.Random(f"{SEED}-frames-{kind}")
    items = list(fp.packets(SEED, kind, PER_KIND))
    frames = fp.batches(items, rng)
    decoder = FeedDecoder(fp.DIVIDERS)
    compared = 0
    for frame in frames:
        ours = decoder.decode(frame)
        theirs = sdk_decode(frame)
        assert len(ours) == len(theirs)
        for mine, (message, packet) in zip(ours, theirs, strict=True):
            agree(mine, message, packet)
            compared += 1
    stats = decoder.stats
    assert stats.frames == len(frames)
    assert stats.packets == PER_KIND
    assert stats.malformed == 0
    assert stats.unknown == 0
    assert stats.items == compared
    assert stats.items + stats.ignored == PER_KIND
    if kind == "cas":
        assert 0 < stats.ignored < PER_KIND // 5  # the all-zero ones, as the SDK skips them
    else:
        assert stats.ignored == 0


def test_divider_is_per_segment_from_the_auth_reply() -> None:
    rng = random.Random(7)
    packet = bytearray(fp.packet(rng, "mp4"))
    struct.pack_into("<b", packet, 4, 3)  # cde_fo
    struct.pack_into("<I", packet, 9 + 60, 123_456_789)  # ltp
    (tick,) = FeedDecoder({3: 10_000_000}).decode(bytes(packet))
    assert isinstance(tick, Tick)
    assert tick.ltp == Decimal("12.3456789")
    assert str(tick.ltp) == "12.3456789"
    assert tick.divider == 10_000_000
    (same,) = FeedDecoder({3: 100}).decode(bytes(packet))
    assert isinstance(same, Tick)
    assert same.ltp == Decimal("1234567.89")
    (default,) = FeedDecoder({}).decode(bytes(packet))
    assert isinstance(default, Tick)
    assert default.divider == 100  # a segment the reply did not name: the SDK's default


def test_a_divider_that_is_no_power_of_ten_divides_exactly() -> None:
    rng = random.Random(8)
    packet = bytearray(fp.packet(rng, "mini"))
    struct.pack_into("<b", packet, 4, 1)
    struct.pack_into("<I", packet, 9 + 12, 1001)
    (tick,) = FeedDecoder({1: 8}).decode(bytes(packet))
    assert isinstance(tick, Tick)
    assert tick.ltp == Decimal("125.125")


@pytest.mark.parametrize("bad", [0, -100, True, 1.5, "100"])
def test_a_bad_divider_is_refused_naming_it(bad: object) -> None:
    with pytest.raises(ValueError, match=r"dividers\[1\] = .* a divider is a positive int"):
        FeedDecoder({1: bad})  # type: ignore[dict-item]


def _frame(seed: int, count: int) -> tuple[bytes, list[int]]:
    rng = random.Random(seed)
    parts = [fp.packet(rng, rng.choice(fp.KINDS[:-1])) for _ in range(count)]  # no CAS zeros
    ends, total = [], 0
    for part in parts:
        total += len(part)
        ends.append(total)
    return b"".join(parts), ends


def test_a_frame_truncated_anywhere_yields_the_whole_packets_before_the_cut() -> None:
    frame, ends = _frame(11, 6)
    for cut in range(len(frame) + 1):
        decoder = FeedDecoder(fp.DIVIDERS)
        items = decoder.decode(frame[:cut])
        whole = sum(1 for end in ends if end <= cut)
        assert len(items) == whole
        assert decoder.malformed == (0 if cut in (0, *ends) else 1)
        assert len(sdk_protocol.split_batch(frame[:cut])) == whole  # the SDK agrees


def test_a_short_body_is_counted_and_the_next_packet_still_decodes() -> None:
    rng = random.Random(12)
    good = fp.packet(rng, "mp4")
    cases = (
        (4, 7208, 144),
        (8, 7208, 144),
        (1, 7208, 54),
        (0, 7207, 87),
        (0, 105, 16),
        (0, 104, 33),
    )
    for level, code, size in cases:
        short = fp.HEADER.pack(size - 1, code, 1, level, 0, 0, 0) + bytes(size - 10)
        decoder = FeedDecoder(fp.DIVIDERS)
        items = decoder.decode(short + good)
        assert len(items) == 1
        assert isinstance(items[0], Tick)
        assert decoder.malformed == 1
        with pytest.raises(struct.error):  # the SDK's decode_packet raises instead
            sdk_protocol.decode_packet(short, fp.DIVIDERS)


def test_unknown_levels_and_codes_are_counted_not_raised() -> None:
    decoder = FeedDecoder()
    frame = fp.HEADER.pack(9, 7208, 1, 3, 0, 0, 0) + fp.HEADER.pack(12, 9999, 1, 0, 0, 0, 0)
    assert decoder.decode(frame + bytes(3)) == []
    assert decoder.unknown == 2
    assert decoder.malformed == 0
    assert sdk_protocol.decode_packet(frame[:9], {}) is None


@pytest.mark.parametrize("seed", range(5))
def test_garbage_never_raises_and_agrees_with_the_sdk_where_it_decodes(seed: int) -> None:
    """Random headers with consistent lengths and random bodies: every code path."""
    rng = random.Random(f"garbage-{seed}")
    decoder = FeedDecoder(fp.DIVIDERS)
    sdk_items = stopped = 0
    for _ in range(2_000):
        parts = []
        for _ in range(rng.randrange(1, 6)):
            length = rng.choice((rng.randrange(0, 40), rng.randrange(40, 400)))
            code = rng.choice((7208, 7207, 105, 104, 6511, 6521, rng.getrandbits(16)))
            level = rng.choice((0, 1, 2, 3, 4, 8, 16, rng.getrandbits(8)))
            head = struct.pack("<HHbB", length, code, rng.randrange(-3, 12), level)
            body = bytes(rng.getrandbits(8) for _ in range(max(0, length - 6)))
            parts.append((head + body)[: max(length, 6)])
        frame = b"".join(parts)
        if rng.random() < 0.2:
            frame = frame[: rng.randrange(0, len(frame) + 1)]
        stopped += _stops(frame)
        ours = decoder.decode(frame)
        theirs = []
        for packet in sdk_protocol.split_batch(frame):
            try:
                message = sdk_protocol.decode_packet(packet, fp.DIVIDERS)
            except struct.error:
                continue
            if message is not None:
                theirs.append((message, packet))
        assert len(ours) == len(theirs)
        for mine, (message, packet) in zip(ours, theirs, strict=True):
            agree(mine, message, packet)
        sdk_items += len(theirs)
    stats = decoder.stats
    assert stats.items == sdk_items
    assert stats.malformed > 0
    assert stats.unknown > 0
    # Every packet with a usable length is an item, unknown, ignored or a short body; the
    # other malformed ones are the unusable lengths that end a frame (at most one each).
    assert stats.packets == stats.items + stats.unknown + stats.ignored + (
        stats.malformed - stopped
    )


def _stops(frame: bytes) -> int:
    """1 if walking the length prefixes of ``frame`` ends before its end."""
    offset = 0
    while offset < len(frame):
        (length,) = struct.unpack_from("<H", frame, offset) if len(frame) - offset >= 2 else (0,)
        if len(frame) - offset < 9 or length < 9 or offset + length > len(frame):
            return 1
        offset += length
    return 0


def test_items_are_immutable_equal_by_content_and_pickle() -> None:
    rng = random.Random(13)
    frame = b"".join(fp.packet(rng, kind) for kind in ("mini", "mp8", "index"))
    first = FeedDecoder(fp.DIVIDERS).decode(frame)
    second = FeedDecoder(fp.DIVIDERS).decode(frame)
    assert first == second
    assert [hash(a) for a in first] == [hash(b) for b in second]
    for item in first:
        with pytest.raises(AttributeError, match="immutable"):
            item.ltp = Decimal(1)  # type: ignore[misc]
        with pytest.raises(AttributeError):
            item.__dict__  # noqa: B018  slotted: no per-instance dict
        clone = pickle.loads(pickle.dumps(item))
        assert clone == item
        assert repr(clone) == repr(item)
    assert first[0] != FeedDecoder(dict.fromkeys(range(-128, 128), 1)).decode(frame)[0]


def test_a_touch_line_reads_as_documented() -> None:
    body = fp.MP_BODY.pack(
        11536, 500, 600, 7000, 1_764_650_000, -2_209_008_600, 10000, 9900, 10100, 9800,
        10050, 25, 10010, 0, 5, 5, 0, 152, 1234, 7_035_000.5, 150, 11000, 9000, 12000,
        8000, 1, 2, 1,
    )  # fmt: skip
    rows = fp.ROW.pack(40, 10045, 3) + fp.ROW.pack(60, 10055, 4)
    packet = fp.HEADER.pack(9 + len(body) + len(rows), 7208, 1, 4, 0, 9, 0) + body + rows
    (tick,) = FeedDecoder({1: 100}).decode(packet)
    assert isinstance(tick, Tick)
    assert tick.instrument == "nse_cm|11536"
    assert tick.mode == "quote"
    assert tick.ltp == Decimal("100.50")
    assert str(tick.ltp) == "100.50"
    assert tick.change == Decimal("1.50")
    assert tick.change_percent == Decimal("1.52")
    assert tick.last_trade_time == datetime(2025, 12, 2, 10, 3, 20, tzinfo=IST)
    assert tick.last_update is None
    assert tick.bids == (DepthLevel(price=Decimal("100.45"), quantity=40, orders=3),)
    assert tick.asks == (DepthLevel(price=Decimal("100.55"), quantity=60, orders=4),)
    assert tick.total_traded_value == Decimal("70350.005")
    assert tick.sequence == 9
    assert "ltp=Decimal('100.50')" in repr(tick)


def test_bytearray_and_memoryview_frames_decode_the_same() -> None:
    rng = random.Random(14)
    frame = b"".join(fp.packet(rng, kind) for kind in fp.KINDS)
    expected = FeedDecoder(fp.DIVIDERS).decode(frame)
    assert len(expected) >= 9
    assert FeedDecoder(fp.DIVIDERS).decode(bytearray(frame)) == expected
    assert FeedDecoder(fp.DIVIDERS).decode(memoryview(frame)) == expected


def test_dividers_known_to_a_decoder() -> None:
    decoder = FeedDecoder({1: 100, 3: 10_000_000})
    assert decoder.dividers == {1: 100, 3: 10_000_000}
    decoder.decode(fp.HEADER.pack(9, 6511, 9, 0, 0, 0, 0))  # mcx_fo, not in the reply
    assert decoder.dividers == {1: 100, 3: 10_000_000, 9: 100}
    with pytest.raises(ValueError, match=r"an exchange id is -128\.\.127"):
        FeedDecoder({300: 100})


def test_a_nan_turnover_still_compares_equal_to_itself() -> None:
    rng = random.Random(15)
    packet = bytearray(fp.packet(rng, "mp4"))
    struct.pack_into("<d", packet, 9 + 98, math.nan)  # total_traded_value
    first, second = (FeedDecoder().decode(bytes(packet))[0] for _ in range(2))
    assert isinstance(first, Tick)
    assert first.total_traded_value is None
    assert first == second
    assert hash(first) == hash(second)


def test_depth_rows_are_real_depth_levels() -> None:
    """The decoder builds ``DepthLevel`` through its slots; that is only the constructor
    while ``DepthLevel`` validates nothing."""
    assert not hasattr(DepthLevel, "__post_init__")
    rng = random.Random(16)
    (tick,) = FeedDecoder({1: 100}).decode(fp.packet(rng, "mp16"))
    assert isinstance(tick, Tick)
    assert len(tick.bids) + len(tick.asks) >= 4
    for row in (*tick.bids, *tick.asks):
        same = DepthLevel(price=row.price, quantity=row.quantity, orders=row.orders)
        assert row == same
        assert hash(row) == hash(same)
        assert repr(row) == repr(same)
        with pytest.raises(AttributeError):
            row.price = Decimal(0)  # type: ignore[misc]
