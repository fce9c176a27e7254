"""The emulator's simulated market: instruments, deterministic prices, market-data bodies.

Pure: no I/O, no asyncio, no clock reads. Every function takes ``now`` (unix seconds) and
returns values; randomness comes from ``random.Random`` instances seeded with the book's
seed plus a fixed key, so two markets built with the same seed give byte-identical
answers for the same calls, in any process (string seeds are hashed with SHA-512 by
``random.Random``, not with the per-process ``hash``).

Prices are a sum of sines per instrument (periods from about a minute to about a month),
frozen outside the trading session (09:15-15:30 IST on weekdays; MCX 09:00-23:30), and
rounded to the tick. Money is kept in integer paise so sums never drift. Futures follow
their underlying with a small carry; option premiums are intrinsic value plus a smooth
time value that decays to expiry.

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

import math
import random
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from . import _scrip_files

__all__ = [
    "EQUITIES",
    "INDICES",
    "MAX_QUOTES",
    "SEGMENTS",
    "UNDERLYINGS",
    "Instrument",
    "Market",
    "day_date",
    "expiry_epoch",
    "fault",
    "fmt6",
    "fmt_paise",
    "ist_day",
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
    """Instruments and deterministic prices for one seed (see the module docstring)."""

    def __init__(self, *, seed: int) -> None:
        self._seed = seed
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
        """Last traded price in paise at ``now`` (frozen outside the session)."""
        return self.price_at(inst, _session_time(now, inst.seg))

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

    def quote(self, inst: Instrument, now: float) -> dict[str, object]:
        """The full ``all`` quote object (every number a string)."""
        t = _session_time(now, inst.seg)
        ltp = self.price_at(inst, t)
        o, h, lo = self.day_ohlc(inst, t)
        pc = self.prev_close(inst, t)
        change = ltp - pc
        per = (change * 100.0 / pc) if pc else 0.0
        p = self._processes[inst.process]
        salt = _mix(p.mix, int(t))
        volume = self._volume(inst, t)
        index = inst.kind == "INDEX"
        band = 0 if index else (pc // 10 if inst.kind == "EQ" else pc * 4 // 10)
        lower = 0 if index else max(pc - band, inst.tick)
        upper = 0 if index else pc + band
        year_hi = max(to_paise(p.base * 1.18), h)
        year_lo = min(to_paise(p.base * 0.82), lo)
        if inst.expiry:
            year_hi, year_lo = max(h, pc * 3 // 2), min(lo, pc // 2)
        depth_buy: list[dict[str, str]] = []
        depth_sell: list[dict[str, str]] = []
        total_buy = total_sell = 0
        for i in range(5):
            qb = 0 if index else (1 + _mix(salt, 2 * i) % 50) * inst.lot * 10
            qs = 0 if index else (1 + _mix(salt, 2 * i + 1) % 50) * inst.lot * 10
            total_buy += qb
            total_sell += qs
            depth_buy.append(
                {
                    "price": fmt_paise(max(ltp - inst.tick * (i + 1), 0) if not index else 0),
                    "quantity": str(qb),
                    "orders": str(0 if index else 1 + _mix(salt, 10 + i) % 20),
                }
            )
            depth_sell.append(
                {
                    "price": fmt_paise(ltp + inst.tick * (i + 1) if not index else 0),
                    "quantity": str(qs),
                    "orders": str(0 if index else 1 + _mix(salt, 20 + i) % 20),
                }
            )
        return {
            "exchange_token": inst.token,
            "display_symbol": inst.trd_sym,
            "exchange": inst.seg,
            "lstup_time": str(int(t)),
            "ltp": fmt_paise(ltp),
            "last_traded_quantity": "0" if index else str(inst.lot * (1 + salt % 10)),
            "total_buy": str(total_buy * 7),
            "total_sell": str(total_sell * 7),
            "last_volume": str(volume),
            "avg_cost": fmt_paise((o + h + lo + ltp) // 4 // inst.tick * inst.tick),
            "open_int": str(self._open_interest(inst, t)),
            "change": fmt_paise(change),
            "per_change": f"{per:.2f}",
            "low_price_range": fmt_paise(lower),
            "high_price_range": fmt_paise(upper),
            "year_high": fmt_paise(year_hi),
            "year_low": fmt_paise(year_lo),
            "ohlc": {
                "open": fmt_paise(o),
                "high": fmt_paise(h),
                "low": fmt_paise(lo),
                "close": fmt_paise(pc),
            },
            "depth": {"buy": depth_buy, "sell": depth_sell},
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

    def _chain_row(self, inst: Instrument, t: float, spot: float) -> dict[str, object]:
        ltp = self.price_at(inst, t)
        o, h, lo = self.day_ohlc(inst, t)
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
                "volume": str(self._volume(inst, t)),
            },
            "openInterest": _oi_block(oi, oi_prev, ("current", "previous", "change", "changePct")),
        }

    def _fut_row(self, inst: Instrument, t: float) -> dict[str, object]:
        ltp = self.price_at(inst, t)
        o, h, lo = self.day_ohlc(inst, t)
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
                "vol": str(self._volume(inst, t)),
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
