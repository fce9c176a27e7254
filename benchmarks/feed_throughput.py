"""How many market-data packets the emulator's feed can push on one core.

    python benchmarks/feed_throughput.py [--backend uvicorn|builtin] [--seconds 5]
        [--connections 4] [--instruments 40] [--mode scrips] [--quick]

The emulator runs in its own process (one event loop, so at most one core), with a tick
rate far above what it can send, so every ticker step (2 ms) moves every subscribed
instrument. This process opens ``--connections`` feed sockets, each subscribed to the
same ``--instruments`` instruments, and counts the packets that arrive (walking the
batch length prefixes, no decoding) for ``--seconds``. The server's CPU time over the
same window comes from ``/proc/<pid>/stat``.

Printed per run: packets/s received, the server's CPU use (100 % = one core) and packets
per server CPU second (the emulator's ceiling on this machine). Client feed benchmarks
(``benchmarks/feeds.py``) must stay well below that figure for the emulator not to be
what they measure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import struct
import subprocess
import sys
import time
from typing import Any

import httpx
from websockets.asyncio.client import connect

_U16 = struct.Struct("<H")
_TICKS = os.sysconf("SC_CLK_TCK")

# Liquid cash instruments and the first futures/options the emulator lists.
_CASH = ["2885", "11536", "1594", "3045", "1333", "4963", "5900", "1660", "11915", "19084"]


def _serve(backend: str) -> None:
    from aioneo.testing import Emulator, EmulatorConfig, EmulatorServer

    emulator = Emulator(EmulatorConfig(rate_limit=None, tick_rate=1_000.0))
    server = EmulatorServer(emulator, backend=backend)
    server.start()
    creds = emulator.credentials
    print(json.dumps({"url": server.url, **creds.as_dict()}), flush=True)
    sys.stdin.read()  # until the parent closes our stdin
    server.stop()


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


async def _login(url: str, info: dict[str, Any]) -> str:
    import pyotp

    async with httpx.AsyncClient(base_url=url) as http:
        headers = {"Authorization": info["consumer_key"], "neo-fin-key": "neotradeapi"}
        body = {
            "mobileNumber": info["mobile_number"],
            "ucc": info["ucc"],
            "totp": pyotp.TOTP(info["totp_secret"]).now(),
        }
        view = (await http.post("/login/1.0/tradeApiLogin", json=body, headers=headers)).json()
        data = view["data"]
        headers.update({"Auth": data["token"], "sid": data["sid"]})
        trade = await http.post(
            "/login/1.0/tradeApiValidate", json={"mpin": info["mpin"]}, headers=headers
        )
        sid: str = trade.json()["data"]["sid"]
        return sid


def _tokens(instruments: int) -> list[str]:
    """Cash instruments first, then the emulator's NIFTY/BANKNIFTY contracts (the same
    seed and day give the server the same universe)."""
    from aioneo.testing._trading_market import Market

    out = [f"nse_cm|{t}" for t in _CASH]
    if instruments > len(out):
        market = Market(seed=0)
        out += [f"nse_fo|{i.token}" for i in market.tradable_instruments("nse_fo", time.time())]
    return out[:instruments]


async def _reader(
    url: str, auth: str, tokens: list[str], mode: str, start: float, stop: float
) -> int:
    event = {
        "scrips": "subscribeScrips",
        "scrips_lite": "subscribeScripsLite",
        "depth": "subscribeDepth",
        "full_depth": "subscribeFullDepth",
    }[mode]
    count = 0
    async with connect(url, max_size=None, max_queue=None) as ws:
        await ws.send(auth)
        await ws.recv()
        await ws.send(json.dumps({"event": event, "inputtoken": ",".join(tokens)}))
        loop = asyncio.get_running_loop()
        while loop.time() < stop:
            try:
                frame = await asyncio.wait_for(ws.recv(), max(stop - loop.time(), 0.01))
            except TimeoutError:
                break
            if isinstance(frame, bytes) and loop.time() >= start:
                offset, n = 0, len(frame)
                while offset + 2 <= n:
                    size = _U16.unpack_from(frame, offset)[0]
                    if size < 9:
                        break
                    offset += size
                    count += 1
    return count


async def _measure(args: argparse.Namespace, info: dict[str, Any]) -> dict[str, float]:
    url, pid = info["url"], info["pid"]
    sid = await _login(url, info)
    tokens = _tokens(args.instruments)
    auth = _auth_frame(info["ucc"], sid)
    feed = "ws" + url.removeprefix("http") + "/apifeed"
    loop = asyncio.get_running_loop()
    warmup = loop.time() + 1.0
    # Warm up (connections, subscriptions, first snapshots), then measure.
    readers = [
        asyncio.create_task(_reader(feed, auth, tokens, args.mode, warmup, warmup + args.seconds))
        for _ in range(args.connections)
    ]
    await asyncio.sleep(max(warmup - loop.time(), 0))
    cpu0, t0 = _cpu_seconds(pid), time.monotonic()
    counts = await asyncio.gather(*readers)
    cpu1, t1 = _cpu_seconds(pid), time.monotonic()
    packets = sum(counts)
    elapsed = t1 - t0
    cpu = cpu1 - cpu0
    return {
        "instruments": float(len(tokens)),
        "packets_per_s": packets / elapsed,
        "server_cpu": cpu / elapsed,
        "packets_per_cpu_s": packets / max(cpu, 1e-9),
    }


async def _burst_reader(
    url: str, auth: str, token: str, mode: str, want: int, ready: asyncio.Semaphore
) -> float:
    """Subscribe, wait for the first snapshot, then count ``want`` packets; returns the
    loop time at which the last one arrived."""
    event = {
        "scrips": "subscribeScrips",
        "scrips_lite": "subscribeScripsLite",
        "depth": "subscribeDepth",
        "full_depth": "subscribeFullDepth",
    }[mode]
    loop = asyncio.get_running_loop()
    async with connect(url, max_size=None, max_queue=None) as ws:
        await ws.send(auth)
        await ws.recv()
        await ws.send(json.dumps({"event": event, "inputtoken": token}))
        while not isinstance(await ws.recv(), bytes):  # the subscribe snapshot
            pass
        ready.release()
        count = 0
        while count < want:
            frame = await asyncio.wait_for(ws.recv(), 30)
            if isinstance(frame, bytes):
                offset, n = 0, len(frame)
                while offset + 2 <= n:
                    size = _U16.unpack_from(frame, offset)[0]
                    if size < 9:
                        break
                    offset += size
                    count += 1
        return loop.time()


async def _measure_burst(args: argparse.Namespace, info: dict[str, Any]) -> dict[str, float]:
    url, pid = info["url"], info["pid"]
    sid = await _login(url, info)
    auth = _auth_frame(info["ucc"], sid)
    feed = "ws" + url.removeprefix("http") + "/apifeed"
    ready = asyncio.Semaphore(0)
    readers = [
        asyncio.create_task(
            _burst_reader(feed, auth, "nse_cm|11536", args.mode, args.packets, ready)
        )
        for _ in range(args.connections)
    ]
    for _ in readers:
        await ready.acquire()
    loop = asyncio.get_running_loop()
    cpu0, t0 = _cpu_seconds(pid), loop.time()
    async with httpx.AsyncClient(base_url=url) as http:
        body = {"segment": "nse_cm", "token": "11536", "packets": args.packets, "mode": args.mode}
        answer = await http.post("/__emulator/feeds/burst", json=body)
        assert answer.json()["connections"] == args.connections, answer.text
    ends = await asyncio.gather(*readers)
    cpu1 = _cpu_seconds(pid)
    elapsed = max(ends) - t0
    packets = args.packets * args.connections
    cpu = cpu1 - cpu0
    return {
        "packets_per_s": packets / elapsed,
        "server_cpu": cpu / elapsed,
        "packets_per_cpu_s": packets / max(cpu, 1e-9),
    }


def _auth_frame(ucc: str, sid: str) -> str:
    return json.dumps(
        {
            "user": ucc,
            "auth": sid,
            "format": "native_batch",
            "source": "NEOTRADEAPI",
            "platform": "Web",
            "version": "1.2.3",
            "sdk_version": 2,
            "sdk_date": "2026-08-07T09:41:17.667Z",
            "conn_req_time": 0,
            "sessionValidation": False,
        }
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("uvicorn", "builtin"), default="uvicorn")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--instruments", type=int, default=40)
    parser.add_argument(
        "--mode", choices=("scrips", "scrips_lite", "depth", "full_depth"), default="scrips"
    )
    parser.add_argument("--packets", type=int, default=200_000, help="burst packets per socket")
    parser.add_argument("--quick", action="store_true", help="2 s, both backends")
    parser.add_argument("--serve", choices=("uvicorn", "builtin"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        _serve(args.serve)
        return 0
    if args.quick:
        args.seconds = 2.0
        args.packets = 50_000
    backends = ("uvicorn", "builtin") if args.quick else (args.backend,)
    print(
        f"emulator feed throughput: {args.connections} connections x {args.instruments} "
        f"instruments, mode {args.mode}, {args.seconds:g} s each",
        file=sys.stderr,
    )
    for backend in backends:
        for kind in ("ticker", "burst"):
            proc = subprocess.Popen(
                [sys.executable, __file__, "--serve", backend],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            try:
                assert proc.stdout is not None
                info = json.loads(proc.stdout.readline())
                info["pid"] = proc.pid
                measure = _measure if kind == "ticker" else _measure_burst
                result = asyncio.run(measure(args, info))
            finally:
                if proc.stdin is not None:
                    proc.stdin.close()
                proc.wait(20)
            what = (
                f"ticker, {args.instruments} instruments"
                if kind == "ticker"
                else f"burst, {args.packets:,} packets/socket"
            )
            print(
                f"{backend:8s} {what:32s} {result['packets_per_s']:10,.0f} packets/s received  "
                f"server CPU {result['server_cpu'] * 100:5.1f} %  "
                f"{result['packets_per_cpu_s']:10,.0f} packets per server CPU second",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
