"""Shared rate limiters (``aioneo._limits``) and the Redis GCRA script, on their own.

The clients sharing them against the emulator are in
``tests/client/test_shared_rate_limit.py``. Redis tests run against a real
``redis-server`` (``tests/redis_support.py``) and skip cleanly without one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aioneo import FileSessionStore, MemorySessionStore, RedisSessionStore, _limits, _stores
from aioneo._limits import LocalLimiter, RedisLimiter, limiter_for

from .redis_support import redis_key, redis_url  # noqa: F401 (fixtures)

ACCOUNT = "AB123"


def shared(store: object, rate: float | None = 10.0, account: str = ACCOUNT) -> object:
    return limiter_for(store, private=False, account=account, rate=rate)  # type: ignore[arg-type]


# -- who shares what ------------------------------------------------------------------------


def test_clients_of_one_store_and_account_share_one_limiter() -> None:
    store = MemorySessionStore()
    a, b = shared(store), shared(store)
    assert isinstance(a, LocalLimiter)
    assert a is b
    assert shared(store, account="ZZ999") is not a  # another account, another session
    assert shared(MemorySessionStore()) is not a  # another store


def test_a_private_store_gets_a_limiter_of_its_own() -> None:
    store = MemorySessionStore()
    a = limiter_for(store, private=True, account=ACCOUNT, rate=10.0)
    b = limiter_for(store, private=True, account=ACCOUNT, rate=10.0)
    assert isinstance(a, LocalLimiter)
    assert a is not b
    assert shared(store) is not a


def test_no_rate_means_no_limiter_and_a_bad_rate_is_refused() -> None:
    store = MemorySessionStore()
    keep = shared(store)
    assert shared(store, rate=None) is None
    for rate in (0, -1.0):
        with pytest.raises(ValueError, match="rate_limit"):
            shared(store, rate=rate)  # refused even though the shared limiter exists
    assert keep is shared(store)


def test_file_stores_share_by_path(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    a = shared(FileSessionStore(tmp_path / "real" / "s.json"))
    assert shared(FileSessionStore(tmp_path / "real" / "s.json")) is a
    assert shared(FileSessionStore(tmp_path / "link" / "s.json")) is a
    assert shared(FileSessionStore(tmp_path / "real" / "other.json")) is not a


@pytest.mark.parametrize("rates", [(20.0, 10.0), (10.0, 20.0)])
def test_the_lowest_rate_asked_for_applies(rates: tuple[float, float]) -> None:
    store = MemorySessionStore()
    a = shared(store, rate=rates[0])
    b = shared(store, rate=rates[1])
    assert a is b
    assert isinstance(a, LocalLimiter)
    assert (a.rate, a.burst) == (10.0, 5)


def test_a_limiter_nobody_holds_is_forgotten() -> None:
    store = MemorySessionStore()
    first = shared(store, rate=5.0)
    assert isinstance(first, LocalLimiter)
    del first  # the last reference: gone at once (no cycle holds a limiter)
    again = shared(store, rate=10.0)
    assert isinstance(again, LocalLimiter)
    assert again.rate == 10.0  # a new schedule, not the forgotten one at 5/s


def test_threads_share_one_schedule() -> None:
    limiter = LocalLimiter(10.0, clock=lambda: 100.0)  # time stands still
    waits: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def run() -> None:
        start.wait(5)
        for _ in range(5):
            wait = limiter.reserve()
            with lock:
                waits.append(wait)

    threads = [threading.Thread(target=run) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    # 40 slots at one instant: the burst (5) at once, then one per 0.1 s, each slot
    # handed out exactly once, whatever the threads' interleaving.
    assert len(waits) == 40
    waits.sort()
    assert waits[:5] == [0.0] * 5
    assert waits[5:] == pytest.approx([i * 0.1 for i in range(1, 36)])


def test_a_forked_child_gets_fresh_locks() -> None:
    limiter = shared(MemorySessionStore(), rate=10.0)
    assert isinstance(limiter, LocalLimiter)
    limiter._mutex.acquire()  # as if another thread held it at the fork
    _limits._after_fork_in_child()
    assert limiter.reserve() == 0.0


# -- the GCRA script on Redis ---------------------------------------------------------------


@pytest.fixture
def redis_client(redis_url: str, redis_key: str) -> Iterator[object]:  # noqa: F811
    import redis

    client = redis.Redis.from_url(redis_url)
    yield client
    keys = client.keys(redis_key + "*")
    if keys:
        client.delete(*keys)
    client.close()


def test_hosts_reserving_on_redis_share_one_schedule(
    redis_url: str,  # noqa: F811
    redis_key: str,  # noqa: F811
    redis_client: object,
) -> None:
    # Three store objects stand for three hosts: they share only the Redis key.
    hosts = [RedisSessionStore(redis_url, key=redis_key) for _ in range(3)]
    rate, burst = 10.0, 5
    interval, tolerance = 1 / rate, (burst - 1) / rate
    sent_at: list[float] = []
    began = time.monotonic()
    for i in range(30):
        host = hosts[i % 3]
        wait = host._reserve_rate(ACCOUNT, interval=interval, tolerance=tolerance)
        sent_at.append(time.monotonic() + wait)
    elapsed = time.monotonic() - began
    assert elapsed < interval  # one burst: the waits come from the schedule, not from time
    offsets = sorted(t - sent_at[0] for t in sent_at)
    # The burst goes at once; after it, one request per interval, together.
    assert sum(1 for t in offsets if t <= elapsed) == burst
    for n, offset in enumerate(offsets[burst:], start=1):
        assert offset == pytest.approx(n * interval, abs=elapsed + 0.005)
    # Another account has a schedule of its own.
    assert hosts[0]._reserve_rate("ZZ999", interval=interval, tolerance=tolerance) == 0.0


def test_the_redis_schedule_key_expires(
    redis_url: str,  # noqa: F811
    redis_key: str,  # noqa: F811
    redis_client: object,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import redis

    assert isinstance(redis_client, redis.Redis)
    store = RedisSessionStore(redis_url, key=redis_key)
    key = store.rate_key(ACCOUNT)
    assert key == redis_key + ":rate:" + ACCOUNT
    for _ in range(20):
        store._reserve_rate(ACCOUNT, interval=0.1, tolerance=0.4)
    # The key lives until its last slot (2 s ahead) has passed, plus the slack: no longer.
    ttl = redis_client.pttl(key)
    assert isinstance(ttl, int)
    assert 2000 - 100 < ttl <= 2000 + _stores.RATE_KEY_SLACK_MS
    monkeypatch.setattr(_stores, "RATE_KEY_SLACK_MS", 0)
    store._reserve_rate("QUICK1", interval=0.001, tolerance=0.0)
    deadline = time.monotonic() + 2.0
    while redis_client.exists(store.rate_key("QUICK1")) and time.monotonic() < deadline:
        time.sleep(0.005)
    assert not redis_client.exists(store.rate_key("QUICK1"))


def test_redis_limiters_of_one_store_are_shared_and_use_the_lowest_rate(
    redis_url: str,  # noqa: F811
    redis_key: str,  # noqa: F811
    redis_client: object,
) -> None:
    store = RedisSessionStore(redis_url, key=redis_key)
    a = shared(store, rate=20.0)
    b = shared(store, rate=10.0)
    assert isinstance(a, RedisLimiter)
    assert a is b
    assert a.blocking
    assert (a.rate, a.burst) == (10.0, 5)
    waits = [a.reserve() for _ in range(6)]
    assert waits[:5] == [0.0] * 5
    assert waits[5] == pytest.approx(0.1, abs=0.02)
    other_host = shared(RedisSessionStore(redis_url, key=redis_key), rate=10.0)
    assert other_host is not a
    assert isinstance(other_host, RedisLimiter)
    assert other_host.reserve() == pytest.approx(0.2, abs=0.02)  # the same schedule


# -- Redis failing ----------------------------------------------------------------------------


def rate_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and "rate limit" in r.getMessage()
    ]


def test_redis_down_falls_back_to_the_local_limiter_and_warns_once(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("redis")
    store = RedisSessionStore("redis://:hunter2@127.0.0.1:1/0", key="aioneo:AB123")
    limiter = shared(store, rate=10.0)
    assert isinstance(limiter, RedisLimiter)
    with caplog.at_level(logging.INFO, logger="aioneo"):
        waits = [limiter.reserve() for _ in range(7)]  # never raises
        monkeypatch.setattr(_limits, "REDIS_RETRY", 0.0)  # each call now tries Redis again
        waits += [limiter.reserve() for _ in range(3)]
    # The local schedule: the burst of 5, then one per 0.1 s.
    assert waits[:5] == [0.0] * 5
    assert waits[5] == pytest.approx(0.1, abs=0.02)
    assert waits[9] == pytest.approx(0.5, abs=0.02)
    warnings = rate_warnings(caplog)
    assert len(warnings) == 1, warnings
    assert "process-local" in warnings[0]
    assert "127.0.0.1:1" in warnings[0]
    assert "hunter2" not in caplog.text


def test_the_limiter_returns_to_redis_when_it_answers_again(
    redis_url: str,  # noqa: F811
    redis_key: str,  # noqa: F811
    redis_client: object,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import redis

    assert isinstance(redis_client, redis.Redis)
    store = RedisSessionStore(redis_url, key=redis_key)
    limiter = shared(store, rate=10.0)
    assert isinstance(limiter, RedisLimiter)
    calls = {"n": 0}
    script = store._rate_script

    def down(*args: object, **kwargs: object) -> object:
        calls["n"] += 1
        raise redis.ConnectionError("Connection refused")

    with caplog.at_level(logging.INFO, logger="aioneo"):
        monkeypatch.setattr(store, "_rate_script", down)
        for _ in range(5):
            limiter.reserve()
        assert calls["n"] == 1  # then local until REDIS_RETRY has passed: no Redis calls
        monkeypatch.setattr(_limits, "REDIS_RETRY", 0.0)
        limiter.reserve()
        assert calls["n"] == 2
        monkeypatch.setattr(store, "_rate_script", script)  # Redis is back
        assert limiter.reserve() == 0.0
        assert redis_client.exists(store.rate_key(ACCOUNT))
        limiter.reserve()
    assert len(rate_warnings(caplog)) == 1
    back = [r for r in caplog.records if "works again" in r.getMessage()]
    assert len(back) == 1
    assert back[0].levelno == logging.INFO
