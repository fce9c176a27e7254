"""``python -m aioneo watch``: NDJSON and table output, input errors, Ctrl-C, in real
subprocesses against a loopback emulator (counts and lines, never timings)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from aioneo.testing import Emulator, EmulatorConfig, EmulatorServer

from .cli_support import assert_no_secrets, cli_env, interrupt_when, run

pytestmark = pytest.mark.timeout(60)

TCS, INFY = "nse_cm|11536", "nse_cm|1594"


@pytest.fixture
def server() -> Iterator[EmulatorServer]:
    emulator = Emulator(EmulatorConfig(rate_limit=None, totp_replay_rejection=False, tick_rate=20))
    with EmulatorServer(emulator) as running:
        yield running


def _watch(server: EmulatorServer, *args: str) -> list[str]:
    return ["-m", "aioneo", "watch", *args, "--login-url", server.url, "--no-session-file"]


def test_json_is_one_object_per_line_events_and_ticks(
    server: EmulatorServer, tmp_path: Path
) -> None:
    result = run(_watch(server, TCS, INFY, "--json", "--count", "6"), cli_env(server, tmp_path))
    assert result.returncode == 0, result.stderr
    docs = [json.loads(line) for line in result.stdout.splitlines()]
    assert docs[0]["event"] == "connected"
    assert docs[0]["reconnect"] is False
    ticks = [d for d in docs if "instrument" in d]
    assert len(ticks) == 6
    assert {t["instrument"] for t in ticks} <= {TCS, INFY}
    assert all(t["mode"] == "quote" and isinstance(t["ltp"], str) for t in ticks)
    assert_no_secrets(server, result.stdout + result.stderr)


def test_index_mode_by_name(server: EmulatorServer, tmp_path: Path) -> None:
    argv = _watch(server, "nse_cm|Nifty 50", "--mode", "index", "--json", "--count", "2")
    result = run(argv, cli_env(server, tmp_path))
    assert result.returncode == 0, result.stderr
    ticks = [d for d in map(json.loads, result.stdout.splitlines()) if "instrument" in d]
    assert [t["name"] for t in ticks] == ["Nifty 50", "Nifty 50"]
    assert ticks[0]["mode"] == "index"


def test_table_lists_the_last_tick_of_each_instrument(
    server: EmulatorServer, tmp_path: Path
) -> None:
    result = run(_watch(server, TCS, INFY, "--count", "8"), cli_env(server, tmp_path))
    assert result.returncode == 0, result.stderr
    blocks = result.stdout.strip().split("\n\n")
    last = blocks[-1].splitlines()
    assert last[0].split()[:2] == ["instrument", "ltp"]
    assert {line.split()[0] for line in last[2:-1]} == {TCS, INFY}
    assert last[-1].startswith("connected; 8 ticks, 0 reconnects")
    assert "\x1b[" not in result.stdout  # not a terminal: no cursor control


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nse_cm"], "instruments[0] 'nse_cm' is not 'segment|token'"),
        ([TCS, "--mode", "bogus"], "invalid choice: 'bogus'"),
        ([TCS, "--count", "0"], "'0' is not allowed: pass an integer >= 1"),
    ],
)
def test_bad_input_exits_2_naming_it(
    server: EmulatorServer, tmp_path: Path, args: list[str], message: str
) -> None:
    result = run(_watch(server, *args), cli_env(server, tmp_path))
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stdout == ""


def test_ctrl_c_ends_the_watch_cleanly(server: EmulatorServer, tmp_path: Path) -> None:
    env = cli_env(server, tmp_path)
    env["PYTHONWARNINGS"] = "always::ResourceWarning"
    status, out, err = interrupt_when(
        _watch(server, TCS, "--json"), env, lambda line: '"instrument"' in line, stream="stdout"
    )
    assert status == 130
    assert "Traceback" not in err
    assert "ResourceWarning" not in err
    assert err.endswith("interrupted\n")
    assert all(json.loads(line) for line in out.splitlines())
