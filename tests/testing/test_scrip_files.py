"""The emulator's scrip-master files: real header and sizes, values the market agrees with."""

from __future__ import annotations

import functools
import random
from collections import Counter
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from aioneo._core._scrip import SCRIP_HEADER, InstrumentTable, ScripFileError, parse_scrip_text
from aioneo.testing import Emulator
from aioneo.testing._scrip_files import scrip_file, shape
from aioneo.testing._trading_market import IST_OFFSET, Market, day_date

# A Tuesday in session: 2026-01-06 11:00 IST.
NOW = datetime(2026, 1, 6, 5, 30).timestamp() + 0.0
MARKET = Market(seed=7)


@functools.cache
def table(segment: str) -> InstrumentTable:
    text = MARKET.scrip_csv(segment, NOW)
    assert text is not None
    return parse_scrip_text(text, segment)


def test_every_file_has_kotaks_header_and_parses_whole() -> None:
    for segment in ("nse_cm", "bse_cm", "nse_fo", "bse_fo", "mcx_fo"):
        text = MARKET.scrip_csv(segment, NOW)
        assert text is not None
        assert text.split("\n", 1)[0] == ",".join(SCRIP_HEADER)
        parsed = table(segment)
        assert len(parsed) > 100, segment
        assert parsed.expiry_mismatches == 0, segment
    assert MARKET.scrip_csv("nse_xx", NOW) is None


def test_sizes_are_those_of_the_real_files() -> None:
    cash = table("nse_cm")
    series = Counter(i.series for i in cash)
    assert 7_500 <= len(cash) <= 8_500
    assert {"EQ", "BL", "SG", "MF", "BE"} <= set(series)
    fo = table("nse_fo")
    assert len(fo) >= 100_000
    underlyings = {i.symbol for i in fo}
    assert len(underlyings) >= 200
    assert sum(1 for i in fo if i.is_future) >= 600
    assert len({i.token for i in fo}) == len(fo)  # tokens are unique
    assert len({i.trading_symbol for i in fo}) == len(fo)
    for name in ("NIFTY", "BANKNIFTY", "RELIANCE", "FINNIFTY"):
        assert len(fo.expiries(name)) >= 3, name


def test_every_instrument_in_a_sample_is_quotable_with_the_files_values() -> None:
    rng = random.Random(3)
    for segment in ("nse_fo", "nse_cm", "bse_fo", "mcx_fo", "bse_cm"):
        parsed = table(segment)
        quotable = [i for i in parsed if i.series not in ("SG", "MF") and not i.is_index]
        for inst in rng.sample(quotable, min(400, len(quotable))):
            market = MARKET.by_token(segment, inst.token, NOW)
            assert market is not None, inst
            assert market.trd_sym == inst.trading_symbol
            assert MARKET.by_symbol(segment, inst.trading_symbol, NOW) == market
            assert market.lot == inst.lot_size, inst
            assert Decimal(market.tick) / 100 == inst.tick_size, inst
            if inst.expiry is not None:
                assert day_date(market.expiry) == inst.expiry, inst
            if inst.is_option:
                assert Decimal(market.strike) == inst.strike
            quote = MARKET.quote(market, NOW)
            assert quote["exchange_token"] == inst.token


def test_strikes_are_around_the_price_of_the_underlying() -> None:
    fo = table("nse_fo")
    for name in ("NIFTY", "FINNIFTY", fo.futures(fo.instruments[-1].symbol)[0].symbol):
        expiry = fo.expiries(name, kind="options")[0]
        chain = fo.option_chain(name, expiry)
        assert len(chain) == 81
        future = fo.futures(name)[0]
        spot = Decimal(MARKET.ltp(MARKET.by_token("nse_fo", future.token, NOW), NOW)) / 100
        low, high = chain[0].strike, chain[-1].strike
        assert low < spot < high, name
        assert all(c.call is not None and c.put is not None for c in chain)


def test_the_itc_substring_trap_is_there_for_the_sdk_to_fall_into() -> None:
    cash = table("nse_cm")
    assert [i.trading_symbol for i in cash.search("ITC")][:2] == ["ITC-EQ", "ITC-BL"]
    with_itc = [i.symbol for i in cash if "ITC" in i.symbol]
    assert {"MITCON", "RITCO", "KILITCH", "ITC"} == set(with_itc)
    assert [i.trading_symbol for i in cash if "TCS" in i.symbol] == ["TCS-EQ"]


def test_mcx_expiries_are_written_at_2359_utc() -> None:
    mcx = table("mcx_fo")
    future = mcx.futures("CRUDEOIL")[0]
    text = MARKET.scrip_csv("mcx_fo", NOW)
    assert text is not None
    line = next(x for x in text.splitlines() if x.startswith(future.token + ","))
    seconds = int(line.split(",")[SCRIP_HEADER.index("pExpiryDate")])
    assert seconds % 86_400 == 86_399  # 23:59:59 UTC: in IST that is the next day
    assert day_date((seconds + IST_OFFSET) // 86_400) != future.expiry


def test_files_are_generated_once_per_day() -> None:
    first = scrip_file(MARKET, "nse_fo", NOW)
    assert scrip_file(Market(seed=99), "nse_fo", NOW + 60) is first  # any seed, same day
    tomorrow = scrip_file(MARKET, "nse_fo", NOW + 86_400)
    assert tomorrow is not first


def test_shapes_header_only_and_truncated() -> None:
    text = MARKET.scrip_csv("nse_cm", NOW)
    assert text is not None
    assert shape(text, "full") is text
    assert shape(text, "header_only") == ",".join(SCRIP_HEADER) + "\n"
    cut = shape(text, "truncated")
    assert len(text) // 3 < len(cut) < len(text)
    assert not cut.endswith("\n")
    with pytest.raises(ScripFileError, match="header and no rows"):
        parse_scrip_text(shape(text, "header_only"), "nse_cm")
    with pytest.raises(ScripFileError, match="fields, the header has 78"):
        parse_scrip_text(cut, "nse_cm")
    with pytest.raises(ValueError, match="mode 'half' is not one of full, header_only"):
        shape(text, "half")


async def test_the_switches_over_python_and_the_control_api() -> None:
    emu = Emulator(clock=lambda: NOW)
    transport = httpx.ASGITransport(app=emu)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw.neo.test") as http:
        url = "/wso2-scripmaster/v1/prod/2026-01-06/transformed/nse_fo.csv"
        cash_url = "/wso2-scripmaster/v1/prod/2026-01-06/transformed-v1/nse_cm-v1.csv"
        full = (await http.get(url)).text
        assert len(full.splitlines()) > 100_000
        emu.set_scrip_file("header_only", segment="nse_fo")
        assert (await http.get(url)).text == ",".join(SCRIP_HEADER) + "\n"
        assert (await http.get(cash_url)).text.count("\n") > 7_000  # other segments whole
        answer = await http.post(
            "/__emulator/scrip-files", json={"mode": "truncated", "segment": None}
        )
        assert answer.status_code == 200
        cut = await http.get(cash_url)
        assert cut.headers["content-length"] == str(len(cut.content))
        assert not cut.text.endswith("\n")
        bad = await http.post("/__emulator/scrip-files", json={"mode": "half"})
        assert bad.status_code == 400
        assert "mode='half' is not allowed" in bad.json()["error"]
        bad = await http.post("/__emulator/scrip-files", json={"mode": "full", "segment": "nse_xx"})
        assert "segment='nse_xx' is not allowed" in bad.json()["error"]
        assert (await http.post("/__emulator/scrip-files", json={})).status_code == 400
        emu.set_scrip_file("full")
        assert (await http.get(url)).text == full


@pytest.mark.parametrize(
    ("segment", "symbol", "option_type"),
    [("nse_fo", "RELIANCE", "CE"), ("bse_fo", "SENSEX", "PE"), ("mcx_fo", "CRUDEOIL", "FUT")],
)
def test_the_official_sdk_reads_the_same_contracts_and_dates(
    segment: str,
    symbol: str,
    option_type: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The SDK's own search_scrip on the emulator's file: the rows and expiry dates it
    reads (with its 1980 shift for NSE, Unix time for BSE and MCX) are the parser's."""
    neo_api = pytest.importorskip("neo_api_client")
    text = MARKET.scrip_csv(segment, NOW)
    assert text is not None
    (tmp_path / f"{segment}_{date.today().isoformat()}.csv").write_text(text)
    monkeypatch.setenv("NEO_SCRIP_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("NEO_LOG_FILE_ENABLED", "false")
    sdk = neo_api.NeoAPI(consumer_key="not-used-the-file-is-cached", environment="prod")
    theirs = sdk.search_scrip(segment, symbol, option_type=option_type)
    assert isinstance(theirs, list), theirs
    ours = table(segment).search_scrip(symbol, option_type=option_type)
    assert len(ours) > 1
    sdk_rows = {r["pTrdSymbol"]: r["pExpiryDate"] for r in theirs}
    assert set(sdk_rows) == {i.trading_symbol for i in ours}
    for inst in ours:
        assert inst.expiry is not None
        assert sdk_rows[inst.trading_symbol] == inst.expiry.strftime("%d%b%Y"), inst
