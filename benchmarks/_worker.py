"""One benchmark row in a fresh process, so that CPU time and peak memory are its own.

``python benchmarks/_worker.py '<json spec>'`` prints one JSON line with the results. The
spec (written by ``run.py``) names the client, the fan-out ``n``, the emulator's URL and
pid, the number of steady requests, the number of expiry events and the TOTP step the
worker's clock starts at.

Phases, in order: log in and warm the connections; ``storms`` relogin storms (the
emulator expires every session, then ``n`` callers call ``positions()`` at once); one
steady fan-out (``n`` callers, each ``max(1, requests // n)`` calls one after another).

Every exception a caller gets is recorded by type (``errors``: count and the first message,
with its cause), so a failed row explains itself. Each storm also records what the emulator
counted for it (login requests, sessions issued, refusals) and, for the aioneo clients and
the seed and naive baselines, what the client's own counters saw (``client_stats``).

Client CPU is ``resource.getrusage(RUSAGE_SELF)`` (user + system, every thread of this
process) around the steady phase; the emulator's CPU is read from ``/proc/<pid>/stat``
around the same phase. Peak memory is ``ru_maxrss`` at the end; ``rss_start_kib`` is the
resident size after imports and the first login, before any fan-out.
"""

from __future__ import annotations

import asyncio
import dataclasses
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
COROUTINE_CLIENTS = ("aioneo-async", "aioneo-async-aiohttp", "httpx-async")
THREAD_CLIENTS = ("aioneo-sync", "aioneo-sync-wide", "httpx-sync", "seed", "naive", "sdk")
#: Connections on the wire per client: aioneo's default, the baselines' and httpx's default.
WIRE_CONNECTIONS = {
    "aioneo-async": 10,
    "aioneo-async-aiohttp": 10,
    "aioneo-sync": 10,
    "aioneo-sync-wide": 0,  # max_connections=N
    "httpx-async": 100,
    "httpx-sync": 100,
    "seed": 100,
    "naive": 100,
    "sdk": 100,
}


#: The emulator's counters a storm records (deltas): ``login_attempts`` (tradeApiLogin
#: requests, any outcome: the "logins" of the tables), ``logins`` (sessions issued),
#: ``login_failures`` (refused by its checks), ``totp_replays_rejected``, ``internal_errors``.
EMULATOR_COUNTERS = (
    "login_attempts",
    "logins",
    "login_failures",
    "totp_replays_rejected",
    "internal_errors",
)


class Errors:
    """The exceptions callers got, by type: how many, and the first message of each.

    Thread-safe. ``as_list()`` is what the results carry: ``[{"type", "count",
    "example"}]``, most frequent first. The example names the cause too (``raise ... from``),
    because a login failure's message alone may not say what broke on the wire.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_type: dict[str, list[Any]] = {}
        self.count = 0

    def add(self, exc: BaseException) -> None:
        name = type_name(exc)
        with self._lock:
            self.count += 1
            entry = self._by_type.get(name)
            if entry is None:
                self._by_type[name] = [1, describe(exc)]
            else:
                entry[0] += 1

    def as_list(self) -> list[dict[str, Any]]:
        with self._lock:
            items = sorted(self._by_type.items(), key=lambda kv: (-kv[1][0], kv[0]))
            return [{"type": k, "count": v[0], "example": v[1]} for k, v in items]


def type_name(exc: BaseException) -> str:
    """``aioneo.TransientLoginError``, ``httpx.ReadTimeout``, ``RuntimeError``."""
    kind = type(exc)
    package = kind.__module__.split(".")[0]
    return kind.__qualname__ if package == "builtins" else f"{package}.{kind.__qualname__}"


def describe(exc: BaseException, limit: int = 300) -> str:
    """One line: the message, then its causes (``from``) with their types."""
    parts, seen = [], 0
    current: BaseException | None = exc
    while current is not None and seen < 3:
        text = " ".join(str(current).split()) or repr(current)
        parts.append(text if current is exc else f"{type_name(current)}: {text}")
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
        seen += 1
    line = " <- caused by ".join(parts)
    return line if len(line) <= limit else line[: limit - 3] + "..."


def counter_delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {key: after[key] - before.get(key, 0) for key in after}


def aioneo_stats(client: AsyncNeoClient | NeoClient) -> dict[str, int]:
    return dict(dataclasses.asdict(client.stats))


class Control:
    """The emulator's control API, over a connection of its own (not measured)."""

    def __init__(self, url: str, pid: int) -> None:
        self._http = httpx.Client(base_url=url + "/__emulator", timeout=30)
        self.pid = pid

    def expire(self) -> None:
        self._http.post("/sessions/expire", json={}).raise_for_status()

    def counters(self) -> dict[str, int]:
        """The emulator's login counters (``Emulator.counters``), for one storm's delta."""
        response = self._http.get("/counters")
        response.raise_for_status()
        data = response.json()
        return {key: int(data.get(key, 0)) for key in EMULATOR_COUNTERS}

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
) -> tuple[list[float], Errors]:
    latencies: list[float] = []
    errors = Errors()

    async def caller() -> None:
        for _ in range(per_caller):
            started = time.perf_counter()
            try:
                await call()
            except Exception as exc:
                errors.add(exc)
            latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(caller() for _ in range(n)))
    return latencies, errors


async def run_async(spec: dict[str, Any]) -> dict[str, Any]:
    n, name = spec["n"], spec["client"]
    clock = StepClock(steps_ahead=spec["step"])
    control = Control(spec["url"], spec["emulator_pid"])
    creds = credentials_of(spec)
    backend = "aiohttp" if name == "aioneo-async-aiohttp" else "httpx"
    neo = AsyncNeoClient(
        creds, login_url=spec["url"], rate_limit=None, clock=clock, http_backend=backend
    )
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
            before, stats_before = control.counters(), aioneo_stats(neo)
            control.expire()
            started = time.perf_counter()
            if name == "httpx-async":
                # No auth logic: the floor is one login and then n requests, uncoordinated.
                await neo.login()
                target["url"], target["headers"] = bare_request(spec, *session_of(neo))
            latencies, errors = await fan_out_async(call, n, 1)
            seconds = time.perf_counter() - started
            emulator = counter_delta(control.counters(), before)
            stats = counter_delta(aioneo_stats(neo), stats_before) if name != "httpx-async" else {}
            storms.append(storm_result(n, emulator, errors, seconds, latencies, stats))

        per_caller = max(1, spec["requests"] // n)
        steady = await measure_async(control, lambda: fan_out_async(call, n, per_caller))
        if bare is not None:
            await bare.aclose()
    return {"rss_start_kib": rss_start, "storms": storms, "steady": steady}


async def measure_async(
    control: Control, body: Callable[[], Awaitable[tuple[list[float], Errors]]]
) -> dict[str, Any]:
    cpu0, emu0, t0 = cpu_self(), control.cpu(), time.perf_counter()
    latencies, errors = await body()
    wall = time.perf_counter() - t0
    return steady_result(latencies, errors, wall, cpu_self() - cpu0, control.cpu() - emu0)


# -- thread fan-out --------------------------------------------------------------------------


def fan_out_threads(
    call: Callable[[], object], n: int, per_caller: int, before_release: Callable[[], None]
) -> tuple[list[float], Errors, float]:
    """Start ``n`` threads, let them wait at a barrier, run ``before_release``, release
    them; returns latencies, errors and the seconds from release to the last return."""
    latencies: list[float] = []
    errors = Errors()
    lock = threading.Lock()
    barrier = threading.Barrier(n + 1)

    def caller() -> None:
        mine: list[float] = []
        barrier.wait()
        for _ in range(per_caller):
            started = time.perf_counter()
            try:
                call()
            except Exception as exc:
                errors.add(exc)
            mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=caller, daemon=True) for _ in range(n)]
    for thread in threads:
        thread.start()
    before_release()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    return latencies, errors, time.perf_counter() - started


def no_stats() -> dict[str, int]:
    return {}


def make_thread_client(
    spec: dict[str, Any], clock: StepClock
) -> tuple[
    Callable[[], object], Callable[[], None], Callable[[], None], Callable[[], dict[str, int]]
]:
    """(call, relogin_for_floor, close, client_counters) for a thread-based client."""
    name = spec["client"]
    creds = credentials_of(spec)
    url = spec["url"]
    if name in ("aioneo-sync", "aioneo-sync-wide", "httpx-sync"):
        wide = {"max_connections": spec["n"]} if name == "aioneo-sync-wide" else {}
        neo = NeoClient(creds, login_url=url, rate_limit=None, clock=clock, **wide)
        neo.login()
        if name != "httpx-sync":
            return neo.positions, lambda: None, neo.close, lambda: aioneo_stats(neo)
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

        return bare_call, relogin, close, no_stats
    if name in ("seed", "naive"):
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from baselines import NaiveClient, SeedClient

        cls = SeedClient if name == "seed" else NaiveClient
        client = cls(creds, login_url=url, clock=clock)
        client.login()
        return client.positions, lambda: None, client.close, client.stats.snapshot
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

        return sdk_call, lambda: None, api.api_client.rest_client.close, no_stats
    raise ValueError(f"unknown thread client {name!r}")


def run_threads(spec: dict[str, Any]) -> dict[str, Any]:
    n, name = spec["n"], spec["client"]
    clock = StepClock(steps_ahead=spec["step"])
    control = Control(spec["url"], spec["emulator_pid"])
    call, relogin, close, client_stats = make_thread_client(spec, clock)
    try:
        fan_out_threads(call, min(n, 10), 1, lambda: None)  # warm the connections
        rss_start = rss_kib()
        storms = []
        for _ in range(spec["storms"]):
            clock.next_step()
            before, stats_before = control.counters(), client_stats()
            if name == "httpx-sync":
                control.expire()
                started = time.perf_counter()
                relogin()  # no auth logic: one login, then n requests, uncoordinated
                latencies, errors, seconds = fan_out_threads(call, n, 1, lambda: None)
                seconds = time.perf_counter() - started
            else:
                latencies, errors, seconds = fan_out_threads(call, n, 1, control.expire)
            emulator = counter_delta(control.counters(), before)
            stats = counter_delta(client_stats(), stats_before)
            storms.append(storm_result(n, emulator, errors, seconds, latencies, stats))
        if name == "sdk":  # it never logs in again by itself: log it in for the steady phase
            close()
            clock.next_step()
            call, relogin, close, client_stats = make_thread_client(spec, clock)
            fan_out_threads(call, min(n, 10), 1, lambda: None)
        elif name in ("seed", "naive") and storms and storms[-1]["failed"]:
            # A storm can leave these without a working session; start the steady phase
            # from a fresh login, as their programs would after a restart.
            close()
            clock.next_step()
            call, relogin, close, client_stats = make_thread_client(spec, clock)
        per_caller = max(1, spec["requests"] // n)
        cpu0, emu0 = cpu_self(), control.cpu()
        latencies, errors, wall = fan_out_threads(call, n, per_caller, lambda: None)
        steady = steady_result(latencies, errors, wall, cpu_self() - cpu0, control.cpu() - emu0)
    finally:
        close()
    return {"rss_start_kib": rss_start, "storms": storms, "steady": steady}


# -- results ---------------------------------------------------------------------------------


def storm_result(
    n: int,
    emulator: dict[str, int],
    errors: Errors,
    seconds: float,
    latencies: list[float],
    client_stats: dict[str, int],
) -> dict[str, Any]:
    """One expiry event. ``logins``: the login requests the emulator saw for it."""
    return {
        "callers": n,
        "logins": emulator["login_attempts"],
        "succeeded": n - errors.count,
        "failed": errors.count,
        "errors": errors.as_list(),
        "seconds": seconds,
        "p50": percentile(latencies, 0.5),
        "p99": percentile(latencies, 0.99),
        "emulator": emulator,
        "client_stats": client_stats,
    }


def steady_result(
    latencies: list[float], errors: Errors, wall: float, cpu: float, emulator_cpu: float
) -> dict[str, Any]:
    count = len(latencies)
    return {
        "requests": count,
        "failed": errors.count,
        "errors": errors.as_list(),
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
