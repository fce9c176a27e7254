"""Review of issue 11's feeds: each test pins one defect found by breaking them.

Each test failed on the commit that built the feeds and passes since its fix; the one
uvicorn-only oddity (a fragmented oversize message) is pinned as what the emulator promises.
Each bounds its run time; none needs a high tick rate except where it races the ticker.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import json
import os
import socket
import struct
import threading
import time
import warnings
from collections.abc import Iterator, MutableMapping
from typing import Any

import httpx
import pytest
from emulator_support import FakeClock, TradeSession, jdata, login, order, session_headers
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from aioneo.testing import Emulator, EmulatorConfig, EmulatorServer
from aioneo.testing import _feeds as feeds_module
from aioneo.testing import _feedwire as feedwire

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


def auth_frame(session: TradeSession, emu: Emulator) -> str:
    return json.dumps({"user": emu.credentials.ucc, "auth": session.sid, "format": "native_batch"})


async def recv_json(ws: ClientConnection) -> dict[str, Any]:
    while True:
        frame = await asyncio.wait_for(ws.recv(), WAIT)
        if isinstance(frame, str):
            data = json.loads(frame)
            assert isinstance(data, dict)
            return data


async def wait_for(predicate: Any, what: str, *, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


# ---------------------------------------------------------------- thread safety


def test_sent_can_be_read_from_another_thread_while_packets_go_out() -> None:
    emu = Emulator()
    hub = emu._feeds
    loop = asyncio.new_event_loop()
    conn = feeds_module._Conn(1, "market", loop, asyncio.Event())
    conn.authed = True
    hub._conns[conn.id] = conn  # what serve() does; the loop never runs (no socket needed)
    stop = threading.Event()

    def ticker() -> None:  # what the hub's loop thread does on every tick
        while not stop.is_set():
            hub._send_packets(conn, [("nse_cm", "11536", "scrips_lite")] * 50)
            with hub._lock:
                conn.outbox.clear()
                conn.data_frames = 0

    thread = threading.Thread(target=ticker, daemon=True)
    thread.start()
    errors: list[BaseException] = []
    try:
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline and not errors:
            try:
                emu.feeds.sent(mode="depth")  # "every method is thread-safe"
            except RuntimeError as exc:
                errors.append(exc)
    finally:
        stop.set()
        thread.join(5)
        loop.close()
    assert errors == []


# ---------------------------------------------------------------- disconnect at accept


def _upgrade_then_reset(port: int, path: str) -> None:
    sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()  # RST right after the upgrade request: before the app's accept


def test_a_client_that_resets_during_the_handshake_is_forgotten() -> None:
    emulator = Emulator(EmulatorConfig(rate_limit=None))
    with EmulatorServer(emulator, backend="builtin") as server:
        port = int(server.url.rsplit(":", 1)[1])
        for _ in range(20):
            _upgrade_then_reset(port, "/apifeed")
        deadline = time.monotonic() + 5.0
        while emulator.feeds.counters()["market_connections"] < 20:
            assert time.monotonic() < deadline, "the server never saw the upgrades"
            time.sleep(0.01)
        while emulator.feeds.connections() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert emulator.feeds.connections() == 0


async def test_a_disconnect_raised_by_accept_leaves_no_connection_behind() -> None:
    emulator = Emulator()
    messages = [{"type": "websocket.connect"}]

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    async def send(message: MutableMapping[str, Any]) -> None:
        raise ConnectionResetError("the client went away")  # uvicorn: ClientDisconnected

    scope = {"type": "websocket", "path": "/apifeed"}
    # A failed accept is a quiet disconnect: the app returns, nothing is left behind.
    await asyncio.wait_for(emulator.app(scope, receive, send), WAIT)
    assert emulator.feeds.connections() == 0
    assert emulator.feeds.counters()["market_connections"] == 1


# ---------------------------------------------------------------- bounds


def test_a_slow_order_feed_reader_does_not_grow_memory_without_bound() -> None:
    hub = Emulator()._feeds
    loop = asyncio.new_event_loop()
    try:
        conn = feeds_module._Conn(1, "order", loop, asyncio.Event())
        conn.authed = True
        message = {"type": "order", "data": {"nOrdNo": "1", "ordSt": "open"}}
        with hub._lock:
            for _ in range(50_000):
                hub._push_order_message(conn, message)
    finally:
        loop.close()
    # Either the connection is closed as a slow consumer, or its queue is capped.
    assert conn.closing or len(conn.outbox) <= 10 * feeds_module.MAX_OUTBOX


def test_a_slow_market_reader_outbox_is_bounded_in_bytes() -> None:
    hub = Emulator()._feeds
    loop = asyncio.new_event_loop()
    try:
        conn = feeds_module._Conn(1, "market", loop, asyncio.Event())
        frame = bytes(feedwire.MAX_FRAME)  # what a tick of ~3000 changed pairs batches into
        with hub._lock:
            for _ in range(feeds_module.MAX_OUTBOX + 10):
                hub._push(conn, "bytes", frame)
    finally:
        loop.close()
    queued = sum(len(payload) for kind, payload in conn.outbox if kind == "bytes")
    assert queued <= 32 * 1024 * 1024


async def test_a_snapshot_of_one_token_repeated_sends_one_packet(
    server: EmulatorServer, session: TradeSession
) -> None:
    emu = server.emulator
    async with connect(emu.feed_urls()["market"]) as ws:
        await ws.send(auth_frame(session, emu))
        await recv_json(ws)
        tokens = ",".join(["nse_cm|11536"] * 5000)
        await ws.send(json.dumps({"event": "snapshotScripsLite", "inputtoken": tokens}))
        await wait_for(lambda: emu.feeds.counters()["snapshot_frames"] == 1, "the snapshot")
        await asyncio.wait_for(ws.recv(), WAIT)
        assert emu.feeds.counters()["packets_sent"] == 1


# ---------------------------------------------------------------- faults


async def test_a_stalled_market_feed_sends_no_burst(
    server: EmulatorServer, session: TradeSession
) -> None:
    emu = server.emulator
    async with connect(emu.feed_urls()["market"]) as ws:
        await ws.send(auth_frame(session, emu))
        await recv_json(ws)
        await ws.send(json.dumps({"event": "subscribeScrips", "inputtoken": "nse_cm|11536"}))
        await asyncio.wait_for(ws.recv(), WAIT)  # the subscribe's own packet
        emu.feeds.stall("market")
        assert emu.feeds.burst("nse_cm", "11536", packets=10) == 1
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ws.recv(), 0.5)


# ---------------------------------------------------------------- packet values


def test_total_traded_value_decodes_to_volume_times_average_price() -> None:
    emu = Emulator(clock=FakeClock())
    snap = emu._book.snapshot("nse_cm", "11536", emu.clock())
    assert snap is not None
    assert snap.volume > 0
    packet = feeds_module.build_packet(snap, "nse_cm", "11536", "scrips")
    assert isinstance(packet, feedwire.MarketPicture)
    divider = feedwire.DIVIDERS["nse_cm"]
    rupees = snap.volume * snap.avg_price / 100
    assert packet.total_traded_value / divider == pytest.approx(rupees)


# ---------------------------------------------------------------- book refcounts


async def test_an_index_subscribed_by_number_is_released_on_disconnect(
    server: EmulatorServer, session: TradeSession
) -> None:
    emu = server.emulator
    async with connect(emu.feed_urls()["market"]) as ws:
        await ws.send(auth_frame(session, emu))
        await recv_json(ws)
        await ws.send(json.dumps({"event": "subscribeIndices", "inputtoken": "nse_cm|26000"}))
        await asyncio.wait_for(ws.recv(), WAIT)
        assert emu._book.live_instruments() == [("nse_cm", "Nifty 50")]
    await wait_for(lambda: emu.feeds.connections() == 0, "the server to forget the feed")
    assert emu._book.live_instruments() == []


# ---------------------------------------------------------------- control input


def test_push_tick_refuses_a_quantity_the_feed_cannot_carry() -> None:
    emu = Emulator(EmulatorConfig(tick_rate=0), clock=FakeClock())
    with pytest.raises(ValueError, match="qty="):
        emu.push_tick("nse_cm|11536", "3456", qty=2**63)


# ---------------------------------------------------------------- two servers


async def test_stopping_one_server_leaves_the_other_servers_feeds_open() -> None:
    emulator = Emulator(EmulatorConfig(rate_limit=None), clock=FakeClock())
    first = EmulatorServer(emulator, backend="builtin").start()
    second = EmulatorServer(emulator, backend="builtin").start()
    try:
        async with httpx.AsyncClient() as http:
            session = await login(http, emulator)
        async with connect("ws" + second.url[4:] + "/apifeed") as ws:
            await ws.send(auth_frame(session, emulator))
            assert (await recv_json(ws))["format"] == "native_batch"
            await asyncio.to_thread(first.stop)
            await ws.send(json.dumps({"event": "subscribeScripsLite", "inputtoken": "nse_cm|1594"}))
            assert len(await asyncio.wait_for(ws.recv(), WAIT)) == 54
    finally:
        await asyncio.to_thread(first.stop)
        await asyncio.to_thread(second.stop)


# ---------------------------------------------------------------- oversize messages


async def test_a_fragmented_message_over_the_limit_ends_that_socket_only_on_uvicorn() -> None:
    """uvicorn's websockets-sansio implementation, not ours: a fragmented text message over
    ``ws_max_size`` is answered with 1009 on some runs and a drop with no close frame on
    others (timing-dependent, so it cannot be a strict xfail). What the emulator promises
    either way: that socket ends, and the server goes on serving the others."""
    emulator = Emulator(EmulatorConfig(rate_limit=None), clock=FakeClock())
    with EmulatorServer(emulator, backend="uvicorn") as server:
        async with httpx.AsyncClient() as http:
            session = await login(http, emulator)
        url = "ws" + server.url[4:] + "/apifeed"
        async with connect(url) as ws:
            await ws.send(auth_frame(session, emulator))
            await recv_json(ws)

            async def fragments() -> Any:
                for _ in range(20):
                    yield "x" * 65536

            async def send_then_read() -> None:
                await ws.send(fragments())
                await asyncio.wait_for(ws.recv(), WAIT)

            with pytest.raises(ConnectionClosed) as closed:
                await send_then_read()
            rcvd = closed.value.rcvd
            assert rcvd is None or rcvd.code == 1009
        async with connect(url) as other:  # the server still serves a new client
            await other.send(auth_frame(session, emulator))
            assert (await recv_json(other))["format"] == "native_batch"


# ---------------------------------------------------------------- after stop


async def test_tick_after_the_server_stopped_warns_nothing() -> None:
    emulator = Emulator(EmulatorConfig(rate_limit=None), clock=FakeClock())
    with EmulatorServer(emulator, backend="builtin"):
        async with httpx.AsyncClient() as http:
            session = await login(http, emulator)
        async with connect(emulator.feed_urls()["market"]) as ws:
            await ws.send(auth_frame(session, emulator))
            await recv_json(ws)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        emulator.feeds.tick()
        gc.collect()
    assert [str(w.message) for w in caught] == []


# ---------------------------------------------------------------- order feed on (re)connect


async def test_an_event_raised_just_before_the_handshake_is_sent_once() -> None:
    emu = Emulator(EmulatorConfig(rate_limit=None, tick_rate=0), clock=FakeClock())
    hub = emu._feeds
    async with httpx.AsyncClient(transport=emu.transport()) as http:
        session = await login(http, emu)
        snap = emu._book.snapshot("nse_cm", "11536", emu.clock())
        assert snap is not None
        limit = snap.ltp - 20 * snap.tick
        placed = await http.post(
            session.base_url + "/quick/order/rule/ms/place",
            headers=session_headers(session, emu),
            data=jdata(order("rest-1", pt="L", pr=f"{limit / 100:.2f}", ts="TCS-EQ")),
        )
        number = placed.json()["nOrdNo"]
    loop = asyncio.get_running_loop()
    conn = feeds_module._Conn(1, "order", loop, asyncio.Event())
    with hub._lock:  # what serve() does for a new connection
        hub._loop = loop
        hub._conns[conn.id] = conn
    # The fill happens (REST or ticker on the server loop, or set_price from a test thread)
    # and, before the loop runs the queued dispatch, the client's handshake is read.
    emu.set_price("nse_cm|11536", f"{(limit - snap.tick) / 100:.2f}")
    hub._on_order_frame(
        conn, f"{{type:cn,Authorization:{session.token},Sid:{session.sid},src:WEB}}"
    )
    await asyncio.sleep(0.05)  # the queued dispatch runs
    messages = [json.loads(payload) for kind, payload in conn.outbox if kind == "text"]
    fills = [m for m in messages if m.get("type") == "order" and m["data"]["nOrdNo"] == number]
    positions = [m for m in messages if m.get("type") == "position"]
    assert [m["data"]["ordSt"] for m in fills] == ["complete"]
    assert len(positions) == 1
