"""A legacy threaded program: one ``NeoClient`` shared by a ``ThreadPoolExecutor``.

    python examples/threaded_legacy.py           # against the built-in emulator (loopback)
    python examples/threaded_legacy.py --live    # Kotak, credentials from AIONEO_*
    python examples/threaded_legacy.py --live --login-url http://127.0.0.1:8765

``--login-url`` defaults to ``$AIONEO_LOGIN_URL``, else Kotak's (so ``eval "$(python -m
aioneo.testing serve --env)"`` points ``--live`` at that emulator).

The program refreshes a small dashboard every round: positions, order book, trades,
limits, and quotes for five symbols, each fetched by a worker thread. ``NeoClient`` is
safe to share between threads: in emulator mode the session is expired between two
rounds, the workers of the next round all meet "session expired", exactly one of them
logs in again, the others wait for it and then replay their calls. Nothing here knows
about sessions. The run ends with a self-check (every job succeeded, one relogin).

``NeoClient`` is built on ``httpx.Client``, so the emulator runs on a loopback port
(``EmulatorServer``, a background thread) rather than in-process.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed

from aioneo import Credentials, NeoClient, NeoError
from aioneo.testing import Emulator, EmulatorConfig, EmulatorServer, StepClock

SYMBOLS = ["nse_cm|2885", "nse_cm|11536", "nse_cm|1594", "nse_cm|3045", "nse_cm|1333"]


def jobs(neo: NeoClient) -> dict[str, Callable[[], str]]:
    """What one dashboard refresh fetches; each job returns one line of text."""
    out: dict[str, Callable[[], str]] = {
        "positions": lambda: f"{len(neo.positions())} position(s)",
        "orders": lambda: f"{len(neo.order_report())} order(s)",
        "trades": lambda: f"{len(neo.trade_report())} trade(s)",
        "limits": lambda: f"net cash {neo.limits().net}",
    }
    for symbol in SYMBOLS:

        def quote(symbol: str = symbol) -> str:
            (q,) = neo.quotes([symbol])
            return f"{q.display_symbol} {q.ltp}"

        out[symbol] = quote
    return out


def refresh(neo: NeoClient, pool: ThreadPoolExecutor) -> tuple[int, int]:
    """One round: every job on the pool at once; returns (succeeded, failed)."""
    futures = {pool.submit(job): name for name, job in jobs(neo).items()}
    ok = failed = 0
    for future in as_completed(futures):
        name = futures[future]
        try:
            line = future.result()
        except NeoError as exc:
            failed += 1
            print(f"  {name:<14} FAILED {type(exc).__name__}: {exc}")
        else:
            ok += 1
            print(f"  {name:<14} {line}")
    return ok, failed


def emulator_main(rounds: int) -> int:
    clock = StepClock()
    emulator = Emulator(EmulatorConfig(session_ttl=8 * 3600.0), clock=clock)  # 8 h sessions
    with EmulatorServer(emulator) as server:
        credentials = Credentials(**emulator.credentials.as_dict())
        ok = failed = 0
        with (
            NeoClient(credentials, login_url=server.url, clock=clock) as neo,
            ThreadPoolExecutor(max_workers=8) as pool,
        ):
            for number in range(1, rounds + 1):
                if number == 2:
                    clock.next_step()
                    emulator.expire_sessions()
                    print("[emulator] the session expired between rounds 1 and 2")
                print(f"round {number}")
                good, bad = refresh(neo, pool)
                ok, failed = ok + good, failed + bad
            stats = neo.stats
        logins = emulator.counters.logins
    print(
        f"jobs ok {ok}, failed {failed}; logins {stats.logins} (relogins {stats.relogins}, "
        f"threads that waited for a login {stats.coalesced})"
    )
    good_run = failed == 0 and stats.relogins == 1 and logins == 2
    print("self-check:", "ok" if good_run else "FAILED")
    return 0 if good_run else 1


def live_main(rounds: int, login_url: str | None, pause: float) -> int:
    try:
        credentials = Credentials.from_env()
    except ValueError as exc:  # a missing or malformed AIONEO_* variable, named
        print(f"error: {exc}", file=sys.stderr)
        return 2
    options = {"login_url": login_url} if login_url else {}
    try:
        with NeoClient(credentials, **options) as neo, ThreadPoolExecutor(max_workers=8) as pool:
            for number in range(1, rounds + 1):
                print(f"round {number}")
                refresh(neo, pool)
                if number < rounds:
                    time.sleep(pause)
            print(neo.stats)
    except ValueError as exc:  # a bad --login-url
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--live", action="store_true", help="use Kotak (AIONEO_* variables)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--login-url",
        default=os.environ.get("AIONEO_LOGIN_URL") or None,
        help="live: the login host (default $AIONEO_LOGIN_URL, else Kotak's)",
    )
    parser.add_argument("--pause", type=float, default=5.0, help="live: seconds between rounds")
    args = parser.parse_args()
    if args.live:
        return live_main(args.rounds, args.login_url, args.pause)
    return emulator_main(args.rounds)


if __name__ == "__main__":
    sys.exit(main())
