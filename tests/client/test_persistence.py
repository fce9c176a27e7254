"""Shared session stores, proactive refresh and the relogin breaker, through the clients.

Scenarios 15, 27, 38-42 of ``concurrency-scenarios.md`` in one process: clients share a
store object (or a file) and an emulator; counts come from the emulator (logins it
issued) and the clients' counters. The multi-process runs are in ``test_multiprocess.py``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from aioneo import (
    AsyncNeoClient,
    FatalLoginError,
    FileSessionStore,
    MemorySessionStore,
    NeoClient,
    ReloginLoopError,
    SessionStoreError,
    StoredSession,
    TransientLoginError,
)
from aioneo._core._refresh import RETRY_BASE
from aioneo.testing import Emulator, EmulatorServer

from .conftest import GateTransport, StepClock, credentials_of, expired_response

MakeClient = Callable[..., AsyncNeoClient]


async def expire(emulator: Emulator, clock: StepClock) -> None:
    emulator.expire_sessions()
    clock.next_step()


def fake_sleep(clock: StepClock) -> Callable[[float], Any]:
    """A TOTP-step wait that moves the shared clock instead of sleeping."""

    async def sleep(seconds: float) -> None:
        clock.advance(seconds)

    return sleep


class CountingStore(MemorySessionStore):
    """A memory store that records what it was asked to do."""

    def __init__(self) -> None:
        super().__init__()
        self.saved: list[StoredSession] = []
        self.loads = 0

    def load(self) -> StoredSession | None:
        self.loads += 1
        return super().load()

    def save(self, session: StoredSession) -> None:
        self.saved.append(session)
        super().save(session)


# -- scenario 41: adopt a sibling's newer session ------------------------------------------


async def test_a_client_adopts_the_session_a_sibling_wrote(
    make_client: MakeClient, emulator: Emulator, clock: StepClock
) -> None:
    store = CountingStore()
    async with make_client(session_store=store) as a, make_client(session_store=store) as b:
        await a.positions()
        await b.positions()  # first call: adopts a's login, no login of its own
        assert emulator.counters.logins == 1
        assert (a.stats.logins, b.stats.logins, b.stats.adopted) == (1, 0, 1)
        assert b.stats.login_attempts == 0
        await expire(emulator, clock)
        await a.positions()  # a leads the relogin and writes generation 2
        await b.positions()  # b: "expired" for generation 1, the store has 2: adopt
        assert emulator.counters.logins == 2
        assert (b.stats.relogins, b.stats.adopted, b.stats.logins) == (1, 2, 0)
        assert a.session is not None
        assert b.session is not None
        assert a.session.epoch == 2
        assert b.session.epoch == 2
        assert [s.generation for s in store.saved] == [1, 2]


async def test_concurrent_bursts_in_two_clients_make_one_login(
    make_client: MakeClient, emulator: Emulator, gate_transport: GateTransport, clock: StepClock
) -> None:
    store = MemorySessionStore()
    async with (
        make_client(session_store=store, max_connections=100) as a,
        make_client(session_store=store, max_connections=100) as b,
    ):
        await a.login()
        await b.positions()
        await expire(emulator, clock)
        gate = gate_transport.gate("positions")
        calls = [asyncio.create_task(c.positions()) for c in (a, b) for _ in range(100)]
        await gate.until_waiting(200)
        gate_transport.ungate("positions")
        await asyncio.gather(*calls)
        assert a.stats.logins + b.stats.logins == 2  # the first login and one relogin
        assert a.stats.adopted + b.stats.adopted == 2
    assert emulator.counters.logins == 2
    assert emulator.counters.totp_replays_rejected == 0


async def test_a_restarted_process_reuses_the_session_from_the_file(
    make_client: MakeClient, emulator: Emulator, tmp_path: Path
) -> None:
    path = tmp_path / "session.json"
    async with make_client(session_store=FileSessionStore(path)) as first:
        await first.positions()
    async with make_client(session_store=FileSessionStore(path)) as restarted:
        await restarted.positions()
        assert restarted.stats.adopted == 1
        assert restarted.stats.login_attempts == 0
    assert emulator.counters.logins == 1


async def test_logout_is_not_undone_by_the_store(
    make_client: MakeClient, emulator: Emulator, clock: StepClock
) -> None:
    store = MemorySessionStore()
    async with make_client(session_store=store) as client:
        await client.positions()
        await client.logout()
        clock.next_step()
        await client.positions()  # the logged-out session in the store is not taken back
        assert client.stats.logins == 2
        assert client.stats.adopted == 0


async def test_the_next_login_skips_the_totp_step_a_sibling_used(
    make_client: MakeClient, emulator: Emulator, clock: StepClock
) -> None:
    # Replays are refused by the emulator (the default): a sibling's step must be skipped.
    store = MemorySessionStore()
    async with make_client(session_store=store) as a, make_client(session_store=store) as b:
        b._sleep = fake_sleep(clock)
        await a.positions()  # logs in at the current step
        emulator.expire_sessions()  # no new step: b would reuse a's step
        await b.positions()
        assert b.stats.logins == 1
        assert b._session.machine.last_totp_step == (a._session.machine.last_totp_step or 0) + 1
    assert emulator.counters.totp_replays_rejected == 0
    assert emulator.counters.logins == 2


# -- scenario 42: written once, outside the locks, a failing store breaks nothing ----------


async def test_store_is_written_exactly_once_per_login(
    make_client: MakeClient, emulator: Emulator, clock: StepClock
) -> None:
    store = CountingStore()
    async with make_client(session_store=store, max_connections=50) as client:
        for _ in range(3):
            await asyncio.gather(*(client.positions() for _ in range(50)))
            await expire(emulator, clock)
    assert [s.generation for s in store.saved] == [1, 2, 3]
    assert len({s.token for s in store.saved}) == 3
    assert all(s.account == emulator.credentials.ucc for s in store.saved)
    assert all(s.totp_step is not None for s in store.saved)


class FailingSave(MemorySessionStore):
    def save(self, session: StoredSession) -> None:
        raise OSError("disk full")


async def test_a_store_that_fails_to_write_does_not_break_the_login(
    make_client: MakeClient,
    emulator: Emulator,
    clock: StepClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = FailingSave()
    async with make_client(session_store=store, max_connections=20) as client:
        results = await asyncio.gather(*(client.positions() for _ in range(20)))
        assert len(results) == 20
        assert client.stats.logins == 1
    assert store.acquire_lock("someone-else", 60.0)  # the lock was released
    assert "could not be written" in caplog.text
    assert "OSError" in caplog.text


class CallsBackStore:
    """A store (run in worker threads) whose save calls back into the client."""

    def __init__(self) -> None:
        self.inner = MemorySessionStore()
        self.client: AsyncNeoClient | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.results: list[object] = []

    def load(self) -> StoredSession | None:
        return self.inner.load()

    def save(self, session: StoredSession) -> None:
        assert self.client is not None
        assert self.loop is not None
        future = asyncio.run_coroutine_threadsafe(self.client.positions(), self.loop)
        self.results.append(future.result(timeout=5))
        self.inner.save(session)

    def acquire_lock(self, owner: str, ttl: float) -> bool:
        return self.inner.acquire_lock(owner, ttl)

    def release_lock(self, owner: str) -> None:
        self.inner.release_lock(owner)


async def test_a_store_that_calls_back_into_the_client_does_not_deadlock(
    make_client: MakeClient,
) -> None:
    store = CallsBackStore()
    async with make_client(session_store=store) as client:
        store.client, store.loop = client, asyncio.get_running_loop()
        await client.positions()
        task = client._session._task
        assert task is not None
        await asyncio.wait_for(asyncio.shield(task), 5)
    assert len(store.results) == 1  # the call inside save() used the published session
    assert store.inner.load() is not None


class BrokenLoad(MemorySessionStore):
    def load(self) -> StoredSession | None:
        raise SessionStoreError("session file '/x' has mode 0o644: refused")


async def test_an_unusable_store_fails_the_call_and_logs_in_nobody(
    make_client: MakeClient, emulator: Emulator
) -> None:
    async with make_client(session_store=BrokenLoad()) as client:
        for _ in range(2):
            with pytest.raises(SessionStoreError, match="0o644"):
                await client.positions()
        assert client.stats.login_attempts == 0
        assert client.stats.login_failures == 0
    assert emulator.counters.login_attempts == 0


async def test_a_store_of_another_account_is_refused(
    make_client: MakeClient, emulator: Emulator
) -> None:
    store = MemorySessionStore()
    async with make_client(session_store=store) as client:
        await client.positions()
    other = credentials_of(emulator, ucc="OTHER1")
    async with make_client(session_store=store, credentials=other) as client:
        with pytest.raises(SessionStoreError, match=r"account 'DEMO1'.*'OTHER1'"):
            await client.positions()


def test_session_store_argument_is_checked() -> None:
    emulator = Emulator()
    with pytest.raises(TypeError, match="session_store must be a SessionStore"):
        AsyncNeoClient(credentials_of(emulator), session_store=object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="refresh_ahead"):
        AsyncNeoClient(credentials_of(emulator), refresh_ahead=0)
    with pytest.raises(ValueError, match="max_relogins"):
        AsyncNeoClient(credentials_of(emulator), max_relogins=0)


# -- proactive refresh: scenarios 15, 39 ----------------------------------------------------


@pytest.fixture
def ten_minute_sessions(emulator: Emulator) -> None:
    # Refresh at 300-375 s after login (300 s ahead, jittered), expiry at 600 s.
    emulator.configure(session_ttl=600)


@pytest.mark.usefixtures("ten_minute_sessions")
async def test_refresh_runs_ahead_of_expiry_while_calls_use_the_current_token(
    make_client: MakeClient, emulator: Emulator, gate_transport: GateTransport, clock: StepClock
) -> None:
    async with make_client(max_connections=20) as client:
        await client.positions()
        assert client.session is not None
        expires_at = client.session.expires_at
        assert expires_at is not None
        clock.advance(299)
        await client.positions()
        assert client.stats.refreshes == 0
        clock.advance(80)  # 379 s after login: due
        gate = gate_transport.gate("tradeApiValidate")
        await client.positions()  # sent at once with the current token, refresh started
        await gate.until_waiting(1)
        assert client.stats.refreshes == 1
        sent = emulator.counters.requests["positions"]
        await asyncio.gather(*(client.positions() for _ in range(20)))  # not held up
        assert emulator.counters.requests["positions"] == sent + 20
        assert client.session.epoch == 1
        gate.release()
        task = client._session._task
        assert task is not None
        await task
        assert client.session.epoch == 2
        assert client.stats.relogins == 0
        assert client.stats.expired_responses == 0
    assert emulator.counters.logins == 2


@pytest.mark.usefixtures("ten_minute_sessions")
async def test_reactive_expiry_during_a_refresh_joins_it(
    make_client: MakeClient, emulator: Emulator, gate_transport: GateTransport, clock: StepClock
) -> None:
    # scenario 39
    async with make_client(max_connections=50) as client:
        await client.positions()
        clock.advance(380)
        gate = gate_transport.gate("tradeApiValidate")
        await client.positions()
        await gate.until_waiting(1)
        # 50 calls on the wire, answered "session expired" while the refresh runs.
        held = gate_transport.gate("positions")
        calls = [asyncio.create_task(client.positions()) for _ in range(50)]
        await held.until_waiting(50)
        answered = asyncio.Event()
        count = 0

        def expired(request: httpx.Request, response: httpx.Response) -> httpx.Response:
            nonlocal count
            count += 1
            if count == 50:
                answered.set()
            return expired_response()

        gate_transport.rewrites["positions"] = expired
        gate_transport.ungate("positions")
        await answered.wait()
        del gate_transport.rewrites["positions"]
        gate.release()
        await asyncio.gather(*calls)
        assert client.stats.login_attempts == 2
        assert client.stats.relogins == 0  # no login of their own: they joined the refresh
    assert emulator.counters.logins == 2


@pytest.mark.usefixtures("ten_minute_sessions")
async def test_failed_refresh_is_logged_once_and_retried_after_a_backoff(
    make_client: MakeClient,
    emulator: Emulator,
    clock: StepClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # scenario 15
    caplog.set_level(logging.DEBUG, logger="aioneo")
    async with make_client() as client:
        await client.positions()
        clock.advance(380)
        emulator.inject_fault("login", "http_503_empty", count=2)
        for attempt in (1, 2):
            await client.positions()  # starts the refresh; answered with the current token
            task = client._session._task
            assert task is not None
            await task
            assert client.stats.login_failures == attempt
            for _ in range(5):
                await client.positions()  # no new attempt on every call
            assert emulator.counters.login_attempts == 1 + attempt
            clock.advance(RETRY_BASE * 2)
        await client.positions()  # the third attempt succeeds
        task = client._session._task
        assert task is not None
        await task
        assert client.session is not None
        assert client.session.epoch == 2
        assert client.stats.cooldown_hits == 0
    records = [r for r in caplog.records if "proactive refresh failed" in r.getMessage()]
    assert [r.levelno for r in records] == [logging.WARNING, logging.DEBUG]
    assert emulator.counters.logins == 2


# -- scenario 40: the breaker, and the store that makes it unnecessary ----------------------


async def ping_pong(a: AsyncNeoClient, b: AsyncNeoClient, rounds: int) -> BaseException | None:
    for _ in range(rounds):
        for client in (a, b):
            try:
                await client.positions()
            except ReloginLoopError as exc:
                return exc
    return None


async def test_two_clients_that_end_each_others_session_stop_with_a_clear_error(
    make_client: MakeClient, emulator: Emulator, clock: StepClock
) -> None:
    emulator.configure(single_session=True, totp_replay_rejection=False)
    options: dict[str, Any] = {"max_relogins": 3, "relogin_window": 600.0}
    # two programs, each with a store of its own (one store would make them share)
    a_store, b_store = MemorySessionStore(), MemorySessionStore()
    async with (
        make_client(session_store=a_store, **options) as a,
        make_client(session_store=b_store, **options) as b,
    ):
        a._sleep = b._sleep = fake_sleep(clock)
        error = await ping_pong(a, b, 10)
        assert isinstance(error, ReloginLoopError)
        assert "3 times within 600 s" in str(error)
        assert "session store" in str(error)
        assert 0 < error.retry_in <= 600
        refused = a if a.stats.loop_refusals else b
        assert refused.stats.relogins == 3  # three relogins ...
        assert refused.stats.expired_responses == 4  # ... and the fourth refused
        assert refused.stats.logins == 4  # with the first login
        logins = emulator.counters.logins
        with pytest.raises(ReloginLoopError):  # fails fast while open: no login
            await refused.positions()
        assert emulator.counters.logins == logins


async def test_two_clients_sharing_a_store_do_not_ping_pong(
    make_client: MakeClient, emulator: Emulator, clock: StepClock
) -> None:
    emulator.configure(single_session=True, totp_replay_rejection=False)
    store = MemorySessionStore()
    async with make_client(session_store=store) as a, make_client(session_store=store) as b:
        a._sleep = b._sleep = fake_sleep(clock)
        assert await ping_pong(a, b, 10) is None
    assert emulator.counters.logins == 1


# -- the sync twin, and scenario 27 (async and sync clients sharing a session) -------------


@pytest.fixture
def server(emulator: Emulator) -> Iterator[EmulatorServer]:
    with EmulatorServer(emulator) as running:
        yield running


def sync_client(
    emulator: Emulator, server: EmulatorServer, clock: StepClock, **options: Any
) -> NeoClient:
    options.setdefault("rate_limit", None)
    return NeoClient(credentials_of(emulator), login_url=server.url, clock=clock, **options)


def test_sync_clients_share_a_file_store(
    emulator: Emulator, server: EmulatorServer, clock: StepClock, tmp_path: Path
) -> None:
    path = tmp_path / "s.json"
    with (
        sync_client(emulator, server, clock, session_store=FileSessionStore(path)) as a,
        sync_client(emulator, server, clock, session_store=FileSessionStore(path)) as b,
    ):
        a.positions()
        b.positions()
        emulator.expire_sessions()
        clock.next_step()
        b.positions()
        a.positions()
        assert (a.stats.logins, a.stats.adopted, b.stats.logins, b.stats.adopted) == (1, 1, 1, 1)
    assert emulator.counters.logins == 2


async def test_async_and_sync_clients_share_one_login(
    emulator: Emulator, server: EmulatorServer, clock: StepClock
) -> None:
    store = MemorySessionStore()
    creds = credentials_of(emulator)
    with sync_client(emulator, server, clock, session_store=store) as sync:
        async with AsyncNeoClient(
            creds, login_url=server.url, rate_limit=None, clock=clock, session_store=store
        ) as neo:
            await neo.positions()
            await asyncio.to_thread(sync.positions)
            emulator.expire_sessions()
            clock.next_step()
            await asyncio.gather(
                *(neo.positions() for _ in range(20)),
                *(asyncio.to_thread(sync.positions) for _ in range(5)),
            )
            assert neo.stats.logins + sync.stats.logins == 2
    assert emulator.counters.logins == 2


@pytest.mark.usefixtures("ten_minute_sessions")
def test_sync_refresh_runs_in_a_short_lived_thread(
    emulator: Emulator, server: EmulatorServer, clock: StepClock
) -> None:
    import threading

    with sync_client(emulator, server, clock) as client:
        client.positions()
        clock.advance(380)
        client.positions()  # starts the refresh, answered with the current token
        refreshers = [t for t in threading.enumerate() if t.name.startswith("aioneo-refresh")]
        for thread in refreshers:
            thread.join(5)
        assert client.stats.refreshes == 1
        assert client.session is not None
        assert client.session.epoch == 2
    assert emulator.counters.logins == 2


def test_sync_breaker(emulator: Emulator, server: EmulatorServer, clock: StepClock) -> None:
    emulator.configure(single_session=True, totp_replay_rejection=False)
    options: dict[str, Any] = {"max_relogins": 2, "relogin_window": 600.0}
    with (  # two programs, each with a store of its own
        sync_client(emulator, server, clock, session_store=MemorySessionStore(), **options) as a,
        sync_client(emulator, server, clock, session_store=MemorySessionStore(), **options) as b,
    ):
        error: BaseException | None = None
        for _ in range(10):
            clock.next_step()  # no real 30 s waits for fresh TOTP steps
            try:
                a.positions()
                clock.next_step()
                b.positions()
            except ReloginLoopError as exc:
                error = exc
                break
        assert isinstance(error, ReloginLoopError)
        assert "2 times within 600 s" in str(error)


# -- a failed login's TOTP step stays reserved for the others --------------------------------


async def test_failed_validate_keeps_the_store_lock_until_its_totp_step_ends(
    make_client: MakeClient, emulator: Emulator
) -> None:
    store = MemorySessionStore()
    client = make_client(session_store=store, login_cooldown=0.1)
    emulator.inject_fault("validate", "http_503_empty", count=1)  # the TOTP was accepted
    with pytest.raises(TransientLoginError):
        await client.positions()
    assert not store.acquire_lock("sibling", 60.0)  # a sibling would reuse the step
    assert len(client._session._holds) == 1
    await client.aclose()  # ends the hold and releases the lock
    assert store.acquire_lock("sibling", 60.0)


async def test_refused_totp_step_releases_the_store_lock_at_once(
    make_client: MakeClient, emulator: Emulator
) -> None:
    store = MemorySessionStore()
    wrong = credentials_of(emulator, totp_secret="KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU")
    async with make_client(session_store=store, credentials=wrong) as client:
        with pytest.raises(FatalLoginError, match="TOTP"):  # a definite "no": code unused
            await client.positions()
        assert not client._session._holds
        assert store.acquire_lock("sibling", 60.0)


@pytest.mark.parametrize("fault", ["http_503_empty", "http_429", "http_502_html"])
async def test_a_5xx_or_429_on_the_totp_step_keeps_the_store_lock(
    make_client: MakeClient, emulator: Emulator, fault: str
) -> None:
    """Issue 10 item 10: a gateway error may follow the login service consuming the code,
    so the step counts as possibly used: a sibling must not log in with it."""
    store = MemorySessionStore()
    async with make_client(session_store=store, login_cooldown=0.1) as client:
        emulator.inject_fault("login", fault, count=1)
        with pytest.raises(TransientLoginError):
            await client.positions()
        assert len(client._session._holds) == 1
        assert not store.acquire_lock("sibling", 60.0)


def test_sync_a_5xx_on_the_totp_step_keeps_the_store_lock(
    emulator: Emulator, server: EmulatorServer, clock: StepClock
) -> None:
    store = MemorySessionStore()
    client = sync_client(emulator, server, clock, session_store=store, login_cooldown=0.1)
    emulator.inject_fault("login", "http_503_empty", count=1)
    with pytest.raises(TransientLoginError):
        client.positions()
    assert not store.acquire_lock("sibling", 60.0)
    assert len(client._session._holds) == 1
    client.close()
    assert store.acquire_lock("sibling", 60.0)


def test_sync_failed_validate_keeps_the_store_lock_until_its_totp_step_ends(
    emulator: Emulator, server: EmulatorServer, clock: StepClock
) -> None:
    store = MemorySessionStore()
    client = sync_client(emulator, server, clock, session_store=store, login_cooldown=0.1)
    emulator.inject_fault("validate", "http_503_empty", count=1)
    with pytest.raises(TransientLoginError):
        client.positions()
    assert not store.acquire_lock("sibling", 60.0)
    assert len(client._session._holds) == 1
    client.close()  # cancels the timer and releases the lock
    assert store.acquire_lock("sibling", 60.0)
