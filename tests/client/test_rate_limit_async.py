"""Client-side rate limiting and 429 handling, counted by the emulator (no timing asserts)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from aioneo import AsyncNeoClient, RateLimitError
from aioneo.testing import Emulator

MakeClient = Callable[..., AsyncNeoClient]


async def test_client_limiter_keeps_under_the_server_limit(
    make_client: MakeClient, emulator: Emulator
) -> None:
    emulator.configure(rate_limit=10)
    async with make_client(rate_limit=10) as client:
        results = await asyncio.gather(*(client.positions() for _ in range(25)))
    assert len(results) == 25
    assert emulator.counters.rate_limited == 0
    assert emulator.counters.requests["positions"] == 25


async def test_429_is_retried_after_retry_after(
    make_client: MakeClient, emulator: Emulator
) -> None:
    emulator.configure(rate_limit=10)
    async with make_client(rate_limit=None) as client:
        results = await asyncio.gather(
            *(client.positions() for _ in range(15)), return_exceptions=True
        )
    assert emulator.counters.rate_limited >= 5  # the burst went over the server's limit
    assert all(isinstance(r, list | RateLimitError) for r in results)
    assert sum(isinstance(r, list) for r in results) >= 10
    assert emulator.counters.requests["positions"] > 15  # the refused ones were sent again


async def test_orders_are_never_retried_on_429(make_client: MakeClient, emulator: Emulator) -> None:
    async with make_client() as client:
        await client.login()
        emulator.inject_fault("place_order", "http_429", count=1)
        with pytest.raises(RateLimitError) as caught:
            await client.place_order(
                exchange_segment="nse_cm",
                product="CNC",
                price="0",
                order_type="MKT",
                quantity=1,
                validity="DAY",
                trading_symbol="ITBEES-EQ",
                transaction_type="B",
            )
    assert caught.value.retry_after is not None
    assert emulator.counters.requests["place_order"] == 1
    assert emulator.counters.orders_by_tag == {}


@pytest.mark.parametrize("rate", [0, -5])
def test_bad_rate_limit_is_refused(emulator: Emulator, rate: float) -> None:
    from aioneo import Credentials

    with pytest.raises(ValueError, match="rate_limit"):
        AsyncNeoClient(Credentials(**emulator.credentials.as_dict()), rate_limit=rate)
