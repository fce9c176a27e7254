"""Throughput of the loopback emulator: positions requests per second.

What it measures: ``GET {baseUrl}/portfolio/v2/positions`` with a valid trade session,
answered by ``python -m aioneo.testing serve`` (one uvicorn worker, h11, zero latency,
rate limit off; ``--server builtin`` for the built-in h11 server) running in its own
process. Load comes from ``--processes`` client
processes, each keeping ``--concurrency`` keep-alive connections busy: by default with a
minimal HTTP/1.1 client on asyncio streams (``--client raw``), so that the emulator is
what gets measured rather than the client; ``--client httpx`` uses ``httpx.AsyncClient``.

How to run::

    python benchmarks/emulator_throughput.py                 # defaults: 2 x 16, 4000 each
    python benchmarks/emulator_throughput.py --processes 4 --requests 10000

It prints one JSON line (machine-readable) and a short summary: total requests,
wall time, requests/s, client-side p50/p99 latency, and non-200 answers (must be 0).
Numbers depend on the machine; record it (``python -c "import platform; ..."``) with them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pyotp

REPO = Path(__file__).resolve().parents[1]


def start_emulator(backend: str) -> tuple[subprocess.Popen[str], dict[str, str]]:
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    command = ["serve", "--port", "0", "--rate-limit", "off", "--server", backend]
    process = subprocess.Popen(
        [sys.executable, "-m", "aioneo.testing", *command],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    info: dict[str, str] = json.loads(process.stdout.readline())
    return process, info


def login(info: dict[str, str]) -> dict[str, str]:
    with httpx.Client() as http:
        view = http.post(
            info["login_url"] + "/login/1.0/tradeApiLogin",
            headers={"Authorization": info["consumer_key"]},
            json={
                "mobileNumber": info["mobile_number"],
                "ucc": info["ucc"],
                "totp": pyotp.TOTP(info["totp_secret"]).now(),
            },
        ).json()["data"]
        trade: dict[str, str] = http.post(
            info["login_url"] + "/login/1.0/tradeApiValidate",
            headers={
                "Authorization": info["consumer_key"],
                "sid": view["sid"],
                "Auth": view["token"],
            },
            json={"mpin": info["mpin"]},
        ).json()["data"]
    return trade


async def drive_httpx(
    url: str, headers: dict[str, str], requests: int, concurrency: int
) -> tuple[list[float], int]:
    latencies: list[float] = []
    failures = 0
    remaining = requests
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, headers=headers) as http:

        async def worker() -> None:
            nonlocal remaining, failures
            while remaining > 0:
                remaining -= 1
                started = time.perf_counter()
                response = await http.get(url)
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200:
                    failures += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, failures


async def drive_raw(
    url: str, headers: dict[str, str], requests: int, concurrency: int
) -> tuple[list[float], int]:
    """Keep-alive HTTP/1.1 over asyncio streams: a client cheap enough not to be the limit."""
    target = httpx.URL(url)
    head = f"GET {target.raw_path.decode()} HTTP/1.1\r\nHost: {target.netloc.decode()}\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
    request = head.encode()
    latencies: list[float] = []
    failures = 0
    remaining = requests

    async def worker() -> None:
        nonlocal remaining, failures
        reader, writer = await asyncio.open_connection(target.host, target.port)
        try:
            while remaining > 0:
                remaining -= 1
                started = time.perf_counter()
                writer.write(request)
                status_line = await reader.readline()
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - started)
                if status_line.split()[1] != b"200":
                    failures += 1
        finally:
            writer.close()
            await writer.wait_closed()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, failures


def client(args: tuple[str, str, dict[str, str], int, int]) -> tuple[list[float], int]:
    kind, url, headers, requests, concurrency = args
    drive = drive_raw if kind == "raw" else drive_httpx
    return asyncio.run(drive(url, headers, requests, concurrency))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=2, help="client processes (2)")
    parser.add_argument("--concurrency", type=int, default=16, help="in flight per process (16)")
    parser.add_argument("--requests", type=int, default=4000, help="requests per process (4000)")
    parser.add_argument("--warmup", type=int, default=500, help="warm-up requests (500)")
    parser.add_argument(
        "--client",
        choices=("raw", "httpx"),
        default="raw",
        help="raw keep-alive HTTP/1.1 over asyncio streams (cheap), or httpx.AsyncClient",
    )
    parser.add_argument(
        "--server",
        choices=("uvicorn", "builtin"),
        default="uvicorn",
        help="the emulator's HTTP server (uvicorn)",
    )
    args = parser.parse_args()

    server, info = start_emulator(args.server)
    try:
        trade = login(info)
        url = trade["baseUrl"] + "/portfolio/v2/positions"
        headers = {"Sid": trade["sid"], "Auth": trade["token"], "accept": "application/json"}
        client((args.client, url, headers, args.warmup, args.concurrency))
        jobs = [(args.client, url, headers, args.requests, args.concurrency)] * args.processes
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(args.processes) as pool:
            started = time.perf_counter()
            results = pool.map(client, jobs)
            elapsed = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(timeout=30)

    failures = sum(f for _, f in results)
    latencies = sorted(x for lats, _ in results for x in lats)
    total = len(latencies)
    report = {
        "endpoint": "positions",
        "server": f"python -m aioneo.testing serve --server {args.server} (1 worker, zero latency)",
        "client": args.client,
        "client_processes": args.processes,
        "concurrency_per_process": args.concurrency,
        "requests": total,
        "seconds": round(elapsed, 3),
        "requests_per_second": round(total / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[int(total * 0.99) - 1] * 1000, 2),
        "non_200": failures,
        "python": platform.python_version(),
        "machine": f"{platform.machine()} {os.cpu_count()} CPUs, {platform.system()}",
    }
    print(json.dumps(report))
    print(
        f"{total} positions requests in {elapsed:.2f} s: {report['requests_per_second']} req/s, "
        f"p50 {report['p50_ms']} ms, p99 {report['p99_ms']} ms, non-200: {failures}"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
