"""pytest fixtures for the Kotak Neo emulator.

Enable them in your root ``conftest.py``::

    pytest_plugins = ["aioneo.testing.pytest_plugin"]

``neo_emulator``
    A fresh in-process :class:`~aioneo.testing.Emulator` per test; talk to it with
    ``httpx.AsyncClient(transport=neo_emulator.transport())``.
``neo_emulator_server``
    A fresh :class:`~aioneo.testing.EmulatorServer` per test, on a free loopback port in a
    background thread (for sync clients, the official SDK and threads); stopped cleanly at
    teardown, held and hung requests released first.

Both take settings through indirect parametrization, as a dict of
:class:`~aioneo.testing.EmulatorConfig` fields::

    @pytest.mark.parametrize("neo_emulator", [{"rate_limit": None}], indirect=True)
    async def test_burst(neo_emulator): ...
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from aioneo.testing._app import Emulator
from aioneo.testing._config import EmulatorConfig
from aioneo.testing._server import EmulatorServer

__all__ = ["neo_emulator", "neo_emulator_server"]


def _emulator(request: pytest.FixtureRequest) -> Emulator:
    changes: Any = getattr(request, "param", None) or {}
    if not isinstance(changes, dict):
        raise TypeError(
            f"indirect parameter {changes!r} is not allowed: pass a dict of EmulatorConfig fields"
        )
    return Emulator(EmulatorConfig(**changes))


@pytest.fixture
def neo_emulator(request: pytest.FixtureRequest) -> Emulator:
    """An in-process emulator with default (or parametrized) settings."""
    return _emulator(request)


@pytest.fixture
def neo_emulator_server(request: pytest.FixtureRequest) -> Iterator[EmulatorServer]:
    """An emulator served on a free loopback port for the duration of the test."""
    with EmulatorServer(_emulator(request)) as server:
        yield server
