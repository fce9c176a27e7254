"""The relogin storm, in a few lines of user code: N callers, one expired session.

    python examples/relogin_storm.py                 # 500 coroutines, then 32 threads
    python examples/relogin_storm.py --coroutines 2000 --threads 64

The emulator expires the session, then every caller calls ``positions()`` at once. With
aioneo the emulator sees exactly one new login per storm, and every call succeeds.
Login latency is Kotak's documented average (login 367 ms, validate 134 ms, from
``KOTAK_LATENCY``); other calls take 20 ms. The client-side rate limiter is off here,
because at Kotak's 10 requests/s a storm of 500 calls would take 50 s to drain.
``python -m aioneo demo`` is the packaged version of this script.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
import time

from aioneo import AsyncNeoClient, Credentials, NeoClient, NeoError
from aioneo.testing import KOTAK_LATENCY, Emulator, EmulatorConfig, EmulatorServer, StepClock


def make_emulator(clock: StepClock) -> Emulator:
    latency = dict.fromkeys(KOTAK_LATENCY, 0.02)
    latency.update(login=KOTAK_LATENCY["login"], validate=KOTAK_LATENCY["validate"])
    config = EmulatorConfig(rate_limit=None, latency=latency, session_ttl=8 * 3600.0)
    return Emulator(config, clock=clock)


async def coroutine_storm(n: int) -> bool:
    clock = StepClock()
    emulator = make_emulator(clock)  # in-process: no socket needed for httpx.AsyncClient
    credentials = Credentials(**emulator.credentials.as_dict())
    async with AsyncNeoClient(
        credentials,
        login_url=emulator.login_url,
        transport=emulator.transport(),
        rate_limit=None,
        clock=clock,
    ) as neo:
        await neo.positions()  # logged in
        clock.next_step()
        before = emulator.counters.logins
        emulator.expire_sessions()
        started = time.perf_counter()
        results = await asyncio.gather(*(neo.positions() for _ in range(n)), return_exceptions=True)
        seconds = time.perf_counter() - started
    logins = emulator.counters.logins - before
    ok = sum(not isinstance(r, BaseException) for r in results)
    print(f"{n} coroutines: {logins} login(s), {ok}/{n} calls succeeded, {seconds:.2f} s")
    return logins == 1 and ok == n


def thread_storm(n: int) -> bool:
    clock = StepClock()
    with EmulatorServer(make_emulator(clock)) as server:  # NeoClient needs a real socket
        emulator = server.emulator
        credentials = Credentials(**emulator.credentials.as_dict())
        with NeoClient(credentials, login_url=server.url, rate_limit=None, clock=clock) as neo:
            neo.positions()
            clock.next_step()
            before = emulator.counters.logins
            emulator.expire_sessions()
            succeeded = []
            go = threading.Barrier(n)

            def caller() -> None:
                go.wait()
                try:
                    neo.positions()
                    succeeded.append(True)
                except NeoError as exc:
                    print(f"  failed: {exc}")

            threads = [threading.Thread(target=caller) for _ in range(n)]
            started = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            seconds = time.perf_counter() - started
        logins = emulator.counters.logins - before
    ok = len(succeeded)
    print(f"{n} threads: {logins} login(s), {ok}/{n} calls succeeded, {seconds:.2f} s")
    return logins == 1 and ok == n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--coroutines", type=int, default=500)
    parser.add_argument("--threads", type=int, default=32)
    args = parser.parse_args()
    good = asyncio.run(coroutine_storm(args.coroutines))
    good = thread_storm(args.threads) and good
    print("one login per storm, no call lost:", "yes" if good else "NO")
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
