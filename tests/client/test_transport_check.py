"""Both twins refuse a transport of the wrong kind at construction, saying what to pass.

``NeoClient`` needs an ``httpx.BaseTransport``, ``AsyncNeoClient`` an
``httpx.AsyncBaseTransport``. Before the check, ``NeoClient(transport=Emulator().transport())``
was accepted, the first login logged a traceback and failed with ``TransientLoginError``
("... AttributeError"), and ``close()`` then raised ``AttributeError``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from aioneo import AsyncNeoClient, Credentials, NeoClient
from aioneo.testing import Emulator, EmulatorServer, RoutingTransport, StepClock

EMU = Emulator()
CREDS = Credentials(**EMU.credentials.as_dict())

#: name -> a transport factory, and the twin that can use it.
TRANSPORTS: dict[str, tuple[Callable[[], Any], type | None]] = {
    "Emulator().transport()": (EMU.transport, AsyncNeoClient),
    "httpx.AsyncHTTPTransport()": (httpx.AsyncHTTPTransport, AsyncNeoClient),
    "Emulator().sync_transport()": (EMU.sync_transport, NeoClient),
    "httpx.HTTPTransport()": (httpx.HTTPTransport, NeoClient),
    "RoutingTransport(url)": (lambda: RoutingTransport("http://127.0.0.1:9"), NeoClient),
    "object()": (object, None),
    "a function": (lambda: lambda request: request, None),
}


@pytest.mark.parametrize("client", [AsyncNeoClient, NeoClient])
@pytest.mark.parametrize("name", sorted(TRANSPORTS))
def test_only_the_right_kind_is_accepted(client: type, name: str) -> None:
    factory, fits = TRANSPORTS[name]
    transport = factory()
    try:
        if fits is client:
            client(CREDS, transport=transport)  # accepted, nothing sent
            return
        with pytest.raises(TypeError) as info:
            client(CREDS, transport=transport)
    finally:
        close = getattr(transport, "close", None)
        if callable(close) and not isinstance(transport, httpx.AsyncBaseTransport):
            close()
    message = str(info.value)
    assert f"transport={type(transport).__name__}" in message  # the value
    if client is NeoClient:
        assert "NeoClient" in message
        assert "httpx.BaseTransport" in message  # what is allowed
        assert "Emulator().sync_transport()" in message  # what to pass instead
    else:
        assert "AsyncNeoClient" in message
        assert "httpx.AsyncBaseTransport" in message
        assert "Emulator().transport()" in message
    if fits is not None:
        twin = "AsyncNeoClient" if client is NeoClient else "NeoClient"
        assert f"use this transport with {twin}" in message
    else:
        assert "is not an httpx transport" in message


@pytest.mark.parametrize("client", [AsyncNeoClient, NeoClient])
def test_a_transport_of_both_kinds_fits_both(client: type) -> None:
    client(CREDS, transport=httpx.MockTransport(lambda request: httpx.Response(200)))


def test_the_reported_case_fails_at_once_without_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The issue's case: nothing is logged, nothing needs closing, the error is the cause."""
    transport = Emulator().transport()
    with caplog.at_level(logging.DEBUG), pytest.raises(TypeError, match="sync_transport"):
        NeoClient(CREDS, login_url=EMU.login_url, transport=transport)  # type: ignore[arg-type]
    assert caplog.records == []


def test_the_sync_twin_works_with_what_the_message_suggests() -> None:
    clock = StepClock(auto_step=True)  # two clients, two logins: no wait for a fresh step
    emu = Emulator(clock=clock)
    creds = Credentials(**emu.credentials.as_dict())
    with NeoClient(
        creds, login_url=emu.login_url, transport=emu.sync_transport(), clock=clock
    ) as neo:
        assert neo.positions() == []
    with (
        EmulatorServer(emu) as server,
        NeoClient(creds, login_url=server.url, transport=server.transport(), clock=clock) as neo,
    ):
        assert neo.positions() == []
    assert emu.counters.logins == 2
