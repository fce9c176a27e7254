"""The shipped fixtures are fast by default: a relogin never waits for a fresh TOTP step.

``neo_clock`` is a ``StepClock(auto_step=True)`` and the emulator fixtures run on it: each
login the emulator accepts moves the clock to the next 30 s step, so the next login of a
client on the same clock goes out at once. Checked on both twins, in process and on
loopback, by the absence of the clients' "waiting ... for a fresh TOTP step" log line and by
the wall time, and on :class:`StepClock` directly.
"""

from __future__ import annotations

import logging
import time

import pytest

from aioneo import AsyncNeoClient, Credentials, NeoClient
from aioneo.testing import Emulator, EmulatorServer, StepClock, pytest_plugin

# The shipped fixtures, as ``pytest_plugins = ["aioneo.testing.pytest_plugin"]`` gives them.
neo_clock = pytest_plugin.neo_clock
neo_emulator = pytest_plugin.neo_emulator
neo_emulator_server = pytest_plugin.neo_emulator_server

WAITED = "for a fresh TOTP step"


def waits(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if WAITED in r.getMessage()]


async def test_async_relogins_need_no_wait(
    neo_emulator: Emulator, neo_clock: StepClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="aioneo")
    creds = Credentials(**neo_emulator.credentials.as_dict())
    started = time.monotonic()
    async with AsyncNeoClient(
        creds, login_url=neo_emulator.login_url, transport=neo_emulator.transport(), clock=neo_clock
    ) as neo:
        for _ in range(3):
            await neo.positions()
            neo_emulator.expire_sessions()
        await neo.positions()
    assert neo_emulator.counters.logins == 4
    assert waits(caplog) == []
    assert time.monotonic() - started < 5


def test_sync_relogins_need_no_wait(
    neo_emulator: Emulator, neo_clock: StepClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="aioneo")
    creds = Credentials(**neo_emulator.credentials.as_dict())
    started = time.monotonic()
    with NeoClient(
        creds,
        login_url=neo_emulator.login_url,
        transport=neo_emulator.sync_transport(),
        clock=neo_clock,
    ) as neo:
        for _ in range(3):
            neo.positions()
            neo_emulator.expire_sessions()
        neo.positions()
    assert neo_emulator.counters.logins == 4
    assert waits(caplog) == []
    assert time.monotonic() - started < 5


def test_the_server_fixture_runs_on_the_clock_too(
    neo_emulator_server: EmulatorServer, neo_clock: StepClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="aioneo")
    emu = neo_emulator_server.emulator
    assert emu.clock is neo_clock
    creds = Credentials(**emu.credentials.as_dict())
    with NeoClient(creds, login_url=neo_emulator_server.url, clock=neo_clock) as neo:
        neo.positions()
        emu.expire_sessions()
        neo.positions()
    assert emu.counters.logins == 2
    assert waits(caplog) == []


def test_neo_clock_is_fresh_and_auto_stepping(neo_clock: StepClock, neo_emulator: Emulator) -> None:
    assert neo_clock.auto_step is True
    assert neo_emulator.clock is neo_clock


# -- StepClock(auto_step=True) itself ---------------------------------------------------------


def test_a_used_step_is_left_for_the_next_one() -> None:
    clock = StepClock(into_step=7.0, auto_step=True)
    step = int(clock() // 30)
    clock.step_used(step)
    assert int(clock() // 30) == step + 1
    assert 7.0 <= clock() % 30 < 8.0  # into_step, as constructed


def test_a_later_step_used_moves_past_it() -> None:
    clock = StepClock(auto_step=True)
    step = int(clock() // 30)
    clock.step_used(step + 1)  # a code from one step ahead (the server's skew window)
    assert int(clock() // 30) == step + 2


def test_an_earlier_step_moves_nothing() -> None:
    clock = StepClock(auto_step=True)
    before = clock.offset
    clock.step_used(int(clock() // 30) - 1)  # a client on the real clock, one step behind
    assert clock.offset == before


def test_without_auto_step_nothing_moves() -> None:
    clock = StepClock()
    before = clock.offset
    clock.step_used(int(clock() // 30))
    assert clock.offset == before


def test_auto_step_must_be_a_bool() -> None:
    with pytest.raises(TypeError, match="auto_step must be True or False, got 'yes'"):
        StepClock(auto_step="yes")  # type: ignore[arg-type]


def test_a_client_on_the_real_clock_does_not_move_it() -> None:
    """Tests that do not pass ``clock=`` to their client keep working as before."""

    clock = StepClock(auto_step=True)
    emu = Emulator(clock=clock)
    before = clock.offset
    creds = Credentials(**emu.credentials.as_dict())
    with NeoClient(creds, login_url=emu.login_url, transport=emu.sync_transport()) as neo:
        neo.positions()
    assert emu.counters.logins == 1
    assert clock.offset == before
