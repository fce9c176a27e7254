"""Testing your own bot offline with ``aioneo.testing``: a pytest example.

    python -m pytest examples/test_my_bot.py

The "bot" below (``rebalance``) would live in your package. The tests run it against the
in-process emulator and check what matters for a trading bot by counting what the
emulator saw: how many orders each tag produced, how many logins, how many requests.
Each test builds its own emulator, so nothing leaks between tests.

Two tools do the heavy lifting: ``emulator.hold(endpoint)`` stops requests to one
endpoint just before the server looks at them (so a test can expire the session at
exactly that moment), and ``emulator.inject_fault(endpoint, kind)`` makes the next
request fail in a chosen way (here: the order is placed but the answer is lost).

For the fixtures ``neo_emulator`` / ``neo_emulator_server``, put
``pytest_plugins = ["aioneo.testing.pytest_plugin"]`` in your root ``conftest.py``. This
file builds its emulator itself, because it shares a clock with the client (below).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from aioneo import AsyncNeoClient, Credentials, Order, OrderOutcomeUnknown
from aioneo.testing import Emulator, EmulatorConfig, StepClock

pytestmark = pytest.mark.asyncio

SYMBOL = "nse_cm|11536"  # TCS-EQ


# -- the bot under test (in real life: from mybot import rebalance) ---------------------------


async def rebalance(neo: AsyncNeoClient, *, symbol: str = SYMBOL, target: int = 10) -> Order | None:
    """Buy what is missing to hold ``target`` shares of ``symbol``; return the order, or
    ``None`` when nothing was missing. Never places a second order for one decision."""
    segment, token = symbol.split("|")
    positions = await neo.positions()
    held = sum(p.net_quantity for p in positions if p.instrument_token == token)
    if held >= target:
        return None
    (quote,) = await neo.quotes([symbol])
    assert quote.display_symbol is not None
    try:
        result = await neo.place_order(
            exchange_segment=segment,
            product="CNC",
            price="0",
            order_type="MKT",
            quantity=target - held,
            validity="DAY",
            trading_symbol=quote.display_symbol,
            transaction_type="B",
        )
        tag = result.tag
    except OrderOutcomeUnknown as exc:
        tag = exc.tag  # sent, answer lost: look it up, never send it again blindly
    assert tag is not None
    return await neo.find_order(tag)


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture
def clock() -> StepClock:
    return StepClock()


@pytest.fixture
def emulator(clock: StepClock) -> Emulator:
    # Eight-hour sessions, so a run just before 00:00 IST (Kotak's end of day) behaves alike.
    return Emulator(EmulatorConfig(rate_limit=None, session_ttl=8 * 3600.0), clock=clock)


@pytest_asyncio.fixture
async def neo(emulator: Emulator, clock: StepClock) -> AsyncIterator[AsyncNeoClient]:
    credentials = Credentials(**emulator.credentials.as_dict())
    async with AsyncNeoClient(
        credentials,
        login_url=emulator.login_url,
        transport=emulator.transport(),
        rate_limit=None,
        clock=clock,
    ) as client:
        yield client


# -- tests -------------------------------------------------------------------------------------


async def test_buys_the_missing_quantity(neo: AsyncNeoClient, emulator: Emulator) -> None:
    order = await rebalance(neo, target=10)
    assert order is not None
    assert order.trading_symbol == "TCS-EQ"
    assert order.filled_quantity == 10
    assert list(emulator.counters.orders_by_tag.values()) == [1]


async def test_a_second_run_buys_nothing(neo: AsyncNeoClient, emulator: Emulator) -> None:
    await rebalance(neo, target=10)
    assert await rebalance(neo, target=10) is None
    assert len(emulator.counters.orders_by_tag) == 1


async def test_the_session_dies_just_before_the_order(
    neo: AsyncNeoClient, emulator: Emulator, clock: StepClock
) -> None:
    await neo.login()
    with emulator.hold("place_order") as hold:
        bot = asyncio.create_task(rebalance(neo, target=3))
        async with asyncio.timeout(5):
            await hold.until_waiting(1)  # the order is on the wire, not yet looked at
        clock.next_step()
        emulator.expire_sessions()  # ... and now its token is dead
    order = await bot
    assert order is not None
    assert order.filled_quantity == 3
    counters = emulator.counters
    assert counters.logins == 2  # one relogin
    assert list(counters.orders_by_tag.values()) == [1]  # the order exists once
    assert counters.requests["place_order"] == 2  # refused once, replayed once
    assert neo.stats.relogins == 1


async def test_a_lost_answer_is_looked_up_not_resent(
    neo: AsyncNeoClient, emulator: Emulator
) -> None:
    emulator.inject_fault("place_order", "accept_then_drop")  # placed, then no answer
    order = await rebalance(neo, target=5)
    assert order is not None
    assert order.filled_quantity == 5
    assert emulator.counters.requests["place_order"] == 1
    assert list(emulator.counters.orders_by_tag.values()) == [1]


async def test_a_market_data_hiccup_is_retried(neo: AsyncNeoClient, emulator: Emulator) -> None:
    emulator.inject_fault("quotes", "http_503_empty")
    order = await rebalance(neo, target=1)
    assert order is not None
    assert emulator.counters.requests["quotes"] == 2  # one 503, one retry
