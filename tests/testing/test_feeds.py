"""The emulator's feeds under faults, controls and bad input, over loopback, both backends.

Driven with the ``websockets`` client directly (the SDK's clients hide close codes and
error frames). Every test bounds its waits; none sleeps to measure.
"""

from __future__ import annotations

import asyncio
import json
import logging
import struct
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from emulator_support import FakeClock, TradeSession, jdata, login, order, session_headers
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from aioneo.testing import Emulator, EmulatorConfig, EmulatorServer
from aioneo.testing import _feeds as feeds_module

pytestmark = pytest.mark.timeout(30)

WAIT = 5.0


@pytest.fixture(params=["uvicorn", "builtin"])
def server(request: pytest.FixtureRequest) -> Iterator[EmulatorServer]:
    emulator = Emulator(EmulatorConfig(rate_limit=None), clock=FakeClock())
    with EmulatorServer(emulator, backend=request.param) as running:
        yield running


@pytest.fixture
async def session(server: EmulatorServer) -> TradeSession:
    async with httpx.AsyncClient() as http:
        return await login(http, server.emulator)


def auth_frame(session: TradeSession, emu: Emulator, **changes: object) -> str:
    frame: dict[str, object] = {
        "user": emu.credentials.ucc,
        "auth": session.sid,
        "format": "native_batch",
        "source": "NEOTRADEAPI",
        "platform": "Web",
        "version": "1.2.3",
        "sdk_version": 2,
        "sdk_date": "2026-08-07T09:41:17.667Z",
        "conn_req_time": 0,
        "sessionValidation": False,
    }
    frame.update(changes)
    return json.dumps(frame)


async def recv_json(ws: ClientConnection) -> dict[str, Any]:
    while True:
        frame = await asyncio.wait_for(ws.recv(), WAIT)
        if isinstance(frame, str):
            data = json.loads(frame)
            assert isinstance(data, dict)
            return data


async def recv_binary(ws: ClientConnection, *, within: float = WAIT) -> bytes:
    while True:
        frame = await asyncio.wait_for(ws.recv(), within)
        if isinstance(frame, bytes):
            return frame


async def closed_with(ws: ClientConnection) -> tuple[int, str]:
    async def drain() -> None:
        while True:
            await asyncio.wait_for(ws.recv(), WAIT)

    with pytest.raises(ConnectionClosed) as closed:
        await drain()
    rcvd = closed.value.rcvd
    assert rcvd is not None, "the server closed without a close frame"
    return rcvd.code, rcvd.reason


@pytest.fixture
async def market(server: EmulatorServer, session: TradeSession) -> AsyncIterator[ClientConnection]:
    async with connect(server.emulator.feed_urls()["market"]) as ws:
        await ws.send(auth_frame(session, server.emulator))
        reply = await recv_json(ws)
        assert reply["format"] == "native_batch"
        yield ws


def order_handshake(session: TradeSession) -> str:
    return f"{{type:cn,Authorization:{session.token},Sid:{session.sid},src:WEB}}"


async def wait_for(predicate: Any, what: str) -> None:
    for _ in range(500):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


# ---------------------------------------------------------------- advertising


async def test_config_service_and_validate_advertise_the_feeds(server: EmulatorServer) -> None:
    emu = server.emulator
    urls = emu.feed_urls()
    async with httpx.AsyncClient(base_url=server.url) as http:
        configs = (await http.get("/5config/config")).json()["data"]["configs"]
        session = await login(http, emu)
        assert session.base_url == emu.base_url
        emu.configure(advertise_feeds="none")
        assert (await http.get("/5config/config")).json()["data"]["configs"] == {}
    dc = emu.config.data_center
    assert configs[f"{dc}_broadcast_source"] == "sh"
    assert configs[f"{dc}_sh_broadcast_endpoint"] == server.url + "/apifeed"
    assert configs[f"{dc}_sh_interactive_endpoint"] == server.url + "/realtime"
    assert urls == {
        "market": "ws" + server.url[4:] + "/apifeed",
        "order": "ws" + server.url[4:] + "/realtime",
    }


async def test_validate_carries_feed_url_and_rt_url(server: EmulatorServer) -> None:
    emu = server.emulator
    emu.configure(advertise_feeds="validate")
    async with httpx.AsyncClient(base_url=server.url) as http:
        from emulator_support import login_request, validate_request

        view = (await http.send(login_request(emu))).json()["data"]
        trade = (await http.send(validate_request(emu, view))).json()["data"]
        assert (await http.get("/5config/config")).json()["data"]["configs"] == {}
    assert trade["feedUrl"] == server.url + "/apifeed"
    assert trade["rtUrl"] == server.url + "/realtime"


def test_in_process_emulators_have_no_feed_urls() -> None:
    with pytest.raises(RuntimeError, match="loopback only"):
        Emulator().feed_urls()


# ---------------------------------------------------------------- auth


async def test_refused_auth_then_accepted(server: EmulatorServer, session: TradeSession) -> None:
    emu = server.emulator
    emu.feeds.refuse_auth("market", times=1)
    url = emu.feed_urls()["market"]
    async with connect(url) as ws:
        await ws.send(auth_frame(session, emu))
        assert (await recv_json(ws))["format"] == "native_fallback"
    async with connect(url) as ws:
        await ws.send(auth_frame(session, emu))
        assert (await recv_json(ws))["format"] == "native_batch"
    counters = emu.feeds.counters()
    assert (counters["market_auths_refused"], counters["market_auths_accepted"]) == (1, 1)


@pytest.mark.parametrize(
    "changes",
    [{"auth": "not-a-sid"}, {"user": "SOMEONE"}, {"format": "native_fallback"}],
)
async def test_wrong_credentials_are_refused(
    server: EmulatorServer, session: TradeSession, changes: dict[str, object]
) -> None:
    emu = server.emulator
    async with connect(emu.feed_urls()["market"]) as ws:
        await ws.send(auth_frame(session, emu, **changes))
        assert (await recv_json(ws))["format"] == "native_fallback"


async def test_auth_failure_can_close_instead(
    server: EmulatorServer, session: TradeSession
) -> None:
    emu = server.emulator
    emu.configure(feed_auth_failure="close")
    emu.expire_sessions()
    async with connect(emu.feed_urls()["market"]) as ws:
        await ws.send(auth_frame(session, emu))
        assert await closed_with(ws) == (1008, "authentication failed")
    async with connect(emu.feed_urls()["order"]) as ws:
        await ws.send(order_handshake(session))
        nk = await recv_json(ws)
        assert nk == {"ak": "nk", "type": "cn", "msg": "Authentication Failed"}
        assert await closed_with(ws) == (1008, "authentication failed")


async def test_order_feed_handshake_ok_and_nk(
    server: EmulatorServer, session: TradeSession
) -> None:
    emu = server.emulator
    async with connect(emu.feed_urls()["order"]) as ws:
        await ws.send("{type:cn,Authorization:x,Sid:y,src:WEB}")
        assert await recv_json(ws) == {"ak": "nk", "type": "cn", "msg": "Authentication Failed"}
    async with connect(emu.feed_urls()["order"]) as ws:
        await ws.send("hello")
        assert (await recv_json(ws))["msg"] == "invalid request format"
        await ws.send(order_handshake(session))
        assert (await recv_json(ws))["ak"] == "ok"
        await ws.send("{type:hb}")  # the legacy heartbeat is accepted silently
        await ws.send("again?")
        assert (await recv_json(ws))["msg"] == "invalid request format"
    counters = emu.feeds.counters()
    assert counters["order_auths_refused"] == 1
    assert counters["order_auths_accepted"] == 1
    assert counters["order_heartbeats"] == 1


# ---------------------------------------------------------------- faults


@pytest.mark.parametrize(("kind", "code"), [("market", 1011), ("market", 4000), (None, 1001)])
async def test_drop_closes_with_the_chosen_code(
    server: EmulatorServer, session: TradeSession, kind: str | None, code: int
) -> None:
    emu = server.emulator
    urls = emu.feed_urls()
    async with connect(urls["market"]) as mws, connect(urls["order"]) as ows:
        await mws.send(auth_frame(session, emu))
        await recv_json(mws)
        await ows.send(order_handshake(session))
        await recv_json(ows)
        assert emu.feeds.connections() == 2
        assert emu.feeds.drop(kind, code=code, reason="scripted") == (1 if kind else 2)
        assert await closed_with(mws) == (code, "scripted")
        if kind is None:
            assert await closed_with(ows) == (code, "scripted")
        else:
            await ows.send("{type:hb}")  # still open
    await wait_for(lambda: emu.feeds.connections() == 0, "the server to forget both")


def test_drop_refuses_codes_that_cannot_be_sent() -> None:
    emu = Emulator()
    for code in (1005, 1006, 999, 5000, True):
        with pytest.raises(ValueError, match="code="):
            emu.feeds.drop(code=code)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="kind="):
        emu.feeds.drop("quotes")


async def test_stall_keeps_the_socket_open_and_sends_nothing(
    server: EmulatorServer, market: ClientConnection
) -> None:
    emu = server.emulator
    emu.feeds.stall("market")
    await market.send(
        json.dumps({"event": "subscribeScrips", "inputtoken": "nse_cm|11536", "ack_symbol": True})
    )
    ack = await recv_json(market)
    assert ack["trading_symbols"] == {"nse_cm|11536": "TCS-EQ"}  # acks still go out
    emu.set_price("nse_cm|11536", "3456")
    emu.feeds.tick()
    with pytest.raises(TimeoutError):
        await recv_binary(market, within=0.3)
    pong = await market.ping()
    await asyncio.wait_for(pong, WAIT)  # alive: the quiet market that is really dead
    emu.feeds.resume("market")
    emu.set_price("nse_cm|11536", "3457")
    emu.feeds.tick()
    assert len(await recv_binary(market)) == 144 + 32
    assert emu.feeds.counters()["packets_withheld"] >= 2


@pytest.mark.parametrize("close_on_expiry", [True, False])
async def test_expiry_closes_live_feeds_only_when_switched_on(
    server: EmulatorServer, session: TradeSession, close_on_expiry: bool
) -> None:
    emu = server.emulator
    emu.configure(feeds_close_on_expiry=close_on_expiry)
    urls = emu.feed_urls()
    async with connect(urls["market"]) as mws, connect(urls["order"]) as ows:
        await mws.send(auth_frame(session, emu))
        await recv_json(mws)
        await ows.send(order_handshake(session))
        await recv_json(ows)
        emu.expire_sessions()
        if close_on_expiry:
            assert await closed_with(mws) == (1008, "session expired")
            assert await closed_with(ows) == (1008, "session expired")
        else:
            await mws.send(
                json.dumps({"event": "subscribeScripsLite", "inputtoken": "nse_cm|1594"})
            )
            assert len(await recv_binary(mws)) == 54  # still streaming on the dead sid


async def test_logout_closes_the_session_feeds(
    server: EmulatorServer, session: TradeSession
) -> None:
    emu = server.emulator
    async with connect(emu.feed_urls()["order"]) as ws:
        await ws.send(order_handshake(session))
        await recv_json(ws)
        async with httpx.AsyncClient() as http:
            response = await http.post(
                session.base_url + "/apim/login/2.0/logout", headers=session_headers(session, emu)
            )
            assert response.status_code == 200
        emu.feeds.tick()
        assert await closed_with(ws) == (1008, "session logged_out")


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("frame", "needle"),
    [
        ("not json", "not a JSON object"),
        ("[1, 2]", "not a JSON object"),
        ('{"event": "subscribeEverything", "inputtoken": "nse_cm|1"}', "event="),
        ('{"event": "subscribeScrips"}', "inputtoken"),
        ('{"event": "subscribeScrips", "inputtoken": "11536"}', "inputtoken"),
    ],
)
async def test_bad_control_frames_get_an_error_frame_and_the_feed_goes_on(
    server: EmulatorServer,
    market: ClientConnection,
    frame: str,
    needle: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    await market.send(frame)
    error = await recv_json(market)
    assert error["message_code"] == 1120
    assert error["stat"] == "Not_Ok"
    assert needle in error["msg"]
    await market.send(json.dumps({"event": "subscribeScripsLite", "inputtoken": "nse_cm|1594"}))
    assert len(await recv_binary(market)) == 54
    assert not [r for r in caplog.records if r.exc_info], "a client's mistake logged a traceback"


async def test_binary_from_a_client_is_closed_with_1003(
    server: EmulatorServer, market: ClientConnection
) -> None:
    await market.send(b"\x00\x01garbage")
    assert (await closed_with(market))[0] == 1003


async def test_the_3000_cap_is_answered_with_an_error_and_nothing_subscribed(
    server: EmulatorServer, market: ClientConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(feeds_module, "MAX_SUBSCRIPTIONS", 2)
    await market.send(
        json.dumps(
            {"event": "subscribeScripsLite", "inputtoken": "nse_cm|1594", "ack_symbol": True}
        )
    )
    await recv_json(market)
    await recv_binary(market)
    tokens = "nse_cm|11536,nse_cm|2885"
    await market.send(
        json.dumps({"event": "subscribeScrips", "inputtoken": tokens, "ack_symbol": True})
    )
    error = await recv_json(market)
    assert error["message_code"] == 1121
    assert "at most 2" in error["msg"]
    emu = server.emulator
    emu.set_price("nse_cm|11536", "3456")
    emu.feeds.tick()
    with pytest.raises(TimeoutError):
        await recv_binary(market, within=0.3)


async def test_a_frame_of_a_garbage_client_does_not_disturb_another(
    server: EmulatorServer, session: TradeSession, market: ClientConnection
) -> None:
    emu = server.emulator
    async with connect(emu.feed_urls()["market"]) as rogue:
        await rogue.send(b"\xff" * 100)
        assert (await closed_with(rogue))[0] == 1003
    await market.send(json.dumps({"event": "subscribeScripsLite", "inputtoken": "nse_cm|1594"}))
    assert len(await recv_binary(market)) == 54


async def test_unknown_tokens_are_left_out_of_the_ack(
    server: EmulatorServer, market: ClientConnection
) -> None:
    await market.send(
        json.dumps(
            {
                "event": "subscribeScrips",
                "inputtoken": "nse_cm|11536,nse_cm|999999",
                "ack_symbol": True,
            }
        )
    )
    ack = await recv_json(market)
    assert ack == {"message_code": 1109, "trading_symbols": {"nse_cm|11536": "TCS-EQ"}}
    frame = await recv_binary(market)
    assert len(frame) == 176  # one market picture (144 + 2 depth rows), nothing for the unknown


# ---------------------------------------------------------------- the market moves


async def test_feed_and_rest_quote_agree_on_the_moving_ltp(
    server: EmulatorServer, session: TradeSession, market: ClientConnection
) -> None:
    emu = server.emulator
    clock = emu.clock
    assert isinstance(clock, FakeClock)
    await market.send(json.dumps({"event": "subscribeScripsLite", "inputtoken": "nse_cm|11536"}))
    first = await recv_binary(market)
    seen = {struct.unpack_from("<I", first, 9 + 12)[0]}
    for _ in range(5):
        clock.advance(5.0)  # ten walk steps at the default 2 ticks/s
        emu.feeds.tick()
        frame = await recv_binary(market)
        ltp = struct.unpack_from("<I", frame, 9 + 12)[0]
        seen.add(ltp)
        async with httpx.AsyncClient() as http:
            quote = await http.get(
                server.url + "/script-details/1.0/quotes/neosymbol/nse_cm|11536/ltp",
                headers={"Authorization": emu.credentials.consumer_key},
            )
        assert quote.status_code == 200
        assert round(float(quote.json()[0]["ltp"]) * 100) == ltp
    assert len(seen) > 1, "the price never moved"


async def test_a_resting_limit_order_fills_when_the_price_crosses_and_the_feed_says_so(
    server: EmulatorServer, session: TradeSession
) -> None:
    emu = server.emulator
    async with connect(emu.feed_urls()["order"]) as ws:
        await ws.send(order_handshake(session))
        assert (await recv_json(ws))["ak"] == "ok"
        snap = emu._book.snapshot("nse_cm", "11536", emu.clock())
        assert snap is not None
        limit = snap.ltp - 20 * snap.tick
        async with httpx.AsyncClient() as http:
            placed = await http.post(
                session.base_url + "/quick/order/rule/ms/place",
                headers=session_headers(session, emu),
                data=jdata(order("rest-1", pt="L", pr=f"{limit / 100:.2f}", ts="TCS-EQ")),
            )
        number = placed.json()["nOrdNo"]
        statuses = [(await recv_json(ws))["data"]["ordSt"] for _ in range(4)]
        assert statuses == ["put order req received", "validation pending", "open pending", "open"]
        emu.set_price("nse_cm|11536", f"{(limit - snap.tick) / 100:.2f}")
        fill = [await recv_json(ws) for _ in range(2)]
    assert [m["type"] for m in fill] == ["order", "position"]
    assert fill[0]["data"]["ordSt"] == "complete"
    assert fill[0]["data"]["nOrdNo"] == number
    assert fill[0]["data"]["avgPrc"] == f"{(limit - snap.tick) / 100:.2f}"
    assert fill[1]["data"]["flBuyQty"] == "1"


# ---------------------------------------------------------------- lifecycle


async def test_an_abrupt_disconnect_mid_stream_is_cleaned_up(
    server: EmulatorServer, session: TradeSession
) -> None:
    emu = server.emulator
    emu.configure(tick_rate=1000.0)
    for _ in range(5):
        ws = await connect(emu.feed_urls()["market"])
        await ws.send(auth_frame(session, emu))
        await recv_json(ws)
        tokens = "nse_cm|11536,nse_cm|1594,nse_cm|2885"
        await ws.send(json.dumps({"event": "subscribeDepth", "inputtoken": tokens}))
        await recv_binary(ws)
        assert ws.transport is not None
        ws.transport.abort()  # a reset, no close frame
        await ws.wait_closed()
    await wait_for(lambda: emu.feeds.connections() == 0, "the server to drop dead sockets")
    await wait_for(lambda: emu._book.live_instruments() == [], "subscriptions to be released")


async def test_stopping_the_server_closes_open_feeds_with_1001() -> None:
    emulator = Emulator(EmulatorConfig(rate_limit=None), clock=FakeClock())
    server = EmulatorServer(emulator, backend="builtin").start()
    try:
        async with httpx.AsyncClient() as http:
            session = await login(http, emulator)
        ws = await connect(emulator.feed_urls()["market"])
        await ws.send(auth_frame(session, emulator))
        await recv_json(ws)
        await asyncio.to_thread(server.stop)
        code, reason = await closed_with(ws)
        assert (code, reason) == (1001, "emulator stopping")
    finally:
        server.stop()


async def test_many_clients_connect_and_leave_at_once(
    server: EmulatorServer, session: TradeSession
) -> None:
    emu = server.emulator

    async def one(i: int) -> int:
        async with connect(emu.feed_urls()["market"]) as ws:
            await ws.send(auth_frame(session, emu))
            await recv_json(ws)
            await ws.send(json.dumps({"event": "subscribeScripsLite", "inputtoken": "nse_cm|1594"}))
            return len(await recv_binary(ws))

    sizes = await asyncio.gather(*(one(i) for i in range(40)))
    assert sizes == [54] * 40
    await wait_for(lambda: emu.feeds.connections() == 0, "all 40 to be forgotten")
    counters = emu.feeds.counters()
    assert counters["market_connections"] == 40
    assert counters["market_auths_accepted"] == 40


async def test_the_http_control_api_drives_the_feeds(
    server: EmulatorServer, market: ClientConnection
) -> None:
    async with httpx.AsyncClient(base_url=server.url + "/__emulator") as http:
        status = (await http.get("/feeds")).json()
        assert status["urls"] == server.emulator.feed_urls()
        assert status["counters"]["market_connections_open"] == 1
        bad = await http.post("/feeds/drop", json={"code": 1006})
        assert bad.status_code == 400
        assert "code=1006" in bad.json()["error"]
        assert (await http.post("/feeds/stall", json={"kind": "market"})).status_code == 200
        assert (await http.post("/feeds/resume", json={})).status_code == 200
        refused = await http.post("/feeds/refuse-auth", json={"kind": "order", "times": 2})
        assert refused.status_code == 200
        assert (await http.post("/feeds/allow-auth", json={"kind": "order"})).status_code == 200
        await market.send(json.dumps({"event": "subscribeExchange"}))
        assert len(await recv_binary(market)) == 16 * 5
        pushed = await http.post(
            "/feeds/market-status", json={"segment": "bse_cm", "status_code": 6}
        )
        assert pushed.json() == {"connections": 1}
        assert len(await recv_binary(market)) == 16
        unknown = await http.post("/feeds/nothing", json={})
        assert unknown.status_code == 404
        dropped = await http.post("/feeds/drop", json={"kind": "market", "code": 4321})
        assert dropped.json() == {"closed": 1}
    assert (await closed_with(market))[0] == 4321


def test_slow_reader_outbox_drops_oldest_data_and_keeps_control_frames() -> None:
    hub = Emulator()._feeds
    loop = asyncio.new_event_loop()
    try:
        conn = feeds_module._Conn(1, "market", loop, asyncio.Event())
        for i in range(feeds_module.MAX_OUTBOX + 10):
            with hub._lock:
                hub._push(conn, "bytes", bytes([i % 256]))
        hub._text(conn, {"message_code": 1109})
    finally:
        loop.close()
    data = [p for k, p in conn.outbox if k == "bytes"]
    assert len(data) == feeds_module.MAX_OUTBOX
    assert data[0] == bytes([10])  # the oldest ten went
    assert conn.outbox[-1][0] == "text"
    assert hub.controls.counters()["frames_dropped"] == 10
