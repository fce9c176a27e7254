"""``python -m aioneo.testing serve`` as a user drives it, feeding ``python -m aioneo``.

The JSON line (or, with ``--env``, the ``export`` lines) is alone on stdout; the summary
is on stderr and names the URL that ``--login-url`` takes. ``--env`` leaves the server in
the background and ``eval "$(...)"`` then points the CLI at it; ``--env-file`` writes a
dotenv file while serving in the foreground. Every server started here is stopped here.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .cli_support import ROOT, cli_env, run

EXPORTED = {
    "AIONEO_LOGIN_URL",
    "AIONEO_CONSUMER_KEY",
    "AIONEO_MOBILE_NUMBER",
    "AIONEO_UCC",
    "AIONEO_MPIN",
    "AIONEO_TOTP_SECRET",
    "AIONEO_EMULATOR_PID",
}


def _gone(pid: int) -> bool:
    """The process has exited (a zombie, not yet reaped by init, counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    with contextlib.suppress(OSError):
        status = Path(f"/proc/{pid}/status").read_text()
        return "\nState:\tZ" in status
    return False


def _wait_gone(pid: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while not _gone(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@contextlib.contextmanager
def _foreground(*args: str) -> Iterator[subprocess.Popen[str]]:
    env = cli_env(None, Path("/nonexistent"))
    with subprocess.Popen(
        [sys.executable, "-m", "aioneo.testing", "serve", "--rate-limit", "off", *args],
        env=env,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


def _banner(process: subprocess.Popen[str]) -> list[str]:
    assert process.stderr is not None
    lines = []
    while not lines or lines[-1] != "Press Ctrl-C to stop.":
        line = process.stderr.readline()
        assert line, "stderr ended before the summary did: " + "\n".join(lines)
        lines.append(line.rstrip("\n"))
    return lines


def test_json_alone_on_stdout_banner_on_stderr_and_its_login_url_works(
    tmp_path: Path,
) -> None:
    with _foreground() as process:
        assert process.stdout is not None
        info = json.loads(process.stdout.readline())
        banner = _banner(process)
        (login_line,) = [line for line in banner if line.lstrip().startswith("login URL")]
        url = login_line.split()[2]
        assert url == info["url"] == info["login_url"]
        assert "tradeApiLogin" not in "\n".join(banner)
        env = cli_env(None, tmp_path / "cache")
        for field in ("consumer_key", "mobile_number", "ucc", "mpin", "totp_secret"):
            env[f"AIONEO_{field.upper()}"] = info[field]
        login = run(["-m", "aioneo", "login", "--json", "--login-url", url], env)
        assert login.returncode == 0, login.stderr
        assert json.loads(login.stdout)["base_url"] == info["base_url"]
        process.send_signal(signal.SIGINT)
        rest, err = process.communicate(timeout=20)
    assert process.returncode == 0
    assert rest == ""  # nothing but the JSON line ever went to stdout
    assert err.strip() == "Stopped."


def test_env_then_eval_then_login_then_positions_back_to_back(tmp_path: Path) -> None:
    # The README's flow, in a real shell. The emulator refuses a reused TOTP step, so
    # "positions" succeeds only by reusing the session "login" kept.
    script = (
        'eval "$(python -m aioneo.testing serve --env)"\n'
        'echo "pid=$AIONEO_EMULATOR_PID"\n'
        "python -m aioneo login --json\n"
        "python -m aioneo positions --json\n"
        'kill "$AIONEO_EMULATOR_PID"\n'
    )
    env = cli_env(None, tmp_path / "cache")
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    result = subprocess.run(
        ["bash", "-ec", script],
        env=env,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    match = re.search(r"^pid=(\d+)$", result.stdout, re.MULTILINE)
    assert match is not None, result.stdout + result.stderr
    pid = int(match.group(1))
    try:
        assert result.returncode == 0, result.stdout + result.stderr
        rest = result.stdout.split("\n", 1)[1]
        login, end = json.JSONDecoder().raw_decode(rest)
        assert login["reused"] is False
        assert login["session_file"].startswith(str(tmp_path / "cache" / "aioneo" / "sessions"))
        assert json.loads(rest[end:]) == []
        assert "Traceback" not in result.stderr
        assert 'Stop it with: kill "$AIONEO_EMULATOR_PID"' in result.stderr
        assert _wait_gone(pid)
    finally:
        if not _gone(pid):
            os.kill(pid, signal.SIGKILL)


def _readme_block(section: str, index: int) -> str:
    """The ``index``-th fenced block of the README section titled ``section``."""
    text = (ROOT / "README.md").read_text()
    body = text.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    return body.split("```")[1 + 2 * index].split("\n", 1)[1]


def test_the_readme_command_line_block_runs_as_printed(tmp_path: Path) -> None:
    block = _readme_block("Command line", 0)
    assert block.startswith('eval "$(python -m aioneo.testing serve --env)"')
    # Only the clean-up is added: the emulator is stopped even if a line fails.
    script = "trap 'kill \"$AIONEO_EMULATOR_PID\" 2>/dev/null || true' EXIT\n" + block
    env = cli_env(None, tmp_path / "cache")
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    result = subprocess.run(
        ["bash", "-ec", script],
        env=env,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("logged in at http://127.0.0.1:")
    assert lines[-1] == "(none)"  # positions of a fresh emulator
    assert result.stderr.count("aioneo: logged in:") == 1  # positions made no login
    sessions = list((tmp_path / "cache" / "aioneo" / "sessions").glob("DEMO1@*.json"))
    assert len(sessions) == 1


def test_env_prints_only_export_lines_and_keeps_serving_in_the_background(
    tmp_path: Path,
) -> None:
    env_file = tmp_path / "emulator.env"
    result = run(
        ["-m", "aioneo.testing", "serve", "--env", "--env-file", str(env_file)],
        cli_env(None, tmp_path / "cache"),
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    exported = {}
    for line in result.stdout.splitlines():
        match = re.fullmatch(r"export (AIONEO_[A-Z_]+)=(\S+)", line)
        assert match is not None, line
        (value,) = shlex.split(match.group(2))
        exported[match.group(1)] = value
    pid = int(exported["AIONEO_EMULATOR_PID"])
    try:
        assert set(exported) == EXPORTED
        assert exported["AIONEO_LOGIN_URL"].startswith("http://127.0.0.1:")
        assert env_file.stat().st_mode & 0o777 == 0o600
        dotenv = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
        assert dotenv == exported
        env = {**cli_env(None, tmp_path / "cache"), **exported}
        orders = run(["-m", "aioneo", "orders", "--json"], env)
        assert orders.returncode == 0, orders.stderr
        assert json.loads(orders.stdout) == []
    finally:
        os.kill(pid, signal.SIGTERM)
    assert _wait_gone(pid)
    assert not env_file.exists()  # removed when the server stopped


def test_env_file_in_the_foreground_is_written_then_removed(tmp_path: Path) -> None:
    env_file = tmp_path / "dir" / "emulator.env"
    env_file.parent.mkdir()
    with _foreground("--env-file", str(env_file)) as process:
        assert process.stdout is not None
        info = json.loads(process.stdout.readline())
        banner = _banner(process)
        assert f"  env file        {env_file} (removed at stop)" in banner
        values = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
        assert values["AIONEO_LOGIN_URL"] == info["url"]
        assert values["AIONEO_EMULATOR_PID"] == str(process.pid)
        assert values["AIONEO_TOTP_SECRET"] == info["totp_secret"]
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=20)
    assert process.returncode == 0
    assert not env_file.exists()


def test_env_with_a_port_in_use_fails_in_the_foreground(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = run(
            ["-m", "aioneo.testing", "serve", "--env", "--port", str(port)],
            cli_env(None, tmp_path / "cache"),
        )
    assert result.returncode == 1
    assert result.stdout == ""
    assert f"error: cannot listen on 127.0.0.1:{port}" in result.stderr


@pytest.mark.parametrize("flag", ["--env", "--env-file"])
def test_help_documents_the_env_options(flag: str, tmp_path: Path) -> None:
    result = run(["-m", "aioneo.testing", "serve", "--help"], cli_env(None, tmp_path))
    assert result.returncode == 0
    assert flag in result.stdout


def test_serve_advertises_its_feeds_and_the_market_feed_answers(tmp_path: Path) -> None:
    from websockets.sync.client import connect

    with _foreground("--tick-rate", "50", "--feed-auth-failure", "close") as process:
        assert process.stdout is not None
        info = json.loads(process.stdout.readline())
        banner = "\n".join(_banner(process))
        assert info["market_feed_url"] == "ws" + info["url"][4:] + "/apifeed"
        assert info["order_feed_url"] == "ws" + info["url"][4:] + "/realtime"
        assert info["market_feed_url"] in banner
        assert "tick rate       50 steps/s" in banner
        with connect(info["market_feed_url"]) as ws:
            ws.send(
                json.dumps({"user": info["ucc"], "auth": "no-such-sid", "format": "native_batch"})
            )
            with pytest.raises(Exception, match="1008"):  # --feed-auth-failure close
                ws.recv(timeout=5)
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=20)
    assert process.returncode == 0
