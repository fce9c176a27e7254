"""The scrip-master parser and the instrument table: every quirk, row by row (no I/O)."""

from __future__ import annotations

import io
import re
from datetime import date
from decimal import Decimal

import pytest

from aioneo import INDICES, Instrument, index_instrument
from aioneo._core._scrip import (
    SCRIP_HEADER,
    ScripFileError,
    cache_file_name,
    canonical_segment,
    earlier_cache_files,
    expiry_of,
    normalise_header,
    parse_scrip,
    parse_scrip_text,
    to_rupees,
    trading_day,
    wire_instrument,
)

HEADER = ",".join(SCRIP_HEADER)

#: The first data row of the live nse_fo.csv of 2026-08-28, verbatim (79 columns: that
#: file adds ``CASEligible``).
LIVE_ROW = (
    "56526,XX,nse_fo,OPTIDX,NIFTY,NIFTY2692221000PE,PE,NIFTY22SEP2621000.00PE,,26000,,,,,,5,65,"
    "1474554600,-1,2,2.1e+06,NSE,OPTIDX,1474554600,1471564800,1474554600,1471564800,0,0,0,0,0,,"
    "0,0,1472316328,,,,,,,,,,FO,,,,,,,1474502400,1474554600,,,,15.0000,Cash,,1,1,1801.00,65,0,"
    "2015,5,1,1,1,0,0,1,0,1e+12,1,0,1801,false"
)


def row(**cells: str) -> str:
    """A 78-column row: every cell empty except those given (by normalised header name)."""
    names = [normalise_header(n) for n in SCRIP_HEADER]
    values = [""] * len(names)
    for name, value in cells.items():
        values[names.index(name)] = value
    return ",".join(values)


def one(segment: str, **cells: str) -> Instrument:
    base = {"pSymbol": "1", "pExchSeg": segment, "pTrdSymbol": "X-EQ", "pSymbolName": "X"}
    text = HEADER + "\n" + row(**{**base, **cells}) + "\n"
    table = parse_scrip_text(text, segment)
    return table.instruments[0]


def test_the_header_has_kotaks_78_columns_and_quirks() -> None:
    assert len(SCRIP_HEADER) == 78
    assert "dStrikePrice;" in SCRIP_HEADER
    assert "dTickSize " in SCRIP_HEADER
    assert "lExpiryDate " in SCRIP_HEADER
    assert "dPriceNum   " in SCRIP_HEADER


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("dStrikePrice;", "dStrikePrice"),
        ("dTickSize ", "dTickSize"),
        ("lExpiryDate ", "lExpiryDate"),
        ("dPriceNum   ", "dPriceNum"),
        ("\ufeffpSymbol", "pSymbol"),
        (" pGroup", "pGroup"),
        ("pSymbol", "pSymbol"),
    ],
)
def test_header_names_are_normalised(raw: str, clean: str) -> None:
    assert normalise_header(raw) == clean


@pytest.mark.parametrize(
    ("cell", "divisor", "rupees"),
    [
        ("5", 100, Decimal("0.05")),
        ("5.000000", 100, Decimal("0.05")),
        ("10.000000", 100, Decimal("0.10")),
        ("100", 100, Decimal("1.00")),
        ("2.1e+06", 100, Decimal("21000.00")),
        ("1.485e+07", 100, Decimal("148500.00")),
        ("2450050", 100, Decimal("24500.50")),
        ("8325.5", 100, Decimal("83.255")),
        ("25", 10_000, Decimal("0.0025")),
        ("-1", 100, None),
        ("-1.000000", 100, None),
        ("", 100, None),
        ("  ", 100, None),
    ],
)
def test_paise_become_rupees(cell: str, divisor: int, rupees: Decimal | None) -> None:
    value = to_rupees(cell, divisor=divisor)
    assert value == rupees
    if rupees is not None:
        assert str(value) == str(rupees)  # no 2.1E+4 spellings


@pytest.mark.parametrize("cell", ["abc", "1,5", "NaN", "inf"])
def test_a_money_cell_that_is_not_a_number_is_refused(cell: str) -> None:
    with pytest.raises(ValueError, match="number"):
        to_rupees(cell)


@pytest.mark.parametrize(
    ("segment", "cell", "day"),
    [
        # NSE derivatives: seconds since 1980-01-01 (the live row: 22 Sep 2026)
        ("nse_fo", "1474554600", date(2026, 9, 22)),
        ("nse_fo", "1474502400", date(2026, 9, 22)),  # 00:00 of the day
        ("nse_fo", "1474588799", date(2026, 9, 22)),  # 23:59:59 of the day
        ("cde_fo", "1477328400", date(2026, 10, 24)),
        # BSE and MCX: Unix seconds, the UTC date (as the SDK reads them)
        ("bse_fo", "1790069400", date(2026, 9, 22)),  # 15:00 IST
        ("mcx_fo", "1790380799", date(2026, 9, 25)),  # 23:59:59 UTC = 05:29 IST next day
        ("nse_fo", "", None),
        ("nse_fo", "0", None),
        ("nse_fo", "-1", None),
    ],
)
def test_expiry_rules_per_segment(segment: str, cell: str, day: date | None) -> None:
    assert expiry_of(segment, cell) == day


def test_the_live_row_is_read_as_kotak_meant_it() -> None:
    text = HEADER + ",CASEligible\n" + LIVE_ROW + "\n"
    table = parse_scrip_text(text, "nse_fo")
    (inst,) = table.instruments
    assert inst.token == "56526"
    assert inst.neo_symbol == "nse_fo|56526"
    assert inst.trading_symbol == "NIFTY2692221000PE"
    assert inst.symbol == inst.underlying == "NIFTY"
    assert inst.instrument_type == "OPTIDX"
    assert inst.option_type == "PE"
    assert inst.is_option
    assert not inst.is_future
    assert inst.expiry == date(2026, 9, 22)
    assert inst.strike == Decimal("21000.00")
    assert inst.tick_size == Decimal("0.05")
    assert inst.lot_size == 65
    assert inst.freeze_quantity == 1801
    assert inst.precision == 2
    assert inst.exchange == "NSE"
    assert table.expiry_mismatches == 0


# One row per quirk: (segment, cells, the field checked, its value).
QUIRKS = [
    (
        "futures are their own option type",
        "nse_fo",
        {"pOptionType": "XX", "pInstType": "FUTIDX", "pExpiryDate": "1474554600"},
        "option_type",
        "FUT",
    ),
    (
        "a future has no strike",
        "nse_fo",
        {
            "pOptionType": "XX",
            "pInstType": "FUTSTK",
            "dStrikePrice": "-1",
            "pExpiryDate": "1474554600",
        },
        "strike",
        None,
    ),
    (
        "cash has no option type",
        "nse_cm",
        {"pOptionType": "XX", "pGroup": "EQ"},
        "option_type",
        None,
    ),
    ("cash has no expiry", "nse_cm", {"pExpiryDate": "1474554600"}, "expiry", None),
    ("the series is pGroup", "nse_cm", {"pGroup": "BL"}, "series", "BL"),
    ("the tick is paise", "nse_cm", {"dTickSize": "1"}, "tick_size", Decimal("0.01")),
    (
        "MCX tick 100 paise",
        "mcx_fo",
        {"dTickSize": "100.000000", "pOptionType": "XX", "pExpiryDate": "1790380799"},
        "tick_size",
        Decimal("1.00"),
    ),
    (
        "cde_fo prices by lPrecision",
        "cde_fo",
        {"dTickSize": "25", "lPrecision": "4", "pOptionType": "XX", "pExpiryDate": "1477328400"},
        "tick_size",
        Decimal("0.0025"),
    ),
    (
        "scientific strike",
        "nse_fo",
        {"pOptionType": "CE", "dStrikePrice": "1.485e+07", "pExpiryDate": "1474554600"},
        "strike",
        Decimal("148500.00"),
    ),
    (
        "lLotSize, else iLotSize",
        "nse_fo",
        {"pOptionType": "XX", "iLotSize": "50", "pExpiryDate": "1474554600"},
        "lot_size",
        50,
    ),
    ("empty ISIN is None", "nse_cm", {"pISIN": ""}, "isin", None),
    ("ISIN kept", "nse_cm", {"pISIN": "INE154A01025"}, "isin", "INE154A01025"),
    ("empty freeze is None", "nse_cm", {"lFreezeQty": ""}, "freeze_quantity", None),
    (
        "freeze quantity",
        "nse_fo",
        {"lFreezeQty": "1801", "pOptionType": "XX", "pExpiryDate": "1474554600"},
        "freeze_quantity",
        1801,
    ),
    ("name from pDesc", "nse_cm", {"pDesc": "ITC LTD"}, "name", "ITC LTD"),
    ("no pDesc: the symbol", "nse_cm", {"pDesc": ""}, "name", "X"),
    (
        "refkey date wins",
        "nse_fo",
        {
            "pSymbolName": "NIFTY",
            "pOptionType": "CE",
            "dStrikePrice": "2100000",
            "pScripRefKey": "NIFTY29SEP2621000.00CE",
            "pExpiryDate": "1474554600",
        },
        "expiry",
        date(2026, 9, 29),
    ),
    (
        "refkey without a date",
        "nse_fo",
        {
            "pSymbolName": "NIFTY",
            "pOptionType": "XX",
            "pScripRefKey": "NIFTY",
            "pExpiryDate": "1474554600",
        },
        "expiry",
        date(2026, 9, 22),
    ),
    (
        "lExpiryDate when pExpiryDate is empty",
        "nse_fo",
        {"pOptionType": "XX", "lExpiryDate": "1474554600"},
        "expiry",
        date(2026, 9, 22),
    ),
    (
        "MCX date is the UTC date",
        "mcx_fo",
        {"pOptionType": "XX", "pExpiryDate": "1790380799"},
        "expiry",
        date(2026, 9, 25),
    ),
]


@pytest.mark.parametrize(
    ("segment", "cells", "attribute", "value"),
    [q[1:] for q in QUIRKS],
    ids=[q[0] for q in QUIRKS],
)
def test_quirk(segment: str, cells: dict[str, str], attribute: str, value: object) -> None:
    assert getattr(one(segment, **cells), attribute) == value


def test_a_refkey_that_disagrees_with_the_epoch_is_counted() -> None:
    cells = {
        "pSymbol": "7",
        "pExchSeg": "nse_fo",
        "pTrdSymbol": "NIFTY26SEP21000CE",
        "pSymbolName": "NIFTY",
        "pOptionType": "CE",
        "dStrikePrice": "2100000",
        "pExpiryDate": "1474554600",
    }
    agree = row(**cells, pScripRefKey="NIFTY22SEP2621000.00CE")
    differ = row(**{**cells, "pSymbol": "8"}, pScripRefKey="NIFTY29SEP2621000.00CE")
    table = parse_scrip_text(f"{HEADER}\n{agree}\n{differ}\n", "nse_fo")
    assert table.expiry_mismatches == 1
    assert [i.expiry for i in table] == [date(2026, 9, 22), date(2026, 9, 29)]


def test_each_equity_series_is_its_own_instrument() -> None:
    rows = [
        row(pSymbol="1660", pGroup="EQ", pExchSeg="nse_cm", pTrdSymbol="ITC-EQ", pSymbolName="ITC"),
        row(pSymbol="5166", pGroup="BL", pExchSeg="nse_cm", pTrdSymbol="ITC-BL", pSymbolName="ITC"),
    ]
    table = parse_scrip_text(HEADER + "\n" + "\n".join(rows) + "\n", "nse_cm")
    itc_eq, itc_bl = table.get("ITC-EQ"), table.get("itc-bl")
    assert itc_eq is not None
    assert itc_bl is not None
    assert (itc_eq.token, itc_bl.token) == ("1660", "5166")
    assert table.equity("ITC") is itc_eq
    assert table.equity("ITC", series="BL") is itc_bl
    assert table.equity("ITC", series="BE") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        (HEADER + "\n", "header and no rows"),
        (HEADER, "header and no rows"),
        ("a,b,c\n1,2,3\n", "lacks pSymbol"),
        (
            HEADER + "\n" + row(pSymbol="1", pExchSeg="nse_cm", pTrdSymbol="A-EQ") + "\n1,2\n",
            "line 3 has 2 fields, the header has 78",
        ),
        (HEADER + "\n" + row(pSymbol="1", pExchSeg="nse_cm", pTrdSymbol="A-EQ")[:-3], "line 2 has"),
        (HEADER + "\n" + row(pSymbol="1", pExchSeg="nse_cm", pTrdSymbol="A-EQ"), "truncated"),
        (
            HEADER + "\n" + row(pSymbol="", pExchSeg="nse_cm", pTrdSymbol="A-EQ") + "\n",
            "line 2: no pSymbol",
        ),
        (
            HEADER
            + "\n"
            + row(pSymbol="1", pExchSeg="nse_cm", pTrdSymbol="A", dTickSize="x")
            + "\n",
            "line 2: 'x' is not a number",
        ),
        (
            HEADER
            + "\n"
            + row(pSymbol="1", pExchSeg="nse_cm", pTrdSymbol="A", lLotSize="x")
            + "\n",
            "line 2: lLotSize 'x'",
        ),
        (
            HEADER
            + "\n"
            + row(
                pSymbol="1",
                pExchSeg="nse_fo",
                pTrdSymbol="A",
                pOptionType="CE",
                pExpiryDate="1474554600",
                dStrikePrice="-1",
            )
            + "\n",
            "option 'A' has no strike",
        ),
    ],
    ids=[
        "empty",
        "header-only",
        "header-only-no-newline",
        "not-a-scrip-file",
        "short-row",
        "cut-mid-row",
        "cut-before-newline",
        "no-token",
        "bad-tick",
        "bad-lot",
        "no-strike",
    ],
)
def test_an_unusable_file_is_refused_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(ScripFileError, match=message):
        parse_scrip(io.StringIO(text, newline=""), "nse_cm")


# --- lookups on a small table --------------------------------------------------------------


def _cash() -> str:
    rows = [
        ("1660", "EQ", "ITC-EQ", "ITC", "ITC LTD"),
        ("5166", "BL", "ITC-BL", "ITC", "ITC LTD"),
        ("9001", "EQ", "MITCON-EQ", "MITCON", "MITCON CONSULTANCY"),
        ("9002", "EQ", "ITCHOTELS-EQ", "ITCHOTELS", "ITC HOTELS LTD"),
        ("9003", "EQ", "RITCO-EQ", "RITCO", "RITCO LOGISTICS"),
        ("11536", "EQ", "TCS-EQ", "TCS", "TATA CONSULTANCY"),
    ]
    lines = [
        row(
            pSymbol=t,
            pGroup=g,
            pExchSeg="nse_cm",
            pTrdSymbol=ts,
            pSymbolName=s,
            pDesc=d,
            dTickSize="5",
        )
        for t, g, ts, s, d in rows
    ]
    return HEADER + "\n" + "\n".join(lines) + "\n"


def _fo() -> str:
    lines = []
    token = 100
    for day, refday in (("1474554600", "22SEP26"), ("1475159400", "29SEP26")):
        lines.append(
            row(
                pSymbol=str(token),
                pGroup="XX",
                pExchSeg="nse_fo",
                pInstType="FUTIDX",
                pSymbolName="NIFTY",
                pTrdSymbol=f"NIFTY{refday}FUT",
                pOptionType="XX",
                pExpiryDate=day,
                dStrikePrice="-1",
                lLotSize="75",
                dTickSize="10",
            )
        )
        token += 1
        for strike in (24000, 24050, 24100):
            for kind in ("CE", "PE"):
                lines.append(
                    row(
                        pSymbol=str(token),
                        pGroup="XX",
                        pExchSeg="nse_fo",
                        pInstType="OPTIDX",
                        pSymbolName="NIFTY",
                        pTrdSymbol=f"NIFTY{refday}{strike}{kind}",
                        pOptionType=kind,
                        pScripRefKey=f"NIFTY{refday}{strike}.00{kind}",
                        pExpiryDate=day,
                        dStrikePrice=str(strike * 100),
                        lLotSize="75",
                        dTickSize="5",
                    )
                )
                token += 1
    lines.append(
        row(
            pSymbol="999",
            pGroup="XX",
            pExchSeg="nse_fo",
            pInstType="OPTIDX",
            pSymbolName="BANKNIFTY",
            pTrdSymbol="BANKNIFTY26SEP52000CE",
            pOptionType="CE",
            pExpiryDate="1475159400",
            dStrikePrice="5.2e+06",
        )
    )
    return HEADER + "\n" + "\n".join(lines) + "\n"


def test_search_ranks_exact_symbol_eq_first_then_prefix_then_substring() -> None:
    table = parse_scrip_text(_cash(), "nse_cm")
    found = [i.trading_symbol for i in table.search("itc")]
    assert found[:3] == ["ITC-EQ", "ITC-BL", "ITCHOTELS-EQ"]
    assert set(found[3:]) == {"MITCON-EQ", "RITCO-EQ"}
    assert [i.trading_symbol for i in table.search("ITC-BL")][:1] == ["ITC-BL"]
    assert [i.trading_symbol for i in table.search("ITC", limit=1)] == ["ITC-EQ"]
    assert {i.trading_symbol for i in table.search("consultancy")} == {"MITCON-EQ", "TCS-EQ"}
    assert table.search("nothing-like-it") == []
    assert [i.trading_symbol for i in table.search("tata")] == ["TCS-EQ"]  # the last row
    assert table.search("ITC\nTCS") == []  # never a match across two instruments
    with pytest.raises(ValueError, match="text must be a non-empty str"):
        table.search("  ")
    with pytest.raises(ValueError, match="limit must be at least 1"):
        table.search("ITC", limit=0)


def test_exact_lookups_and_the_index_catalogue() -> None:
    table = parse_scrip_text(_cash(), "nse_cm")
    assert table.by_token("1660") is table.by_token(1660) is table.get("ITC-EQ")
    assert table.by_token("0") is None
    assert table.get("NOPE") is None
    nifty = table.get("Nifty 50")
    assert nifty is not None
    assert nifty.is_index
    assert nifty.neo_symbol == "nse_cm|Nifty 50"
    assert index_instrument("nifty") is index_instrument("Nifty 50") is nifty
    assert index_instrument("SENSEX").segment == "bse_cm"
    assert {i.token for i in INDICES} >= {"Nifty 50", "Nifty Bank", "SENSEX"}
    with pytest.raises(ValueError, match="index 'VIXX' is not in the catalogue"):
        index_instrument("VIXX")
    assert len(table) == 6 + 3  # the nse_cm indices are added to the cash table
    assert "nse_cm" in repr(table)


def test_derivative_lookups() -> None:
    table = parse_scrip_text(_fo(), "nse_fo")
    first, second = date(2026, 9, 22), date(2026, 9, 29)
    assert table.expiries("NIFTY") == [first, second]
    assert table.expiries("nifty", kind="futures") == [first, second]
    assert table.expiries("BANKNIFTY", kind="options") == [second]
    assert table.expiries("NONE") == []
    call = table.option("NIFTY", first, 24050, "ce")
    assert call is not None
    assert call.trading_symbol == "NIFTY22SEP2624050CE"
    assert table.option("NIFTY", first, Decimal("24050.00"), "CE") is call
    assert table.option("NIFTY", first, "24050", "CE") is call
    assert table.option("NIFTY", first, 24075, "CE") is None
    assert table.option("BANKNIFTY", second, 52000, "CE") is not None
    with pytest.raises(ValueError, match="option_type 'FUT' is not an option type"):
        table.option("NIFTY", first, 24050, "FUT")
    with pytest.raises(ValueError, match="strike 'x' is not a price"):
        table.option("NIFTY", first, "x", "CE")
    with pytest.raises(TypeError, match=re.escape("expiry must be a datetime.date")):
        table.option("NIFTY", "2026-09-22", 24050, "CE")  # type: ignore[arg-type]
    futures = table.futures("NIFTY")
    assert [f.expiry for f in futures] == [first, second]
    assert all(f.is_future and f.strike is None for f in futures)
    chain = table.option_chain("NIFTY", first)
    assert [c.strike for c in chain] == [Decimal(24000), Decimal(24050), Decimal(24100)]
    assert all(c.call and c.put and c.call.option_type == "CE" for c in chain)
    assert table.option_chain("NIFTY", date(2027, 1, 1)) == []


def test_search_scrip_keeps_the_sdk_keywords_typed_and_exact() -> None:
    table = parse_scrip_text(_fo(), "nse_fo")
    nifty = table.search_scrip("nifty")
    assert {i.symbol for i in nifty} == {"NIFTY"}  # not BANKNIFTY: exact symbol first
    assert [i.strike for i in nifty][:3] == [None, None, Decimal(24000)]  # futures first
    assert {i.symbol for i in table.search_scrip("BANK")} == {"BANKNIFTY"}  # prefix
    assert {i.symbol for i in table.search_scrip("ANKNIF")} == {"BANKNIFTY"}  # substring
    calls = table.search_scrip("NIFTY", expiry="22SEP2026", option_type="CE")
    assert [c.strike for c in calls] == [Decimal(24000), Decimal(24050), Decimal(24100)]
    futs = table.search_scrip("NIFTY", option_type="FUT")
    assert len(futs) == 2
    assert table.search_scrip("NIFTY", option_type="xx") == futs
    both = table.search_scrip("NIFTY", option_type="CE,PE", strike_price="24050")
    assert {(i.option_type, i.expiry) for i in both} == {
        ("CE", date(2026, 9, 22)),
        ("PE", date(2026, 9, 22)),
        ("CE", date(2026, 9, 29)),
        ("PE", date(2026, 9, 29)),
    }
    assert len(table.search_scrip("NIFTY", strike_price="24000-24050")) == 8
    assert len(table.search_scrip("NIFTY", strike_price=">24050.5")) == 4
    assert len(table.search_scrip("NIFTY", strike_price="<24000")) == 4
    ranged = table.search_scrip("NIFTY", expiry="23SEP2026-30SEP2026", option_type="PE")
    assert {i.expiry for i in ranged} == {date(2026, 9, 29)}
    assert table.search_scrip("NIFTY", expiry="01JAN2027") == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"option_type": "CALL"}, "option_type 'CALL': 'CALL' is not CE, PE or FUT"),
        ({"expiry": "2026/09/22"}, "expiry .2026/09/22. is not a date as DDMMMYYYY"),
        ({"expiry": "22SEP2026-29SEP2026-1"}, "is not DDMMMYYYY or DDMMMYYYY-DDMMMYYYY"),
        ({"expiry": "29SEP2026-22SEP2026"}, "the first date is after the second"),
        ({"strike_price": "abc"}, "strike_price 'abc' is not a positive price"),
        ({"strike_price": "0"}, "not a positive price"),
        ({"strike_price": "200-100"}, "the minimum strike is above the maximum"),
        ({"strike_price": "1-2-3"}, "is not a price or a range"),
    ],
)
def test_search_scrip_refuses_bad_input_by_name(kwargs: dict[str, str], message: str) -> None:
    table = parse_scrip_text(_fo(), "nse_fo")
    with pytest.raises(ValueError, match=message):
        table.search_scrip("NIFTY", **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("alias", "segment"),
    [
        ("NSE", "nse_cm"),
        ("nse", "nse_cm"),
        ("NFO", "nse_fo"),
        ("nfo", "nse_fo"),
        ("BSE", "bse_cm"),
        ("BFO", "bse_fo"),
        ("MCX", "mcx_fo"),
        ("mcx", "mcx_fo"),
        ("nse_fo", "nse_fo"),
        ("cde_fo", "cde_fo"),
        (" NSE_CM ", "nse_cm"),
    ],
)
def test_segment_aliases_are_the_sdks(alias: str, segment: str) -> None:
    assert canonical_segment(alias) == segment


@pytest.mark.parametrize("bad", ["nse_xx", "", None, 3])
def test_an_unknown_segment_is_named(bad: object) -> None:
    with pytest.raises(ValueError, match=f"segment {bad!r} is not a scrip-master segment"):
        canonical_segment(bad)


def test_wire_form_of_an_instrument_or_string() -> None:
    inst = index_instrument("Nifty Bank")
    assert wire_instrument(inst) == ("nse_cm", "Nifty Bank")
    assert wire_instrument("nse_fo|56526") == ("nse_fo", "56526")
    with pytest.raises(ValueError, match=re.escape("'56526' is not 'segment|token'")):
        wire_instrument("56526")
    with pytest.raises(TypeError, match=re.escape("must be an aioneo.Instrument or a str")):
        wire_instrument(56526)


def test_the_trading_day_is_the_ist_date() -> None:
    assert trading_day(1_790_000_000.0) == date(2026, 9, 21)  # 19:43 IST
    assert trading_day(1_790_020_000.0) == date(2026, 9, 22)  # 01:16 IST, still 21st in UTC


def test_instruments_are_frozen_and_hashable() -> None:
    inst = index_instrument("Nifty 50")
    with pytest.raises(AttributeError):
        inst.token = "x"  # type: ignore[misc]
    assert {inst: 1}[index_instrument("NIFTY")] == 1


def test_the_fallback_order_of_cached_day_files() -> None:
    names = [
        "nse_fo_2026-09-21.csv",
        "nse_fo_2026-09-18.csv",
        "nse_fo_2026-09-22.csv",  # the day itself: not a fallback
        "nse_fo_2026-09-23.csv",  # later: not a fallback
        "nse_cm_2026-09-21.csv",  # another segment
        ".nse_fo_2026-09-20.csv.1.ab.part",  # unfinished
        "nse_fo_latest.csv",
        "nse_fo.lock",
    ]
    assert earlier_cache_files(names, "nse_fo", date(2026, 9, 22)) == [
        (date(2026, 9, 21), "nse_fo_2026-09-21.csv"),
        (date(2026, 9, 18), "nse_fo_2026-09-18.csv"),
    ]
    assert cache_file_name("nse_fo", date(2026, 9, 22)) == "nse_fo_2026-09-22.csv"


def test_threads_searching_a_fresh_table_agree() -> None:
    from concurrent.futures import ThreadPoolExecutor

    table = parse_scrip_text(_cash(), "nse_cm")
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: [i.token for i in table.search("TC")], range(64)))
    assert all(r == results[0] for r in results)
    assert set(results[0]) >= {"1660", "9001", "11536"}


def test_request_builders_take_instruments() -> None:
    from aioneo._core import _requests as requests
    from aioneo._core._missing import missing_instruments

    table = parse_scrip_text(_cash(), "nse_cm")
    itc = table.get("ITC-EQ")
    assert itc is not None
    nifty = index_instrument("Nifty 50")
    (spec,) = requests.quotes([itc, nifty, "nse_cm|11536"])
    assert spec.path.endswith("nse_cm|1660,nse_cm|Nifty%2050,nse_cm|11536/all")
    assert missing_instruments([itc, nifty], []) == ("nse_cm|1660", "nse_cm|Nifty 50")
    order = requests.place_order(
        trading_symbol=itc,
        product="CNC",
        price="0",
        order_type="MKT",
        quantity=1,
        validity="DAY",
        transaction_type="B",
        tag="t-1",
    )
    assert order.jdata is not None
    assert (order.jdata["ts"], order.jdata["es"]) == ("ITC-EQ", "nse_cm")
    margin = requests.margin_required(
        instrument_token=itc,
        exchange_segment="nse_cm",  # may be given: it must be the instrument's
        price="0",
        order_type="MKT",
        product="CNC",
        quantity=1,
        transaction_type="B",
    )
    assert margin.jdata is not None
    assert (margin.jdata["tok"], margin.jdata["exSeg"]) == ("1660", "nse_cm")
    with pytest.raises(ValueError, match="exchange_segment 'bse_cm' is not the segment of"):
        requests.margin_required(
            instrument_token=itc,
            exchange_segment="bse_cm",
            price="0",
            order_type="MKT",
            product="CNC",
            quantity=1,
            transaction_type="B",
        )
