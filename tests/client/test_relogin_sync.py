"""The relogin contract for NeoClient with real threads (concurrency-scenarios.md).

The emulator runs on loopback (``EmulatorServer``, uvicorn in a background thread) and
shares a :class:`StepClock` with the client, so a relogin moves to the next TOTP step
instead of sleeping 30 s. Requests can be held client-side (:class:`SyncGateTransport`)
so a burst is entirely on the wire before the first answer. Tests assert counts (logins
the server saw, the client's counters, exceptions each thread received); every thread is
joined with a timeout of a few seconds, so a hang or a blind 30 s wait fails fast.

Scenarios elsewhere: 15 and 34-42 (proactive refresh, session stores, breaker) in
``test_persistence.py`` and ``test_multiprocess.py``; 27 (async and sync clients sharing
one ``MemorySessionStore``) in ``test_persistence.py``. Left out: 17, 18, 22-25 (asyncio
cancellation and event loops: there is no way to cancel a thread), 32 (TOTP boundary: core
arithmetic, the same code path as the async shell), 44 (no streaming endpoint yet) and 47
(the random interleavings run against the async shell).
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import json
import logging
import multiprocessing
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from aioneo import (
    ClientClosedError,
    FatalLoginError,
    NeoClient,
    RateLimitError,
    SessionExpiredError,
    TransientLoginError,
)
from aioneo.testing import Emulator, EmulatorServer

from .conftest import StepClock, credentials_of, expired_response
from .sync_support import CountingSemaphore, SyncGateTransport, Threads, run_threads, wait_for

MakeClient = Callable[..., NeoClient]


@pytest.fixture
def server(emulator: Emulator) -> Iterator[EmulatorServer]:
    with EmulatorServer(emulator) as running:
        yield running


@pytest.fixture
def transport(server: EmulatorServer) -> SyncGateTransport:
    return SyncGateTransport()


@pytest.fixture
def make_client(
    emulator: Emulator, server: EmulatorServer, transport: SyncGateTransport, clock: StepClock
) -> Iterator[MakeClient]:
    made: list[NeoClient] = []

    def make(**options: Any) -> NeoClient:
        creds = options.pop("credentials", None) or credentials_of(emulator)
        options.setdefault("transport", transport)
        options.setdefault("rate_limit", None)
        options.setdefault("clock", clock)
        client = NeoClient(creds, login_url=server.url, **options)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def client(make_client: MakeClient) -> NeoClient:
    return make_client(max_connections=300)


def expire(emulator: Emulator, clock: StepClock) -> None:
    """End every session now, and move to a fresh TOTP step for the relogin."""
    emulator.expire_sessions()
    clock.next_step()


def burst(client: NeoClient, transport: SyncGateTransport, n: int) -> list[Any]:
    """``n`` threads whose calls are all on the wire before the first answer arrives."""
    gate = transport.gate("positions")
    threads = Threads(n, client.positions)
    gate.until_waiting(n)
    transport.ungate("positions")
    return threads.join()


# -- single-flight and generations ------------------------------------------------------


@pytest.mark.timeout(60)  # 256 threads and the loopback server share 2 cores and one GIL
@pytest.mark.parametrize("expiry_status", [401, 200, 403])
def test_1_26_burst_of_256_threads_makes_one_login(
    make_client: MakeClient,
    emulator: Emulator,
    transport: SyncGateTransport,
    clock: StepClock,
    expiry_status: int,
) -> None:
    emulator.configure(expiry_status=expiry_status)
    client = make_client(max_connections=256)
    client.login()
    expire(emulator, clock)
    results = burst(client, transport, 256)
    assert all(isinstance(r, list) for r in results), [
        r for r in results if not isinstance(r, list)
    ][:3]
    stats = client.stats
    assert emulator.counters.logins == 2  # the first login and exactly one relogin
    assert stats.logins == 2
    assert stats.relogins == 1
    assert stats.login_failures == 0
    assert stats.expired_responses == 256
    assert stats.coalesced + stats.stragglers == 255
    assert transport.max_in_flight["tradeApiLogin"] == 1
    assert transport.max_in_flight["tradeApiValidate"] == 1


@pytest.mark.timeout(20)
def test_2_mixed_401_and_200_bodies_are_one_expiry(
    client: NeoClient, emulator: Emulator, transport: SyncGateTransport, clock: StepClock
) -> None:
    lock = threading.Lock()
    flip = {"n": 0}

    def half_as_200(request: httpx.Request, response: httpx.Response) -> httpx.Response:
        if response.status_code == 401:
            with lock:
                flip["n"] += 1
                odd = flip["n"] % 2
            if odd:
                return httpx.Response(200, content=response.content)
        return response

    client.login()
    transport.rewrites["positions"] = half_as_200
    expire(emulator, clock)
    burst(client, transport, 100)
    assert client.stats.expired_responses == 100
    assert flip["n"] == 100  # half answered 401, half 200 + the 900901 body
    assert emulator.counters.logins == 2


@pytest.mark.timeout(20)
def test_3_straggler_after_relogin_makes_no_login(
    client: NeoClient, emulator: Emulator, transport: SyncGateTransport, clock: StepClock
) -> None:
    client.login()
    gate = transport.gate("trades")
    straggler = Threads(1, client.trade_report)
    gate.until_waiting(1)  # sent with epoch 1, held on the way
    expire(emulator, clock)
    client.positions()  # relogin to epoch 2
    assert client.session is not None
    assert client.session.epoch == 2
    gate.release()
    [result] = straggler.join(5)  # answered "expired" for epoch 1: retried, no login
    assert isinstance(result, list)
    assert emulator.counters.logins == 2
    assert client.stats.stragglers == 1


@pytest.mark.timeout(20)
def test_4_next_expiry_runs_a_new_login(
    client: NeoClient, emulator: Emulator, clock: StepClock
) -> None:
    client.positions()
    expire(emulator, clock)
    assert all(isinstance(r, list) for r in run_threads(50, client.positions))
    expire(emulator, clock)
    assert all(isinstance(r, list) for r in run_threads(50, client.positions))
    assert emulator.counters.logins == 3
    assert client.stats.relogins == 2


@pytest.mark.timeout(20)
def test_5_headers_are_read_at_send_time(
    make_client: MakeClient, emulator: Emulator, transport: SyncGateTransport, clock: StepClock
) -> None:
    client = make_client(max_connections=1)
    client.login()
    slots = client._slots = CountingSemaphore(client._slots)  # type: ignore[assignment]
    gate = transport.gate("trades")
    first = Threads(1, client.trade_report)  # holds the only slot
    gate.until_waiting(1)
    second = Threads(1, client.positions)  # queued for the slot
    wait_for(lambda: slots.waiting == 1, what="the second call to queue for the slot")
    expire(emulator, clock)
    client.login()  # logins have their own connections: not blocked by the slot
    gate.release()
    assert isinstance(first.join(5)[0], list)
    assert isinstance(second.join(5)[0], list)
    positions = [r for r in emulator.requests if r.endpoint == "positions"]
    assert [r.status for r in positions] == [200]  # built after the relogin: new token
    assert emulator.counters.logins == 2


@pytest.mark.timeout(20)
def test_6_new_calls_wait_for_login_in_flight(
    client: NeoClient, emulator: Emulator, transport: SyncGateTransport, clock: StepClock
) -> None:
    client.login()
    expire(emulator, clock)
    gate = transport.gate("tradeApiValidate")
    leader = Threads(1, client.positions)
    gate.until_waiting(1)
    seen = emulator.counters.requests.get("positions", 0)
    wave = Threads(100, client.positions)
    wait_for(lambda: client.stats.coalesced == 100, what="100 callers waiting for the login")
    assert emulator.counters.requests.get("positions", 0) == seen  # nothing sent, dead token
    gate.release()
    assert all(isinstance(r, list) for r in leader.join(5) + wave.join(5))
    assert emulator.counters.logins == 2
    assert emulator.counters.requests["positions"] == seen + 101


@pytest.mark.timeout(20)
def test_7_second_expiry_under_new_epoch_is_an_error_not_a_loop(
    client: NeoClient, emulator: Emulator, transport: SyncGateTransport, clock: StepClock
) -> None:
    client.login()
    clock.next_step()
    transport.rewrites["positions"] = lambda req, resp: expired_response()
    with pytest.raises(SessionExpiredError, match="still reports the session expired"):
        client.positions()
    assert emulator.counters.logins == 2  # exactly one relogin, then a typed error
    assert emulator.counters.requests["positions"] == 2


@pytest.mark.timeout(20)
def test_8_expired_answer_on_the_login_itself_does_not_recurse(
    client: NeoClient, emulator: Emulator, transport: SyncGateTransport
) -> None:
    transport.rewrites["tradeApiLogin"] = lambda req, resp: expired_response()
    with pytest.raises(FatalLoginError):
        client.positions()
    with pytest.raises(FatalLoginError):
        client.positions()
    assert emulator.counters.login_attempts == 1
    assert client.stats.login_attempts == 1


@pytest.mark.timeout(20)
def test_9_waiters_are_counted_exactly(
    client: NeoClient, emulator: Emulator, transport: SyncGateTransport, clock: StepClock
) -> None:
    client.login()
    expire(emulator, clock)
    gate = transport.gate("tradeApiValidate")
    calls = Threads(20, client.positions)
    gate.until_waiting(1)
    wait_for(lambda: client.stats.coalesced == 19, what="19 waiters")
    gate.release()
    assert all(isinstance(r, list) for r in calls.join(5))
    stats = client.stats
    assert stats.relogins == 1
    assert stats.coalesced == 19
    client.positions()  # after completion: no wait, no login
    assert client.stats.coalesced == 19
    assert client.stats.login_attempts == 2


# -- failure semantics ------------------------------------------------------------------


@pytest.mark.timeout(20)
def test_10_failed_login_reaches_all_256_waiting_threads_at_once(
    make_client: MakeClient, emulator: Emulator, transport: SyncGateTransport, clock: StepClock
) -> None:
    client = make_client(max_connections=256)
    client.login()
    expire(emulator, clock)

    def refuse(request: httpx.Request) -> None:
        raise httpx.ConnectError("connection refused", request=request)

    gate = transport.gate("tradeApiLogin")
    calls = Threads(256, client.positions)
    gate.until_waiting(1)  # the leader's login is on the wire
    wait_for(lambda: client.stats.coalesced == 255, what="255 threads waiting for the login")
    assert calls.finished == 0
    transport.failures["tradeApiLogin"] = refuse
    gate.release()
    # Every thread has its answer within a few seconds of the one failed login, not after
    # a blind timeout: the join timeout makes a regression fail fast.
    results = calls.join(5)
    assert all(isinstance(r, TransientLoginError) for r in results)
    assert len({str(r) for r in results}) == 1
    assert len({id(r) for r in results}) == 256  # each thread gets its own copy
    assert emulator.counters.login_attempts == 1  # the first login: the failed one never arrived
    stats = client.stats
    assert stats.login_attempts == 2
    assert stats.login_failures == 1
    assert stats.cooldown_hits == 0  # all 256 got it from the login itself


@pytest.mark.timeout(20)
def test_11_12_cooldown_then_one_new_login(
    make_client: MakeClient, emulator: Emulator, clock: StepClock
) -> None:
    client = make_client(login_cooldown=10.0)
    client.login()
    expire(emulator, clock)
    emulator.inject_fault("login", "http_503_empty", count=1)
    first = run_threads(10, client.positions)
    assert all(isinstance(r, TransientLoginError) for r in first)
    attempts = emulator.counters.login_attempts
    hits = client.stats.cooldown_hits
    inside = run_threads(10, client.positions)
    assert all(isinstance(r, TransientLoginError) for r in inside)
    assert emulator.counters.login_attempts == attempts  # no login inside the cooldown
    assert client.stats.cooldown_hits == hits + 10
    clock.advance(16)  # past the jittered cooldown (10 s * at most 1.5)
    clock.next_step()
    assert all(isinstance(r, list) for r in run_threads(10, client.positions))
    assert emulator.counters.login_attempts == attempts + 1
    assert emulator.counters.logins == 2


@pytest.mark.timeout(20)
def test_13_fatal_wrong_mpin_is_tried_once(
    make_client: MakeClient, emulator: Emulator, clock: StepClock
) -> None:
    wrong = "000000" if emulator.credentials.mpin != "000000" else "111111"
    client = make_client(credentials=credentials_of(emulator, mpin=wrong))
    results = run_threads(50, client.positions)
    assert all(isinstance(r, FatalLoginError) for r in results)
    for _ in range(5):
        with pytest.raises(FatalLoginError, match="not retried automatically"):
            client.positions()
    assert emulator.counters.login_attempts == 1
    # explicitly asked: one more attempt, with good credentials it works
    client.set_credentials(credentials_of(emulator))
    clock.next_step()
    client.login()
    assert emulator.counters.logins == 1


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    ("fault", "retry_after"), [("http_503_empty", None), ("http_429", 4.0), ("http_424", None)]
)
def test_13_transient_failure_cooldown_honours_retry_after(
    make_client: MakeClient,
    emulator: Emulator,
    transport: SyncGateTransport,
    clock: StepClock,
    fault: str,
    retry_after: float | None,
) -> None:
    if retry_after is not None:  # the emulator's 429 says "Retry-After: 1": make it longer

        def later(request: httpx.Request, response: httpx.Response) -> httpx.Response:
            if response.status_code == 429:
                headers = {"retry-after": f"{retry_after:g}"}
                return httpx.Response(429, headers=headers, content=response.content)
            return response

        transport.rewrites["tradeApiLogin"] = later
    client = make_client(login_cooldown=1.0)
    emulator.inject_fault("login", fault, count=1)
    results = run_threads(20, client.positions)
    assert all(isinstance(r, TransientLoginError) for r in results)
    assert emulator.counters.login_attempts == 1  # not retried inside the burst
    machine = client._session.machine
    assert machine.cooldown_until is not None
    assert machine.cooldown_until - clock() >= (retry_after or 1.0) - 0.5


@pytest.mark.timeout(20)
def test_14_already_expired_token_keeps_old_session(
    client: NeoClient, transport: SyncGateTransport, clock: StepClock
) -> None:
    client.login()

    def stale_token(request: httpx.Request, response: httpx.Response) -> httpx.Response:
        body = json.loads(response.content)
        header, payload, sig = body["data"]["token"].split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        claims["exp"] = claims["iat"]
        payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
        body["data"]["token"] = f"{header}.{payload}.{sig}"
        return httpx.Response(200, content=json.dumps(body).encode())

    transport.rewrites["tradeApiValidate"] = stale_token
    clock.next_step()
    with pytest.raises(TransientLoginError, match="already expired"):
        client.login()
    assert client.session is not None
    assert client.session.epoch == 1
    client.positions()  # the old session still works


@pytest.mark.timeout(20)
def test_16_success_after_failure_clears_the_error(
    make_client: MakeClient, emulator: Emulator, clock: StepClock
) -> None:
    client = make_client(login_cooldown=1.0)
    emulator.inject_fault("login", "http_500", count=1)
    with pytest.raises(TransientLoginError):
        client.positions()
    clock.advance(2)
    clock.next_step()
    client.positions()
    assert client._session.machine.cooldown_error is None
    client.positions()
    assert client.stats.logins == 1


# -- timeouts, close, event loops, fork -------------------------------------------------


@pytest.mark.timeout(20)
def test_19_a_caller_that_stops_waiting_leaves_the_login_alone(
    client: NeoClient, emulator: Emulator, transport: SyncGateTransport, clock: StepClock
) -> None:
    # Policy: a blocking call cannot be cancelled. A caller that gives up (here: a
    # future's result() timing out) leaves its thread waiting; the login completes and
    # that thread's call, and the next caller, use it.
    client.login()
    expire(emulator, clock)
    gate = transport.gate("tradeApiValidate")
    leader = Threads(1, client.positions)
    gate.until_waiting(1)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        detached = pool.submit(client.positions)
        with pytest.raises(TimeoutError):
            detached.result(timeout=0.05)
        gate.release()
        assert isinstance(detached.result(timeout=5), list)
    assert isinstance(leader.join(5)[0], list)
    client.positions()
    assert emulator.counters.logins == 2


@pytest.mark.timeout(20)
def test_20_hung_login_times_out_for_every_waiter_and_frees_the_slot(
    make_client: MakeClient, emulator: Emulator, clock: StepClock
) -> None:
    client = make_client(login_timeout=0.3, login_cooldown=0.5)
    emulator.inject_fault("validate", "hang")  # the server never answers
    results = run_threads(10, client.positions, timeout=5)
    assert all(isinstance(r, TransientLoginError) for r in results)
    assert all("login_timeout" in str(r) for r in results)
    assert client._session.machine.ticket is None  # the slot is free
    assert client.stats.login_attempts == 1
    emulator.clear_faults()
    clock.advance(1)
    clock.next_step()
    client.positions()
    assert client.stats.logins == 1


@pytest.mark.timeout(20)
def test_29_transport_that_ignores_timeouts_cannot_strand_the_waiters(
    make_client: MakeClient, emulator: Emulator, transport: SyncGateTransport, clock: StepClock
) -> None:
    client = make_client(login_timeout=0.3, login_cooldown=0.1)
    gate = transport.gate("tradeApiValidate")  # held client-side: no timeout applies
    leader = Threads(1, client.positions)
    gate.until_waiting(1)
    waiters = Threads(9, client.positions)
    wait_for(lambda: client.stats.coalesced == 9, what="9 waiters")
    # The waiters give the login up at its deadline (plus a short grace), alone: the
    # leader's thread is still stuck in the transport.
    results = waiters.join(5)
    assert all(isinstance(r, TransientLoginError) for r in results)
    assert all("login_timeout" in str(r) for r in results)
    assert leader.threads[0].is_alive()
    assert client._session.machine.ticket is None  # the slot is free
    gate.release()
    [late] = leader.join(5)
    assert isinstance(late, TransientLoginError)  # its late result was discarded
    assert emulator.counters.logins == 1  # the server did finish that login
    assert client.stats.logins == 0
    clock.advance(1)
    clock.next_step()
    client.positions()  # a new login, the slot and the login lock are free
    assert client.stats.logins == 1
    assert emulator.counters.logins == 2


@pytest.mark.timeout(20)
def test_21_close_during_login(
    client: NeoClient, emulator: Emulator, transport: SyncGateTransport
) -> None:
    gate = transport.gate("tradeApiValidate")
    calls = Threads(10, client.positions)
    gate.until_waiting(1)
    wait_for(lambda: client.stats.coalesced == 9, what="9 waiters")
    client.close()
    wait_for(lambda: calls.finished == 9, what="the 9 waiters to get the error", timeout=5)
    gate.release()
    results = calls.join(5)
    assert all(isinstance(r, ClientClosedError) for r in results), results
    with pytest.raises(ClientClosedError):
        client.positions()
    assert client._session.machine.ticket is None
    assert not [t for t in threading.enumerate() if t.name.startswith("aioneo-login")]


def test_28_called_from_a_running_event_loop_is_a_clear_error(client: NeoClient) -> None:
    async def main() -> list[Any]:
        with pytest.raises(RuntimeError, match=r"running asyncio event loop.*to_thread"):
            client.positions()
        with pytest.raises(RuntimeError, match="running asyncio event loop"):
            client.login()
        return await asyncio.to_thread(client.positions)  # the documented way

    assert isinstance(asyncio.run(main()), list)
    assert client.stats.logins == 1


# Python 3.12+ warns that forking a process with threads may deadlock: that is the point.
FORK_WARNING = "ignore:This process .* is multi-threaded:DeprecationWarning"


def _child_call(client: NeoClient, out: Any) -> None:
    gate = client._session
    report: dict[str, Any] = {
        "login_lock_free": not gate._login_lock.locked(),
        "data_lock_free": not gate.data.locked(),
        "ticket": gate.machine.ticket is not None,
        "pools": client._http is None and client._login_http is None,
        "logins_before": client.stats.logins,
    }
    try:
        client.positions()
        report["ok"] = True
    except BaseException as exc:  # reported to the parent
        report["ok"] = repr(exc)
    report["logins_after"] = client.stats.logins
    out.send(report)


def _in_child(client: NeoClient, after_fork: Callable[[], None] = lambda: None) -> dict[str, Any]:
    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_child_call, args=(client, send))
    child.start()  # forks now: the child's state is the parent's at this instant
    try:
        after_fork()
        assert receive.poll(10), "the child did not report within 10 s"
        report: dict[str, Any] = receive.recv()
    finally:
        child.join(5)
        if child.is_alive():
            child.kill()
    assert child.exitcode == 0
    return report


@pytest.mark.timeout(30)
@pytest.mark.filterwarnings(FORK_WARNING)
def test_30_fork_during_a_login_gives_the_child_a_clean_slot(
    make_client: MakeClient, emulator: Emulator, clock: StepClock
) -> None:
    # No custom transport: the child must open its own connections.
    client = make_client(transport=None)
    client.positions()
    expire(emulator, clock)
    hold = emulator.hold("validate")
    leader = Threads(1, client.positions)
    assert hold.wait_until_waiting(1, timeout=5)  # the parent's login is in flight
    assert client._session._login_lock.locked()
    clock.next_step()  # the child's login may not reuse the parent's TOTP step
    try:
        report = _in_child(client, after_fork=hold.release)
    finally:
        hold.release()
    assert report["login_lock_free"]
    assert report["data_lock_free"]
    assert not report["ticket"]  # the parent's login in flight is not inherited
    assert report["pools"]
    assert report["ok"] is True
    assert report["logins_after"] == report["logins_before"] + 1  # its own, clean login
    assert isinstance(leader.join(5)[0], list)
    assert client.stats.logins == 2


@pytest.mark.timeout(30)
@pytest.mark.filterwarnings(FORK_WARNING)
def test_30_fork_after_login_reuses_the_session(
    make_client: MakeClient, emulator: Emulator
) -> None:
    client = make_client(transport=None)
    client.positions()
    report = _in_child(client)
    assert report["ok"] is True
    assert report["logins_after"] == report["logins_before"] == 1
    assert emulator.counters.logins == 1
    client.positions()  # the parent's pools still work after the child used its own


# -- TOTP -------------------------------------------------------------------------------


@pytest.mark.timeout(30)
def test_31_two_relogins_in_one_totp_step(
    make_client: MakeClient, emulator: Emulator, clock: StepClock
) -> None:
    clock.next_step(into_step=26.5)  # the second login waits ~3.5 s for the next step
    emulator.configure(totp_replay_rejection=True)
    client = make_client()
    client.login()
    first_step = client._session.machine.last_totp_step
    emulator.expire_sessions()
    assert all(isinstance(r, list) for r in run_threads(10, client.positions, timeout=15))
    assert client._session.machine.last_totp_step == (first_step or 0) + 1
    assert emulator.counters.logins == 2
    assert emulator.counters.totp_replays_rejected == 0


@pytest.mark.timeout(20)
def test_33_wrong_totp_secret_is_fatal_without_retry_storm(
    make_client: MakeClient, emulator: Emulator, transport: SyncGateTransport, clock: StepClock
) -> None:
    other = "KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU"
    assert other != emulator.credentials.totp_secret

    def next_step_on_refusal(request: httpx.Request, response: httpx.Response) -> httpx.Response:
        if response.status_code == 401:  # the retry then needs no real wait for a step
            clock.next_step()
        return httpx.Response(response.status_code, content=response.content)

    transport.rewrites["tradeApiLogin"] = next_step_on_refusal
    client = make_client(credentials=credentials_of(emulator, totp_secret=other))
    results = run_threads(20, client.positions)
    assert all(isinstance(r, FatalLoginError) for r in results)
    for _ in range(5):
        with pytest.raises(FatalLoginError):
            client.positions()
    # the refused code, once more on the next step (it may have been a replay), no more
    assert emulator.counters.login_attempts == 2


# -- secrets, scope, metrics ------------------------------------------------------------


@pytest.mark.timeout(20)
def test_43_no_secret_in_logs_or_errors(
    make_client: MakeClient,
    emulator: Emulator,
    clock: StepClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="aioneo")
    client = make_client(login_cooldown=0.1)
    client.positions()
    expire(emulator, clock)
    client.positions()
    emulator.inject_fault("login", "http_503_empty", count=1)
    expire(emulator, clock)
    errors = [r for r in run_threads(10, client.positions) if isinstance(r, BaseException)]
    secrets = {
        emulator.credentials.consumer_key,
        emulator.credentials.mpin,
        emulator.credentials.totp_secret,
    }
    for record in emulator.requests:
        for name in ("auth", "sid"):
            if name in record.headers:
                secrets.add(record.headers[name])
        if record.endpoint == "login":
            secrets.add(json.loads(record.body)["totp"])
    text = "\n".join(r.getMessage() for r in caplog.records)
    text += "\n".join(f"{e!s} {e!r}" for e in errors)
    text += repr(client.session) + repr(client.credentials) + repr(client.stats)
    assert len(errors) == 10
    assert all(isinstance(e, TransientLoginError) for e in errors)
    assert caplog.records
    for secret in secrets:
        assert secret not in text


@pytest.mark.timeout(20)
def test_45_two_clients_do_not_serialise(
    make_client: MakeClient, emulator: Emulator, clock: StepClock
) -> None:
    held = SyncGateTransport()
    gate = held.gate("tradeApiValidate")
    slow, fast = make_client(transport=held), make_client()
    blocked = Threads(1, slow.positions)
    gate.until_waiting(1)
    clock.next_step()
    fast.positions()  # logs in and works while the other login is held
    assert fast.session is not None
    assert slow.session is None
    gate.release()
    assert isinstance(blocked.join(5)[0], list)
    held.close()


@pytest.mark.timeout(20)
def test_46_counters_are_exact(
    client: NeoClient, emulator: Emulator, transport: SyncGateTransport, clock: StepClock
) -> None:
    client.login()
    expire(emulator, clock)
    gate = transport.gate("tradeApiValidate")
    calls = Threads(30, client.positions)
    gate.until_waiting(1)
    wait_for(lambda: client.stats.coalesced == 29, what="29 waiters")
    gate.release()
    assert all(isinstance(r, list) for r in calls.join(5))
    stats = client.stats
    assert (stats.login_attempts, stats.logins, stats.login_failures, stats.relogins) == (
        2,
        2,
        0,
        1,
    )
    assert stats.coalesced == 29
    assert stats.stragglers == 0
    assert stats.cooldown_hits == 0
    assert emulator.counters.logins == 2


# -- client-side bounds ------------------------------------------------------------------


@pytest.mark.timeout(20)
def test_rate_limiter_keeps_threads_under_the_server_limit(
    make_client: MakeClient, emulator: Emulator
) -> None:
    emulator.configure(rate_limit=10)
    client = make_client(rate_limit=10, max_connections=25)
    results = run_threads(25, client.positions)
    assert all(isinstance(r, list) for r in results)
    assert emulator.counters.rate_limited == 0
    assert emulator.counters.requests["positions"] == 25


@pytest.mark.timeout(20)
def test_max_connections_bounds_the_requests_on_the_wire(
    make_client: MakeClient, transport: SyncGateTransport
) -> None:
    client = make_client(max_connections=5)
    client.login()
    slots = client._slots = CountingSemaphore(client._slots)  # type: ignore[assignment]
    gate = transport.gate("positions")
    calls = Threads(20, client.positions)
    gate.until_waiting(5)
    wait_for(lambda: slots.waiting == 15, what="15 calls queued for a slot")
    assert gate.waiting == 5
    gate.release()
    assert all(isinstance(r, list) for r in calls.join(5))
    assert transport.max_in_flight["positions"] == 5


@pytest.mark.timeout(20)
def test_orders_are_never_retried_on_429(client: NeoClient, emulator: Emulator) -> None:
    client.login()
    emulator.inject_fault("place_order", "http_429", count=1)
    with pytest.raises(RateLimitError) as caught:
        client.place_order(
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


@pytest.mark.timeout(20)
def test_slots_are_handed_to_the_longest_waiter() -> None:
    from aioneo._sync_client import _FairSlots

    slots = _FairSlots(1)
    order: list[str] = []
    slots.__enter__()  # the holder
    second_in = threading.Event()

    def second() -> None:
        with slots:
            order.append("second")
            second_in.set()

    waiter = threading.Thread(target=second)
    waiter.start()
    wait_for(lambda: slots.waiting == 1, what="the second thread to queue")
    slots.__exit__(None, None, None)
    with slots:  # the releasing thread comes straight back: it must queue behind "second"
        order.append("holder again")
    waiter.join(5)
    assert second_in.is_set()
    assert order == ["second", "holder again"]
