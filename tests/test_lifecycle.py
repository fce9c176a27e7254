"""``aioneo._lifecycle``: the steps of a close, and the sockets learnt from httpcore's trace.

Driven with socket pairs and stand-in streams (an object with ``get_extra_info``, as
httpcore's network streams have); the clients over real loopback connections are in
``tests/client/test_lifecycle.py``.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import socket
import threading
import warnings
from collections.abc import Iterator
from typing import Any

import anyio
import anyio.abc
import pytest

from aioneo import AsyncNeoClient, Credentials
from aioneo._lifecycle import CloseSteps, Sockets, report_masked
from aioneo.testing import Emulator, EmulatorConfig

CONNECTED = "connection.connect_tcp.complete"


class Stream:
    """Stands in for an httpcore network stream: only ``get_extra_info("socket")``."""

    def __init__(self, sock: socket.socket | None) -> None:
        self.sock = sock

    def get_extra_info(self, info: str) -> Any:
        return self.sock if info == "socket" else None


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    ours, server = socket.socketpair()
    yield ours, server
    ours.close()
    server.close()


def connect(sockets: Sockets, stream: Stream) -> None:
    sockets._trace(CONNECTED, {"return_value": stream})


# -- CloseSteps ---------------------------------------------------------------------------


def test_every_step_runs_and_the_first_failure_is_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    steps = CloseSteps()
    ran: list[str] = []
    with steps.step("one"):
        ran.append("one")
        raise OSError("first")
    with steps.step("two"):
        ran.append("two")
    with steps.step("three"):
        ran.append("three")
        raise ValueError("second")
    assert ran == ["one", "two", "three"]
    with caplog.at_level(logging.WARNING, "aioneo"), pytest.raises(OSError, match="first"):
        steps.raise_first()
    assert "three failed too" in caplog.text
    assert "second" in caplog.text
    steps.raise_first()  # raised once


def test_no_failure_raises_nothing() -> None:
    steps = CloseSteps()
    with steps.step("one"):
        pass
    steps.raise_first()


def test_a_base_exception_is_kept_for_the_end() -> None:
    steps = CloseSteps()
    ran = []
    with steps.step("one"):
        raise KeyboardInterrupt
    with steps.step("two"):
        ran.append("two")
    assert ran == ["two"]
    with pytest.raises(KeyboardInterrupt):
        steps.raise_first()


def test_a_masked_close_failure_is_logged_with_its_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    try:
        raise OSError("close failed")
    except OSError as exc:
        error = exc
    with caplog.at_level(logging.WARNING, "aioneo"):
        report_masked(error, ValueError("body"))
    (record,) = caplog.records
    assert "ValueError was propagating" in record.getMessage()
    assert "close failed" in record.getMessage()
    assert record.exc_info is not None


# -- Sockets ------------------------------------------------------------------------------


def test_shutdown_wakes_a_thread_blocked_reading(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, server = pair
    sockets = Sockets()
    connect(sockets, Stream(ours))
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(ours.recv(10)), daemon=True)
    reader.start()
    sockets.shutdown()
    reader.join(5)
    assert received == [b""]  # woken by the shutdown, not by data or a timeout
    assert server.recv(10) == b""  # and the server sees the connection end
    assert ours.fileno() != -1  # closing is the pool's job


def test_a_stream_connecting_after_the_close_is_shut_down_at_once(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, server = pair
    sockets = Sockets()
    sockets.close()
    connect(sockets, Stream(ours))
    assert server.recv(10) == b""


async def test_the_async_trace_callback_records_streams_too(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, server = pair
    sockets = Sockets()
    await sockets._trace_async(CONNECTED, {"return_value": Stream(ours)})
    sockets.shutdown()
    assert server.recv(10) == b""


def test_other_events_closed_sockets_and_foreign_streams_are_ignored() -> None:
    sockets = Sockets()
    sockets._trace("http11.send_request_headers.started", {"request": object()})
    closed = socket.socket()
    closed.close()
    connect(sockets, Stream(closed))
    connect(sockets, Stream(None))  # a custom network backend without a socket
    sockets._trace(CONNECTED, {"return_value": object()})
    sockets._trace(CONNECTED, {})
    assert sockets._streams == set()
    sockets.shutdown()  # nothing to do, nothing raised


def test_streams_whose_socket_closed_are_forgotten(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, _ = pair
    first, second = socket.socketpair()
    sockets = Sockets()
    connect(sockets, Stream(first))
    first.close()
    second.close()
    connect(sockets, Stream(ours))
    assert len(sockets._streams) == 1


def test_a_forked_child_leaves_the_parents_connections_alone(
    pair: tuple[socket.socket, socket.socket], monkeypatch: pytest.MonkeyPatch
) -> None:
    ours, server = pair
    sockets = Sockets()
    connect(sockets, Stream(ours))
    monkeypatch.setattr("os.getpid", lambda: -1)
    sockets._lock.acquire()  # held by a parent thread at the fork: must not deadlock
    sockets.shutdown()
    server.setblocking(False)
    with pytest.raises(BlockingIOError):
        server.recv(10)


def test_release_is_only_for_a_closed_loop() -> None:
    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(RuntimeError, match="closed event loop"):
            Sockets().release(loop)
    finally:
        loop.close()


def test_release_falls_back_to_a_shutdown_without_asyncio_internals(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, server = pair
    loop = asyncio.new_event_loop()
    loop.close()
    sockets = Sockets()
    connect(sockets, Stream(ours))  # no httpcore/anyio/asyncio objects beneath it
    sockets.release(loop)
    assert server.recv(10) == b""


def test_release_closes_a_dead_loops_transport_without_a_warning() -> None:
    # A real asyncio transport left open when its loop closed, as in httpcore's pools:
    # anyio's stream under a stand-in for httpcore's AnyIOStream (which keeps it in
    # ``_stream``).
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    loop = asyncio.new_event_loop()
    try:
        inner = loop.run_until_complete(anyio.connect_tcp("127.0.0.1", port))
    finally:
        loop.close()
    accepted, _ = listener.accept()
    stream = Stream(inner.extra(anyio.abc.SocketAttribute.raw_socket))
    stream._stream = inner  # type: ignore[attr-defined]
    transport = inner._transport  # type: ignore[attr-defined]
    sockets = Sockets()
    connect(sockets, stream)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        sockets.release(loop)
        del inner, stream, sockets
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []
    assert transport.is_closing()
    assert transport.get_extra_info("socket").fileno() == -1
    transport.abort()  # already marked: does nothing, raises nothing
    assert accepted.recv(10) == b""
    accepted.close()
    listener.close()


async def test_a_transport_without_httpcore_reports_no_sockets() -> None:
    # The emulator's in-process transport has no sockets: everything here is a no-op.
    emulator = Emulator(EmulatorConfig(rate_limit=None))
    client = AsyncNeoClient(
        Credentials(**emulator.credentials.as_dict()),
        login_url=emulator.login_url,
        transport=emulator.transport(),
        rate_limit=None,
    )
    async with client:
        await client.positions()
        assert client._sockets is not None
        assert client._sockets._streams == set()
