"""One login per expiry event across processes (scenario 41), with both shared stores.

8 spawned processes x 50 concurrent coroutines (10 connections each, the client's
default; the rest queue inside the client) share a ``FileSessionStore`` (or a
``RedisSessionStore``) and one loopback emulator, which refuses a reused TOTP step (its
default, what sharing across processes must avoid). The parent expires every session
between rounds and moves the shared clock to the next TOTP step, so no process ever
waits 30 s. The counts come from the emulator (logins it issued, TOTP replays it
refused) and from each process's counters.

A process killed while it holds the login lock does not wedge the others: the kernel
drops its ``flock`` at once; the Redis lease ends after its TTL.
"""

from __future__ import annotations

import multiprocessing
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aioneo import FileSessionStore
from aioneo.testing import Emulator, EmulatorConfig, EmulatorServer

from ..redis_support import redis_url  # noqa: F401 (fixture)
from .mp_worker import BARRIER_TIMEOUT, WorkerSpec, hold_lock, make_store, run

STEP = 30
PROCESSES = 8
COROUTINES = 50
EXPIRY_EVENTS = 3

ctx = multiprocessing.get_context("spawn")


class SharedClock:
    """Unix time plus an offset in shared memory, read by every process."""

    def __init__(self) -> None:
        self.offset = ctx.RawValue("d", 0.0)
        self.next_step()

    def __call__(self) -> float:
        return time.time() + self.offset.value

    def next_step(self, into_step: float = 5.0) -> None:
        now = self()
        self.offset.value += (int(now // STEP) + 1) * STEP + into_step - now


@pytest.fixture
def clock() -> SharedClock:
    return SharedClock()


@pytest.fixture
def emulator(clock: SharedClock) -> Emulator:
    # Replayed TOTP steps are refused (the default): sharing must never reuse one.
    return Emulator(EmulatorConfig(rate_limit=None), clock=clock)


@pytest.fixture
def server(emulator: Emulator) -> Iterator[EmulatorServer]:
    with EmulatorServer(emulator) as running:
        yield running


def spec(server: EmulatorServer, store: tuple[str, ...], index: int, **kw: Any) -> WorkerSpec:
    creds = server.emulator.credentials.as_dict()
    return WorkerSpec(index=index, login_url=server.url, credentials=creds, store=store, **kw)


def collect(results: Any, processes: list[Any], n: int) -> list[dict[str, Any]]:
    reports = [results.get(timeout=BARRIER_TIMEOUT) for _ in range(n)]
    for process in processes:
        process.join(10)
    assert all(p.exitcode == 0 for p in processes), [p.exitcode for p in processes]
    crashed = [r for r in reports if "crashed" in r]
    assert not crashed, crashed
    return reports


def storm(server: EmulatorServer, clock: SharedClock, store: tuple[str, ...]) -> None:
    """Rounds of PROCESSES x COROUTINES calls, an expiry event before every round but
    the first; asserts one login per round, all calls answered, no TOTP step reused."""
    emulator = server.emulator
    rounds = 1 + EXPIRY_EVENTS
    barrier = ctx.Barrier(PROCESSES + 1)
    results = ctx.Queue()
    processes = [
        ctx.Process(
            target=run,
            args=(
                spec(server, store, i, coroutines=COROUTINES, rounds=rounds),
                clock.offset,
                barrier,
                results,
            ),
        )
        for i in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    logins_per_round = []
    try:
        for round_ in range(rounds):
            if round_:
                emulator.expire_sessions()  # the expiry event
                clock.next_step()
            before = emulator.counters.logins
            barrier.wait(BARRIER_TIMEOUT)  # go
            barrier.wait(BARRIER_TIMEOUT)  # every call of the round answered
            logins_per_round.append(emulator.counters.logins - before)
        reports = collect(results, processes, PROCESSES)
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
    assert [r["errors"] for r in reports] == [[]] * PROCESSES
    assert sum(r["ok"] for r in reports) == PROCESSES * COROUTINES * rounds
    assert logins_per_round == [1] * rounds  # one login per expiry event, across processes
    counters = emulator.counters
    assert counters.login_attempts == rounds
    assert counters.totp_replays_rejected == 0
    assert counters.login_failures == 0
    assert sum(r["logins"] for r in reports) == rounds
    assert sum(r["login_attempts"] for r in reports) == rounds
    assert sum(r["adopted"] for r in reports) == PROCESSES * rounds - rounds


@pytest.mark.timeout(120)
def test_8_processes_x_50_coroutines_share_a_file_store(
    server: EmulatorServer, clock: SharedClock, tmp_path: Path
) -> None:
    storm(server, clock, ("file", str(tmp_path / "session.json")))
    assert os.stat(tmp_path / "session.json").st_mode & 0o777 == 0o600


@pytest.mark.timeout(120)
def test_8_processes_x_50_coroutines_share_a_redis_store(
    server: EmulatorServer,
    clock: SharedClock,
    redis_url: str,  # noqa: F811
) -> None:
    storm(server, clock, ("redis", redis_url, f"aioneo-test:{uuid.uuid4().hex}"))


def survivors(
    server: EmulatorServer, clock: SharedClock, store: tuple[str, ...], n: int = 3
) -> list[dict[str, Any]]:
    """``n`` processes that each make 20 concurrent calls once, with no barrier."""
    results = ctx.Queue()
    processes = [
        ctx.Process(
            target=run, args=(spec(server, store, i, coroutines=20), clock.offset, None, results)
        )
        for i in range(n)
    ]
    for process in processes:
        process.start()
    try:
        return collect(results, processes, n)
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()


@pytest.mark.timeout(60)
def test_a_killed_process_holding_the_file_lock_does_not_wedge_the_others(
    server: EmulatorServer, clock: SharedClock, tmp_path: Path
) -> None:
    store = ("file", str(tmp_path / "session.json"))
    stalled = ctx.Event()
    results = ctx.Queue()
    holder = ctx.Process(
        target=run,
        args=(spec(server, store, 99, coroutines=5, stall_login=True), clock.offset),
        kwargs={"barrier": None, "results": results, "stalled": stalled},
    )
    holder.start()
    try:
        assert stalled.wait(BARRIER_TIMEOUT), "the holder never reached its login"
        probe = FileSessionStore(store[1])
        assert not probe.acquire_lock("probe", 1.0)  # the holder has the lock, mid-login
        holder.kill()  # SIGKILL: no finally, no release
        holder.join(10)
        assert probe.acquire_lock("probe", 1.0)  # the kernel dropped it with the process
        probe.release_lock("probe")
    finally:
        if holder.is_alive():
            holder.kill()
    reports = survivors(server, clock, store)
    assert [r["errors"] for r in reports] == [[]] * 3
    assert server.emulator.counters.logins == 1  # one login among the survivors
    assert server.emulator.counters.totp_replays_rejected == 0
    assert sum(r["adopted"] for r in reports) == 2


@pytest.mark.timeout(60)
def test_a_killed_process_holding_the_redis_lock_delays_the_others_by_its_lease(
    server: EmulatorServer,
    clock: SharedClock,
    redis_url: str,  # noqa: F811
) -> None:
    import redis

    key = f"aioneo-test:{uuid.uuid4().hex}"
    store = ("redis", redis_url, key)
    ready = ctx.Event()
    holder = ctx.Process(target=hold_lock, args=(store, 1.5, ready))
    holder.start()
    try:
        assert ready.wait(BARRIER_TIMEOUT)
        holder.kill()
        holder.join(10)
        client = redis.Redis.from_url(redis_url)
        try:
            assert client.pttl(key + ":lock") > 0  # still held by the dead process ...
        finally:
            client.close()
    finally:
        if holder.is_alive():
            holder.kill()
    reports = survivors(server, clock, store)  # ... until its lease ends
    assert [r["errors"] for r in reports] == [[]] * 3
    assert server.emulator.counters.logins == 1
    assert sum(r["adopted"] for r in reports) == 2
    stored = make_store(store).load()
    assert stored is not None
    assert stored.generation == 1
