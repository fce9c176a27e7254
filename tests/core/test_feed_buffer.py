"""The bounded buffer: every overflow policy, counted; latest values right; memory bounded."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from aioneo import FeedEvent, FeedOverflowError, Tick
from aioneo._core._feed_buffer import FeedBuffer, check_overflow, conflation_key
from aioneo._core._feed_decode import FeedDecoder

from . import feed_packets as fp

DECODER = FeedDecoder({1: 100})


def tick(token: int, ltp: int, *, level: int = 4) -> Tick:
    """A real decoded tick of ``nse_cm|token`` at ``ltp`` paise."""
    rng = random.Random(token * 1_000_003 + ltp)
    packet = bytearray(fp.packet(rng, "mini" if level == 1 else f"mp{level}"))
    packet[4] = 1  # nse_cm
    offset = 9 + (12 if level == 1 else 60)
    packet[9:13] = token.to_bytes(4, "little")
    packet[offset : offset + 4] = ltp.to_bytes(4, "little")
    (item,) = DECODER.decode(bytes(packet))
    assert isinstance(item, Tick)
    return item


def event(n: int) -> FeedEvent:
    return FeedEvent(kind="disconnected", at=float(n), code=1006)


def drain(buffer: FeedBuffer[object]) -> list[object]:
    out = []
    while (item := buffer.pop()) is not None:
        out.append(item)
    return out


@pytest.mark.parametrize("overflow", ["conflate", "drop_oldest", "error"])
def test_below_capacity_everything_is_kept_in_order(overflow: str) -> None:
    buffer: FeedBuffer[object] = FeedBuffer(capacity=10, overflow=overflow)
    items = [tick(1, 100 + i) for i in range(10)]
    for item in items:
        assert buffer.push(item)
    assert drain(buffer) == items
    assert (buffer.conflated, buffer.dropped, buffer.high_water) == (0, 0, 10)
    assert buffer.pop() is None


def test_conflate_keeps_the_latest_per_instrument_and_mode_in_place() -> None:
    buffer: FeedBuffer[object] = FeedBuffer(capacity=3, overflow="conflate")
    a1, b1, c1 = tick(1, 100), tick(2, 200), tick(3, 300)
    for item in (a1, b1, c1):
        buffer.push(item)
    a2, a3, b2 = tick(1, 101), tick(1, 102), tick(2, 201)
    a_depth = tick(1, 999, level=8)  # the same instrument in another mode: a new key
    for item in (a2, a3, b2, a_depth):
        assert buffer.push(item)
    assert buffer.conflated == 3
    assert buffer.dropped == 0
    assert drain(buffer) == [a3, b2, c1, a_depth]
    assert buffer.pushed == 7


def test_conflate_never_merges_events_and_stays_bounded() -> None:
    buffer: FeedBuffer[object] = FeedBuffer(capacity=4, overflow="conflate")
    for n in range(4):
        buffer.push(tick(1, n))
    events = [event(n) for n in range(3)]
    for item in events:
        buffer.push(item)
    assert len(buffer) == 7  # events are appended past capacity
    for token in range(100, 120):  # more new keys than the ceiling allows
        buffer.push(tick(token, 1))
        assert len(buffer) <= 8
    assert buffer.dropped > 0
    assert buffer.high_water == 8
    out = drain(buffer)
    assert len(out) == 8


def test_drop_oldest_counts_what_it_throws_away() -> None:
    buffer: FeedBuffer[object] = FeedBuffer(capacity=3, overflow="drop_oldest")
    items = [tick(1, n) for n in range(7)]
    for item in items:
        assert buffer.push(item)
    assert buffer.dropped == 4
    assert buffer.conflated == 0
    assert drain(buffer) == items[-3:]


def test_error_delivers_the_backlog_then_raises_and_refuses_the_rest() -> None:
    buffer: FeedBuffer[object] = FeedBuffer(capacity=2, overflow="error")
    first = [tick(1, 1), tick(1, 2)]
    for item in first:
        assert buffer.push(item)
    assert not buffer.push(tick(1, 3))
    assert not buffer.push(tick(9, 9))  # failed for good
    assert buffer.pop() == first[0]
    assert buffer.pop() == first[1]
    with pytest.raises(FeedOverflowError) as info:
        buffer.pop()
    assert info.value.capacity == 2
    assert info.value.policy == "error"
    assert "2 items behind (capacity 2)" in str(info.value)
    with pytest.raises(FeedOverflowError):
        buffer.pop()  # every later read too


def test_the_order_feed_buffer_never_drops() -> None:
    buffer: FeedBuffer[object] = FeedBuffer.never_drop(capacity=100)
    updates = [event(n) for n in range(100)]
    for item in updates:
        assert buffer.push(item)
    assert not buffer.push(event(100))
    assert (buffer.conflated, buffer.dropped) == (0, 0)
    assert drain_until_error(buffer) == updates


def drain_until_error(buffer: FeedBuffer[object]) -> list[object]:
    out = [buffer.pop() for _ in range(len(buffer))]
    with pytest.raises(FeedOverflowError, match="100 order updates behind"):
        buffer.pop()
    return out


@pytest.mark.parametrize("seed", range(5))
def test_a_slow_consumer_ends_with_the_latest_value_of_every_key(seed: int) -> None:
    """Seeded: random bursts of ticks for 50 instruments, a consumer reading rarely."""
    rng = random.Random(seed)
    buffer: FeedBuffer[object] = FeedBuffer(capacity=64, overflow="conflate")
    latest: dict[int, int] = {}
    seen_last: dict[int, Decimal] = {}
    pushed = 0
    for _ in range(3_000):
        token, price = rng.randrange(1, 51), rng.randrange(1, 10**6)
        buffer.push(tick(token, price))
        pushed += 1
        latest[token] = price
        assert len(buffer) <= 128
        if rng.random() < 0.05:
            for _ in range(rng.randrange(1, 5)):
                item = buffer.pop()
                if isinstance(item, Tick):
                    seen_last[int(item.instrument_token)] = item.ltp
    for item in drain(buffer):
        assert isinstance(item, Tick)
        seen_last[int(item.instrument_token)] = item.ltp
    assert {t: int(p * 100) for t, p in seen_last.items()} == latest
    assert buffer.conflated > 0
    assert buffer.dropped == 0
    assert buffer.pushed == pushed


def test_keys() -> None:
    assert conflation_key(tick(1, 1)) == conflation_key(tick(1, 2))
    assert conflation_key(tick(1, 1)) != conflation_key(tick(2, 1))
    assert conflation_key(tick(1, 1)) != conflation_key(tick(1, 1, level=1))
    assert conflation_key(event(1)) is None
    index = bytearray(fp.packet(random.Random(3), "index"))
    index[4], index[5], index[9:13] = 1, 4, (1).to_bytes(4, "little")  # level byte 4, token 1
    (item,) = DECODER.decode(bytes(index))
    assert conflation_key(item) != conflation_key(tick(1, 1))  # never merged with a quote


@pytest.mark.parametrize("bad", ["latest", "", None, "Conflate"])
def test_a_bad_overflow_is_named(bad: object) -> None:
    with pytest.raises(ValueError, match=r"overflow=.* is not allowed: use one of 'conflate'"):
        check_overflow(bad)
    with pytest.raises(ValueError, match="is not allowed"):
        FeedBuffer(overflow=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [0, -1, True, 1.5])
def test_a_bad_capacity_is_named(bad: object) -> None:
    with pytest.raises((TypeError, ValueError), match="capacity"):
        FeedBuffer(capacity=bad)  # type: ignore[arg-type]


class _Model:
    """The buffer's documented semantics, written plainly (a list, linear searches)."""

    def __init__(self, capacity: int, overflow: str) -> None:
        self.capacity, self.overflow = capacity, overflow
        self.items: list[list[object]] = []
        self.conflated = self.dropped = 0
        self.failed = False

    def push(self, item: object) -> bool:
        if self.failed:
            return False
        key = conflation_key(item)
        if len(self.items) >= self.capacity:
            if self.overflow == "conflate":
                if key is not None:
                    for entry in reversed(self.items):
                        if entry[0] == key:
                            entry[1] = item
                            self.conflated += 1
                            return True
                if len(self.items) >= 2 * self.capacity:
                    self.items.pop(0)
                    self.dropped += 1
            elif self.overflow == "drop_oldest":
                self.items.pop(0)
                self.dropped += 1
            else:
                self.failed = True
                return False
        self.items.append([key, item])
        return True

    def pop(self) -> object | None:
        if not self.items:
            if self.failed:
                raise FeedOverflowError("x", capacity=self.capacity, policy=self.overflow)
            return None
        return self.items.pop(0)[1]


@pytest.mark.parametrize("overflow", ["conflate", "drop_oldest", "error"])
@pytest.mark.parametrize("seed", range(4))
def test_the_buffer_behaves_as_its_plain_model(overflow: str, seed: int) -> None:
    """Seeded random pushes (ticks of 20 keys, events) and bursts of pops, including
    full drains, so a conflating buffer boxes and unboxes many times."""
    rng = random.Random(f"{seed}-{overflow}")
    items = [tick(t, p) for t in range(1, 21) for p in range(1, 4)] + [event(n) for n in range(5)]
    buffer: FeedBuffer[object] = FeedBuffer(capacity=8, overflow=overflow)
    model = _Model(8, overflow)
    for _ in range(4_000):
        if rng.random() < 0.75:
            item = rng.choice(items)
            assert buffer.push(item) == model.push(item)
        else:
            for _ in range(rng.choice((1, 2, 20))):
                try:
                    expected = model.pop()
                except FeedOverflowError:
                    with pytest.raises(FeedOverflowError):
                        buffer.pop()
                    break
                assert buffer.pop() is expected
        assert len(buffer) == len(model.items)
        assert (buffer.conflated, buffer.dropped) == (model.conflated, model.dropped)
    if overflow == "conflate":
        assert buffer.conflated > 20
        assert buffer.dropped > 0  # 20 keys and events against 2 x 8: the ceiling was hit
