"""The emulator's moving market: one seeded random walk ("tape") per live instrument.

Pure: no I/O, no locks, no clock reads; time comes in as ``now`` (unix seconds).

A :class:`Tape` holds one instrument's walked price in whole ticks. Its life is a chain of
*segments*: a segment starts (at ``t0``, from the tape's current price, at ``rate`` steps
per second) whenever the instrument becomes live, is given a price, or the tick rate
changes, and the tape stands still while the instrument is not live. Inside a segment the
price after ``n = floor((now - t0) * rate)`` steps is a pure function of the seed, the
instrument, the segment number and ``n``:

* Step ``k`` (1-based) of segment ``s`` is -1, 0 or +1 tick (probabilities 3/8, 1/4, 3/8):
  byte ``(k - 1) % BLOCK`` of block ``(k - 1) // BLOCK``, the SHAKE-128 digest of
  ``f"{key}|{s}|{block}"``, mapped through a fixed table. A hash, not ``random``: the same
  walk in every process and Python version, and about twice as fast to draw.
* The *free* walk ``x = anchor + (sum of steps)`` is folded into the circuit band
  ``[lo, hi]`` by reflection (period ``2 * (hi - lo)``). Folding a symmetric ±1/0 walk is
  exactly a walk that reflects at the circuit limits, and it keeps every step ±1 tick or
  0, so the price never leaves the band, stays tick-aligned, and the end price of a span
  of steps needs only the *sum* of those steps (no per-step loop to clamp).

Cost: sums, minima, maxima and first hits are computed with C-level primitives
(``bytes.translate``, ``int.bit_count``, ``itertools.accumulate``, ``list.index``), never a
Python loop per step: about 8 ns per step for long spans with nothing to watch (whole
blocks are summed by popcount; the day's high and low then see only the block ends, a
stated approximation for long idle gaps), and 40-60 ns per step when resting orders are
watched or the span is short (exact path: every price of the span is seen, the first step
that reaches a watched level is found exactly), plus about 8 us per tape per call that
walks it. ``benchmarks/market_walk.py`` on the project's 2-core machine: 3,000 live
instruments at 2 steps/s advanced every 50 ms take about 24 ms of CPU per second, 10 at
1,000 steps/s about 2.2 ms, one at 100,000 steps/s about 5 ms. One call never walks more
than :data:`MAX_STEPS` steps of one tape: beyond that the older steps are dropped (the
segment restarts :data:`MAX_STEPS` steps before ``now``), which bounds the work of a call
after a long pause at a high rate.

Trade prints: every step is a trade of ``lot * (g(n) - g(n - 1))`` units with
``g(n) = 5 n + h(n) mod 5`` (``h`` a seeded hash), so the tape's cumulative volume is
``lot * g(n)`` in closed form and the last traded quantity is 1 to 9 lots.
"""

from __future__ import annotations

import hashlib
import math
import zlib
from dataclasses import dataclass, field
from itertools import accumulate

__all__ = ["BLOCK", "MAX_STEPS", "Tape", "fold", "fold_range"]

#: Steps per seeded block.
BLOCK = 4096
#: Most steps one tape walks in one call (older ones are dropped; see the module docstring).
MAX_STEPS = 1 << 24
# Spans longer than this with nothing to watch sum whole blocks with bytes.count.
_FAST_AFTER = 2 * BLOCK
# byte -> signed step (0xFF is -1 once the block is viewed as signed bytes)
_STEP_TABLE = bytes(0xFF if b < 96 else (0 if b < 160 else 1) for b in range(256))
_UP = bytes(1 if b == 1 else 0 for b in range(256))  # step byte -> 1 for +1
_DOWN = bytes(1 if b == 0xFF else 0 for b in range(256))  # step byte -> 1 for -1
_EPS = 1e-9  # absorbs float error in (now - t0) * rate


def _hash(a: int, b: int) -> int:
    x = (a * 0x9E3779B1 + b * 0x85EBCA77 + 0x27D4EB2F) & 0xFFFFFFFF
    x ^= x >> 15
    x = (x * 0x2C1B3C6D) & 0xFFFFFFFF
    x ^= x >> 12
    x = (x * 0x297A2D39) & 0xFFFFFFFF
    x ^= x >> 15
    return x


def fold(x: int, lo: int, hi: int) -> int:
    """The free walk value ``x`` reflected into ``[lo, hi]``."""
    span = hi - lo
    if span <= 0:
        return lo
    y = (x - lo) % (2 * span)
    return lo + (y if y <= span else 2 * span - y)


def fold_range(x0: int, x1: int, lo: int, hi: int) -> tuple[int, int]:
    """(min, max) of the folded values of every integer in ``[x0, x1]``."""
    span = hi - lo
    if span <= 0:
        return lo, lo
    if x1 - x0 >= 2 * span:
        return lo, hi
    a, b = fold(x0, lo, hi), fold(x1, lo, hi)
    low, high = min(a, b), max(a, b)
    period = 2 * span
    if x0 + (lo - x0) % period <= x1:  # a point that folds onto lo
        low = lo
    if x0 + (lo + span - x0) % period <= x1:  # a point that folds onto hi
        high = hi
    return low, high


def _preimages(v: int, lo: int, span: int, xmin: int, xmax: int) -> list[int]:
    """Free values in ``[xmin, xmax]`` that fold onto ``v`` (``lo <= v <= lo + span``)."""
    period = 2 * span
    out: list[int] = []
    for residue in {(v - lo) % period, (lo - v) % period}:
        c = xmin + (lo + residue - xmin) % period
        while c <= xmax:
            out.append(c)
            c += period
    return out


def _g(mix: int, n: int) -> int:
    """Cumulative traded lots after ``n`` steps of a segment (non-decreasing, +1..+9)."""
    return 0 if n <= 0 else 5 * n + _hash(mix, n) % 5


@dataclass(slots=True)
class Tape:
    """One instrument's walk. Prices are in ticks; ``tick`` paise per tick.

    ``key`` seeds the walk (the book's seed, segment and token); ``lo``/``hi`` is the
    circuit band of the current segment; ``price`` the last traded price; ``ltq`` and
    ``ltt`` the last trade's quantity and time; ``volume`` the units the tape has printed
    (walk steps and pushed ticks); ``day_low``/``day_high`` the range it walked since
    :meth:`new_day`; ``version`` bumps on every change.
    """

    key: str
    tick: int
    lot: int
    lo: int
    hi: int
    price: int
    ltt: float
    ltq: int = 0
    volume: int = 0
    day: int = -1
    day_low: int = 0
    day_high: int = 0
    live: bool = False
    rate: float = 0.0
    t0: float = 0.0
    segment: int = 0
    anchor: int = 0
    n: int = 0  # steps taken in this segment
    w: int = 0  # their sum
    version: int = 0
    _mix: int = field(default=0, init=False, repr=False)
    _volume_base: int = field(default=0, init=False, repr=False)
    _block_no: int = field(default=-1, init=False, repr=False)
    _block: bytes = field(default=b"", init=False, repr=False)
    _view: memoryview = field(default=memoryview(b""), init=False, repr=False)
    _g_now: int = field(default=0, init=False, repr=False)  # g(n), kept between calls

    def __post_init__(self) -> None:
        self._mix = zlib.crc32(self.key.encode())
        self.day_low = self.day_high = self.price

    @property
    def price_paise(self) -> int:
        return self.price * self.tick

    def new_day(self, day: int) -> None:
        """Start the day's range afresh (the caller passes the IST day of ``now``)."""
        if day != self.day:
            self.day = day
            self.day_low = self.day_high = self.price

    def start(
        self, t0: float, rate: float, *, lo: int | None = None, hi: int | None = None
    ) -> None:
        """Begin a new segment at ``t0`` from the current price (optionally a new band)."""
        if lo is not None and hi is not None:
            self.lo, self.hi = lo, hi
            clamped = min(max(self.price, lo), hi)
            if clamped != self.price:
                self.price = clamped
                self.version += 1
        self.segment += 1
        self.anchor = self.price
        self.t0 = t0
        self.rate = rate
        self.n = self.w = self._g_now = 0
        self._volume_base = self.volume
        self._block_no = -1
        self.live = True

    def stop(self) -> None:
        """Stand still from now on (the price stays)."""
        self.live = False

    def target(self, now: float) -> int:
        """Steps of this segment due by ``now``."""
        if not self.live or self.rate <= 0.0 or now <= self.t0:
            return self.n
        return max(math.floor((now - self.t0) * self.rate + _EPS), self.n)

    def due(self, now: float) -> int:
        """:meth:`target`, after dropping steps beyond :data:`MAX_STEPS` for this call."""
        n_end = self.target(now)
        if n_end - self.n > MAX_STEPS:
            self.start(now - MAX_STEPS / self.rate, self.rate)
            n_end = self.target(now)
        return n_end

    def jump(self, price: int, now: float, qty: int) -> None:
        """A print at ``price`` ticks (``qty`` > 0: a trade of that size); the walk restarts."""
        self.price = price
        self.ltt = now
        if qty > 0:
            self.ltq = qty
            self.volume += qty
        self.day_low = min(self.day_low, price)
        self.day_high = max(self.day_high, price)
        self.version += 1
        if self.live:
            self.start(now, self.rate)

    def _steps(self, block: int) -> bytes:
        if block != self._block_no:
            seed = f"{self.key}|{self.segment}|{block}".encode()
            raw = hashlib.shake_128(seed).digest(BLOCK)
            self._block = raw.translate(_STEP_TABLE)
            self._view = memoryview(self._block).cast("b")
            self._block_no = block
        return self._block

    def _moved(self, count: int, delta: int, low: int, high: int) -> None:
        """``count`` steps summing to ``delta`` were taken; the free walk spanned low..high."""
        self.n += count
        self.w += delta
        self.price = fold(self.anchor + self.w, self.lo, self.hi)
        f_low, f_high = fold_range(low, high, self.lo, self.hi)
        self.day_low = min(self.day_low, f_low)
        self.day_high = max(self.day_high, f_high)
        self.ltt = self.t0 + self.n / self.rate
        g_now = _g(self._mix, self.n)
        g_before = self._g_now if count == 1 else _g(self._mix, self.n - 1)
        self._g_now = g_now
        self.ltq = self.lot * (g_now - g_before)
        self.volume = self._volume_base + self.lot * g_now
        self.version += 1

    def run(self, n_end: int, watch: list[tuple[int, bool]]) -> int | None:
        """Walk up to step ``n_end``, or only up to the first step that reaches a watched level.

        ``watch`` holds ``(level, up)`` pairs in ticks: ``up`` means "price >= level", else
        "price <= level"; each must be false at the current price (the caller checks the
        current price itself). Returns the index in ``watch`` of the level reached (the
        lowest index on a tie), with the tape standing on that step, or ``None`` once the
        tape stands on ``n_end``.
        """
        span = self.hi - self.lo
        targets = [
            (i, level)
            for i, (level, up) in enumerate(watch)
            if span > 0 and self.lo <= level <= self.hi
        ]
        while self.n < n_end:
            block, i0 = divmod(self.n, BLOCK)
            i1 = min(BLOCK, i0 + n_end - self.n)
            steps = self._steps(block)
            x0 = self.anchor + self.w
            if not targets and i0 == 0 and i1 == BLOCK and n_end - self.n > _FAST_AFTER:
                ups = int.from_bytes(steps.translate(_UP)).bit_count()
                delta = ups - int.from_bytes(steps.translate(_DOWN)).bit_count()
                self._moved(BLOCK, delta, min(x0, x0 + delta), max(x0, x0 + delta))
                continue
            rel = list(accumulate(self._view[i0:i1]))
            low, high = min(rel), max(rel)
            hit: tuple[int, int] | None = None  # (step offset, watch index)
            for i, level in targets:
                for c in _preimages(level, self.lo, span, x0 + low, x0 + high):
                    j = rel.index(c - x0)
                    if hit is None or (j, i) < hit:
                        hit = (j, i)
            if hit is not None:
                part = rel[: hit[0] + 1]
                self._moved(len(part), part[-1], x0 + min(0, min(part)), x0 + max(0, max(part)))
                return hit[1]
            self._moved(len(rel), rel[-1], x0 + min(0, low), x0 + max(0, high))
        return None
