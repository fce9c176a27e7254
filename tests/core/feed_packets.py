"""Seeded random SFeed packets, packed from the layouts in ``kotak-neo-api.md`` 6.1.

Written from the documented layouts only (not from aioneo's decoder and not from the
emulator's encoder), so the decoder under test, the SDK's ``decode_packet`` and this
generator are three independent readings of one table. Shared by the differential test
and the decode benchmark.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Iterator

HEADER = struct.Struct("<HHbBBBB")
MINI_BODY = struct.Struct("<IqIqIiiIBI")
MP_BODY = struct.Struct("<IqqqqqIIIIIqIIIIhiIdiIIIIIBI")
INDEX_BODY = struct.Struct("<IiiiiiQiiidBi21s")
STATUS_BODY = struct.Struct("<H5s")
CAS_BODY = struct.Struct("<IIqq")
ROW = struct.Struct("<qii")

KINDS = ("mini", "mp2", "mp4", "mp8", "mp16", "index", "status", "open", "close", "cas")

#: Dividers as an auth reply might give them: every one of the form 2**a * 5**b, so a
#: wire integer divided by it has a finite decimal expansion and the SDK's float is the
#: correctly rounded value of aioneo's exact Decimal.
DIVIDERS = {1: 100, 2: 100, 3: 10_000_000, 4: 10_000, 5: 100, 6: 1, 7: 40, 9: 100, 10: 25}
EXCHANGE_IDS = (*range(0, 11), 11, 42, -1, -128, 127)


def _u(rng: random.Random, bits: int) -> int:
    return rng.getrandbits(bits)


def _i(rng: random.Random, bits: int) -> int:
    return rng.getrandbits(bits) - (1 << (bits - 1))


def _time(rng: random.Random, bits: int = 64, signed: bool = True) -> int:
    choice = rng.random()
    if choice < 0.7:
        return rng.randrange(1_600_000_000, 1_900_000_000)  # a realistic epoch second
    if choice < 0.8:
        return 0
    if choice < 0.85 and signed:
        return -2_209_008_600  # 1900-01-01 00:00 IST, the exchange's "blank"
    return _i(rng, bits) if signed else _u(rng, bits)


def _double(rng: random.Random) -> float:
    if rng.random() < 0.8:
        return rng.randrange(0, 10**12) / rng.choice((1, 4, 100))
    value: float = struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0]
    return value  # any bit pattern: NaN, infinities, subnormals


def _name(rng: random.Random) -> bytes:
    if rng.random() < 0.8:
        text = rng.choice(("Nifty 50", "Nifty Bank", "SENSEX", "India VIX", "NIFTY MID SELECT"))
        return text.encode()
    return bytes(rng.getrandbits(8) for _ in range(21))


def packet(rng: random.Random, kind: str) -> bytes:
    """One well-formed packet of ``kind``."""
    exchange_id = rng.choice(EXCHANGE_IDS)
    auction, seq, bitmask = _u(rng, 8), _u(rng, 8), _u(rng, 8)
    if kind == "mini":
        body = MINI_BODY.pack(
            _u(rng, 32), _time(rng), _u(rng, 32), _i(rng, 64), _u(rng, 32), _i(rng, 32),
            _i(rng, 32), _u(rng, 32), _u(rng, 8), _u(rng, 32),
        )  # fmt: skip
        return HEADER.pack(9 + len(body), 7208, exchange_id, 1, auction, seq, bitmask) + body
    if kind.startswith("mp"):
        level = int(kind[2:])
        buy_n, sell_n = rng.randrange(0, 21), rng.randrange(0, 21)
        if rng.random() < 0.05:
            buy_n, sell_n = _u(rng, 32), _u(rng, 32)  # absurd counts: rows stop at the end
        body = MP_BODY.pack(
            _u(rng, 32), _i(rng, 64), _i(rng, 64), _i(rng, 64), _time(rng), _time(rng),
            _u(rng, 32), _u(rng, 32), _u(rng, 32), _u(rng, 32), _u(rng, 32), _i(rng, 64),
            _u(rng, 32), _u(rng, 32), buy_n, sell_n, _i(rng, 16), _i(rng, 32), _u(rng, 32),
            _double(rng), _i(rng, 32), _u(rng, 32), _u(rng, 32), _u(rng, 32), _u(rng, 32),
            _u(rng, 32), _u(rng, 8), _u(rng, 32),
        )  # fmt: skip
        carried = 2 if level == 4 else min(buy_n + sell_n, 40)
        if rng.random() < 0.1:
            carried = rng.randrange(0, carried + 1)  # fewer rows than the counts say
        rows = b"".join(ROW.pack(_i(rng, 64), _i(rng, 32), _i(rng, 32)) for _ in range(carried))
        length = 9 + len(body) + len(rows)
        return HEADER.pack(length, 7208, exchange_id, level, auction, seq, bitmask) + body + rows
    if kind == "index":
        body = INDEX_BODY.pack(
            _u(rng, 32), _i(rng, 32), _i(rng, 32), _i(rng, 32), _i(rng, 32), _i(rng, 32),
            _time(rng, signed=False), _i(rng, 32), _i(rng, 32), _i(rng, 32), _double(rng),
            _u(rng, 8), _i(rng, 32), _name(rng),
        )  # fmt: skip
        return HEADER.pack(9 + len(body), 7207, exchange_id, 0, auction, seq, bitmask) + body
    if kind == "status":
        code = rng.randrange(0, 16)
        body = STATUS_BODY.pack(code, rng.choice((b"OPEN\x00", b"\x00" * 5, b"CLOSE", b"PRE")))
        return HEADER.pack(9 + len(body), 105, exchange_id, 0, auction, seq, bitmask) + body
    if kind in ("open", "close"):
        code = 6511 if kind == "open" else 6521
        return HEADER.pack(9, code, exchange_id, rng.choice((0, 1, 4)), auction, seq, bitmask)
    if kind == "cas":
        if rng.random() < 0.1:
            values = (_u(rng, 32), 0, 0, 0)  # outside the auction: skipped
        else:
            values = (_u(rng, 32), _u(rng, 32), _i(rng, 64), _i(rng, 64))
        body = CAS_BODY.pack(*values)
        return HEADER.pack(9 + len(body), 104, exchange_id, 0, auction, seq, bitmask) + body
    raise ValueError(f"kind={kind!r} is not one of {KINDS}")


def packets(seed: int, kind: str, count: int) -> Iterator[bytes]:
    rng = random.Random(f"{seed}-{kind}")
    for _ in range(count):
        yield packet(rng, kind)


def batches(items: list[bytes], rng: random.Random, *, max_per_frame: int = 8) -> list[bytes]:
    """Pack packets into frames of 1..max_per_frame packets, order kept."""
    frames = []
    i = 0
    while i < len(items):
        n = rng.randrange(1, max_per_frame + 1)
        frames.append(b"".join(items[i : i + n]))
        i += n
    return frames
