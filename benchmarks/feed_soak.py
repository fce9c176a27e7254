"""A paper-trading soak: a bot on the official SDK's feeds against the emulator's ``serve``.

    python benchmarks/feed_soak.py [--minutes 60] [--tick-rate 2] [--fault-every 60]

Starts the emulator with the real command line, logs in with the official SDK
(``kotakneoapi``), opens both feeds with no ``url=`` (found through the config service),
subscribes five instruments, and trades: every ``--order-every`` seconds a limit order
two ticks away from the last price, which fills when the random walk crosses it. Every
``--fault-every`` seconds the script breaks something through the control API, in turn:
drops the market feed (1011), drops the order feed (1012), stalls the market feed for 10 s.
The SDK reconnects by itself (its fixed 1 s delay here).

At the end it prints what it saw and checks that nothing was lost: every order the REST
order book shows complete was seen complete on the order feed, and every trade the REST
trade book lists is one of those. Exit status 0 when that holds and ticks kept coming
(no gap longer than ``--max-gap`` seconds outside the stalls), 1 otherwise. Progress
goes to stderr once a minute.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from typing import Any

import httpx

os.environ.setdefault("NEO_LOG_FILE_ENABLED", "false")

INSTRUMENTS = ["11536", "1594", "2885", "3045", "1660"]
SYMBOLS = {
    "11536": "TCS-EQ",
    "1594": "INFY-EQ",
    "2885": "RELIANCE-EQ",
    "3045": "SBIN-EQ",
    "1660": "ITC-EQ",
}


class Bot:
    def __init__(self, args: argparse.Namespace, info: dict[str, Any]) -> None:
        self.args = args
        self.info = info
        self.ltp: dict[str, float] = {}
        self.ticks = 0
        self.last_tick = time.monotonic()
        self.max_gap = 0.0
        self.stalled_until = 0.0
        self.complete_on_feed: set[str] = set()
        self.order_messages = 0
        self.position_messages = 0
        self.placed: list[str] = []
        self.faults: list[str] = []

    def login(self) -> Any:
        import pyotp
        from neo_api_client import NeoAPI

        from aioneo.testing import RoutingTransport

        info = self.info
        sdk = NeoAPI(
            consumer_key=info["consumer_key"],
            environment="prod",
            transport=RoutingTransport(info["url"]),
        )
        sdk.totp_login(
            mobile_number=info["mobile_number"],
            ucc=info["ucc"],
            totp=pyotp.TOTP(info["totp_secret"]).now(),
        )
        sdk.totp_validate(mpin=info["mpin"])
        return sdk

    async def market(self, sdk: Any, stop: float) -> None:
        from neo_api_client.websocket.feed import WsToken

        ws = sdk.create_websocket(reconnect_delay=1, max_reconnect_attempts=1000)
        ws.on_error = lambda e: print("SFEED ERROR", repr(e), file=sys.stderr)
        ws.on_connect = lambda: print("SFEED CONNECT", file=sys.stderr)
        async with ws:
            await ws.subscribe_scrips([WsToken("nse_cm", t) for t in INSTRUMENTS])
            while time.monotonic() < stop:
                try:
                    msg = await asyncio.wait_for(anext(ws), 1.0)
                except TimeoutError:
                    self._gap()
                    continue
                except StopAsyncIteration:
                    self.faults.append("market feed iterator ended")
                    return
                token = getattr(msg, "instrument_token", None)
                if token in SYMBOLS:
                    self.ltp[token] = msg.last_traded_price
                    self.ticks += 1
                    self._gap()
                    self.last_tick = time.monotonic()

    def _gap(self) -> None:
        now = time.monotonic()
        if now > self.stalled_until + 2.0:
            self.max_gap = max(self.max_gap, now - max(self.last_tick, self.stalled_until))

    async def orders(self, sdk: Any, stop: float) -> None:
        from neo_api_client.websocket.orderfeed.models import OrderUpdate, PositionUpdate

        feed = sdk.create_order_feed(reconnect_delay=1, max_reconnect_attempts=1000)
        async with feed:
            while time.monotonic() < stop + 3:
                try:
                    msg = await asyncio.wait_for(anext(feed), 1.0)
                except TimeoutError:
                    continue
                except StopAsyncIteration:
                    self.faults.append("order feed iterator ended")
                    return
                if isinstance(msg, OrderUpdate):
                    self.order_messages += 1
                    if msg.data.order_status == "complete" and msg.data.order_id:
                        self.complete_on_feed.add(msg.data.order_id)
                elif isinstance(msg, PositionUpdate):
                    self.position_messages += 1

    async def trade(self, sdk: Any, stop: float) -> None:
        n = 0
        while time.monotonic() < stop - 5:
            await asyncio.sleep(self.args.order_every)
            token = INSTRUMENTS[n % len(INSTRUMENTS)]
            ltp = self.ltp.get(token)
            if ltp is None:
                continue
            side = "B" if n % 2 == 0 else "S"
            price = ltp - 0.10 if side == "B" else ltp + 0.10
            answer = await asyncio.to_thread(
                sdk.place_order,
                exchange_segment="nse_cm",
                product="MIS",
                price=f"{price:.2f}",
                order_type="L",
                quantity="1",
                validity="DAY",
                trading_symbol=SYMBOLS[token],
                transaction_type=side,
                tag=f"soak-{n}",
            )
            if answer.get("stat") == "Ok":
                self.placed.append(answer["nOrdNo"])
            n += 1
        # No fill may land after the order feed stops being read: cancel what still rests.
        book = await asyncio.to_thread(sdk.order_report)
        for row in book.get("data", []):
            if row["ordSt"] == "open":
                await asyncio.to_thread(sdk.cancel_order, row["nOrdNo"])

    async def chaos(self, stop: float) -> None:
        control = self.info["url"] + "/__emulator/feeds"
        step = 0
        async with httpx.AsyncClient() as http:
            while time.monotonic() < stop - self.args.fault_every:
                await asyncio.sleep(self.args.fault_every)
                kind = step % 3
                if kind == 0:
                    await http.post(control + "/drop", json={"kind": "market", "code": 1011})
                elif kind == 1:
                    await http.post(control + "/drop", json={"kind": "order", "code": 1012})
                else:
                    self.stalled_until = time.monotonic() + 10
                    await http.post(control + "/stall", json={"kind": "market"})
                    await asyncio.sleep(10)
                    await http.post(control + "/resume", json={"kind": "market"})
                step += 1

    async def progress(self, stop: float) -> None:
        start = time.monotonic()
        while time.monotonic() < stop:
            await asyncio.sleep(60)
            print(
                f"  {int((time.monotonic() - start) / 60)} min: {self.ticks} ticks, "
                f"{len(self.placed)} orders, {len(self.complete_on_feed)} fills on the feed",
                file=sys.stderr,
                flush=True,
            )

    async def run(self) -> dict[str, Any]:
        sdk = await asyncio.to_thread(self.login)
        stop = time.monotonic() + self.args.minutes * 60
        await asyncio.gather(
            self.market(sdk, stop),
            self.orders(sdk, stop),
            self.trade(sdk, stop),
            self.chaos(stop),
            self.progress(stop),
        )
        book = await asyncio.to_thread(sdk.order_report)
        trades = await asyncio.to_thread(sdk.trade_report)
        complete = {r["nOrdNo"] for r in book.get("data", []) if r["ordSt"] == "complete"}
        traded = {r["nOrdNo"] for r in trades.get("data", [])}
        async with httpx.AsyncClient() as http:
            status = await http.get(self.info["url"] + "/__emulator/feeds")
        counters = status.json()["counters"]
        return {
            "minutes": self.args.minutes,
            "ticks": self.ticks,
            "max_tick_gap_s": round(self.max_gap, 2),
            "orders_placed": len(self.placed),
            "complete_in_rest": len(complete),
            "complete_on_feed": len(self.complete_on_feed & complete),
            "missing_on_feed": sorted(complete - self.complete_on_feed),
            "trades_not_complete": sorted(traded - complete),
            "order_messages": self.order_messages,
            "position_messages": self.position_messages,
            "market_connections": counters["market_connections"],
            "order_connections": counters["order_connections"],
            "dropped_by_control": counters["dropped_by_control"],
            "problems": self.faults,
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=1.0)
    parser.add_argument("--tick-rate", type=float, default=2.0)
    parser.add_argument("--order-every", type=float, default=10.0)
    parser.add_argument("--fault-every", type=float, default=60.0)
    parser.add_argument("--max-gap", type=float, default=15.0)
    args = parser.parse_args()
    serve = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aioneo.testing",
            "serve",
            "--rate-limit",
            "off",
            "--tick-rate",
            str(args.tick_rate),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert serve.stdout is not None
        info = json.loads(serve.stdout.readline())
        print(
            f"soak: {args.minutes:g} min against {info['url']}, a fault every "
            f"{args.fault_every:g} s",
            file=sys.stderr,
            flush=True,
        )
        result = asyncio.run(Bot(args, info).run())
    finally:
        serve.terminate()
        serve.wait(20)
    print(json.dumps(result, indent=2))
    ok = (
        not result["missing_on_feed"]
        and not result["trades_not_complete"]
        and not result["problems"]
        and result["ticks"] > 0
        and result["max_tick_gap_s"] <= args.max_gap
    )
    print("soak: OK" if ok else "soak: FAILED", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
