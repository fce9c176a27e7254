"""``benchmarks/run.py``: a failed aioneo row explains itself, and only aioneo rows fail.

No emulator and no worker processes: ``run_worker`` and ``EmulatorProcess`` are replaced
by stubs that hand back the results a worker would print.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from benchmarks import _worker, run

INFO = {
    "url": "http://127.0.0.1:1",
    "pid": 1,
    "backend": "uvicorn",
    "keep_alive": 600.0,
    "consumer_key": "k",
    "mobile_number": "+919999999999",
    "ucc": "DEMO1",
    "mpin": "123456",
    "totp_secret": "JBSWY3DPEHPK3PXP",
}


def storm(logins: int, errors: list[dict[str, Any]], callers: int = 1000) -> dict[str, Any]:
    failed = sum(e["count"] for e in errors)
    return {
        "callers": callers,
        "logins": logins,
        "succeeded": callers - failed,
        "failed": failed,
        "errors": errors,
        "seconds": 4.9,
        "p50": 2.0,
        "p99": 2.2,
        "emulator": {"login_attempts": logins, "logins": logins},
        "client_stats": {"login_failures": 1, "cooldown_hits": 980},
    }


def row(client: str, n: int, storms: list[dict[str, Any]], steady_errors: int = 0) -> dict:
    errors = (
        [{"type": "aioneo.TransientLoginError", "count": steady_errors, "example": "cooldown"}]
        if steady_errors
        else []
    )
    return {
        "client": client,
        "kind": "coroutines" if client in run.COROUTINE_CLIENTS else "threads",
        "n": n,
        "connections": 10,
        "storms": storms,
        "steady": {
            "requests": 1000,
            "failed": steady_errors,
            "errors": errors,
            "seconds": 1.1,
            "rps": 900.0,
            "cpu_s": 0.1,
            "cpu_per_1k": 0.1,
            "emulator_cpu_s": 0.0,
            "emulator_cpu_per_1k": 0.0,
            "emulator_utilisation": 0.0,
            "p50": 0.001,
            "p99": 0.002,
            "mean": 0.001,
        },
        "rss_start_kib": 40000,
        "rss_peak_kib": 48000,
    }


BROKE = {
    "type": "aioneo.TransientLoginError",
    "count": 1000,
    "example": "login step failed: the connection broke (127.0.0.1)",
}


def fake_run(monkeypatch: pytest.MonkeyPatch, rows: dict[str, dict[str, Any]]) -> None:
    class Emulator:
        def __init__(self, latency: float) -> None:
            self.info = dict(INFO)

        def stop(self) -> None:
            pass

    def run_worker(spec: dict[str, Any]) -> dict[str, Any]:
        if spec["client"] == "calibrate":
            return {"login": 0.5, "round_trip": 0.02}
        result = rows[spec["client"]]
        if isinstance(result, run.WorkerError):
            raise result
        return result

    monkeypatch.setattr(run, "EmulatorProcess", Emulator)
    monkeypatch.setattr(run, "run_worker", run_worker)
    # main() makes SIGTERM exit; not in the test process.
    monkeypatch.setattr(run.signal, "signal", lambda *args: None)


def test_a_failed_storm_prints_its_row_logins_errors_and_the_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_run(
        monkeypatch,
        {"aioneo-async": row("aioneo-async", 1000, [storm(0, [BROKE])], steady_errors=1000)},
    )
    args = ["--clients", "aioneo-async", "--coroutines", "1000", "--storms", "1"]
    assert run.main([*args, "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    block = err[err.index("FAILED: ") :]
    assert "FAILED: aioneo AsyncNeoClient (aioneo-async), N=1000 coroutines" in block
    assert "logins per expiry event: 0 (expected exactly 1 each)" in block
    assert "0 of 1000 calls succeeded, 1000 failed" in block
    assert "1000 x aioneo.TransientLoginError: login step failed: the connection broke" in block
    assert "emulator counted: nothing" in block
    assert "client counted: login_failures 1, cooldown_hits 980" in block
    assert "steady phase: 0 of 1000 calls succeeded, 1000 failed" in block
    assert "command `python benchmarks/run.py --clients aioneo-async" in block
    assert "idle keep-alive 600.0 s" in block
    assert "CPUs, load average" in block


def test_two_logins_fail_the_run_and_say_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_run(monkeypatch, {"aioneo-sync": row("aioneo-sync", 64, [storm(1, []), storm(2, [])])})
    args = ["--clients", "aioneo-sync", "--threads", "64", "--storms", "2"]
    assert run.main([*args, "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "logins per expiry event: 1/2 (expected exactly 1 each)" in err
    assert "expiry event 1 of 2: 1 login(s), 1000 of 1000 calls succeeded" in err
    assert "expiry event 2 of 2: 2 login(s) (expected 1)" in err


def test_baselines_never_fail_the_run_even_when_their_worker_dies(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dead = run.WorkerError({"client": "sdk", "n": 64}, "was killed after 600 s", "boom")
    fake_run(
        monkeypatch,
        {
            "aioneo-sync": row("aioneo-sync", 64, [storm(1, [])]),
            "naive": row("naive", 64, [storm(64, [dict(BROKE, count=63)], callers=64)]),
            "sdk": dead,
        },
    )
    args = ["--clients", "aioneo-sync,naive,sdk", "--threads", "64", "--storms", "1"]
    assert run.main([*args, "--out", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "sdk          N=64    left out: the baseline's worker was killed after 600 s" in err
    assert "FAILED" not in err


def test_an_aioneo_worker_that_dies_fails_the_run_with_its_stderr(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dead = run.WorkerError(
        {"client": "aioneo-async", "n": 10}, "failed (exit status 1)", "Traceback\nValueError: x"
    )
    fake_run(monkeypatch, {"aioneo-async": dead})
    args = ["--clients", "aioneo-async", "--coroutines", "10", "--storms", "1"]
    assert run.main([*args, "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "FAILED: aioneo AsyncNeoClient (aioneo-async), N=10: the worker failed" in err
    assert "    ValueError: x" in err


def test_the_worker_records_each_error_type_once_with_its_cause() -> None:
    errors = _worker.Errors()
    for _ in range(3):
        try:
            try:
                raise ConnectionResetError("reset by peer")
            except ConnectionResetError as exc:
                raise RuntimeError("login step failed") from exc
        except RuntimeError as exc:
            errors.add(exc)
    errors.add(ValueError("other"))
    assert errors.count == 4
    assert errors.as_list() == [
        {
            "type": "RuntimeError",
            "count": 3,
            "example": "login step failed <- caused by ConnectionResetError: reset by peer",
        },
        {"type": "ValueError", "count": 1, "example": "other"},
    ]


def test_the_benchmark_emulator_outlives_the_clients_idle_connections() -> None:
    """uvicorn's 5 s idle timeout raced httpx's own 5 s expiry: a request sent as the
    server closed its connection failed ("the connection broke"), and a storm whose login
    met it failed every call. The benchmark's server keeps idle connections far longer."""
    pytest.importorskip("uvicorn")
    import httpx

    from aioneo.testing import Emulator
    from benchmarks import _serve

    server = _serve.BenchmarkServer(Emulator(), backend="uvicorn")
    config = server._make_server().config
    assert config.timeout_keep_alive == _serve.KEEP_ALIVE
    assert 10 * httpx.Limits().keepalive_expiry < _serve.KEEP_ALIVE
    assert _serve.KEEP_ALIVE >= run.WORKER_TIMEOUT


def test_the_aiohttp_backend_row_fails_the_run_like_the_default_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_run(
        monkeypatch,
        {
            "aioneo-async": row("aioneo-async", 1000, [storm(1, [])]),
            "aioneo-async-aiohttp": row("aioneo-async-aiohttp", 1000, [storm(2, [])]),
        },
    )
    args = ["--clients", "aioneo-async,aioneo-async-aiohttp", "--coroutines", "1000"]
    assert run.main([*args, "--storms", "1", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert 'FAILED: aioneo AsyncNeoClient, http_backend="aiohttp" (aioneo-async-aiohttp)' in err
    assert "FAILED: aioneo AsyncNeoClient (aioneo-async)," not in err


def storm_row(client: str, n: int, seconds: float, cpu_per_1k: float = 0.1) -> dict[str, Any]:
    out = row(client, n, [dict(storm(1, [], callers=n), seconds=seconds)])
    out["steady"]["cpu_per_1k"] = cpu_per_1k
    run.storm_figures(out, ideal=0.52, round_trip=0.02, login=0.5)
    return out


def test_issue_15_targets_read_the_pool_bound_ideal_and_both_backends() -> None:
    rows = [
        storm_row("aioneo-async", 1000, 2.4),  # pool-bound ideal: 0.5 + 100 x 0.02 = 2.5 s
        storm_row("aioneo-async-aiohttp", 1000, 1.1),
        storm_row("aioneo-sync", 64, 0.6, cpu_per_1k=0.9),
        storm_row("aioneo-sync-wide", 64, 0.6, cpu_per_1k=2.2),
        storm_row("sdk", 64, 0.1, cpu_per_1k=1.5),
    ]
    found = {t["target"]: t for t in run.check_targets(rows, 0.52, latency=0.0)}
    default = found["aioneo-async: recovery at N=1,000 <= 1.1 x the pool-bound ideal"]
    assert default["status"] == "met"
    assert "0.96 x the pool-bound ideal (2.50 s" in default["detail"]
    ratio = found["storm recovery at N=1,000, 0 ms latency: aiohttp backend <= 0.5 x the default's"]
    assert ratio["status"] == "met"
    assert "1.10 s vs 2.40 s = 0.46 x" in ratio["detail"]
    sync = found["NeoClient at 64 threads <= 0.75 x the official SDK's CPU per request"]
    assert sync["status"] == "met"
    assert "= 0.60 x" in sync["detail"]
    assert "with max_connections=64: 2.20 s = 1.47 x" in sync["detail"]
    at_20ms = {t["target"]: t for t in run.check_targets(rows, 0.52, latency=0.02)}
    assert at_20ms[ratio["target"]]["status"] == "not measured"


def test_client_cpu_targets_are_met_or_missed_with_their_figures() -> None:
    from benchmarks import client_cpu

    table = {
        "httpx": {10: 900.0, 1000: 4000.0},
        "aioneo": {10: 950.0, 1000: 1500.0},
        "aiohttp": {10: 110.0, 1000: 120.0},
        "httpx-on-aiohttp": {10: 390.0, 1000: 420.0},
        "aioneo-aiohttp": {10: 290.0, 1000: 300.0},
        "aioneo-no-sniffio": {10: 1250.0, 1000: 2000.0},
    }
    found = {text: (met, figure) for text, met, figure in client_cpu.targets(table, [10, 1000])}
    assert found["aiohttp backend <= 0.4 x bare httpx at N=10"] == (True, "0.32x")
    assert found["aiohttp backend <= 3.5 x bare aiohttp"] == (True, "worst 2.64x over N=[10, 1000]")
    flat = found["aioneo: CPU/request flat in N (N=1000 <= 1.25 x N=10)"]
    assert flat == (False, "1.58x")
    own = found["aioneo's own overhead (default backend): CPU/request <= 1.05 x bare httpx on it"]
    assert own[0] is False
    sniffio = found["aioneo: sniffio installed lowers CPU/request (ratio with/without < 1)"]
    assert sniffio[0] is True
