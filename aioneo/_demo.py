"""``python -m aioneo demo``: a relogin storm against the built-in emulator, measured.

What it does, in order:

1. starts the emulator (:mod:`aioneo.testing`) on a loopback port, in a background thread
   of this process, with Kotak's documented login latency (login 367 ms, validate 134 ms)
   and 20 ms for every other call;
2. **coroutines**: one :class:`~aioneo.AsyncNeoClient` logs in, the emulator expires the
   session, and 1,000 coroutines call ``positions()`` at once;
3. **threads**: one :class:`~aioneo.NeoClient` does the same with 64 threads;
4. prints logins per expiry event (as the emulator counted them), calls that succeeded and
   the time from the expiry until the last call returned;
5. **feed**: during the coroutine storm the client also streams the market feed; the
   expiry closes it (1008), it waits for the storm's one login instead of making its own,
   and comes back with the new session: the feed line counts the ticks before and after
   the expiry and the time to the first fresh tick.

Why loopback and not in-process: the thread half needs a real socket (``NeoClient`` is
built on ``httpx.Client``, which cannot call an ASGI app in-process), and one emulator for
both halves keeps the figures comparable; a background thread rather than a second process,
so that the emulator and the clients can share one clock (below).

Clock: every relogin needs a TOTP code of a 30 s step that no earlier login used (the
emulator, like RFC 6238 servers, rejects a replayed code), so a real-time run would wait up
to 30 s per storm. The emulator and the clients share a :class:`StepClock` instead: real
time plus an offset that jumps to the next TOTP step before each expiry, as
``tests/client/conftest.py`` does. Login latency stays real.

The client-side rate limiter is off (``rate_limit=None``): at Kotak's 10 requests/s per
session, 1,000 calls would take 100 s, and the demo is about the relogin, not the limiter.
Calls beyond ``max_connections`` (10) queue inside the client, so the storm's retries take
``ceil(callers / 10)`` round trips after the one login.

Ctrl-C stops the run at once: the coroutines are cancelled (``asyncio.run``), threads still
waiting to start are released, the clients close their connections, the emulator stops,
and ``python -m aioneo`` prints one line (``interrupted``) and exits with status 130.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

from ._async_client import AsyncNeoClient
from ._core._feed_decode import Tick
from ._core._feed_events import FeedEvent
from ._core._session import SessionStats
from ._credentials import Credentials
from ._exceptions import FeedClosedError, NeoError
from ._feeds_async import MarketFeed
from ._shell import DEFAULT_MAX_CONNECTIONS
from ._sync_client import NeoClient
from .testing import KOTAK_LATENCY, Emulator, EmulatorConfig, EmulatorServer, StepClock

__all__ = [
    "DEMO_COROUTINES",
    "DEMO_LATENCY",
    "DEMO_THREADS",
    "DemoResult",
    "FeedResult",
    "StormResult",
    "run_demo",
    "start_server",
]

DEMO_COROUTINES = 1000
DEMO_THREADS = 64
#: Seconds added by the emulator per endpoint: Kotak's documented login and validate
#: averages, 20 ms for everything else.
DEMO_LATENCY: dict[str, float] = {
    **dict.fromkeys(KOTAK_LATENCY, 0.02),
    "login": KOTAK_LATENCY["login"],
    "validate": KOTAK_LATENCY["validate"],
}


@dataclasses.dataclass(frozen=True, slots=True)
class StormResult:
    """One storm: ``callers`` calls after one expiry event.

    ``logins``: login requests the emulator saw during the storm (one is the goal);
    ``succeeded``: calls that returned a result; ``seconds``: from the expiry until the
    last call returned.
    """

    callers: int
    logins: int
    succeeded: int
    seconds: float

    def as_dict(self) -> dict[str, int | float]:
        return {
            "callers": self.callers,
            "logins": self.logins,
            "succeeded": self.succeeded,
            "seconds": round(self.seconds, 3),
        }


@dataclasses.dataclass(frozen=True, slots=True)
class FeedResult:
    """The market feed through the coroutine storm's expiry: ticks received with the old
    session and with the new one, session epochs, and seconds from the expiry to the
    first tick of the new connection (``None`` if none came)."""

    ticks_before: int
    ticks_after: int
    epochs: tuple[int | None, int | None]
    seconds_to_fresh: float | None

    @property
    def ok(self) -> bool:
        return self.ticks_before > 0 and self.ticks_after > 0

    def as_dict(self) -> dict[str, int | float | None]:
        return {
            "ticks_before": self.ticks_before,
            "ticks_after": self.ticks_after,
            "epoch_before": self.epochs[0],
            "epoch_after": self.epochs[1],
            "seconds_to_fresh": (
                None if self.seconds_to_fresh is None else round(self.seconds_to_fresh, 3)
            ),
        }


@dataclasses.dataclass(frozen=True, slots=True)
class DemoResult:
    async_storm: StormResult
    thread_storm: StormResult
    feed: FeedResult | None = None

    @property
    def ok(self) -> bool:
        """Exactly one login per expiry event, in both storms; the feed came back."""
        feed_ok = self.feed is None or self.feed.ok
        return self.async_storm.logins == 1 and self.thread_storm.logins == 1 and feed_ok

    def as_dict(self) -> dict[str, dict[str, int | float | None]]:
        out: dict[str, dict[str, int | float | None]] = {
            "async": dict(self.async_storm.as_dict()),
            "threads": dict(self.thread_storm.as_dict()),
        }
        if self.feed is not None:
            out["feed"] = self.feed.as_dict()
        return out


def start_server(emulator: Emulator) -> EmulatorServer:
    """Start ``emulator`` on a free loopback port in a background thread (``TCP_NODELAY``
    is set by ``EmulatorServer``: without it every answer waits out a 40 ms delayed ACK)."""
    return EmulatorServer(emulator).start()


class _Progress:
    """Prints "done/total" lines at each quarter; thread-safe."""

    def __init__(self, label: str, total: int, out: TextIO | None) -> None:
        self._label = label
        self._total = total
        self._out = out
        self._done = 0
        self._next = 1
        self._lock = threading.Lock()
        self.started = time.perf_counter()

    def silence(self) -> None:
        """Print nothing more (the run was interrupted: its last calls are not progress)."""
        with self._lock:
            self._out = None

    def tick(self) -> None:
        with self._lock:
            self._done += 1
            if self._out is None or self._done * 4 < self._next * self._total:
                return
            self._next += 1
            elapsed = time.perf_counter() - self.started
            print(
                f"[{self._label}]   {self._done:>5}/{self._total} calls done after {elapsed:.2f} s",
                file=self._out,
                flush=True,
            )


def _stats_line(stats: SessionStats) -> str:
    return (
        f"client: {stats.logins} logins in all ({stats.relogins} after the expiry), "
        f"{stats.expired_responses} 'session expired' answers, {stats.coalesced} calls "
        "waited for a login run by another"
    )


def _say(out: TextIO | None, text: str) -> None:
    if out is not None:
        print(text, file=out, flush=True)


#: Ticks the feed must show before the expiry, and after it, before the demo moves on.
FEED_TICKS = 5
FEED_INSTRUMENT = "nse_cm|11536"


async def _async_storm(
    server: EmulatorServer,
    credentials: Credentials,
    clock: StepClock,
    callers: int,
    out: TextIO | None,
) -> tuple[StormResult, FeedResult]:
    emulator = server.emulator
    async with AsyncNeoClient(
        credentials,
        login_url=server.url,
        rate_limit=None,
        clock=clock,
        config_url=server.url + "/5config/config",
    ) as neo:
        info = await neo.login()
        await asyncio.gather(*(neo.positions() for _ in range(DEFAULT_MAX_CONNECTIONS)))
        _say(out, f"[async] logged in (epoch {info.epoch}), connections warm")
        async with neo.market_feed() as feed:
            await feed.subscribe([FEED_INSTRUMENT], mode="quote")
            watcher = _FeedWatch(info.epoch)
            watch = asyncio.create_task(watcher.run(feed))
            try:
                await asyncio.wait_for(watcher.streaming.wait(), 30)
                _say(out, f"[async] market feed streaming {FEED_INSTRUMENT} (epoch {info.epoch})")
                clock.next_step()
                before = emulator.counters.login_attempts
                watcher.expired_at = time.perf_counter()
                emulator.expire_sessions()
                _say(out, f"[async] session expired: {callers} coroutines call positions() at once")
                progress = _Progress("async", callers, out)

                async def call() -> bool:
                    try:
                        await neo.positions()
                        ok = True
                    except NeoError:
                        ok = False
                    progress.tick()  # not when cancelled (Ctrl-C): that is not progress
                    return ok

                started = time.perf_counter()
                outcomes = await asyncio.gather(*(call() for _ in range(callers)))
                seconds = time.perf_counter() - started
                try:
                    await asyncio.wait_for(asyncio.shield(watch), 30)
                except TimeoutError:
                    watch.cancel()
                logins = emulator.counters.login_attempts - before
            finally:  # Ctrl-C included: the watcher never outlives the feed
                watch.cancel()
                await asyncio.gather(watch, return_exceptions=True)
        feed_result = watcher.result()
        _say(out, "[async] " + _stats_line(neo.stats))
    return StormResult(callers, logins, sum(outcomes), seconds), feed_result


class _FeedWatch:
    """Counts the feed's ticks by the session epoch of the connection they came on."""

    def __init__(self, epoch: int) -> None:
        self.old_epoch = epoch
        self.epoch: int | None = None
        self.before = self.after = 0
        self.new_epoch: int | None = None
        self.expired_at: float | None = None
        self.fresh_at: float | None = None
        self.streaming = asyncio.Event()

    async def run(self, feed: MarketFeed) -> None:
        with contextlib.suppress(FeedClosedError):  # closed under us: Ctrl-C, an error
            await self._count(feed)

    async def _count(self, feed: MarketFeed) -> None:
        async for item in feed:
            if isinstance(item, FeedEvent):
                if item.kind == "connected":
                    self.epoch = item.epoch
                continue
            if not isinstance(item, Tick):
                continue
            if self.epoch == self.old_epoch:
                self.before += 1
                if self.before >= FEED_TICKS:
                    self.streaming.set()
                continue
            if self.fresh_at is None:
                self.fresh_at = time.perf_counter()
                self.new_epoch = self.epoch
            self.after += 1
            if self.after >= FEED_TICKS:
                return

    def result(self) -> FeedResult:
        fresh = None
        if self.fresh_at is not None and self.expired_at is not None:
            fresh = self.fresh_at - self.expired_at
        return FeedResult(self.before, self.after, (self.old_epoch, self.new_epoch), fresh)


def _feed_line(result: FeedResult, logins: int) -> str:
    fresh = (
        "no tick after the expiry"
        if result.seconds_to_fresh is None
        else f"first fresh tick {result.seconds_to_fresh:.2f} s after the expiry"
    )
    return (
        f"market feed: {result.ticks_before} ticks before the expiry, {result.ticks_after} "
        f"after it (epoch {result.epochs[0]} -> {result.epochs[1]}), {fresh}; the storm and "
        f"the feed made {logins} login{'s' if logins != 1 else ''} together"
    )


def _thread_storm(
    server: EmulatorServer,
    credentials: Credentials,
    clock: StepClock,
    callers: int,
    out: TextIO | None,
) -> StormResult:
    emulator = server.emulator
    clock.next_step()  # the first login of this new client needs a step of its own
    with NeoClient(credentials, login_url=server.url, rate_limit=None, clock=clock) as neo:
        info = neo.login()
        neo.positions()
        _say(out, f"[threads] logged in (epoch {info.epoch})")
        clock.next_step()
        before = emulator.counters.login_attempts
        emulator.expire_sessions()
        _say(out, f"[threads] session expired: {callers} threads call positions() at once")
        progress = _Progress("threads", callers, out)
        outcomes: list[bool] = []
        lock = threading.Lock()
        start_times: list[float] = []
        barrier = threading.Barrier(callers, action=lambda: start_times.append(time.perf_counter()))

        def call() -> None:
            try:
                barrier.wait()
            except threading.BrokenBarrierError:  # interrupted before every thread started
                return
            try:
                neo.positions()
                ok = True
            except NeoError:
                ok = False
            with lock:
                outcomes.append(ok)
            progress.tick()

        threads = [threading.Thread(target=call, name=f"demo-caller-{i}") for i in range(callers)]
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        except BaseException:
            # Ctrl-C: free the threads still at the barrier; closing the client (leaving
            # the ``with``) ends the calls in flight with ClientClosedError at once.
            progress.silence()
            barrier.abort()
            raise
        seconds = time.perf_counter() - start_times[0]
        logins = emulator.counters.login_attempts - before
        _say(out, "[threads] " + _stats_line(neo.stats))
    return StormResult(callers, logins, sum(outcomes), seconds)


def _table(result: DemoResult) -> str:
    from ._cli import render_table

    header = ("fan-out", "callers", "logins per expiry event", "calls succeeded", "time to recover")
    rows = [
        (
            name,
            str(storm.callers),
            str(storm.logins),
            f"{storm.succeeded}/{storm.callers}",
            f"{storm.seconds:.2f} s",
        )
        for name, storm in (
            ("coroutines (AsyncNeoClient)", result.async_storm),
            ("threads (NeoClient)", result.thread_storm),
        )
    ]
    return render_table(header, rows)


def run_demo(
    *,
    callers: int = DEMO_COROUTINES,
    threads: int = DEMO_THREADS,
    out: TextIO | None = None,
    clock: Callable[[], float] | None = None,
) -> DemoResult:
    """Run both storms against a fresh loopback emulator; print progress to ``out``.

    ``clock`` is for tests; by default a fresh :class:`StepClock`.
    """
    step_clock = clock if isinstance(clock, StepClock) else StepClock()
    # Eight-hour sessions: with Kotak's default (until 00:00 IST) a run just before
    # midnight would see a proactive refresh or a real expiry mid-storm.
    # tick_rate 10: the feed line needs a few ticks each side of the expiry.
    config = EmulatorConfig(
        rate_limit=None, latency=DEMO_LATENCY, session_ttl=8 * 3600.0, tick_rate=10.0
    )
    emulator = Emulator(config, clock=step_clock)
    demo = emulator.credentials
    credentials = Credentials(
        demo.consumer_key, demo.mobile_number, demo.ucc, demo.mpin, totp_secret=demo.totp_secret
    )
    server = start_server(emulator)
    try:
        _say(
            out,
            f"aioneo demo: relogin storms against the Kotak Neo emulator at {server.url}\n"
            "  emulator: loopback, background thread; latency login 367 ms, validate 134 ms,\n"
            "  every other call 20 ms; clients: rate limiter off, max_connections="
            f"{DEFAULT_MAX_CONNECTIONS}",
        )
        async_storm, feed = asyncio.run(_async_storm(server, credentials, step_clock, callers, out))
        thread_storm = _thread_storm(server, credentials, step_clock, threads, out)
    finally:
        server.stop()
    return DemoResult(async_storm, thread_storm, feed)


def main(*, callers: int, threads: int, as_json: bool) -> int:
    """The ``demo`` command: 0 when every storm cost exactly one login, else 1.

    Needs only the runtime dependencies: the emulator is served by uvicorn when it is
    installed and by its small built-in server otherwise.
    """
    out = None if as_json else sys.stdout
    result = run_demo(callers=callers, threads=threads, out=out)
    if as_json:
        print(json.dumps(result.as_dict()))
    else:
        ideal = DEMO_LATENCY["login"] + DEMO_LATENCY["validate"] + DEMO_LATENCY["positions"]
        print()
        print(_table(result))
        print()
        print(
            f"Ideal recovery is one login plus one round trip (about {ideal:.2f} s here);\n"
            f"calls beyond max_connections={DEFAULT_MAX_CONNECTIONS} queue inside the client,"
            " so the retries\ntake about callers/10 round trips of 20 ms after the login."
        )
        if result.feed is not None:
            print(_feed_line(result.feed, result.async_storm.logins))
        if not result.ok:
            print("FAILED: expected exactly one login per expiry event.")
    return 0 if result.ok else 1
