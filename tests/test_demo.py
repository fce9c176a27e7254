"""``python -m aioneo demo``: its counts (never its timings) and its exit status."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from aioneo import _demo
from aioneo._cli import main as cli_main

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str, timeout: float = 50) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "aioneo", "demo", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.slow
@pytest.mark.timeout(120)  # about 6 s alone; a 2-core machine shared with other jobs is slower
def test_demo_json_one_login_per_storm_and_every_call_succeeds() -> None:
    result = _run("--json", timeout=110)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1  # exactly one JSON object, nothing else on stdout
    doc = json.loads(lines[0])
    assert set(doc) == {"async", "threads", "feed"}
    feed = doc["feed"]
    assert feed["ticks_before"] >= 5
    assert feed["ticks_after"] >= 5
    assert feed["epoch_after"] > feed["epoch_before"]
    for key, callers in (("async", 1000), ("threads", 64)):
        storm = doc[key]
        assert set(storm) == {"callers", "logins", "succeeded", "seconds"}
        assert storm["callers"] == callers
        assert storm["logins"] == 1
        assert storm["succeeded"] == callers
        assert storm["seconds"] > 0


def test_demo_table_and_progress_with_fewer_callers() -> None:
    result = _run("--callers", "40", "--threads", "8")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "[async] session expired: 40 coroutines call positions() at once" in out
    assert "[threads] session expired: 8 threads call positions() at once" in out
    assert "40/40 calls done" in out
    table = [
        line.split() for line in out.splitlines() if line.startswith(("coroutines", "threads"))
    ]
    # fan-out name, callers, logins per expiry event, calls succeeded, time
    assert [row[2:5] for row in table] == [["40", "1", "40/40"], ["8", "1", "8/8"]]
    feed = [line for line in out.splitlines() if line.startswith("market feed:")]
    assert len(feed) == 1
    before = re.search(r"(\d+) ticks before the expiry, 5 after it \(epoch 1 -> 2\)", feed[0])
    assert before is not None, feed[0]
    assert int(before.group(1)) >= 5
    assert "the storm and the feed made 1 login together" in feed[0]


def test_demo_exits_1_when_an_expiry_event_cost_more_than_one_login(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def two_logins(**_: object) -> _demo.DemoResult:
        return _demo.DemoResult(
            _demo.StormResult(callers=10, logins=1, succeeded=10, seconds=0.5),
            _demo.StormResult(callers=4, logins=2, succeeded=4, seconds=0.5),
        )

    monkeypatch.setattr(_demo, "run_demo", two_logins)
    assert cli_main(["demo", "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["threads"]["logins"] == 2
    assert cli_main(["demo"]) == 1
    assert "FAILED: expected exactly one login per expiry event." in capsys.readouterr().out


def test_step_clock_jumps_into_the_next_totp_step() -> None:
    clock = _demo.StepClock(into_step=5.0)
    first = clock()
    clock.next_step(into_step=7.0)
    second = clock()
    assert int(second // 30) == int(first // 30) + 1
    assert 7.0 <= second % 30 < 8.0
