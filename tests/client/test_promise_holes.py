"""Issue 10: holes in the order and relogin promise, each run against both twins.

``AsyncNeoClient`` talks to the in-process emulator through ``GateTransport``; ``NeoClient``
talks to the same emulator on loopback (``EmulatorServer``) through ``SyncGateTransport``,
its calls run in worker threads so one async test body drives both. Every test asserts
outcomes and counts (logins the server saw, errors received), never timings.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from aioneo import (
    AsyncNeoClient,
    BusinessError,
    FatalLoginError,
    MemorySessionStore,
    NeoClient,
    RateLimitError,
    TransientLoginError,
)
from aioneo.testing import Emulator, EmulatorConfig, EmulatorServer, StepClock

from .conftest import GateTransport, credentials_of, expired_response
from .sync_support import SyncGateTransport

Client = AsyncNeoClient | NeoClient
PLACE = "quick/order/rule/ms/place"


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


def order(tag: str | None, side: str = "B", quantity: int = 1) -> dict[str, Any]:
    return {
        "exchange_segment": "nse_cm",
        "product": "MIS",
        "price": "0",
        "order_type": "MKT",
        "quantity": quantity,
        "validity": "DAY",
        "trading_symbol": "ITBEES-EQ",
        "transaction_type": side,
        "tag": tag,
    }


def expire(twin: Twin) -> None:
    twin.emulator.expire_sessions()
    twin.clock.next_step()


def nth(n: int, answer: Callable[[httpx.Request], httpx.Response]) -> Callable[..., Any]:
    """A reply hook that answers only the ``n``-th matching request (1-based)."""
    seen = [0]

    def reply(request: httpx.Request) -> httpx.Response | None:
        seen[0] += 1
        return answer(request) if seen[0] == n else None

    return reply


# -- item 1: reconciliation --------------------------------------------------------------


async def test_1_find_order_never_takes_a_prefix(closing: Twin) -> None:
    twin = closing
    neo = twin.make()
    ten = await twin.call(neo, "place_order", **order("strat-10"))
    await twin.call(neo, "place_order", **order("strat-20"))
    assert await twin.call(neo, "find_order", "strat-1") is None
    assert await twin.call(neo, "find_order", "strat-2") is None
    found = await twin.call(neo, "find_order", "strat-10")
    assert found is not None
    assert found.order_id == ten.order_id


async def test_1_a_replay_refused_with_429_is_not_a_prefix_match(closing: Twin) -> None:
    twin = closing
    neo = twin.make()
    await twin.call(neo, "place_order", **order("strat-20"))
    expire(twin)  # the next place meets 900901: nothing placed; the replay then meets 429
    twin.transport.replies[PLACE] = nth(
        2, lambda r: httpx.Response(429, headers={"retry-after": "1"}, json={"message": "x"})
    )
    with pytest.raises(RateLimitError):
        await twin.call(neo, "place_order", **order("strat-2"))
    assert "strat-2" not in twin.emulator.counters.orders_by_tag


async def test_1_a_reused_tag_for_another_order_is_refused_not_reported(closing: Twin) -> None:
    twin = closing
    neo = twin.make()
    await twin.call(neo, "place_order", **order("dup-1", "B", 1))
    expire(twin)  # first attempt: 900901; the replay: 5204 (the tag is the BUY's)
    with pytest.raises(BusinessError) as caught:
        await twin.call(neo, "place_order", **order("dup-1", "S", 5))
    assert caught.value.st_code == 5204
    assert "another order" in str(caught.value)
    assert twin.emulator.counters.orders_by_tag["dup-1"] == 1
    assert [row["trnsTp"] for row in twin.emulator.orders] == ["B"]


# -- item 2: 900901 on the MPIN step -----------------------------------------------------


async def test_2_a_refused_view_token_is_transient_not_cached(closing: Twin) -> None:
    twin = closing
    neo = twin.make(login_cooldown=10.0)  # late callers fail fast instead of logging in
    twin.transport.rewrites["tradeApiValidate"] = lambda req, resp: expired_response(401)
    burst = [twin.start(neo, "positions") for _ in range(16)]
    results = await asyncio.gather(*burst, return_exceptions=True)
    assert all(isinstance(r, TransientLoginError) for r in results), results
    assert not any(isinstance(r, FatalLoginError) for r in results)
    del twin.transport.rewrites["tradeApiValidate"]
    twin.clock.next_step()  # past the cooldown, and a fresh TOTP step
    assert isinstance(await twin.call(neo, "positions"), list)  # a fresh login fixes it
    assert neo.stats.logins == 1


# -- item 3: set_credentials() during a login --------------------------------------------


async def test_3_new_credentials_during_a_login_are_used(closing: Twin) -> None:
    twin = closing
    good = credentials_of(twin.emulator)
    neo = twin.make(credentials=credentials_of(twin.emulator, mpin="000000"))
    twin.transport.gate("tradeApiValidate")
    call = twin.start(neo, "positions")
    await twin.until_waiting("tradeApiValidate", 1)
    neo.set_credentials(good)
    twin.clock.next_step()  # the login with the new credentials needs a fresh step
    twin.transport.ungate("tradeApiValidate")
    assert isinstance(await call, list)  # the stale "Invalid MPIN" decided nothing
    assert twin.emulator.counters.logins == 1
    assert neo.stats.login_failures == 1
    assert isinstance(await twin.call(neo, "positions"), list)


# -- item 4: adopting a sibling's dead session -------------------------------------------


async def test_4_adopting_a_dead_session_does_not_spend_the_relogin(closing: Twin) -> None:
    twin = closing
    store = MemorySessionStore()
    a = twin.make(session_store=store)
    b = twin.make(session_store=store)
    await twin.call(a, "login")
    await twin.call(b, "positions")  # adopts a's session
    expire(twin)
    await twin.call(a, "positions")  # a logs in again and writes it to the store
    expire(twin)  # ... and the server ends that session too
    results = await asyncio.gather(
        *[twin.start(b, "positions") for _ in range(10)], return_exceptions=True
    )
    assert all(isinstance(r, list) for r in results), results
    assert twin.emulator.counters.logins == 3  # a twice, b once: one login per event
    assert b.stats.adopted == 2  # the live one, then the dead one; then b logged in


# -- item 6: logout() during a login -----------------------------------------------------


async def test_6_logout_wins_over_a_login_in_flight(closing: Twin) -> None:
    twin = closing
    neo = twin.make()
    twin.transport.gate("tradeApiValidate")
    call = twin.start(neo, "positions")
    await twin.until_waiting("tradeApiValidate", 1)
    logout = twin.start(neo, "logout")
    await asyncio.sleep(0.05)
    assert not logout.done()  # it waits for the login
    twin.transport.ungate("tradeApiValidate")
    await call
    await logout
    assert neo.session is None
    assert twin.emulator.counters.requests.get("logout", 0) == 1  # ended on the server
    twin.clock.next_step()
    await twin.call(neo, "positions")
    assert twin.emulator.counters.logins == 2  # the next call logged in again
