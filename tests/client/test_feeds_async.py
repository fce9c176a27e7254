"""AsyncNeoClient's live feeds against the emulator over real loopback sockets (issue 12).

What is asserted is counted, never timed: logins (``neo.stats``), the feed's counters
(``feed.stats``), the emulator's counters (``emulator.feeds.counters()``), the events in
the stream and their order, the items delivered. Every wait is bounded (per-test timeout
plus ``asyncio.timeout`` on each wait for an item). After every test no task of aioneo is
left and the loop reported no exception (no "exception was never retrieved").
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest

from aioneo import (
    AsyncNeoClient,
    FatalLoginError,
    FeedClosedError,
    FeedError,
    FeedEvent,
    FeedOverflowError,
    IndexTick,
    MarketFeed,
    MarketStatus,
    MemorySessionStore,
    OrderFeed,
    OrderStatus,
    OrderUpdate,
    ReloginLoopError,
    SubscriptionError,
    Tick,
    index_instrument,
)
from aioneo.testing import Emulator, EmulatorConfig, EmulatorServer, StepClock

from .conftest import credentials_of

pytestmark = pytest.mark.timeout(45)

WAIT = 10.0
TCS, INFY = "nse_cm|11536", "nse_cm|1594"


@pytest.fixture
def clock() -> StepClock:
    return StepClock(auto_step=True)  # a relogin needs no wait for a fresh TOTP step


@pytest.fixture
def emulator(clock: StepClock) -> Emulator:
    return Emulator(EmulatorConfig(rate_limit=None, tick_rate=20), clock=clock)


@pytest.fixture
def server(emulator: Emulator) -> Iterator[EmulatorServer]:
    with EmulatorServer(emulator) as running:
        yield running


@pytest.fixture
def make_client(
    server: EmulatorServer, emulator: Emulator, clock: StepClock
) -> Callable[..., AsyncNeoClient]:
    def make(**options: Any) -> AsyncNeoClient:
        options.setdefault("login_url", server.url)
        options.setdefault("config_url", server.url + "/5config/config")
        options.setdefault("rate_limit", None)
        options.setdefault("max_connections", 50)
        return AsyncNeoClient(credentials_of(emulator), clock=clock, **options)

    return make


@pytest.fixture
async def neo(make_client: Callable[..., AsyncNeoClient]) -> AsyncIterator[AsyncNeoClient]:
    async with make_client() as client:
        await client.login()
        yield client


def aioneo_tasks() -> list[asyncio.Task[Any]]:
    current = asyncio.current_task()
    return [
        t
        for t in asyncio.all_tasks()
        if t is not current and not t.done() and t.get_name().startswith("aioneo")
    ]


@pytest.fixture(autouse=True)
async def clean_loop() -> AsyncIterator[list[dict[str, Any]]]:
    """Fails the test on any exception the loop reports, and on an aioneo task left."""
    errors: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    yield errors
    gc.collect()
    await asyncio.sleep(0)
    loop.set_exception_handler(None)
    assert errors == []


async def next_item(feed: MarketFeed | OrderFeed) -> Any:
    async with asyncio.timeout(WAIT):
        return await anext(feed)


async def until(
    feed: MarketFeed | OrderFeed, predicate: Callable[[Any], bool], *, limit: int = 5000
) -> list[Any]:
    """Items up to and including the first that satisfies ``predicate``."""
    seen: list[Any] = []
    async with asyncio.timeout(WAIT):
        async for item in feed:
            seen.append(item)
            if predicate(item):
                return seen
            assert len(seen) < limit, f"no matching item in {limit}: {seen[-5:]}"
    raise AssertionError("the feed ended")


def event(kind: str) -> Callable[[Any], bool]:
    return lambda item: isinstance(item, FeedEvent) and item.kind == kind


def tick_of(instrument: str) -> Callable[[Any], bool]:
    return lambda item: isinstance(item, Tick) and item.instrument == instrument


def kinds(items: list[Any]) -> list[str]:
    return [i.kind for i in items if isinstance(i, FeedEvent)]


async def wait_until(predicate: Callable[[], bool], what: str) -> None:
    for _ in range(int(WAIT / 0.01)):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


# ---------------------------------------------------------------- the basics


async def test_subscribe_stream_and_latest(neo: AsyncNeoClient, emulator: Emulator) -> None:
    async with neo.market_feed() as feed:
        await feed.subscribe([TCS, INFY], mode="quote")
        first = await next_item(feed)
        assert isinstance(first, FeedEvent)
        assert first.kind == "connected"
        assert first.reconnect is False
        assert first.epoch == neo.session.epoch
        items = await until(feed, tick_of(INFY))
        tcs = [i for i in items if isinstance(i, Tick) and i.instrument == TCS]
        assert tcs
        assert tcs[-1].mode == "quote"
        assert isinstance(tcs[-1].ltp, Decimal)
        last = feed.latest(INFY)
        assert last is not None
        assert last.instrument == INFY
        assert feed.latest("nse_cm|99999") is None
        assert feed.subscriptions == 2
        assert feed.trading_symbol(TCS) in (None, "TCS-EQ")
        stats = feed.stats
    assert stats.connects == 1
    assert stats.reconnects == 0
    assert stats.auth_refusals == 0
    assert neo.stats.logins == 1
    assert emulator.feeds.counters()["market_auths_accepted"] == 1
    assert aioneo_tasks() == []


async def test_instrument_objects_and_index_mode(neo: AsyncNeoClient) -> None:
    nifty = index_instrument("Nifty 50")
    async with neo.market_feed() as feed:
        await feed.subscribe([nifty], mode="index")
        items = await until(feed, lambda i: isinstance(i, IndexTick))
        tick = items[-1]
        assert tick.name == "Nifty 50"
        assert feed.latest(nifty) is tick
        assert feed.latest("nse_cm|Nifty 50") is tick


async def test_ltp_then_unsubscribe(neo: AsyncNeoClient, emulator: Emulator) -> None:
    async with neo.market_feed() as feed:
        await feed.subscribe([TCS], mode="ltp")
        items = await until(feed, tick_of(TCS))
        assert items[-1].mode == "ltp"
        await feed.unsubscribe([TCS], mode="ltp")
        assert feed.subscriptions == 0
        await wait_until(
            lambda: emulator.feeds.counters()["unsubscribe_frames"] == 1, "the unsubscribe"
        )


async def test_market_status_items(neo: AsyncNeoClient, emulator: Emulator) -> None:
    async with neo.market_feed() as feed:
        await feed.subscribe_market_status()
        await until(feed, event("connected"))
        await wait_until(
            lambda: emulator.feeds.push_market_status("nse_cm", 2) == 1, "the status subscription"
        )
        items = await until(feed, lambda i: isinstance(i, MarketStatus))
        assert items[-1].exchange_segment == "nse_cm"


async def test_bad_arguments_are_named(neo: AsyncNeoClient) -> None:
    with pytest.raises(ValueError, match="mode='bogus' is not allowed"):
        await neo.market_feed().subscribe([TCS], mode="bogus")
    with pytest.raises(ValueError, match="overflow='never' is not allowed"):
        neo.market_feed(overflow="never")
    with pytest.raises(ValueError, match="url='ftp://x' is not allowed"):
        neo.market_feed(url="ftp://x")
    with pytest.raises(ValueError, match="config_url='wss://x/c' is not allowed"):
        AsyncNeoClient(neo.credentials, config_url="wss://x/c")
    feed = neo.market_feed(max_subscriptions=2)
    with pytest.raises(SubscriptionError) as refused:
        await feed.subscribe([TCS, INFY, "nse_cm|2885"])
    assert refused.value.count == 3
    assert refused.value.limit == 2
    assert feed.subscriptions == 0
    await feed.close()


# ---------------------------------------------------------------- URLs


@pytest.mark.parametrize("advertise", ["both", "validate"])
async def test_urls_from_the_config_service_or_validate(
    make_client: Callable[..., AsyncNeoClient], emulator: Emulator, advertise: str
) -> None:
    emulator.configure(advertise_feeds=advertise)
    async with make_client() as neo:
        async with neo.market_feed() as feed, neo.order_feed() as updates:
            await until(feed, event("connected"))
            await until(updates, event("connected"))
        assert neo.session is not None
    counters = emulator.feeds.counters()
    assert counters["market_auths_accepted"] == 1
    assert counters["order_auths_accepted"] == 1


async def test_explicit_url_wins(
    make_client: Callable[..., AsyncNeoClient], emulator: Emulator, server: EmulatorServer
) -> None:
    emulator.configure(advertise_feeds="none")
    urls = emulator.feed_urls()
    async with make_client(config_url=None) as neo:
        async with neo.market_feed(url=urls["market"].replace("ws://", "http://")) as feed:
            await until(feed, event("connected"))
        async with neo.order_feed(url=urls["order"]) as updates:
            await until(updates, event("connected"))


async def test_max_reconnects_ends_the_feed_with_feed_error(neo: AsyncNeoClient) -> None:
    async with neo.market_feed(url="ws://127.0.0.1:9/apifeed", max_reconnects=2) as feed:
        with pytest.raises(FeedError, match="gave up after 2 reconnect attempts"):
            await next_item(feed)
        with pytest.raises(FeedError):  # and again: the feed stays failed
            await next_item(feed)
        assert feed.stats.connects == 0


# ---------------------------------------------------------------- drops, stalls, refusals


@pytest.mark.parametrize("code", [1000, 1001, 1011, 1012, 1013, 4000])
async def test_a_drop_with_each_close_code_reconnects_without_a_login(
    neo: AsyncNeoClient, emulator: Emulator, code: int
) -> None:
    async with neo.market_feed() as feed:
        await feed.subscribe([TCS])
        await until(feed, tick_of(TCS))
        assert emulator.feeds.drop("market", code=code, reason="bye") == 1
        items = await until(feed, event("disconnected"))
        gone = items[-1]
        assert gone.code == code
        assert gone.reason == "bye"
        items = await until(feed, tick_of(TCS))
        assert kinds(items) == ["connected", "resubscribed"]
        assert feed.stats.reconnects == 1
        assert feed.stats.auth_refusals == 0
    assert neo.stats.logins == 1


@pytest.mark.parametrize("code", [1008, 4001, 4401])
async def test_an_auth_close_code_is_a_session_expiry_and_one_relogin(
    neo: AsyncNeoClient, emulator: Emulator, code: int
) -> None:
    async with neo.market_feed() as feed:
        await feed.subscribe([TCS])
        await until(feed, tick_of(TCS))
        emulator.feeds.drop("market", code=code)
        items = await until(feed, event("connected"))
        assert items[-1].reconnect is True
        assert items[-1].epoch == neo.session.epoch  # type: ignore[union-attr]
        await until(feed, tick_of(TCS))
        assert feed.stats.auth_refusals == 1
    assert neo.stats.logins == 2


@pytest.mark.parametrize("kind", ["market", "order"])
async def test_order_feed_and_market_feed_drops(
    neo: AsyncNeoClient, emulator: Emulator, kind: str
) -> None:
    feed = neo.market_feed() if kind == "market" else neo.order_feed()
    async with feed:
        await until(feed, event("connected"))
        emulator.feeds.drop(kind, code=1012)
        items = await until(feed, event("connected"))
        assert kinds(items) == ["disconnected", "connected"]
        assert items[0].code == 1012
    assert neo.stats.logins == 1


@pytest.mark.parametrize("failure", ["reply", "close"])
@pytest.mark.parametrize("kind", ["market", "order"])
async def test_a_refused_auth_leads_one_relogin_then_streams(
    neo: AsyncNeoClient, emulator: Emulator, failure: str, kind: str
) -> None:
    emulator.configure(feed_auth_failure=failure)
    emulator.feeds.refuse_auth(kind, times=1)
    feed = neo.market_feed() if kind == "market" else neo.order_feed()
    async with feed:
        items = await until(feed, event("connected"))
        assert kinds(items) == ["connected"]  # the refused attempt was never live
        assert items[-1].epoch == neo.session.epoch  # type: ignore[union-attr]
        assert feed.stats.auth_refusals == 1
        assert feed.stats.connects == 1
    assert neo.stats.logins == 2
    assert emulator.feeds.counters()[f"{kind}_auths_refused"] == 1


async def test_the_stall_watchdog_reconnects_a_silent_socket(
    neo: AsyncNeoClient, emulator: Emulator
) -> None:
    async with neo.market_feed(stall_timeout=0.5) as feed:
        await feed.subscribe([TCS])
        await until(feed, tick_of(TCS))
        emulator.feeds.stall("market")
        items = await until(feed, event("stalled"))
        assert "no frame for 0.5 s" in items[-1].reason
        emulator.feeds.resume("market")
        items = await until(feed, tick_of(TCS))
        assert kinds(items)[:3] == ["disconnected", "connected", "resubscribed"]
        assert feed.stats.stalls >= 1
        assert feed.stats.reconnects >= 1
    assert neo.stats.logins == 1


async def test_subscribe_during_a_gap_is_sent_by_the_next_connection(
    neo: AsyncNeoClient, emulator: Emulator
) -> None:
    async with neo.market_feed() as feed:
        await feed.subscribe([TCS])
        await until(feed, tick_of(TCS))
        emulator.feeds.refuse_auth("market")  # the gap lasts until allowed again
        emulator.feeds.drop("market", code=1012)
        await until(feed, event("disconnected"))
        assert not feed.connected
        await feed.subscribe([INFY], mode="ltp")
        await feed.unsubscribe([TCS])
        emulator.feeds.allow_auth("market")
        items = await until(feed, tick_of(INFY))
        assert items[-1].mode == "ltp"
        resub = [i for i in items if isinstance(i, FeedEvent) and i.kind == "resubscribed"]
        assert resub[-1].subscriptions == 1
        await asyncio.sleep(0.3)  # a few ticker steps: nothing of the unsubscribed TCS
        while (item := feed._core.next_item()) is not None:
            assert not (isinstance(item, Tick) and item.instrument == TCS)


async def test_a_fatal_login_error_reaches_the_iterator(
    neo: AsyncNeoClient, emulator: Emulator
) -> None:
    async with neo.market_feed() as feed:
        await until(feed, event("connected"))
        neo.set_credentials(credentials_of(emulator, mpin="000000"))
        emulator.expire_sessions()
        with pytest.raises(FatalLoginError):
            await until(feed, lambda item: False)
    assert neo.stats.login_failures == 1


# ---------------------------------------------------------------- the expiry storm


async def test_expiry_closes_both_feeds_during_a_rest_storm_one_login(
    neo: AsyncNeoClient, emulator: Emulator
) -> None:
    async with neo.market_feed() as feed, neo.order_feed() as updates:
        await feed.subscribe([TCS])
        await until(feed, tick_of(TCS))
        await until(updates, event("connected"))
        old_epoch = neo.session.epoch  # type: ignore[union-attr]

        async def rest() -> int:
            return len(await neo.positions())

        storm = [asyncio.create_task(rest()) for _ in range(500)]
        emulator.expire_sessions()
        results = await asyncio.wait_for(asyncio.gather(*storm), WAIT)
        assert len(results) == 500
        market_items = await until(feed, tick_of(TCS))
        order_items = await until(updates, event("connected"))
        new_epoch = neo.session.epoch  # type: ignore[union-attr]
        assert new_epoch > old_epoch
        back = [i for i in market_items if isinstance(i, FeedEvent) and i.kind == "connected"]
        assert back[-1].epoch == new_epoch
        assert order_items[-1].epoch == new_epoch
        gone = [i for i in market_items if isinstance(i, FeedEvent) and i.kind == "disconnected"]
        assert gone[0].code == 1008
        assert feed.stats.reconnects == 1
        assert updates.stats.reconnects == 1
    assert neo.stats.logins == 2  # the first login and exactly one relogin
    counters = emulator.feeds.counters()
    assert counters["market_auths_accepted"] == 2
    assert counters["order_auths_accepted"] == 2


# ---------------------------------------------------------------- slow consumers


async def wait_pushed(feed: MarketFeed, n: int) -> None:
    await wait_until(lambda: feed._core.buffer.pushed >= n, f"{n} items received")


async def burst(emulator: Emulator, feed: MarketFeed, packets: int) -> None:
    await until(feed, tick_of(TCS))
    before = feed._core.buffer.pushed
    emulator.configure(tick_rate=0)
    assert emulator.feeds.burst("nse_cm", "11536", packets=packets, mode="scrips") == 1
    buffer = feed._core.buffer
    await wait_until(
        lambda: buffer.pushed >= before + packets or buffer.error is not None, "the burst"
    )


async def test_slow_consumer_conflates_bounded_and_latest_is_right(
    neo: AsyncNeoClient, emulator: Emulator
) -> None:
    async with neo.market_feed(capacity=16) as feed:
        await feed.subscribe([TCS])
        await burst(emulator, feed, 5000)
        buffer = feed._core.buffer
        assert len(buffer) <= 16
        assert buffer.high_water <= 16
        delivered: list[Any] = []
        while (item := feed._core.next_item()) is not None:
            delivered.append(item)
        last = [i for i in delivered if isinstance(i, Tick)][-1]
        assert feed.latest(TCS) is last  # conflation kept the newest, and latest saw it
        stats = feed.stats
        assert stats.conflated > 0
        assert stats.dropped == 0
        assert stats.conflated + stats.items == buffer.pushed


async def test_slow_consumer_drop_oldest(neo: AsyncNeoClient, emulator: Emulator) -> None:
    async with neo.market_feed(capacity=16, overflow="drop_oldest") as feed:
        await feed.subscribe([TCS])
        await burst(emulator, feed, 3000)
        assert len(feed._core.buffer) <= 16
        assert feed.stats.dropped > 0
        assert feed.stats.conflated == 0


async def test_overflow_error_after_the_backlog(neo: AsyncNeoClient, emulator: Emulator) -> None:
    async with neo.market_feed(capacity=16, overflow="error") as feed:
        await feed.subscribe([TCS])
        await burst(emulator, feed, 3000)
        delivered: list[Any] = []

        async def drain() -> None:
            while True:
                delivered.append(await next_item(feed))

        with pytest.raises(FeedOverflowError) as overflow:
            await drain()
        assert overflow.value.capacity == 16
        assert 0 < len(delivered) <= 17


# ---------------------------------------------------------------- the order feed


async def place(neo: AsyncNeoClient, **changes: Any) -> str:
    fields: dict[str, Any] = {
        "exchange_segment": "nse_cm",
        "product": "CNC",
        "price": "0",
        "order_type": "MKT",
        "quantity": 1,
        "validity": "DAY",
        "trading_symbol": "ITBEES-EQ",
        "transaction_type": "B",
    }
    fields.update(changes)
    return (await neo.place_order(**fields)).order_id


async def test_order_updates_stream(neo: AsyncNeoClient) -> None:
    async with neo.order_feed() as updates:
        await until(updates, event("connected"))
        order_id = await place(neo)
        items = await until(
            updates,
            lambda i: (
                isinstance(i, OrderUpdate)
                and i.order_id == order_id
                and i.status is OrderStatus.COMPLETE
            ),
        )
        assert not items[-1].reconciled
        assert items[-1].raw


async def test_an_order_filled_during_a_gap_appears_once_marked_reconciled(
    neo: AsyncNeoClient, emulator: Emulator
) -> None:
    resting = await place(neo, order_type="L", price="1.00")
    async with neo.order_feed() as updates:
        first = await until(updates, lambda i: isinstance(i, OrderUpdate) and i.order_id == resting)
        assert first[-1].reconciled  # the book at the first connect, delivered once
        assert updates.stats.reconciled == 1
        emulator.feeds.stall("order")  # what is pushed now is lost, as on a dead feed
        filled = await place(neo)
        await neo.cancel_order(resting)
        emulator.feeds.resume("order")
        emulator.feeds.drop("order", code=1012)
        items = await until(updates, event("connected"))
        # Read on until the server's re-push is in (then nothing more is coming).
        await wait_until(lambda: updates.stats.duplicates >= 3, "the server's re-push")
        while (item := updates._core.next_item()) is not None:
            items.append(item)
    mine = [i for i in items if isinstance(i, OrderUpdate) and i.order_id == filled]
    assert len(mine) == 1
    assert mine[0].reconciled
    assert mine[0].status is OrderStatus.COMPLETE
    gone = [i for i in items if isinstance(i, OrderUpdate) and i.order_id == resting]
    assert len(gone) == 1
    assert gone[0].reconciled
    assert gone[0].status is OrderStatus.CANCELLED
    assert updates.stats.reconciled == 3


# ---------------------------------------------------------------- close and cancellation


async def test_close_wakes_waiting_readers_with_feed_closed_error(neo: AsyncNeoClient) -> None:
    feed = neo.market_feed()
    async with feed:
        await until(feed, event("connected"))
        readers = [asyncio.create_task(next_item(feed)) for _ in range(3)]
        await asyncio.sleep(0)
        await feed.close()
        for reader in readers:
            with pytest.raises(FeedClosedError):
                await reader
    with pytest.raises(FeedClosedError):
        await feed.subscribe([TCS])
    with pytest.raises(FeedClosedError):
        await anext(feed)
    assert aioneo_tasks() == []


async def test_close_before_the_first_connection(neo: AsyncNeoClient, emulator: Emulator) -> None:
    emulator.feeds.stall("market")  # auth replies still go out; nothing more
    for _ in range(5):
        feed = neo.market_feed()
        async with feed:
            await asyncio.sleep(0)  # the reader is connecting
        assert feed.closed
    assert aioneo_tasks() == []


async def test_close_while_the_feed_waits_for_a_relogin(
    neo: AsyncNeoClient, emulator: Emulator, server: EmulatorServer
) -> None:
    async with neo.market_feed() as feed:
        await until(feed, event("connected"))
        emulator.configure(latency={"login": 0.5})  # the relogin is in flight at the close
        emulator.expire_sessions()
        await until(feed, event("disconnected"))
    assert [t.get_name() for t in aioneo_tasks() if "login" not in t.get_name()] == []
    await neo.positions()  # the client is fine; the login was not cancelled by the feed
    assert neo.stats.logins == 2


async def test_cancelling_a_consumer_leaves_the_feed_working(neo: AsyncNeoClient) -> None:
    async with neo.market_feed() as feed:
        await feed.subscribe([TCS])
        consumer = asyncio.create_task(until(feed, lambda i: False))
        await asyncio.sleep(0.2)
        consumer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await consumer
        await until(feed, tick_of(TCS))
    assert aioneo_tasks() == []


async def test_closing_the_client_closes_its_feeds(
    make_client: Callable[..., AsyncNeoClient],
) -> None:
    neo = make_client()
    feed = neo.market_feed()
    updates = neo.order_feed()
    await feed.__aenter__()
    await updates.__aenter__()
    await until(feed, event("connected"))
    await until(updates, event("connected"))
    waiting = asyncio.create_task(until(updates, lambda i: False))
    await asyncio.sleep(0)
    await neo.aclose()
    assert feed.closed
    assert updates.closed
    with pytest.raises(FeedClosedError):
        await waiting
    assert aioneo_tasks() == []


async def test_cancelling_the_task_that_owns_the_feed(neo: AsyncNeoClient) -> None:
    async def owner() -> None:
        async with neo.market_feed() as feed:
            await feed.subscribe([TCS])
            async for _ in feed:
                pass

    task = asyncio.create_task(owner())
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert aioneo_tasks() == []


async def test_the_relogin_breaker_reaches_the_iterator(
    make_client: Callable[..., AsyncNeoClient], emulator: Emulator
) -> None:
    """A feed refused again and again (another program keeps ending the session) asks for
    logins; past ``max_relogins`` the breaker's error comes out of the iterator."""
    async with make_client(max_relogins=2) as neo:
        await neo.login()
        emulator.feeds.refuse_auth("market")  # every auth, until allowed
        async with neo.market_feed() as feed:
            with pytest.raises(ReloginLoopError):
                await until(feed, lambda item: False)
            assert feed.stats.auth_refusals == 3
        assert neo.stats.relogins == 2


async def test_an_adopted_session_keeps_the_feed_urls_validate_named(
    make_client: Callable[..., AsyncNeoClient], emulator: Emulator
) -> None:
    """Validate's ``feedUrl`` / ``rtUrl`` travel with the session through a shared store:
    a client that adopts it (no login of its own) finds the feeds without a config service."""
    emulator.configure(advertise_feeds="validate")
    store = MemorySessionStore()
    async with make_client(session_store=store, config_url=None) as first:
        await first.login()
    async with make_client(session_store=store, config_url=None) as second:
        async with second.market_feed() as feed, second.order_feed() as updates:
            await until(feed, event("connected"))
            await until(updates, event("connected"))
        assert second.stats.adopted == 1
        assert second.stats.logins == 0
