"""A faithful offline Kotak Neo Trade API: test bots, clients and the official SDK with it.

::

    from aioneo.testing import Emulator, EmulatorServer

    emu = Emulator()                      # in-process, for async tests
    async with httpx.AsyncClient(transport=emu.transport()) as http:
        ...                               # emu.login_url, emu.base_url, emu.credentials

    with NeoClient(..., transport=emu.sync_transport()) as neo:  # in-process, for threads
        ...

    with EmulatorServer() as server:      # on loopback, for processes, benchmarks
        ...                               # server.url; server.transport() for sync clients

    # The official SDK, unchanged: its fixed hosts are routed to the emulator.
    NeoAPI(consumer_key=..., transport=server.transport())

    $ python -m aioneo.testing serve --port 0   # first line: JSON with url and credentials

What it serves, the switches for what Kotak leaves undocumented, fault injection and the
control API are described on :class:`Emulator`, :class:`EmulatorConfig` and :class:`Fault`.
Fixtures for pytest: ``pytest_plugins = ["aioneo.testing.pytest_plugin"]``.
"""

from __future__ import annotations

from aioneo.testing._app import (
    ConnectionDropped,
    Counters,
    Emulator,
    EmulatorTransport,
    Hold,
    RecordedRequest,
)
from aioneo.testing._clock import StepClock
from aioneo.testing._config import (
    ENDPOINTS,
    KOTAK_LATENCY,
    ZERO_LATENCY,
    DemoCredentials,
    EmulatorConfig,
    Fault,
)
from aioneo.testing._feeds import FeedControls, SentPacket
from aioneo.testing._server import EmulatorServer, RoutingTransport
from aioneo.testing._sync_transport import EmulatorSyncTransport
from aioneo.testing._trading_market import FeedSnapshot

__all__ = [
    "ENDPOINTS",
    "KOTAK_LATENCY",
    "ZERO_LATENCY",
    "ConnectionDropped",
    "Counters",
    "DemoCredentials",
    "Emulator",
    "EmulatorConfig",
    "EmulatorServer",
    "EmulatorSyncTransport",
    "EmulatorTransport",
    "Fault",
    "FeedControls",
    "FeedSnapshot",
    "Hold",
    "RecordedRequest",
    "RoutingTransport",
    "SentPacket",
    "StepClock",
]
