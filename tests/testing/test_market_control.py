"""The moving market through the Emulator: set_price, push_tick, tick_rate, control routes.

In-process (no sockets) on a clock that moves only when told to, so every price is exact.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx
import pytest

from aioneo.testing import Emulator, EmulatorConfig
from aioneo.testing._control import ROUTES, handle_control
from tests.testing.emulator_support import FakeClock, jdata, login, order, session_headers

NIGHT = 1_767_718_800.0  # 2026-01-06 22:30 IST: the model prices are frozen


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NIGHT)


@pytest.fixture
def emu(clock: FakeClock) -> Emulator:
    return Emulator(EmulatorConfig(rate_limit=None), clock=clock, seed=4)


def control(emu: Emulator, method: str, path: str, body: object = None, query: str = "") -> Any:
    raw = b"" if body is None else json.dumps(body).encode()
    return handle_control(emu, method, "/__emulator" + path, query, raw)


async def rest_ltp(http: httpx.AsyncClient, emu: Emulator, symbol: str) -> str:
    response = await http.get(
        emu.base_url + f"/script-details/1.0/quotes/neosymbol/{symbol}/ltp",
        headers={"Authorization": emu.credentials.consumer_key},
    )
    assert response.status_code == 200, response.text
    return str(response.json()[0]["ltp"])


async def test_set_price_shows_in_rest_quotes_positions_and_fills(
    emu: Emulator, clock: FakeClock
) -> None:
    async with httpx.AsyncClient(transport=emu.transport()) as http:
        session = await login(http, emu)
        headers = session_headers(session, emu)
        placed = await http.post(
            emu.base_url + "/quick/order/rule/ms/place",
            headers=headers,
            data=jdata(order("buy-dip", pt="L", pr="3200.00", qt="2")),
        )
        assert placed.json()["stCode"] == 200, placed.text
        no = placed.json()["nOrdNo"]
        emu.configure(tick_rate=0)  # keep prices exactly where the test puts them
        emu.set_price("TCS-EQ", Decimal("3300.00"))
        assert await rest_ltp(http, emu, "nse_cm|11536") == "3300.00"
        assert [r["ordSt"] for r in emu.orders if r["nOrdNo"] == no] == ["open"]
        clock.advance(5)
        emu.push_tick("nse_cm|11536", "3199.95", qty=40)  # crosses the limit: fills there
        (row,) = [r for r in emu.orders if r["nOrdNo"] == no]
        assert (row["ordSt"], row["avgPrc"]) == ("complete", "3199.95")
        positions = await http.get(emu.base_url + "/portfolio/v2/positions", headers=headers)
        (pos,) = positions.json()["data"]
        assert (pos["flBuyQty"], pos["ltp"]) == ("2", "3199.95")
        snap = emu.market_snapshot("TCS-EQ")
        assert (snap.ltp, snap.ltq, snap.ltt) == (319_995, 40, int(NIGHT + 5))


def test_bad_input_is_named(emu: Emulator) -> None:
    with pytest.raises(ValueError, match="instrument='NOPE'"):
        emu.set_price("NOPE", "100")
    with pytest.raises(ValueError, match="price='abc'"):
        emu.set_price("TCS-EQ", "abc")
    with pytest.raises(ValueError, match="price=Decimal"):
        emu.set_price("TCS-EQ", Decimal("3450.001"))
    with pytest.raises(ValueError, match="circuit limits"):
        emu.set_price("TCS-EQ", "1.00")
    with pytest.raises(ValueError, match="qty=0"):
        emu.push_tick("TCS-EQ", "3450.00", qty=0)
    with pytest.raises(ValueError, match="tick_rate=-1"):
        emu.configure(tick_rate=-1)
    with pytest.raises(ValueError, match="tick_rate='fast'"):
        EmulatorConfig(tick_rate="fast")  # type: ignore[arg-type]
    assert emu.config.tick_rate == 2.0


def test_tick_rate_from_configure_drives_the_walk(emu: Emulator, clock: FakeClock) -> None:
    emu.set_price("Nifty 50", "24500.00")
    start = emu.market_snapshot("Nifty 50")
    emu.configure(tick_rate=0)
    clock.advance(60)
    assert emu.market_snapshot("Nifty 50") == start
    emu.configure(tick_rate=500.0)
    clock.advance(1)
    moved = emu.market_snapshot("Nifty 50")
    assert moved.ltt == int(NIGHT + 61)
    assert abs(moved.ltp - start.ltp) <= 500 * moved.tick
    assert control(emu, "GET", "/config")[1]["tick_rate"] == 500.0


def test_control_routes(emu: Emulator, clock: FakeClock) -> None:
    for route in (
        "GET /__emulator/market",
        "GET /__emulator/market/snapshot",
        "POST /__emulator/market/price",
        "POST /__emulator/market/tick",
    ):
        assert route in ROUTES
    assert control(emu, "GET", "/market") == (200, {"tick_rate": 2.0, "live": []})
    status, body = control(emu, "POST", "/market/price", {"instrument": "TCS-EQ", "price": 3400})
    assert status == 200, body
    assert (body["ltp"], body["trading_symbol"], len(body["depth"]["buy"])) == (
        340_000,
        "TCS-EQ",
        5,
    )
    assert control(emu, "GET", "/market")[1]["live"] == ["nse_cm|11536"]
    status, body = control(
        emu, "POST", "/market/tick", {"instrument": "nse_cm|11536", "price": "3400.05", "qty": 9}
    )
    assert (status, body["ltp"], body["ltq"]) == (200, 340_005, 9)
    status, body = control(emu, "GET", "/market/snapshot", query="instrument=nse_cm%7C11536")
    assert (status, body["ltp"]) == (200, 340_005)
    control(emu, "POST", "/config", {"tick_rate": 0})
    assert emu.config.tick_rate == 0

    bad = [
        ("POST", "/market/price", {"instrument": "TCS-EQ"}, "'instrument' and 'price'"),
        ("POST", "/market/price", {"instrument": "TCS-EQ", "price": "x"}, "price='x'"),
        ("POST", "/market/price", {"instrument": "X", "price": "1"}, "instrument='X'"),
        ("POST", "/market/price", {"instrument": "TCS-EQ", "price": 1, "qty": 1}, "'qty'"),
        ("POST", "/market/tick", {"instrument": "TCS-EQ", "price": "3400", "qty": -2}, "qty=-2"),
        ("GET", "/market/snapshot", None, "?instrument="),
    ]
    for method, path, payload, message in bad:
        status, body = control(emu, method, path, payload)
        assert status == 400, (path, payload, body)
        assert message in body["error"], (message, body)
    assert control(emu, "GET", "/market/price")[0] == 405
    assert control(emu, "POST", "/market")[0] == 405
    assert control(emu, "GET", "/market/nope")[0] == 404


async def test_market_routes_over_the_app(emu: Emulator) -> None:
    async with httpx.AsyncClient(transport=emu.transport()) as http:
        origin = "http://gw.neo.test/__emulator"
        response = await http.post(
            origin + "/market/price", json={"instrument": "nse_cm|Nifty 50", "price": "24000.05"}
        )
        assert response.status_code == 200, response.text
        assert response.json()["ltp"] == 2_400_005
        response = await http.get(origin + "/market")
        assert response.json()["live"] == ["nse_cm|Nifty 50"]
        response = await http.post(origin + "/market/price", json={"instrument": "x", "price": 1})
        assert response.status_code == 400
        assert "instrument='x'" in response.json()["error"]
