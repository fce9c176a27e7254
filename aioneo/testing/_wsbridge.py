"""ASGI websockets for the built-in server, on the ``websockets`` library's sans-IO core.

:class:`~aioneo.testing._h11server.H11Server` hands a request carrying
``Upgrade: websocket`` to :func:`serve_websocket`, which runs the ASGI ``websocket``
protocol (``websocket.connect`` / ``accept`` / ``receive`` / ``send`` / ``close`` /
``disconnect``) over :class:`websockets.server.ServerProtocol`: bytes in, frames out, no
second event loop or thread. Pings are answered by the protocol itself; fragmented
messages are assembled; a message over :data:`MAX_MESSAGE` closes with 1009, a bad
handshake gets the protocol's 400 answer. After the app closes, the client has
:data:`CLOSE_TIMEOUT` seconds to answer before the socket is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import MutableMapping
from typing import Any

import h11
from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import State
from websockets.server import ServerProtocol

__all__ = ["CLOSE_TIMEOUT", "MAX_MESSAGE", "is_upgrade", "serve_websocket"]

MAX_MESSAGE = 1 << 20
CLOSE_TIMEOUT = 2.0
_READ = 65536


def is_upgrade(request: h11.Request) -> bool:
    """Whether ``request`` asks to become a websocket."""
    for name, value in request.headers:
        if name.lower() == b"upgrade" and value.lower() == b"websocket":
            return True
    return False


async def serve_websocket(
    app: Any,
    scope: MutableMapping[str, Any],
    request: h11.Request,
    leftover: bytes,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
) -> None:
    """Run ``app`` for one websocket connection; returns when the socket is done."""
    proto = ServerProtocol(max_size=MAX_MESSAGE)
    # h11 has parsed the request; the protocol parses it again from bytes (it expects to
    # read the handshake itself before any frame).
    head = b"GET " + request.target + b" HTTP/1.1\r\n"
    head += b"".join(name + b": " + value + b"\r\n" for name, value in request.headers.raw_items())
    proto.receive_data(head + b"\r\n")
    parsed = proto.events_received()
    ws_request = parsed[0] if parsed and isinstance(parsed[0], Request) else None
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    accepted = False
    finished = asyncio.Event()
    fragments: list[bytes] = []
    fragment_op: Opcode | None = None

    def flush() -> None:
        for chunk in proto.data_to_send():
            if chunk:
                writer.write(chunk)
            else:  # the protocol wants the connection half-closed
                finished.set()

    def on_events() -> None:
        nonlocal fragment_op
        for event in proto.events_received():
            if not isinstance(event, Frame):
                continue
            frame = event
            if frame.opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.CONT):
                if frame.opcode is not Opcode.CONT:
                    fragment_op = frame.opcode
                    fragments.clear()
                fragments.append(bytes(frame.data))
                if not frame.fin:
                    continue
                data = b"".join(fragments)
                fragments.clear()
                if fragment_op is Opcode.TEXT:
                    inbox.put_nowait(
                        {"type": "websocket.receive", "text": data.decode("utf-8", "replace")}
                    )
                else:
                    inbox.put_nowait({"type": "websocket.receive", "bytes": data})
            elif frame.opcode is Opcode.CLOSE:
                code = proto.close_rcvd.code if proto.close_rcvd is not None else 1005
                inbox.put_nowait({"type": "websocket.disconnect", "code": code})
        flush()

    async def pump() -> None:
        try:
            if leftover:
                proto.receive_data(leftover)
                on_events()
            while proto.state is not State.CLOSED:
                data = await reader.read(_READ)
                if not data:
                    proto.receive_eof()
                    on_events()
                    break
                proto.receive_data(data)
                on_events()
        except (ConnectionError, OSError):  # a reset: the same as the socket going away
            pass
        finally:
            inbox.put_nowait({"type": "websocket.disconnect", "code": 1006})
            finished.set()

    pump_task: asyncio.Task[None] | None = None
    inbox.put_nowait({"type": "websocket.connect"})

    async def receive() -> dict[str, Any]:
        return await inbox.get()

    async def send(message: dict[str, Any]) -> None:
        nonlocal accepted, pump_task
        mtype = message["type"]
        if mtype == "websocket.accept":
            if ws_request is None:
                raise ConnectionError("the websocket handshake could not be parsed")
            response = proto.accept(ws_request)
            proto.send_response(response)
            flush()
            await writer.drain()
            if proto.handshake_exc is not None:
                finished.set()
                inbox.put_nowait({"type": "websocket.disconnect", "code": 1006})
                return
            accepted = True
            pump_task = asyncio.create_task(pump())
        elif mtype == "websocket.send":
            if not accepted or proto.state is not State.OPEN:
                raise ConnectionError("the websocket is not open")
            if message.get("bytes") is not None:
                proto.send_binary(message["bytes"])
            else:
                proto.send_text(str(message.get("text", "")).encode("utf-8"))
            flush()
            await writer.drain()
        elif mtype == "websocket.close":
            if not accepted:
                response = proto.reject(403, "Forbidden\n")
                proto.send_response(response)
                flush()
                await writer.drain()
                finished.set()
                inbox.put_nowait({"type": "websocket.disconnect", "code": 1006})
                return
            if proto.state is State.OPEN:
                proto.send_close(int(message.get("code", 1000)), str(message.get("reason", "")))
                flush()
                await writer.drain()
            asyncio.get_running_loop().call_later(CLOSE_TIMEOUT, finished.set)

    app_task = asyncio.create_task(app(scope, receive, send))
    done_waiter = asyncio.create_task(finished.wait())
    try:
        await asyncio.wait({app_task, done_waiter}, return_when=asyncio.FIRST_COMPLETED)
        if not app_task.done():
            # The socket is gone: tell the app, and give it a moment to clean up.
            inbox.put_nowait({"type": "websocket.disconnect", "code": 1006})
            with contextlib.suppress(TimeoutError, Exception):
                await asyncio.wait_for(asyncio.shield(app_task), CLOSE_TIMEOUT)
    finally:
        for task in (app_task, done_waiter, pump_task):
            if task is not None and not task.done():
                task.cancel()
        for task in (app_task, done_waiter, pump_task):
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
