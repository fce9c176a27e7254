"""Both twins from one async test: ``Twin`` builds clients and runs their calls.

``AsyncNeoClient`` talks to the in-process emulator through ``GateTransport``; ``NeoClient``
talks to the same emulator on loopback (``EmulatorServer``) through ``SyncGateTransport``,
and its calls run in worker threads. Use the ``twin`` fixture (parametrized over both) and
``closing`` (the same twin, with every client it made closed at the end).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
from collections.abc import Iterator
from typing import Any

import pytest

from aioneo import AsyncNeoClient, NeoClient
from aioneo.testing import Emulator, EmulatorConfig, EmulatorServer, StepClock

from .conftest import GateTransport, credentials_of
from .sync_support import SyncGateTransport

Client = AsyncNeoClient | NeoClient


class Twin:
    """One twin under test: builds clients and runs their calls from an async test."""

    def __init__(self, kind: str, emulator: Emulator, clock: StepClock, url: str) -> None:
        self.kind = kind
        self.emulator = emulator
        self.clock = clock
        self.url = url
        self.transport: GateTransport | SyncGateTransport
        if kind == "async":
            self.transport = GateTransport(emulator.transport())
        else:
            self.transport = SyncGateTransport()
        self.pool = concurrent.futures.ThreadPoolExecutor(32, thread_name_prefix="twin")
        self.made: list[Client] = []

    def make(self, **options: Any) -> Client:
        creds = options.pop("credentials", None) or credentials_of(self.emulator)
        options.setdefault("transport", self.transport)
        options.setdefault("rate_limit", None)
        options.setdefault("clock", self.clock)
        options.setdefault("login_cooldown", 0.0)
        cls = AsyncNeoClient if self.kind == "async" else NeoClient
        client: Client = cls(creds, login_url=self.url, **options)
        self.made.append(client)
        return client

    async def call(self, client: Client, name: str, *args: Any, **kwargs: Any) -> Any:
        method = getattr(client, name)
        if isinstance(client, AsyncNeoClient):
            return await method(*args, **kwargs)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, functools.partial(method, *args, **kwargs))

    def start(self, client: Client, name: str, *args: Any, **kwargs: Any) -> asyncio.Future[Any]:
        return asyncio.ensure_future(self.call(client, name, *args, **kwargs))

    async def until_waiting(self, fragment: str, n: int) -> None:
        if isinstance(self.transport, GateTransport):
            await self.transport.gates[fragment].until_waiting(n)
        else:
            await asyncio.get_running_loop().run_in_executor(
                self.pool, self.transport.gates[fragment].until_waiting, n
            )

    async def aclose(self) -> None:
        for client in self.made:
            if isinstance(client, AsyncNeoClient):
                await client.aclose()
            else:
                client.close()
        self.pool.shutdown(wait=True)


@pytest.fixture(params=["async", "sync"])
def twin(request: pytest.FixtureRequest, clock: StepClock) -> Iterator[Twin]:
    emulator = Emulator(EmulatorConfig(rate_limit=None), clock=clock)
    if request.param == "async":
        yield Twin("async", emulator, clock, emulator.login_url)
        return
    with EmulatorServer(emulator) as server:
        yield Twin("sync", emulator, clock, server.url)


@pytest.fixture
async def closing(twin: Twin) -> Any:
    yield twin
    await twin.aclose()
