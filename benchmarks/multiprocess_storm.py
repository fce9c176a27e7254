"""Multi-process relogin storm: logins per expiry event with a shared session store.

``--processes`` spawned processes, each with one ``AsyncNeoClient`` and ``--coroutines``
concurrent ``positions()`` calls per round, share one loopback emulator and one session
store. Before every round but the first, the emulator expires every session (the expiry
event) and all processes fire at once. Figures per event: logins the emulator issued,
TOTP codes it refused as replays, calls that succeeded, and the time from the start
signal until the last process had every answer.

Stores: ``file`` (``FileSessionStore`` in a temporary directory), ``redis``
(``RedisSessionStore``; ``--redis-url``, default ``redis://127.0.0.1:6379/0``), or
``none`` (each process keeps a private store: the uncoordinated baseline; the emulator
then accepts a reused TOTP step, or the processes would refuse each other's codes).

The emulator runs in this process (uvicorn in a thread) with Kotak's documented login
latency (login 370 ms, validate 130 ms) and ``--latency`` seconds on every other answer.
Every process reads the same clock (real time plus an offset in shared memory), and the
offset jumps to the next 30 s TOTP step before each event, so nobody waits for a fresh
step. How to run::

    python benchmarks/multiprocess_storm.py                       # 8 x 50, file, 5 events
    python benchmarks/multiprocess_storm.py --store redis --processes 16 --coroutines 100
    python benchmarks/multiprocess_storm.py --store none           # the baseline

It prints one line per event, a summary, and with ``--json`` the figures as one JSON
object. Exit status 1 when a shared store needed other than one login for an event or
a call failed.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import multiprocessing
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

if importlib.util.find_spec("aioneo") is None:  # a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aioneo import (
    AsyncNeoClient,
    Credentials,
    FileSessionStore,
    RedisSessionStore,
    SessionStore,
)
from aioneo.testing import ENDPOINTS, Emulator, EmulatorConfig, EmulatorServer

STEP = 30
BARRIER_TIMEOUT = 120.0
ctx = multiprocessing.get_context("spawn")


def make_store(spec: tuple[str, ...]) -> SessionStore | None:
    if spec[0] == "file":
        return FileSessionStore(spec[1])
    if spec[0] == "redis":
        return RedisSessionStore(spec[1], key=spec[2])
    return None


def worker(
    index: int,
    login_url: str,
    credentials: dict[str, str],
    store: tuple[str, ...],
    coroutines: int,
    rounds: int,
    offset: Any,
    barrier: Any,
    results: Any,
) -> None:
    """One process: ``rounds`` x (barrier, ``coroutines`` concurrent calls, barrier)."""

    def clock() -> float:
        return time.time() + offset.value

    async def main() -> dict[str, Any]:
        failed: list[str] = []
        async with AsyncNeoClient(
            Credentials(**credentials),
            login_url=login_url,
            rate_limit=None,
            clock=clock,
            session_store=make_store(store),
            refresh_ahead=None,
        ) as client:
            for _ in range(rounds):
                await asyncio.to_thread(barrier.wait, BARRIER_TIMEOUT)
                answers = await asyncio.gather(
                    *(client.positions() for _ in range(coroutines)), return_exceptions=True
                )
                failed += [repr(a) for a in answers if isinstance(a, BaseException)]
                await asyncio.to_thread(barrier.wait, BARRIER_TIMEOUT)
            stats = client.stats
        return {
            "index": index,
            "failed": failed,
            "logins": stats.logins,
            "adopted": stats.adopted,
            "login_failures": stats.login_failures,
        }

    try:
        report = asyncio.run(main())
    except BaseException as exc:
        report = {"index": index, "crashed": repr(exc)}
    results.put(report)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--coroutines", type=int, default=50, help="concurrent calls each")
    parser.add_argument("--events", type=int, default=5, help="expiry events")
    parser.add_argument("--store", choices=("file", "redis", "none"), default="file")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--latency", type=float, default=0.02, help="seconds per request")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args()

    offset = ctx.RawValue("d", 0.0)

    def clock() -> float:
        return time.time() + offset.value

    def next_step() -> None:
        now = clock()
        offset.value += (int(now // STEP) + 1) * STEP + 5.0 - now

    next_step()
    latency = {**dict.fromkeys(ENDPOINTS, args.latency), "login": 0.37, "validate": 0.13}
    config = EmulatorConfig(
        rate_limit=None,
        latency=latency,
        session_ttl=7200.0,
        max_recorded=0,
        totp_replay_rejection=args.store != "none",
    )
    emulator = Emulator(config, clock=clock)
    tmp = tempfile.TemporaryDirectory()
    store: tuple[str, ...] = {
        "file": ("file", os.path.join(tmp.name, "session.json")),
        "redis": ("redis", args.redis_url, f"aioneo-bench:{uuid.uuid4().hex}"),
        "none": ("none",),
    }[args.store]
    rounds = 1 + args.events
    events: list[dict[str, Any]] = []
    with tmp, EmulatorServer(emulator) as server:
        barrier = ctx.Barrier(args.processes + 1)
        results = ctx.Queue()
        creds = emulator.credentials.as_dict()
        processes = [
            ctx.Process(
                target=worker,
                args=(
                    i,
                    server.url,
                    creds,
                    store,
                    args.coroutines,
                    rounds,
                    offset,
                    barrier,
                    results,
                ),
            )
            for i in range(args.processes)
        ]
        for process in processes:
            process.start()
        try:
            for round_ in range(rounds):
                if round_:
                    emulator.expire_sessions()
                    next_step()
                before = emulator.counters
                barrier.wait(BARRIER_TIMEOUT)
                started = time.perf_counter()
                barrier.wait(BARRIER_TIMEOUT)
                elapsed = time.perf_counter() - started
                after = emulator.counters
                if round_:
                    events.append(
                        {
                            "event": round_,
                            "logins": after.logins - before.logins,
                            "totp_replays_rejected": after.totp_replays_rejected
                            - before.totp_replays_rejected,
                            "recovery_s": round(elapsed, 3),
                        }
                    )
                    print(
                        f"event {round_}: {events[-1]['logins']} login(s), "
                        f"{events[-1]['totp_replays_rejected']} TOTP replay(s) refused, "
                        f"all {args.processes * args.coroutines} calls answered in "
                        f"{elapsed:.2f} s",
                        flush=True,
                    )
            reports = [results.get(timeout=BARRIER_TIMEOUT) for _ in processes]
        finally:
            for process in processes:
                process.join(10)
                if process.is_alive():
                    process.kill()
    crashed = [r for r in reports if "crashed" in r]
    failed = sum(len(r.get("failed", ())) for r in reports)
    logins = [e["logins"] for e in events]
    summary = {
        "store": args.store,
        "processes": args.processes,
        "coroutines": args.coroutines,
        "events": args.events,
        "latency_s": args.latency,
        "logins_per_event": logins,
        "mean_logins_per_event": statistics.fmean(logins) if logins else None,
        "totp_replays_rejected": sum(e["totp_replays_rejected"] for e in events),
        "failed_calls": failed,
        "crashed_processes": len(crashed),
        "recovery_s": [e["recovery_s"] for e in events],
        "adopted": sum(r.get("adopted", 0) for r in reports),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    print(
        f"{args.processes} processes x {args.coroutines} coroutines, store={args.store}: "
        f"logins per expiry event {logins} (mean {summary['mean_logins_per_event']}), "
        f"failed calls {failed}, median recovery "
        f"{statistics.median(summary['recovery_s']) if events else 0:.2f} s"
    )
    if args.json:
        print(json.dumps(summary))
    ok = not crashed and failed == 0 and (args.store == "none" or set(logins) <= {1})
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
