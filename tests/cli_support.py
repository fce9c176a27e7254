"""Running ``python -m aioneo ...`` as a user does: a real subprocess, real environment.

Every run gets a private cache directory (``XDG_CACHE_HOME``, and ``HOME`` for the
``~/.cache`` fallback) so the default session file never touches the real home, and no
``AIONEO_*`` variable of the developer's shell leaks in.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

from aioneo._credentials import ENV_VARS
from aioneo.testing import EmulatorServer

ROOT = Path(__file__).resolve().parents[1]


def cli_env(
    server: EmulatorServer | None, cache: Path, *, login_url: bool = False, **drop: bool
) -> dict[str, str]:
    """The environment of a CLI run: the emulator's credentials (minus ``drop``), a
    private cache and home; ``login_url`` also sets ``AIONEO_LOGIN_URL``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIONEO_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["XDG_CACHE_HOME"] = str(cache)
    env["HOME"] = str(cache.parent / "home")
    if server is not None:
        creds = server.emulator.credentials.as_dict()
        for field, var in ENV_VARS.items():
            if not drop.get(field):
                env[var] = creds[field]
        if login_url:
            env["AIONEO_LOGIN_URL"] = server.url
    return env


def assert_no_secrets(server: EmulatorServer, text: str) -> None:
    """No consumer key, MPIN, TOTP secret or current code, token or sid in ``text``."""
    creds = server.emulator.credentials
    for secret in (creds.consumer_key, creds.mpin, creds.totp_secret, server.emulator.totp()):
        assert secret not in text
    for record in server.emulator.requests:
        for header in ("auth", "sid", "authorization"):
            value = record.headers.get(header)
            if value and len(value) > 8:
                assert value not in text


def run(
    argv: list[str], env: dict[str, str], *, stdin: str | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *argv],
        env=env,
        cwd=ROOT,
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def interrupt_when(
    argv: list[str],
    env: dict[str, str],
    ready: Callable[[str], bool],
    *,
    stream: str = "stderr",
    timeout: float = 20,
) -> tuple[int, str, str]:
    """Start ``python argv``; send SIGINT as soon as ``ready(line)`` holds for a line of
    ``stream`` (``"stderr"`` or ``"stdout"``), or for ``""`` (asked every 10 ms, for a
    condition outside the process); return (exit status, stdout, stderr)."""
    process = subprocess.Popen(
        [sys.executable, *argv],
        env=env,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen: dict[str, list[str]] = {"stdout": [], "stderr": []}
    lines: queue.Queue[str | None] = queue.Queue()

    def pump(name: str, source: IO[str]) -> None:
        for line in source:
            seen[name].append(line)
            if name == stream:
                lines.put(line)
        if name == stream:
            lines.put(None)

    assert process.stdout is not None
    assert process.stderr is not None
    pumps = [
        threading.Thread(target=pump, args=("stdout", process.stdout), daemon=True),
        threading.Thread(target=pump, args=("stderr", process.stderr), daemon=True),
    ]
    for thread in pumps:
        thread.start()
    try:
        deadline = time.monotonic() + timeout
        while True:
            assert time.monotonic() < deadline, "never ready: " + "".join(seen["stderr"])
            try:
                line = lines.get(timeout=0.01)
            except queue.Empty:
                line = ""
            assert line is not None, "exited before it could be interrupted: " + "".join(
                seen["stdout"] + seen["stderr"]
            )
            if ready(line):
                break
        process.send_signal(signal.SIGINT)
        process.wait(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for thread in pumps:
            thread.join(timeout)
        process.stdout.close()
        process.stderr.close()
    return process.returncode, "".join(seen["stdout"]), "".join(seen["stderr"])
