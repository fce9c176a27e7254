"""``http_backend="aiohttp"``: aioneo's transport over aiohttp, on real loopback sockets.

What is asserted is what aioneo reads from each failure: whether the request may have
been written (``Failure.sent`` of ``aioneo._shell.failure_of``), the httpx class, the
limits (connections counted by the server), the separate login pool, the options. The
scenario suites (relogin, endpoints, the 500 order-fault sequences, lifecycle) run on
this backend too, through ``conftest``'s ``backend`` fixture.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket
import struct
import sys
import warnings
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from aioneo import AsyncNeoClient, NeoClient
from aioneo._core._policy import Failure
from aioneo._shell import failure_of
from aioneo.testing import Emulator, EmulatorServer

from .conftest import HAS_AIOHTTP, StepClock, credentials_of

pytestmark = pytest.mark.skipif(not HAS_AIOHTTP, reason="aiohttp is not installed")

OK = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok": 1}\r\n'


class Server:
    """A loopback HTTP/1.1 server whose answer depends on the path: ``/ok`` answers,
    ``/drop`` closes without an answer, ``/reset`` resets the connection (RST), ``/hang``
    never answers, ``/hold`` answers once :attr:`release` is set. It counts connections."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.open = 0
        self.max_open = 0
        self.connections = 0
        self.requests = 0
        self.held = 0
        self.heads: list[bytes] = []
        self.bodies: list[bytes] = []
        self._changed = asyncio.Condition()
        self.server: asyncio.Server | None = None

    async def until_held(self, n: int) -> None:
        """Until ``n`` requests are held (fails the test after 5 s)."""
        async with asyncio.timeout(5.0), self._changed:
            await self._changed.wait_for(lambda: self.held >= n)

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open += 1
        self.max_open = max(self.max_open, self.open)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                self.heads.append(head)
                self.bodies.append(await reader.readexactly(length) if length else b"")
                self.requests += 1
                path = head.split(b" ", 2)[1]
                if path == b"/drop":
                    return
                if path == b"/reset":
                    sock = writer.get_extra_info("socket")
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    return
                if path == b"/hang":
                    await reader.read()  # until the client gives up
                    return
                if path == b"/hold":
                    self.held += 1
                    async with self._changed:
                        self._changed.notify_all()
                    await self.release.wait()
                writer.write(OK)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.open -= 1
            writer.close()


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    state = Server()
    state.server = await asyncio.start_server(state.handle, "127.0.0.1", 0)
    async with state.server:
        yield state
        state.release.set()


def transport(max_connections: int = 10) -> httpx.AsyncBaseTransport:
    from aioneo._aiohttp import AiohttpTransport

    return AiohttpTransport(max_connections=max_connections)


def request(url: str, *, content: bytes = b"", **timeouts: float | None) -> httpx.Request:
    timeout = httpx.Timeout(timeouts.pop("all", 5.0), **timeouts).as_dict()  # type: ignore[arg-type]
    return httpx.Request(
        "POST" if content else "GET", url, content=content, extensions={"timeout": timeout}
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def failure(url: str, **timeouts: float | None) -> httpx.TransportError:
    pool = transport()
    try:
        with pytest.raises(httpx.TransportError) as caught:
            await pool.handle_async_request(request(url, **timeouts))
    finally:
        await pool.aclose()
    return caught.value


# -- what each failure means: may the request have been written? --------------------------


async def test_an_answer_comes_back_whole(server: Server) -> None:
    pool = transport()
    response = await pool.handle_async_request(request(server.url + "/ok", content=b"jData=1"))
    await pool.aclose()
    assert response.status_code == 200
    assert response.json() == {"ok": 1}
    assert response.headers["content-type"] == "application/json"


async def test_the_bytes_on_the_wire_are_httpx_transports_bytes(server: Server) -> None:
    """aiohttp adds no header of its own (aioneo renders them all) and drops none."""
    headers = {
        "User-Agent": "aioneo/test",
        "Accept": "application/json",
        "Accept-Encoding": "gzip, deflate",
        "Content-Type": "application/x-www-form-urlencoded",
        "Auth": "token",
        "neo-fin-key": "neotradeapi",
    }
    for pool in (httpx.AsyncHTTPTransport(), transport()):
        sent = request(server.url + "/ok?sId=x%2By", content=b"jData=%7B%7D")
        sent.headers.update(headers)
        response = await pool.handle_async_request(sent)
        await response.aread()
        await pool.aclose()
    httpx_head, aiohttp_head = server.heads
    assert httpx_head == aiohttp_head
    assert server.bodies == [b"jData=%7B%7D"] * 2


async def test_connection_refused_is_not_sent() -> None:
    error = await failure(f"http://127.0.0.1:{free_port()}/ok")
    assert isinstance(error, httpx.ConnectError)
    assert failure_of(error) is Failure.CONNECT
    assert not failure_of(error).sent
    assert "refused" in str(error).lower() or "connect" in str(error).lower()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux drops the SYN")
async def test_a_connect_timeout_is_not_sent() -> None:
    # A listener that never accepts, its accept queue full: Linux drops further SYNs, so
    # the next connect hangs until the connect timeout.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        fillers = [socket.socket() for _ in range(4)]
        try:
            for filler in fillers:
                filler.setblocking(False)
                with contextlib.suppress(BlockingIOError):
                    filler.connect(("127.0.0.1", port))
            error = await failure(f"http://127.0.0.1:{port}/ok", all=5.0, connect=0.3)
        finally:
            for filler in fillers:
                filler.close()
    assert isinstance(error, httpx.ConnectTimeout)
    assert failure_of(error) is Failure.CONNECT_TIMEOUT
    assert not failure_of(error).sent


async def test_server_disconnected_after_the_request_is_unknown(server: Server) -> None:
    error = await failure(server.url + "/drop")
    assert isinstance(error, httpx.RemoteProtocolError)  # not ConnectTimeout (httpx-aiohttp)
    assert failure_of(error) is Failure.RESET
    assert failure_of(error).sent
    assert server.requests == 1


async def test_a_reset_after_the_request_is_unknown(server: Server) -> None:
    error = await failure(server.url + "/reset")
    assert isinstance(error, httpx.ReadError | httpx.RemoteProtocolError)
    assert failure_of(error).sent
    assert server.requests == 1


async def test_no_answer_is_a_read_timeout_not_a_connect_timeout(server: Server) -> None:
    error = await failure(server.url + "/hang", all=5.0, read=0.2)
    assert isinstance(error, httpx.ReadTimeout)
    assert failure_of(error) is Failure.READ_TIMEOUT
    assert "reading" in str(error)


async def test_a_full_pool_times_out_as_a_pool_timeout(server: Server) -> None:
    pool = transport(max_connections=1)
    first = asyncio.ensure_future(pool.handle_async_request(request(server.url + "/hold")))
    await server.until_held(1)
    with pytest.raises(httpx.PoolTimeout) as caught:
        await pool.handle_async_request(request(server.url + "/ok", pool=0.05))
    assert not failure_of(caught.value).sent
    server.release.set()
    assert (await first).status_code == 200
    assert server.requests == 1  # the timed-out request never reached the server
    await pool.aclose()


async def test_max_connections_bounds_the_connections(server: Server) -> None:
    pool = transport(max_connections=3)
    calls = [
        asyncio.ensure_future(pool.handle_async_request(request(server.url + "/hold")))
        for _ in range(20)
    ]
    await server.until_held(3)
    for _ in range(5):  # give any fourth connection every chance to open
        await asyncio.sleep(0)
    assert server.open == 3
    server.release.set()
    responses = await asyncio.gather(*calls)
    assert [r.status_code for r in responses] == [200] * 20
    assert server.max_open == 3
    assert server.connections == 3  # reused, not reopened
    await pool.aclose()


async def test_a_closed_transport_sends_nothing(server: Server) -> None:
    pool = transport()
    await pool.aclose()
    with pytest.raises(httpx.ConnectError):
        await pool.handle_async_request(request(server.url + "/ok"))
    assert server.requests == 0


def test_a_transport_moves_to_a_new_loop_after_the_old_one_closed() -> None:
    async def serve_once() -> int:
        state = Server()
        state.server = await asyncio.start_server(state.handle, "127.0.0.1", 0)
        async with state.server:
            response = await pool.handle_async_request(request(state.url + "/ok"))
            return response.status_code

    pool = transport()
    with no_resource_warnings():
        assert asyncio.run(serve_once()) == 200
        assert asyncio.run(serve_once()) == 200  # the first loop's socket released
        asyncio.run(pool.aclose())


@contextlib.contextmanager
def no_resource_warnings() -> Iterator[None]:
    gc.collect()  # what earlier tests left is not this test's
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        yield
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


@pytest.mark.parametrize(
    ("phase", "expected"),
    [("CONNECT", httpx.ConnectTimeout), ("WRITE", httpx.WriteTimeout), ("READ", httpx.ReadTimeout)],
)
def test_a_timeout_is_named_by_its_phase(phase: str, expected: type[Exception]) -> None:
    import aiohttp

    from aioneo._aiohttp import _Phase, map_failure

    req = request("http://127.0.0.1/")
    for exc in (TimeoutError(), aiohttp.ServerTimeoutError("t"), aiohttp.SocketTimeoutError()):
        assert type(map_failure(exc, _Phase[phase], req)) is expected


def test_after_a_connection_is_held_nothing_maps_to_not_sent() -> None:
    import aiohttp

    from aioneo._aiohttp import _Phase, map_failure

    req = request("http://127.0.0.1/")
    failures = [
        aiohttp.ServerDisconnectedError(),
        aiohttp.ClientOSError(104, "Connection reset by peer"),
        aiohttp.ClientPayloadError("truncated"),
        aiohttp.ClientConnectionResetError("reset"),
        ConnectionResetError(104, "reset"),
    ]
    for phase in (_Phase.WRITE, _Phase.READ):
        for exc in failures:
            assert failure_of(map_failure(exc, phase, req)).sent, (phase, exc)
    for exc in failures:  # before a connection is held, the same errors sent nothing
        assert not failure_of(map_failure(exc, _Phase.CONNECT, req)).sent, exc


# -- the client on this backend -------------------------------------------------------------


def test_unknown_backends_and_transport_with_aiohttp_are_refused(emulator: Emulator) -> None:
    creds = credentials_of(emulator)
    with pytest.raises(ValueError, match=r"http_backend='h2' is not allowed.*'httpx' or 'aiohttp'"):
        AsyncNeoClient(creds, http_backend="h2")
    with pytest.raises(ValueError, match=r"http_backend='aiohttp' is not allowed for NeoClient"):
        NeoClient(creds, http_backend="aiohttp")
    with pytest.raises(ValueError, match="transport=None"):
        AsyncNeoClient(creds, http_backend="aiohttp", transport=emulator.transport())


async def test_a_login_never_queues_behind_a_full_trading_pool(
    emulator: Emulator, clock: StepClock
) -> None:
    with EmulatorServer(emulator) as running:
        neo = AsyncNeoClient(
            credentials_of(emulator),
            login_url=running.url,
            rate_limit=None,
            clock=clock,
            max_connections=2,
            http_backend="aiohttp",
        )
        async with neo:
            await neo.login()
            with emulator.hold("positions") as hold:
                calls = [asyncio.ensure_future(neo.positions()) for _ in range(2)]
                assert await asyncio.to_thread(hold.wait_until_waiting, 2)
                clock.next_step()
                await neo.login()  # explicit: goes through the login pool, not the held one
            assert len(await asyncio.gather(*calls)) == 2
        assert emulator.counters.logins == 2
