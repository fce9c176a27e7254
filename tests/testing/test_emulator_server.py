"""The emulator on loopback: the threaded server, TCP-level faults, holds across threads,
the routing transport, the pytest fixtures and ``python -m aioneo.testing serve``."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pyotp
import pytest

from aioneo.testing import (
    Emulator,
    EmulatorConfig,
    EmulatorServer,
    Fault,
    RoutingTransport,
    _server,
    pytest_plugin,
)

REPO = Path(__file__).resolve().parents[2]

# The shipped fixtures, as a user's conftest.py gets them with
# ``pytest_plugins = ["aioneo.testing.pytest_plugin"]``.
neo_clock = pytest_plugin.neo_clock
neo_emulator = pytest_plugin.neo_emulator
neo_emulator_server = pytest_plugin.neo_emulator_server


def sync_login(http: httpx.Client, emu: Emulator, login_url: str) -> dict[str, str]:
    creds = emu.credentials
    first = http.post(
        login_url + "/login/1.0/tradeApiLogin",
        headers={"Authorization": creds.consumer_key, "neo-fin-key": "neotradeapi"},
        content=json.dumps(
            {"mobileNumber": creds.mobile_number, "ucc": creds.ucc, "totp": emu.totp()}
        ),
    )
    assert first.status_code == 200, first.text
    view = first.json()["data"]
    second = http.post(
        login_url + "/login/1.0/tradeApiValidate",
        headers={"Authorization": creds.consumer_key, "sid": view["sid"], "Auth": view["token"]},
        content=json.dumps({"mpin": creds.mpin}),
    )
    assert second.status_code == 200, second.text
    data: dict[str, str] = second.json()["data"]
    return data


@pytest.fixture(params=["uvicorn", "builtin"])
def server(request: pytest.FixtureRequest) -> Iterator[EmulatorServer]:
    emulator = Emulator(EmulatorConfig(rate_limit=None))
    with EmulatorServer(emulator, backend=request.param) as running:
        assert running.backend == request.param
        yield running


def test_server_serves_the_app_and_validate_points_back_at_it(server: EmulatorServer) -> None:
    assert server.url.startswith("http://127.0.0.1:")
    assert server.login_url == server.url
    assert server.base_url == server.url + "/gw/e21"
    with httpx.Client() as http:
        trade = sync_login(http, server.emulator, server.url)
        assert trade["baseUrl"] == server.base_url
        response = http.get(
            trade["baseUrl"] + "/portfolio/v2/positions",
            headers={"Sid": trade["sid"], "Auth": trade["token"]},
        )
    assert response.status_code == 200
    assert server.emulator.counters.logins == 1


@pytest.mark.parametrize("backend", ["uvicorn", "builtin"])
def test_stop_frees_the_port_and_resets_the_urls(backend: str) -> None:
    emu = Emulator()
    server = EmulatorServer(emu, backend=backend).start()
    thread = server._thread
    assert thread is not None
    assert emu.login_url == server.url
    server.stop()
    assert not thread.is_alive()
    assert emu.login_url == "http://login.neo.test"
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.url
    server.stop()  # idempotent


def test_start_twice_and_bad_arguments_are_refused() -> None:
    with EmulatorServer() as server, pytest.raises(RuntimeError, match="already running"):
        server.start()
    with pytest.raises(ValueError, match="port=70000 is not allowed"):
        EmulatorServer(port=70000)
    with pytest.raises(ValueError, match="backend='gunicorn' is not allowed"):
        EmulatorServer(backend="gunicorn")


def test_auto_backend_falls_back_to_the_builtin_server_without_uvicorn(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert EmulatorServer().backend == "uvicorn"
    monkeypatch.setattr(_server, "_has_uvicorn", lambda: False)
    with EmulatorServer() as server:
        assert server.backend == "builtin"
        assert httpx.get(server.url + "/5config/config").status_code == 200


def test_the_listening_socket_disables_nagle() -> None:
    # Without TCP_NODELAY on accepted sockets every answer waits for a delayed ACK (40 ms).
    server = EmulatorServer()
    sock = server.bind()
    try:
        assert sock.proto == socket.IPPROTO_TCP
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        server.stop()


@pytest.mark.parametrize("kind", [Fault.DROP, Fault.ACCEPT_THEN_DROP])
def test_connection_faults_close_the_socket_without_an_answer(
    server: EmulatorServer, kind: Fault
) -> None:
    emu = server.emulator
    with httpx.Client() as http:
        trade = sync_login(http, emu, server.url)
        emu.inject_fault("place_order", kind)
        body = {
            "am": "NO", "dq": "0", "es": "nse_cm", "mp": "0", "pc": "CNC", "pr": "0",
            "pt": "MKT", "qt": "1", "rt": "DAY", "tp": "0", "ts": "TCS-EQ", "tt": "B",
            "ig": "tcp", "os": "NEOTRADEAPI",
        }  # fmt: skip
        with pytest.raises(httpx.RemoteProtocolError):
            http.post(
                trade["baseUrl"] + "/quick/order/rule/ms/place",
                headers={
                    "Authorization": emu.credentials.consumer_key,
                    "Sid": trade["sid"],
                    "Auth": trade["token"],
                },
                data={"jData": json.dumps(body)},
            )
        # The same client goes on working on a new connection.
        after = http.get(
            trade["baseUrl"] + "/quick/user/orders",
            headers={"Sid": trade["sid"], "Auth": trade["token"]},
        )
    assert after.status_code == 200
    placed = kind is Fault.ACCEPT_THEN_DROP
    assert emu.counters.orders_by_tag == ({"tcp": 1} if placed else {})
    assert len(after.json()["data"]) == (1 if placed else 0)


@pytest.mark.parametrize("backend", ["uvicorn", "builtin"])
def test_hang_times_out_the_client_and_stop_releases_it(backend: str) -> None:
    server = EmulatorServer(Emulator(EmulatorConfig(rate_limit=None)), backend=backend).start()
    thread = server._thread
    assert thread is not None
    emu = server.emulator
    emu.inject_fault("config", Fault.HANG)
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(server.url + "/5config/config", timeout=0.2)
    server.stop()
    assert not thread.is_alive()
    assert [r.status for r in emu.requests if r.endpoint == "config"] == [0]


def test_holds_work_across_threads(server: EmulatorServer) -> None:
    emu = server.emulator
    with httpx.Client() as http:
        trade = sync_login(http, emu, server.url)
    headers = {"Sid": trade["sid"], "Auth": trade["token"]}
    url = trade["baseUrl"] + "/portfolio/v2/positions"
    hold = emu.hold("positions")
    with ThreadPoolExecutor(max_workers=5) as pool:
        futures = [pool.submit(httpx.get, url, headers=headers) for _ in range(5)]
        assert hold.wait_until_waiting(5)
        assert not any(f.done() for f in futures)
        hold.release()
        statuses = [f.result().status_code for f in futures]
    assert statuses == [200] * 5


def test_control_api_over_loopback(server: EmulatorServer) -> None:
    control = server.url + "/__emulator"
    with httpx.Client() as http:
        creds = http.get(control + "/credentials").json()
        assert creds["base_url"] == server.base_url
        queued = http.post(
            control + "/faults", json={"endpoint": "config", "kind": "http_502_html"}
        )
        assert queued.status_code == 200
        assert http.get(server.url + "/5config/config").status_code == 502
        assert http.get(control + "/counters").json()["requests"] == {"config": 1}


def test_routing_transport_sends_any_host_to_the_emulator(server: EmulatorServer) -> None:
    with httpx.Client(transport=server.transport()) as http:
        response = http.get("https://lapi.kotaksecurities.com/5config/config?platform=api")
    assert response.status_code == 200
    record = server.emulator.requests[-1]
    assert (record.host, record.query) == ("lapi.kotaksecurities.com", "platform=api")
    with pytest.raises(ValueError, match="url='ftp://x' is not allowed"):
        RoutingTransport("ftp://x")


# ------------------------------------------------------------------ pytest fixtures


def test_neo_emulator_fixture_is_fresh_and_in_process(neo_emulator: Emulator) -> None:
    assert neo_emulator.login_url == "http://login.neo.test"
    assert neo_emulator.counters.requests == {}


@pytest.mark.parametrize("neo_emulator", [{"expiry_status": 403}], indirect=True)
def test_neo_emulator_fixture_takes_settings(neo_emulator: Emulator) -> None:
    assert neo_emulator.config.expiry_status == 403


@pytest.mark.parametrize("neo_emulator_server", [{"trade_prefix": "/x"}], indirect=True)
def test_neo_emulator_server_fixture_runs_on_loopback(
    neo_emulator_server: EmulatorServer,
) -> None:
    assert neo_emulator_server.base_url == neo_emulator_server.url + "/x"
    with httpx.Client() as http:
        trade = sync_login(http, neo_emulator_server.emulator, neo_emulator_server.url)
    assert trade["baseUrl"].endswith("/x")


# ------------------------------------------------------------------ the command line


@pytest.mark.parametrize("backend", ["auto", "builtin"])
def test_cli_prints_json_first_then_serves_until_terminated(backend: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    command = ["serve", "--port", "0", "--rate-limit", "off", "--server", backend]
    process = subprocess.Popen(
        [sys.executable, "-m", "aioneo.testing", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )
    try:
        assert process.stdout is not None
        assert process.stderr is not None
        first = json.loads(process.stdout.readline())
        assert set(first) == {
            "url",
            "login_url",
            "base_url",
            "control_url",
            "market_feed_url",
            "order_feed_url",
            "consumer_key",
            "mobile_number",
            "ucc",
            "mpin",
            "totp_secret",
        }
        assert first["base_url"] == first["url"] + "/gw/e21"
        summary = [process.stderr.readline() for _ in range(5)]  # the banner: stderr
        assert "listening on " + first["url"] in summary[0]
        assert summary[4].split() == ["HTTP", "server", "uvicorn" if backend == "auto" else backend]
        with httpx.Client() as http:
            login = http.post(
                first["url"] + "/login/1.0/tradeApiLogin",
                headers={"Authorization": first["consumer_key"]},
                json={
                    "mobileNumber": first["mobile_number"],
                    "ucc": first["ucc"],
                    "totp": pyotp.TOTP(first["totp_secret"]).now(),
                },
            )
        assert login.status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        rest, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert rest == ""  # stdout holds the JSON line only
    assert stderr.strip().endswith("Stopped.")


def test_cli_rejects_bad_settings() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    result = subprocess.run(
        [sys.executable, "-m", "aioneo.testing", "serve", "--trade-prefix", "no-slash"],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "trade_prefix='no-slash' is not allowed" in result.stderr
