"""Feed benchmarks (issue 12): the decode rate here, end to end in ``feeds_e2e.py``.

```bash
python benchmarks/feeds.py             # 2 to 3 minutes on 2 cores: the decode figures
python benchmarks/feeds.py --quick     # a few seconds: a smoke run
python benchmarks/feeds.py --json      # the results as JSON on stdout as well
python benchmarks/feeds.py --e2e       # then the end-to-end parts (benchmarks/feeds_e2e.py:
                                       # throughput and CPU per tick vs the SDK's
                                       # SFeedWebSocket, latency, slow consumer, recovery)
```

**Decode rate**: the same binary frames (seeded, ``tests/core/feed_packets.py``, 20 packets
per frame as the live feed batches them) decoded by

* ``aioneo``: ``FeedDecoder.decode(frame)``, one call per frame, items out;
* ``aioneo + ltp``: the same, then ``item.ltp`` read on every item (one ``Decimal`` each);
* ``aioneo + all``: the same, then every price, time and depth row read (what eager
  conversion would have cost; aioneo's items convert when a field is read);
* ``aioneo core``: through ``MarketFeedCore`` as a feed shell will drive it: each frame
  decoded into the bounded buffer (with its conflation key), then popped by the consumer
  (no socket, no reading of fields);
* ``SDK``: ``split_batch(frame)`` then ``decode_packet(packet, dividers)`` per packet, what
  the official SDK's ``SFeedWebSocket`` does per frame (without its per-packet log line and
  symbol enrichment, which would only make it slower);
* ``bare struct``: the length-prefix walk plus one ``Struct.unpack_from`` of header and body
  per packet, no objects: the floor.

Rates are packets per CPU second of this process (``time.process_time``, so other work on
the machine does not count), best of ``--repeat`` interleaved rounds, after one untimed warm-up
pass of each decoder (imports, caches). The target is aioneo
at 4x the SDK or more, per kind; the exit status is 1 if the touch line misses it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import struct
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("NEO_LOG_FILE_ENABLED", "false")

from aioneo._core._feed_conn import MarketFeedCore  # noqa: E402
from aioneo._core._feed_decode import FeedDecoder  # noqa: E402
from tests.core import feed_packets as fp  # noqa: E402

TARGET = 4.0
PER_FRAME = 20
KINDS = {
    "touch line (level 4)": "mp4",
    "ltp (level 1)": "mini",
    "depth (level 8)": "mp8",
    "full depth (level 16)": "mp16",
    "index (7207)": "index",
}
_BARE = {
    "mp4": struct.Struct("<HHbBBBBIqqqqqIIIIIqIIIIhiIdiIIIIIBI"),
    "mp8": struct.Struct("<HHbBBBBIqqqqqIIIIIqIIIIhiIdiIIIIIBI"),
    "mp16": struct.Struct("<HHbBBBBIqqqqqIIIIIqIIIIhiIdiIIIIIBI"),
    "mini": struct.Struct("<HHbBBBBIqIqIiiIBI"),
    "index": struct.Struct("<HHbBBBBIiiiiiQiiidBi21s"),
}
_LEN = struct.Struct("<H")
_AUTH_REPLY = json.dumps(
    {
        "message_code": 1119,
        "exchanges": {str(k): {"value": k, "divider": v} for k, v in fp.DIVIDERS.items()},
    }
)


def frames_for(kind: str, packets: int, seed: int) -> list[bytes]:
    rng = random.Random(f"bench-{seed}-{kind}")
    items = [fp.packet(rng, kind) for _ in range(packets)]
    return [b"".join(items[i : i + PER_FRAME]) for i in range(0, len(items), PER_FRAME)]


def run_aioneo(frames: list[bytes]) -> None:
    decoder = FeedDecoder(fp.DIVIDERS)
    decode = decoder.decode
    for frame in frames:
        decode(frame)


def run_aioneo_ltp(frames: list[bytes]) -> None:
    decoder = FeedDecoder(fp.DIVIDERS)
    for frame in frames:
        for item in decoder.decode(frame):
            item.ltp  # noqa: B018


_FIELDS = (
    "ltp", "open", "high", "low", "close", "change", "change_percent", "year_high", "year_low",
    "last_trade_time", "average_price", "upper_circuit", "lower_circuit", "last_update",
    "total_traded_value", "bids", "asks", "volume", "last_traded_quantity", "instrument",
)  # fmt: skip


def run_aioneo_all(frames: list[bytes]) -> None:
    decoder = FeedDecoder(fp.DIVIDERS)
    for frame in frames:
        for item in decoder.decode(frame):
            for name in _FIELDS:
                getattr(item, name, None)


def run_core(frames: list[bytes]) -> None:
    """Through ``MarketFeedCore``: decode into the buffer, then the consumer's pops."""
    core = MarketFeedCore(capacity=len(frames) * PER_FRAME + 10)
    core.begin(user="U", sid="S", epoch=1, now=0.0)
    core.receive(_AUTH_REPLY, 0.0)
    receive, next_item = core.receive, core.next_item
    for frame in frames:
        receive(frame, 1.0)
        while next_item() is not None:
            pass


def run_sdk(frames: list[bytes]) -> None:
    from neo_api_client.websocket.feed.protocol import decode_packet, split_batch  # imported

    dividers = fp.DIVIDERS
    for frame in frames:
        for packet in split_batch(frame):
            decode_packet(packet, dividers)


def bare_for(kind: str) -> Callable[[list[bytes]], None]:
    unpack = _BARE[kind].unpack_from
    length_of = _LEN.unpack_from

    def run_bare(frames: list[bytes]) -> None:
        for frame in frames:
            offset, n = 0, len(frame)
            while offset < n:
                unpack(frame, offset)
                offset += length_of(frame, offset)[0]

    return run_bare


def measure(fn: Callable[[list[bytes]], None], frames: list[bytes]) -> float:
    start = time.process_time()
    fn(frames)
    return time.process_time() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few seconds: a smoke run")
    parser.add_argument("--packets", type=int, help="packets per kind (default 100,000)")
    parser.add_argument("--repeat", type=int, help="interleaved rounds, best kept (default 5)")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--json", action="store_true", help="print the results as JSON too")
    parser.add_argument("--e2e", action="store_true", help="then run benchmarks/feeds_e2e.py")
    args = parser.parse_args(argv)
    packets = args.packets or (10_000 if args.quick else 100_000)
    repeat = args.repeat or (1 if args.quick else 5)
    decoders: dict[str, Callable[[str], Callable[[list[bytes]], None]]] = {
        "aioneo": lambda kind: run_aioneo,
        "aioneo + ltp": lambda kind: run_aioneo_ltp,
        "aioneo + all": lambda kind: run_aioneo_all,
        "aioneo core": lambda kind: run_core,
        "SDK": lambda kind: run_sdk,
        "bare struct": bare_for,
    }
    results: dict[str, dict[str, float]] = {}
    for label, kind in KINDS.items():
        frames = frames_for(kind, packets, args.seed)
        best: dict[str, float] = {}
        for make in decoders.values():
            make(kind)(frames[:50])  # warm up: imports, caches; not timed
        for _ in range(repeat):
            for name, make in decoders.items():
                seconds = measure(make(kind), frames)
                best[name] = min(best.get(name, float("inf")), seconds)
        results[label] = {name: packets / seconds for name, seconds in best.items()}
        print(f"measured {label}", file=sys.stderr)

    names = list(decoders)
    print(f"Decode rate, packets per CPU second ({packets:,} packets per kind, "
          f"{PER_FRAME} per frame, best of {repeat})\n")  # fmt: skip
    print("| packets | " + " | ".join(names) + " | aioneo / SDK | target 4x |")
    print("| --- | " + " | ".join("---:" for _ in names) + " | ---: | --- |")
    missed = False
    for label, rates in results.items():
        ratio = rates["aioneo"] / rates["SDK"]
        met = ratio >= TARGET
        if label.startswith("touch line") and not met:
            missed = True
        cells = " | ".join(f"{rates[name]:,.0f}" for name in names)
        verdict = "met" if met else f"missed by {TARGET / ratio:.2f}x"
        print(f"| {label} | {cells} | {ratio:.1f}x | {verdict} |")
    print(
        f"\nPython {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.2f}; command: python benchmarks/feeds.py "
        + " ".join(argv if argv is not None else sys.argv[1:])
    )
    if args.json:
        document: dict[str, Any] = {"packets": packets, "repeat": repeat, "rates": results}
        print(json.dumps(document, indent=2))
    if args.e2e:
        from benchmarks import feeds_e2e

        print("\nEnd to end (benchmarks/feeds_e2e.py):", flush=True)
        e2e_argv = [*(["--quick"] if args.quick else []), *(["--json"] if args.json else [])]
        missed |= feeds_e2e.main(e2e_argv) != 0
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
