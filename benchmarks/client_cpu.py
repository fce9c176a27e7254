"""Client CPU per request, close to the floor: ``python benchmarks/client_cpu.py``.

Each cell (client, N) runs in a fresh worker process: it logs in (or connects), warms its
connections, then N coroutines make ``--requests`` ``positions()``-shaped GETs between
them; the figure is the worker's CPU (``getrusage``, user + system) over those requests,
divided by their number, in microseconds. Cells are interleaved over ``--repeat`` rounds
and the median is reported, so a burst of load from the other engineers on the machine
hits every client alike.

The server (``--server``):

* ``fixed`` (default): a minimal asyncio HTTP/1.1 server in its own process that answers
  every request with fixed bytes (the login, validate and positions answers the emulator
  gave once at start), so the server is never the bottleneck;
* ``emulator``: the loopback emulator (``benchmarks/_serve.py --latency 0``), which costs
  110-250 us per request itself and becomes the bottleneck for a fast client.

Clients: ``floor`` (a bare asyncio-Protocol HTTP/1.1 client: prebuilt request bytes,
Content-Length parse), ``aiohttp`` (bare ``aiohttp.ClientSession``), ``httpx`` (bare
``httpx.AsyncClient``), ``httpx-on-aiohttp`` (bare ``httpx.AsyncClient`` over aioneo's
aiohttp transport), ``aioneo`` (``AsyncNeoClient``, default backend) and
``aioneo-aiohttp`` (``http_backend="aiohttp"``). Every client uses 10 connections (aioneo's
default ``max_connections``). Each httpx-based client also runs as ``...-no-sniffio``:
the worker makes ``import sniffio`` fail the way it fails when the package is not
installed (a full ``sys.path`` scan, then ``ModuleNotFoundError``), which is what httpcore
meets on every request then (see pyproject's comment on the dependency).

The targets of issue 15 are printed as met or missed, with their figures.
``--quick``: N in {10, 1000}, 2,000 requests, one round (a smoke run, not figures).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.machinery
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

CLIENTS = (
    "floor",
    "aiohttp",
    "httpx",
    "httpx-no-sniffio",
    "httpx-on-aiohttp",
    "aioneo",
    "aioneo-no-sniffio",
    "aioneo-aiohttp",
)
LABELS = {
    "floor": "bare asyncio-Protocol HTTP/1.1 client (the floor)",
    "aiohttp": "bare aiohttp.ClientSession",
    "httpx": "bare httpx.AsyncClient",
    "httpx-no-sniffio": "bare httpx.AsyncClient, sniffio not importable",
    "httpx-on-aiohttp": "bare httpx.AsyncClient on aioneo's aiohttp transport",
    "aioneo": 'AsyncNeoClient (http_backend="httpx", the default)',
    "aioneo-no-sniffio": "AsyncNeoClient (default backend), sniffio not importable",
    "aioneo-aiohttp": 'AsyncNeoClient (http_backend="aiohttp")',
}
CONNECTIONS = 10
PATH = "/gw/e21/quick/user/positions"


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def env() -> dict[str, str]:
    out = dict(os.environ)
    out["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), out.get("PYTHONPATH")]))
    out.setdefault("NEO_LOG_FILE_ENABLED", "false")
    return out


# -- the fixed-answer server ---------------------------------------------------------------


def canned_answers() -> dict[str, bytes]:
    """The emulator's answers (bodies) to login, validate and positions."""
    import httpx

    from aioneo import AsyncNeoClient, Credentials
    from aioneo.testing import Emulator, EmulatorConfig

    emulator = Emulator(EmulatorConfig(rate_limit=None))
    answers: dict[str, bytes] = {}

    class Capture(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            response = await emulator.transport().handle_async_request(request)
            body = await response.aread()
            answers[request.url.path.rsplit("/", 1)[-1]] = body
            return httpx.Response(response.status_code, headers=response.headers, content=body)

    async def run() -> None:
        creds = Credentials(**emulator.credentials.as_dict())
        async with AsyncNeoClient(
            creds, login_url=emulator.login_url, transport=Capture(), rate_limit=None
        ) as neo:
            await neo.positions()

    asyncio.run(run())
    return answers


def serve_fixed() -> None:
    """Run the fixed-answer server; print ``{"url", "pid", "credentials"}`` first."""
    from aioneo.testing import Emulator

    bodies = canned_answers()
    answers: dict[str, bytes] = {}

    def answer(body: bytes) -> bytes:
        head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        return f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body

    class Fixed(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            assert isinstance(transport, asyncio.Transport)
            self.transport = transport
            self.buffer = b""

        def data_received(self, data: bytes) -> None:
            self.buffer += data
            while True:
                end = self.buffer.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = self.buffer[:end]
                length = 0
                at = head.lower().find(b"content-length:")
                if at >= 0:
                    length = int(head[at + 15 :].split(b"\r\n", 1)[0])
                if len(self.buffer) < end + 4 + length:
                    return
                self.buffer = self.buffer[end + 4 + length :]
                path = head.split(b" ", 2)[1]
                if b"tradeApiLogin" in path:
                    self.transport.write(answers["tradeApiLogin"])
                elif b"tradeApiValidate" in path:
                    self.transport.write(answers["tradeApiValidate"])
                else:
                    self.transport.write(answers["positions"])

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Fixed, "127.0.0.1", 0, backlog=2048)
        port = server.sockets[0].getsockname()[1]
        creds = Emulator().credentials.as_dict()
        url = f"http://127.0.0.1:{port}"
        for name, body in bodies.items():  # validate's baseUrl: this server
            answers[name] = answer(body.replace(b"http://gw.neo.test", url.encode()))
        print(json.dumps({"url": url, "pid": os.getpid(), "credentials": creds}), flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


class ServerProcess:
    def __init__(self, kind: str) -> None:
        if kind == "fixed":
            argv = [sys.executable, str(Path(__file__)), "--serve-fixed"]
        else:
            argv = [sys.executable, str(HERE / "_serve.py"), "--latency", "0"]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=env())
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the server process did not start")
        self.info: dict[str, Any] = json.loads(line)
        if "credentials" not in self.info:  # _serve.py names the five fields at the top
            fields = ("consumer_key", "mobile_number", "ucc", "mpin", "totp_secret")
            self.info["credentials"] = {k: self.info[k] for k in fields}

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


# -- the worker ------------------------------------------------------------------------------


class _NoSniffio:
    """A meta-path finder that makes ``import sniffio`` fail as a missing package does:
    it scans ``sys.path`` for it (the cost httpcore pays per request), then refuses."""

    @classmethod
    def find_spec(cls, name: str, path: Any = None, target: Any = None) -> None:
        if name == "sniffio":
            importlib.machinery.PathFinder.find_spec("sniffio_is_not_installed")
            raise ModuleNotFoundError("No module named 'sniffio'", name="sniffio")
        return None


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def fan_out(n: int, requests: int, call: Any) -> None:
    per = max(1, requests // n)

    async def one() -> None:
        for _ in range(per):
            await call()

    await asyncio.gather(*(one() for _ in range(n)))


class FloorClient:
    """HTTP/1.1 over ``asyncio.Protocol``: prebuilt request bytes, a Content-Length parse,
    ``CONNECTIONS`` keep-alive connections handed out from a queue."""

    def __init__(self, host: str, port: int, request: bytes) -> None:
        self.host, self.port, self.request = host, port, request
        self.free: asyncio.Queue[Any] = asyncio.Queue()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        for _ in range(CONNECTIONS):
            _, proto = await loop.create_connection(_FloorProtocol, self.host, self.port)
            self.free.put_nowait(proto)

    async def get(self) -> bytes:
        proto = await self.free.get()
        try:
            return await proto.send(self.request)
        finally:
            self.free.put_nowait(proto)


class _FloorProtocol(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buffer = b""
        self.waiter: asyncio.Future[bytes] | None = None

    def send(self, request: bytes) -> asyncio.Future[bytes]:
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return self.waiter

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = self.buffer[: end + 2].lower()  # uvicorn writes "content-length"
        at = head.find(b"content-length:")
        length = int(head[at + 15 : head.find(b"\r\n", at)])
        if len(self.buffer) < end + 4 + length:
            return
        body = self.buffer[end + 4 : end + 4 + length]
        self.buffer = self.buffer[end + 4 + length :]
        waiter, self.waiter = self.waiter, None
        if waiter is not None:
            waiter.set_result(body)


async def run_cell(spec: dict[str, Any]) -> dict[str, Any]:
    client, n, requests = spec["client"], spec["n"], spec["requests"]
    url: str = spec["url"]
    import httpx

    from aioneo import AsyncNeoClient, Credentials

    creds = Credentials(**spec["credentials"])
    backend = "aiohttp" if client == "aioneo-aiohttp" else "httpx"
    neo = AsyncNeoClient(
        creds, login_url=url, rate_limit=None, max_connections=CONNECTIONS, http_backend=backend
    )
    async with neo:
        await neo.positions()  # log in once, for the session's token and base URL
        session = neo._session.machine.session
        assert session is not None
        target = session.base_url.rstrip("/") + "/quick/user/positions"
        headers = {"Auth": session.token, "Sid": session.sid, "neo-fin-key": "neotradeapi"}
        closers: list[Any] = []
        if client.startswith("aioneo"):
            call: Any = neo.positions
        elif client == "floor":
            parsed = httpx.URL(target)
            lines = [f"GET {parsed.raw_path.decode()} HTTP/1.1", f"Host: {parsed.netloc.decode()}"]
            lines += [f"{k}: {v}" for k, v in headers.items()]
            floor = FloorClient(
                parsed.host, parsed.port or 80, ("\r\n".join(lines) + "\r\n\r\n").encode()
            )
            await floor.start()
            call = floor.get
        elif client == "aiohttp":
            import aiohttp

            session_ = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONNECTIONS))
            closers.append(session_.close)

            async def call() -> bytes:
                async with session_.get(target, headers=headers) as response:
                    return await response.read()
        else:
            transport = None
            if client == "httpx-on-aiohttp":
                from aioneo._aiohttp import AiohttpTransport

                transport = AiohttpTransport(max_connections=CONNECTIONS)
            http = httpx.AsyncClient(
                transport=transport,
                limits=httpx.Limits(max_connections=CONNECTIONS),
                headers=headers,
            )
            closers.append(http.aclose)

            async def call() -> bytes:
                return (await http.get(target)).content

        await fan_out(CONNECTIONS, 4 * CONNECTIONS, call)  # warm every connection
        before = cpu()
        started = time.perf_counter()
        await fan_out(n, requests, call)
        wall = time.perf_counter() - started
        used = cpu() - before
        for close in closers:
            await close()
    done = max(1, requests // n) * n
    return {"cpu_us": used / done * 1e6, "requests": done, "wall_s": wall}


def worker(spec: dict[str, Any]) -> None:
    if spec["client"].endswith("-no-sniffio"):
        sys.modules.pop("sniffio", None)
        sys.meta_path.insert(0, _NoSniffio)  # type: ignore[arg-type]
        spec = {**spec, "client": spec["client"].removesuffix("-no-sniffio")}
    print(json.dumps(asyncio.run(run_cell(spec))), flush=True)


def run_worker(spec: dict[str, Any]) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, str(Path(__file__)), "--worker", json.dumps(spec)],
        capture_output=True,
        text=True,
        env=env(),
        timeout=600,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{spec['client']} N={spec['n']}: {out.stderr.strip()[-600:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


# -- the report ------------------------------------------------------------------------------


def targets(table: dict[str, dict[int, float]], ns: list[int]) -> list[tuple[str, bool, str]]:
    """(target, met, figure) for the client-CPU targets of issue 15 that this run covers."""
    out: list[tuple[str, bool, str]] = []

    def ratio(a: str, b: str, n: int) -> float | None:
        if n in table.get(a, {}) and n in table.get(b, {}):
            return table[a][n] / table[b][n]
        return None

    for mine, bare, name in (
        ("aioneo", "httpx", "default backend"),
        ("aioneo-aiohttp", "httpx-on-aiohttp", "aiohttp backend"),
    ):
        worst = [r for n in ns if (r := ratio(mine, bare, n)) is not None]
        if worst:
            out.append(
                (
                    f"aioneo's own overhead ({name}): CPU/request <= 1.05 x bare httpx on it",
                    max(worst) <= 1.05,
                    f"worst {max(worst):.2f}x over N={ns}",
                )
            )
    if (r := ratio("aioneo-aiohttp", "httpx", 10)) is not None:
        out.append(("aiohttp backend <= 0.4 x bare httpx at N=10", r <= 0.4, f"{r:.2f}x"))
    worst = [r for n in ns if (r := ratio("aioneo-aiohttp", "aiohttp", n)) is not None]
    if worst:
        out.append(
            (
                "aiohttp backend <= 3.5 x bare aiohttp",
                max(worst) <= 3.5,
                f"worst {max(worst):.2f}x over N={ns}",
            )
        )
    for client in ("aioneo", "aioneo-aiohttp"):
        if (r := ratio(client, client, 10)) is not None and 1000 in table.get(client, {}):
            flat = table[client][1000] / table[client][10]
            out.append(
                (
                    f"{client}: CPU/request flat in N (N=1000 <= 1.25 x N=10)",
                    flat <= 1.25,
                    f"{flat:.2f}x",
                )
            )
    for client in ("aioneo", "httpx"):
        worst = [r for n in ns if (r := ratio(client, f"{client}-no-sniffio", n)) is not None]
        if worst:
            out.append(
                (
                    f"{client}: sniffio installed lowers CPU/request (ratio with/without < 1)",
                    max(worst) < 1.0,
                    "with/without " + ", ".join(f"{x:.2f}" for x in worst) + f" at N={ns}",
                )
            )
    return out


def markdown(doc: dict[str, Any]) -> str:
    ns: list[int] = doc["ns"]
    table: dict[str, dict[int, float]] = {
        c: {int(k): v for k, v in row.items()} for c, row in doc["table"].items()
    }
    lines = [
        f"Client CPU per request (us), server `{doc['server']}`, {doc['requests']} requests "
        f"per cell, median of {doc['repeat']} interleaved rounds, {CONNECTIONS} connections:",
        "",
        "| client | " + " | ".join(f"N={n}" for n in ns) + " |",
        "|---|" + "---:|" * len(ns),
    ]
    for client in doc["clients"]:
        cells = [f"{table[client][n]:,.0f}" if n in table.get(client, {}) else "-" for n in ns]
        lines.append(f"| {LABELS[client]} | " + " | ".join(cells) + " |")
    lines += ["", "Targets:", ""]
    for text, met, figure in targets(table, ns):
        lines.append(f"- {'MET' if met else 'MISSED'}: {text}: {figure}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--server", choices=("fixed", "emulator"), default="fixed")
    parser.add_argument("--clients", help="comma-separated, default all")
    parser.add_argument("--ns", help="comma-separated N, default 1,10,100,1000")
    parser.add_argument("--requests", type=int)
    parser.add_argument("--repeat", type=int)
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--serve-fixed", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_fixed:
        serve_fixed()
        return 0
    if args.worker:
        worker(json.loads(args.worker))
        return 0
    clients = args.clients.split(",") if args.clients else list(CLIENTS)
    for client in clients:
        if client not in CLIENTS:
            parser.error(f"--clients: {client!r} is not one of {', '.join(CLIENTS)}")
    ns = (
        [int(x) for x in args.ns.split(",")]
        if args.ns
        else ([10, 1000] if args.quick else [1, 10, 100, 1000])
    )
    requests = args.requests or (2000 if args.quick else 6000)
    repeat = args.repeat or (1 if args.quick else 3)
    server = ServerProcess(args.server)
    results: dict[str, dict[int, list[float]]] = {c: {n: [] for n in ns} for c in clients}
    try:
        for round_ in range(repeat):
            for n in ns:
                for client in clients:
                    spec = {
                        "client": client,
                        "n": n,
                        "requests": max(requests, n),
                        "url": server.info["url"],
                        "credentials": server.info["credentials"],
                    }
                    cell = run_worker(spec)
                    results[client][n].append(cell["cpu_us"])
                    log(f"round {round_ + 1}/{repeat} N={n} {client}: {cell['cpu_us']:.0f} us")
    finally:
        server.stop()
    doc = {
        "server": args.server,
        "requests": requests,
        "repeat": repeat,
        "ns": ns,
        "clients": clients,
        "python": sys.version.split()[0],
        "table": {
            c: {n: statistics.median(v) for n, v in row.items()} for c, row in results.items()
        },
        "samples": results,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"client_cpu_{args.server}{'_quick' if args.quick else ''}"
    (args.out / f"{stem}.json").write_text(json.dumps(doc, indent=2))
    text = markdown(json.loads(json.dumps(doc)))
    (args.out / f"{stem}.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
