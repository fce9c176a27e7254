"""Closing the clients over real loopback sockets (issue 10 items 5 and 7, issue 14 item 3).

The emulator runs on loopback (``EmulatorServer``), so the clients use their own httpx
pools and real sockets. What is asserted is counted, not timed: the client ends of the
connections to the server that this process still has open (read from ``/proc``), the
``ResourceWarning``s the garbage collector reports, the exceptions each call received.
The one timing bound is generous on purpose: every call held by the server ends within
2 s of ``close()`` although its ``timeout`` is 30 s.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from aioneo import AsyncNeoClient, ClientClosedError, NeoClient
from aioneo.testing import Emulator, EmulatorServer

from .conftest import StepClock, credentials_of
from .sync_support import Threads

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="counts sockets through /proc"
)

#: The AsyncNeoClient tests over loopback take ``backend`` and run on both (see conftest).
BOTH_BACKENDS = True
#: Far above what any test here waits for: a call that ends, ends because of close().
LONG_TIMEOUT = 30.0


def client_sockets(port: int) -> int:
    """Sockets of this process connected to ``port``: the client ends of connections to
    the server (the server's own ends have ``port`` as their local port)."""
    inodes: set[str] = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    count = 0
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        try:
            with open(table) as rows:
                lines = rows.read().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            fields = line.split()
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            if remote_port == port and fields[9] in inodes:
                count += 1
    return count


def reading(thread: threading.Thread) -> bool:
    """``thread`` is blocked reading a socket in httpcore's sync backend: its Python frame
    is there and the kernel has it asleep (in ``poll()`` or ``recv()``)."""
    frame = sys._current_frames().get(thread.ident or -1)
    if frame is None or frame.f_code.co_name != "read":
        return False
    if "httpcore" not in frame.f_code.co_filename:
        return False
    with open(f"/proc/self/task/{thread.native_id}/stat") as stat:
        state = stat.read().rsplit(")", 1)[1].split()[0]
    return state == "S"


def until_reading(calls: Threads, n: int) -> None:
    """Until ``n`` of the threads are blocked reading, five checks in a row (a thread
    briefly waiting for the GIL in that frame would look the same once)."""
    deadline = time.monotonic() + 10
    streak = 0
    while streak < 5:
        streak = streak + 1 if sum(map(reading, calls.threads)) >= n else 0
        assert time.monotonic() < deadline, f"fewer than {n} threads blocked reading"
        time.sleep(0.01)


@pytest.fixture
def server(emulator: Emulator) -> Iterator[EmulatorServer]:
    with EmulatorServer(emulator) as running:
        yield running


@pytest.fixture
def port(server: EmulatorServer) -> int:
    port = httpx.URL(server.url).port
    assert port is not None
    return port


def unclosed(caught: list[warnings.WarningMessage]) -> list[str]:
    gc.collect()
    return [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]


# -- item 5: AsyncNeoClient moving from one event loop to the next ----------------------


@pytest.mark.parametrize("close_in", ["the second loop", "a third loop"])
def test_moving_to_a_new_loop_releases_the_old_loops_connections(
    server: EmulatorServer,
    emulator: Emulator,
    clock: StepClock,
    port: int,
    close_in: str,
    backend: str,
) -> None:
    client = AsyncNeoClient(
        credentials_of(emulator),
        login_url=server.url,
        rate_limit=None,
        clock=clock,
        timeout=LONG_TIMEOUT,
        http_backend=backend,
    )

    async def burst(*, close: bool = False) -> None:
        # Held by the server until all 10 are on the wire: 10 connections, one each.
        with emulator.hold("positions") as hold:
            calls = [asyncio.ensure_future(client.positions()) for _ in range(10)]
            assert await asyncio.to_thread(hold.wait_until_waiting, 10)
        assert len(await asyncio.gather(*calls)) == 10
        if close:
            await client.aclose()

    gc.collect()  # what earlier tests left is not this test's
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        asyncio.run(burst())
        assert unclosed(caught) == []
        assert client_sockets(port) == 11  # 10 trading connections and the login's one

        asyncio.run(burst(close=close_in == "the second loop"))
        # Moving to the second loop released the first loop's 11 connections.
        assert unclosed(caught) == []
        if close_in == "a third loop":
            assert client_sockets(port) == 10  # the second loop's, closed with it
            asyncio.run(client.aclose())  # does not raise
        assert unclosed(caught) == []
        assert client_sockets(port) == 0
    assert emulator.counters.logins == 1


def test_closing_in_a_new_loop_after_a_login_was_cut_off(
    server: EmulatorServer, emulator: Emulator, clock: StepClock, port: int, backend: str
) -> None:
    # The first loop ends while the login is on the wire (its task is cancelled by
    # asyncio.run): the login connection belongs to a dead loop and must be released too.
    client = AsyncNeoClient(
        credentials_of(emulator),
        login_url=server.url,
        rate_limit=None,
        clock=clock,
        http_backend=backend,
    )

    async def cut_off() -> None:
        with emulator.hold("validate") as hold:
            call = asyncio.ensure_future(client.positions())
            assert await asyncio.to_thread(hold.wait_until_waiting, 1)
            call.cancel()

    gc.collect()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        asyncio.run(cut_off())
        asyncio.run(client.aclose())
        assert unclosed(caught) == []
        assert client_sockets(port) == 0


# -- item 7: NeoClient.close() under threads blocked in send() ---------------------------


@pytest.mark.timeout(30)
@pytest.mark.parametrize("max_connections", [16, 4])
def test_close_ends_every_call_on_the_wire_at_once(
    server: EmulatorServer, emulator: Emulator, clock: StepClock, port: int, max_connections: int
) -> None:
    # 16 threads; with 4 connections, 12 of them queue in the client behind the 4 sent.
    client = NeoClient(
        credentials_of(emulator),
        login_url=server.url,
        rate_limit=None,
        clock=clock,
        timeout=LONG_TIMEOUT,
        max_connections=max_connections,
    )
    client.login()
    with emulator.hold("positions") as hold:
        calls = Threads(16, client.positions)
        assert hold.wait_until_waiting(max_connections)
        until_reading(calls, max_connections)
        closed_at = time.monotonic()
        client.close()
        results = calls.join(10)
        took = time.monotonic() - closed_at
    assert all(isinstance(r, ClientClosedError) for r in results), results
    on_the_wire = [r for r in results if "during the call" in str(r)]
    assert len(on_the_wire) == max_connections, results
    assert took < 2.0, f"the calls ended {took:.1f} s after close() (timeout={LONG_TIMEOUT})"
    assert client_sockets(port) == 0


@pytest.mark.timeout(30)
def test_close_ends_a_login_on_the_wire_and_its_waiters_at_once(
    server: EmulatorServer, emulator: Emulator, clock: StepClock, port: int
) -> None:
    client = NeoClient(
        credentials_of(emulator),
        login_url=server.url,
        rate_limit=None,
        clock=clock,
        timeout=LONG_TIMEOUT,
        login_timeout=LONG_TIMEOUT,
    )
    with emulator.hold("validate") as hold:
        calls = Threads(8, client.positions)  # one leads the login, seven wait for it
        assert hold.wait_until_waiting(1)
        until_reading(calls, 1)
        closed_at = time.monotonic()
        client.close()
        results = calls.join(10)
        took = time.monotonic() - closed_at
    assert all(isinstance(r, ClientClosedError) for r in results), results
    assert took < 2.0, f"the calls ended {took:.1f} s after close()"
    assert client_sockets(port) == 0
    assert not [t for t in threading.enumerate() if t.name.startswith("aioneo-login")]


@pytest.mark.timeout(30)
async def test_aclose_ends_every_call_on_the_wire_at_once(
    server: EmulatorServer, emulator: Emulator, clock: StepClock, port: int, backend: str
) -> None:
    client = AsyncNeoClient(
        credentials_of(emulator),
        login_url=server.url,
        rate_limit=None,
        clock=clock,
        timeout=LONG_TIMEOUT,
        max_connections=16,
        http_backend=backend,
    )
    await client.login()
    with emulator.hold("positions") as hold:
        calls = [asyncio.ensure_future(client.positions()) for _ in range(16)]
        assert await asyncio.to_thread(hold.wait_until_waiting, 16)
        closed_at = time.monotonic()
        await client.aclose()
        results = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), timeout=10)
        took = time.monotonic() - closed_at
    assert all(isinstance(r, ClientClosedError) for r in results), results
    assert took < 2.0
    assert client_sockets(port) == 0


# -- issue 14 item 3: a failing close closes everything and never masks ------------------


class FailingCloseTransport(httpx.HTTPTransport):
    """A working transport whose ``close()`` closes, then raises. Both pools of a client
    use it, so one client closes it twice."""

    def __init__(self) -> None:
        super().__init__()
        self.closes = 0

    def close(self) -> None:
        self.closes += 1
        super().close()
        raise OSError(f"close failed #{self.closes}")


class FailingAcloseTransport(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.closes = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        self.closes += 1
        await self.inner.aclose()
        raise OSError(f"close failed #{self.closes}")


def sync_client(
    server: EmulatorServer, emulator: Emulator, clock: StepClock, **kw: Any
) -> NeoClient:
    return NeoClient(
        credentials_of(emulator), login_url=server.url, rate_limit=None, clock=clock, **kw
    )


def test_close_closes_every_pool_then_raises_the_first_failure(
    server: EmulatorServer,
    emulator: Emulator,
    clock: StepClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    transport = FailingCloseTransport()
    client = sync_client(server, emulator, clock, transport=transport)
    client.positions()
    with caplog.at_level(logging.WARNING, "aioneo"), pytest.raises(OSError, match="#1"):
        client.close()
    assert transport.closes == 2  # the second pool was closed although the first failed
    assert "close failed #2" in caplog.text
    with pytest.raises(ClientClosedError):
        client.positions()


def test_a_failing_close_does_not_mask_the_exception_leaving_with(
    server: EmulatorServer,
    emulator: Emulator,
    clock: StepClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    transport = FailingCloseTransport()

    def body() -> None:
        with sync_client(server, emulator, clock, transport=transport) as client:
            client.positions()
            raise ValueError("body")

    with caplog.at_level(logging.WARNING, "aioneo"), pytest.raises(ValueError, match="body"):
        body()
    assert transport.closes == 2
    assert "close failed #1" in caplog.text
    assert "close failed #2" in caplog.text


def test_a_clean_with_still_raises_the_close_failure(
    server: EmulatorServer, emulator: Emulator, clock: StepClock
) -> None:
    transport = FailingCloseTransport()

    def body() -> None:
        with sync_client(server, emulator, clock, transport=transport) as client:
            client.positions()

    with pytest.raises(OSError, match="#1"):
        body()
    assert transport.closes == 2


async def test_aclose_closes_every_pool_then_raises_the_first_failure(
    emulator: Emulator, clock: StepClock, caplog: pytest.LogCaptureFixture
) -> None:
    transport = FailingAcloseTransport(emulator.transport())
    client = AsyncNeoClient(
        credentials_of(emulator),
        login_url=emulator.login_url,
        transport=transport,
        rate_limit=None,
        clock=clock,
    )
    await client.positions()
    with caplog.at_level(logging.WARNING, "aioneo"), pytest.raises(OSError, match="#1"):
        await client.aclose()
    assert transport.closes == 2
    assert "close failed #2" in caplog.text


async def test_a_failing_aclose_does_not_mask_the_exception_leaving_async_with(
    emulator: Emulator, clock: StepClock, caplog: pytest.LogCaptureFixture
) -> None:
    transport = FailingAcloseTransport(emulator.transport())
    client = AsyncNeoClient(
        credentials_of(emulator),
        login_url=emulator.login_url,
        transport=transport,
        rate_limit=None,
        clock=clock,
    )

    async def body() -> None:
        async with client:
            await client.positions()
            raise ValueError("body")

    with caplog.at_level(logging.WARNING, "aioneo"), pytest.raises(ValueError, match="body"):
        await body()
    assert transport.closes == 2
    assert "close failed #1" in caplog.text
    assert "close failed #2" in caplog.text
