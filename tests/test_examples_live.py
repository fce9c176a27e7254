"""The examples' ``--live`` mode: ``--login-url`` (or ``AIONEO_LOGIN_URL``) points it at any
login host, here a loopback emulator, and missing variables are named without a traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from aioneo.testing import Emulator, EmulatorConfig, EmulatorServer

from .cli_support import ROOT, cli_env, run

LIVE = {
    "async_bot.py": ["--live", "--rounds", "1", "--interval", "0.05"],
    "threaded_legacy.py": ["--live", "--rounds", "1", "--pause", "0"],
}


@pytest.fixture
def server() -> Iterator[EmulatorServer]:
    emulator = Emulator(EmulatorConfig(rate_limit=None, totp_replay_rejection=False))
    with EmulatorServer(emulator) as running:
        yield running


@pytest.mark.parametrize("example", sorted(LIVE))
@pytest.mark.parametrize("how", ["option", "variable"])
def test_live_mode_takes_the_login_url(
    server: EmulatorServer, tmp_path: Path, example: str, how: str
) -> None:
    argv = [str(ROOT / "examples" / example), *LIVE[example]]
    if how == "option":
        argv += ["--login-url", server.url]
    env = cli_env(server, tmp_path / "cache", login_url=how == "variable")
    result = run(argv, env, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert server.emulator.counters.logins == 1
    expected = {"async_bot.py": "polls 10, failures 0", "threaded_legacy.py": "round 1"}
    assert expected[example] in result.stdout
    assert "FAILED" not in result.stdout  # how threaded_legacy.py reports a failed job


@pytest.mark.parametrize("example", sorted(LIVE))
def test_live_mode_names_missing_variables_without_a_traceback(
    tmp_path: Path, example: str
) -> None:
    env = cli_env(None, tmp_path / "cache")
    env["AIONEO_UCC"] = "AB123"
    result = run([str(ROOT / "examples" / example), *LIVE[example]], env)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == (
        "error: missing environment variables: AIONEO_CONSUMER_KEY, AIONEO_MOBILE_NUMBER, "
        "AIONEO_MPIN, AIONEO_TOTP_SECRET"
    )


@pytest.mark.parametrize("example", sorted(LIVE))
def test_live_mode_refuses_a_bad_login_url_in_one_line(
    server: EmulatorServer, tmp_path: Path, example: str
) -> None:
    argv = [str(ROOT / "examples" / example), *LIVE[example], "--login-url", "mis.example"]
    result = run(argv, cli_env(server, tmp_path / "cache"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "login_url must start with http:// or https://, got 'mis.example'" in result.stderr
