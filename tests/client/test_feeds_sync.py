"""NeoClient's live feeds (one reader thread per feed) against the emulator on loopback.

The twin of ``test_feeds_async.py`` for the scenarios where threads matter: the shared
threading relogin (REST threads and both feeds make one login), blocking iteration woken
by ``close()``, and no thread left afterwards. Counted, never timed; every wait bounded.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from aioneo import (
    FatalLoginError,
    FeedClosedError,
    FeedError,
    FeedEvent,
    NeoClient,
    OrderStatus,
    OrderUpdate,
    SyncMarketFeed,
    SyncOrderFeed,
    Tick,
)
from aioneo.testing import Emulator, EmulatorConfig, EmulatorServer, StepClock

from .conftest import credentials_of

pytestmark = pytest.mark.timeout(45)

WAIT = 10.0
TCS, INFY = "nse_cm|11536", "nse_cm|1594"


@pytest.fixture
def clock() -> StepClock:
    return StepClock(auto_step=True)


@pytest.fixture
def emulator(clock: StepClock) -> Emulator:
    return Emulator(EmulatorConfig(rate_limit=None, tick_rate=20), clock=clock)


@pytest.fixture
def server(emulator: Emulator) -> Iterator[EmulatorServer]:
    with EmulatorServer(emulator) as running:
        yield running


def feed_threads() -> list[str]:
    return [
        t.name for t in threading.enumerate() if t.name.startswith("aioneo-") and "feed" in t.name
    ]


@pytest.fixture
def neo(server: EmulatorServer, emulator: Emulator, clock: StepClock) -> Iterator[NeoClient]:
    client = NeoClient(
        credentials_of(emulator),
        login_url=server.url,
        config_url=server.url + "/5config/config",
        clock=clock,
        rate_limit=None,
        max_connections=20,
    )
    with client:
        client.login()
        yield client
    assert feed_threads() == []


def until(
    feed: SyncMarketFeed | SyncOrderFeed, predicate: Callable[[Any], bool], *, limit: int = 5000
) -> list[Any]:
    """Items up to the first matching ``predicate``; a watchdog closes the feed (and so
    fails the test) if none comes within ``WAIT`` seconds."""
    seen: list[Any] = []
    timer = threading.Timer(WAIT, feed.close)
    timer.start()
    try:
        for item in feed:
            seen.append(item)
            if predicate(item):
                return seen
            assert len(seen) < limit, f"no matching item in {limit}: {seen[-5:]}"
    finally:
        timer.cancel()
    raise AssertionError("the feed ended")


def event(kind: str) -> Callable[[Any], bool]:
    return lambda item: isinstance(item, FeedEvent) and item.kind == kind


def tick_of(instrument: str) -> Callable[[Any], bool]:
    return lambda item: isinstance(item, Tick) and item.instrument == instrument


def kinds(items: list[Any]) -> list[str]:
    return [i.kind for i in items if isinstance(i, FeedEvent)]


def wait_until(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def test_stream_latest_and_no_thread_after_close(neo: NeoClient, emulator: Emulator) -> None:
    with neo.market_feed() as feed:
        feed.subscribe([TCS, INFY], mode="quote")
        items = until(feed, tick_of(INFY))
        assert kinds(items)[0] == "connected"
        last = feed.latest(INFY)
        assert last is not None
        assert last.instrument == INFY
        assert feed.subscriptions == 2
        assert len(feed_threads()) == 1
    assert feed_threads() == []
    assert feed.stats.connects == 1
    assert neo.stats.logins == 1


@pytest.mark.parametrize("code", [1001, 1012])
def test_a_drop_reconnects_without_a_login(neo: NeoClient, emulator: Emulator, code: int) -> None:
    with neo.market_feed() as feed:
        feed.subscribe([TCS])
        until(feed, tick_of(TCS))
        emulator.feeds.drop("market", code=code)
        items = until(feed, event("disconnected"))
        assert items[-1].code == code
        items = until(feed, tick_of(TCS))
        assert kinds(items) == ["connected", "resubscribed"]
    assert neo.stats.logins == 1


@pytest.mark.parametrize("kind", ["market", "order"])
def test_a_refused_auth_leads_one_relogin(neo: NeoClient, emulator: Emulator, kind: str) -> None:
    emulator.feeds.refuse_auth(kind, times=1)
    feed = neo.market_feed() if kind == "market" else neo.order_feed()
    with feed:
        items = until(feed, event("connected"))
        assert items[-1].epoch == neo.session.epoch  # type: ignore[union-attr]
        assert feed.stats.auth_refusals == 1
    assert neo.stats.logins == 2


def test_stall_watchdog(neo: NeoClient, emulator: Emulator) -> None:
    with neo.market_feed(stall_timeout=0.5) as feed:
        feed.subscribe([TCS])
        until(feed, tick_of(TCS))
        emulator.feeds.stall("market")
        until(feed, event("stalled"))
        emulator.feeds.resume("market")
        items = until(feed, tick_of(TCS))
        assert "connected" in kinds(items)
        assert feed.stats.stalls >= 1


def test_subscribe_during_a_gap(neo: NeoClient, emulator: Emulator) -> None:
    with neo.market_feed() as feed:
        feed.subscribe([TCS])
        until(feed, tick_of(TCS))
        emulator.feeds.refuse_auth("market")
        emulator.feeds.drop("market", code=1012)
        until(feed, event("disconnected"))
        assert not feed.connected
        feed.subscribe([INFY], mode="ltp")
        emulator.feeds.allow_auth("market")
        items = until(feed, tick_of(INFY))
        assert items[-1].mode == "ltp"


def test_expiry_closes_both_feeds_while_threads_call_rest_one_login(
    neo: NeoClient, emulator: Emulator
) -> None:
    with neo.market_feed() as feed, neo.order_feed() as updates:
        feed.subscribe([TCS])
        until(feed, tick_of(TCS))
        until(updates, event("connected"))
        old_epoch = neo.session.epoch  # type: ignore[union-attr]
        with ThreadPoolExecutor(max_workers=32) as pool:
            emulator.expire_sessions()
            results = list(pool.map(lambda _: len(neo.positions()), range(200)))
        assert len(results) == 200
        market_items = until(feed, tick_of(TCS))
        order_items = until(updates, event("connected"))
        new_epoch = neo.session.epoch  # type: ignore[union-attr]
        assert new_epoch > old_epoch
        assert [
            i.epoch for i in market_items if isinstance(i, FeedEvent) and i.kind == "connected"
        ] == [new_epoch]
        assert order_items[-1].epoch == new_epoch
    assert neo.stats.logins == 2


def test_slow_consumer_is_bounded_and_latest_right(neo: NeoClient, emulator: Emulator) -> None:
    with neo.market_feed(capacity=16) as feed:
        feed.subscribe([TCS])
        until(feed, tick_of(TCS))
        before = feed._core.buffer.pushed
        emulator.configure(tick_rate=0)
        assert emulator.feeds.burst("nse_cm", "11536", packets=3000, mode="scrips") == 1
        wait_until(lambda: feed._core.buffer.pushed >= before + 3000, "the burst")
        with feed._lock:
            assert len(feed._core.buffer) <= 16
            delivered = []
            while (item := feed._core.next_item()) is not None:
                delivered.append(item)
        ticks = [i for i in delivered if isinstance(i, Tick)]
        assert feed.latest(TCS) is ticks[-1]
        assert feed.stats.conflated > 0


def test_order_gap_reconciled_once(neo: NeoClient, emulator: Emulator) -> None:
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
    with neo.order_feed() as updates:
        until(updates, event("connected"))
        emulator.feeds.stall("order")
        filled = neo.place_order(**fields).order_id
        emulator.feeds.resume("order")
        emulator.feeds.drop("order", code=1012)
        items = until(updates, lambda i: isinstance(i, OrderUpdate) and i.order_id == filled)
        wait_until(lambda: updates.stats.duplicates >= 1, "the server's re-push")
        with updates._lock:
            while (item := updates._core.next_item()) is not None:
                items.append(item)
    mine = [i for i in items if isinstance(i, OrderUpdate) and i.order_id == filled]
    assert len(mine) == 1
    assert mine[0].reconciled
    assert mine[0].status is OrderStatus.COMPLETE


def test_close_wakes_blocked_readers(neo: NeoClient) -> None:
    feed = neo.market_feed()
    feed.__enter__()
    until(feed, event("connected"))
    errors: list[BaseException] = []

    def read() -> None:
        try:
            next(feed)
            next(feed)
        except BaseException as exc:  # recorded for the assertion
            errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(3)]
    for reader in readers:
        reader.start()
    feed.close()
    for reader in readers:
        reader.join(WAIT)
    assert [type(e) for e in errors] == [FeedClosedError] * 3
    with pytest.raises(FeedClosedError):
        feed.subscribe([TCS])
    assert feed_threads() == []


def test_close_during_connects_and_backoff(neo: NeoClient) -> None:
    for _ in range(5):
        with neo.market_feed():
            pass  # the reader is connecting
    with neo.market_feed(url="ws://127.0.0.1:9/apifeed") as feed:
        wait_until(lambda: feed._core.reconnect.attempts >= 1, "a failed attempt")
    # close() ended the backoff sleep at once and joined the reader
    assert feed_threads() == []


def test_max_reconnects(neo: NeoClient) -> None:
    feed = neo.market_feed(url="ws://127.0.0.1:9/apifeed", max_reconnects=1)
    with feed, pytest.raises(FeedError, match="gave up after 1 reconnect attempts"):
        until(feed, lambda i: False)


def test_closing_the_client_closes_its_feeds(
    server: EmulatorServer, emulator: Emulator, clock: StepClock
) -> None:
    neo = NeoClient(
        credentials_of(emulator),
        login_url=server.url,
        config_url=server.url + "/5config/config",
        clock=clock,
        rate_limit=None,
    )
    feed = neo.market_feed().__enter__()
    updates = neo.order_feed().__enter__()
    until(feed, event("connected"))
    until(updates, event("connected"))
    neo.close()
    assert feed.closed
    assert updates.closed
    with pytest.raises(FeedClosedError):
        next(updates)
    assert feed_threads() == []


def test_a_fatal_login_error_reaches_the_iterator(neo: NeoClient, emulator: Emulator) -> None:
    with neo.market_feed() as feed:
        until(feed, event("connected"))
        neo.set_credentials(credentials_of(emulator, mpin="000000"))
        emulator.expire_sessions()
        with pytest.raises(FatalLoginError):
            until(feed, lambda item: False)
    assert neo.stats.login_failures == 1
