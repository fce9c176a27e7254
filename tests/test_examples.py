"""Every example in ``examples/`` runs against the emulator, as a user would start it.

Each runs in a subprocess with a time bound; the examples check themselves (one relogin,
one order, no lost call) and exit 1 when something is off, so a passing run here means the
behaviour they show still holds, not merely that they did not crash.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def run(*argv: str, timeout: float = 50) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    for name in [k for k in env if k.startswith("AIONEO_")]:
        del env[name]  # examples must not need (or see) real credentials
    return subprocess.run(
        [sys.executable, *argv],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_every_example_is_covered() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == [
        "async_bot.py",
        "feed_bot.py",
        "relogin_storm.py",
        "test_my_bot.py",
        "threaded_legacy.py",
    ]


def test_async_bot() -> None:
    result = run(str(EXAMPLES / "async_bot.py"), "--rounds", "4", "--interval", "0.3")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "session(s) expired in the middle of the run" in out
    assert "polls 40/40, portfolio checks 4/4, failures 0, logins 2 (relogins 1), orders 1" in out
    assert out.count("accepted (tag ") == 1
    assert out.rstrip().endswith("self-check: ok")


def test_feed_bot() -> None:
    result = run(str(EXAMPLES / "feed_bot.py"), "--ticks", "20")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "market feed: disconnected (1008)" in out
    counts = re.search(r"ticks (\d+) \((\d+) after the expiry\)", out)
    assert counts is not None, out
    assert int(counts.group(1)) >= 20
    assert int(counts.group(2)) >= 10
    assert "portfolio calls 20/20, logins 2 (relogins 1)" in out
    assert "orders 1, fills seen 1" in out
    assert out.count("bought 1 ") == 1
    assert out.rstrip().endswith("self-check: ok")


def test_threaded_legacy() -> None:
    result = run(str(EXAMPLES / "threaded_legacy.py"), "--rounds", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "jobs ok 18, failed 0; logins 2 (relogins 1," in out
    assert "FAILED" not in out
    assert out.rstrip().endswith("self-check: ok")


def test_relogin_storm() -> None:
    result = run(str(EXAMPLES / "relogin_storm.py"), "--coroutines", "200", "--threads", "16")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("200 coroutines: 1 login(s), 200/200 calls succeeded, ")
    assert lines[1].startswith("16 threads: 1 login(s), 16/16 calls succeeded, ")
    assert lines[2] == "one login per storm, no call lost: yes"


def test_pytest_example() -> None:
    argv = ["-m", "pytest", str(EXAMPLES / "test_my_bot.py"), "-q", "-p", "no:cacheprovider"]
    result = run(*argv)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 passed" in result.stdout
