"""``python -m aioneo watch INSTRUMENT... [--mode quote] [--json] [--count N]``.

Streams the market feed of the instruments given (as for ``quotes``: ``nse_cm|11536``, an
index by name: ``"nse_cm|Nifty 50"`` with ``--mode index``):

* on a terminal, a table of the last tick of each instrument, redrawn in place (at most
  :data:`REDRAW_EVERY` times a second, and at once when the connection changes), with a
  status line (connected / reconnecting, ticks, reconnects);
* with ``--json``, one JSON object per line (NDJSON): each tick as it arrives
  (``{"instrument": ..., "mode": ..., "ltp": "3570.00", ...}``, decimals as strings, times
  in ISO 8601 IST) and each feed event (``{"event": "connected", ...}``);
* not on a terminal and without ``--json`` (a pipe, a file), the table is printed as a
  new block at each redraw instead of over the last one.

``--count N`` stops after N ticks (exit 0); otherwise it runs until Ctrl-C, which closes
the feed and the client, prints ``interrupted`` on stderr and exits 130, like every
command. The feed reconnects by itself, and a session that ends is renewed with the one
login the client would make anyway.

The config service: ``--config-url``, else ``$AIONEO_CONFIG_URL``, else for a loopback
login host (the emulator) ``<login URL>/5config/config``, else Kotak's.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, TextIO

from ._async_client import AsyncNeoClient
from ._cli import is_loopback_url, render_table, to_jsonable
from ._core._feed_decode import IndexTick, Tick
from ._core._feed_events import FeedEvent
from ._core._feed_subs import MODES
from ._core._feed_urls import CONFIG_URL

__all__ = ["CONFIG_URL_ENV", "REDRAW_EVERY", "add_watch_parser", "config_url_of", "run_watch"]

CONFIG_URL_ENV = "AIONEO_CONFIG_URL"
#: Seconds between two redraws of the table.
REDRAW_EVERY = 0.2
_HOME_AND_CLEAR = "\x1b[H\x1b[2J"


def add_watch_parser(commands: Any, account: argparse.ArgumentParser) -> None:
    watch = commands.add_parser(
        "watch", parents=[account], help="stream the market feed of instruments (live table)"
    )
    watch.add_argument(
        "symbols",
        nargs="+",
        metavar="INSTRUMENT",
        help="instrument as seg|token, e.g. nse_cm|11536 (an index by name with --mode index)",
    )
    watch.add_argument("--mode", default="quote", choices=MODES, help="subscription mode (quote)")
    watch.add_argument(
        "--count", type=_count, default=None, help="stop after this many ticks (default: never)"
    )
    watch.add_argument(
        "--config-url",
        default=None,
        metavar="URL",
        help=f"the feed config service (default ${CONFIG_URL_ENV}, else the emulator's for a "
        "loopback login URL, else Kotak's)",
    )


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not allowed: pass an integer >= 1")
    return value


def config_url_of(args: argparse.Namespace) -> str:
    explicit = getattr(args, "config_url", None) or os.environ.get(CONFIG_URL_ENV, "").strip()
    if explicit:
        return str(explicit)
    if is_loopback_url(args.login_url):
        return str(args.login_url).rstrip("/") + "/5config/config"
    return CONFIG_URL


def tick_doc(tick: Tick | IndexTick) -> dict[str, Any]:
    """One tick as a JSON object (``--json``)."""
    if isinstance(tick, IndexTick):
        doc: dict[str, Any] = {"instrument": tick.instrument, "name": tick.name, "mode": "index"}
        bid = ask = None
        volume = None
    else:
        doc = {"instrument": tick.instrument, "mode": tick.mode}
        bid = tick.bids[0].price if tick.bids else None
        ask = tick.asks[0].price if tick.asks else None
        volume = tick.volume
    doc.update(
        ltp=tick.ltp,
        change=tick.change,
        change_percent=tick.change_percent,
        volume=volume,
        bid=bid,
        ask=ask,
        time=tick.last_trade_time,
    )
    return {k: to_jsonable(v) for k, v in doc.items()}


def event_doc(event: FeedEvent) -> dict[str, Any]:
    return {
        "event": event.kind,
        "at": event.at,
        "code": event.code,
        "reason": event.reason,
        "reconnect": event.reconnect,
        "epoch": event.epoch,
    }


class _Screen:
    """The table of last ticks and its redraws."""

    HEADER = ("instrument", "ltp", "change", "change %", "bid", "ask", "volume", "time")

    def __init__(self, out: TextIO, symbols: list[str]) -> None:
        self.out = out
        self.tty = out.isatty()
        self.order = list(symbols)
        self.rows: dict[str, tuple[str, ...]] = {}
        self.status = "connecting"
        self.ticks = 0
        self.reconnects = 0
        self._drawn_at = 0.0

    def tick(self, tick: Tick | IndexTick) -> None:
        self.ticks += 1
        doc = tick_doc(tick)
        key = tick.instrument
        if isinstance(tick, IndexTick):
            key = next((s for s in self.order if s.endswith("|" + tick.name)), key)
        elif key not in self.order:
            self.order.append(key)
        stamp = doc["time"][11:19] if doc["time"] else "-"
        self.rows[key] = tuple(
            "-" if v is None else str(v)
            for v in (
                key,
                doc["ltp"],
                doc["change"],
                doc["change_percent"],
                doc["bid"],
                doc["ask"],
                doc["volume"],
                stamp,
            )
        )

    def draw(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._drawn_at < REDRAW_EVERY:
            return
        self._drawn_at = now
        rows = [self.rows[s] for s in self.order if s in self.rows]
        table = render_table(self.HEADER, rows) if rows else "(waiting for the first tick)"
        status = f"{self.status}; {self.ticks} ticks, {self.reconnects} reconnects"
        text = f"{table}\n{status}\n"
        self.out.write(_HOME_AND_CLEAR + text if self.tty else text + "\n")
        self.out.flush()


async def run_watch(
    neo: AsyncNeoClient, args: argparse.Namespace, out: TextIO | None = None
) -> int:
    """Stream until ``--count`` ticks (or Ctrl-C); returns the ticks seen."""
    stream = out or sys.stdout
    symbols = list(args.symbols)
    screen = None if args.json else _Screen(stream, symbols)
    ticks = 0
    async with neo.market_feed() as feed:
        await feed.subscribe(symbols, mode=args.mode)
        async for item in feed:
            if isinstance(item, FeedEvent):
                if screen is None:
                    print(json.dumps(event_doc(item)), file=stream, flush=True)
                else:
                    if item.kind == "connected":
                        screen.status = "connected"
                        screen.reconnects += item.reconnect
                    elif item.kind in ("disconnected", "stalled"):
                        why = f" ({item.reason or item.code})" if item.reason or item.code else ""
                        screen.status = f"reconnecting after {item.kind}{why}"
                    screen.draw(force=True)
                continue
            if not isinstance(item, Tick | IndexTick):
                continue
            ticks += 1
            if screen is None:
                print(json.dumps(tick_doc(item)), file=stream, flush=True)
            else:
                screen.tick(item)
                screen.draw(force=args.count is not None and ticks >= args.count)
            if args.count is not None and ticks >= args.count:
                break
    return ticks
