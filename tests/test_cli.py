"""``python -m aioneo`` account commands, run as real subprocesses against a loopback emulator.

Every command is one process and one login with the real clock, so the emulator accepts a
TOTP step more than once here (``totp_replay_rejection=False``): several commands may run
inside one 30 s step. Each test checks the exit status, the parsed output and that no
secret (consumer key, MPIN, TOTP secret or code, token, sid) appears on stdout or stderr.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from aioneo import Credentials, NeoClient
from aioneo._credentials import ENV_VARS
from aioneo.testing import Emulator, EmulatorConfig, EmulatorServer

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def server() -> Iterator[EmulatorServer]:
    emulator = Emulator(EmulatorConfig(rate_limit=None, totp_replay_rejection=False))
    with EmulatorServer(emulator) as running:
        yield running


def _env(server: EmulatorServer | None, **drop: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIONEO_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    if server is not None:
        creds = server.emulator.credentials.as_dict()
        for field, var in ENV_VARS.items():
            if not drop.get(field):
                env[var] = creds[field]
    return env


def run_cli(
    server: EmulatorServer | None, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "aioneo", *args]
    if server is not None:
        argv += ["--login-url", server.url]
    result = subprocess.run(
        argv,
        env=env if env is not None else _env(server),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if server is not None:
        _assert_no_secrets(server, result.stdout + result.stderr)
    return result


def _assert_no_secrets(server: EmulatorServer, text: str) -> None:
    creds = server.emulator.credentials
    for secret in (creds.consumer_key, creds.mpin, creds.totp_secret, server.emulator.totp()):
        assert secret not in text
    for record in server.emulator.requests:
        for header in ("auth", "sid", "authorization"):
            value = record.headers.get(header)
            if value and len(value) > 8:
                assert value not in text


def _place_market_order(server: EmulatorServer, symbol: str, quantity: int) -> str:
    fields = server.emulator.credentials.as_dict()
    with NeoClient(Credentials(**fields), login_url=server.url, rate_limit=None) as neo:
        result = neo.place_order(
            exchange_segment="nse_cm",
            product="CNC",
            price="0",
            order_type="MKT",
            quantity=quantity,
            validity="DAY",
            trading_symbol=symbol,
            transaction_type="B",
            tag="cli-test-1",
        )
    return result.order_id


def test_login_json_reports_data_center_and_base_url(server: EmulatorServer) -> None:
    result = run_cli(server, "login", "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["data_center"] == "E21"
    assert info["base_url"] == server.base_url
    assert info["ucc"] == "DEMO1"
    assert info["epoch"] == 1
    assert server.emulator.counters.logins == 1


def test_login_table(server: EmulatorServer) -> None:
    result = run_cli(server, "login")
    assert result.returncode == 0, result.stderr
    assert "data center  E21" in result.stdout
    assert f"base URL     {server.base_url}" in result.stdout


def test_positions_and_orders_json(server: EmulatorServer) -> None:
    order_id = _place_market_order(server, "TCS-EQ", 5)
    positions = run_cli(server, "positions", "--json")
    assert positions.returncode == 0, positions.stderr
    rows = json.loads(positions.stdout)
    assert [(r["trading_symbol"], r["buy_quantity"], r["sell_quantity"]) for r in rows] == [
        ("TCS-EQ", 5, 0)
    ]
    orders = run_cli(server, "orders", "--json")
    assert orders.returncode == 0, orders.stderr
    book = json.loads(orders.stdout)
    assert [(o["order_id"], o["status"], o["tag"], o["quantity"]) for o in book] == [
        (order_id, "complete", "cli-test-1", 5)
    ]
    assert book[0]["price"] == "0.00"  # decimals as exact strings


def test_orders_and_positions_tables(server: EmulatorServer) -> None:
    order_id = _place_market_order(server, "TCS-EQ", 3)
    orders = run_cli(server, "orders")
    assert orders.returncode == 0, orders.stderr
    header, rule, row = orders.stdout.splitlines()
    assert header.split()[:3] == ["order", "id", "status"]
    assert set(rule.replace(" ", "")) == {"-"}
    assert row.split()[:4] == [order_id, "complete", "TCS-EQ", "B"]
    positions = run_cli(server, "positions")
    assert positions.returncode == 0, positions.stderr
    assert positions.stdout.splitlines()[2].split()[:4] == ["TCS-EQ", "nse_cm", "CNC", "3"]


def test_empty_order_book_prints_none(server: EmulatorServer) -> None:
    result = run_cli(server, "orders")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(none)"


def test_quotes_json_keeps_the_order_given(server: EmulatorServer) -> None:
    result = run_cli(server, "quotes", "nse_cm|1594", "nse_cm|11536", "--json")
    assert result.returncode == 0, result.stderr
    quotes = json.loads(result.stdout)
    assert [q["exchange_token"] for q in quotes] == ["1594", "11536"]
    assert quotes[1]["display_symbol"] == "TCS-EQ"
    assert quotes[1]["exchange_segment"] == "nse_cm"
    assert isinstance(quotes[1]["ltp"], str)
    assert float(quotes[1]["ltp"]) > 0
    assert server.emulator.counters.requests["quotes"] == 1


def test_quotes_table(server: EmulatorServer) -> None:
    result = run_cli(server, "quotes", "nse_cm|11536")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["symbol", "segment", "token"]
    assert lines[2].split()[:3] == ["TCS-EQ", "nse_cm", "11536"]


def test_quotes_bad_symbol_names_it_and_exits_2(server: EmulatorServer) -> None:
    result = run_cli(server, "quotes", "11536", "--json")
    assert result.returncode == 2
    assert "'11536'" in result.stderr
    assert "segment|token" in result.stderr
    assert result.stdout == ""


def test_whatsmyip_json(server: EmulatorServer) -> None:
    result = run_cli(server, "whatsmyip", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["ip"] == "127.0.0.1"


def test_missing_environment_names_the_missing_variables() -> None:
    env = _env(None)
    env["AIONEO_CONSUMER_KEY"] = "some-key"
    env["AIONEO_MOBILE_NUMBER"] = "+919999999999"
    env["AIONEO_UCC"] = "DEMO1"
    result = run_cli(None, "positions", "--json", env=env)
    assert result.returncode == 2
    first = result.stderr.splitlines()[0]
    assert first == "error: missing environment variables: AIONEO_MPIN, AIONEO_TOTP_SECRET"
    assert result.stdout == ""
    assert "some-key" not in result.stderr


def test_invalid_credential_value_exits_2_without_echoing_secrets(server: EmulatorServer) -> None:
    env = _env(server)
    env["AIONEO_MPIN"] = "12ab"
    result = run_cli(server, "login", env=env)
    assert result.returncode == 2
    assert "mpin must be exactly 6 digits" in result.stderr
    assert "12ab" not in result.stderr


def test_wrong_mpin_is_a_login_error_exit_1(server: EmulatorServer) -> None:
    env = _env(server)
    env["AIONEO_MPIN"] = "654321"
    result = run_cli(server, "positions", env=env)
    assert result.returncode == 1
    assert result.stderr.startswith("error: FatalLoginError:")
    assert "654321" not in result.stderr
    assert result.stderr.count("\n") == 1  # the client's own warning is not repeated
    assert server.emulator.counters.logins == 0


def test_session_file_lets_commands_reuse_one_login(tmp_path: Path) -> None:
    # Replay rejection on: without the file, the second command would log in again within
    # the same 30 s TOTP step and be refused.
    emulator = Emulator(EmulatorConfig(rate_limit=None, totp_replay_rejection=True))
    session_file = tmp_path / "session.json"
    with EmulatorServer(emulator) as server:
        env = {**_env(server), "AIONEO_SESSION_FILE": str(session_file)}
        first = run_cli(server, "positions", "--json", env=env)
        second = run_cli(server, "orders", "--json", env=env)
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert emulator.counters.logins == 1
    assert session_file.stat().st_mode & 0o777 == 0o600
    for secret in (emulator.credentials.mpin, emulator.credentials.consumer_key):
        assert secret not in first.stdout + second.stdout + first.stderr + second.stderr
