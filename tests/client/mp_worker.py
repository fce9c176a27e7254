"""Worker processes for ``test_multiprocess.py`` (spawned, so everything here pickles).

A worker runs one ``AsyncNeoClient`` against the loopback emulator with a shared session
store and a clock shared with the parent (``time.time()`` plus an offset in shared
memory, so the parent can move every process to the next TOTP step at once instead of
waiting 30 s). Per round it waits at the barrier, fires ``coroutines`` concurrent
``positions()`` calls, and waits at the barrier again; at the end it reports its
counters and any errors on the queue.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

import httpx

from aioneo import AsyncNeoClient, Credentials, FileSessionStore, RedisSessionStore, SessionStore

#: Seconds a worker waits at a barrier before the test counts it as hung.
BARRIER_TIMEOUT = 30.0


@dataclasses.dataclass(frozen=True)
class WorkerSpec:
    index: int
    login_url: str
    credentials: dict[str, str]
    #: ("file", path) or ("redis", url, key)
    store: tuple[str, ...]
    coroutines: int = 50
    #: Requests on the wire per process (the client's default); the rest queue inside.
    max_connections: int = 10
    rounds: int = 1
    #: Never send the TOTP login request: hold it client-side forever (to be killed).
    stall_login: bool = False


def make_store(spec: tuple[str, ...]) -> SessionStore:
    if spec[0] == "file":
        return FileSessionStore(spec[1])
    if spec[0] == "redis":
        return RedisSessionStore(spec[1], key=spec[2])
    raise ValueError(f"unknown store spec {spec!r}")


class StallingTransport(httpx.AsyncBaseTransport):
    """Holds every TOTP login request forever, and says so through ``stalled``."""

    def __init__(self, stalled: Any) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.stalled = stalled

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("tradeApiLogin"):
            self.stalled.set()
            await asyncio.Event().wait()
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def hold_lock(store: tuple[str, ...], ttl: float, ready: Any) -> None:
    """Process entry point: take the store's login lock, say so, and hang (to be killed)."""
    assert make_store(store).acquire_lock("doomed-holder", ttl)
    ready.set()
    time.sleep(600)


def run(spec: WorkerSpec, offset: Any, barrier: Any, results: Any, stalled: Any = None) -> None:
    """Process entry point."""

    def clock() -> float:
        return time.time() + offset.value

    async def main() -> dict[str, Any]:
        transport = StallingTransport(stalled) if spec.stall_login else None
        client = AsyncNeoClient(
            Credentials(**spec.credentials),
            login_url=spec.login_url,
            rate_limit=None,
            max_connections=spec.max_connections,
            clock=clock,
            transport=transport,
            session_store=make_store(spec.store),
        )
        errors: list[str] = []
        ok = 0
        async with client:
            for _ in range(spec.rounds):
                if barrier is not None:
                    await asyncio.to_thread(barrier.wait, BARRIER_TIMEOUT)
                answers = await asyncio.gather(
                    *(client.positions() for _ in range(spec.coroutines)), return_exceptions=True
                )
                errors += [repr(a) for a in answers if isinstance(a, BaseException)]
                ok += sum(1 for a in answers if not isinstance(a, BaseException))
                if barrier is not None:
                    await asyncio.to_thread(barrier.wait, BARRIER_TIMEOUT)
            stats = client.stats
        return {
            "index": spec.index,
            "ok": ok,
            "errors": errors,
            "logins": stats.logins,
            "login_attempts": stats.login_attempts,
            "login_failures": stats.login_failures,
            "adopted": stats.adopted,
            "relogins": stats.relogins,
        }

    try:
        report = asyncio.run(main())
    except BaseException as exc:  # reported to the parent, which fails the test
        report = {"index": spec.index, "crashed": repr(exc)}
    results.put(report)
