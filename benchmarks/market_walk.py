"""What the emulator's moving market costs: ``TradingBook.advance`` and a REST call per live set.

Pure book calls (no sockets, no loop) on simulated time, so the figure is the CPU the
market itself takes, the ceiling for the feeds built on it::

    python benchmarks/market_walk.py            # about 20 s on 2 cores
    python benchmarks/market_walk.py --quick    # a few seconds

Rows: ``live`` instruments subscribed (``activate``), walking at ``rate`` steps/s each,
advanced every ``every`` simulated seconds (what a feed loop does) for ``seconds`` of
simulated time, with one resting limit order per instrument where the row says so (the
exact, watched path). Figures: CPU ms per simulated second, ns per walk step, and the cost
of one REST ``quotes`` call between two advances (the heap means idle tapes cost nothing)
and of one ``snapshot`` (what the feed calls per changed instrument).
"""

from __future__ import annotations

import argparse
import time

from aioneo.testing._trading import TradingBook
from aioneo.testing._trading_market import EQUITIES

NIGHT = 1_767_716_400.0  # 2026-01-06 22:00 IST


def _row(live: int, rate: float, every: float, seconds: float, orders: bool) -> dict[str, float]:
    book = TradingBook(seed=1, tick_rate=rate)
    keys: list[tuple[str, str]] = []
    # the universe has a few dozen cash and index tokens and thousands of F&O tokens
    market = book._market
    cash = [(seg, token) for seg, token, *_ in EQUITIES]
    fo = [(i.seg, i.token) for i in market.tradable_instruments("nse_fo", NIGHT)]
    keys = (cash + fo)[:live]
    for seg, token in keys:
        book.activate(seg, token, NIGHT)
    if orders:
        for seg, token in keys:
            snap = book.snapshot(seg, token, NIGHT)
            assert snap is not None
            inst = market.by_token(seg, token, NIGHT)
            assert inst is not None
            price = max(snap.ltp - 1000 * snap.tick, snap.lower_circuit)
            book.handle(
                "place_order",
                ucc="BENCH",
                now=NIGHT,
                data={
                    "es": seg,
                    "ts": inst.trd_sym,
                    "qt": str(inst.lot),
                    "tt": "B",
                    "pt": "L",
                    "pc": "NRML" if seg != "nse_cm" and seg != "bse_cm" else "CNC",
                    "pr": f"{price / 100:.2f}",
                },
                path={},
                query={},
            )
    steps_before = sum(t.n for _, t in market.live_tapes())
    now = NIGHT
    ticks = int(seconds / every)
    cpu = time.process_time()
    for _ in range(ticks):
        now += every
        book.advance(now)
    cpu = time.process_time() - cpu
    steps = sum(t.n for _, t in market.live_tapes()) - steps_before
    symbols = {"symbols": f"{keys[0][0]}|{keys[0][1]}", "quote_type": "ltp"}
    rest = time.process_time()
    for i in range(2000):
        book.handle("quotes", ucc="B", now=now + i * 1e-7, data=None, path=symbols, query={})
    rest = time.process_time() - rest
    snap = time.process_time()
    for i in range(2000):
        book.snapshot(*keys[i % len(keys)], now + 1 + i * 1e-7)
    snap = time.process_time() - snap
    return {
        "snapshot_us": snap * 1e6 / 2000,
        "ms_per_sim_s": cpu * 1000 / seconds,
        "ns_per_step": cpu * 1e9 / steps if steps else 0.0,
        "rest_us": rest * 1e6 / 2000,
        "steps": float(steps),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    seconds = 5.0 if args.quick else 30.0
    rows = [
        (1, 2.0, 0.05, False),
        (100, 2.0, 0.05, False),
        (3000, 2.0, 0.05, False),
        (100, 2.0, 0.05, True),
        (10, 1000.0, 0.05, False),
        (10, 1000.0, 0.05, True),
        (1, 100_000.0, 0.05, False),
        (1, 100_000.0, 5.0, False),
    ]
    print(
        "| live | rate/s | every s | orders | CPU ms per sim s | ns/step | REST quote us "
        "| snapshot us |"
    )
    print("| ---: | ---: | ---: | :---: | ---: | ---: | ---: | ---: |")
    for live, rate, every, orders in rows:
        r = _row(live, rate, every, seconds, orders)
        print(
            f"| {live} | {rate:g} | {every:g} | {'yes' if orders else 'no'} | "
            f"{r['ms_per_sim_s']:.2f} | {r['ns_per_step']:.0f} | {r['rest_us']:.1f} | "
            f"{r['snapshot_us']:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
