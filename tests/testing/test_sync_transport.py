"""``Emulator.sync_transport()``: the emulator in process for ``NeoClient`` and ``httpx.Client``.

It serves the ASGI app on a private loop in one daemon thread; these tests check that what
a socket would do still happens (timeouts, drops), that many threads are served at once,
and that closing wakes every blocked caller and leaves no thread behind.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from aioneo import ClientClosedError, Credentials, NeoClient, RequestTimeoutError, TransportError
from aioneo.testing import Emulator, EmulatorConfig, EmulatorSyncTransport, StepClock


def emulator_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "aioneo-emulator-sync"]


@pytest.fixture
def emu() -> Emulator:
    return Emulator(EmulatorConfig(rate_limit=None), clock=StepClock(auto_step=True))


def client(emu: Emulator, transport: EmulatorSyncTransport, **options: object) -> NeoClient:
    creds = Credentials(**emu.credentials.as_dict())
    return NeoClient(
        creds,
        login_url=emu.login_url,
        transport=transport,
        clock=emu.clock,
        rate_limit=None,
        **options,  # type: ignore[arg-type]
    )


def test_httpx_client_gets_the_emulators_answers(emu: Emulator) -> None:
    with httpx.Client(transport=emu.sync_transport()) as http:
        answer = http.post(
            emu.login_url + "/login/1.0/tradeApiLogin",
            json={"mobileNumber": "+910000000000", "ucc": emu.credentials.ucc, "totp": "1"},
            headers={"Authorization": emu.credentials.consumer_key},
        )
    assert answer.status_code in (400, 401)  # the body reached the app: a field was read
    assert answer.json()  # and the whole body came back
    assert emulator_threads() == []


def test_neo_client_from_many_threads_one_login(emu: Emulator) -> None:
    transport = emu.sync_transport()
    with client(emu, transport) as neo, ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(lambda _: neo.positions(), range(64)))
        emu.expire_sessions()
        again = list(pool.map(lambda _: neo.order_report(), range(32)))
    assert results == [[]] * 64
    assert again == [[]] * 32
    assert emu.counters.logins == 2  # one login, one relogin
    assert emulator_threads() == []  # closing the client closed the transport's thread


def test_the_read_timeout_applies(emu: Emulator) -> None:
    emu.inject_fault("positions", "hang")
    with client(emu, emu.sync_transport(), timeout=0.2) as neo:
        neo.login()
        started = time.monotonic()
        with pytest.raises(RequestTimeoutError):
            neo.positions()
        assert time.monotonic() - started < 5


def test_a_dropped_connection_is_a_transport_error(emu: Emulator) -> None:
    emu.inject_fault("positions", "drop", count=5)
    with client(emu, emu.sync_transport()) as neo, pytest.raises(TransportError):
        neo.positions()


def test_close_wakes_a_caller_blocked_on_a_hang(emu: Emulator) -> None:
    emu.inject_fault("positions", "hang")
    neo = client(emu, emu.sync_transport(), timeout=None)
    neo.login()
    outcome: list[BaseException] = []

    def call() -> None:
        try:
            neo.positions()
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=call, daemon=True)
    worker.start()
    deadline = time.monotonic() + 5
    while emu.counters.requests.get("positions", 0) < 1 and time.monotonic() < deadline:
        time.sleep(0.01)  # until the request hangs inside the emulator
    assert worker.is_alive()
    started = time.monotonic()
    neo.close()
    worker.join(5)
    assert not worker.is_alive()
    assert time.monotonic() - started < 5
    assert len(outcome) == 1
    assert isinstance(outcome[0], ClientClosedError)
    assert emulator_threads() == []


def test_a_closed_transport_serves_again(emu: Emulator) -> None:
    transport = emu.sync_transport()
    with httpx.Client(transport=transport) as http:
        assert http.get(emu.login_url + "/nothing-here").status_code == 404
    transport.close()  # idempotent
    assert emulator_threads() == []
    with httpx.Client(transport=transport) as http:
        assert http.get(emu.login_url + "/nothing-here").status_code == 404
    assert emulator_threads() == []
