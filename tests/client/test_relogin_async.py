"""The relogin contract for AsyncNeoClient, scenario by scenario (concurrency-scenarios.md).

Every test runs against the emulator (in process, through ``httpx.ASGITransport``) and
asserts counts: logins the server saw, the client's counters, exceptions received. None
sleeps to make something happen; the few real waits are TOTP-step waits the scenario is
about (at most a few seconds).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Callable

import httpx
import pytest

from aioneo import (
    AsyncNeoClient,
    ClientClosedError,
    FatalLoginError,
    SessionExpiredError,
    TransientLoginError,
)
from aioneo.testing import Emulator

from .conftest import GateTransport, StepClock, credentials_of, expired_response

#: Every test that uses the client fixtures runs on both HTTP backends (see conftest).
BOTH_BACKENDS = True

MakeClient = Callable[..., AsyncNeoClient]


async def expire(emulator: Emulator, clock: StepClock) -> None:
    """End every session now, and move to a fresh TOTP step for the relogin."""
    emulator.expire_sessions()
    clock.next_step()


# -- single-flight and generations ------------------------------------------------------


async def burst(
    client: AsyncNeoClient, gate_transport: GateTransport, n: int, path: str = "positions"
) -> list[object]:
    """``n`` calls that are all on the wire before the first answer arrives."""
    gate = gate_transport.gate(path)
    calls = [asyncio.create_task(client.positions()) for _ in range(n)]
    await gate.until_waiting(n)
    gate_transport.ungate(path)
    return list(await asyncio.gather(*calls))


@pytest.mark.parametrize("expiry_status", [401, 200, 403])
async def test_1_burst_of_1000_makes_one_login(
    make_client: MakeClient,
    emulator: Emulator,
    gate_transport: GateTransport,
    clock: StepClock,
    expiry_status: int,
) -> None:
    emulator.configure(expiry_status=expiry_status)
    async with make_client(max_connections=1000) as client:
        await client.login()
        await expire(emulator, clock)
        results = await burst(client, gate_transport, 1000)
        assert len(results) == 1000
        stats = client.stats
    assert emulator.counters.logins == 2  # the first login and exactly one relogin
    assert stats.logins == 2
    assert stats.relogins == 1
    assert stats.login_failures == 0
    assert stats.expired_responses == 1000
    assert stats.coalesced + stats.stragglers == 999


async def test_2_mixed_401_and_200_bodies_are_one_expiry(
    make_client: MakeClient, emulator: Emulator, gate_transport: GateTransport, clock: StepClock
) -> None:
    flip = {"n": 0}

    def half_as_200(request: httpx.Request, response: httpx.Response) -> httpx.Response:
        if response.status_code == 401:
            flip["n"] += 1
            if flip["n"] % 2:
                return httpx.Response(200, content=response.content)
        return response

    async with make_client(max_connections=100) as client:
        await client.login()
        gate_transport.rewrites["positions"] = half_as_200
        await expire(emulator, clock)
        await burst(client, gate_transport, 100)
        assert client.stats.expired_responses == 100
    assert flip["n"] == 100  # half answered 401, half 200 + the 900901 body
    assert emulator.counters.logins == 2


async def test_3_straggler_after_relogin_makes_no_login(
    client: AsyncNeoClient, emulator: Emulator, gate_transport: GateTransport, clock: StepClock
) -> None:
    await client.login()
    gate = gate_transport.gate("trades")
    straggler = asyncio.create_task(client.trade_report())
    await gate.until_waiting(1)  # sent with epoch 1, held on the way
    await expire(emulator, clock)
    await client.positions()  # relogin to epoch 2
    assert client.session is not None
    assert client.session.epoch == 2
    gate.release()
    await straggler  # answered "expired" for epoch 1: retried with epoch 2, no login
    assert emulator.counters.logins == 2
    assert client.stats.stragglers == 1


async def test_4_next_expiry_runs_a_new_login(
    client: AsyncNeoClient, emulator: Emulator, clock: StepClock
) -> None:
    await client.positions()
    await expire(emulator, clock)
    await asyncio.gather(*(client.positions() for _ in range(50)))
    await expire(emulator, clock)
    await asyncio.gather(*(client.positions() for _ in range(50)))
    assert emulator.counters.logins == 3
    assert client.stats.relogins == 2


async def test_5_headers_are_read_at_send_time(
    make_client: MakeClient, emulator: Emulator, gate_transport: GateTransport, clock: StepClock
) -> None:
    async with make_client(max_connections=1) as client:
        await client.login()
        gate = gate_transport.gate("trades")
        first = asyncio.create_task(client.trade_report())  # holds the only slot
        await gate.until_waiting(1)
        second = asyncio.create_task(client.positions())  # queued for the slot
        await asyncio.sleep(0)
        await expire(emulator, clock)
        await client.login()  # logins have their own connections: not blocked by the slot
        gate.release()
        await asyncio.gather(first, second)
    positions = [r for r in emulator.requests if r.endpoint == "positions"]
    assert [r.status for r in positions] == [200]  # built after the relogin: new token
    assert emulator.counters.logins == 2


async def test_6_new_calls_wait_for_login_in_flight(
    client: AsyncNeoClient, emulator: Emulator, gate_transport: GateTransport, clock: StepClock
) -> None:
    await client.login()
    await expire(emulator, clock)
    gate = gate_transport.gate("tradeApiValidate")
    leader = asyncio.create_task(client.positions())
    await gate.until_waiting(1)
    seen = emulator.counters.requests.get("positions", 0)
    wave = [asyncio.create_task(client.positions()) for _ in range(100)]
    await asyncio.sleep(0.01)
    assert emulator.counters.requests.get("positions", 0) == seen  # nothing sent with a dead token
    gate.release()
    await asyncio.gather(leader, *wave)
    assert emulator.counters.logins == 2
    assert emulator.counters.requests["positions"] == seen + 101


async def test_7_second_expiry_under_new_epoch_is_an_error_not_a_loop(
    client: AsyncNeoClient, emulator: Emulator, gate_transport: GateTransport, clock: StepClock
) -> None:
    await client.login()
    clock.next_step()
    gate_transport.rewrites["positions"] = lambda req, resp: expired_response()
    with pytest.raises(SessionExpiredError, match="still reports the session expired"):
        await client.positions()
    assert emulator.counters.logins == 2  # exactly one relogin, then a typed error
    assert emulator.counters.requests["positions"] == 2


async def test_8_expired_answer_on_the_login_itself_does_not_recurse(
    make_client: MakeClient, emulator: Emulator, gate_transport: GateTransport
) -> None:
    gate_transport.rewrites["tradeApiLogin"] = lambda req, resp: expired_response()
    async with make_client() as client:
        with pytest.raises(FatalLoginError):
            await client.positions()
        with pytest.raises(FatalLoginError):
            await client.positions()
    assert emulator.counters.login_attempts == 1
    assert client.stats.login_attempts == 1


async def test_9_waiters_are_counted_exactly(
    make_client: MakeClient, emulator: Emulator, gate_transport: GateTransport, clock: StepClock
) -> None:
    async with make_client(max_connections=100) as client:
        await client.login()
        await expire(emulator, clock)
        gate = gate_transport.gate("tradeApiValidate")
        calls = [asyncio.create_task(client.positions()) for _ in range(20)]
        await gate.until_waiting(1)
        for _ in range(10):
            await asyncio.sleep(0)
        gate.release()
        await asyncio.gather(*calls)
        stats = client.stats
        assert stats.relogins == 1
        # the 19 others joined the in-flight login, either after their own "expired"
        # answer or before sending at all
        assert stats.coalesced == 19
        await client.positions()  # after completion: no wait, no login
        assert client.stats.coalesced == 19
        assert client.stats.login_attempts == 2


# -- failure semantics ------------------------------------------------------------------


async def test_10_login_network_error_reaches_every_waiter(
    client: AsyncNeoClient, emulator: Emulator, gate_transport: GateTransport, clock: StepClock
) -> None:
    await client.login()
    await expire(emulator, clock)

    def refuse(request: httpx.Request) -> None:
        raise httpx.ConnectError("connection refused", request=request)

    gate_transport.failures["tradeApiLogin"] = refuse
    results = await asyncio.gather(
        *(client.positions() for _ in range(100)), return_exceptions=True
    )
    assert all(isinstance(r, TransientLoginError) for r in results)
    assert len({str(r) for r in results}) == 1
    assert (
        emulator.counters.login_attempts == 1
    )  # the first login only: the failed one never arrived
    assert client.stats.login_attempts == 2
    assert client.stats.login_failures == 1


async def test_11_12_cooldown_then_one_new_login(
    make_client: MakeClient, emulator: Emulator, gate_transport: GateTransport, clock: StepClock
) -> None:
    async with make_client(login_cooldown=10.0) as client:
        await client.login()
        await expire(emulator, clock)
        emulator.inject_fault("login", "http_503_empty", count=1)
        first = await asyncio.gather(
            *(client.positions() for _ in range(10)), return_exceptions=True
        )
        assert all(isinstance(r, TransientLoginError) for r in first)
        attempts = emulator.counters.login_attempts
        # Over real sockets, first-wave callers whose 401 arrives after the failed login
        # ended are refused by the cooldown too: count the second wave only.
        hits = client.stats.cooldown_hits
        inside = await asyncio.gather(
            *(client.positions() for _ in range(10)), return_exceptions=True
        )
        assert all(isinstance(r, TransientLoginError) for r in inside)
        assert emulator.counters.login_attempts == attempts  # no login inside the cooldown
        assert client.stats.cooldown_hits - hits == 10
        clock.advance(16)  # past the jittered cooldown (10 s * at most 1.5)
        clock.next_step()
        await asyncio.gather(*(client.positions() for _ in range(10)))
        assert emulator.counters.login_attempts == attempts + 1
        assert emulator.counters.logins == 2


async def test_13_fatal_wrong_mpin_is_tried_once(
    make_client: MakeClient, emulator: Emulator, clock: StepClock
) -> None:
    bad = credentials_of(
        emulator, mpin="000000" if emulator.credentials.mpin != "000000" else "111111"
    )
    async with make_client(credentials=bad) as client:
        results = await asyncio.gather(
            *(client.positions() for _ in range(50)), return_exceptions=True
        )
        assert all(isinstance(r, FatalLoginError) for r in results)
        for _ in range(5):
            with pytest.raises(FatalLoginError, match="not retried automatically"):
                await client.positions()
        assert emulator.counters.login_attempts == 1
        # explicitly asked: one more attempt, with good credentials it works
        client.set_credentials(credentials_of(emulator))
        clock.next_step()
        await client.login()
        assert emulator.counters.logins == 1


@pytest.mark.parametrize(
    ("fault", "retry_after"), [("http_503_empty", None), ("http_429", 4.0), ("http_424", None)]
)
async def test_13_transient_failure_cooldown_honours_retry_after(
    make_client: MakeClient,
    emulator: Emulator,
    gate_transport: GateTransport,
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

        gate_transport.rewrites["tradeApiLogin"] = later
    async with make_client(login_cooldown=1.0) as client:
        emulator.inject_fault("login", fault, count=1)
        results = await asyncio.gather(
            *(client.positions() for _ in range(20)), return_exceptions=True
        )
        assert all(isinstance(r, TransientLoginError) for r in results)
        assert emulator.counters.login_attempts == 1  # not retried inside the burst
        machine = client._session.machine
        assert machine.cooldown_until is not None
        assert machine.cooldown_until - clock() >= (retry_after or 1.0) - 0.5


async def test_14_already_expired_token_keeps_old_session(
    client: AsyncNeoClient, emulator: Emulator, gate_transport: GateTransport, clock: StepClock
) -> None:
    await client.login()

    def stale_token(request: httpx.Request, response: httpx.Response) -> httpx.Response:
        body = json.loads(response.content)
        header, payload, sig = body["data"]["token"].split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        claims["exp"] = claims["iat"]
        payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
        body["data"]["token"] = f"{header}.{payload}.{sig}"
        return httpx.Response(200, content=json.dumps(body).encode())

    gate_transport.rewrites["tradeApiValidate"] = stale_token
    clock.next_step()
    with pytest.raises(TransientLoginError, match="already expired"):
        await client.login()
    assert client.session is not None
    assert client.session.epoch == 1
    await client.positions()  # the old session still works


async def test_16_success_after_failure_clears_the_error(
    make_client: MakeClient, emulator: Emulator, clock: StepClock
) -> None:
    async with make_client(login_cooldown=1.0) as client:
        emulator.inject_fault("login", "http_500", count=1)
        with pytest.raises(TransientLoginError):
            await client.positions()
        clock.advance(2)
        clock.next_step()
        await client.positions()
        assert client._session.machine.cooldown_error is None
        await client.positions()
        assert client.stats.logins == 1


# -- cancellation and timeouts ----------------------------------------------------------


async def test_17_cancelling_the_leader_does_not_cancel_the_login(
    client: AsyncNeoClient, emulator: Emulator, gate_transport: GateTransport, clock: StepClock
) -> None:
    await client.login()
    await expire(emulator, clock)
    gate = gate_transport.gate("tradeApiValidate")
    leader = asyncio.create_task(client.positions())
    await gate.until_waiting(1)
    others = [asyncio.create_task(client.positions()) for _ in range(10)]
    await asyncio.sleep(0)
    leader.cancel()
    gate.release()
    results = await asyncio.gather(*others)
    assert len(results) == 10
    with pytest.raises(asyncio.CancelledError):
        await leader
    assert emulator.counters.logins == 2


async def test_18_cancelling_every_waiter_still_stores_the_login(
    client: AsyncNeoClient, emulator: Emulator, gate_transport: GateTransport, clock: StepClock
) -> None:
    await client.login()
    await expire(emulator, clock)
    gate = gate_transport.gate("tradeApiValidate")
    calls = [asyncio.create_task(client.positions()) for _ in range(5)]
    await gate.until_waiting(1)
    for call in calls:
        call.cancel()
    await asyncio.gather(*calls, return_exceptions=True)
    gate.release()
    task = client._session._task
    assert task is not None
    await asyncio.wait([task])
    assert client.session is not None
    assert client.session.epoch == 2  # policy: the login finishes and is kept
    await client.positions()
    assert emulator.counters.logins == 2


async def test_19_waiter_timeout_is_its_own(
    client: AsyncNeoClient, emulator: Emulator, gate_transport: GateTransport, clock: StepClock
) -> None:
    await client.login()
    await expire(emulator, clock)
    gate = gate_transport.gate("tradeApiValidate")
    leader = asyncio.create_task(client.positions())
    await gate.until_waiting(1)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await client.positions()
    gate.release()
    await leader
    await client.positions()
    assert emulator.counters.logins == 2


async def test_20_hung_login_times_out_for_every_waiter_and_frees_the_slot(
    make_client: MakeClient, emulator: Emulator, gate_transport: GateTransport, clock: StepClock
) -> None:
    async with make_client(login_timeout=0.2, login_cooldown=0.5) as client:
        gate = gate_transport.gate("tradeApiValidate")
        results = await asyncio.gather(
            *(client.positions() for _ in range(10)), return_exceptions=True
        )
        assert all(isinstance(r, TransientLoginError) for r in results)
        assert all("login_timeout" in str(r) for r in results)
        assert client._session.machine.ticket is None  # the slot is free
        gate_transport.ungate("tradeApiValidate")
        assert gate.waiting == 0
        clock.advance(1)
        clock.next_step()
        await client.positions()
        assert client.stats.logins == 1


async def test_21_close_during_login(
    make_client: MakeClient, gate_transport: GateTransport
) -> None:
    client = make_client()
    gate = gate_transport.gate("tradeApiValidate")
    calls = [asyncio.create_task(client.positions()) for _ in range(10)]
    await gate.until_waiting(1)
    await client.aclose()
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert all(isinstance(r, ClientClosedError) for r in results)
    gate.release()
    await asyncio.sleep(0)
    pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]
    assert not [t for t in pending if t.get_name().startswith("aioneo")]
    with pytest.raises(ClientClosedError):
        await client.positions()


async def test_22_cancellation_at_publication_leaves_consistent_state(
    client: AsyncNeoClient, emulator: Emulator, gate_transport: GateTransport, clock: StepClock
) -> None:
    await client.login()
    await expire(emulator, clock)
    gate = gate_transport.gate("tradeApiValidate")
    calls = [asyncio.create_task(client.positions()) for _ in range(5)]
    await gate.until_waiting(1)
    gate.release()
    for call in calls:  # cancelled in the same loop step as the login is published
        call.cancel()
    await asyncio.gather(*calls, return_exceptions=True)
    task = client._session._task
    assert task is not None
    await asyncio.wait([task])
    machine = client._session.machine
    assert machine.ticket is None
    assert machine.epoch == 2
    await client.positions()
    assert emulator.counters.logins == 2


def test_24_client_made_outside_a_loop(emulator: Emulator, clock: StepClock) -> None:
    client = AsyncNeoClient(
        credentials_of(emulator),
        login_url=emulator.login_url,
        transport=emulator.transport(),
        rate_limit=None,
        clock=clock,
    )

    async def main() -> int:
        async with client:
            return len(await client.positions())

    assert asyncio.run(main()) >= 0


def test_25_sequential_event_loops(emulator: Emulator, clock: StepClock) -> None:
    client = AsyncNeoClient(
        credentials_of(emulator),
        login_url=emulator.login_url,
        transport=emulator.transport(),
        rate_limit=None,
        clock=clock,
    )

    async def once() -> None:
        await client.positions()

    asyncio.run(once())
    asyncio.run(once())  # the first loop is closed: the client moves to the new one
    assert emulator.counters.logins == 1

    async def done() -> None:
        await client.aclose()

    asyncio.run(done())


async def test_25_other_running_loop_is_a_clear_error(client: AsyncNeoClient) -> None:
    await client.positions()
    import threading

    errors: list[BaseException] = []

    def other() -> None:
        try:
            asyncio.run(client.positions())
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=other)
    thread.start()
    thread.join(10)
    assert len(errors) == 1
    assert isinstance(errors[0], RuntimeError)
    assert "another running event loop" in str(errors[0])


# -- TOTP -------------------------------------------------------------------------------


async def test_31_two_relogins_in_one_totp_step(
    make_client: MakeClient, emulator: Emulator, clock: StepClock
) -> None:
    # 26.5 s into a step: the second login must wait ~3.5 s for the next step
    clock.next_step(into_step=26.5)
    emulator.configure(totp_replay_rejection=True)
    async with make_client() as client:
        await client.login()
        first_step = client._session.machine.last_totp_step
        emulator.expire_sessions()
        await client.positions()  # relogin inside the same step
        assert client._session.machine.last_totp_step == (first_step or 0) + 1
    assert emulator.counters.logins == 2
    assert emulator.counters.totp_replays_rejected == 0


async def test_32_code_near_the_step_end_uses_the_next_step(
    make_client: MakeClient, emulator: Emulator, clock: StepClock
) -> None:
    emulator.configure(totp_skew_steps=0)
    clock.next_step(into_step=29.6)
    async with make_client() as client:
        started_step = int(clock() // 30)
        await client.login()
        assert client._session.machine.last_totp_step == started_step + 1
    assert emulator.counters.logins == 1


async def test_33_wrong_totp_secret_is_fatal_without_retry_storm(
    make_client: MakeClient, emulator: Emulator, clock: StepClock
) -> None:
    other = "KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU"
    assert other != emulator.credentials.totp_secret
    async with make_client(credentials=credentials_of(emulator, totp_secret=other)) as client:

        async def skip_ahead(seconds: float) -> None:  # the retry's wait for a fresh step
            clock.advance(seconds)

        client._sleep = skip_ahead
        for _ in range(5):
            with pytest.raises(FatalLoginError):
                await client.positions()
    # the refused code, once more on the next step (it may have been a replay), no more
    assert emulator.counters.login_attempts == 2


# -- secrets, scope, metrics ------------------------------------------------------------


async def test_43_no_secret_in_logs_or_errors(
    make_client: MakeClient,
    emulator: Emulator,
    clock: StepClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="aioneo")
    errors: list[BaseException] = []
    async with make_client(login_cooldown=0.1) as client:
        await client.positions()
        await expire(emulator, clock)
        await client.positions()
        emulator.inject_fault("login", "http_503_empty", count=1)
        await expire(emulator, clock)
        try:
            await client.positions()
        except TransientLoginError as exc:
            errors.append(exc)
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
    assert errors
    assert caplog.records
    for secret in secrets:
        assert secret not in text


async def test_45_two_clients_do_not_serialise(
    make_client: MakeClient, emulator: Emulator, clock: StepClock
) -> None:
    held = GateTransport(emulator.transport())
    gate = held.gate("tradeApiValidate")
    async with make_client(transport=held) as slow, make_client() as fast:
        blocked = asyncio.create_task(slow.positions())
        await gate.until_waiting(1)
        clock.next_step()
        await fast.positions()  # logs in and works while the other login is held
        assert fast.session is not None
        gate.release()
        await blocked


async def test_46_counters_are_exact(
    make_client: MakeClient, emulator: Emulator, gate_transport: GateTransport, clock: StepClock
) -> None:
    client = make_client(max_connections=100)
    await client.login()
    await expire(emulator, clock)
    gate = gate_transport.gate("tradeApiValidate")
    calls = [asyncio.create_task(client.positions()) for _ in range(30)]
    await gate.until_waiting(1)
    gate.release()
    await asyncio.gather(*calls)
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
    await client.aclose()


async def test_21_close_while_calls_queue_for_a_slot(
    make_client: MakeClient, gate_transport: GateTransport
) -> None:
    client = make_client(max_connections=1)
    await client.login()
    gate = gate_transport.gate("positions")
    calls = [asyncio.create_task(client.positions()) for _ in range(5)]
    await gate.until_waiting(1)  # one on the wire, four queued inside the client
    await client.aclose()
    gate.release()
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert sum(isinstance(r, ClientClosedError) for r in results) >= 4
    assert not [
        r for r in results if isinstance(r, BaseException) and not isinstance(r, ClientClosedError)
    ]
