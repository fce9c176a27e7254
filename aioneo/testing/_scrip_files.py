"""The emulator's scrip-master files: real header, real sizes, the market's instruments.

Each segment's file holds the :class:`~aioneo.testing._trading_market.Market`'s own
instruments (the few quoted everywhere in the tests) plus a deterministic filler universe
so the files have the real sizes: ``nse_cm`` about 8,000 rows (one row per equity series:
EQ, BL, BE, plus SG government securities and MF units, the mix of the April 2025 file),
``nse_fo`` over 100,000 rows (futures and options on 200 stocks and 3 more indices, three
monthly expiries each, 81 strikes around the price). Every filler instrument is quotable and
orderable (all but the SG and MF rows): :func:`filler_by_token` / :func:`filler_by_symbol`
decode a token or trading symbol back into a market instrument, so nothing is held per row.

The rows are written with Kotak's 78-column header and its quirks (``dStrikePrice;``,
``dTickSize ``), money in paise (strikes as ``2.1e+06`` the way the real files write big
numbers), NSE expiries as seconds since 1980-01-01 at 14:30, BSE expiries as Unix seconds
of the 15:30 IST close, MCX expiries as Unix seconds of 23:59:59 UTC (its IST date is the
next day: the parser must take the UTC date, as the SDK does).

Pure and cached: a file depends only on the segment and the IST day (not on the market's
seed: instruments are the same for every seed, only prices differ), so it is generated once
per process per day (about 0.5 s for ``nse_fo``) and reused by every emulator. The names of
filler companies are made up; none contains ``TCS`` or another symbol of the market, except
``MITCON``, ``RITCO`` and ``KILITCH``, kept so that a substring search for ``ITC`` shows
the SDK's bug (it finds those first).
"""

from __future__ import annotations

import random
import re
import threading
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import TYPE_CHECKING

from aioneo._core._scrip import SCRIP_HEADER

from . import _trading_market as _tm

if TYPE_CHECKING:
    from ._trading_market import Instrument, Market

__all__ = [
    "SCRIP_MODES",
    "filler_by_symbol",
    "filler_by_token",
    "scrip_file",
    "shape",
]

#: How a scrip-master file is served: whole, header only, or cut in the middle of a row.
SCRIP_MODES = ("full", "header_only", "truncated")

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_EPOCH_1980_DAY = (date(1980, 1, 1) - date(1970, 1, 1)).days
_N_FO_STOCKS = 200
_STRIKES_EACH_SIDE = 40
_N_MONTHLY = 3
_FO_TOKEN_BASE = 3_000_000
_FO_TOKEN_SPAN = 64 * (2 * _STRIKES_EACH_SIDE + 1) * 2
_CLOSE_MINUTE = 930


@dataclass(frozen=True, slots=True)
class _Stock:
    token: str
    symbol: str
    name: str
    isin: str
    base: float  # rupees
    tick: int  # paise


@dataclass(frozen=True, slots=True)
class _FoUnderlying:
    code: int
    symbol: str
    process: str
    base: float
    step: int
    lot: int
    kind: str  # OPTSTK / OPTIDX
    fut_kind: str


def _taken_names() -> set[str]:
    names = {sym for _, _, _, sym, _, _ in _tm.EQUITIES} | {u.name for u in _tm.UNDERLYINGS}
    return names | {"NIFTY", "BANKNIFTY", "NIFTYIT", "SENSEX", "FINNIFTY", "MIDCPNIFTY"}


def _nice_step(price: float) -> int:
    raw = price / 200.0
    for step in (1, 2, 5, 10, 20, 50, 100, 200, 500):
        if step >= raw:
            return step
    return 1000


@lru_cache(maxsize=1)
def _universe() -> tuple[tuple[_Stock, ...], tuple[_FoUnderlying, ...]]:
    """The filler companies (first the F&O ones) and the F&O underlyings; fixed forever."""
    rng = random.Random("aioneo-scrip-universe-v1")
    taken = _taken_names()
    onset = ["B", "D", "G", "H", "J", "K", "L", "M", "N", "P", "R", "S", "V", "Z", "SH", "TR"]
    vowels = ["A", "E", "I", "O", "U", "AA", "EE"]
    coda = ["", "", "N", "R", "L", "M", "X", "NT", "SH"]
    used: set[str] = set()
    stocks: list[_Stock] = []
    specials = ["MITCON", "RITCO", "KILITCH"]
    token = 30_001
    while len(stocks) < 3_000:
        if specials:
            symbol = specials.pop(0)
        else:
            symbol = "".join(
                rng.choice(onset) + rng.choice(vowels) + rng.choice(coda)
                for _ in range(rng.randint(2, 3))
            )[:10]
            if (
                symbol in used
                or any(t in symbol for t in taken)
                or "ITC" in symbol
                or "TCS" in symbol
            ):
                continue
        used.add(symbol)
        base = round(rng.lognormvariate(6.0, 1.1), 1)
        base = min(max(base, 12.0), 25_000.0)
        word = rng.choice(["INDUSTRIES", "LIMITED", "FINANCE", "PHARMA", "STEEL", "POWER"])
        stocks.append(
            _Stock(
                str(token),
                symbol,
                f"{symbol.title()} {word.title()} Ltd",
                f"INE{token:06d}01",
                base,
                1 if base < 100 else 5,
            )
        )
        token += rng.randint(1, 7)
    fo: list[_FoUnderlying] = []
    for code, stock in enumerate(s for s in stocks[3:] if s.base >= 100):
        if code >= _N_FO_STOCKS:
            break
        fo.append(
            _FoUnderlying(
                code,
                stock.symbol,
                f"EQ:{stock.symbol}",
                stock.base,
                _nice_step(stock.base),
                max(1, int(500_000 / stock.base) // 25 * 25) or 25,
                "OPTSTK",
                "FUTSTK",
            )
        )
    for i, (name, base, step, lot) in enumerate(
        (
            ("FINNIFTY", 23_500.0, 50, 65),
            ("MIDCPNIFTY", 12_800.0, 25, 140),
            ("NIFTYNXT50", 66_000.0, 100, 25),
        )
    ):
        fo.append(
            _FoUnderlying(_N_FO_STOCKS + i, name, f"IX:{name}", base, step, lot, "OPTIDX", "FUTIDX")
        )
    return tuple(stocks), tuple(fo)


def _base_price(process: str) -> float:
    stocks, fo = _universe()
    key = process.partition(":")[2]
    for und in fo:
        if und.symbol == key:
            return und.base
    for stock in stocks:
        if stock.symbol == key:
            return stock.base
    raise KeyError(process)


# --- decoding filler tokens and symbols back into market instruments ----------------------


@lru_cache(maxsize=1)
def _cash_index() -> dict[tuple[str, str], tuple[_Stock, str]]:
    """(segment, token) -> (stock, series) for the quotable filler cash rows."""
    stocks, _ = _universe()
    out: dict[tuple[str, str], tuple[_Stock, str]] = {}
    for n, stock in enumerate(stocks):
        out[("nse_cm", stock.token)] = (stock, "EQ")
        if n < 2_000:
            out[("nse_cm", str(int(stock.token) + 500_000))] = (stock, "BL")
        if n < 1_500:
            out[("bse_cm", str(int(stock.token) + 600_000))] = (stock, "A")
    for n in range(300):  # the trade-for-trade series of some companies
        stock = stocks[2_000 + n]
        out[("nse_cm", str(960_001 + n))] = (stock, "BE")
    return out


def _cash_instrument(seg: str, stock: _Stock, series: str, token: str) -> Instrument:
    ts = f"{stock.symbol}-{series}" if seg == "nse_cm" else stock.symbol
    return _tm.Instrument(seg, token, ts, stock.symbol, "EQ", 1, stock.tick, f"EQ:{stock.symbol}")


def _live_expiries(now: float) -> list[int]:
    return _tm._monthly_expiries(_tm._first_live_day(now, _CLOSE_MINUTE), "tue", _N_MONTHLY)


def _center(und: _FoUnderlying) -> int:
    return round(und.base / und.step) * und.step


def _option(und: _FoUnderlying, exp: int, s: int, t: int) -> Instrument:
    strike = _center(und) + (s - _STRIKES_EACH_SIDE) * und.step
    opt = ("CE", "PE")[t]
    token = _FO_TOKEN_BASE + und.code * _FO_TOKEN_SPAN + ((exp % 64) * 81 + s) * 2 + t
    d = _tm.day_date(exp)
    ts = f"{und.symbol}{d.year % 100:02d}{_MONTHS[d.month - 1]}{strike}{opt}"
    return _tm.Instrument(
        "nse_fo", str(token), ts, und.symbol, und.kind, und.lot, 5, und.process, opt, strike, exp
    )


def _future(und: _FoUnderlying, exp: int) -> Instrument:
    d = _tm.day_date(exp)
    token = _FO_TOKEN_BASE - 1_000 - und.code * 64 - exp % 64
    ts = f"{und.symbol}{d.year % 100:02d}{_MONTHS[d.month - 1]}FUT"
    return _tm.Instrument(
        "nse_fo", str(token), ts, und.symbol, und.fut_kind, und.lot, 10, und.process, "XX", 0, exp
    )


def filler_by_token(market: Market, seg: str, token: str, now: float) -> Instrument | None:
    """The filler instrument ``seg|token`` live at ``now`` (its price process registered)."""
    inst: Instrument | None = None
    if seg in ("nse_cm", "bse_cm"):
        hit = _cash_index().get((seg, token))
        if hit is not None:
            inst = _cash_instrument(seg, hit[0], hit[1], token)
    elif seg == "nse_fo" and token.isdigit():
        inst = _decode_fo(int(token), now)
    if inst is not None:
        market._process(inst.process, _base_price(inst.process))
    return inst


def _decode_fo(value: int, now: float) -> Instrument | None:
    _, fo = _universe()
    expiries = _live_expiries(now)
    if value >= _FO_TOKEN_BASE:
        code, rest = divmod(value - _FO_TOKEN_BASE, _FO_TOKEN_SPAN)
        slot, t = divmod(rest, 2)
        exp_mod, s = divmod(slot, 81)
        if code >= len(fo):
            return None
        for exp in expiries:
            if exp % 64 == exp_mod:
                return _option(fo[code], exp, s, t)
        return None
    offset = _FO_TOKEN_BASE - 1_000 - value
    if offset < 0:
        return None
    code, exp_mod = divmod(offset, 64)
    if code >= len(fo):
        return None
    for exp in expiries:
        if exp % 64 == exp_mod:
            return _future(fo[code], exp)
    return None


_FO_SYMBOL = re.compile(
    r"^([A-Z0-9&]+?)(\d{2})(JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC)(\d+(?:CE|PE)|FUT)$"
)


@lru_cache(maxsize=1)
def _symbol_index() -> tuple[dict[str, _FoUnderlying], dict[tuple[str, str], str]]:
    """F&O underlyings by name; (segment, trading symbol) -> token of filler cash rows."""
    _, fo = _universe()
    cash: dict[tuple[str, str], str] = {}
    for (seg, token), (stock, series) in _cash_index().items():
        ts = f"{stock.symbol}-{series}" if seg == "nse_cm" else stock.symbol
        cash[(seg, ts)] = token
    return {u.symbol: u for u in fo}, cash


def filler_by_symbol(market: Market, seg: str, trd_sym: str, now: float) -> Instrument | None:
    """The filler instrument whose trading symbol is ``trd_sym`` in ``seg``, or ``None``."""
    fo, cash = _symbol_index()
    if seg in ("nse_cm", "bse_cm"):
        token = cash.get((seg, trd_sym))
        return None if token is None else filler_by_token(market, seg, token, now)
    if seg != "nse_fo":
        return None
    match = _FO_SYMBOL.match(trd_sym)
    if match is None or match[1] not in fo:
        return None
    und = fo[match[1]]
    for exp in _live_expiries(now):
        d = _tm.day_date(exp)
        if d.year % 100 != int(match[2]) or _MONTHS[d.month - 1] != match[3]:
            continue
        tail = match[4]
        if tail == "FUT":
            inst = _future(und, exp)
        else:
            strike, opt = int(tail[:-2]), tail[-2:]
            s = (strike - _center(und)) // und.step + _STRIKES_EACH_SIDE
            if not 0 <= s <= 2 * _STRIKES_EACH_SIDE or (strike - _center(und)) % und.step:
                return None
            inst = _option(und, exp, s, 0 if opt == "CE" else 1)
        market._process(inst.process, und.base)
        return inst
    return None


# --- writing rows ------------------------------------------------------------------------

_COL = {name: i for i, name in enumerate(SCRIP_HEADER)}
_VARYING = (
    "pSymbol",
    "pGroup",
    "pExchSeg",
    "pInstType",
    "pSymbolName",
    "pTrdSymbol",
    "pOptionType",
    "pScripRefKey",
    "pISIN",
    "pDesc",
    "dTickSize ",
    "lLotSize",
    "lExpiryDate ",
    "dStrikePrice;",
    "pExchange",
    "pInstName",
    "pExpiryDate",
    "iLotSize",
    "lFreezeQty",
)


def _template(segment: str) -> str:
    cells = [""] * len(SCRIP_HEADER)
    constants = {
        "lMultiplier ": "-1",
        "lPrecision": "2",
        "pSegment": "FO" if segment.endswith("_fo") else "CM",
        "iPermittedToTrade": "1",
        "iBoardLotQty ": "1",
        "dPriceNum   ": "1",
        "dGenDen": "1",
        "dGenNum": "1",
        "dPriceDen": "1",
        "pSettlementType": "Cash",
        "pLocalUpdateTime": "1472316328",
    }
    for name, value in constants.items():
        cells[_COL[name]] = value
    for name in _VARYING:
        cells[_COL[name]] = "%s"
    return ",".join(cells) + "\n"


def _paise(value: int) -> str:
    """Big paise numbers as the real files write them (``2.1e+06``)."""
    return f"{value:.6g}" if value >= 1_000_000 else str(value)


def _expiry_cell(segment: str, exp: int) -> str:
    if segment == "nse_fo":
        return str((exp - _EPOCH_1980_DAY) * 86_400 + 14 * 3600 + 1800)
    if segment == "mcx_fo":
        return str(exp * 86_400 + 86_399)
    return str(int(_tm._utc(exp, _CLOSE_MINUTE)))


def _refkey(inst: Instrument) -> str:
    d = _tm.day_date(inst.expiry)
    stamp = f"{d.day:02d}{_MONTHS[d.month - 1]}{d.year % 100:02d}"
    if inst.is_option:
        return f"{inst.sym}{stamp}{inst.strike}.00{inst.opt_tp}"
    return f"{inst.sym}{stamp}FUT"


def _derivative_row(template: str, segment: str, inst: Instrument) -> str:
    exchange = {"nse_fo": "NSE", "bse_fo": "BSE", "mcx_fo": "MCX"}[segment]
    expiry = _expiry_cell(segment, inst.expiry)
    return template % (
        inst.token,
        "XX",
        segment,
        inst.kind,
        inst.sym,
        inst.trd_sym,
        inst.opt_tp,
        _refkey(inst),
        "",
        "",
        inst.tick,
        inst.lot,
        expiry,
        _paise(inst.strike * 100) if inst.is_option else "-1",
        exchange,
        inst.kind,
        expiry,
        inst.lot,
        inst.lot * 24 + 1 if inst.lot > 1 else 100_001,
    )


def _cash_row(
    template: str,
    segment: str,
    token: str,
    series: str,
    ts: str,
    sym: str,
    desc: str,
    isin: str,
    tick: int,
) -> str:
    return template % (
        token,
        series,
        segment,
        "EQ" if series not in ("SG", "MF", "GB") else series,
        sym,
        ts,
        "XX",
        sym,
        isin,
        desc,
        tick,
        1,
        "-1",
        "-1",
        "NSE" if segment == "nse_cm" else "BSE",
        "EQ",
        "-1",
        1,
        "",
    )


def _cash_file(segment: str, market_rows: list[Instrument]) -> str:
    template = _template(segment)
    stocks, _ = _universe()
    out = [",".join(SCRIP_HEADER) + "\n"]
    for inst in market_rows:
        series = "EQ" if segment == "nse_cm" else "A"
        desc = inst.sym.title() + " Ltd"
        out.append(
            _cash_row(
                template, segment, inst.token, series, inst.trd_sym, inst.sym, desc, "", inst.tick
            )
        )
        if inst.trd_sym == "ITC-EQ":  # one real symbol with a second series, as in the file
            out.append(_cash_row(template, segment, "511660", "BL", "ITC-BL", "ITC", desc, "", 5))
    for (seg, token), (stock, series) in _cash_index().items():
        if seg != segment:
            continue
        ts = f"{stock.symbol}-{series}" if seg == "nse_cm" else stock.symbol
        out.append(
            _cash_row(
                template, seg, token, series, ts, stock.symbol, stock.name, stock.isin, stock.tick
            )
        )
    if segment == "nse_cm":
        rng = random.Random("aioneo-scrip-cash-extras-v1")
        for n in range(2_300):  # state-government securities
            rate = rng.randint(600, 799)
            sym = f"{rate}{rng.choice(['MH', 'KA', 'TN', 'GJ', 'UP', 'RJ'])}{rng.randint(26, 45)}"
            out.append(
                _cash_row(
                    template, seg, str(900_001 + n), "SG", f"{sym}-SG", sym, f"SDL {sym}", "", 1
                )
            )
        for n in range(370):  # exchange-traded fund units
            sym = f"{stocks[3 + n].symbol[:6]}ETF"
            out.append(
                _cash_row(
                    template, seg, str(950_001 + n), "MF", f"{sym}-MF", sym, f"{sym} Fund", "", 1
                )
            )
    return "".join(out)


def _fo_file(segment: str, market_rows: list[Instrument], now: float) -> str:
    template = _template(segment)
    out = [",".join(SCRIP_HEADER) + "\n"]
    out.extend(_derivative_row(template, segment, inst) for inst in market_rows)
    if segment == "nse_fo":
        _, fo = _universe()
        expiries = _live_expiries(now)
        for und in fo:
            for exp in expiries:
                out.append(_derivative_row(template, segment, _future(und, exp)))
            for exp in expiries:
                for s in range(2 * _STRIKES_EACH_SIDE + 1):
                    for t in (0, 1):
                        out.append(_derivative_row(template, segment, _option(und, exp, s, t)))
    return "".join(out)


_lock = threading.Lock()
_files: dict[tuple[str, int, int], str] = {}


def scrip_file(market: Market, segment: str, now: float) -> str:
    """The whole file of ``segment`` at ``now`` (cached per segment and trading day)."""
    key = (segment, _tm._first_live_day(now, _CLOSE_MINUTE), _tm._first_live_day(now, 1410))
    with _lock:
        cached = _files.get(key)
    if cached is not None:
        return cached
    rows = market.tradable_instruments(segment, now)
    if segment in ("nse_cm", "bse_cm"):
        text = _cash_file(segment, rows)
    else:
        text = _fo_file(segment, rows, now)
    with _lock:
        if len(_files) >= 6:  # a few segment-days: an nse_fo file is about 21 MiB
            _files.clear()
        _files[key] = text
    return text


def shape(text: str, mode: str) -> str:
    """``text`` as served in ``mode``: whole, header only, or cut in the middle of a row."""
    if mode == "full":
        return text
    header_end = text.index("\n") + 1
    if mode == "header_only":
        return text[:header_end]
    if mode == "truncated":
        cut = header_end + (len(text) - header_end) // 2
        line_start = text.rfind("\n", 0, cut) + 1
        return text[: line_start + 40] if line_start + 40 < len(text) else text[:cut]
    raise ValueError(f"mode {mode!r} is not one of {', '.join(SCRIP_MODES)}")
