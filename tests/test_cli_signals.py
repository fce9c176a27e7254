"""Ctrl-C and waiting, in real subprocesses: one line, exit status 130, no traceback.

The commands are interrupted at a point the test controls, never after a sleep: a request
held by the emulator (on the wire), a login held by the emulator, the client's wait for a
fresh TOTP step (which the CLI shows on stderr), and the demo's two storms (recognised by
their progress lines; each storm takes at least one login of 0.5 s). Unclosed sockets or
transports would show up as ``ResourceWarning`` lines, which are turned on.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aioneo._core._persist import StoredSession
from aioneo._core._totp import STEP, step_of
from aioneo._stores import FileSessionStore
from aioneo.testing import Emulator, EmulatorConfig, EmulatorServer

from .cli_support import assert_no_secrets, cli_env, interrupt_when

INTERRUPTED = 130


@pytest.fixture
def server() -> Iterator[EmulatorServer]:
    emulator = Emulator(EmulatorConfig(rate_limit=None, totp_replay_rejection=False))
    with EmulatorServer(emulator) as running:
        yield running


def _env(server: EmulatorServer | None, tmp_path: Path) -> dict[str, str]:
    env = cli_env(server, tmp_path / "cache")
    env["PYTHONWARNINGS"] = "always::ResourceWarning"
    return env


def _assert_one_line_interrupt(stderr: str) -> None:
    assert "Traceback" not in stderr
    assert "ResourceWarning" not in stderr
    assert "Error" not in stderr
    assert stderr.endswith("\ninterrupted\n") or stderr == "interrupted\n"


@pytest.mark.parametrize("endpoint", ["positions", "login"])
def test_ctrl_c_while_a_request_is_held_by_the_server(
    server: EmulatorServer, tmp_path: Path, endpoint: str
) -> None:
    with server.emulator.hold(endpoint) as hold:
        status, out, err = interrupt_when(
            ["-m", "aioneo", "positions", "--login-url", server.url, "--no-session-file"],
            _env(server, tmp_path),
            lambda _: hold.waiting >= 1,
        )
    assert status == INTERRUPTED
    assert out == ""
    _assert_one_line_interrupt(err)
    assert_no_secrets(server, out + err)


def test_a_totp_wait_is_shown_on_stderr_and_ctrl_c_ends_it(
    server: EmulatorServer, tmp_path: Path
) -> None:
    # A kept session that has expired, whose login used the current TOTP step: the next
    # login must wait for the next step (at least 3 s here), and says so at INFO.
    if STEP - time.time() % STEP < 3:
        time.sleep(STEP - time.time() % STEP + 0.05)
    now = time.time()
    path = tmp_path / "session.json"
    FileSessionStore(path).save(
        StoredSession(
            generation=1,
            account="DEMO1",
            token="expired-token-0123456789",
            sid="expired-sid-0123456789",
            base_url=server.base_url,
            issued_at=now - 3600,
            expires_at=now - 60,
            totp_step=step_of(now),
        )
    )
    pattern = re.compile(r"aioneo: waiting (\d+\.\d) s for a fresh TOTP step: \S.*\n")
    status, out, err = interrupt_when(
        ["-m", "aioneo", "positions", "--login-url", server.url, "--session-file", str(path)],
        _env(server, tmp_path),
        lambda line: pattern.fullmatch(line) is not None,
    )
    assert status == INTERRUPTED
    (line,) = [line for line in err.splitlines(keepends=True) if pattern.fullmatch(line)]
    match = pattern.fullmatch(line)
    assert match is not None
    assert 0 < float(match.group(1)) <= STEP
    _assert_one_line_interrupt(err)
    assert server.emulator.counters.login_attempts == 0  # interrupted before sending a code
    assert_no_secrets(server, out + err)


@pytest.mark.parametrize(
    ("threads", "storm"),
    [(8, "[async] session expired"), (64, "[threads] session expired")],
)
def test_ctrl_c_in_the_demo_mid_storm(tmp_path: Path, threads: int, storm: str) -> None:
    status, out, err = interrupt_when(
        ["-m", "aioneo", "demo", "--callers", "1000", "--threads", str(threads)],
        _env(None, tmp_path),
        lambda line: line.startswith(storm),
        stream="stdout",
    )
    assert status == INTERRUPTED
    assert err == "interrupted\n"
    assert "calls done" not in out.split(storm, 1)[1]  # nothing more after the interrupt
    assert "fan-out" not in out  # no table: the run did not finish


def test_ctrl_c_while_an_order_is_on_the_wire_says_its_outcome_is_unknown(
    server: EmulatorServer, tmp_path: Path
) -> None:
    """The order may be placed after all: the user is told so, with its tag."""
    command = ["-m", "aioneo", "place", "--login-url", server.url, "--no-session-file"]
    command += ["--trading-symbol", "ITBEES-EQ", "--transaction-type", "B", "--quantity", "1"]
    command += ["--product", "MIS", "--order-type", "MKT", "--tag", "ctrl-c-1"]
    with server.emulator.hold("place_order") as hold:
        status, out, err = interrupt_when(
            command, _env(server, tmp_path), lambda _: hold.waiting >= 1
        )
    assert status == INTERRUPTED
    assert "Traceback" not in err
    assert "interrupted" in err
    assert "outcome is unknown" in err
    assert "tag ctrl-c-1" in err
    assert_no_secrets(server, out + err)
