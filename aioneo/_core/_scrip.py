"""The scrip master, parsed: typed instruments and their indexes. Pure: no I/O, no clock.

Kotak publishes one CSV per segment each trading day (``nse_cm-v1.csv``, ``nse_fo.csv``,
...): 78 columns (the August 2026 files add a 79th, ``CASEligible``), most of them empty.
Every quirk of those files is normalised here, in one place, and nowhere else:

* header names: stray spaces and a trailing ``;`` are stripped (``dStrikePrice;``,
  ``dTickSize ``, ``lExpiryDate ``, ``dPriceNum   ``, a BOM);
* money is in paise: ``dTickSize`` ``5`` is ``Decimal("0.05")`` rupees, ``dStrikePrice;``
  ``2.1e+06`` (scientific notation, as the files write big numbers) is
  ``Decimal("21000.00")``; ``-1`` means none (futures, cash). ``cde_fo`` is divided by
  ``10 ** lPrecision`` (default 4) instead of 100: an inference from its 4-decimal ticks;
* ``pOptionType`` ``XX`` on a derivative is ``option_type="FUT"``; cash has ``None``;
* NSE derivative expiries (every ``*_fo`` file but BSE's and MCX's, as the SDK reads them)
  count seconds from 1980-01-01: ``1474554600`` is 2026-09-22 (``1980-01-01 + value //
  86400``), where reading it as Unix time gives 2016 (the "ten years off" users report);
* BSE and MCX expiries are Unix seconds, taken as the UTC date (the SDK's reading: MCX
  writes 23:59:59 UTC, whose IST date is the next day);
* ``pScripRefKey`` (``NIFTY22SEP2621000.00PE``) carries the expiry as DDMMMYY after the
  symbol: where present it wins over the epoch (users report the epoch wrong for OPTSTK),
  and each disagreement is counted in :attr:`InstrumentTable.expiry_mismatches`;
* ``pGroup`` is the ``series``: one instrument per equity series (``ITC-EQ`` and
  ``ITC-BL`` are two instruments; searches rank EQ first);
* empty ``lFreezeQty`` / ``pISIN`` are ``None``; ``lLotSize`` falls back to ``iLotSize``.

A row the parser cannot read (a wrong column count, a token-less row, a number that is not
one) makes the whole file invalid: :class:`ScripFileError` names the line and why. A
header-only file (Kotak published empty files on 2026-04-05) is invalid too. Rows are
never silently skipped: a file that is wrong must not become a table that is quietly
short.

Parsing uses the standard library's ``csv`` module: about 10 µs a row on the project's
machine, all work done once per file; conversions of repeated cells (strikes, ticks,
dates) are memoised per file, so 100,000 rows hold a few thousand ``Decimal`` objects.
"""

from __future__ import annotations

import csv
import io
import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Literal

__all__ = [
    "EPOCH_1980",
    "INDICES",
    "SCRIP_HEADER",
    "SEGMENT_ALIASES",
    "ChainStrike",
    "Instrument",
    "InstrumentTable",
    "ScripFileError",
    "ScripParser",
    "cache_file_name",
    "canonical_segment",
    "earlier_cache_files",
    "expiry_of",
    "index_instrument",
    "normalise_header",
    "parse_scrip",
    "parse_scrip_text",
    "to_rupees",
    "trading_day",
    "wire_instrument",
]

#: The day NSE's derivative files count seconds from.
EPOCH_1980 = date(1980, 1, 1)
_UNIX = datetime(1970, 1, 1, tzinfo=UTC)
_MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_MONTHS = {m: i + 1 for i, m in enumerate(_MONTH_NAMES)}
_REFKEY_DATE = re.compile(r"(\d{2})(JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC)(\d{2})")
_HEADER_LINE = (
    "pSymbol,pGroup,pExchSeg,pInstType,pSymbolName,pTrdSymbol,pOptionType,pScripRefKey,pISIN,"
    "pAssetCode,pSubGroup,pCombinedSymbol,pDesc,pAmcCode,pContractId,dTickSize ,lLotSize,"
    "lExpiryDate ,lMultiplier ,lPrecision,dStrikePrice;,pExchange,pInstName,pExpiryDate,"
    "pIssueDate,pMaturityDate,pListingDate,pNoDelStartDate,pNoDelEndDate,pBookClsStartDate,"
    "pBookClsEndDate,pRecordDate,pCreditRating,pReAdminDate,pExpulsionDate,pLocalUpdateTime,"
    "pDeliveryUnits,pPriceUnits,pLastTradingDate,pTenderPeridEndDate,pTenderPeridStartDate,"
    "pSellVarMargin,pBuyVarMargin,pInstrumentInfo,pRemarksText,pSegment,pNav,pNavDate,pMfAmt,"
    "pSipSecurity,pFaceValue,pTrdUnits,pExerciseStartDate,pExerciseEndDate,pElmMargin,"
    "pVarMargin,pTotProposedLimitValue,pScripBasePrice,pSettlementType,pCurrectionTime,"
    "iPermittedToTrade,iBoardLotQty ,iMaxOrderSize ,iLotSize,dOpenInterest ,dHighPriceRange ,"
    "dLowPriceRange ,dPriceNum   ,dGenDen,dGenNum,dPriceQuatation ,dIssuerate ,dPriceDen,"
    "dWarningQty ,dIssueCapital ,dExposureMargin ,dMinRedemptionQty ,lFreezeQty"
)
#: The scrip-master header as Kotak writes it (78 columns, stray spaces and ``;`` kept).
SCRIP_HEADER: tuple[str, ...] = tuple(_HEADER_LINE.split(","))

#: The SDK's segment names (``settings.exchange_segment``) and ours.
SEGMENT_ALIASES: dict[str, str] = {
    "nse_cm": "nse_cm",
    "NSE": "nse_cm",
    "nse": "nse_cm",
    "BSE": "bse_cm",
    "bse": "bse_cm",
    "bse_cm": "bse_cm",
    "NFO": "nse_fo",
    "nse_fo": "nse_fo",
    "nfo": "nse_fo",
    "BFO": "bse_fo",
    "bse_fo": "bse_fo",
    "bfo": "bse_fo",
    "MCX": "mcx_fo",
    "mcx": "mcx_fo",
    "mcx_fo": "mcx_fo",
    "cde_fo": "cde_fo",
}
_UNIX_DATED = ("bse_fo", "mcx_fo")
_REQUIRED = ("pSymbol", "pExchSeg", "pTrdSymbol", "pSymbolName")
#: The columns read, by their normalised names, in the order ``ScripParser`` unpacks them.
_COLUMNS = (
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
    "dTickSize",
    "lLotSize",
    "iLotSize",
    "pExpiryDate",
    "lExpiryDate",
    "lPrecision",
    "dStrikePrice",
    "pExchange",
    "lFreezeQty",
)
_DEFAULT_TICK = Decimal("0.05")
#: Substring matches ranked at most per search (the first ones in file order).
SUBSTRING_HITS = 2_000

OptionType = Literal["CE", "PE", "FUT"]


class ScripFileError(ValueError):
    """A scrip-master file that cannot be used: empty, header-only, truncated or garbled."""


_IST = timezone(timedelta(hours=5, minutes=30))


def trading_day(now: float) -> date:
    """The IST date of ``now`` (Unix seconds): the day a scrip-master file belongs to."""
    return datetime.fromtimestamp(now, _IST).date()


def cache_file_name(segment: str, day: date) -> str:
    """``nse_fo_2026-09-22.csv``: the day file of a segment in the instrument cache."""
    return f"{segment}_{day.isoformat()}.csv"


def earlier_cache_files(names: Iterable[str], segment: str, day: date) -> list[tuple[date, str]]:
    """The day files of ``segment`` before ``day`` among ``names``, newest first.

    The fallback order for a refused file, and (past the first few) what is pruned.
    Other segments' files, ``.part`` files and names that are not a date are ignored.
    """
    prefix = f"{segment}_"
    found: list[tuple[date, str]] = []
    for name in names:
        if not (name.startswith(prefix) and name.endswith(".csv")):
            continue
        try:
            when = date.fromisoformat(name[len(prefix) : -len(".csv")])
        except ValueError:
            continue
        if when < day:
            found.append((when, name))
    return sorted(found, reverse=True)


def canonical_segment(segment: object, *, field: str = "segment") -> str:
    """``"NFO"`` → ``"nse_fo"``; the SDK's aliases are accepted. Anything else: ValueError."""
    if isinstance(segment, str):
        found = SEGMENT_ALIASES.get(segment.strip()) or SEGMENT_ALIASES.get(segment.strip().lower())
        if found is not None:
            return found
    allowed = ", ".join(sorted(set(SEGMENT_ALIASES.values())))
    raise ValueError(f"{field} {segment!r} is not a scrip-master segment; use one of {allowed}")


def normalise_header(name: str) -> str:
    """``"dStrikePrice;"`` → ``"dStrikePrice"``, ``"dTickSize "`` → ``"dTickSize"``."""
    return name.strip().rstrip(";").strip().lstrip("\ufeff")


def to_rupees(cell: str, *, divisor: int = 100) -> Decimal | None:
    """A paise cell (``"5"``, ``"5.000000"``, ``"2.1e+06"``) as rupees; ``None`` for
    empty, ``-1`` or other negative placeholders. Raises ``ValueError`` on a non-number."""
    text = cell.strip()
    if not text:
        return None
    try:
        raw = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{cell!r} is not a number") from None
    if not raw.is_finite():
        raise ValueError(f"{cell!r} is not a finite number")
    if raw < 0:
        return None
    places = len(str(divisor)) - 1
    value = raw / divisor
    rounded = value.quantize(Decimal(1).scaleb(-places))
    return rounded if rounded == value else value.normalize()


def _refkey_date(refkey: str, symbol: str) -> date | None:
    """The DDMMMYY right after the symbol in ``pScripRefKey``, if it is there."""
    if not refkey or not refkey.startswith(symbol):
        return None
    match = _REFKEY_DATE.match(refkey, len(symbol))
    if match is None:
        return None
    day, month, year = int(match[1]), _MONTHS[match[2]], 2000 + int(match[3])
    try:
        return date(year, month, day)
    except ValueError:
        return None


def expiry_of(segment: str, cell: str) -> date | None:
    """The expiry date of a derivative row's ``pExpiryDate`` cell (see the module table)."""
    text = cell.strip()
    if not text:
        return None
    try:
        seconds = int(Decimal(text))
    except InvalidOperation:
        raise ValueError(f"expiry {cell!r} is not a number of seconds") from None
    if seconds <= 0:
        return None
    if segment in _UNIX_DATED:
        return (_UNIX + timedelta(seconds=seconds)).date()
    return EPOCH_1980 + timedelta(days=seconds // 86_400)


@dataclass(frozen=True, slots=True)
class Instrument:
    """One tradable instrument (or index) of the scrip master, normalised.

    ``token`` and ``segment`` are what quotes and feeds send (:attr:`neo_symbol`),
    ``trading_symbol`` is what orders send. Money is ``Decimal`` rupees. Pass an
    ``Instrument`` to ``quotes``, ``place_order`` and ``margin_required`` instead of
    building ``"nse_cm|1660"`` or a trading symbol by hand::

        itc = table.get("ITC-EQ")
        await neo.quotes([itc])
    """

    token: str
    segment: str
    trading_symbol: str
    symbol: str
    name: str
    series: str
    instrument_type: str
    option_type: OptionType | None
    expiry: date | None
    strike: Decimal | None
    tick_size: Decimal
    lot_size: int
    freeze_quantity: int | None
    isin: str | None
    precision: int
    exchange: str

    @property
    def neo_symbol(self) -> str:
        """``"nse_cm|1660"``: the quotes/feed form."""
        return f"{self.segment}|{self.token}"

    @property
    def underlying(self) -> str:
        """The underlying of a derivative (its ``symbol``, e.g. ``"NIFTY"``)."""
        return self.symbol

    @property
    def is_option(self) -> bool:
        return self.option_type in ("CE", "PE")

    @property
    def is_future(self) -> bool:
        return self.option_type == "FUT"

    @property
    def is_index(self) -> bool:
        return self.instrument_type == "INDEX"


def wire_instrument(item: object, *, field: str = "instrument") -> tuple[str, str]:
    """``(segment, token)`` of an :class:`Instrument` or a ``"seg|token"`` string.

    The one place an instrument becomes its wire form; quotes use it, and so will the
    feeds' subscribe. Anything else raises ``TypeError``/``ValueError`` naming ``field``.
    """
    if isinstance(item, Instrument):
        return item.segment, item.token
    if isinstance(item, str):
        segment, sep, token = item.partition("|")
        if not sep or not segment.strip() or not token.strip():
            raise ValueError(f"{field} {item!r} is not 'segment|token', e.g. 'nse_cm|1333'")
        return segment.strip(), token.strip()
    raise TypeError(
        f"{field} must be an aioneo.Instrument or a str 'nse_cm|1333'; got {type(item).__name__}"
    )


def _index(segment: str, token: str, symbol: str, exchange: str) -> Instrument:
    return Instrument(
        token=token,
        segment=segment,
        trading_symbol=token,
        symbol=symbol,
        name=token,
        series="",
        instrument_type="INDEX",
        option_type=None,
        expiry=None,
        strike=None,
        tick_size=Decimal("0.05"),
        lot_size=1,
        freeze_quantity=None,
        isin=None,
        precision=2,
        exchange=exchange,
    )


#: Indices by the names Kotak's quotes and feeds take as tokens (not in the CSV files).
#: India VIX and other indices are left out: their Kotak tokens are not confirmed.
INDICES: tuple[Instrument, ...] = (
    _index("nse_cm", "Nifty 50", "NIFTY", "NSE"),
    _index("nse_cm", "Nifty Bank", "BANKNIFTY", "NSE"),
    _index("nse_cm", "Nifty IT", "NIFTYIT", "NSE"),
    _index("bse_cm", "SENSEX", "SENSEX", "BSE"),
)


def index_instrument(name: str) -> Instrument:
    """The index called ``name`` (``"Nifty 50"`` or its underlying ``"NIFTY"``, any case)."""
    wanted = name.strip().casefold()
    for inst in INDICES:
        if wanted in (inst.token.casefold(), inst.symbol.casefold()):
            return inst
    names = ", ".join(repr(i.token) for i in INDICES)
    raise ValueError(f"index {name!r} is not in the catalogue; known indices: {names}")


@dataclass(frozen=True, slots=True)
class ChainStrike:
    """One strike of an option chain: its call and put (either may be missing)."""

    strike: Decimal
    call: Instrument | None
    put: Instrument | None


def _series_rank(inst: Instrument) -> tuple[int, str]:
    return (0 if inst.series == "EQ" else 1, inst.series)


def _order(inst: Instrument) -> tuple[object, ...]:
    return (
        _series_rank(inst),
        inst.expiry or date.min,
        inst.option_type or "",
        inst.strike or Decimal(0),
        inst.trading_symbol,
    )


@dataclass(slots=True)
class _Counter:
    mismatches: int = 0


class InstrumentTable:
    """The instruments of one segment's scrip-master file, indexed. Read-only.

    ::

        table = await neo.instruments("nse_fo")
        table.get("NIFTY26JAN24000CE")            # exact trading symbol
        table.option("NIFTY", expiry, 24000, "CE")
        table.search("ITC")[0]                      # ranked: ITC-EQ first

    Built once per file (see :class:`ScripParser`); every lookup is a dict or ``bisect``
    on prebuilt indexes, so it is safe to share between threads and coroutines.
    """

    __slots__ = (
        "_blob",
        "_by_symbol",
        "_by_token",
        "_by_trading_symbol",
        "_chains",
        "_prefix",
        "_starts",
        "expiry_mismatches",
        "instruments",
        "segment",
        "source_date",
    )

    def __init__(
        self,
        segment: str,
        instruments: Sequence[Instrument],
        *,
        expiry_mismatches: int = 0,
        source_date: date | None = None,
    ) -> None:
        self.segment = segment
        self.instruments: tuple[Instrument, ...] = tuple(instruments)
        #: Rows whose epoch expiry disagreed with ``pScripRefKey`` (the key's date was used).
        self.expiry_mismatches = expiry_mismatches
        #: The trading day of the file (the day of its cache entry), when known.
        self.source_date = source_date
        self._by_token: dict[str, Instrument] = {}
        self._by_trading_symbol: dict[str, Instrument] = {}
        self._by_symbol: dict[str, list[Instrument]] = {}
        self._chains: dict[tuple[str, date, Decimal, str], Instrument] = {}
        for inst in self.instruments:
            self._by_token.setdefault(inst.token, inst)
            self._by_trading_symbol.setdefault(inst.trading_symbol.upper(), inst)
            self._by_symbol.setdefault(inst.symbol.upper(), []).append(inst)
            if inst.expiry is not None and inst.option_type is not None:
                strike = inst.strike if inst.strike is not None else Decimal(0)
                key = (inst.symbol.upper(), inst.expiry, strike, inst.option_type)
                self._chains.setdefault(key, inst)
        for group in self._by_symbol.values():
            group.sort(key=_order)
        self._prefix = sorted(self._by_trading_symbol)
        # Built by the first substring search: every instrument's text on one line of one
        # string, so a search is str.find (C speed) instead of 100,000 ``in`` tests.
        self._blob: str | None = None
        self._starts: list[int] = []

    def __len__(self) -> int:
        return len(self.instruments)

    def __iter__(self) -> Iterator[Instrument]:
        return iter(self.instruments)

    def __repr__(self) -> str:
        return f"<InstrumentTable {self.segment}: {len(self.instruments)} instruments>"

    # -- exact lookups --

    def get(self, trading_symbol: str) -> Instrument | None:
        """The instrument whose trading symbol is ``trading_symbol`` (any case), or ``None``."""
        return self._by_trading_symbol.get(trading_symbol.upper())

    def by_token(self, token: str | int) -> Instrument | None:
        """The instrument with this token (``"1660"`` or ``1660``), or ``None``."""
        return self._by_token.get(str(token))

    def equity(self, symbol: str, *, series: str = "EQ") -> Instrument | None:
        """The cash instrument of ``symbol`` in ``series`` (``"ITC"`` → ``ITC-EQ``)."""
        for inst in self._by_symbol.get(symbol.upper(), ()):
            if inst.series == series and inst.expiry is None:
                return inst
        return None

    # -- derivatives --

    def _derivatives(self, underlying: str) -> list[Instrument]:
        return [i for i in self._by_symbol.get(underlying.upper(), ()) if i.expiry is not None]

    def option(
        self,
        underlying: str,
        expiry: date,
        strike: int | Decimal | str,
        option_type: str,
    ) -> Instrument | None:
        """The option ``(underlying, expiry, strike, "CE"|"PE")``, or ``None``."""
        kind = option_type.upper()
        if kind not in ("CE", "PE"):
            raise ValueError(f"option_type {option_type!r} is not an option type; use CE or PE")
        if not isinstance(expiry, date):
            raise TypeError(f"expiry must be a datetime.date, got {type(expiry).__name__}")
        try:
            value = Decimal(strike) if not isinstance(strike, float) else None
        except InvalidOperation:
            value = None
        if value is None or not value.is_finite():
            raise ValueError(f"strike {strike!r} is not a price; pass an int, Decimal or str")
        return self._chains.get((underlying.upper(), expiry, value, kind))

    def futures(self, underlying: str) -> list[Instrument]:
        """Futures of ``underlying``, nearest expiry first."""
        return sorted(
            (i for i in self._derivatives(underlying) if i.is_future),
            key=lambda i: (i.expiry, i.trading_symbol),
        )

    def expiries(
        self, underlying: str, *, kind: Literal["all", "options", "futures"] = "all"
    ) -> list[date]:
        """The expiry dates of ``underlying``'s contracts in the file, ascending."""
        if kind not in ("all", "options", "futures"):
            raise ValueError(f"kind {kind!r} is not one of all, options, futures")
        days = {
            i.expiry
            for i in self._derivatives(underlying)
            if i.expiry is not None and (kind == "all" or (kind == "options") == i.is_option)
        }
        return sorted(days)

    def option_chain(self, underlying: str, expiry: date) -> list[ChainStrike]:
        """Every strike of ``underlying``'s options expiring on ``expiry``, ascending."""
        rows: dict[Decimal, list[Instrument | None]] = {}
        for inst in self._derivatives(underlying):
            if inst.expiry == expiry and inst.is_option and inst.strike is not None:
                pair = rows.setdefault(inst.strike, [None, None])
                pair[0 if inst.option_type == "CE" else 1] = inst
        return [ChainStrike(k, v[0], v[1]) for k, v in sorted(rows.items())]

    # -- search --

    def search(self, text: str, *, limit: int = 20) -> list[Instrument]:
        """Instruments matching ``text`` (any case), best first, at most ``limit``.

        Ranks: exact trading symbol; exact symbol (EQ series first, then other series,
        then derivatives by expiry and strike); trading-symbol prefix; substring of the
        trading symbol, symbol or name. So ``"ITC"`` gives ``ITC-EQ`` first and
        ``MITCON-EQ`` only after every ``ITC...`` instrument. The substring rank scans the
        table's text with ``str.find`` (about a millisecond for 100,000 rows) and ranks the
        first :data:`SUBSTRING_HITS` matches; the other ranks are index lookups.
        """
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"text must be a non-empty str, got {text!r}")
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit!r}")
        wanted = text.strip().upper()
        out: list[Instrument] = []
        seen: set[int] = set()

        def add(items: Iterable[Instrument]) -> bool:
            for inst in items:
                if id(inst) not in seen:
                    seen.add(id(inst))
                    out.append(inst)
                    if len(out) >= limit:
                        return True
            return False

        exact = self._by_trading_symbol.get(wanted)
        if exact is not None and add((exact,)):
            return out
        if add(self._by_symbol.get(wanted, ())):
            return out
        start = bisect_left(self._prefix, wanted)
        prefixed: list[Instrument] = []
        keys = self._prefix
        for index in range(start, len(keys)):
            key = keys[index]
            if not key.startswith(wanted):
                break
            prefixed.append(self._by_trading_symbol[key])
            if len(prefixed) >= 4 * limit + len(seen):
                break
        prefixed.sort(key=lambda i: (_series_rank(i), len(i.trading_symbol), _order(i)))
        if add(prefixed):
            return out
        if "\n" in wanted or "\x00" in wanted:
            return out
        inner = [self.instruments[n] for n in self._substring_hits(wanted)]
        inner.sort(key=lambda i: (_series_rank(i), len(i.symbol), _order(i)))
        add(inner)
        return out

    def _substring_hits(self, wanted: str) -> list[int]:
        """Indexes of the first :data:`SUBSTRING_HITS` instruments containing ``wanted``."""
        blob = self._blob
        if blob is None:
            # Built in locals and published starts-first: a thread that sees the blob sees
            # its complete offsets; two threads building at once both build the same.
            parts = [f"{i.trading_symbol}\x00{i.symbol}\x00{i.name}".upper() for i in self]
            offsets: list[int] = []
            position = 0
            for part in parts:
                offsets.append(position)
                position += len(part) + 1
            blob = "\n".join(parts)
            self._starts = offsets
            self._blob = blob
        starts = self._starts
        hits: list[int] = []
        found = blob.find(wanted)
        while found != -1 and len(hits) < SUBSTRING_HITS:
            line = bisect_right(starts, found) - 1
            hits.append(line)
            if line + 1 >= len(starts):
                break
            found = blob.find(wanted, starts[line + 1])
        return hits

    def search_scrip(
        self,
        symbol: str = "",
        expiry: str | None = None,
        option_type: str | None = None,
        strike_price: str | None = None,
    ) -> list[Instrument]:
        """The SDK's ``search_scrip`` filters, on this table, typed and exact first.

        ``symbol`` matches the underlying/symbol (``pSymbolName``): exactly if any
        instrument has that symbol, else by prefix, else as a substring (the SDK always
        takes substrings, so ``ITC`` gave ``MITCON`` first). ``expiry`` is ``DDMMMYYYY``
        (``27JAN2026``) or a ``DDMMMYYYY-DDMMMYYYY`` range; ``option_type`` ``CE``, ``PE``,
        ``FUT`` (or ``XX``), comma-separated for several; ``strike_price`` a value
        (``"24000"``), a range ``"23800-24200"``, or ``">24000"`` / ``"<24000"`` (decimal
        strikes work, unlike the SDK's). Sorted by strike as the SDK sorts, then expiry, with
        the EQ series first.
        Bad input raises ``ValueError`` naming the field (the SDK returns error dicts).
        """
        candidates = self._symbol_matches(symbol)
        if option_type:
            kinds = set()
            for part in str(option_type).upper().split(","):
                part = part.strip()
                part = "FUT" if part in ("FUT", "XX") else part
                if part not in ("CE", "PE", "FUT"):
                    raise ValueError(f"option_type {option_type!r}: {part!r} is not CE, PE or FUT")
                kinds.add(part)
            candidates = [i for i in candidates if i.option_type in kinds]
        if expiry:
            low, high = _expiry_range(expiry)
            candidates = [i for i in candidates if i.expiry and low <= i.expiry <= high]
        if strike_price:
            test = _strike_test(strike_price)
            candidates = [i for i in candidates if i.strike is not None and test(i.strike)]
        return sorted(
            candidates,
            key=lambda i: (
                i.strike if i.strike is not None else Decimal(-1),
                i.expiry or date.min,
                _series_rank(i),
                i.trading_symbol,
            ),
        )

    def _symbol_matches(self, symbol: str) -> list[Instrument]:
        wanted = str(symbol).strip().upper()
        if not wanted:
            return list(self.instruments)
        exact = self._by_symbol.get(wanted)
        if exact:
            return list(exact)
        keys = [k for k in self._by_symbol if k.startswith(wanted)]
        if not keys:
            keys = [k for k in self._by_symbol if wanted in k]
        return [i for k in keys for i in self._by_symbol[k]]


def _parse_day(text: str, field: str) -> date:
    try:
        return datetime.strptime(text.strip().upper(), "%d%b%Y").date()
    except ValueError:
        raise ValueError(f"{field} {text!r} is not a date as DDMMMYYYY, e.g. 27JAN2026") from None


def _expiry_range(expiry: str) -> tuple[date, date]:
    parts = expiry.split("-")
    if len(parts) > 2:
        raise ValueError(
            f"expiry {expiry!r} is not DDMMMYYYY or DDMMMYYYY-DDMMMYYYY, e.g. 27JAN2026"
        )
    low = _parse_day(parts[0], "expiry")
    high = _parse_day(parts[1], "expiry") if len(parts) == 2 else low
    if low > high:
        raise ValueError(f"expiry {expiry!r}: the first date is after the second")
    return low, high


def _strike(text: str, whole: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        value = Decimal(-1)
    if not value.is_finite() or value <= 0:
        raise ValueError(
            f"strike_price {whole!r} is not a positive price, a range 'LOW-HIGH', '>X' or '<X'"
        )
    return value


def _strike_test(strike_price: str) -> Callable[[Decimal], bool]:
    text = str(strike_price).strip()
    if text.startswith(">"):
        low = _strike(text[1:], text)
        return lambda s: s >= low
    if text.startswith("<"):
        high = _strike(text[1:], text)
        return lambda s: s <= high
    parts = text.split("-")
    if len(parts) == 2:
        low, high = _strike(parts[0], text), _strike(parts[1], text)
        if low > high:
            raise ValueError(f"strike_price {text!r}: the minimum strike is above the maximum")
        return lambda s: low <= s <= high
    if len(parts) != 1:
        raise ValueError(f"strike_price {text!r} is not a price or a range 'LOW-HIGH'")
    exact = _strike(text, text)
    return lambda s: s == exact


class ScripParser:
    """Turns one segment's CSV rows into instruments (see the module table).

    Feed it the header, then rows; ``table()`` at the end. Column positions are looked up
    once, from the normalised header; repeated cells (strikes, ticks, dates, names) are
    converted once per file.
    """

    __slots__ = (
        "_cols",
        "_counter",
        "_dates",
        "_money",
        "_refdates",
        "_strings",
        "_width",
        "instruments",
        "segment",
    )

    def __init__(self, segment: str) -> None:
        self.segment = segment
        self.instruments: list[Instrument] = []
        self._cols: tuple[int, ...] = ()
        self._width = 0
        self._money: dict[tuple[str, int], Decimal | None] = {}
        self._dates: dict[str, date | None] = {}
        self._refdates: dict[str, date | None] = {}
        self._strings: dict[str, str] = {}
        self._counter = _Counter()

    def header(self, names: Sequence[str]) -> None:
        columns = {normalise_header(n): i for i, n in enumerate(names)}
        missing = [c for c in _REQUIRED if c not in columns]
        if missing:
            raise ScripFileError(
                f"{self.segment}: the header lacks {', '.join(missing)} (got "
                f"{len(names)} columns starting {', '.join(list(names)[:3])!r}): not a "
                "scrip-master file"
            )
        # Absent optional columns read as "" from an extra cell appended to every row.
        absent = len(names)
        self._cols = tuple(columns.get(name, absent) for name in _COLUMNS)
        self._width = len(names)

    def row(self, row: list[str], line: int) -> None:
        if len(row) != self._width:
            raise ScripFileError(
                f"{self.segment}: line {line} has {len(row)} fields, the header has "
                f"{self._width} (a truncated or garbled file)"
            )
        row.append("")
        try:
            self.instruments.append(self._instrument(row))
        except ValueError as exc:
            raise ScripFileError(f"{self.segment}: line {line}: {exc}") from None

    def _money_of(self, text: str, divisor: int) -> Decimal | None:
        key = (text, divisor)
        try:
            return self._money[key]
        except KeyError:
            value = self._money[key] = to_rupees(text, divisor=divisor)
            return value

    def _instrument(self, row: list[str]) -> Instrument:
        (
            c_token,
            c_group,
            c_seg,
            c_type,
            c_sym,
            c_ts,
            c_opt,
            c_ref,
            c_isin,
            c_desc,
            c_tick,
            c_lot,
            c_ilot,
            c_exp,
            c_lexp,
            c_prec,
            c_strike,
            c_exch,
            c_freeze,
        ) = self._cols
        token = row[c_token].strip()
        trading_symbol = row[c_ts].strip()
        if not token or not trading_symbol:
            raise ValueError(f"no {'pSymbol' if not token else 'pTrdSymbol'}")
        intern = self._strings.setdefault
        segment = intern(row[c_seg].strip() or self.segment, row[c_seg].strip() or self.segment)
        symbol = row[c_sym].strip()
        symbol = intern(symbol, symbol)
        precision_text = row[c_prec].strip()
        precision = int(precision_text) if precision_text.isdigit() else 2
        divisor = 10 ** (precision or 4) if segment == "cde_fo" else 100
        raw_option = row[c_opt].strip().upper()
        inst_type = row[c_type].strip().upper()
        inst_type = intern(inst_type, inst_type)
        option_type: OptionType | None = None
        expiry: date | None = None
        strike: Decimal | None = None
        if segment.endswith("_fo") and (
            raw_option in ("CE", "PE", "XX") or inst_type[:3] in ("OPT", "FUT")
        ):
            option_type = "CE" if raw_option == "CE" else "PE" if raw_option == "PE" else "FUT"
            expiry_text = row[c_exp].strip() or row[c_lexp].strip()
            try:
                expiry = self._dates[expiry_text]
            except KeyError:
                expiry = self._dates[expiry_text] = expiry_of(segment, expiry_text)
            refkey = row[c_ref]
            if refkey:
                stamp = refkey[: len(symbol) + 7]
                try:
                    ref_day = self._refdates[stamp]
                except KeyError:
                    ref_day = self._refdates[stamp] = _refkey_date(stamp, symbol)
                if ref_day is not None:
                    if expiry is not None and ref_day != expiry:
                        self._counter.mismatches += 1
                    expiry = ref_day
            if option_type != "FUT":
                strike = self._money_of(row[c_strike], divisor)
                if strike is None:
                    raise ValueError(f"option {trading_symbol!r} has no strike")
        tick = self._money_of(row[c_tick], divisor)
        lot_text = row[c_lot].strip() or row[c_ilot].strip() or "1"
        freeze_text = row[c_freeze].strip()
        try:
            lot = int(lot_text) if lot_text.isdigit() else int(Decimal(lot_text))
            freeze = (
                int(freeze_text)
                if freeze_text.isdigit()
                else int(Decimal(freeze_text))
                if freeze_text
                else None
            )
        except InvalidOperation:
            raise ValueError(
                f"lLotSize {lot_text!r} or lFreezeQty {freeze_text!r} is not a number"
            ) from None
        series = row[c_group].strip().upper()
        exchange = row[c_exch].strip()
        return Instrument(
            token,
            segment,
            trading_symbol,
            symbol,
            row[c_desc].strip() or symbol,
            intern(series, series),
            inst_type,
            option_type,
            expiry,
            strike,
            tick if tick is not None else _DEFAULT_TICK,
            lot if lot > 0 else 1,
            freeze if freeze and freeze > 0 else None,
            row[c_isin].strip() or None,
            precision,
            intern(exchange, exchange),
        )

    def table(self, *, source_date: date | None = None) -> InstrumentTable:
        if not self._width:
            raise ScripFileError(f"{self.segment}: the file is empty (no header)")
        if not self.instruments:
            raise ScripFileError(
                f"{self.segment}: the file has a header and no rows (Kotak has published "
                "header-only files)"
            )
        instruments: list[Instrument] = self.instruments
        if self.segment in ("nse_cm", "bse_cm"):
            have = {i.trading_symbol.upper() for i in instruments}
            instruments = instruments + [
                i for i in INDICES if i.segment == self.segment and i.token.upper() not in have
            ]
        return InstrumentTable(
            self.segment,
            instruments,
            expiry_mismatches=self._counter.mismatches,
            source_date=source_date,
        )


def parse_scrip(
    lines: Iterable[str], segment: str, *, source_date: date | None = None
) -> InstrumentTable:
    """Parse a scrip-master file given as text lines (a file opened with ``newline=""``).

    A last line without its newline means the file was cut off: refused, as is any row
    whose field count differs from the header's.
    """
    parser = ScripParser(canonical_segment(segment))
    ended = True

    def tracked(source: Iterable[str]) -> Iterator[str]:
        nonlocal ended
        for line in source:
            ended = line.endswith("\n")
            yield line

    reader = csv.reader(tracked(lines))
    try:
        for row in reader:
            if not row:
                continue
            if not parser._width:
                parser.header(row)
            else:
                parser.row(row, reader.line_num)
    except csv.Error as exc:
        raise ScripFileError(f"{segment}: line {reader.line_num}: {exc}") from None
    if not ended and parser.instruments:
        raise ScripFileError(
            f"{segment}: the file ends in the middle of line {reader.line_num} (truncated)"
        )
    return parser.table(source_date=source_date)


def parse_scrip_text(
    text: str, segment: str, *, source_date: date | None = None
) -> InstrumentTable:
    """:func:`parse_scrip` on a whole file held as one string."""
    return parse_scrip(io.StringIO(text, newline=""), segment, source_date=source_date)
