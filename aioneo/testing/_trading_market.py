"""The emulator's simulated market: instruments, deterministic prices, market-data bodies.

Pure: no I/O, no asyncio, no clock reads. Every function takes ``now`` (unix seconds) and
returns values; randomness comes from ``random.Random`` instances seeded with the book's
seed plus a fixed key, so two markets built with the same seed give byte-identical
answers for the same calls, in any process (string seeds are hashed with SHA-512 by
``random.Random``, not with the per-process ``hash``).

Prices are a sum of sines per instrument (periods from about a minute to about a month),
frozen outside the trading session (09:15-15:30 IST on weekdays; MCX 09:00-23:30), and
rounded to the tick, except for an instrument that has a *tape* (it was live: subscribed,
holding a resting order or given a price; see :mod:`aioneo.testing._trading_walk`): its
LTP is the tape's walked price, its day high/low include the tape's range and its volume
the tape's prints; open, previous close, open interest and history candles stay the
model's (candles do not record the walk). :meth:`Market.snapshot` builds every value
the market feed and the REST quote show, so the two cannot disagree. Money is kept in
integer paise so sums never drift. Futures follow their underlying with a small carry;
option premiums are intrinsic value plus a smooth time value that decays to expiry (a
walked derivative walks on its own: it does not follow a walked underlying).

The universe (see :data:`EQUITIES`, :data:`INDICES`, :data:`UNDERLYINGS`): a dozen NSE/BSE
cash symbols, four indices (quotes and history only, not tradable), and options and
futures on NIFTY, BANKNIFTY, RELIANCE (nse_fo), SENSEX (bse_fo) and CRUDEOIL (mcx_fo),
whose expiries are computed from ``now``: weekly NIFTY (Tuesday) and SENSEX (Thursday)
options, monthly contracts on the last Tuesday/Thursday (MCX: the 19th, or the weekday
before it).

Concurrency: a :class:`Market` keeps small caches; the owning ``TradingBook`` serializes
calls with its lock, so a ``Market`` is not meant to be shared without one.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import random
import zlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from aioneo.testing import _scrip_files
from aioneo.testing._trading_walk import Tape

__all__ = [
    "EQUITIES",
    "INDICES",
    "MAX_QUOTES",
    "SEGMENTS",
    "UNDERLYINGS",
    "FeedSnapshot",
    "Instrument",
    "Market",
    "day_date",
    "expiry_epoch",
    "fault",
    "fmt6",
    "fmt_paise",
    "ist_day",
    "live_reasons",
    "to_paise",
]

IST_OFFSET = 19_800  # seconds east of UTC (+05:30)
DAY = 86_400
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_YEAR = 365.0 * DAY

MAX_QUOTES = 50
#: Order segments Kotak accepts from the API (``es``).
SEGMENTS = ("nse_cm", "bse_cm", "nse_fo", "bse_fo", "mcx_fo")
_CASH = ("nse_cm", "bse_cm")
_DERIV = ("nse_fo", "bse_fo", "mcx_fo")

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_WEEKLY_MONTH_CODE = "123456789OND"

# seg, token, trading symbol, symbol, base price (rupees), tick (paise)
EQUITIES: tuple[tuple[str, str, str, str, float, int], ...] = (
    ("nse_cm", "2885", "RELIANCE-EQ", "RELIANCE", 1420.0, 5),
    ("nse_cm", "11536", "TCS-EQ", "TCS", 3450.0, 5),
    ("nse_cm", "1594", "INFY-EQ", "INFY", 1580.0, 5),
    ("nse_cm", "3045", "SBIN-EQ", "SBIN", 810.0, 5),
    ("nse_cm", "1333", "HDFCBANK-EQ", "HDFCBANK", 1720.0, 5),
    ("nse_cm", "4963", "ICICIBANK-EQ", "ICICIBANK", 1380.0, 5),
    ("nse_cm", "5900", "AXISBANK-EQ", "AXISBANK", 1160.0, 5),
    ("nse_cm", "1660", "ITC-EQ", "ITC", 425.0, 5),
    ("nse_cm", "11915", "YESBANK-EQ", "YESBANK", 19.5, 1),
    ("nse_cm", "19084", "ITBEES-EQ", "ITBEES", 41.2, 1),
    ("bse_cm", "500325", "RELIANCE", "RELIANCE", 1420.0, 5),
    ("bse_cm", "532540", "TCS", "TCS", 3450.0, 5),
    ("bse_cm", "500209", "INFY", "INFY", 1580.0, 5),
    ("bse_cm", "500112", "SBIN", "SBIN", 810.0, 5),
)

# seg, token (= the index name, as Kotak's quotes use it), underlying name, base
INDICES: tuple[tuple[str, str, str, float], ...] = (
    ("nse_cm", "Nifty 50", "NIFTY", 24500.0),
    ("nse_cm", "Nifty Bank", "BANKNIFTY", 52000.0),
    ("nse_cm", "Nifty IT", "NIFTYIT", 37000.0),
    ("bse_cm", "SENSEX", "SENSEX", 80500.0),
)


@dataclass(frozen=True, slots=True)
class _Underlying:
    name: str
    seg: str
    process: str  # key of the spot process
    base: float
    step: int  # strike step, rupees
    lot: int
    weekly_weekday: int | None  # 0 = Monday
    monthly: str  # "tue", "thu" (last such weekday of the month) or "mcx" (19th)
    opt_kind: str
    fut_kind: str
    code: int  # 1..6, used in token numbers
    close_minute: int = 930  # 15:30


UNDERLYINGS: tuple[_Underlying, ...] = (
    _Underlying("NIFTY", "nse_fo", "IX:NIFTY", 24500.0, 50, 75, 1, "tue", "OPTIDX", "FUTIDX", 1),
    _Underlying(
        "BANKNIFTY", "nse_fo", "IX:BANKNIFTY", 52000.0, 100, 35, None, "tue", "OPTIDX", "FUTIDX", 2
    ),
    _Underlying(
        "RELIANCE", "nse_fo", "EQ:RELIANCE", 1420.0, 10, 500, None, "tue", "OPTSTK", "FUTSTK", 3
    ),
    _Underlying("SENSEX", "bse_fo", "IX:SENSEX", 80500.0, 100, 20, 3, "thu", "OPTIDX", "FUTIDX", 4),
    _Underlying(
        "CRUDEOIL",
        "mcx_fo",
        "CM:CRUDEOIL",
        6000.0,
        50,
        100,
        None,
        "mcx",
        "OPTFUT",
        "FUTCOM",
        5,
        1410,
    ),
)
_STRIKES_EACH_SIDE = 40
_N_WEEKLY = 4
_N_MONTHLY_OPT = 2
_N_MONTHLY_FUT = 3
_OPT_TOKEN_BASE = 35_000
_FUT_TOKEN_BASE = 20_000


@dataclass(frozen=True, slots=True)
class Instrument:
    """One quotable instrument. Prices are in paise; ``expiry`` is an IST day number."""

    seg: str
    token: str
    trd_sym: str  # pTrdSymbol: what orders send as ``ts`` (an index: its name)
    sym: str  # short symbol / underlying name
    kind: str  # EQ, INDEX, OPTIDX, FUTIDX, OPTSTK, FUTSTK, OPTFUT, FUTCOM
    lot: int
    tick: int  # paise
    process: str  # the price process (the spot's, for derivatives)
    opt_tp: str = "XX"  # CE, PE or XX
    strike: int = 0  # rupees
    expiry: int = 0  # IST day number of the expiry date, 0 for none
    close_minute: int = 930

    @property
    def tradable(self) -> bool:
        return self.kind != "INDEX"

    @property
    def is_option(self) -> bool:
        return self.opt_tp != "XX"

    @property
    def is_future(self) -> bool:
        return self.kind.startswith("FUT")

    @property
    def series(self) -> str:
        return "EQ" if self.kind == "EQ" else "XX"

    @property
    def neo_symbol(self) -> str:
        return f"{self.seg}|{self.token}"


#: Why an instrument is live (see :meth:`Market.retain`).
live_reasons = ("feed", "order", "pin")

DepthRow = tuple[int, int, int]  # (quantity, price paise, orders)


@dataclass(frozen=True, slots=True)
class FeedSnapshot:
    """Everything a market-data packet carries for one instrument at one moment.

    Money in integer paise, quantities in units, ``ltt`` in unix seconds. ``close`` is the
    previous session's close. The REST quote of the same instrument at the same ``now`` is
    built from the same snapshot, so the two always agree. For an index (``kind ==
    "INDEX"``) ``ltp`` is the index value; its quantities, circuits and depth are 0.

    :meth:`depth` gives ``n`` rows each side around the LTP, best first: buy rows at
    ``ltp - tick * (i + 1)`` and sell rows at ``ltp + tick * (i + 1)``, so the best bid is
    below the LTP and the best ask above it, every price tick-aligned (a buy row that would
    be at or below 0 is ``(0, 0, 0)``). Its first five rows are the REST quote's depth, and
    ``total_buy_qty`` / ``total_sell_qty`` are seven times their quantities.
    """

    seg: str
    token: str
    trading_symbol: str
    kind: str
    ltp: int
    ltq: int
    ltt: int
    open: int
    high: int
    low: int
    close: int
    volume: int
    avg_price: int
    total_buy_qty: int
    total_sell_qty: int
    open_interest: int
    upper_circuit: int
    lower_circuit: int
    year_high: int
    year_low: int
    lot_size: int
    tick: int
    depth_seed: int

    @property
    def is_index(self) -> bool:
        return self.kind == "INDEX"

    @property
    def change(self) -> int:
        """``ltp - close`` in paise."""
        return self.ltp - self.close

    @property
    def change_pct(self) -> float:
        """Percent change from the previous close (the REST quote's ``per_change``)."""
        return self.change * 100.0 / self.close if self.close else 0.0

    def depth(self, n: int = 5) -> tuple[tuple[DepthRow, ...], tuple[DepthRow, ...]]:
        """``(buy_rows, sell_rows)``, ``n`` rows each of ``(quantity, price, orders)``."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"n={n!r} is not allowed: pass an int >= 0 (rows per side)")
        if self.is_index:
            empty = tuple((0, 0, 0) for _ in range(n))
            return empty, empty
        unit, tick, ltp = self.lot_size * 10, self.tick, self.ltp
        draw = _depth_draw(self.depth_seed, n)
        buy: list[DepthRow] = []
        sell: list[DepthRow] = []
        for i in range(n):
            qb, qs, ob, os_ = draw[4 * i : 4 * i + 4]
            bid = ltp - tick * (i + 1)
            buy.append(((1 + qb % 50) * unit, bid, 1 + ob % 20) if bid > 0 else (0, 0, 0))
            sell.append(((1 + qs % 50) * unit, ltp + tick * (i + 1), 1 + os_ % 20))
        return tuple(buy), tuple(sell)


def _depth_draw(salt: int, rows: int) -> bytes:
    """Four seeded bytes per depth row (buy qty, sell qty, buy orders, sell orders)."""
    return hashlib.shake_128(salt.to_bytes(8, "little")).digest(4 * rows)


@dataclass(frozen=True, slots=True)
class _Process:
    base: float
    amps: tuple[float, float, float, float]
    omegas: tuple[float, float, float, float]
    phases: tuple[float, float, float, float]
    volume_rate: float  # shares per second of session
    mix: int  # 32-bit key for per-bar noise


# --- small pure helpers -------------------------------------------------------------------


def fmt_paise(value: int) -> str:
    """``123456`` -> ``"1234.56"``, exactly (no float rounding)."""
    sign = "-" if value < 0 else ""
    value = abs(value)
    return f"{sign}{value // 100}.{value % 100:02d}"


def fmt6(value: int) -> str:
    """Paise as rupees with six decimals, the check-margin format."""
    return fmt_paise(value) + "0000"


def to_paise(rupees: float) -> int:
    return round(rupees * 100)


def ist_day(now: float) -> int:
    """The IST calendar day of ``now`` as days since 1970-01-01."""
    return int((now + IST_OFFSET) // DAY)


def day_date(day: int) -> date:
    return date.fromordinal(_EPOCH_ORDINAL + day)


def date_day(d: date) -> int:
    return d.toordinal() - _EPOCH_ORDINAL


def weekday(day: int) -> int:
    return (day + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0


def _utc(day: int, minute: int) -> float:
    """Unix seconds of IST ``day`` at ``minute`` past midnight."""
    return float(day * DAY + minute * 60 - IST_OFFSET)


def expiry_epoch(inst: Instrument) -> float:
    """Unix seconds when ``inst`` expires (its expiry day's session close)."""
    return _utc(inst.expiry, inst.close_minute)


def _prev_weekday(day: int) -> int:
    day -= 1
    while weekday(day) >= 5:
        day -= 1
    return day


def _mix(a: int, b: int) -> int:
    x = (a * 0x9E3779B1 + b * 0x85EBCA77 + 0x165667B1) & 0xFFFFFFFF
    x ^= x >> 15
    x = (x * 0x2C1B3C6D) & 0xFFFFFFFF
    x ^= x >> 12
    x = (x * 0x297A2D39) & 0xFFFFFFFF
    x ^= x >> 15
    return x


def fault(message: str, code: int = 400) -> tuple[int, dict[str, object]]:
    """The market-data error envelope, with ``code`` as the HTTP status too."""
    return code, {"status": "ERROR", "fault": {"code": code, "message": message}}


def _session_minutes(seg: str) -> tuple[int, int]:
    return (540, 1410) if seg == "mcx_fo" else (555, 930)


def _session_time(now: float, seg: str) -> float:
    """``now`` clamped into the last trading session that has started (prices freeze)."""
    open_m, close_m = _session_minutes(seg)
    local = now + IST_OFFSET
    day = int(local // DAY)
    minute_of_day = (local - day * DAY) / 60.0
    if weekday(day) >= 5:
        while weekday(day) >= 5:
            day -= 1
        return _utc(day, close_m)
    if minute_of_day < open_m:
        return _utc(_prev_weekday(day), close_m)
    if minute_of_day > close_m:
        return _utc(day, close_m)
    return now


def _session_day(t: float) -> int:
    return int((t + IST_OFFSET) // DAY)


# --- expiry calendars -------------------------------------------------------------------


def _last_weekday_of_month(year: int, month: int, wd: int) -> date:
    nxt = date(year + (month == 12), month % 12 + 1, 1)
    d = nxt - timedelta(days=1)
    while d.weekday() != wd:
        d -= timedelta(days=1)
    return d


def _monthly_expiry(year: int, month: int, rule: str) -> date:
    if rule == "tue":
        return _last_weekday_of_month(year, month, 1)
    if rule == "thu":
        return _last_weekday_of_month(year, month, 3)
    d = date(year, month, 19)
    while d.weekday() >= 5:
        d -= timedelta(days=1)
    return d


def _monthly_expiries(first_day: int, rule: str, count: int) -> list[int]:
    d = day_date(first_day)
    year, month = d.year, d.month
    out: list[int] = []
    while len(out) < count:
        exp = date_day(_monthly_expiry(year, month, rule))
        if exp >= first_day:
            out.append(exp)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def _weekly_expiries(first_day: int, wd: int, count: int) -> list[int]:
    day = first_day
    while weekday(day) != wd:
        day += 1
    return [day + 7 * i for i in range(count)]


def _first_live_day(now: float, close_minute: int) -> int:
    """Contracts expiring before this IST day are dead at ``now``."""
    local = now + IST_OFFSET
    day = int(local // DAY)
    return day + 1 if (local - day * DAY) / 60.0 > close_minute else day


# --- the market ---------------------------------------------------------------------------


@dataclass(slots=True)
class _Chain:
    """Derivatives of one underlying that are live on one IST day."""

    underlying: _Underlying
    option_expiries: list[int]
    future_expiries: list[int]
    monthly: set[int]
    options: dict[tuple[int, int, str], Instrument]  # (expiry, strike, CE/PE)
    futures: dict[int, Instrument]
    by_token: dict[str, Instrument]
    by_symbol: dict[str, Instrument]


class Market:
    """Instruments and deterministic prices for one seed (see the module docstring).

    It also holds the tapes of the moving market: :meth:`retain` / :meth:`release` make an
    instrument live or not (the book decides why), :meth:`due_tapes` lists the live tapes
    with a step due, and every price view (:meth:`ltp`, :meth:`snapshot`, quotes, option
    chain) reads a tape where there is one. Walking the tapes and filling orders is the
    book's job.
    """

    def __init__(self, *, seed: int, tick_rate: float = 2.0) -> None:
        self._seed = seed
        self._tick_rate = tick_rate
        self._tapes: dict[tuple[str, str], Tape] = {}
        self._tape_inst: dict[tuple[str, str], Instrument] = {}
        self._model_cache: dict[
            tuple[str, str], tuple[float, tuple[int, int, int, int, int, int]]
        ] = {}
        self._live: dict[tuple[str, str], Tape] = {}
        self._refs: dict[str, Counter[tuple[str, str]]] = {r: Counter() for r in live_reasons}
        # when each live tape takes its next step: (time, entry id, key); only the latest
        # entry of a key counts, so a rescheduled tape leaves no live duplicate behind
        self._due: list[tuple[float, int, tuple[str, str]]] = []
        self._due_id: dict[tuple[str, str], int] = {}
        self._due_seq = 0
        self._processes: dict[str, _Process] = {}
        self._by_token: dict[tuple[str, str], Instrument] = {}
        self._by_symbol: dict[tuple[str, str], Instrument] = {}
        for seg, token, ts, sym, base, tick in EQUITIES:
            inst = Instrument(seg, token, ts, sym, "EQ", 1, tick, f"EQ:{sym}")
            self._add_static(inst, base)
        for seg, name, sym, base in INDICES:
            inst = Instrument(seg, name, name, sym, "INDEX", 1, 5, f"IX:{sym}")
            self._add_static(inst, base)
        self._process("CM:CRUDEOIL", 6000.0)
        self._chains: dict[tuple[int, str], _Chain] = {}
        self._ohlc: dict[str, tuple[int, int, int, int, int]] = {}

    # -- registry --

    def _add_static(self, inst: Instrument, base: float) -> None:
        self._by_token[(inst.seg, inst.token)] = inst
        if inst.tradable:
            self._by_symbol[(inst.seg, inst.trd_sym)] = inst
        self._process(inst.process, base)

    def _process(self, key: str, base: float) -> _Process:
        proc = self._processes.get(key)
        if proc is None:
            rng = random.Random(f"aioneo-market|{self._seed}|{key}")
            amps = (
                rng.uniform(0.02, 0.04),
                rng.uniform(0.004, 0.009),
                rng.uniform(0.001, 0.003),
                rng.uniform(0.0002, 0.0006),
            )
            periods = (
                rng.uniform(20, 40) * DAY,
                rng.uniform(0.6, 1.6) * DAY,
                rng.uniform(600, 3000),
                rng.uniform(40, 150),
            )
            omegas = tuple(2 * math.pi / p for p in periods)
            phases = tuple(rng.uniform(0, 2 * math.pi) for _ in range(4))
            vol = 0.0 if key.startswith("IX:") else rng.uniform(50, 400) * 1000 / base
            proc = _Process(
                base,
                amps,
                (omegas[0], omegas[1], omegas[2], omegas[3]),
                (phases[0], phases[1], phases[2], phases[3]),
                max(vol, 0.0),
                zlib.crc32(f"{self._seed}|{key}".encode()),
            )
            self._processes[key] = proc
        return proc

    def _chain(self, und: _Underlying, now: float) -> _Chain:
        first = _first_live_day(now, und.close_minute)
        cached = self._chains.get((first, und.name))
        if cached is not None:
            return cached
        monthly_opt = _monthly_expiries(first, und.monthly, _N_MONTHLY_OPT)
        futures = _monthly_expiries(first, und.monthly, _N_MONTHLY_FUT)
        weekly = (
            _weekly_expiries(first, und.weekly_weekday, _N_WEEKLY)
            if und.weekly_weekday is not None
            else []
        )
        opt_exp = sorted(set(weekly) | set(monthly_opt))
        monthly = set(_monthly_expiries(first, und.monthly, _N_MONTHLY_FUT + 1))
        center = round(und.base / und.step) * und.step
        options: dict[tuple[int, int, str], Instrument] = {}
        for exp in opt_exp:
            for s in range(2 * _STRIKES_EACH_SIDE + 1):
                strike = center + (s - _STRIKES_EACH_SIDE) * und.step
                for t, opt in enumerate(("CE", "PE")):
                    token = _OPT_TOKEN_BASE + ((und.code * 64 + exp % 64) * 101 + s) * 2 + t
                    ts = _option_symbol(und.name, exp, strike, opt, exp in monthly)
                    options[(exp, strike, opt)] = Instrument(
                        und.seg,
                        str(token),
                        ts,
                        und.name,
                        und.opt_kind,
                        und.lot,
                        5,
                        und.process,
                        opt,
                        strike,
                        exp,
                        und.close_minute,
                    )
        futs: dict[int, Instrument] = {}
        for exp in futures:
            d = day_date(exp)
            token = _FUT_TOKEN_BASE + und.code * 400 + exp % 400
            ts = f"{und.name}{d.year % 100:02d}{_MONTHS[d.month - 1]}FUT"
            tick = 10 if und.seg != "mcx_fo" else 100
            futs[exp] = Instrument(
                und.seg,
                str(token),
                ts,
                und.name,
                und.fut_kind,
                und.lot,
                tick,
                und.process,
                "XX",
                0,
                exp,
                und.close_minute,
            )
        every = (*futs.values(), *options.values())
        chain = _Chain(
            und,
            opt_exp,
            futures,
            monthly,
            options,
            futs,
            {i.token: i for i in every},
            {i.trd_sym: i for i in every},
        )
        if len(self._chains) > 4 * len(UNDERLYINGS):  # keep only the last few days
            self._chains.clear()
        self._chains[(first, und.name)] = chain
        return chain

    def _chains_for(self, seg: str, now: float) -> list[_Chain]:
        return [self._chain(u, now) for u in UNDERLYINGS if u.seg == seg]

    def by_token(self, seg: str, token: str, now: float) -> Instrument | None:
        """The instrument with this ``seg|token`` that is live at ``now``, or ``None``."""
        if seg in _DERIV:
            for chain in self._chains_for(seg, now):
                inst = chain.by_token.get(token)
                if inst is not None:
                    return inst
            return _scrip_files.filler_by_token(self, seg, token, now)
        found = self._by_token.get((seg, token))
        return found or _scrip_files.filler_by_token(self, seg, token, now)

    def by_symbol(self, seg: str, trd_sym: str, now: float) -> Instrument | None:
        """The tradable instrument whose pTrdSymbol is ``trd_sym`` in ``seg``, or ``None``."""
        if seg in _DERIV:
            for chain in self._chains_for(seg, now):
                inst = chain.by_symbol.get(trd_sym)
                if inst is not None:
                    return inst
            return _scrip_files.filler_by_symbol(self, seg, trd_sym, now)
        found = self._by_symbol.get((seg, trd_sym))
        return found or _scrip_files.filler_by_symbol(self, seg, trd_sym, now)

    def tradable_instruments(self, seg: str, now: float) -> list[Instrument]:
        """Every tradable instrument of ``seg`` live at ``now`` (scrip-master order)."""
        if seg in _DERIV:
            out: list[Instrument] = []
            for chain in self._chains_for(seg, now):
                out.extend(chain.futures.values())
                out.extend(chain.options.values())
            return out
        return [i for i in self._by_token.values() if i.seg == seg and i.kind == "EQ"]

    # -- prices --

    def _spot(self, key: str, t: float) -> float:
        p = self._processes[key]
        a, w, ph = p.amps, p.omegas, p.phases
        return p.base * (
            1.0
            + a[0] * math.sin(w[0] * t + ph[0])
            + a[1] * math.sin(w[1] * t + ph[1])
            + a[2] * math.sin(w[2] * t + ph[2])
            + a[3] * math.sin(w[3] * t + ph[3])
        )

    def _raw(self, inst: Instrument, t: float) -> float:
        spot = self._spot(inst.process, t)
        if inst.expiry == 0:
            return spot
        years = max(_utc(inst.expiry, inst.close_minute) - t, 0.0) / _YEAR
        if inst.is_future:
            return spot * (1.0 + 0.065 * years)
        intrinsic = (
            max(spot - inst.strike, 0.0) if inst.opt_tp == "CE" else max(inst.strike - spot, 0.0)
        )
        if years <= 0.0:
            return intrinsic
        sigma = 0.14 * math.sqrt(years)
        z = math.log(spot / inst.strike) / sigma
        return intrinsic + 0.4 * spot * sigma * math.exp(-0.5 * z * z)

    def price_at(self, inst: Instrument, t: float) -> int:
        """Price in paise at session time ``t``, rounded to the tick (options: >= 1 tick)."""
        raw = self._raw(inst, t) * 100.0
        ticks = round(raw / inst.tick)
        if inst.is_option:
            ticks = max(ticks, 1)
        return ticks * inst.tick

    def ltp(self, inst: Instrument, now: float) -> int:
        """Last traded price in paise at ``now``: the tape's if it has one, else the model's.

        The model price (sum of sines) is frozen outside the session; a tape's price is
        wherever its walk stands (the owning book walks it up to ``now`` first).
        """
        tape = self._tapes.get((inst.seg, inst.token))
        if tape is not None:
            return tape.price_paise
        return self.price_at(inst, _session_time(now, inst.seg))

    # -- the moving market (tapes) --

    @property
    def tick_rate(self) -> float:
        return self._tick_rate

    def set_tick_rate(self, rate: float, at: float) -> None:
        """Walk every live tape at ``rate`` steps per second from ``at`` (new segments)."""
        self._tick_rate = rate
        for key, tape in self._live.items():
            tape.start(at, rate)
            self.schedule(key, tape)

    def schedule(self, key: tuple[str, str], tape: Tape) -> None:
        """Note when ``tape`` takes its next step (after any change to its segment or steps).

        The time is taken a microsecond early, so float error can only make a tape come up
        for a look too soon (it then walks no step), never too late.
        """
        if not tape.live or tape.rate <= 0.0:
            self._due_id.pop(key, None)
            return
        self._due_seq += 1
        self._due_id[key] = self._due_seq
        due = tape.t0 + (tape.n + 1) / tape.rate - 1e-6
        heapq.heappush(self._due, (due, self._due_seq, key))
        if len(self._due) > 4 * len(self._due_id) + 64:  # drop superseded entries in bulk
            self._due = [e for e in self._due if self._due_id.get(e[2]) == e[1]]
            heapq.heapify(self._due)

    def due_tapes(self, now: float) -> list[tuple[tuple[str, str], Tape]]:
        """The live tapes with a step due by ``now``, earliest first; each must be
        :meth:`schedule`-d again once walked (until then it is not listed again)."""
        out: list[tuple[tuple[str, str], Tape]] = []
        heap = self._due
        while heap and heap[0][0] <= now:
            _, entry, key = heapq.heappop(heap)
            if self._due_id.get(key) != entry:
                continue  # superseded by a later schedule()
            del self._due_id[key]
            tape = self._live.get(key)
            if tape is not None:
                out.append((key, tape))
        return out

    def tape(self, inst: Instrument) -> Tape | None:
        return self._tapes.get((inst.seg, inst.token))

    def known(self, seg: str, token: str, now: float) -> Instrument | None:
        """:meth:`by_token`, or the instrument of a tape (a contract that has expired since)."""
        return self.by_token(seg, token, now) or self._tape_inst.get((seg, token))

    def live_tapes(self) -> list[tuple[tuple[str, str], Tape]]:
        """The live tapes, in the order they went live."""
        return list(self._live.items())

    def is_live(self, inst: Instrument) -> bool:
        return (inst.seg, inst.token) in self._live

    def is_live_key(self, key: tuple[str, str]) -> bool:
        return key in self._live

    def refs(self, inst: Instrument, reason: str) -> int:
        return self._refs[reason][(inst.seg, inst.token)]

    def band(self, inst: Instrument, at: float) -> tuple[int, int]:
        """Circuit limits in paise: the live tape's, else from the previous close at ``at``.

        Cash: previous close +-10 %; derivatives +-40 %; indices (which have none on the
        wire, 0/0 in quotes) walk inside +-10 %. The lower limit is at least one tick. When
        the model's price at ``at`` is outside that band (an option's premium can move
        further in a day than its band allows), the band is centred on the price instead,
        as an exchange that relaxes a band would.
        """
        tape = self._live.get((inst.seg, inst.token))
        if tape is not None:
            return tape.lo * tape.tick, tape.hi * tape.tick
        t = _session_time(at, inst.seg)
        pc = self.prev_close(inst, t)
        price = self.price_at(inst, t)
        width = pc * 4 // 10 if inst.expiry else pc // 10
        if not pc - width <= price <= pc + width:
            pc, width = price, price * 4 // 10 if inst.expiry else price // 10
        lower = max(pc - width, inst.tick)
        upper = max(pc + width, lower)
        lo = -(-lower // inst.tick)
        return lo * inst.tick, max(upper // inst.tick, lo) * inst.tick

    def retain(self, inst: Instrument, reason: str, now: float, at: float) -> Tape:
        """One more reason for ``inst`` to be live (``reason`` in :data:`live_reasons`).

        ``pin`` is not counted: once pinned (given a price), an instrument stays live. The
        first reason starts a walk segment at ``at`` (the book's walk clock); a new tape
        starts from the model price at ``now``.
        """
        key = (inst.seg, inst.token)
        refs = self._refs[reason]
        refs[key] = 1 if reason == "pin" else refs[key] + 1
        tape = self._tapes.get(key)
        if tape is None:
            t = _session_time(now, inst.seg)
            tape = self._tapes[key] = Tape(
                key=f"aioneo-walk|{self._seed}|{inst.seg}|{inst.token}",
                tick=inst.tick,
                lot=inst.lot,
                lo=0,
                hi=0,
                price=self.price_at(inst, t) // inst.tick,
                ltt=float(int(t)),
                ltq=inst.lot * (1 + _mix(self._processes[inst.process].mix, int(t)) % 10),
            )
            self._tape_inst[key] = inst
        if key not in self._live:
            lower, upper = self.band(inst, at)
            lo = min(lower // inst.tick, tape.price)  # a stopped tape may stand outside it
            hi = max(upper // inst.tick, tape.price)
            tape.new_day(ist_day(at))
            tape.start(at, self._tick_rate, lo=lo, hi=hi)
            self._live[key] = tape
            self.schedule(key, tape)
        return tape

    def release(self, inst: Instrument, reason: str) -> bool:
        """One reason fewer; the tape stands still once none is left. False: none was held."""
        key = (inst.seg, inst.token)
        refs = self._refs[reason]
        if refs[key] <= 0:
            return False
        refs[key] -= 1
        if refs[key] == 0:
            del refs[key]
        if not any(key in r for r in self._refs.values()):
            tape = self._live.pop(key, None)
            if tape is not None:
                tape.stop()
        return True

    def _volume(self, inst: Instrument, t: float) -> int:
        """Cumulative traded quantity of the session day of ``t`` (non-decreasing in ``t``)."""
        p = self._processes[inst.process]
        if inst.expiry:
            rate = inst.lot * (2 + _mix(p.mix, int(inst.token)) % 30) / 60.0
        else:
            rate = p.volume_rate
        if rate == 0.0:
            return 0
        open_m, _ = _session_minutes(inst.seg)
        elapsed = max(t - _utc(_session_day(t), open_m), 0.0)
        w, phase = p.omegas[2], p.phases[2]
        # slope 1 + 0.6 cos(...) > 0: busier and quieter stretches, never decreasing
        shaped = elapsed + 0.6 / w * (math.sin(w * elapsed + phase) - math.sin(phase))
        units = int(rate * shaped)
        return units - units % inst.lot if inst.lot > 1 else units

    def _open_interest(self, inst: Instrument, t: float) -> int:
        if not inst.expiry:
            return 0
        p = self._processes[inst.process]
        lots = 2000 + _mix(p.mix, int(inst.token)) % 40_000
        if inst.is_option:
            spot = self._spot(inst.process, t)
            lots = int(lots * math.exp(-abs(spot - inst.strike) / (0.02 * spot)) + 50)
        wave = 1.0 + 0.1 * math.sin(t / 5000.0 + (int(inst.token) % 97))
        return int(lots * wave) * inst.lot

    def prev_close(self, inst: Instrument, t: float) -> int:
        _, close_m = _session_minutes(inst.seg)
        return self.price_at(inst, _utc(_prev_weekday(_session_day(t)), close_m))

    def day_ohlc(self, inst: Instrument, t: float) -> tuple[int, int, int]:
        """(open, high, low) of the session day of ``t``, sampled every 5 minutes, incl. ``t``."""
        open_m, _ = _session_minutes(inst.seg)
        day = _session_day(t)
        start = _utc(day, open_m)
        bucket = int(max(t - start, 0.0) // 300)
        key = inst.neo_symbol
        cached = self._ohlc.get(key)
        if cached is not None and cached[0] == day and cached[1] == bucket:
            o, h, lo = cached[2], cached[3], cached[4]
        else:
            o = self.price_at(inst, start)
            h = lo = o
            for i in range(1, bucket + 1):
                p = self.price_at(inst, start + 300 * i)
                h = max(h, p)
                lo = min(lo, p)
            if len(self._ohlc) > 20_000:
                self._ohlc.clear()
            self._ohlc[key] = (day, bucket, o, h, lo)
        last = self.price_at(inst, t)
        return o, max(h, last), min(lo, last)

    # -- quotes --

    def _model(self, inst: Instrument, t: float) -> tuple[int, int, int, int, int, int]:
        """(open, high, low, previous close, volume, open interest) of the model at ``t``.

        For an instrument with a tape: the model part of its values, evaluated at whole
        seconds of session time and cached, since the feed asks for it at every print (at
        night ``t`` is the frozen close, so the cache always hits). Snapshots, quotes and
        option-chain rows of a walked instrument all read this, so they agree.
        """
        key = (inst.seg, inst.token)
        t = float(int(t))
        cached = self._model_cache.get(key)
        if cached is not None and cached[0] == t:
            return cached[1]
        o, h, lo = self.day_ohlc(inst, t)
        values = (
            o,
            h,
            lo,
            self.prev_close(inst, t),
            self._volume(inst, t),
            self._open_interest(inst, t),
        )
        self._model_cache[key] = (t, values)
        return values

    def snapshot(self, inst: Instrument, now: float) -> FeedSnapshot:
        """Every market-data value of ``inst`` at ``now`` (see :class:`FeedSnapshot`)."""
        t = _session_time(now, inst.seg)
        p = self._processes[inst.process]
        index = inst.kind == "INDEX"
        tape = self._tapes.get((inst.seg, inst.token))
        if tape is None:
            o, h, lo = self.day_ohlc(inst, t)
            pc = self.prev_close(inst, t)
            volume = self._volume(inst, t)
            oi = self._open_interest(inst, t)
            ltp = self.price_at(inst, t)
            salt = _mix(p.mix, int(t))
            ltt = int(t)
            ltq = inst.lot * (1 + salt % 10)
            lower, upper = self.band(inst, now)
        else:
            o, h, lo, pc, volume, oi = self._model(inst, t)
            ltp = tape.price_paise
            h = max(h, tape.day_high * tape.tick)
            lo = min(lo, tape.day_low * tape.tick)
            salt = _mix(p.mix, 0x5EED0000 + tape.version)
            ltt = int(tape.ltt)
            ltq = tape.ltq
            volume += tape.volume
            lower, upper = tape.lo * tape.tick, tape.hi * tape.tick
        if index:
            ltq = volume = lower = upper = 0
        year_hi = max(to_paise(p.base * 1.18), h)
        year_lo = min(to_paise(p.base * 0.82), lo)
        if inst.expiry:
            year_hi, year_lo = max(h, pc * 3 // 2), min(lo, pc // 2)
        total_buy = total_sell = 0
        if not index:
            draw = _depth_draw(salt, 5)
            total_buy = sum(1 + b % 50 for b in draw[0::4]) * inst.lot * 10
            total_sell = sum(1 + b % 50 for b in draw[1::4]) * inst.lot * 10
        return FeedSnapshot(
            seg=inst.seg,
            token=inst.token,
            trading_symbol=inst.trd_sym,
            kind=inst.kind,
            ltp=ltp,
            ltq=ltq,
            ltt=ltt,
            open=o,
            high=h,
            low=lo,
            close=pc,
            volume=volume,
            avg_price=(o + h + lo + ltp) // 4 // inst.tick * inst.tick,
            total_buy_qty=total_buy * 7,
            total_sell_qty=total_sell * 7,
            open_interest=oi,
            upper_circuit=upper,
            lower_circuit=lower,
            year_high=year_hi,
            year_low=year_lo,
            lot_size=inst.lot,
            tick=inst.tick,
            depth_seed=salt,
        )

    def quote(self, inst: Instrument, now: float) -> dict[str, object]:
        """The full ``all`` quote object (every number a string), from :meth:`snapshot`."""
        s = self.snapshot(inst, now)
        buy, sell = s.depth(5)
        return {
            "exchange_token": inst.token,
            "display_symbol": inst.trd_sym,
            "exchange": inst.seg,
            "lstup_time": str(s.ltt),
            "ltp": fmt_paise(s.ltp),
            "last_traded_quantity": str(s.ltq),
            "total_buy": str(s.total_buy_qty),
            "total_sell": str(s.total_sell_qty),
            "last_volume": str(s.volume),
            "avg_cost": fmt_paise(s.avg_price),
            "open_int": str(s.open_interest),
            "change": fmt_paise(s.change),
            "per_change": f"{s.change_pct:.2f}",
            "low_price_range": fmt_paise(s.lower_circuit),
            "high_price_range": fmt_paise(s.upper_circuit),
            "year_high": fmt_paise(s.year_high),
            "year_low": fmt_paise(s.year_low),
            "ohlc": {
                "open": fmt_paise(s.open),
                "high": fmt_paise(s.high),
                "low": fmt_paise(s.low),
                "close": fmt_paise(s.close),
            },
            "depth": {
                "buy": [
                    {"price": fmt_paise(p), "quantity": str(q), "orders": str(n)} for q, p, n in buy
                ],
                "sell": [
                    {"price": fmt_paise(p), "quantity": str(q), "orders": str(n)}
                    for q, p, n in sell
                ],
            },
        }

    def quotes(self, path: Mapping[str, str], *, now: float, max_quotes: int) -> tuple[int, object]:
        symbols = path.get("symbols")
        quote_type = path.get("quote_type") or "all"
        if not isinstance(symbols, str) or not symbols.strip():
            return fault("Missing neosymbol: expected 'seg|token[,seg|token...]'")
        if not isinstance(quote_type, str) or quote_type not in _QUOTE_FIELDS:
            allowed = ", ".join(sorted(_QUOTE_FIELDS))
            return fault(f"Invalid quote type {quote_type!r}: expected one of {allowed}")
        items = [item for item in symbols.split(",") if item.strip()]
        if len(items) > max_quotes:
            return fault(
                f"Too many instruments: {len(items)} requested, at most {max_quotes} per call"
            )
        fields = _QUOTE_FIELDS[quote_type]
        out: list[dict[str, object]] = []
        for item in items:
            seg, sep, token = item.strip().partition("|")
            if not sep or not seg or not token:
                return fault(f"Invalid neosymbol {item!r}: expected 'seg|token'")
            inst = self.by_token(seg.strip(), token.strip(), now)
            if inst is None:
                continue  # unknown instruments are left out of the array
            full = self.quote(inst, now)
            out.append(full if fields is None else {k: full[k] for k in fields})
        return 200, out

    # -- expiries and option chain --

    def _underlying(self, exchange: str, name: str) -> _Underlying | None:
        for und in UNDERLYINGS:
            if und.seg == exchange and und.name == name.upper():
                return und
        return None

    def expiries(self, query: Mapping[str, str], *, now: float) -> tuple[int, object]:
        exchange = query.get("exchange")
        underlying = query.get("underlying")
        itype = query.get("instrument_type") or "option"
        if exchange not in _DERIV:
            return fault(f"Invalid exchange {exchange!r}: expected one of nse_fo, bse_fo, mcx_fo")
        if not isinstance(underlying, str) or not underlying:
            return fault("Missing required parameter 'underlying'")
        if itype not in ("option", "fut"):
            return fault(f"Invalid instrument_type {itype!r}: expected 'option' or 'fut'")
        und = self._underlying(exchange, underlying)
        if und is None:
            return fault(f"Invalid underlying {underlying!r} for exchange {exchange}")
        chain = self._chain(und, now)
        days = chain.option_expiries if itype == "option" else chain.future_expiries
        return 200, {
            "exchange": exchange,
            "underlying": und.name,
            "expiries": [day_date(d).isoformat() for d in days],
        }

    def option_chain(self, query: Mapping[str, str], *, now: float) -> tuple[int, object]:
        exchange = query.get("exchange")
        underlying = query.get("underlying")
        itype = query.get("instrument_type") or "option"
        raw_count = query.get("count")
        if exchange not in _DERIV:
            return fault(f"Invalid exchange {exchange!r}: expected one of nse_fo, bse_fo, mcx_fo")
        if not isinstance(underlying, str) or not underlying:
            return fault("Missing required parameter 'underlying'")
        if itype not in ("option", "fut"):
            return fault(f"Invalid instrument_type {itype!r}: expected 'option' or 'fut'")
        count = 40
        if raw_count not in (None, ""):
            if not isinstance(raw_count, str) or not raw_count.strip().isdigit():
                return fault(f"Invalid count {raw_count!r}: expected a positive multiple of 10")
            count = int(raw_count)
            if count <= 0 or count % 10:
                return fault(f"Invalid count {count}: count must be a positive multiple of 10")
        und = self._underlying(exchange, underlying)
        if und is None:
            return fault(f"Invalid underlying {underlying!r} for exchange {exchange}")
        chain = self._chain(und, now)
        raw_expiry = query.get("expiry")
        expiry: int | None = None
        if raw_expiry not in (None, ""):
            try:
                expiry = date_day(date.fromisoformat(str(raw_expiry)))
            except ValueError:
                return fault(f"Invalid expiry {raw_expiry!r}: expected YYYY-MM-DD")
            listed = chain.option_expiries if itype == "option" else chain.future_expiries
            if expiry not in listed:
                return fault(f"No {itype} contracts of {und.name} expire on {raw_expiry}")
        t = _session_time(now, und.seg)
        spot = self._spot(und.process, t)
        calls: list[dict[str, object]] = []
        puts: list[dict[str, object]] = []
        if itype == "option":
            exp = expiry if expiry is not None else chain.option_expiries[0]
            strikes = sorted({k[1] for k in chain.options if k[0] == exp})
            nearest = sorted(strikes, key=lambda k: (abs(k - spot), k))[:count]
            for strike in sorted(nearest):
                for opt, bucket in (("CE", calls), ("PE", puts)):
                    inst = chain.options[(exp, strike, opt)]
                    bucket.append(self._chain_row(inst, t, spot))
            futs = [chain.futures[e] for e in chain.future_expiries if e >= exp][:1]
        else:
            exp = expiry if expiry is not None else chain.future_expiries[0]
            wanted = [expiry] if expiry is not None else chain.future_expiries
            futs = [chain.futures[e] for e in wanted]
        fut_rows = [self._fut_row(inst, t) for inst in futs]
        return 200, {
            "data": {
                "common_data": {
                    "mktLot": str(und.lot),
                    "multiplier": "1",
                    "unlSymbol": und.name,
                    "exSeg": und.seg,
                    "expiryDt": day_date(exp).isoformat(),
                },
                "call": calls,
                "put": puts,
                "fut": fut_rows,
            }
        }

    def _walked(self, inst: Instrument, t: float) -> tuple[int, int, int, int, int]:
        """(ltp, open, high, low, volume) at session time ``t``, the tape's where it has one."""
        tape = self._tapes.get((inst.seg, inst.token))
        if tape is None:
            o, h, lo = self.day_ohlc(inst, t)
            return self.price_at(inst, t), o, h, lo, self._volume(inst, t)
        o, h, lo, _, volume, _ = self._model(inst, t)
        return (
            tape.price_paise,
            o,
            max(h, tape.day_high * tape.tick),
            min(lo, tape.day_low * tape.tick),
            volume + tape.volume,
        )

    def _chain_row(self, inst: Instrument, t: float, spot: float) -> dict[str, object]:
        ltp, o, h, lo, volume = self._walked(inst, t)
        pc = self.prev_close(inst, t)
        oi = self._open_interest(inst, t)
        prev_t = _utc(_prev_weekday(_session_day(t)), inst.close_minute)
        oi_prev = self._open_interest(inst, prev_t)
        step = next(u.step for u in UNDERLYINGS if u.name == inst.sym)
        if abs(inst.strike - spot) < step / 2:
            money = "ATM"
        elif (inst.strike < spot) == (inst.opt_tp == "CE"):
            money = "ITM"
        else:
            money = "OTM"
        return {
            "instrument": {
                "neoSymbol": inst.neo_symbol,
                "symbol": inst.trd_sym,
                "optionType": inst.opt_tp,
                "strikePrice": f"{inst.strike}.00",
                "moneyness": money,
            },
            "quote": {
                "ltp": fmt_paise(ltp),
                "open": fmt_paise(o),
                "high": fmt_paise(h),
                "low": fmt_paise(lo),
                "prevClose": fmt_paise(pc),
                "close": fmt_paise(ltp),
                "volume": str(volume),
            },
            "openInterest": _oi_block(oi, oi_prev, ("current", "previous", "change", "changePct")),
        }

    def _fut_row(self, inst: Instrument, t: float) -> dict[str, object]:
        ltp, o, h, lo, volume = self._walked(inst, t)
        pc = self.prev_close(inst, t)
        oi = self._open_interest(inst, t)
        prev_t = _utc(_prev_weekday(_session_day(t)), inst.close_minute)
        oi_prev = self._open_interest(inst, prev_t)
        return {
            "inst": {
                "neoSymbol": inst.neo_symbol,
                "symbol": inst.trd_sym,
                "expiryDt": day_date(inst.expiry).isoformat(),
            },
            "quote": {
                "ltp": fmt_paise(ltp),
                "o": fmt_paise(o),
                "h": fmt_paise(h),
                "l": fmt_paise(lo),
                "c": fmt_paise(ltp),
                "pc": fmt_paise(pc),
                "vol": str(volume),
            },
            "oi": _oi_block(oi, oi_prev, ("cur", "prev", "chg", "chgPct")),
        }

    # -- historical --

    def historical(self, query: Mapping[str, str], *, now: float) -> tuple[int, object]:
        neosymbol = query.get("neosymbol")
        interval = query.get("interval")
        if not isinstance(neosymbol, str) or "|" not in neosymbol:
            return fault(f"Invalid neosymbol {neosymbol!r}: expected 'seg|token'")
        seg, _, token = neosymbol.partition("|")
        if seg in ("mcx_fo", "nse_com"):
            return fault(f"Historical data is not available for segment {seg}")
        if interval not in _INTERVALS:
            return fault("Invalid interval value")
        max_days, minutes = _INTERVALS[interval]
        dates: list[date] = []
        for name in ("fromdate", "todate"):
            raw = query.get(name)
            if not raw:
                return fault(f"Missing required parameter '{name}'")
            try:
                dates.append(date.fromisoformat(str(raw)))
            except ValueError:
                return fault(f"Invalid {name} {raw!r}: expected YYYY-MM-DD")
        start, end = dates
        if start > end:
            return fault(f"fromdate {start} is after todate {end}")
        if (end - start).days > max_days:
            return fault(
                f"Date range of {(end - start).days} days exceeds the maximum of {max_days} "
                f"days for interval {interval}"
            )
        inst = self.by_token(seg, token, now)
        if inst is None:
            return fault(f"Invalid neosymbol {neosymbol!r}: unknown instrument")
        candles = self._candles(inst, date_day(start), date_day(end), interval, minutes, now)
        return 200, {"status": "success", "interval": interval, "data": {"candles": candles}}

    def _candles(
        self, inst: Instrument, first: int, last: int, interval: str, minutes: int, now: float
    ) -> list[list[object]]:
        t_now = _session_time(now, inst.seg)
        open_m, close_m = _session_minutes(inst.seg)
        out: list[list[object]] = []
        if interval in ("D", "W"):
            day = first
            while day <= last:
                span = 1 if interval == "D" else 7 - weekday(day)
                days = [d for d in range(day, min(day + span, last + 1)) if weekday(d) < 5]
                if days and _utc(days[0], open_m) <= t_now:
                    b_end = min(_utc(days[-1], close_m), t_now)
                    o, h, lo, c, _ = self._bar(inst, _utc(days[0], open_m), b_end, 900.0)
                    vol = sum(
                        self._volume(inst, min(_utc(d, close_m), t_now))
                        for d in days
                        if _utc(d, open_m) <= t_now
                    )
                    stamp = day_date(day).isoformat() + "T00:00:00+0530"
                    out.append([stamp, o, h, lo, c, vol, 0])
                day += span
            return out
        length = minutes * 60.0
        for day in range(first, last + 1):
            if weekday(day) >= 5:
                continue
            b_start = _utc(day, open_m)
            close = _utc(day, close_m)
            while b_start < close and b_start <= t_now:
                b_end = min(b_start + length, close, t_now)
                ohlcv = self._bar(inst, b_start, b_end, max(length / 4.0, 60.0))
                local = b_start + IST_OFFSET
                stamp = day_date(day).isoformat() + (
                    f"T{int(local % DAY) // 3600:02d}:{int(local % 3600) // 60:02d}:00+0530"
                )
                out.append([stamp, *ohlcv, 0])
                b_start += length
        return out

    def _bar(self, inst: Instrument, start: float, end: float, step: float) -> list[object]:
        o = self.price_at(inst, start)
        h = lo = o
        t = start + step
        while t < end:
            p = self.price_at(inst, t)
            h, lo = max(h, p), min(lo, p)
            t += step
        c = self.price_at(inst, end)
        h, lo = max(h, c), min(lo, c)
        vol = max(self._volume(inst, end) - self._volume(inst, start), 0)
        return [o / 100, h / 100, lo / 100, c / 100, vol]

    # -- scrip master --

    def scrip_csv(self, segment: str, now: float) -> str | None:
        """The scrip-master CSV of ``segment`` at ``now``: real header, real size (see
        :mod:`aioneo.testing._scrip_files`, which also decodes its filler instruments)."""
        if segment not in SEGMENTS:
            return None
        return _scrip_files.scrip_file(self, segment, now)


def _oi_block(cur: int, prev: int, names: tuple[str, str, str, str]) -> dict[str, str]:
    chg = cur - prev
    pct = chg * 100.0 / prev if prev else 0.0
    return {names[0]: str(cur), names[1]: str(prev), names[2]: str(chg), names[3]: f"{pct:.2f}"}


def _option_symbol(name: str, exp: int, strike: int, opt: str, monthly: bool) -> str:
    d = day_date(exp)
    yy = f"{d.year % 100:02d}"
    if monthly:
        return f"{name}{yy}{_MONTHS[d.month - 1]}{strike}{opt}"
    return f"{name}{yy}{_WEEKLY_MONTH_CODE[d.month - 1]}{d.day:02d}{strike}{opt}"


_BASE_QUOTE = ("exchange_token", "display_symbol", "exchange")
#: quote_type -> the keys kept from the full quote (None: all of them).
_QUOTE_FIELDS: dict[str, tuple[str, ...] | None] = {
    "all": None,
    "ltp": (*_BASE_QUOTE, "ltp"),
    "ohlc": (*_BASE_QUOTE, "ohlc"),
    "oi": (*_BASE_QUOTE, "open_int"),
    "52w": (*_BASE_QUOTE, "year_high", "year_low"),
    "circuit_limits": (*_BASE_QUOTE, "low_price_range", "high_price_range"),
    "scrip_details": (
        *_BASE_QUOTE,
        "lstup_time",
        "ltp",
        "last_traded_quantity",
        "total_buy",
        "total_sell",
        "last_volume",
        "avg_cost",
        "open_int",
        "change",
        "per_change",
    ),
    "market_depth": (*_BASE_QUOTE, "total_buy", "total_sell", "depth"),
    "depth": (*_BASE_QUOTE, "total_buy", "total_sell", "depth"),
}

#: interval -> (maximum range in days, bar length in minutes; 0 for D/W)
_INTERVALS: dict[str, tuple[int, int]] = {
    "1min": (30, 1),
    "3min": (30, 3),
    "5min": (30, 5),
    "10min": (60, 10),
    "15min": (60, 15),
    "30min": (90, 30),
    "60min": (90, 60),
    "D": (180, 0),
    "W": (180, 0),
}
