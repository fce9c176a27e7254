"""Clients sharing one session share its rate limit (issue 10, item 8).

Kotak counts requests per *session*; clients that share a session through a store must
therefore share one schedule. Each test runs two clients on one session against the
emulator with its per-session limit on and sends more orders than one client's burst, so
two independent limiters would together exceed the server's bucket and get 429s (orders
are never retried on 429: each one is a ``RateLimitError``). Assertions are counts from
the emulator and the results, never timings.

Numbers: the emulator allows ``RATE`` requests per second with a burst of ``RATE``; each
client's limiter allows a burst of ``RATE // 2``. Two clients x ``ORDERS`` orders: with
one shared limiter they leave as ``RATE // 2`` at once then ``RATE`` per second (about
0.8 s in all); with two limiters ``RATE`` leave at once, then ``2 * RATE`` per second.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from aioneo import (
    AsyncNeoClient,
    FileSessionStore,
    MemorySessionStore,
    NeoClient,
    RateLimitError,
    RedisSessionStore,
)
from aioneo.testing import Emulator, EmulatorServer, StepClock

from ..redis_support import redis_key, redis_url  # noqa: F401 (fixtures)
from .conftest import credentials_of

RATE = 30
ORDERS = 20

ORDER: dict[str, Any] = {
    "exchange_segment": "nse_cm",
    "product": "CNC",
    "price": "0",
    "order_type": "MKT",
    "quantity": 1,
    "validity": "DAY",
    "trading_symbol": "ITBEES-EQ",
    "transaction_type": "B",
}

MakeClient = Callable[..., AsyncNeoClient]


@pytest.fixture
def server(emulator: Emulator) -> Iterator[EmulatorServer]:
    with EmulatorServer(emulator) as running:
        yield running


def sync_client(
    emulator: Emulator, server: EmulatorServer, clock: StepClock, **options: Any
) -> NeoClient:
    return NeoClient(credentials_of(emulator), login_url=server.url, clock=clock, **options)


def async_client(
    emulator: Emulator, server: EmulatorServer, clock: StepClock, **options: Any
) -> AsyncNeoClient:
    return AsyncNeoClient(credentials_of(emulator), login_url=server.url, clock=clock, **options)


def assert_all_placed(results: list[Any], emulator: Emulator, orders: int) -> None:
    refused = [r for r in results if isinstance(r, RateLimitError)]
    other = [r for r in results if isinstance(r, BaseException) and r not in refused]
    assert other == []
    assert len(refused) == 0, f"{len(refused)} of {orders} orders got 429"
    assert emulator.counters.rate_limited == 0
    assert emulator.counters.requests["place_order"] == orders
    assert len(emulator.counters.orders_by_tag) == orders


async def test_two_async_clients_sharing_a_store_share_the_rate_limit(
    make_client: MakeClient, emulator: Emulator
) -> None:
    emulator.configure(rate_limit=RATE)
    store = MemorySessionStore()
    async with (
        make_client(session_store=store, rate_limit=RATE) as a,
        make_client(session_store=store, rate_limit=RATE) as b,
    ):
        await a.login()
        await b.login()  # adopts a's session: one session, one server-side bucket
        assert emulator.counters.logins == 1
        results = await asyncio.gather(
            *(c.place_order(**ORDER) for c in (a, b) for _ in range(ORDERS)),
            return_exceptions=True,
        )
    assert_all_placed(results, emulator, 2 * ORDERS)


async def test_clients_with_stores_of_their_own_keep_their_own_limiter(
    make_client: MakeClient, emulator: Emulator
) -> None:
    # Two sessions (two logins), two server-side buckets: neither client waits for the other.
    # (Without any store they would share the process's default store, and one session.)
    emulator.configure(rate_limit=RATE, totp_replay_rejection=False)
    async with (
        make_client(rate_limit=RATE, session_store=MemorySessionStore()) as a,
        make_client(rate_limit=RATE, session_store=MemorySessionStore()) as b,
    ):
        assert a._limiter is not b._limiter
        await a.login()
        await b.login()
        assert emulator.counters.logins == 2
        results = await asyncio.gather(
            *(c.place_order(**ORDER) for c in (a, b) for _ in range(RATE // 2)),
            return_exceptions=True,
        )
    assert_all_placed(results, emulator, RATE)


def test_two_sync_clients_in_threads_share_the_rate_limit(
    emulator: Emulator, server: EmulatorServer, clock: StepClock
) -> None:
    emulator.configure(rate_limit=RATE)
    store = MemorySessionStore()
    with (
        sync_client(emulator, server, clock, session_store=store, rate_limit=RATE) as a,
        sync_client(emulator, server, clock, session_store=store, rate_limit=RATE) as b,
    ):
        a.login()
        b.login()
        assert emulator.counters.logins == 1
        with concurrent.futures.ThreadPoolExecutor(2 * ORDERS) as pool:
            futures = [pool.submit(c.place_order, **ORDER) for c in (a, b) for _ in range(ORDERS)]
            results = [f.exception(timeout=20) or f.result() for f in futures]
    assert_all_placed(results, emulator, 2 * ORDERS)


async def test_an_async_and_a_sync_client_share_the_rate_limit(
    emulator: Emulator, server: EmulatorServer, clock: StepClock
) -> None:
    emulator.configure(rate_limit=RATE)
    store = MemorySessionStore()
    with (
        sync_client(emulator, server, clock, session_store=store, rate_limit=RATE) as sync,
        concurrent.futures.ThreadPoolExecutor(ORDERS) as pool,
    ):
        async with async_client(
            emulator, server, clock, session_store=store, rate_limit=RATE
        ) as neo:
            await neo.login()
            await asyncio.to_thread(sync.login)
            assert emulator.counters.logins == 1
            loop = asyncio.get_running_loop()
            results = await asyncio.gather(
                *(neo.place_order(**ORDER) for _ in range(ORDERS)),
                *(
                    loop.run_in_executor(pool, lambda: sync.place_order(**ORDER))
                    for _ in range(ORDERS)
                ),
                return_exceptions=True,
            )
    assert_all_placed(results, emulator, 2 * ORDERS)


async def test_two_file_stores_on_one_path_share_the_rate_limit(
    make_client: MakeClient, emulator: Emulator, tmp_path: Any
) -> None:
    emulator.configure(rate_limit=RATE)
    path = tmp_path / "s.json"
    async with (
        make_client(session_store=FileSessionStore(path), rate_limit=RATE) as a,
        make_client(session_store=FileSessionStore(path), rate_limit=RATE) as b,
    ):
        await a.login()
        await b.login()
        assert emulator.counters.logins == 1
        results = await asyncio.gather(
            *(c.place_order(**ORDER) for c in (a, b) for _ in range(ORDERS)),
            return_exceptions=True,
        )
    assert_all_placed(results, emulator, 2 * ORDERS)


async def test_the_lowest_rate_of_the_clients_sharing_a_store_applies(
    make_client: MakeClient, emulator: Emulator
) -> None:
    # The server allows RATE; one client asks for 2 * RATE, the other for RATE: the shared
    # limiter uses RATE for both, so nothing is refused.
    emulator.configure(rate_limit=RATE)
    store = MemorySessionStore()
    async with (
        make_client(session_store=store, rate_limit=2 * RATE) as fast,
        make_client(session_store=store, rate_limit=RATE) as slow,
    ):
        assert fast._limiter is slow._limiter
        await fast.login()
        await slow.login()
        results = await asyncio.gather(
            *(c.place_order(**ORDER) for c in (fast, slow) for _ in range(ORDERS)),
            return_exceptions=True,
        )
    assert_all_placed(results, emulator, 2 * ORDERS)


# -- Redis: several hosts, one account -----------------------------------------------------


async def test_two_hosts_on_one_redis_store_share_the_rate_limit(
    make_client: MakeClient,
    emulator: Emulator,
    redis_url: str,  # noqa: F811
    redis_key: str,  # noqa: F811
) -> None:
    # Two store objects on one key stand for two hosts: they share no Python object, only
    # the Redis key (the session, the login lock and the rate schedule).
    import redis

    emulator.configure(rate_limit=RATE)
    try:
        async with (
            make_client(
                session_store=RedisSessionStore(redis_url, key=redis_key), rate_limit=RATE
            ) as a,
            make_client(
                session_store=RedisSessionStore(redis_url, key=redis_key), rate_limit=RATE
            ) as b,
        ):
            assert a._limiter is not b._limiter
            await a.login()
            await b.login()
            assert emulator.counters.logins == 1
            results = await asyncio.gather(
                *(c.place_order(**ORDER) for c in (a, b) for _ in range(ORDERS)),
                return_exceptions=True,
            )
        assert_all_placed(results, emulator, 2 * ORDERS)
    finally:
        client = redis.Redis.from_url(redis_url)
        client.delete(
            redis_key, redis_key + ":lock", redis_key + ":rate:" + emulator.credentials.ucc
        )
        client.close()


async def test_redis_failing_mid_session_falls_back_to_the_local_limiter(
    make_client: MakeClient,
    emulator: Emulator,
    redis_url: str,  # noqa: F811
    redis_key: str,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The session is already in Redis; then the rate-limit script fails on every call. The
    # trading calls go on under the process-local limiter; the outage is logged once.
    import redis

    emulator.configure(rate_limit=RATE)
    store = RedisSessionStore(redis_url, key=redis_key)
    try:
        async with make_client(session_store=store, rate_limit=RATE) as a:
            await a.login()

            def broken(*args: object, **kwargs: object) -> object:
                raise redis.ConnectionError("Connection refused")

            monkeypatch.setattr(store, "_rate_script", broken)
            with caplog.at_level(logging.WARNING, logger="aioneo"):
                results = await asyncio.gather(
                    *(a.place_order(**ORDER) for _ in range(ORDERS)), return_exceptions=True
                )
        assert_all_placed(results, emulator, ORDERS)
        warnings = [r for r in caplog.records if "rate limit" in r.getMessage()]
        assert len(warnings) == 1
        assert "process-local" in warnings[0].getMessage()
    finally:
        client = redis.Redis.from_url(redis_url)
        client.delete(
            redis_key, redis_key + ":lock", redis_key + ":rate:" + emulator.credentials.ucc
        )
        client.close()
