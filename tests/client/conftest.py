"""Helpers for the client scenario tests: a shared test clock and a gating transport.

The emulator and the client share one :class:`StepClock`, which runs with real time but can
jump forward, so a test that needs a fresh TOTP step (every relogin does) advances it by a
step instead of sleeping 30 s. :class:`GateTransport` wraps the emulator's transport to hold
chosen requests *before* they reach the server, count concurrent logins, or rewrite answers.

Both HTTP backends: a module that sets ``BOTH_BACKENDS = True`` runs each of its tests that
use the ``backend`` fixture (directly or through ``gate_transport``, ``make_client`` or
``client``) once per backend. ``"httpx"`` is the emulator's in-process transport;
``"aiohttp"`` is the same emulator served on loopback (``EmulatorServer``) reached through
aioneo's aiohttp transport (:class:`AiohttpRouting` keeps the emulator's host names), so a
dropped connection or a hung answer is a real socket event that the transport must map.
The aiohttp variants are skipped when aiohttp is not installed.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import pytest

from aioneo import AsyncNeoClient, Credentials
from aioneo.testing import Emulator, EmulatorConfig, EmulatorServer, StepClock

STEP = 30
HAS_AIOHTTP = importlib.util.find_spec("aiohttp") is not None
BACKENDS = [
    pytest.param("httpx", id="httpx"),
    pytest.param(
        "aiohttp",
        id="aiohttp",
        marks=pytest.mark.skipif(not HAS_AIOHTTP, reason="aiohttp is not installed"),
    ),
]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames and getattr(metafunc.module, "BOTH_BACKENDS", False):
        metafunc.parametrize("backend", BACKENDS, indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """``"httpx"`` unless the module runs on both backends (see the module docstring)."""
    return str(getattr(request, "param", "httpx"))


class AiohttpRouting(httpx.AsyncBaseTransport):
    """aioneo's aiohttp transport, every request sent to ``url`` (an ``EmulatorServer``)
    with its path and the emulator's host name kept in ``Host``, as ``RoutingTransport``
    does for synchronous clients."""

    def __init__(self, url: str, *, max_connections: int = 100) -> None:
        from aioneo._aiohttp import AiohttpTransport

        self.target = httpx.URL(url)
        self.inner = AiohttpTransport(max_connections=max_connections)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.netloc.decode("ascii")
        request.url = request.url.copy_with(
            scheme=self.target.scheme, host=self.target.host, port=self.target.port
        )
        request.headers["Host"] = host
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture
def network(emulator: Emulator, backend: str) -> Iterator[httpx.AsyncBaseTransport]:
    """The emulator as the backend reaches it: in-process, or on loopback via aiohttp."""
    if backend == "httpx":
        yield emulator.transport()
        return
    with EmulatorServer(emulator) as server:
        yield AiohttpRouting(server.url)


class Gate:
    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.waiting = 0
        self.passed = 0
        self._arrived = asyncio.Condition()

    def release(self) -> None:
        self.event.set()

    async def arrived(self) -> None:
        async with self._arrived:
            self._arrived.notify_all()

    async def until_waiting(self, n: int) -> None:
        """Return once ``n`` requests are held (fails the test after 5 s)."""
        async with asyncio.timeout(5.0), self._arrived:
            await self._arrived.wait_for(lambda: self.waiting >= n)


Rewrite = Callable[[httpx.Request, httpx.Response], httpx.Response]


class GateTransport(httpx.AsyncBaseTransport):
    """Wraps a transport: gates by path fragment, rewrites answers, counts concurrency."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.gates: dict[str, Gate] = {}
        self.rewrites: dict[str, Rewrite] = {}
        self.failures: dict[str, Callable[[httpx.Request], None]] = {}
        #: Answer instead of the server (nothing is forwarded) when the callable returns one.
        self.replies: dict[str, Callable[[httpx.Request], httpx.Response | None]] = {}
        self.in_flight: dict[str, int] = {}
        self.max_in_flight: dict[str, int] = {}
        self.sent: list[httpx.Request] = []

    def gate(self, fragment: str) -> Gate:
        gate = self.gates[fragment] = Gate()
        return gate

    def ungate(self, fragment: str) -> None:
        gate = self.gates.pop(fragment, None)
        if gate is not None:
            gate.release()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        keys = [k for k in self.gates if k in path]
        for key in keys:
            gate = self.gates[key]
            gate.waiting += 1
            await gate.arrived()
            try:
                await gate.event.wait()
            finally:
                gate.waiting -= 1
                gate.passed += 1
        for key, fail in self.failures.items():
            if key in path:
                fail(request)
        for key, reply in list(self.replies.items()):
            answer = reply(request) if key in path else None
            if answer is not None:
                return answer
        name = path.rsplit("/", 1)[-1]
        self.in_flight[name] = self.in_flight.get(name, 0) + 1
        self.max_in_flight[name] = max(self.max_in_flight.get(name, 0), self.in_flight[name])
        try:
            self.sent.append(request)
            response = await self.inner.handle_async_request(request)
        finally:
            self.in_flight[name] -= 1
        for key, rewrite in self.rewrites.items():
            if key in path:
                await response.aread()
                await response.aclose()  # hand the connection back before replacing it
                response = rewrite(request, response)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


ENVELOPE = {
    "code": "900901",
    "message": "Invalid Credentials",
    "description": (
        "Invalid JWT token. Make sure you have provided the correct security credentials"
    ),
}


def expired_response(status: int = 401) -> httpx.Response:
    return httpx.Response(status, content=json.dumps(ENVELOPE).encode())


@pytest.fixture
def clock() -> StepClock:
    return StepClock()


@pytest.fixture
def emulator(clock: StepClock) -> Emulator:
    return Emulator(EmulatorConfig(rate_limit=None), clock=clock)


@pytest.fixture
def gate_transport(network: httpx.AsyncBaseTransport) -> GateTransport:
    return GateTransport(network)


def credentials_of(emulator: Emulator, **changes: str) -> Credentials:
    fields = emulator.credentials.as_dict()
    fields.update(changes)
    return Credentials(**fields)


@pytest.fixture
def make_client(
    emulator: Emulator, gate_transport: GateTransport, clock: StepClock
) -> Callable[..., AsyncNeoClient]:
    def make(**options: object) -> AsyncNeoClient:
        creds = options.pop("credentials", None) or credentials_of(emulator)
        options.setdefault("transport", gate_transport)
        options.setdefault("rate_limit", None)
        options.setdefault("clock", clock)
        return AsyncNeoClient(creds, login_url=emulator.login_url, **options)  # type: ignore[arg-type]

    return make


@pytest.fixture
async def client(make_client: Callable[..., AsyncNeoClient]) -> AsyncIterator[AsyncNeoClient]:
    neo = make_client()
    async with neo:
        yield neo
