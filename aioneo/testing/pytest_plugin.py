"""pytest fixtures for the Kotak Neo emulator.

Enable them in your root ``conftest.py`` (or in the test module itself)::

    pytest_plugins = ["aioneo.testing.pytest_plugin"]

``neo_clock``
    A :class:`~aioneo.testing.StepClock` with ``auto_step=True``, fresh per test: the
    emulators below run on it, and so must your client (``clock=neo_clock``). Each login
    the emulator accepts moves it to the next 30 s TOTP step, so a relogin after
    ``expire_sessions()`` goes out at once instead of waiting up to 30 s for a fresh step.
``neo_emulator``
    A fresh in-process :class:`~aioneo.testing.Emulator` per test, on ``neo_clock``; talk
    to it with ``AsyncNeoClient(..., transport=neo_emulator.transport())`` or
    ``NeoClient(..., transport=neo_emulator.sync_transport())``.
``neo_emulator_server``
    A fresh :class:`~aioneo.testing.EmulatorServer` per test, on ``neo_clock``, on a free
    loopback port in a background thread (for other processes and the official SDK);
    stopped cleanly at teardown, held and hung requests released first.

The emulators take settings through indirect parametrization, as a dict of
:class:`~aioneo.testing.EmulatorConfig` fields::

    @pytest.mark.parametrize("neo_emulator", [{"rate_limit": None}], indirect=True)
    async def test_burst(neo_emulator): ...

The fixtures are synchronous, so they work under any async test plugin (anyio's, which
comes with httpx, or pytest-asyncio); build and close your client inside the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from aioneo.testing._app import Emulator
from aioneo.testing._clock import StepClock
from aioneo.testing._config import EmulatorConfig
from aioneo.testing._server import EmulatorServer

__all__ = ["neo_clock", "neo_emulator", "neo_emulator_server"]


def _emulator(request: pytest.FixtureRequest, clock: StepClock) -> Emulator:
    changes: Any = getattr(request, "param", None) or {}
    if not isinstance(changes, dict):
        raise TypeError(
            f"indirect parameter {changes!r} is not allowed: pass a dict of EmulatorConfig fields"
        )
    return Emulator(EmulatorConfig(**changes), clock=clock)


@pytest.fixture
def neo_clock() -> StepClock:
    """The test's clock: jumps to a fresh TOTP step after every login (``auto_step``)."""
    return StepClock(auto_step=True)


@pytest.fixture
def neo_emulator(request: pytest.FixtureRequest, neo_clock: StepClock) -> Emulator:
    """An in-process emulator on ``neo_clock``, with default (or parametrized) settings."""
    return _emulator(request, neo_clock)


@pytest.fixture
def neo_emulator_server(
    request: pytest.FixtureRequest, neo_clock: StepClock
) -> Iterator[EmulatorServer]:
    """An emulator on ``neo_clock``, served on a free loopback port during the test."""
    with EmulatorServer(_emulator(request, neo_clock)) as server:
        yield server
