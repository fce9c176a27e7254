"""The CLI keeps the session between commands: ``login`` then ``positions`` is one login.

The emulator refuses a TOTP step that a login already used (as RFC 6238 servers do), so
two commands that each logged in within one 30 s step would fail: these tests pass only
because the second command reuses the session the first kept. Every run has its own
temporary ``XDG_CACHE_HOME`` and ``HOME``; the real home is never touched.
"""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from aioneo._cli import default_session_path, is_loopback_url
from aioneo._shell import DEFAULT_LOGIN_URL
from aioneo.testing import Emulator, EmulatorConfig, EmulatorServer

from .cli_support import assert_no_secrets, cli_env, run


@pytest.fixture
def server() -> Iterator[EmulatorServer]:
    emulator = Emulator(EmulatorConfig(rate_limit=None, totp_replay_rejection=True))
    with EmulatorServer(emulator) as running:
        yield running


def _cli(server: EmulatorServer, env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = run(["-m", "aioneo", *args, "--login-url", server.url], env)
    assert_no_secrets(server, result.stdout + result.stderr)
    assert "Traceback" not in result.stderr
    return result.returncode, result.stdout, result.stderr


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_login_then_positions_is_one_login_with_the_default_session_file(
    server: EmulatorServer, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    env = cli_env(server, cache)
    status, out, err = _cli(server, env, "login", "--json")
    assert status == 0, err
    info = json.loads(out)
    expected = (
        cache / "aioneo" / "sessions" / f"DEMO1@127.0.0.1_{server.url.rsplit(':', 1)[1]}.json"
    )
    assert info["session_file"] == str(expected)
    assert info["reused"] is False
    status, out, err = _cli(server, env, "positions", "--json")
    assert status == 0, err
    assert json.loads(out) == []
    status, out, err = _cli(server, env, "login")
    assert status == 0, err
    assert out.splitlines()[0] == f"reused the session kept for {server.url} (no login)"
    assert server.emulator.counters.logins == 1
    assert server.emulator.counters.totp_replays_rejected == 0
    assert _mode(expected) == 0o600
    assert _mode(expected.parent) == 0o700
    assert _mode(expected.parent.parent) == 0o700
    assert not (tmp_path / "home").exists()  # XDG_CACHE_HOME wins over ~/.cache


def test_without_xdg_cache_home_the_file_is_under_home_dot_cache(
    server: EmulatorServer, tmp_path: Path
) -> None:
    env = cli_env(server, tmp_path / "unused")
    del env["XDG_CACHE_HOME"]
    status, out, err = _cli(server, env, "login", "--json")
    assert status == 0, err
    path = Path(json.loads(out)["session_file"])
    assert path.parent == tmp_path / "home" / ".cache" / "aioneo" / "sessions"
    assert _mode(path) == 0o600
    assert _mode(path.parent) == 0o700
    status, _, err = _cli(server, env, "orders")
    assert status == 0, err
    assert server.emulator.counters.logins == 1


def test_session_file_option_and_variable_choose_the_file(
    server: EmulatorServer, tmp_path: Path
) -> None:
    env = cli_env(server, tmp_path / "cache")
    chosen = tmp_path / "mine" / "session.json"
    status, _, err = _cli(server, env, "login", "--session-file", str(chosen))
    assert status == 0, err
    env["AIONEO_SESSION_FILE"] = str(chosen)
    status, _, err = _cli(server, env, "orders", "--json")
    assert status == 0, err
    assert server.emulator.counters.logins == 1
    assert _mode(chosen) == 0o600
    assert not (tmp_path / "cache").exists()  # the default file was never made


def test_no_session_file_keeps_nothing_and_logs_in_every_time(tmp_path: Path) -> None:
    # Replay rejection off: two logins inside one TOTP step must be allowed for this one.
    emulator = Emulator(EmulatorConfig(rate_limit=None, totp_replay_rejection=False))
    with EmulatorServer(emulator) as server:
        env = cli_env(server, tmp_path / "cache")
        env["AIONEO_SESSION_FILE"] = str(tmp_path / "ignored.json")
        for command in ("login", "positions"):
            status, _, err = _cli(server, env, command, "--no-session-file")
            assert status == 0, err
    assert emulator.counters.logins == 2
    assert not (tmp_path / "cache").exists()
    assert not (tmp_path / "ignored.json").exists()


def test_a_group_readable_session_file_is_refused_and_named(
    server: EmulatorServer, tmp_path: Path
) -> None:
    env = cli_env(server, tmp_path / "cache")
    path = tmp_path / "session.json"
    status, _, err = _cli(server, env, "login", "--session-file", str(path))
    assert status == 0, err
    path.chmod(0o644)
    status, out, err = _cli(server, env, "positions", "--session-file", str(path))
    assert status == 1
    assert out == ""
    assert f"error: SessionStoreError: session file {str(path)!r} has mode" in err


def test_default_session_path_rules(tmp_path: Path) -> None:
    env = {"XDG_CACHE_HOME": str(tmp_path / "xdg"), "HOME": str(tmp_path / "home")}
    sessions = tmp_path / "xdg" / "aioneo" / "sessions"
    assert default_session_path("AB123", DEFAULT_LOGIN_URL, env) == sessions / "AB123.json"
    assert default_session_path("AB123", DEFAULT_LOGIN_URL + "/", env) == sessions / "AB123.json"
    assert default_session_path("AB123", "http://127.0.0.1:8765", env) == (
        sessions / "AB123@127.0.0.1_8765.json"
    )
    assert default_session_path("AB123", "http://[::1]:99/", env) == (
        sessions / "AB123@__1_99.json"
    )
    # A relative XDG_CACHE_HOME is ignored, as the XDG spec says.
    relative = {"XDG_CACHE_HOME": "cache", "HOME": str(tmp_path / "home")}
    assert default_session_path("AB123", DEFAULT_LOGIN_URL, relative) == (
        tmp_path / "home" / ".cache" / "aioneo" / "sessions" / "AB123.json"
    )


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:8080", True),
        ("http://127.8.9.1", True),
        ("http://localhost:1", True),
        ("http://[::1]:1", True),
        ("https://mis.kotaksecurities.com", False),
        ("http://10.0.0.1", False),
        ("http://localhost.example.com", False),
    ],
)
def test_is_loopback_url(url: str, loopback: bool) -> None:
    assert is_loopback_url(url) is loopback
