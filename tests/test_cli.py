"""``python -m aioneo`` account commands, run as real subprocesses against a loopback emulator.

Every command is one process. The emulator here accepts a TOTP step more than once
(``totp_replay_rejection=False``) and each command runs with ``--no-session-file`` unless
the test is about the session file (``tests/test_cli_session.py`` has those), so the
commands are independent of each other. Each test checks the exit status, the parsed
output and that no secret (consumer key, MPIN, TOTP secret or code, token, sid) appears
on stdout or stderr. The cache directory is a temporary one, never the real home.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from aioneo import Credentials, NeoClient
from aioneo.testing import Emulator, EmulatorConfig, EmulatorServer

from .cli_support import assert_no_secrets, cli_env, run

IST_OFFSET = "+05:30"


@pytest.fixture
def server() -> Iterator[EmulatorServer]:
    emulator = Emulator(EmulatorConfig(rate_limit=None, totp_replay_rejection=False))
    with EmulatorServer(emulator) as running:
        yield running


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def run_cli(
    server: EmulatorServer | None,
    cache: Path,
    *args: str,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
    session_file: bool = False,
) -> subprocess.CompletedProcess[str]:
    argv = ["-m", "aioneo", *args]
    if server is not None and "--login-url" not in args:
        argv += ["--login-url", server.url]
    if not session_file:
        argv.append("--no-session-file")
    result = run(argv, env if env is not None else cli_env(server, cache), stdin=stdin)
    if server is not None:
        assert_no_secrets(server, result.stdout + result.stderr)
    assert "Traceback" not in result.stderr
    return result


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


def _assert_ist(text: str | None) -> None:
    assert text is not None
    assert text.endswith(IST_OFFSET), text
    assert dt.datetime.fromisoformat(text).utcoffset() == dt.timedelta(hours=5, minutes=30)


# --- login ------------------------------------------------------------------------------------


def test_login_json_reports_data_center_base_url_and_an_ist_expiry(
    server: EmulatorServer, cache: Path
) -> None:
    result = run_cli(server, cache, "login", "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["data_center"] == "E21"
    assert info["base_url"] == server.base_url
    assert info["ucc"] == "DEMO1"
    assert info["epoch"] == 1
    assert info["login_url"] == server.url
    assert info["session_file"] is None
    assert info["reused"] is False
    _assert_ist(info["expires_at"])  # an ISO 8601 IST time, not an epoch float
    assert server.emulator.counters.logins == 1


def test_login_table(server: EmulatorServer, cache: Path) -> None:
    result = run_cli(server, cache, "login")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == f"logged in at {server.url}"
    assert "  data center   E21" in result.stdout
    assert f"  base URL      {server.base_url}" in result.stdout
    assert "  session file  (none)" in result.stdout
    # The client's INFO log on stderr, one concise line, no secret (checked by run_cli).
    assert "aioneo: logged in: epoch 1" in result.stderr


def test_login_url_from_the_environment(server: EmulatorServer, cache: Path) -> None:
    env = cli_env(server, cache, login_url=True)
    result = run(["-m", "aioneo", "login", "--json", "--no-session-file"], env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["login_url"] == server.url


def test_bad_login_url_names_the_value_and_what_is_allowed(cache: Path) -> None:
    result = run_cli(None, cache, "positions", "--login-url", "mis.kotaksecurities.com")
    assert result.returncode == 2
    assert "login URL 'mis.kotaksecurities.com'" in result.stderr
    assert "pass an http:// or https:// URL" in result.stderr


# --- reads ----------------------------------------------------------------------------------


def test_positions_and_orders_json(server: EmulatorServer, cache: Path) -> None:
    order_id = _place_market_order(server, "TCS-EQ", 5)
    positions = run_cli(server, cache, "positions", "--json")
    assert positions.returncode == 0, positions.stderr
    rows = json.loads(positions.stdout)
    assert [(r["trading_symbol"], r["buy_quantity"], r["sell_quantity"]) for r in rows] == [
        ("TCS-EQ", 5, 0)
    ]
    orders = run_cli(server, cache, "orders", "--json")
    assert orders.returncode == 0, orders.stderr
    book = json.loads(orders.stdout)
    assert [(o["order_id"], o["status"], o["tag"], o["quantity"]) for o in book] == [
        (order_id, "complete", "cli-test-1", 5)
    ]
    assert book[0]["price"] == "0.00"  # decimals as exact strings
    _assert_ist(book[0]["order_time"])


def test_orders_and_positions_tables(server: EmulatorServer, cache: Path) -> None:
    order_id = _place_market_order(server, "TCS-EQ", 3)
    orders = run_cli(server, cache, "orders")
    assert orders.returncode == 0, orders.stderr
    header, rule, row = orders.stdout.splitlines()
    assert header.split()[:3] == ["order", "id", "status"]
    assert set(rule.replace(" ", "")) == {"-"}
    assert row.split()[:4] == [order_id, "complete", "TCS-EQ", "B"]
    positions = run_cli(server, cache, "positions")
    assert positions.returncode == 0, positions.stderr
    assert positions.stdout.splitlines()[2].split()[:4] == ["TCS-EQ", "nse_cm", "CNC", "3"]


def test_empty_order_book_prints_none(server: EmulatorServer, cache: Path) -> None:
    result = run_cli(server, cache, "orders")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(none)"


def test_trades_json_and_table(server: EmulatorServer, cache: Path) -> None:
    order_id = _place_market_order(server, "TCS-EQ", 4)
    result = run_cli(server, cache, "trades", "--json")
    assert result.returncode == 0, result.stderr
    (fill,) = json.loads(result.stdout)
    assert (fill["order_id"], fill["filled_quantity"], fill["tag"]) == (order_id, 4, "cli-test-1")
    _assert_ist(fill["fill_time"])
    table = run_cli(server, cache, "trades")
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[2].split()[0] == order_id


def test_holdings_json_and_table(server: EmulatorServer, cache: Path) -> None:
    result = run_cli(server, cache, "holdings", "--json")
    assert result.returncode == 0, result.stderr
    holdings = json.loads(result.stdout)
    assert holdings
    assert all(isinstance(h["average_price"], str) for h in holdings)
    table = run_cli(server, cache, "holdings")
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[0].split()[:3] == ["symbol", "segment", "qty"]
    assert len(table.stdout.splitlines()) == len(holdings) + 2


def test_limits_json_table_and_a_bad_filter(server: EmulatorServer, cache: Path) -> None:
    result = run_cli(server, cache, "limits", "--json")
    assert result.returncode == 0, result.stderr
    limits = json.loads(result.stdout)
    assert isinstance(limits["net"], str)
    table = run_cli(server, cache, "limits")
    assert table.returncode == 0, table.stderr
    assert any(line.startswith("net (available to trade)") for line in table.stdout.splitlines())
    bad = run_cli(server, cache, "limits", "--segment", "XX")
    assert bad.returncode == 2
    assert "segment 'XX' is not allowed; use one of 'ALL', 'CASH', 'CUR', 'FO'" in bad.stderr
    assert server.emulator.counters.requests.get("limits") == 2  # the bad one sent nothing


def test_quotes_json_keeps_the_order_given(server: EmulatorServer, cache: Path) -> None:
    result = run_cli(server, cache, "quotes", "nse_cm|1594", "nse_cm|11536", "--json")
    assert result.returncode == 0, result.stderr
    quotes = json.loads(result.stdout)
    assert [q["exchange_token"] for q in quotes] == ["1594", "11536"]
    assert quotes[1]["display_symbol"] == "TCS-EQ"
    assert quotes[1]["exchange_segment"] == "nse_cm"
    assert isinstance(quotes[1]["ltp"], str)
    assert float(quotes[1]["ltp"]) > 0
    _assert_ist(quotes[1]["last_update"])
    assert server.emulator.counters.requests["quotes"] == 1


def test_quotes_table(server: EmulatorServer, cache: Path) -> None:
    result = run_cli(server, cache, "quotes", "nse_cm|11536")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["symbol", "segment", "token"]
    assert lines[2].split()[:3] == ["TCS-EQ", "nse_cm", "11536"]


def test_quotes_names_every_unknown_instrument_and_exits_1(
    server: EmulatorServer, cache: Path
) -> None:
    result = run_cli(server, cache, "quotes", "nse_cm|11536", "nse_cm|424242", "bse_cm|7", "--json")
    assert result.returncode == 1
    assert [q["exchange_token"] for q in json.loads(result.stdout)] == ["11536"]
    assert result.stderr.splitlines()[-1] == (
        "error: no quote for 2 of 3 instrument(s): nse_cm|424242, bse_cm|7 "
        "(not a known segment|token?)"
    )
    table = run_cli(server, cache, "quotes", "nse_cm|424242")
    assert table.returncode == 1
    assert table.stdout.strip() == "(none)"
    assert "no quote for 1 of 1 instrument(s): nse_cm|424242" in table.stderr


def test_quotes_bad_symbol_names_it_and_exits_2(server: EmulatorServer, cache: Path) -> None:
    result = run_cli(server, cache, "quotes", "11536", "--json")
    assert result.returncode == 2
    assert "'11536'" in result.stderr
    assert "segment|token" in result.stderr
    assert result.stdout == ""
    assert server.emulator.counters.login_attempts == 0  # refused before any network


def test_whatsmyip_json(server: EmulatorServer, cache: Path) -> None:
    result = run_cli(server, cache, "whatsmyip", "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["ip"] == "127.0.0.1"
    if doc["time"] is not None:
        _assert_ist(doc["time"])


# --- orders -----------------------------------------------------------------------------


def test_place_modify_history_cancel_against_the_emulator_without_asking(
    server: EmulatorServer, cache: Path
) -> None:
    # stdin is /dev/null: a question would read EOF and refuse; loopback asks nothing.
    placed = run_cli(
        server,
        cache,
        "place",
        "--trading-symbol",
        "TCS-EQ",
        "--transaction-type",
        "B",
        "--quantity",
        "2",
        "--product",
        "CNC",
        "--order-type",
        "L",
        "--price",
        "1.00",
        "--tag",
        "cli-day-1",
        "--json",
    )
    assert placed.returncode == 0, placed.stderr
    order = json.loads(placed.stdout)
    order_id = order["order_id"]
    assert order["tag"] == "cli-day-1"
    assert "send it?" not in placed.stderr
    assert server.emulator.counters.orders_by_tag == {"cli-day-1": 1}

    modified = run_cli(
        server, cache, "modify", order_id, "--order-type", "L", "--quantity", "3", "--price", "1.50"
    )
    assert modified.returncode == 0, modified.stderr
    assert modified.stdout.startswith(f"order {order_id}: change accepted;")

    history = run_cli(server, cache, "order-history", order_id, "--json")
    assert history.returncode == 0, history.stderr
    states = json.loads(history.stdout)
    assert (states[0]["status"], states[0]["quantity"], states[0]["price"]) == ("open", 3, "1.50")
    assert {s["order_id"] for s in states} == {order_id}

    cancelled = run_cli(server, cache, "cancel", order_id)
    assert cancelled.returncode == 0, cancelled.stderr
    assert cancelled.stdout.startswith(f"order {order_id}: cancel accepted;")
    table = run_cli(server, cache, "order-history", order_id)
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[2].split()[1] == "cancelled"  # newest first


def test_place_table_names_the_generated_tag(server: EmulatorServer, cache: Path) -> None:
    result = run_cli(
        server,
        cache,
        "place",
        "--trading-symbol",
        "INFY-EQ",
        "--transaction-type",
        "S",
        "--quantity",
        "1",
        "--product",
        "MIS",
        "--order-type",
        "MKT",
    )
    assert result.returncode == 0, result.stderr
    (tag,) = server.emulator.counters.orders_by_tag
    assert tag.startswith("aioneo-")
    assert f"accepted (tag {tag}); follow it with 'python -m aioneo order-history " in (
        result.stdout
    )


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--product", "XYZ", "product 'XYZ' is not allowed; use one of 'CNC', 'NRML', 'MIS'"),
        ("--quantity", "two", "quantity 'two' is not a whole number"),
        ("--order-type", "LIMIT", "order_type 'LIMIT' is not allowed; use one of 'L', 'MKT'"),
        ("--price", "0", "price must be above 0 for order_type 'L'; got '0'"),
    ],
)
def test_place_refuses_bad_input_before_anything_is_sent(
    server: EmulatorServer, cache: Path, flag: str, value: str, message: str
) -> None:
    args = {
        "--trading-symbol": "TCS-EQ",
        "--transaction-type": "B",
        "--quantity": "1",
        "--product": "CNC",
        "--order-type": "L",
        "--price": "10",
    }
    args[flag] = value
    result = run_cli(server, cache, "place", *(x for kv in args.items() for x in kv))
    assert result.returncode == 2
    assert message in result.stderr
    assert server.emulator.counters.login_attempts == 0


def test_order_history_of_an_unknown_order_names_it_and_exits_1(
    server: EmulatorServer, cache: Path
) -> None:
    result = run_cli(server, cache, "order-history", "12345", "--json")
    assert result.returncode == 1
    assert json.loads(result.stdout) == []
    assert result.stderr.splitlines()[-1].startswith("error: no order '12345' found")
    bad = run_cli(server, cache, "order-history", "12-34")
    assert bad.returncode == 2
    assert "order_id '12-34' is not an order number" in bad.stderr


_LIVE = "https://mis.example.invalid"
_PLACE = (
    "place",
    "--login-url",
    _LIVE,
    "--trading-symbol",
    "TCS-EQ",
    "--transaction-type",
    "B",
    "--quantity",
    "1",
    "--product",
    "CNC",
    "--order-type",
    "MKT",
    "--tag",
    "live-1",
    "--timeout",
    "2",
)


def test_placing_at_a_live_login_host_asks_and_a_no_sends_nothing(cache: Path) -> None:
    env = cli_env(None, cache)
    env.update(
        AIONEO_CONSUMER_KEY="some-key",
        AIONEO_MOBILE_NUMBER="+919999999999",
        AIONEO_UCC="AB123",
        AIONEO_MPIN="123456",
        AIONEO_TOTP_SECRET="JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
    )
    for answer in ("n\n", "", "maybe\n"):
        result = run_cli(None, cache, *_PLACE, env=env, stdin=answer)
        assert result.returncode == 1
        assert result.stderr.startswith(
            "place: buy 1 TCS-EQ (nse_cm, CNC, MKT at market, DAY), tag live-1\n"
            f"  to {_LIVE} for account AB123: send it? [y/N] "
        )
        assert result.stderr.splitlines()[-1] == (
            "not sent: not confirmed (answer y, or pass --yes)"
        )
        assert "aioneo: " not in result.stderr  # no login was even tried
    # "y" sends: the (unreachable) host is then tried, and the error says so.
    yes = run_cli(None, cache, *_PLACE, env=env, stdin="y\n")
    assert yes.returncode == 1
    assert "send it? [y/N] " in yes.stderr
    assert "not confirmed" not in yes.stderr
    assert "error: " in yes.stderr
    # --yes asks nothing.
    skipped = run_cli(None, cache, *_PLACE, "--yes", env=env)
    assert skipped.returncode == 1
    assert "send it?" not in skipped.stderr


# --- credentials ------------------------------------------------------------------------


def test_missing_environment_names_the_missing_variables(cache: Path) -> None:
    env = cli_env(None, cache)
    env["AIONEO_CONSUMER_KEY"] = "some-key"
    env["AIONEO_MOBILE_NUMBER"] = "+919999999999"
    env["AIONEO_UCC"] = "DEMO1"
    result = run_cli(None, cache, "positions", "--json", env=env)
    assert result.returncode == 2
    first = result.stderr.splitlines()[0]
    assert first == "error: missing environment variables: AIONEO_MPIN, AIONEO_TOTP_SECRET"
    assert result.stdout == ""
    assert "some-key" not in result.stderr


def test_invalid_credential_value_exits_2_without_echoing_secrets(
    server: EmulatorServer, cache: Path
) -> None:
    env = cli_env(server, cache)
    env["AIONEO_MPIN"] = "12ab"
    result = run_cli(server, cache, "login", env=env)
    assert result.returncode == 2
    assert "mpin must be exactly 6 digits" in result.stderr
    assert "12ab" not in result.stderr


def test_wrong_mpin_is_a_login_error_exit_1(server: EmulatorServer, cache: Path) -> None:
    env = cli_env(server, cache)
    env["AIONEO_MPIN"] = "654321"
    result = run_cli(server, cache, "positions", env=env)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if "FatalLoginError" in line]
    assert len(errors) == 1  # the client's own "login failed" warning is not repeated
    assert errors[0].startswith("error: FatalLoginError:")
    assert "aioneo: warning: login failed" not in result.stderr
    assert "654321" not in result.stderr
    assert server.emulator.counters.logins == 0
