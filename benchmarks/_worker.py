"""One benchmark row in a fresh process, so that CPU time and peak memory are its own.

``python benchmarks/_worker.py '<json spec>'`` prints one JSON line with the results. The
spec (written by ``run.py``) names the client, the fan-out ``n``, the emulator's URL and
pid, the number of steady requests, the number of expiry events and the TOTP step the
worker's clock starts at.

Phases, in order: log in and warm the connections; ``storms`` relogin storms (the
emulator expires every session, then ``n`` callers call ``positions()`` at once); one
steady fan-out (``n`` callers, each ``max(1, requests // n)`` calls one after another).

Client CPU is ``resource.getrusage(RUSAGE_SELF)`` (user + system, every thread of this
process) around the steady phase; the emulator's CPU is read from ``/proc/<pid>/stat``
around the same phase. Peak memory is ``ru_maxrss`` at the end; ``rss_start_kib`` is the
resident size after imports and the first login, before any fan-out.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import statistics
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

# The official SDK as shipped, except its log file (CI turns it off too).
os.environ.setdefault("NEO_LOG_FILE_ENABLED", "false")

import httpx

from aioneo import AsyncNeoClient, Credentials, NeoClient
from aioneo._core import _requests as requests
from aioneo._core._render import render
from aioneo.testing import StepClock

STEP = 30
COROUTINE_CLIENTS = ("aioneo-async", "httpx-async")
THREAD_CLIENTS = ("aioneo-sync", "aioneo-sync-wide", "httpx-sync", "seed", "naive", "sdk")
#: Connections on the wire per client: aioneo's default, the baselines' and httpx's default.
WIRE_CONNECTIONS = {
    "aioneo-async": 10,
    "aioneo-sync": 10,
    "aioneo-sync-wide": 0,  # max_connections=N
    "httpx-async": 100,
    "httpx-sync": 100,
    "seed": 100,
    "naive": 100,
    "sdk": 100,
}


class Control:
    """The emulator's control API, over a connection of its own (not measured)."""

    def __init__(self, url: str, pid: int) -> None:
        self._http = httpx.Client(base_url=url + "/__emulator", timeout=30)
        self.pid = pid

    def expire(self) -> None:
        self._http.post("/sessions/expire", json={}).raise_for_status()

    def login_attempts(self) -> int:
        response = self._http.get("/counters")
        response.raise_for_status()
        return int(response.json()["login_attempts"])

    def cpu(self) -> float:
        """The emulator's user + system CPU seconds (Linux ``/proc``; NaN elsewhere)."""
        try:
            with open(f"/proc/{self.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            return float("nan")
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_kib() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak  # macOS counts bytes


def rss_kib() -> int:
    """Resident size now (Linux ``/proc``; elsewhere the peak so far)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return peak_rss_kib()


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def credentials_of(spec: dict[str, Any]) -> Credentials:
    c = spec["credentials"]
    return Credentials(
        c["consumer_key"], c["mobile_number"], c["ucc"], c["mpin"], totp_secret=c["totp_secret"]
    )


# -- bare httpx: the floor -------------------------------------------------------------------


def bare_request(spec: dict[str, Any], token: str, sid: str, base_url: str) -> tuple[str, dict]:
    rendered = render(
        requests.positions(),
        login_url=spec["url"],
        base_url=base_url,
        consumer_key=spec["credentials"]["consumer_key"],
        trade_token=token,
        trade_sid=sid,
    )
    return rendered.url, dict(rendered.headers)


def session_of(client: AsyncNeoClient | NeoClient) -> tuple[str, str, str]:
    session = client._session.machine.session
    assert session is not None
    return session.token, session.sid, session.base_url


# -- coroutine fan-out -----------------------------------------------------------------------


async def fan_out_async(
    call: Callable[[], Awaitable[object]], n: int, per_caller: int
) -> tuple[list[float], int]:
    latencies: list[float] = []
    failures = 0

    async def caller() -> None:
        nonlocal failures
        for _ in range(per_caller):
            started = time.perf_counter()
            try:
                await call()
            except Exception:
                failures += 1
            latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(caller() for _ in range(n)))
    return latencies, failures


async def run_async(spec: dict[str, Any]) -> dict[str, Any]:
    n, name = spec["n"], spec["client"]
    clock = StepClock(steps_ahead=spec["step"])
    control = Control(spec["url"], spec["emulator_pid"])
    creds = credentials_of(spec)
    neo = AsyncNeoClient(creds, login_url=spec["url"], rate_limit=None, clock=clock)
    bare: httpx.AsyncClient | None = None
    target: dict[str, Any] = {}
    async with neo:
        await neo.login()
        if name == "httpx-async":
            bare = httpx.AsyncClient(timeout=httpx.Timeout(30.0, pool=None))
            target["url"], target["headers"] = bare_request(spec, *session_of(neo))

            async def call() -> object:
                assert bare is not None
                response = await bare.get(target["url"], headers=target["headers"])
                response.raise_for_status()
                return response.json()

        else:
            call = neo.positions
        await fan_out_async(call, min(n, 10), 1)  # warm the connections
        rss_start = rss_kib()

        storms = []
        for _ in range(spec["storms"]):
            clock.next_step()
            before = control.login_attempts()
            control.expire()
            started = time.perf_counter()
            if name == "httpx-async":
                # No auth logic: the floor is one login and then n requests, uncoordinated.
                await neo.login()
                target["url"], target["headers"] = bare_request(spec, *session_of(neo))
            latencies, failures = await fan_out_async(call, n, 1)
            seconds = time.perf_counter() - started
            storms.append(
                storm_result(n, control.login_attempts() - before, failures, seconds, latencies)
            )

        per_caller = max(1, spec["requests"] // n)
        steady = await measure_async(control, lambda: fan_out_async(call, n, per_caller))
        if bare is not None:
            await bare.aclose()
    return {"rss_start_kib": rss_start, "storms": storms, "steady": steady}


async def measure_async(
    control: Control, body: Callable[[], Awaitable[tuple[list[float], int]]]
) -> dict[str, Any]:
    cpu0, emu0, t0 = cpu_self(), control.cpu(), time.perf_counter()
    latencies, failures = await body()
    wall = time.perf_counter() - t0
    return steady_result(latencies, failures, wall, cpu_self() - cpu0, control.cpu() - emu0)


# -- thread fan-out --------------------------------------------------------------------------


def fan_out_threads(
    call: Callable[[], object], n: int, per_caller: int, before_release: Callable[[], None]
) -> tuple[list[float], int, float]:
    """Start ``n`` threads, let them wait at a barrier, run ``before_release``, release
    them; returns latencies, failures and the seconds from release to the last return."""
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()
    barrier = threading.Barrier(n + 1)

    def caller() -> None:
        mine: list[float] = []
        bad = 0
        barrier.wait()
        for _ in range(per_caller):
            started = time.perf_counter()
            try:
                call()
            except Exception:
                bad += 1
            mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)
            failures[0] += bad

    threads = [threading.Thread(target=caller, daemon=True) for _ in range(n)]
    for thread in threads:
        thread.start()
    before_release()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    return latencies, failures[0], time.perf_counter() - started


def make_thread_client(
    spec: dict[str, Any], clock: StepClock
) -> tuple[Callable[[], object], Callable[[], None], Callable[[], None]]:
    """(call, relogin_for_floor, close) for a thread-based client."""
    name = spec["client"]
    creds = credentials_of(spec)
    url = spec["url"]
    if name in ("aioneo-sync", "aioneo-sync-wide", "httpx-sync"):
        wide = {"max_connections": spec["n"]} if name == "aioneo-sync-wide" else {}
        neo = NeoClient(creds, login_url=url, rate_limit=None, clock=clock, **wide)
        neo.login()
        if name != "httpx-sync":
            return neo.positions, lambda: None, neo.close
        bare = httpx.Client(timeout=httpx.Timeout(30.0, pool=None))
        target: dict[str, Any] = {}

        def relogin() -> None:
            neo.login()
            target["url"], target["headers"] = bare_request(spec, *session_of(neo))

        target["url"], target["headers"] = bare_request(spec, *session_of(neo))

        def bare_call() -> object:
            response = bare.get(target["url"], headers=target["headers"])
            response.raise_for_status()
            return response.json()

        def close() -> None:
            bare.close()
            neo.close()

        return bare_call, relogin, close
    if name in ("seed", "naive"):
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from baselines import NaiveClient, SeedClient

        cls = SeedClient if name == "seed" else NaiveClient
        client = cls(creds, login_url=url, clock=clock)
        client.login()
        return client.positions, lambda: None, client.close
    if name == "sdk":
        import neo_api_client

        from aioneo.testing import RoutingTransport

        c = spec["credentials"]
        api = neo_api_client.NeoAPI(consumer_key=c["consumer_key"], transport=RoutingTransport(url))
        api.totp_login(
            mobile_number=c["mobile_number"], ucc=c["ucc"], totp=creds.totp_code(clock())
        )
        answer = api.totp_validate(mpin=c["mpin"])
        if not (isinstance(answer, dict) and "data" in answer):
            raise RuntimeError(f"the official SDK did not log in: {str(answer)[:200]}")

        def sdk_call() -> object:
            result = api.positions()
            # The SDK returns error bodies instead of raising.
            if not (isinstance(result, dict) and str(result.get("stat", "")).lower() == "ok"):
                raise RuntimeError("the SDK answered an error")
            return result

        return sdk_call, lambda: None, api.api_client.rest_client.close
    raise ValueError(f"unknown thread client {name!r}")


def run_threads(spec: dict[str, Any]) -> dict[str, Any]:
    n, name = spec["n"], spec["client"]
    clock = StepClock(steps_ahead=spec["step"])
    control = Control(spec["url"], spec["emulator_pid"])
    call, relogin, close = make_thread_client(spec, clock)
    try:
        fan_out_threads(call, min(n, 10), 1, lambda: None)  # warm the connections
        rss_start = rss_kib()
        storms = []
        for _ in range(spec["storms"]):
            clock.next_step()
            before = control.login_attempts()
            if name == "httpx-sync":
                control.expire()
                started = time.perf_counter()
                relogin()  # no auth logic: one login, then n requests, uncoordinated
                latencies, failures, seconds = fan_out_threads(call, n, 1, lambda: None)
                seconds = time.perf_counter() - started
            else:
                latencies, failures, seconds = fan_out_threads(call, n, 1, control.expire)
            storms.append(
                storm_result(n, control.login_attempts() - before, failures, seconds, latencies)
            )
        if name == "sdk":  # it never logs in again by itself: log it in for the steady phase
            close()
            clock.next_step()
            call, relogin, close = make_thread_client(spec, clock)
            fan_out_threads(call, min(n, 10), 1, lambda: None)
        elif name in ("seed", "naive") and storms and storms[-1]["failed"]:
            # A storm can leave these without a working session; start the steady phase
            # from a fresh login, as their programs would after a restart.
            close()
            clock.next_step()
            call, relogin, close = make_thread_client(spec, clock)
        per_caller = max(1, spec["requests"] // n)
        cpu0, emu0 = cpu_self(), control.cpu()
        latencies, failures, wall = fan_out_threads(call, n, per_caller, lambda: None)
        steady = steady_result(latencies, failures, wall, cpu_self() - cpu0, control.cpu() - emu0)
    finally:
        close()
    return {"rss_start_kib": rss_start, "storms": storms, "steady": steady}


# -- results ---------------------------------------------------------------------------------


def storm_result(
    n: int, logins: int, failures: int, seconds: float, latencies: list[float]
) -> dict[str, Any]:
    return {
        "callers": n,
        "logins": logins,
        "succeeded": n - failures,
        "failed": failures,
        "seconds": seconds,
        "p50": percentile(latencies, 0.5),
        "p99": percentile(latencies, 0.99),
    }


def steady_result(
    latencies: list[float], failures: int, wall: float, cpu: float, emulator_cpu: float
) -> dict[str, Any]:
    count = len(latencies)
    return {
        "requests": count,
        "failed": failures,
        "seconds": wall,
        "rps": count / wall if wall > 0 else 0.0,
        "cpu_s": cpu,
        "cpu_per_1k": cpu / count * 1000 if count else float("nan"),
        "emulator_cpu_s": emulator_cpu,
        "emulator_cpu_per_1k": emulator_cpu / count * 1000 if count else float("nan"),
        "emulator_utilisation": emulator_cpu / wall if wall > 0 else 0.0,
        "p50": percentile(latencies, 0.5),
        "p99": percentile(latencies, 0.99),
        "mean": statistics.fmean(latencies) if latencies else float("nan"),
    }


def calibrate(spec: dict[str, Any]) -> dict[str, Any]:
    """Idle figures for the ideal: one login (both steps) and one round trip."""
    clock = StepClock(steps_ahead=spec["step"])
    logins, trips = [], []
    with NeoClient(
        credentials_of(spec), login_url=spec["url"], rate_limit=None, clock=clock
    ) as neo:
        for _ in range(3):
            clock.next_step()
            started = time.perf_counter()
            neo.login()
            logins.append(time.perf_counter() - started)
        neo.positions()
        for _ in range(30):
            started = time.perf_counter()
            neo.positions()
            trips.append(time.perf_counter() - started)
    return {"login": statistics.median(logins), "round_trip": statistics.median(trips)}


def main() -> int:
    spec = json.loads(sys.argv[1])
    name = spec["client"]
    if name == "calibrate":
        result: dict[str, Any] = calibrate(spec)
    elif name in COROUTINE_CLIENTS:
        result = asyncio.run(run_async(spec))
    elif name in THREAD_CLIENTS:
        result = run_threads(spec)
    else:
        raise SystemExit(f"unknown client {name!r}")
    if name != "calibrate":
        result.update(
            client=name,
            kind="coroutines" if name in COROUTINE_CLIENTS else "threads",
            n=spec["n"],
            connections=WIRE_CONNECTIONS[name] or spec["n"],
            rss_peak_kib=peak_rss_kib(),
        )
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
