"""``python -m aioneo search`` and ``chain``: real subprocesses against a loopback emulator."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from aioneo.testing import Emulator, EmulatorConfig, EmulatorServer

from .cli_support import assert_no_secrets, cli_env, run


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    emulator = Emulator(EmulatorConfig(rate_limit=None, totp_replay_rejection=False))
    with EmulatorServer(emulator) as running:
        yield running


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli-instruments") / "cache"


def run_cli(server: EmulatorServer, cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    argv = ["-m", "aioneo", *args, "--login-url", server.url, "--no-session-file"]
    result = run(argv, cli_env(server, cache))
    assert_no_secrets(server, result.stdout + result.stderr)
    assert "Traceback" not in result.stderr
    return result


def scrip_downloads(server: EmulatorServer) -> int:
    return sum(1 for r in server.emulator.requests if r.endpoint == "scrip_file")


def test_search_prints_itc_eq_first_and_keeps_the_file(server: EmulatorServer, cache: Path) -> None:
    result = run_cli(server, cache, "search", "ITC")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["trading", "symbol", "token"]
    assert lines[2].split()[:3] == ["ITC-EQ", "1660", "nse_cm"]
    assert "MITCON-EQ" in result.stdout
    before = scrip_downloads(server)
    as_json = run_cli(server, cache, "search", "itc", "--json", "--limit", "2")
    assert as_json.returncode == 0, as_json.stderr
    found = json.loads(as_json.stdout)
    assert [f["trading_symbol"] for f in found] == ["ITC-EQ", "ITC-BL"]
    assert found[0]["tick_size"] == "0.05"
    assert scrip_downloads(server) == before  # the kept file, no download
    assert (cache / "aioneo" / "instruments").is_dir()


def test_search_finds_nothing_or_refuses_a_bad_segment(server: EmulatorServer, cache: Path) -> None:
    nothing = run_cli(server, cache, "search", "ZZZZQQ")
    assert nothing.returncode == 1
    assert "no instrument in nse_cm matches 'ZZZZQQ'" in nothing.stderr
    bad = run_cli(server, cache, "search", "ITC", "--segment", "nse_xx")
    assert bad.returncode == 2
    assert "--segment 'nse_xx' is not a scrip-master segment" in bad.stderr


def test_chain_for_an_expiry_as_table_and_json(server: EmulatorServer, cache: Path) -> None:
    nearest = run_cli(server, cache, "chain", "NIFTY", "--json")
    assert nearest.returncode == 0, nearest.stderr
    rows = json.loads(nearest.stdout)
    assert len(rows) == 81
    expiry = rows[0]["call"]["expiry"]
    assert rows[0]["call"]["option_type"] == "CE"
    assert rows[0]["put"]["option_type"] == "PE"
    assert [r["strike"] for r in rows] == sorted((r["strike"] for r in rows), key=float)
    table = run_cli(server, cache, "chain", "NIFTY", "--expiry", expiry)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert len(lines) == 2 + 81
    assert lines[2].split()[2] == rows[0]["strike"]
    wrong = run_cli(server, cache, "chain", "NIFTY", "--expiry", "2001-01-01")
    assert wrong.returncode == 2
    assert "--expiry 2001-01-01 is not an expiry of NIFTY; its expiries are" in wrong.stderr
    unknown = run_cli(server, cache, "chain", "NOSUCH")
    assert unknown.returncode == 2
    assert "UNDERLYING 'NOSUCH' has no options" in unknown.stderr
