"""Instruments: cold load, warm lookups and ``search_scrip`` against the official SDK.

::

    python benchmarks/instruments.py            # the figures (about a minute on 2 cores)
    python benchmarks/instruments.py --quick    # fewer repetitions (CI, a smoke check)
    python benchmarks/instruments.py --json     # also one JSON document on stdout

One run, one file: the emulator's ``nse_fo`` scrip master (over 100,000 rows, about 21 MiB,
Kotak's 78-column header), served on loopback by an emulator in its own process (so its
CPU is not counted), with no latency and no rate limit.

* **cold load**: a fresh process logs in, then calls ``instruments("nse_fo")`` with an
  empty cache directory: file-paths call, streamed download, parse, index. Figures: CPU
  seconds of that call (``getrusage`` user + system, every thread of the process: the
  parse runs in a worker thread) and the peak RSS it added (``ru_maxrss`` after, minus the
  RSS before). Medians of ``--repeat`` fresh processes.
* **warm disk load**: the same in a fresh process whose cache directory holds the day's
  file already (parse + index, no download, no login).
* **exact lookup**: ``table.get(trading_symbol)`` and ``table.by_token(token)`` over every
  instrument of the table, in µs per call.
* **ranked search**: ``table.search(text)`` for a few texts, µs per call, and
  ``search("ITC")`` on the ``nse_cm`` file (ITC-EQ must come first).
* **search_scrip**: aioneo's ``search_scrip("nse_fo", "NIFTY", expiry, "CE", strikes)``
  on the warm client, against the SDK's ``NeoAPI.search_scrip`` with the same arguments on
  the same file, which the SDK reads from its own day cache (``NEO_SCRIP_CACHE_DIR``, the
  file put there first, so the SDK makes no request) and re-parses with pandas per call.

Targets (issue 13): cold load ≤ 2 s CPU and ≤ 150 MiB RSS added; exact lookup ≤ 20 µs;
warm ``search_scrip`` ≥ 100x the SDK's. Each is printed as met or missed; the exit status
is 1 when one is missed. Results are also written to ``benchmarks/results/instruments.md``
(``--out DIR`` to change).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

ctx = multiprocessing.get_context("spawn")
SEGMENT = "nse_fo"


def _serve(queue: Any, stop: Any) -> None:
    from aioneo.testing import Emulator, EmulatorConfig, EmulatorServer

    emulator = Emulator(EmulatorConfig(rate_limit=None, totp_replay_rejection=False))
    with EmulatorServer(emulator) as server:
        queue.put({"url": server.url, "credentials": emulator.credentials.as_dict()})
        stop.wait()


def _rss_now() -> int:
    """Resident set size now, bytes (Linux ``/proc``; else the peak so far)."""
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _load(url: str, credentials: dict[str, str], cache: str, login: bool, queue: Any) -> None:
    """One fresh process: (optionally) log in, then time one instruments() call."""
    try:
        from aioneo import Credentials, NeoClient

        with NeoClient(Credentials(**credentials), login_url=url, rate_limit=None) as neo:
            if login:
                neo.login()
            rss0, cpu0 = _rss_now(), _cpu()
            wall0 = time.perf_counter()
            table = neo.instruments(SEGMENT, cache_dir=cache)
            wall = time.perf_counter() - wall0
            cpu = _cpu() - cpu0
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        queue.put({"cpu": cpu, "wall": wall, "rss_added": peak - rss0, "rows": len(table)})
    except BaseException as exc:  # reported to the parent
        queue.put({"error": repr(exc)})


def _fresh(url: str, credentials: dict[str, str], cache: str, *, login: bool) -> dict[str, Any]:
    queue = ctx.Queue()
    process = ctx.Process(target=_load, args=(url, credentials, cache, login, queue))
    process.start()
    result: dict[str, Any] = queue.get(timeout=300)
    process.join(30)
    if "error" in result:
        raise RuntimeError(f"the load process failed: {result['error']}")
    return result


def _per_call_us(call: Any, items: list[Any], rounds: int) -> float:
    start = time.perf_counter_ns()
    for _ in range(rounds):
        for item in items:
            call(item)
    return (time.perf_counter_ns() - start) / 1_000 / (rounds * len(items))


def _median(values: list[float]) -> float:
    return statistics.median(values)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--repeat", type=int, default=None, help="fresh processes per load")
    parser.add_argument("--json", action="store_true", help="print the results as JSON too")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args(argv)
    os.environ.setdefault("NEO_LOG_FILE_ENABLED", "false")
    repeat = args.repeat or (1 if args.quick else 3)
    sdk_calls = 1 if args.quick else 3

    queue, stop = ctx.Queue(), ctx.Event()
    server = ctx.Process(target=_serve, args=(queue, stop), daemon=True)
    server.start()
    info = queue.get(timeout=60)
    url, credentials = info["url"], info["credentials"]
    work = Path(tempfile.mkdtemp(prefix="aioneo-bench-instruments-"))
    try:
        from aioneo import Credentials, NeoClient

        # The emulator generates a day's file once; ask for it before measuring.
        with NeoClient(Credentials(**credentials), login_url=url, rate_limit=None) as warm:
            warm.instruments(SEGMENT, cache_dir=work / "prime")
        print("cold load (fresh processes)...", file=sys.stderr)
        cold = []
        for n in range(repeat):
            cold.append(_fresh(url, credentials, str(work / f"cold{n}"), login=True))
        print("warm disk load (fresh processes)...", file=sys.stderr)
        disk = [_fresh(url, credentials, str(work / "prime"), login=False) for _ in range(repeat)]

        with NeoClient(Credentials(**credentials), login_url=url, rate_limit=None) as neo:
            table = neo.instruments(SEGMENT, cache_dir=work / "prime")
            symbols = [i.trading_symbol for i in table]
            tokens = [i.token for i in table]
            rounds = 1 if args.quick else 5
            get_us = _per_call_us(table.get, symbols, rounds)
            token_us = _per_call_us(table.by_token, tokens, rounds)
            texts = ["NIFTY", "BANKNIFTY27JANFUT", table.instruments[-1].trading_symbol[:6], "NXT"]
            search_us = {
                t: _per_call_us(table.search, [t], 20 if args.quick else 200) for t in texts
            }
            cash = neo.instruments("nse_cm", cache_dir=work / "prime")
            itc_first = cash.search("ITC")[0].trading_symbol == "ITC-EQ"
            cash_us = _per_call_us(cash.search, ["ITC"], 20 if args.quick else 200)
            expiry = table.expiries("NIFTY", kind="options")[0]
            sdk_expiry = expiry.strftime("%d%b%Y").upper()
            kwargs = {
                "symbol": "NIFTY",
                "expiry": sdk_expiry,
                "option_type": "CE",
                "strike_price": "24000-25000",
            }
            ours = neo.search_scrip(SEGMENT, **kwargs)
            ours_us = _per_call_us(lambda _: neo.search_scrip(SEGMENT, **kwargs), [0], 50)
            source = Path(work / "prime" / f"{SEGMENT}_{table.source_date}.csv")

        sdk_dir = work / "sdk"
        sdk_dir.mkdir()
        shutil.copy(source, sdk_dir / f"{SEGMENT}_{date.today().isoformat()}.csv")
        os.environ["NEO_SCRIP_CACHE_DIR"] = str(sdk_dir)
        from neo_api_client import NeoAPI

        sdk = NeoAPI(consumer_key=credentials["consumer_key"], environment="prod")
        print(f"SDK search_scrip x{sdk_calls}...", file=sys.stderr)
        sdk_times = []
        theirs: Any = None
        for _ in range(sdk_calls):
            start = time.perf_counter()
            theirs = sdk.search_scrip(SEGMENT, **kwargs)
            sdk_times.append(time.perf_counter() - start)
        if not isinstance(theirs, list):
            raise RuntimeError(f"the SDK's search_scrip failed: {theirs!r}")
        same = sorted(r["pTrdSymbol"] for r in theirs) == sorted(i.trading_symbol for i in ours)
    finally:
        stop.set()
        server.join(10)
        shutil.rmtree(work, ignore_errors=True)

    cold_cpu = _median([c["cpu"] for c in cold])
    cold_rss = _median([c["rss_added"] for c in cold]) / 2**20
    sdk_us = _median(sdk_times) * 1e6
    speedup = sdk_us / ours_us
    results = {
        "rows": cold[0]["rows"],
        "cold_load_cpu_s": round(cold_cpu, 3),
        "cold_load_wall_s": round(_median([c["wall"] for c in cold]), 3),
        "cold_load_rss_added_mib": round(cold_rss, 1),
        "disk_load_cpu_s": round(_median([d["cpu"] for d in disk]), 3),
        "disk_load_rss_added_mib": round(_median([d["rss_added"] for d in disk]) / 2**20, 1),
        "get_us": round(get_us, 3),
        "by_token_us": round(token_us, 3),
        "search_us": {k: round(v, 1) for k, v in search_us.items()},
        "nse_cm_search_itc_us": round(cash_us, 1),
        "nse_cm_itc_eq_first": itc_first,
        "search_scrip_us": round(ours_us, 1),
        "sdk_search_scrip_us": round(sdk_us, 0),
        "search_scrip_speedup": round(speedup, 0),
        "search_scrip_rows": len(ours),
        "same_rows_as_sdk": same,
        "repeat": repeat,
        "quick": args.quick,
    }
    targets = [
        ("cold load CPU <= 2 s", cold_cpu <= 2.0, f"{cold_cpu:.2f} s"),
        ("cold load RSS added <= 150 MiB", cold_rss <= 150, f"{cold_rss:.0f} MiB"),
        ("exact lookup <= 20 us", max(get_us, token_us) <= 20, f"{max(get_us, token_us):.2f} us"),
        ("search_scrip >= 100x the SDK", speedup >= 100, f"{speedup:,.0f}x"),
    ]
    lines = [
        f"# Instruments benchmark ({'quick' if args.quick else 'full'} run)",
        "",
        f"`python benchmarks/instruments.py{' --quick' if args.quick else ''}`: emulator "
        f"`{SEGMENT}` file, {results['rows']:,} rows; medians of {repeat} fresh process(es).",
        "",
        "| measure | aioneo | official SDK 3.0.9 |",
        "| --- | ---: | ---: |",
        f"| cold load: login done, then download + parse + index, CPU | {cold_cpu:.2f} s | - |",
        f"| cold load, wall | {results['cold_load_wall_s']:.2f} s | - |",
        f"| cold load, peak RSS added | {cold_rss:.0f} MiB | - |",
        f"| warm disk load (parse + index), CPU | {results['disk_load_cpu_s']:.2f} s | - |",
        f"| exact lookup `get(trading_symbol)` | {get_us:.2f} µs | - |",
        f"| exact lookup `by_token(token)` | {token_us:.2f} µs | - |",
    ]
    for text, us in search_us.items():
        lines.append(f"| ranked `search({text!r})` | {us:,.1f} µs | - |")
    lines.append(
        f"| nse_cm ({len(cash):,} rows) ranked `search('ITC')`, ITC-EQ first: "
        f"{'yes' if itc_first else 'NO'} | {cash_us:,.1f} µs | - |"
    )
    lines += [
        f"| `search_scrip` NIFTY CE one expiry 24000-25000 ({len(ours)} rows, same rows: "
        f"{'yes' if same else 'NO'}) | {ours_us:,.1f} µs | {sdk_us / 1e6:.2f} s |",
        f"| `search_scrip` speed-up | {speedup:,.0f}x | 1x |",
        "",
        "| target | result | |",
        "| --- | ---: | --- |",
        *(f"| {name} | {value} | {'met' if ok else 'MISSED'} |" for name, ok, value in targets),
        "",
    ]
    report = "\n".join(lines)
    print(report)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = "instruments-quick" if args.quick else "instruments"
    (out / f"{name}.md").write_text(report, encoding="utf-8")
    (out / f"{name}.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    if args.json:
        print(json.dumps(results, indent=2))
    return 0 if all(ok for _, ok, _ in targets) and same and itc_first else 1


if __name__ == "__main__":
    sys.exit(main())
