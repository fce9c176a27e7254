"""End-to-end feed benchmarks (issue 12): emulator -> socket -> client -> consumer.

    python benchmarks/feeds_e2e.py            # every part, about 4 minutes on 2 cores
    python benchmarks/feeds_e2e.py --quick    # a smoke run (short bursts, 5 s slow part)
    python benchmarks/feeds_e2e.py --json     # the results as JSON on stdout as well

The emulator runs in a child process (its CPU is not the client's); the clients run in this
process, one after the other, on the same emulator, instrument and frames:

* ``aioneo``: ``AsyncNeoClient.market_feed()``, ``async for`` over the items, reading
  ``item.ltp`` of every tick (capacity above the burst: nothing conflated, every tick
  delivered);
* ``SDK``: the official SDK's ``SFeedWebSocket`` (``NeoAPI.create_websocket()``), ``async
  for`` over its messages, reading ``last_traded_price``.

Parts, each printed with met / missed:

1. **throughput**: ``--packets`` touch-line packets of one instrument pushed by the
   emulator's burst (as fast as the socket takes them, 50 to a frame); ticks/s from the
   burst request to the last tick consumed, and this process's CPU time per 1,000 ticks
   (``time.process_time``). Target: aioneo >= 2x the SDK's ticks/s at <= 0.5x its CPU per
   tick.
2. **latency**: ``--samples`` ticks stamped in the emulator process: a thread there sets a
   distinct price, notes ``time.time()`` and runs one ticker step (the packet is queued to
   the socket's writer at once); the consumer notes ``time.time()`` when the tick with that
   price arrives. One machine, one clock: p50 / p99 of the difference. Reported, no target.
3. **slow consumer**: for ``--slow-seconds`` (60), a consumer 10x slower than the feed
   (it sleeps 10 / feed rate seconds per item, the feed rate measured first over 2 s), each
   client in a fresh child process; RSS growth from the first tick to the end (VmRSS).
   Target: aioneo <= 10 MiB (the SDK's unbounded queue is shown next to it).
4. **recovery**: an expiry that closes the feed (1008) with 500 REST coroutines in flight,
   emulator latency Kotak's login 367 ms + validate 134 ms, 20 ms for the rest, 10 ticks/s.
   The expiry comes in a later 30 s TOTP step than the first login (the part waits for the
   next step first): the client never reuses a step, and a session ends hours after its
   login in real life, so the relogin is not made to wait for a fresh step.
   Logins (target 1) and the time from the expiry to the first tick of the new connection,
   against 1.5 x (login + connect + one tick interval), each measured in the same run.

Exit status 0 when every target is met, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("NEO_LOG_FILE_ENABLED", "false")

TOKEN = "11536"
INSTRUMENT = f"nse_cm|{TOKEN}"
SLOW_INSTRUMENTS = [
    "2885",
    "11536",
    "1594",
    "3045",
    "1333",
    "4963",
    "5900",
    "1660",
    "11915",
    "19084",
]
LAT_BASE = Decimal("3400.00")
LAT_STEP = Decimal("0.05")


# ----------------------------------------------------------------------- the emulator


def serve(tick_rate: float, latency: str) -> None:
    """The child: an emulator on loopback; stdin takes commands (``lat N interval``)."""
    from aioneo._demo import DEMO_LATENCY
    from aioneo.testing import Emulator, EmulatorConfig, EmulatorServer

    config = EmulatorConfig(
        rate_limit=None,
        tick_rate=tick_rate,
        totp_replay_rejection=False,
        latency=DEMO_LATENCY if latency == "kotak" else {},
        session_ttl=8 * 3600.0,
    )
    emulator = Emulator(config)
    server = EmulatorServer(emulator).start()
    print(json.dumps({"url": server.url, **emulator.credentials.as_dict()}), flush=True)
    for line in sys.stdin:
        words = line.split()
        if words and words[0] == "lat":
            count, interval = int(words[1]), float(words[2])
            sent: list[float] = []
            for i in range(count):
                emulator.push_tick(INSTRUMENT, LAT_BASE + LAT_STEP * (i % 1500))
                sent.append(time.time())
                emulator.feeds.tick()
                time.sleep(interval)
            print(json.dumps(sent), flush=True)
        elif words and words[0] == "quit":
            break
    server.stop()


class Child:
    def __init__(self, *, tick_rate: float, latency: str = "none") -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(tick_rate), latency],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.info: dict[str, Any] = json.loads(self.proc.stdout.readline())
        self.url: str = self.info["url"]

    def command(self, text: str) -> Any:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def control(self, method: str, path: str, body: Any = None) -> Any:
        with httpx.Client(base_url=self.url, timeout=30) as http:
            answer = http.request(method, "/__emulator" + path, json=body)
            answer.raise_for_status()
            return answer.json()

    def close(self) -> None:
        if self.proc.stdin is not None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.close()
            except OSError:
                pass
        self.proc.wait(20)

    def __enter__(self) -> Child:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def credentials(child: Child) -> Any:
    from aioneo import Credentials

    fields = ("consumer_key", "mobile_number", "ucc", "mpin", "totp_secret")
    return Credentials(**{k: child.info[k] for k in fields})


def aioneo_client(child: Child) -> Any:
    from aioneo import AsyncNeoClient

    return AsyncNeoClient(
        credentials(child),
        login_url=child.url,
        config_url=child.url + "/5config/config",
        rate_limit=None,
        max_connections=20,
    )


def sdk_client(child: Child) -> Any:
    import pyotp
    from neo_api_client import NeoAPI

    from aioneo.testing import RoutingTransport

    info = child.info
    sdk = NeoAPI(
        consumer_key=info["consumer_key"], environment="prod", transport=RoutingTransport(child.url)
    )
    sdk.totp_login(
        mobile_number=info["mobile_number"],
        ucc=info["ucc"],
        totp=pyotp.TOTP(info["totp_secret"]).now(),
    )
    sdk.totp_validate(mpin=info["mpin"])
    return sdk


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


# ----------------------------------------------------------------------- 1. throughput


async def throughput_aioneo(child: Child, packets: int) -> dict[str, float]:
    from aioneo import Tick

    async with aioneo_client(child) as neo, neo.market_feed(capacity=packets * 2) as feed:
        await feed.subscribe([INSTRUMENT], mode="quote")
        async for item in feed:  # the subscribe snapshot: subscribed and live
            if isinstance(item, Tick):
                break
        count = 0
        cpu0, t0 = time.process_time(), time.perf_counter()
        await asyncio.to_thread(child.control, "POST", "/feeds/burst", _burst(packets))
        async for item in feed:
            if isinstance(item, Tick):
                item.ltp  # noqa: B018 - what a consumer reads
                count += 1
                if count >= packets:
                    break
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        conflated = feed.stats.conflated
    return {
        "ticks_per_s": count / elapsed,
        "cpu_ms_per_1000": cpu / count * 1e6,
        "conflated": float(conflated),
    }


def _burst(packets: int) -> dict[str, Any]:
    return {"segment": "nse_cm", "token": TOKEN, "packets": packets, "mode": "scrips"}


async def throughput_sdk(child: Child, packets: int) -> dict[str, float]:
    from neo_api_client.websocket.feed import WsToken

    sdk = await asyncio.to_thread(sdk_client, child)
    ws = sdk.create_websocket()
    async with ws:
        await ws.subscribe_scrips([WsToken("nse_cm", TOKEN)])
        async for msg in ws:
            if getattr(msg, "instrument_token", None) == TOKEN:
                break
        count = 0
        cpu0, t0 = time.process_time(), time.perf_counter()
        await asyncio.to_thread(child.control, "POST", "/feeds/burst", _burst(packets))
        async for msg in ws:
            if getattr(msg, "instrument_token", None) == TOKEN:
                msg.last_traded_price  # noqa: B018
                count += 1
                if count >= packets:
                    break
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    return {"ticks_per_s": count / elapsed, "cpu_ms_per_1000": cpu / count * 1e6}


# ----------------------------------------------------------------------- 2. latency


def _price_index(price: Decimal | float) -> int:
    return round((Decimal(str(price)) - LAT_BASE) / LAT_STEP)


async def latency(child: Child, client: str, samples: int) -> dict[str, float]:
    received: dict[int, float] = {}
    done = asyncio.Event()

    def seen(price: Any) -> None:
        i = _price_index(price)
        if 0 <= i < samples and i not in received:
            received[i] = time.time()
            if len(received) >= samples:
                done.set()

    async def run_driver() -> list[float]:
        sent: list[float] = await asyncio.to_thread(child.command, f"lat {samples} 0.01")
        return sent

    if client == "aioneo":
        from aioneo import Tick

        async with aioneo_client(child) as neo, neo.market_feed() as feed:
            await feed.subscribe([INSTRUMENT], mode="quote")
            async for item in feed:
                if isinstance(item, Tick):
                    break
            driver = asyncio.create_task(run_driver())

            async def consume() -> None:
                async for item in feed:
                    if isinstance(item, Tick):
                        seen(item.ltp)
                        if done.is_set():
                            return

            consumer = asyncio.create_task(consume())
            sent = await driver
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(consumer, 5)
    else:
        from neo_api_client.websocket.feed import WsToken

        sdk = await asyncio.to_thread(sdk_client, child)
        ws = sdk.create_websocket()
        async with ws:
            await ws.subscribe_scrips([WsToken("nse_cm", TOKEN)])
            async for msg in ws:
                if getattr(msg, "instrument_token", None) == TOKEN:
                    break
            driver = asyncio.create_task(run_driver())

            async def consume_sdk() -> None:
                async for msg in ws:
                    if getattr(msg, "instrument_token", None) == TOKEN:
                        seen(msg.last_traded_price)
                        if done.is_set():
                            return

            consumer = asyncio.create_task(consume_sdk())
            sent = await driver
            try:
                await asyncio.wait_for(consumer, 5)
            except TimeoutError:
                consumer.cancel()
    lat = sorted((received[i] - sent[i]) * 1000 for i in received)
    if not lat:
        return {"p50_ms": float("nan"), "p99_ms": float("nan"), "samples": 0.0}
    return {
        "p50_ms": statistics.median(lat),
        "p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))],
        "samples": float(len(lat)),
    }


# ----------------------------------------------------------------------- 3. slow consumer


def slow_child(client: str, url_info: str, seconds: float, capacity: int | None = None) -> None:
    """In a fresh process: measure the feed rate, then consume 10x slower; print RSS."""
    info = json.loads(url_info)

    class _C:
        pass

    child: Any = _C()
    child.info, child.url = info, info["url"]
    asyncio.run(_slow(child, client, seconds, capacity))


async def _slow(child: Any, client: str, seconds: float, capacity: int | None) -> None:
    tokens = SLOW_INSTRUMENTS
    if client == "aioneo":
        from aioneo import Tick

        options = {} if capacity is None else {"capacity": capacity}
        async with aioneo_client(child) as neo, neo.market_feed(**options) as feed:
            await feed.subscribe([f"nse_cm|{t}" for t in tokens], mode="quote")
            items = _aiter_ticks(feed, lambda i: isinstance(i, Tick))
            result = await _slow_loop(items, seconds)
            result["conflated"] = float(feed.stats.conflated)
            result["buffer_high_water"] = float(feed._core.buffer.high_water)
    else:
        from neo_api_client.websocket.feed import WsToken

        sdk = await asyncio.to_thread(sdk_client, child)
        ws = sdk.create_websocket()
        async with ws:
            await ws.subscribe_scrips([WsToken("nse_cm", t) for t in tokens])
            items = _aiter_ticks(ws, lambda m: getattr(m, "instrument_token", None) in tokens)
            result = await _slow_loop(items, seconds)
            result["queued"] = float(ws._message_queue.qsize())
    print(json.dumps(result), flush=True)


async def _aiter_ticks(source: Any, is_tick: Any) -> Any:
    async for item in source:
        if is_tick(item):
            yield item


async def _slow_loop(items: Any, seconds: float) -> dict[str, float]:
    first = await anext(items)
    del first
    t0 = time.perf_counter()
    n = 0
    while time.perf_counter() - t0 < 2.0:
        await anext(items)
        n += 1
    rate = n / (time.perf_counter() - t0)
    per_item = 10.0 / max(rate, 1.0)
    rss0 = rss_mib()
    t1 = time.perf_counter()
    consumed = 0
    while time.perf_counter() - t1 < seconds:
        await anext(items)
        consumed += 1
        await asyncio.sleep(per_item)
    return {
        "feed_rate": rate,
        "consumed_per_s": consumed / seconds,
        "rss_start_mib": rss0,
        "rss_growth_mib": rss_mib() - rss0,
    }


def slow(
    child: Child, client: str, seconds: float, capacity: int | None = None
) -> dict[str, float]:
    extra = [] if capacity is None else ["--capacity", str(capacity)]
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--slow-client",
            client,
            json.dumps(child.info),
            str(seconds),
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 120,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"slow consumer ({client}) failed: {out.stderr[-2000:]}")
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


# ----------------------------------------------------------------------- 4. recovery


async def recovery(child: Child, tick_interval: float) -> dict[str, float]:
    from aioneo import FeedEvent, Tick

    async with aioneo_client(child) as neo:
        t = time.perf_counter()
        info = await neo.login()
        login_s = time.perf_counter() - t
        await asyncio.gather(*(neo.positions() for _ in range(10)))  # connections warm
        t = time.perf_counter()
        async with neo.market_feed() as feed:
            await feed.subscribe([INSTRUMENT], mode="quote")
            connect_s = None
            async for item in feed:
                if isinstance(item, FeedEvent) and item.kind == "connected":
                    connect_s = time.perf_counter() - t
                if isinstance(item, Tick):
                    break
            assert connect_s is not None
            # The client never uses one 30 s TOTP step for two logins: an expiry within
            # the step of the first login would add a wait for the next one. A session
            # ends hours after its login in real life, so wait for the next step here.
            step_left = 30.0 - time.time() % 30.0
            await asyncio.sleep(step_left + 0.5)
            async for item in feed:  # what queued meanwhile
                if (
                    isinstance(item, Tick)
                    and feed._core.buffer.pushed
                    and not len(feed._core.buffer)
                ):
                    break
            logins_before = neo.stats.logins
            storm = [asyncio.create_task(neo.positions()) for _ in range(500)]
            await asyncio.sleep(0)  # the 500 calls are in flight
            t_expiry = time.perf_counter()
            await asyncio.to_thread(child.control, "POST", "/sessions/expire", {"ucc": None})
            epoch = info.epoch
            fresh_s = None
            async for item in feed:
                if isinstance(item, FeedEvent) and item.kind == "connected":
                    epoch = item.epoch or epoch
                elif isinstance(item, Tick) and epoch != info.epoch:
                    fresh_s = time.perf_counter() - t_expiry
                    break
            results = await asyncio.gather(*storm, return_exceptions=True)
            failures = sum(isinstance(r, BaseException) for r in results)
            logins = neo.stats.logins - logins_before
    assert fresh_s is not None
    return {
        "logins": float(logins),
        "rest_failures": float(failures),
        "login_s": login_s,
        "connect_s": connect_s,
        "tick_interval_s": tick_interval,
        "fresh_tick_s": fresh_s,
        "bound_s": 1.5 * (login_s + connect_s + tick_interval),
    }


# ----------------------------------------------------------------------- main


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--packets", type=int, default=200_000)
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--slow-seconds", type=float, default=60.0)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--parts", default="throughput,latency,slow,recovery")
    parser.add_argument("--serve", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--slow-client", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument(
        "--capacity",
        type=int,
        default=None,
        help="the slow part's aioneo buffer capacity (default: the feed's default, 10,000)",
    )
    args = parser.parse_args(argv)
    if args.serve:
        serve(float(args.serve[0]), args.serve[1])
        return 0
    if args.slow_client:
        slow_child(
            args.slow_client[0], args.slow_client[1], float(args.slow_client[2]), args.capacity
        )
        return 0
    if args.quick:
        args.packets, args.samples, args.slow_seconds = 20_000, 100, 5.0
    parts = set(args.parts.split(","))
    results: dict[str, Any] = {}
    ok = True
    if "throughput" in parts:
        with Child(tick_rate=0.0) as child:
            a = asyncio.run(throughput_aioneo(child, args.packets))
            s = asyncio.run(throughput_sdk(child, args.packets))
        speed, cpu = (
            a["ticks_per_s"] / s["ticks_per_s"],
            a["cpu_ms_per_1000"] / s["cpu_ms_per_1000"],
        )
        met = speed >= 2.0 and cpu <= 0.5
        ok &= met
        results["throughput"] = {"aioneo": a, "sdk": s, "speedup": speed, "cpu_ratio": cpu}
        print(
            f"throughput ({args.packets:,} touch-line ticks, one socket): aioneo "
            f"{a['ticks_per_s']:,.0f} ticks/s, {a['cpu_ms_per_1000']:.1f} ms CPU/1,000 ticks "
            f"(conflated {a['conflated']:.0f}); SDK {s['ticks_per_s']:,.0f} ticks/s, "
            f"{s['cpu_ms_per_1000']:.1f} ms CPU/1,000 ticks -> {speed:.2f}x ticks/s (target "
            f">= 2x), {cpu:.2f}x CPU per tick (target <= 0.5x): {verdict(met)}",
            flush=True,
        )
    if "latency" in parts:
        with Child(tick_rate=0.0) as child:
            la = asyncio.run(latency(child, "aioneo", args.samples))
            ls = asyncio.run(latency(child, "sdk", args.samples))
        results["latency"] = {"aioneo": la, "sdk": ls}
        print(
            f"latency (emulator send -> consumer, {args.samples} ticks at 100/s): aioneo p50 "
            f"{la['p50_ms']:.2f} ms, p99 {la['p99_ms']:.2f} ms ({la['samples']:.0f} seen); "
            f"SDK p50 {ls['p50_ms']:.2f} ms, p99 {ls['p99_ms']:.2f} ms ({ls['samples']:.0f} "
            "seen): reported, no target",
            flush=True,
        )
    if "slow" in parts:
        with Child(tick_rate=200.0) as child:
            sa = slow(child, "aioneo", args.slow_seconds, args.capacity)
            ss = slow(child, "sdk", args.slow_seconds) if args.capacity is None else None
        if ss is None:  # a capacity run: aioneo only
            print(
                f"slow consumer ({args.slow_seconds:g} s, capacity {args.capacity:,}): aioneo "
                f"RSS +{sa['rss_growth_mib']:.1f} MiB (conflated {sa['conflated']:,.0f}, "
                f"buffer high water {sa['buffer_high_water']:,.0f})",
                flush=True,
            )
            results["slow_consumer"] = {"aioneo": sa, "capacity": args.capacity}
            ss = {}
    if "slow" in parts and ss:
        met = sa["rss_growth_mib"] <= 10.0
        ok &= met
        results["slow_consumer"] = {"aioneo": sa, "sdk": ss}
        print(
            f"slow consumer ({args.slow_seconds:g} s, 10x slower than a feed of "
            f"{sa['feed_rate']:,.0f} ticks/s): aioneo RSS +{sa['rss_growth_mib']:.1f} MiB "
            f"(conflated {sa['conflated']:,.0f}, buffer high water "
            f"{sa['buffer_high_water']:,.0f}); SDK RSS +{ss['rss_growth_mib']:.1f} MiB "
            f"({ss['queued']:,.0f} messages queued) -> target aioneo <= 10 MiB: {verdict(met)}",
            flush=True,
        )
    if "recovery" in parts:
        with Child(tick_rate=10.0, latency="kotak") as child:
            r = asyncio.run(recovery(child, 0.1))
        met = r["logins"] == 1 and r["fresh_tick_s"] <= r["bound_s"] and r["rest_failures"] == 0
        ok &= met
        results["recovery"] = r
        print(
            f"recovery (expiry closes the feed, 500 REST coroutines in flight): logins "
            f"{r['logins']:.0f} (target 1), REST failures {r['rest_failures']:.0f}; first fresh "
            f"tick {r['fresh_tick_s']:.3f} s after the expiry vs 1.5 x (login "
            f"{r['login_s']:.3f} + connect {r['connect_s']:.3f} + tick interval "
            f"{r['tick_interval_s']:.3f}) = {r['bound_s']:.3f} s: {verdict(met)}",
            flush=True,
        )
    if args.json:
        print(json.dumps(results))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
