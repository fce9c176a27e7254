"""Scenario 47: seeded random interleavings of expiries, bursts, cancellations, failed and
hung logins. Invariants checked after every round:

* never two logins on the wire at once (login and validate each at most one in flight);
* no hung waiter: every round finishes within a bound;
* no request goes out with a token the client had already seen declared dead;
* every call ends as a result, its own cancellation, or the shared login error;
* the login slot is free at the end of every round.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

import httpx
import pytest

from aioneo import AsyncNeoClient, TransientLoginError
from aioneo.testing import Emulator

from .conftest import GateTransport, StepClock

MakeClient = Callable[..., AsyncNeoClient]


class DeadTokenWatch:
    """Records tokens answered "expired"; flags any later request that still carries one."""

    def __init__(self, transport: GateTransport) -> None:
        self.dead: set[str] = set()
        self.violations = 0
        inner_handle = transport.handle_async_request

        async def handle(request: httpx.Request) -> httpx.Response:
            token = request.headers.get("auth")
            if token is not None and token in self.dead and "tradeApi" not in request.url.path:
                self.violations += 1
            response = await inner_handle(request)
            if token is not None and response.status_code in (401, 403):
                self.dead.add(token)
            return response

        transport.handle_async_request = handle  # type: ignore[method-assign]


@pytest.mark.parametrize("seed", range(4))
async def test_47_random_interleavings(
    make_client: MakeClient,
    emulator: Emulator,
    gate_transport: GateTransport,
    clock: StepClock,
    seed: int,
) -> None:
    rng = random.Random(seed)
    watch = DeadTokenWatch(gate_transport)
    rounds = 60
    outcomes = {"ok": 0, "cancelled": 0, "login_error": 0}
    async with make_client(max_connections=rng.choice([1, 5, 50]), login_cooldown=1.0) as client:
        for _ in range(rounds):
            clock.next_step()
            action = rng.random()
            if action < 0.5:
                emulator.expire_sessions()
            fault = rng.random() < 0.2
            if fault:
                emulator.inject_fault(rng.choice(["login", "validate"]), "http_503_empty", count=1)
            gate = gate_transport.gate("tradeApiValidate") if rng.random() < 0.3 else None
            calls = [asyncio.create_task(client.positions()) for _ in range(rng.randint(1, 30))]
            to_cancel = rng.sample(calls, k=rng.randint(0, len(calls) // 3))
            for _ in range(rng.randint(0, 5)):
                await asyncio.sleep(0)
            for call in to_cancel:
                call.cancel()
            if gate is not None:
                for _ in range(rng.randint(0, 5)):
                    await asyncio.sleep(0)
                gate_transport.ungate("tradeApiValidate")
            async with asyncio.timeout(10):  # no hung waiter
                results = await asyncio.gather(*calls, return_exceptions=True)
                task = client._session._task
                if task is not None:
                    await asyncio.wait([task])
            for result in results:
                if isinstance(result, asyncio.CancelledError):
                    outcomes["cancelled"] += 1
                elif isinstance(result, TransientLoginError):
                    outcomes["login_error"] += 1
                else:
                    assert isinstance(result, list), repr(result)
                    outcomes["ok"] += 1
            assert client._session.machine.ticket is None
            if fault or outcomes["login_error"]:
                emulator.clear_faults()
                clock.advance(2.0)  # past the cooldown
    assert gate_transport.max_in_flight.get("tradeApiLogin", 0) <= 1
    assert gate_transport.max_in_flight.get("tradeApiValidate", 0) <= 1
    assert watch.violations == 0
    assert outcomes["ok"] > 0
    stats = client.stats
    assert stats.logins == emulator.counters.logins
    assert stats.login_attempts == stats.logins + stats.login_failures
