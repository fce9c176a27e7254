"""A small HTTP/1.1 server for the emulator, on asyncio and h11, for when uvicorn is absent.

``httpx`` already depends on ``h11`` (through ``httpcore``), so this server needs nothing
beyond aioneo's runtime dependencies: ``python -m aioneo.testing serve`` works after a
plain ``pip install aioneo``. It implements just what the emulator's app needs: one ASGI
``http`` request per exchange, keep-alive, bodies with ``Content-Length`` or chunked,
``http.disconnect`` when the client goes away, :class:`ConnectionDropped` closing the
connection without an answer, and ASGI websockets (the feeds) through
:mod:`._wsbridge`. No TLS, no HTTP/2. uvicorn is used instead
whenever it is installed (it is in the ``emulator`` and ``dev`` extras).

It mimics the three members of ``uvicorn.Server`` that :class:`EmulatorServer` uses:
``run(sockets=[...])`` (blocking, in its own event loop), ``started`` and
``should_exit`` (settable from any thread).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import urllib.parse
from collections.abc import Callable
from typing import Any

import h11

from aioneo.testing._app import ConnectionDropped, Message, Receive, Scope, Send
from aioneo.testing._wsbridge import is_upgrade, serve_websocket

__all__ = ["H11Server"]

logger = logging.getLogger("aioneo.testing")

_READ = 65536
_INTERNAL_ERROR = b'{"stCode":1005,"errMsg":"Internal Error","stat":"Not_Ok"}'


class H11Server:
    """Serve one ASGI app on already-bound sockets until ``should_exit`` is set."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Any]) -> None:
        self._app = app
        self.started = False
        self._exit = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._exit_event: asyncio.Event | None = None
        self._connections: set[asyncio.Task[None]] = set()

    @property
    def should_exit(self) -> bool:
        return self._exit

    @should_exit.setter
    def should_exit(self, value: bool) -> None:
        self._exit = value
        loop, event = self._loop, self._exit_event
        if value and loop is not None and event is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already finished
                loop.call_soon_threadsafe(event.set)

    def run(self, sockets: list[socket.socket]) -> None:
        """Serve on ``sockets`` in a new event loop until ``should_exit`` becomes true."""
        asyncio.run(self._serve(sockets))

    async def _serve(self, sockets: list[socket.socket]) -> None:
        self._loop = asyncio.get_running_loop()
        self._exit_event = asyncio.Event()
        servers = [
            await asyncio.start_server(self._connection, sock=sock, limit=_READ) for sock in sockets
        ]
        self.started = True
        if self._exit:
            self._exit_event.set()
        try:
            await self._exit_event.wait()
        finally:
            for server in servers:
                server.close()
            for task in list(self._connections):
                task.cancel()
            await asyncio.gather(*self._connections, return_exceptions=True)
            for server in servers:
                await server.wait_closed()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        conn = h11.Connection(h11.SERVER)
        try:
            while await self._exchange(conn, reader, writer):
                conn.start_next_cycle()
        except (ConnectionError, h11.ProtocolError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            # Shutdown cancels idle connections. End the task normally: on Python 3.11,
            # asyncio.start_server's done-callback calls task.exception() on a cancelled
            # handler task and logs a CancelledError traceback ("Exception in callback").
            pass
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _exchange(
        self, conn: h11.Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Serve one request on ``conn``; ``True`` when the connection can be reused."""
        request = await _next_event(conn, reader)
        if not isinstance(request, h11.Request):
            return False
        body = bytearray()
        while True:
            event = await _next_event(conn, reader)
            if isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                break
            else:
                return False
        target = request.target.decode("latin-1")
        raw_path, _, query = target.partition("?")
        peer = writer.get_extra_info("peername")
        local = writer.get_extra_info("sockname")
        if is_upgrade(request) and request.method == b"GET":
            ws_scope: Scope = {
                "type": "websocket",
                "asgi": {"version": "3.0", "spec_version": "2.3"},
                "http_version": "1.1",
                "scheme": "ws",
                "path": urllib.parse.unquote(raw_path),
                "raw_path": raw_path.encode("latin-1"),
                "query_string": query.encode("latin-1"),
                "root_path": "",
                "headers": [(name.lower(), value) for name, value in request.headers],
                "client": tuple(peer[:2]) if peer else None,
                "server": tuple(local[:2]) if local else None,
                "subprotocols": [],
            }
            leftover, _closed = conn.trailing_data
            await serve_websocket(self._app, ws_scope, request, leftover, reader, writer)
            return False
        scope: Scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": request.http_version.decode("ascii"),
            "method": request.method.decode("ascii"),
            "scheme": "http",
            "path": urllib.parse.unquote(raw_path),
            "raw_path": raw_path.encode("latin-1"),
            "query_string": query.encode("latin-1"),
            "root_path": "",
            "headers": [(name.lower(), value) for name, value in request.headers],
            "client": tuple(peer[:2]) if peer else None,
            "server": tuple(local[:2]) if local else None,
        }
        delivered = False
        started = False
        finished = False

        async def receive() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            while True:  # the request is read: wait for the client to go away
                data = await reader.read(_READ)
                if not data:
                    return {"type": "http.disconnect"}
                conn.receive_data(data)  # a next request; h11 keeps it for later

        async def send(message: Message) -> None:
            nonlocal started, finished
            if message["type"] == "http.response.start":
                started = True
                headers = [(bytes(k), bytes(v)) for k, v in message.get("headers", ())]
                writer.write(
                    conn.send(h11.Response(status_code=message["status"], headers=headers))
                )
            elif message["type"] == "http.response.body":
                chunk = message.get("body", b"")
                if chunk:
                    writer.write(conn.send(h11.Data(data=chunk)))
                if not message.get("more_body", False):
                    writer.write(conn.send(h11.EndOfMessage()))
                    finished = True
                await writer.drain()

        try:
            await self._app(scope, receive, send)
        except ConnectionDropped:
            return False
        except Exception:
            logger.exception("the emulator app failed")
            if started:
                return False
            _respond_500(conn, writer)
            await writer.drain()
            return False
        if not finished:
            return False
        return conn.our_state is h11.DONE and conn.their_state is h11.DONE


async def _next_event(conn: h11.Connection, reader: asyncio.StreamReader) -> Any:
    while True:
        event = conn.next_event()
        if event is not h11.NEED_DATA:
            return event
        conn.receive_data(await reader.read(_READ))


def _respond_500(conn: h11.Connection, writer: asyncio.StreamWriter) -> None:
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(_INTERNAL_ERROR)).encode()),
        (b"connection", b"close"),
    ]
    writer.write(conn.send(h11.Response(status_code=500, headers=headers)))
    writer.write(conn.send(h11.Data(data=_INTERNAL_ERROR)))
    writer.write(conn.send(h11.EndOfMessage()))
