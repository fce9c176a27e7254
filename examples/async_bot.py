"""An async bot skeleton: 10 symbols watched in parallel, one order on a condition, and a
session that dies in the middle of the run.

    python examples/async_bot.py                      # against the built-in emulator
    python examples/async_bot.py --live               # Kotak, credentials from AIONEO_*;
    python examples/async_bot.py --live --place-orders    # ... and really place the order
    python examples/async_bot.py --live --login-url http://127.0.0.1:8765  # another host

``--login-url`` defaults to ``$AIONEO_LOGIN_URL``, else Kotak's; so after
``eval "$(python -m aioneo.testing serve --env)"`` the ``--live`` mode runs against that
emulator.

Each symbol has its own coroutine that polls ``quotes()``, and one more coroutine watches
the portfolio (``positions()`` and ``limits()``); all of them share one ``AsyncNeoClient``.
The rule: after two polls, buy one share of the first symbol trading within 0.1 % of the
lowest price it showed in this run, once per run. In emulator mode the session is expired
after the second round, so the order and the portfolio calls meet "session expired":
exactly one of them logs in again, the others wait for it, the order is sent once, and the
bot goes on. (Quotes need only the consumer key, so they never notice.) The run ends with
a self-check: one relogin, one order, no lost poll.

Against Kotak, calls go through the client's rate limiter (10 requests/s per session), and
without ``--place-orders`` the bot only says what it would buy.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from dataclasses import dataclass, field
from decimal import Decimal

from aioneo import AsyncNeoClient, Credentials, NeoError, OrderOutcomeUnknown
from aioneo.testing import Emulator, EmulatorConfig, StepClock

SYMBOLS = [
    "nse_cm|2885",  # RELIANCE-EQ
    "nse_cm|11536",  # TCS-EQ
    "nse_cm|1594",  # INFY-EQ
    "nse_cm|3045",  # SBIN-EQ
    "nse_cm|1333",  # HDFCBANK-EQ
    "nse_cm|4963",  # ICICIBANK-EQ
    "nse_cm|5900",  # AXISBANK-EQ
    "nse_cm|1660",  # ITC-EQ
    "nse_cm|11915",  # YESBANK-EQ
    "nse_cm|19084",  # ITBEES-EQ
]


@dataclass
class Bot:
    neo: AsyncNeoClient
    place_orders: bool = True
    lows: dict[str, Decimal] = field(default_factory=dict)
    seen: dict[str, int] = field(default_factory=dict)
    polls: int = 0
    portfolio_checks: int = 0
    failures: int = 0
    order_tag: str | None = None
    _ordering: bool = False

    async def watch(self, symbol: str, rounds: int, interval: float) -> None:
        """Poll one symbol ``rounds`` times; never let one failed call end the watch."""
        for _ in range(rounds):
            try:
                (quote,) = await self.neo.quotes([symbol])
            except NeoError as exc:
                self.failures += 1
                print(f"  {symbol}: {type(exc).__name__}: {exc}")
            else:
                self.polls += 1
                if quote.ltp is not None:
                    await self.on_price(symbol, quote.display_symbol or symbol, quote.ltp)
            await asyncio.sleep(interval)

    async def on_price(self, symbol: str, trading_symbol: str, ltp: Decimal) -> None:
        low = min(self.lows.get(symbol, ltp), ltp)
        self.lows[symbol] = low
        self.seen[symbol] = seen = self.seen.get(symbol, 0) + 1
        if seen <= 2 or ltp > low * Decimal("1.001") or self._ordering:
            return
        self._ordering = True  # one order per run, decided before the first await
        print(f"  {trading_symbol}: {ltp} is within 0.1 % of its low {low} -> buy 1")
        if not self.place_orders:
            self.order_tag = "(dry run)"
            return
        try:
            result = await self.neo.place_order(
                exchange_segment="nse_cm",
                product="CNC",
                price="0",
                order_type="MKT",
                quantity=1,
                validity="DAY",
                trading_symbol=trading_symbol,
                transaction_type="B",
            )
        except OrderOutcomeUnknown as exc:
            # Sent, but the answer was lost: look it up by tag before doing anything else.
            found = await self.neo.find_order(exc.tag) if exc.tag else None
            print(f"  outcome unknown; order book says: {found.status if found else 'absent'}")
            self.order_tag = exc.tag
            return
        self.order_tag = result.tag
        print(f"  order {result.order_id} accepted (tag {result.tag})")

    async def watch_portfolio(self, rounds: int, interval: float) -> None:
        for _ in range(rounds):
            try:
                positions, limits = await asyncio.gather(self.neo.positions(), self.neo.limits())
            except NeoError as exc:
                self.failures += 1
                print(f"  portfolio: {type(exc).__name__}: {exc}")
            else:
                self.portfolio_checks += 1
                held = sum(p.net_quantity for p in positions)
                print(f"  portfolio: {len(positions)} position(s), {held} share(s) net")
                del limits  # a real bot would check margin here
            await asyncio.sleep(interval)

    async def run(self, rounds: int, interval: float) -> None:
        await asyncio.gather(
            self.watch_portfolio(rounds, interval),
            *(self.watch(s, rounds, interval) for s in SYMBOLS),
        )


async def emulator_main(rounds: int, interval: float) -> int:
    clock = StepClock()
    # Kotak's defaults (10 requests/s per session, ...), but eight-hour sessions: by
    # default they end at 00:00 IST, and a run just before midnight would see that.
    emulator = Emulator(EmulatorConfig(session_ttl=8 * 3600.0), clock=clock)
    fields = emulator.credentials.as_dict()
    async with AsyncNeoClient(
        Credentials(**fields),
        login_url=emulator.login_url,
        transport=emulator.transport(),
        clock=clock,
    ) as neo:
        bot = Bot(neo)

        async def expire_after_round_two() -> None:
            await asyncio.sleep(interval * 2.5)
            clock.next_step()
            ended = emulator.expire_sessions()
            print(f"[emulator] {ended} session(s) expired in the middle of the run")

        await asyncio.gather(bot.run(rounds, interval), expire_after_round_two())
        stats = neo.stats
        book = await neo.order_report()
    orders = emulator.counters.orders_by_tag
    print(
        f"polls {bot.polls}/{rounds * len(SYMBOLS)}, portfolio checks {bot.portfolio_checks}"
        f"/{rounds}, failures {bot.failures}, logins {stats.logins} (relogins "
        f"{stats.relogins}), orders {len(book)}"
    )
    ok = (
        bot.polls == rounds * len(SYMBOLS)
        and bot.portfolio_checks == rounds
        and stats.relogins == 1
        and emulator.counters.logins == 2
        and bot.order_tag is not None
        and orders == {bot.order_tag: 1}
    )
    print("self-check:", "ok" if ok else "FAILED")
    return 0 if ok else 1


async def live_main(rounds: int, interval: float, place_orders: bool, login_url: str | None) -> int:
    try:
        credentials = Credentials.from_env()
    except ValueError as exc:  # a missing or malformed AIONEO_* variable, named
        print(f"error: {exc}", file=sys.stderr)
        return 2
    options = {"login_url": login_url} if login_url else {}
    try:
        async with AsyncNeoClient(credentials, **options) as neo:
            info = await neo.login()
            print(f"logged in: data center {info.data_center}")
            bot = Bot(neo, place_orders=place_orders)
            await bot.run(rounds, interval)
            print(f"polls {bot.polls}, failures {bot.failures}, stats {neo.stats}")
    except (ValueError, NeoError) as exc:  # a bad --login-url; a login that failed
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1 if isinstance(exc, NeoError) else 2
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--live", action="store_true", help="use Kotak (AIONEO_* variables)")
    parser.add_argument("--place-orders", action="store_true", help="live: really place it")
    parser.add_argument(
        "--login-url",
        default=os.environ.get("AIONEO_LOGIN_URL") or None,
        help="live: the login host (default $AIONEO_LOGIN_URL, else Kotak's)",
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--interval", type=float, default=None, help="seconds between polls")
    args = parser.parse_args()
    if args.live:
        interval = args.interval if args.interval is not None else 5.0
        return asyncio.run(live_main(args.rounds, interval, args.place_orders, args.login_url))
    interval = args.interval if args.interval is not None else 0.5
    return asyncio.run(emulator_main(args.rounds, interval))


if __name__ == "__main__":
    sys.exit(main())
