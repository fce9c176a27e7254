"""Fidelity: the official SDK ``kotakneoapi`` 3.0.9, unchanged, runs against the emulator.

The SDK is driven through its own public methods; its hard-coded hosts
(``mis.kotaksecurities.com``, ``lapi.kotaksecurities.com``) reach the loopback emulator
through :class:`~aioneo.testing.RoutingTransport` (the SDK's ``transport=`` hook), and the
``baseUrl`` validate returns points at the emulator itself. Every request must be accepted
(recorded with HTTP 200) and every answer must have the shape ``kotak-neo-api.md``
section 3 documents.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

import pytest
from emulator_support import FakeClock

from aioneo.testing import Emulator, EmulatorConfig, EmulatorServer

# The SDK writes a log file into the working directory on import unless told not to.
# It is a dev dependency: a missing SDK fails this module instead of skipping it.
os.environ.setdefault("NEO_LOG_FILE_ENABLED", "false")
import neo_api_client

pytestmark = pytest.mark.sdk

ORDER_NO = re.compile(r"25122\d{10}")  # 15 digits, yymmdd of the emulator's clock first


@pytest.fixture(params=["uvicorn", "builtin"])
def server(
    request: pytest.FixtureRequest, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[EmulatorServer]:
    # The SDK caches holdings and scrip-master CSVs on disk; keep them out of $HOME.
    monkeypatch.setenv("NEO_HOLDINGS_CACHE_DIR", str(tmp_path / "holdings"))
    monkeypatch.setenv("NEO_SCRIP_CACHE_DIR", str(tmp_path / "scrip"))
    emulator = Emulator(EmulatorConfig(rate_limit=None), clock=FakeClock())
    with EmulatorServer(emulator, backend=request.param) as running:
        yield running


def sdk_client(server: EmulatorServer) -> Any:
    return neo_api_client.NeoAPI(
        consumer_key=server.emulator.credentials.consumer_key, transport=server.transport()
    )


def sdk_login(api: Any, emu: Emulator) -> None:
    creds = emu.credentials
    view = api.totp_login(mobile_number=creds.mobile_number, ucc=creds.ucc, totp=emu.totp())
    assert view["data"]["kType"] == "View"
    trade = api.totp_validate(mpin=creds.mpin)
    assert trade["data"]["kType"] == "Trade"


def test_the_official_sdk_runs_every_rest_method_against_the_emulator(
    server: EmulatorServer,
) -> None:
    emu = server.emulator
    api = sdk_client(server)
    creds = emu.credentials

    # Login steps (login host).
    view = api.totp_login(mobile_number=creds.mobile_number, ucc=creds.ucc, totp=emu.totp())
    assert {"token", "sid", "rid", "ucc", "greetingName", "kType", "status", "dataCenter"} <= set(
        view["data"]
    )
    trade = api.totp_validate(mpin=creds.mpin)["data"]
    assert trade["baseUrl"] == server.base_url
    assert api.configuration.base_url == server.base_url
    assert api.configuration.edit_token == trade["token"]

    # Orders: a resting limit order is modified and cancelled; a market order completes.
    placed = api.place_order(
        exchange_segment="nse_cm",
        product="CNC",
        price="1",
        order_type="L",
        quantity="2",
        validity="DAY",
        trading_symbol="TCS-EQ",
        transaction_type="B",
        tag="fidelity-limit",
    )
    assert placed["stat"] == "Ok"
    assert placed["stCode"] == 200
    resting = placed["nOrdNo"]
    assert ORDER_NO.fullmatch(resting)
    modified = api.modify_order(
        order_id=resting, price="2", order_type="L", quantity="3", validity="DAY"
    )
    assert (modified["stat"], modified["nOrdNo"], modified["stCode"]) == ("Ok", resting, 200)
    one = api.order_report(resting)
    assert one["stat"] == "Ok"
    assert [row["nOrdNo"] for row in one["data"]] == [resting]
    assert one["data"][0]["ordSt"] == "open"
    assert one["data"][0]["prc"] == "2.00"
    cancelled = api.cancel_order(resting)
    assert (cancelled["stat"], cancelled["stCode"]) == ("Ok", 200)

    market = api.place_order(
        exchange_segment="nse_cm",
        product="CNC",
        price="0",
        order_type="MKT",
        quantity="1",
        validity="DAY",
        trading_symbol="TCS-EQ",
        transaction_type="B",
        tag="fidelity-market",
    )
    done = market["nOrdNo"]
    for late in (
        api.cancel_order(done),
        api.modify_order(order_id=done, price="0", order_type="MKT", quantity="1", validity="DAY"),
    ):
        assert late == {
            "stCode": 1021,
            "errMsg": "order is completed",
            "stat": "please provide valid order number",
            "status_code": 400,  # added by the SDK
        }

    # Reports.
    book = api.order_report()
    assert (book["stat"], book["stCode"]) == ("Ok", 200)
    rows = {row["nOrdNo"]: row for row in book["data"]}
    assert rows[resting]["ordSt"] == "cancelled"
    assert rows[done]["ordSt"] == "complete"
    assert rows[done]["GuiOrdId"] == "fidelity-market"
    assert isinstance(rows[done]["qty"], int)
    assert isinstance(rows[done]["avgPrc"], str)
    history = api.order_history(resting)["data"]  # the SDK wraps the raw body
    assert (history["stat"], history["stCode"]) == ("Ok", 200)
    assert [h["ordSt"] for h in history["data"]][:2] == ["cancelled", "open"]
    assert history["data"][-1]["ordSt"] == "put order req received"
    trades = api.trade_report()
    assert (trades["stat"], trades["stCode"]) == ("ok", 200)
    assert [(t["nOrdNo"], t["rptTp"], t["GuiOrdId"]) for t in trades["data"]] == [
        (done, "fill", "fidelity-market")
    ]

    # Portfolio, limits, margin.
    positions = api.positions()
    assert (positions["stat"], positions["stCode"]) == ("ok", 200)
    position = next(p for p in positions["data"] if p["trdSym"] == "TCS-EQ")
    assert position["flBuyQty"] == "1"
    assert isinstance(position["brdLtQty"], int)
    holdings = api.holdings()
    assert set(holdings) == {"data"}
    assert isinstance(holdings["data"][0]["averagePrice"], float)
    assert isinstance(holdings["data"][0]["quantity"], int)
    limits = api.limits()
    assert (limits["stat"], limits["stCode"]) == ("Ok", 200)
    assert all(isinstance(v, str) for k, v in limits.items() if k != "stCode")
    margin = api.margin_required(
        exchange_segment="nse_cm",
        price="100",
        order_type="L",
        product="CNC",
        quantity="1",
        instrument_token="11536",
        transaction_type="B",
    )["data"]
    assert (margin["stat"], margin["stCode"], margin["rmsVldtd"]) == ("Ok", 200, "OK")
    assert re.fullmatch(r"\d+\.\d{6}", margin["reqdMrgn"])

    # Market data and the scrip master (consumer key only).
    paths = api.scrip_master()
    assert paths["baseFolder"].startswith(server.url)
    assert any(p.endswith("nse_cm-v1.csv") for p in paths["filesPaths"])
    assert api.scrip_master("nse_fo").endswith("/transformed/nse_fo.csv")
    found = api.search_scrip("nse_cm", "TCS")
    assert [row["pTrdSymbol"] for row in found] == ["TCS-EQ"]
    quotes = api.quotes(
        [
            {"exchange_segment": "nse_cm", "instrument_token": "11536"},
            {"exchange_segment": "nse_cm", "instrument_token": "Nifty 50"},
        ]
    )
    assert isinstance(quotes, list)
    assert [q["exchange_token"] for q in quotes] == ["11536", "Nifty 50"]
    assert {"ltp", "ohlc", "depth"} <= set(quotes[0])
    expiries = api.expiries("nse_fo", "NIFTY")
    assert (expiries["exchange"], expiries["underlying"]) == ("nse_fo", "NIFTY")
    assert expiries["expiries"] == sorted(expiries["expiries"])
    chain = api.option_chain("nse_fo", "NIFTY", expiry=expiries["expiries"][0], count=10)
    assert set(chain["data"]) >= {"common_data", "call", "put"}
    assert chain["data"]["common_data"]["expiryDt"] == expiries["expiries"][0]
    candles = api.historical_data("nse_cm|11536", "D", "2025-12-01", "2025-12-26")
    assert (candles["status"], candles["interval"]) == ("success", "D")
    assert len(candles["data"]["candles"][0]) == 7
    ip = api.whatsmyip()
    assert (ip["stCode"], ip["status"], ip["data"][0]["ip"]) == (1000, "success", "127.0.0.1")

    # The SDK's logout is local: nothing goes over the wire.
    before = len(emu.requests)
    assert api.logout()["State"] == "OK"
    assert len(emu.requests) == before

    # The emulator accepted every request and saw every endpoint of section 3.
    records = emu.requests
    assert [r for r in records if r.status != 200] == []
    assert emu.counters.internal_errors == 0
    assert {r.endpoint for r in records} == {
        "login",
        "validate",
        "config",
        "client_ip",
        "place_order",
        "modify_order",
        "cancel_order",
        "order_book",
        "order_detail",
        "order_history",
        "trades",
        "positions",
        "holdings",
        "limits",
        "margin",
        "scrip_master",
        "scrip_file",
        "quotes",
        "expiries",
        "option_chain",
        "historical",
    }
    hosts = {r.endpoint: r.host for r in records}
    assert hosts["login"] == hosts["validate"] == hosts["client_ip"] == "mis.kotaksecurities.com"
    assert hosts["config"] == "lapi.kotaksecurities.com"
    assert hosts["positions"] == server.url.removeprefix("http://")
    orders = [r for r in records if r.endpoint == "place_order"]
    assert [r.jdata()["ig"] for r in orders] == ["fidelity-limit", "fidelity-market"]
    assert emu.counters.orders_by_tag == {"fidelity-limit": 1, "fidelity-market": 1}


def test_the_sdk_sees_the_900901_envelope_after_expiry(server: EmulatorServer) -> None:
    emu = server.emulator
    api = sdk_client(server)
    sdk_login(api, emu)
    assert api.positions()["stat"] == "ok"
    emu.expire_sessions()
    expected = {
        "code": "900901",
        "message": "Invalid Credentials",
        "description": (
            "Invalid JWT token. Make sure you have provided the correct security credentials"
        ),
    }
    assert api.positions() == expected
    assert api.order_report() == expected
    assert api.order_history("1")["data"] == expected  # wrapped by the SDK
    placed = api.place_order(
        exchange_segment="nse_cm",
        product="CNC",
        price="0",
        order_type="MKT",
        quantity="1",
        validity="DAY",
        trading_symbol="TCS-EQ",
        transaction_type="B",
        tag="after-expiry",
    )
    assert placed == expected
    assert emu.counters.orders_by_tag == {}


def test_the_sdk_surfaces_rate_limit_headers_on_market_data(server: EmulatorServer) -> None:
    emu = server.emulator
    emu.configure(rate_limit=1.0)
    api = sdk_client(server)
    assert api.expiries("nse_fo", "NIFTY")["underlying"] == "NIFTY"
    limited = api.expiries("nse_fo", "NIFTY")
    assert limited["code"] == "900800"
    assert limited["rateLimit"] == {
        "Retry-After": "1",
        "X-RateLimit-Limit": "1",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": "1",
    }
    assert emu.counters.rate_limited == 1


def test_the_sdk_reports_faults_the_way_the_api_notes_describe(server: EmulatorServer) -> None:
    emu = server.emulator
    api = sdk_client(server)
    sdk_login(api, emu)
    emu.inject_fault("positions", "http_502_html")
    assert type(api.positions()["Error"]).__name__ == "JSONDecodeError"
    emu.inject_fault("holdings", "http_503_empty")
    unexpected = api.holdings()
    assert (unexpected["Error"], unexpected["StatusCode"]) == ("Unexpected response format", 503)
    emu.inject_fault("limits", "drop")
    dropped = api.limits()  # the SDK returns {"error": ApiException(status 0, ...)}
    assert "Server disconnected without sending a response" in str(dropped["error"])
