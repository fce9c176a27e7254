"""A bot that trades on the live feeds, through a mid-day session expiry.

    python examples/feed_bot.py                 # against the built-in emulator (loopback)
    python examples/feed_bot.py --ticks 40      # stream longer

It streams the market feed of three symbols (touch line) and the order feed, with one
``AsyncNeoClient``. The rule: once a symbol has shown ``--warmup`` ticks, buy one share of
the first symbol that trades at or below the lowest price it showed so far, once per run;
the fill is then awaited on the order feed, matched by the order's tag (never by polling).

In the middle of the run the emulator ends the session. Its feeds are closed (1008), both
feeds report "session expired" to the client's session machine instead of logging in
themselves, the REST calls in flight do the same, and exactly one login renews them all;
both feeds come back with the new session, resubscribed, and say so in the stream
(``FeedEvent``: "disconnected", then "connected"). The run ends with a self-check: one
relogin, one order, its fill seen once, ticks after the expiry, and no silent gap (every
"disconnected" followed by a "connected").

An order whose outcome is unknown (``OrderOutcomeUnknown``: the answer was lost) is
resolved the same way: its ``tag`` is known, so the order feed's next update carrying that
tag says what happened (the feed reconciles with the order book after a reconnect, so an
update is not lost to a gap either).
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
from dataclasses import dataclass, field
from decimal import Decimal

from aioneo import (
    AsyncNeoClient,
    Credentials,
    FeedEvent,
    OrderOutcomeUnknown,
    OrderStatus,
    OrderUpdate,
    Tick,
)
from aioneo.testing import Emulator, EmulatorConfig, EmulatorServer, StepClock

SYMBOLS = {
    "nse_cm|11536": "TCS-EQ",
    "nse_cm|1594": "INFY-EQ",
    "nse_cm|2885": "RELIANCE-EQ",
}


@dataclass
class Run:
    ticks: int = 0
    ticks_after_expiry: int = 0
    expired: bool = False
    lows: dict[str, Decimal] = field(default_factory=dict)
    seen: dict[str, int] = field(default_factory=dict)
    order_tag: str | None = None
    fills: list[OrderUpdate] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    order_events: list[str] = field(default_factory=list)
    halfway: asyncio.Event = field(default_factory=asyncio.Event)


async def trade(neo: AsyncNeoClient, run: Run, symbol: str, price: Decimal) -> None:
    """Buy one share, once. The tag is chosen before sending: it links the order to its
    updates on the order feed, which may arrive before ``place_order`` returns."""
    run.order_tag = "feedbot-" + secrets.token_hex(4)
    try:
        result = await neo.place_order(
            exchange_segment="nse_cm",
            product="CNC",
            price="0",
            order_type="MKT",
            quantity=1,
            validity="DAY",
            trading_symbol=SYMBOLS[symbol],
            transaction_type="B",
            tag=run.order_tag,
        )
        print(f"bought 1 {SYMBOLS[symbol]} at market (seen {price}): order {result.order_id}")
    except OrderOutcomeUnknown as unknown:  # the order feed will say what became of it
        print(f"order outcome unknown (tag {unknown.tag}): waiting for the order feed")


async def market(neo: AsyncNeoClient, run: Run, args: argparse.Namespace) -> None:
    async with neo.market_feed() as feed:
        await feed.subscribe(list(SYMBOLS), mode="quote")
        async for item in feed:
            if isinstance(item, FeedEvent):
                run.events.append(item.kind)
                print(f"market feed: {item.kind}" + (f" ({item.code})" if item.code else ""))
                continue
            if not isinstance(item, Tick):
                continue
            run.ticks += 1
            if run.ticks >= args.ticks // 2:
                run.halfway.set()
            if run.expired:
                run.ticks_after_expiry += 1
            key = item.instrument
            run.seen[key] = run.seen.get(key, 0) + 1
            low = run.lows.get(key)
            run.lows[key] = item.ltp if low is None else min(low, item.ltp)
            if (
                run.order_tag is None
                and run.seen[key] > args.warmup
                and low is not None
                and item.ltp <= low
            ):
                await trade(neo, run, key, item.ltp)
            if run.ticks >= args.ticks and run.ticks_after_expiry >= args.ticks // 2:
                return


async def orders(neo: AsyncNeoClient, run: Run, filled: asyncio.Event) -> None:
    async with neo.order_feed() as updates:
        async for item in updates:  # ends when this task is cancelled at the end of the run
            if isinstance(item, FeedEvent):
                run.order_events.append(item.kind)
                continue
            if (
                isinstance(item, OrderUpdate)
                and run.order_tag
                and item.tag == run.order_tag
                and item.status is OrderStatus.COMPLETE
            ):
                run.fills.append(item)
                print(f"order feed: {item.order_id} complete at {item.average_price}")
                filled.set()


async def main(args: argparse.Namespace) -> int:
    clock = StepClock(auto_step=True)  # a relogin needs no 30 s wait for a fresh TOTP step
    emulator = Emulator(EmulatorConfig(rate_limit=None, tick_rate=args.tick_rate), clock=clock)
    with EmulatorServer(emulator) as server:
        creds = Credentials(**emulator.credentials.as_dict())
        async with AsyncNeoClient(
            creds,
            login_url=server.url,
            config_url=server.url + "/5config/config",
            clock=clock,
            rate_limit=None,
        ) as neo:
            run = Run()
            filled = asyncio.Event()
            watcher = asyncio.create_task(orders(neo, run, filled))
            trader = asyncio.create_task(market(neo, run, args))
            await asyncio.wait_for(run.halfway.wait(), 30)
            emulator.expire_sessions()  # mid-day: the feeds are closed with 1008
            run.expired = True
            print("session expired: REST calls and both feeds meet it at once")
            portfolio = await asyncio.gather(*(neo.positions() for _ in range(20)))
            await asyncio.wait_for(trader, 30)
            if run.order_tag:
                await asyncio.wait_for(filled.wait(), 10)
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
            stats = neo.stats
    print(
        f"ticks {run.ticks} ({run.ticks_after_expiry} after the expiry), portfolio calls "
        f"{len(portfolio)}/20, logins {stats.logins} (relogins {stats.relogins}), orders "
        f"{1 if run.order_tag else 0}, fills seen {len(run.fills)}"
    )
    gaps_closed = all(
        "connected" in events[i + 1 :]
        for events in (run.events, run.order_events)
        for i, kind in enumerate(events)
        if kind == "disconnected"
    )
    ok = (
        stats.relogins == 1
        and stats.logins == 2
        and run.order_tag
        and len(run.fills) == 1
        and run.ticks_after_expiry > 0
        and gaps_closed
        and "disconnected" in run.events
    )
    print("self-check: ok" if ok else "self-check: FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=30, help="ticks to stream (30)")
    parser.add_argument("--warmup", type=int, default=3, help="ticks per symbol first (3)")
    parser.add_argument("--tick-rate", type=float, default=10.0, help="emulator steps/s (10)")
    sys.exit(asyncio.run(main(parser.parse_args())))
