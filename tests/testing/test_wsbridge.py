"""The built-in server's ASGI websockets (``aioneo.testing._wsbridge``), over loopback.

An echo app runs on :class:`~aioneo.testing._h11server.H11Server`; the ``websockets``
library's sync client drives it: text and binary echo, a fragmented message, ping/pong,
a server close with a code, a message over the size limit, a refused handshake, and an
app that closes before accepting.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from aioneo.testing._h11server import H11Server

pytestmark = pytest.mark.timeout(20)


async def echo_app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "http":
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"plain"})
        return
    assert scope["type"] == "websocket"
    assert (await receive())["type"] == "websocket.connect"
    if scope["path"] == "/refuse":
        await send({"type": "websocket.close", "code": 1008})
        return
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") == "close please":
            await send({"type": "websocket.close", "code": 4001, "reason": "asked to"})
            continue
        if message.get("text") is not None:
            await send({"type": "websocket.send", "text": "echo:" + message["text"]})
        else:
            await send({"type": "websocket.send", "bytes": b"echo:" + message["bytes"]})


@pytest.fixture
def url() -> Iterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    server = H11Server(echo_app)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.005)
    try:
        yield f"ws://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(5)
        sock.close()
    assert not thread.is_alive()


def test_text_binary_fragments_and_ping(url: str) -> None:
    with connect(url + "/echo") as ws:
        ws.send("hello")
        assert ws.recv(timeout=5) == "echo:hello"
        ws.send(b"\x00\x01")
        assert ws.recv(timeout=5) == b"echo:\x00\x01"
        ws.send(["frag", "mented"])  # one message in two frames
        assert ws.recv(timeout=5) == "echo:fragmented"
        pong = ws.ping()
        assert pong.wait(5)


def test_server_close_code_and_reason_reach_the_client(url: str) -> None:
    with connect(url + "/echo") as ws:
        ws.send("close please")
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=5)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4001, "asked to")


def test_a_message_over_the_limit_closes_with_1009(url: str) -> None:
    with connect(url + "/echo", max_size=None) as ws:
        ws.send("x" * ((1 << 20) + 1))
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=5)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1009


def test_an_app_that_closes_before_accepting_refuses_with_403(url: str) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(url + "/refuse")
    assert refused.value.response.status_code == 403


def test_a_broken_handshake_gets_400_and_plain_http_still_works(url: str) -> None:
    http = url.replace("ws://", "http://")
    headers = {"Upgrade": "websocket", "Connection": "Upgrade"}  # no Sec-WebSocket-Key
    response = httpx.get(http + "/echo", headers=headers)
    assert response.status_code == 400
    assert httpx.get(http + "/plain").text == "plain"
