"""The moving market: the seeded walk, fills of resting orders, test control, feed hooks.

Driven directly (no app, no loop, no sleeps): every call passes ``now``. The walk's own
math is checked against a step-by-step reference built from its documented definition.
"""

from __future__ import annotations

import hashlib
import itertools
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from neo_api_client.websocket.orderfeed.models import OrderUpdate, PositionUpdate

from aioneo.testing import _trading_walk
from aioneo.testing._trading import OPENING_CASH, TradingBook, rupees_to_paise
from aioneo.testing._trading_walk import BLOCK, Tape, fold, fold_range

IST = timezone(timedelta(hours=5, minutes=30))
# Tuesday 2026-01-06 22:00 IST: night, the sine model is frozen; only live tapes move.
NIGHT = datetime(2026, 1, 6, 22, 0, tzinfo=IST).timestamp()
UCC = "UCC001"
TCS = ("nse_cm", "11536")

_STEP = [-1 if b < 96 else (0 if b < 160 else 1) for b in range(256)]


def reference_prices(key: str, segment: int, anchor: int, lo: int, hi: int, n: int) -> list[int]:
    """Prices after steps 1..n, one step at a time, from the module docstring's definition."""
    out: list[int] = []
    x = anchor
    block_no, block = -1, b""
    for k in range(n):
        if k // BLOCK != block_no:
            block_no = k // BLOCK
            block = hashlib.shake_128(f"{key}|{segment}|{block_no}".encode()).digest(BLOCK)
        x += _STEP[block[k % BLOCK]]
        out.append(fold(x, lo, hi))
    return out


def new_tape(*, price: int = 100, lo: int = 90, hi: int = 110, rate: float = 10.0) -> Tape:
    tape = Tape(key="test-tape", tick=5, lot=1, lo=0, hi=0, price=price, ltt=0.0)
    tape.start(0.0, rate, lo=lo, hi=hi)
    return tape


# --- walk math --------------------------------------------------------------------------


def test_fold_reflects_into_the_band_and_moves_one_tick_per_step() -> None:
    lo, hi = 10, 14
    folded = [fold(x, lo, hi) for x in range(-20, 40)]
    assert all(lo <= p <= hi for p in folded)
    assert all(abs(a - b) == 1 for a, b in itertools.pairwise(folded))
    assert [fold(x, lo, hi) for x in range(10, 20)] == [10, 11, 12, 13, 14, 13, 12, 11, 10, 11]
    assert fold(99, 7, 7) == 7
    for x0 in range(-12, 12):
        for x1 in range(x0, x0 + 12):
            values = [fold(x, lo, hi) for x in range(x0, x1 + 1)]
            assert fold_range(x0, x1, lo, hi) == (min(values), max(values)), (x0, x1)


def test_tape_matches_the_step_by_step_reference_exact_and_fast_paths() -> None:
    n = 5 * BLOCK + 123  # long enough for the popcount path on whole blocks
    expected = reference_prices("test-tape", 1, 100, 90, 110, n)
    exact = new_tape()
    for end in range(0, n + 1, 997):  # many short calls: the exact path
        exact.run(end, [])
    exact.run(n, [])
    fast = new_tape()
    fast.run(n, [])  # one long call: whole blocks summed by popcount
    assert exact.n == fast.n == n
    assert exact.price == fast.price == expected[-1]
    assert (exact.day_low, exact.day_high) == (min(expected), max(expected))
    assert fast.day_low >= min(expected)  # the fast path sees block ends only
    assert fast.day_high <= max(expected)
    assert exact.volume == fast.volume > 0
    assert exact.ltt == pytest.approx(n / 10.0)


def test_run_stops_on_the_first_step_that_reaches_a_watched_level() -> None:
    expected = reference_prices("test-tape", 1, 100, 90, 110, 3 * BLOCK)
    for level, up in ((95, False), (97, False), (104, True), (110, True), (90, False)):
        first = next(i for i, p in enumerate(expected) if (p >= level if up else p <= level))
        tape = new_tape()
        hit = tape.run(3 * BLOCK, [(level + 1000, True), (level, up)])  # unreachable first
        assert hit == 1, (level, up)
        assert tape.n == first + 1
        assert tape.price == level  # a step is one tick: the level itself is traded
    tape = new_tape()
    assert tape.run(3 * BLOCK, [(89, False), (111, True)]) is None  # outside the band
    assert tape.n == 3 * BLOCK


def test_the_walk_stays_in_its_band_and_differs_by_key_and_segment() -> None:
    a = reference_prices("k1", 1, 100, 95, 105, 2000)
    b = reference_prices("k2", 1, 100, 95, 105, 2000)
    c = reference_prices("k1", 2, 100, 95, 105, 2000)
    assert all(95 <= p <= 105 for p in a)
    assert 95 in a
    assert 105 in a
    assert a != b
    assert a != c
    counts = {d: sum(1 for x, y in itertools.pairwise(a) if y - x == d) for d in (-1, 0, 1)}
    assert all(counts[d] > 300 for d in counts), counts  # all three step kinds occur


def test_one_call_never_walks_more_than_max_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_trading_walk, "MAX_STEPS", 500)
    tape = new_tape(rate=100.0)
    n_end = tape.due(1000.0)  # 100,000 steps due: only the last 500 are walked
    assert (n_end, tape.n, tape.segment) == (500, 0, 2)
    assert tape.t0 == pytest.approx(995.0)
    tape.run(n_end, [])
    assert tape.ltt == pytest.approx(1000.0)


# --- the book: live instruments, snapshots and REST agree -------------------------------


def quote(book: TradingBook, seg: str, token: str, now: float) -> dict[str, Any]:
    status, body = book.handle(
        "quotes",
        ucc=UCC,
        now=now,
        data=None,
        path={"symbols": f"{seg}|{token}", "quote_type": "all"},
        query={},
    )
    assert status == 200, body
    assert isinstance(body, list)
    result: dict[str, Any] = body[0]
    return result


def call(book: TradingBook, op: str, data: object = None, *, now: float) -> dict[str, Any]:
    status, body = book.handle(op, ucc=UCC, now=now, data=data, path={}, query={})  # type: ignore[arg-type]
    assert status == 200, body
    assert isinstance(body, dict)
    return body


def place(book: TradingBook, now: float, **fields: str) -> str:
    data = {
        "am": "NO",
        "dq": "0",
        "es": "nse_cm",
        "mp": "0",
        "pc": "CNC",
        "pr": "0",
        "pt": "MKT",
        "qt": "1",
        "rt": "DAY",
        "tp": "0",
        "ts": "TCS-EQ",
        "tt": "B",
        **fields,
    }
    body = call(book, "place_order", data, now=now)
    assert body["stCode"] == 200, body
    return str(body["nOrdNo"])


def paise(text: object) -> int:
    assert isinstance(text, str), text
    return rupees_to_paise(text) if text not in ("0.00", "-0.00") else 0


def test_nothing_moves_at_night_until_an_instrument_is_live() -> None:
    book = TradingBook(seed=3)
    assert book.advance(NIGHT) == []
    before = quote(book, *TCS, NIGHT)["ltp"]
    assert book.advance(NIGHT + 600) == []
    assert quote(book, *TCS, NIGHT + 600)["ltp"] == before
    assert book.activate(*TCS, NIGHT + 600)
    assert book.live_instruments() == [TCS]
    prices = []
    for i in range(1, 61):
        assert book.advance(NIGHT + 600 + i) == [TCS]  # 2 steps per second: a print each
        prices.append(book.snapshot(*TCS, NIGHT + 600 + i).ltp)  # type: ignore[union-attr]
    assert len(set(prices)) > 3
    assert (
        quote(book, "nse_cm", "2885", NIGHT + 700)["ltp"]
        == quote(book, "nse_cm", "2885", NIGHT)["ltp"]
    )  # others stay still


def test_snapshot_and_rest_quote_agree_field_by_field() -> None:
    book = TradingBook(seed=3)
    book.activate(*TCS, NIGHT)
    book.advance(NIGHT + 37.25)
    snap = book.snapshot(*TCS, NIGHT + 37.25)
    q = quote(book, *TCS, NIGHT + 37.25)
    assert snap is not None
    assert q["ltp"] == f"{snap.ltp / 100:.2f}"
    assert int(q["lstup_time"]) == snap.ltt
    assert int(q["last_traded_quantity"]) == snap.ltq > 0
    assert int(q["last_volume"]) == snap.volume
    assert int(q["total_buy"]) == snap.total_buy_qty
    assert int(q["total_sell"]) == snap.total_sell_qty
    assert paise(q["ohlc"]["close"]) == snap.close
    assert paise(q["ohlc"]["high"]) == snap.high >= snap.ltp >= snap.low == paise(q["ohlc"]["low"])
    assert paise(q["low_price_range"]) == snap.lower_circuit <= snap.ltp <= snap.upper_circuit
    assert paise(q["high_price_range"]) == snap.upper_circuit
    buy, sell = snap.depth(5)
    assert [
        (int(r["quantity"]), paise(r["price"]), int(r["orders"])) for r in q["depth"]["buy"]
    ] == [*buy]
    assert [
        (int(r["quantity"]), paise(r["price"]), int(r["orders"])) for r in q["depth"]["sell"]
    ] == [*sell]
    assert snap.total_buy_qty == 7 * sum(r[0] for r in buy)
    buy20, sell20 = snap.depth(20)
    assert buy20[:5] == buy
    assert sell20[:5] == sell
    assert buy20[0][1] < snap.ltp < sell20[0][1]
    assert all(p % snap.tick == 0 for _, p, _ in (*buy20, *sell20))
    assert [p for _, p, _ in buy20] == sorted((p for _, p, _ in buy20), reverse=True)
    assert (snap.trading_symbol, snap.lot_size, snap.tick) == ("TCS-EQ", 1, 5)
    assert book.trading_symbol(*TCS, NIGHT) == "TCS-EQ"
    with pytest.raises(ValueError, match="n=-1"):
        snap.depth(-1)


def test_same_now_same_ltp_whoever_asks_first() -> None:
    """REST calls in between walk the market too; the feed's advance still sees the change."""
    a, b = TradingBook(seed=11), TradingBook(seed=11)
    for book in (a, b):
        book.activate(*TCS, NIGHT)
    place(a, NIGHT, pt="MKT")  # a position, so positions carry the LTP
    place(b, NIGHT, pt="MKT")
    for i in range(1, 40):
        now = NIGHT + i * 0.7
        rest_ltp = quote(a, *TCS, now)["ltp"]  # REST first on a
        assert a.advance(now) == [TCS]  # ... the feed still learns it changed
        assert b.advance(now) == [TCS]  # feed first on b
        snap = b.snapshot(*TCS, now)
        assert snap is not None
        assert rest_ltp == f"{snap.ltp / 100:.2f}" == quote(b, *TCS, now)["ltp"]
        (pos,) = call(a, "positions", now=now)["data"]
        assert pos["ltp"] == rest_ltp


def test_time_never_runs_back_for_the_walk() -> None:
    book = TradingBook(seed=3)
    book.activate(*TCS, NIGHT)
    late = book.snapshot(*TCS, NIGHT + 100)
    early = book.snapshot(*TCS, NIGHT + 10)
    assert late is not None
    assert early is not None
    assert early.ltp == late.ltp
    assert early.ltt == late.ltt
    assert book.advance(NIGHT + 50) == [TCS]  # the change made at NIGHT + 100 is reported
    assert book.advance(NIGHT + 60) == []


def test_activation_is_reference_counted_and_a_stopped_tape_keeps_its_price() -> None:
    book = TradingBook(seed=3)
    assert book.activate(*TCS, NIGHT)
    assert book.activate(*TCS, NIGHT)
    assert book.deactivate(*TCS, NIGHT + 5)
    assert book.advance(NIGHT + 10) == [TCS]  # still live: one activation left
    assert book.deactivate(*TCS, NIGHT + 10)
    assert not book.deactivate(*TCS, NIGHT + 10)  # nothing left to undo
    assert book.live_instruments() == []
    frozen = book.snapshot(*TCS, NIGHT + 10)
    assert book.advance(NIGHT + 500) == []
    assert book.snapshot(*TCS, NIGHT + 500) == frozen
    assert quote(book, *TCS, NIGHT + 500)["ltp"] == f"{frozen.ltp / 100:.2f}"  # type: ignore[union-attr]
    book.activate(*TCS, NIGHT + 500)  # walks on from the same price
    nxt = book.snapshot(*TCS, NIGHT + 500.6)
    assert nxt is not None
    assert frozen is not None
    assert abs(nxt.ltp - frozen.ltp) <= nxt.tick


def test_unknown_instruments() -> None:
    book = TradingBook(seed=3)
    assert not book.activate("nse_cm", "999999", NIGHT)
    assert not book.deactivate("nse_cm", "999999", NIGHT)
    assert book.snapshot("nse_cm", "999999", NIGHT) is None
    assert book.trading_symbol("nse_xx", "1", NIGHT) is None
    with pytest.raises(ValueError, match=r"nse_cm\|999999"):
        book.set_price("nse_cm", "999999", 100, NIGHT)
    with pytest.raises(ValueError, match="now=nan"):
        book.advance(float("nan"))


def test_index_snapshot_and_walk() -> None:
    book = TradingBook(seed=3)
    assert book.trading_symbol("nse_cm", "Nifty 50", NIGHT) == "Nifty 50"
    assert book.activate("nse_cm", "Nifty 50", NIGHT)
    book.advance(NIGHT + 30)
    snap = book.snapshot("nse_cm", "Nifty 50", NIGHT + 30)
    assert snap is not None
    assert snap.is_index
    assert snap.low <= snap.ltp <= snap.high
    assert snap.close > 0
    assert (snap.ltq, snap.volume, snap.upper_circuit, snap.lower_circuit) == (0, 0, 0, 0)
    assert snap.depth(2) == (((0, 0, 0), (0, 0, 0)), ((0, 0, 0), (0, 0, 0)))
    q = quote(book, "nse_cm", "Nifty 50", NIGHT + 30)
    assert q["ltp"] == f"{snap.ltp / 100:.2f}"


# --- fills -------------------------------------------------------------------------------


def walk_until(book: TradingBook, start: float, done: Any, *, step: float = 0.5) -> float:
    """Advance in ``step`` seconds until ``done()``; the time it happened (bounded)."""
    now = start
    for _ in range(20_000):
        now += step
        book.advance(now)
        if done():
            return now
    raise AssertionError("the walk never got there")


def order_row(book: TradingBook, no: str, now: float) -> dict[str, Any]:
    status, body = book.handle(
        "order_detail", ucc=UCC, now=now, data=None, path={"order_no": no}, query={}
    )
    assert status == 200
    assert isinstance(body, dict)
    result: dict[str, Any] = body["data"][0]
    return result


def test_a_resting_limit_buy_fills_at_its_price_and_every_report_agrees() -> None:
    book = TradingBook(seed=5)
    ltp = book.snapshot(*TCS, NIGHT).ltp  # type: ignore[union-attr]
    limit = ltp - 3 * 5
    no = place(book, NIGHT, pt="L", pr=f"{limit / 100:.2f}", qt="4", ig="dip-1")
    assert book.live_instruments() == [TCS]  # a resting order makes it live
    assert paise(call(book, "limits", {}, now=NIGHT)["MarginUsed"]) == 4 * limit

    filled_at = walk_until(book, NIGHT, lambda: book.live_instruments() == [])
    row = order_row(book, no, filled_at)
    assert (row["ordSt"], row["fldQty"], row["unFldSz"], paise(row["avgPrc"])) == (
        "complete",
        4,
        0,
        limit,
    )
    _status, hist = book.handle(
        "order_history", ucc=UCC, now=filled_at, data={"nOrdNo": no}, path={}, query={}
    )
    assert [h["ordSt"] for h in hist["data"]][:2] == ["complete", "open"]  # type: ignore[index]
    (trade,) = call(book, "trades", now=filled_at)["data"]
    assert (trade["nOrdNo"], trade["fldQty"], paise(trade["avgPrc"])) == (no, 4, limit)
    (pos,) = call(book, "positions", now=filled_at)["data"]
    assert (pos["flBuyQty"], paise(pos["buyAmt"])) == ("4", 4 * limit)
    lim = call(book, "limits", {}, now=filled_at)
    assert paise(lim["Net"]) == OPENING_CASH * 100 - 4 * limit
    assert paise(lim["MarginUsed"]) == 4 * limit  # bought, nothing blocked any more
    # The tape stopped on the fill step: that step's print is the fill price.
    snap = book.snapshot(*TCS, filled_at)
    assert snap is not None
    assert snap.ltp == limit
    assert filled_at - 0.5 < row["updRecvTm"] / 1e9 <= filled_at


def test_fills_do_not_depend_on_how_often_the_market_is_advanced() -> None:
    def run(step: float) -> tuple[object, ...]:
        book = TradingBook(seed=9)
        ltp = book.snapshot(*TCS, NIGHT).ltp  # type: ignore[union-attr]
        no = place(book, NIGHT, pt="L", tt="S", pr=f"{(ltp + 20) / 100:.2f}", qt="1")
        book.activate(*TCS, NIGHT)  # stays live after the fill
        walk_until(
            book, NIGHT, lambda: order_row(book, no, NIGHT)["ordSt"] == "complete", step=step
        )
        row = order_row(book, no, NIGHT)
        end = book.snapshot(*TCS, NIGHT + 4000)
        return row["updRecvTm"], row["avgPrc"], end.ltp, end.volume  # type: ignore[union-attr]

    assert run(0.5) == run(7.0) == run(61.0)


def test_stop_loss_market_sell_triggers_on_the_way_down() -> None:
    book = TradingBook(seed=5)
    ltp = book.snapshot(*TCS, NIGHT).ltp  # type: ignore[union-attr]
    place(book, NIGHT, pt="MKT", qt="2")  # hold 2
    stop = ltp - 2 * 5
    no = place(book, NIGHT, pt="SL-M", tt="S", tp=f"{stop / 100:.2f}", qt="2")
    assert order_row(book, no, NIGHT)["ordSt"] == "open"
    done = walk_until(book, NIGHT, lambda: order_row(book, no, NIGHT)["ordSt"] == "complete")
    row = order_row(book, no, done)
    assert paise(row["avgPrc"]) == stop
    (pos,) = call(book, "positions", now=done)["data"]
    assert (pos["flBuyQty"], pos["flSellQty"]) == ("2", "2")


def test_a_jump_fills_at_the_print_price_and_a_stop_limit_can_wait_after_its_trigger() -> None:
    book = TradingBook(seed=5, tick_rate=0)
    ltp = book.snapshot(*TCS, NIGHT).ltp  # type: ignore[union-attr]
    buy = place(book, NIGHT, pt="L", pr=f"{(ltp - 100) / 100:.2f}")
    # buy stop-limit: trigger 1 rupee up, limit only 0.50 up
    stop = place(book, NIGHT, pt="SL", tp=f"{(ltp + 100) / 100:.2f}", pr=f"{(ltp + 50) / 100:.2f}")
    book.set_price(*TCS, ltp - 500, NIGHT + 1)  # gaps through the buy limit
    row = order_row(book, buy, NIGHT + 1)
    assert (row["ordSt"], paise(row["avgPrc"])) == ("complete", ltp - 500)
    book.set_price(*TCS, ltp + 200, NIGHT + 2)  # triggers the stop, above its limit
    assert order_row(book, stop, NIGHT + 2)["ordSt"] == "open"
    book.set_price(*TCS, ltp + 60, NIGHT + 3)  # below the trigger, still above the limit
    assert order_row(book, stop, NIGHT + 3)["ordSt"] == "open"
    book.push_tick(*TCS, ltp + 50, NIGHT + 4, qty=7)  # the limit is met: fills, though
    row = order_row(book, stop, NIGHT + 4)  # the price is below the trigger now
    assert (row["ordSt"], paise(row["avgPrc"])) == ("complete", ltp + 50)


def test_amo_orders_do_not_fill_from_the_walk() -> None:
    book = TradingBook(seed=5, tick_rate=0)
    ltp = book.snapshot(*TCS, NIGHT).ltp  # type: ignore[union-attr]
    no = place(book, NIGHT, pt="L", pr=f"{(ltp - 10) / 100:.2f}", am="YES")
    assert book.live_instruments() == []
    book.set_price(*TCS, ltp - 50, NIGHT + 1)
    assert order_row(book, no, NIGHT + 1)["ordSt"] == "open"


def test_cancel_and_modify_move_what_the_walk_watches() -> None:
    book = TradingBook(seed=5, tick_rate=0)
    ltp = book.snapshot(*TCS, NIGHT).ltp  # type: ignore[union-attr]
    no = place(book, NIGHT, pt="L", pr=f"{(ltp - 100) / 100:.2f}", ig="m-1")
    modify = {"no": no, "pt": "L", "pr": f"{(ltp - 20) / 100:.2f}", "qt": "1", "vd": "DAY"}
    call(book, "modify_order", modify, now=NIGHT + 1)
    assert book.live_instruments() == [TCS]
    book.set_price(*TCS, ltp - 50, NIGHT + 2)  # crosses the modified price only
    assert paise(order_row(book, no, NIGHT + 2)["avgPrc"]) == ltp - 50
    other = place(book, NIGHT + 3, pt="L", pr=f"{(ltp - 100) / 100:.2f}")
    call(book, "cancel_order", {"on": other, "am": "NO"}, now=NIGHT + 4)
    book.set_price(*TCS, ltp - 200, NIGHT + 5)
    assert order_row(book, other, NIGHT + 5)["ordSt"] == "cancelled"


# --- test control --------------------------------------------------------------------------


def test_set_price_and_push_tick_are_exact_with_tick_rate_zero() -> None:
    book = TradingBook(seed=3, tick_rate=0)
    before = book.snapshot(*TCS, NIGHT)
    assert before is not None
    book.set_price(*TCS, 345_005, NIGHT)
    assert book.advance(NIGHT) == [TCS]
    snap = book.snapshot(*TCS, NIGHT + 3600)
    assert snap is not None
    assert (snap.ltp, snap.ltq, snap.volume) == (345_005, before.ltq, before.volume)
    book.push_tick(*TCS, 345_100, NIGHT + 10, qty=25)
    snap = book.snapshot(*TCS, NIGHT + 3600)
    assert snap is not None
    assert (snap.ltp, snap.ltq, snap.ltt, snap.volume) == (
        345_100,
        25,
        int(NIGHT + 3600),  # the walk clock had reached NIGHT + 3600: the print is then
        before.volume + 25,
    )
    assert quote(book, *TCS, NIGHT + 3600)["ltp"] == "3451.00"
    book.push_tick(*TCS, 345_000, NIGHT + 3600)  # default: one lot
    assert book.snapshot(*TCS, NIGHT + 3600).ltq == 1  # type: ignore[union-attr]


def test_the_walk_continues_from_a_set_price() -> None:
    book = TradingBook(seed=3)
    book.set_price(*TCS, 345_005, NIGHT)
    snap = book.snapshot(*TCS, NIGHT + 0.5)  # one step
    assert snap is not None
    assert abs(snap.ltp - 345_005) <= 5
    assert book.live_instruments() == [TCS]  # given a price: live for good


@pytest.mark.parametrize(
    ("price", "match"),
    [
        (345_003, "multiple of its tick 0.05"),
        (10_000, "circuit limits"),
        (10**9, "circuit limits"),
        (3450.05, "int number of paise"),
        (True, "int number of paise"),
    ],
)
def test_set_price_refuses_bad_prices(price: Any, match: str) -> None:
    book = TradingBook(seed=3)
    with pytest.raises(ValueError, match=match):
        book.set_price(*TCS, price, NIGHT)
    assert book.live_instruments() == []  # nothing changed


def test_push_tick_refuses_bad_quantities() -> None:
    book = TradingBook(seed=3)
    for qty in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match=f"qty={qty!r}"):
            book.push_tick(*TCS, 345_000, NIGHT, qty=qty)  # type: ignore[arg-type]


def test_rupees_to_paise() -> None:
    assert rupees_to_paise("3450.05") == 345_005
    assert rupees_to_paise(0.1) == 10
    assert rupees_to_paise(12) == 1200
    for bad in ("x", "0", "-1", "1.005", float("inf"), None, True, [1]):
        with pytest.raises(ValueError, match="price="):
            rupees_to_paise(bad)


def test_resolve_names() -> None:
    book = TradingBook(seed=3)
    assert book.resolve("nse_cm|11536", NIGHT) == TCS
    assert book.resolve(" TCS-EQ ", NIGHT) == TCS
    assert book.resolve("nse_cm|TCS-EQ", NIGHT) == TCS
    assert book.resolve("TCS", NIGHT) == ("bse_cm", "532540")
    assert book.resolve("Nifty 50", NIGHT) == ("nse_cm", "Nifty 50")
    for bad in ("", "NOPE", "nse_cm|0", 5):
        with pytest.raises(ValueError, match="instrument="):
            book.resolve(bad, NIGHT)  # type: ignore[arg-type]


def test_tick_rate_changes_at_runtime() -> None:
    book = TradingBook(seed=3, tick_rate=0)
    book.activate(*TCS, NIGHT)
    assert book.advance(NIGHT + 100) == []
    book.set_tick_rate(1000, NIGHT + 100)
    assert book.tick_rate == 1000.0
    assert book.advance(NIGHT + 101) == [TCS]
    snap = book.snapshot(*TCS, NIGHT + 101)
    assert snap is not None
    assert snap.ltt == int(NIGHT + 101)
    for bad in (-1, float("nan"), 2e6, "2", True):
        with pytest.raises(ValueError, match="tick_rate="):
            book.set_tick_rate(bad, NIGHT + 102)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="tick_rate="):
        TradingBook(tick_rate=-1)


# --- order-feed events ---------------------------------------------------------------------


def test_listener_sees_every_status_and_fill_in_sdk_model_shapes() -> None:
    book = TradingBook(seed=5, tick_rate=0)
    events: list[tuple[str, dict[str, Any]]] = []
    book.add_listener(lambda ucc, message: events.append((ucc, message)))
    ltp = book.snapshot(*TCS, NIGHT).ltp  # type: ignore[union-attr]
    mkt = place(book, NIGHT)
    kinds = [(m["type"], m["data"].get("ordSt")) for _, m in events]
    assert kinds == [
        ("order", "put order req received"),
        ("order", "validation pending"),
        ("order", "open pending"),
        ("order", "open"),
        ("order", "complete"),
        ("position", None),
    ]
    assert {ucc for ucc, _ in events} == {UCC}
    assert events[4][1]["data"] == order_row(book, mkt, NIGHT)  # the REST row of that moment
    order = OrderUpdate.model_validate(events[4][1])
    assert (order.data.order_id, order.data.filled_quantity, order.data.unfilled_size) == (
        mkt,
        1,
        0,
    )
    assert order.data.update_receive_time == events[4][1]["data"]["updRecvTm"]
    position = PositionUpdate.model_validate(events[5][1])
    assert (position.data.filled_buy_quantity, position.data.account_id) == ("1", UCC)
    assert all(isinstance(v, str) for v in events[5][1]["data"].values())

    events.clear()
    rest = place(book, NIGHT + 1, pt="L", pr=f"{(ltp - 10) / 100:.2f}")
    book.set_price(*TCS, ltp - 10, NIGHT + 2)
    assert [(m["type"], m["data"].get("ordSt")) for _, m in events][-3:] == [
        ("order", "open"),
        ("order", "complete"),
        ("position", None),
    ]
    assert events[-2][1]["data"]["nOrdNo"] == rest
    assert events[-1][1]["data"]["flBuyQty"] == "2"

    events.clear()
    cancelled = place(book, NIGHT + 3, pt="L", pr="1.00")
    call(book, "cancel_order", {"on": cancelled, "am": "NO"}, now=NIGHT + 4)
    assert events[-1][1]["data"]["ordSt"] == "cancelled"
    events.clear()
    data = {"am": "NO", "es": "nse_cm", "pc": "CNC", "pt": "MKT", "qt": "100000", "ts": "TCS-EQ"}
    call(book, "place_order", {**data, "tt": "B", "rt": "DAY", "pr": "0", "tp": "0"}, now=NIGHT)
    assert [m["data"]["ordSt"] for _, m in events] == [
        "put order req received",
        "validation pending",
        "rejected",
    ]


def test_a_failing_listener_is_counted_and_does_not_break_the_book() -> None:
    book = TradingBook(seed=5)
    seen: list[str] = []

    def bad(ucc: str, message: dict[str, Any]) -> None:
        raise RuntimeError("boom")

    book.add_listener(bad)
    book.add_listener(lambda ucc, message: seen.append(str(message["type"])))
    place(book, NIGHT)
    assert book.listener_errors == 6
    assert len(seen) == 6
    assert book.remove_listener(bad)
    assert not book.remove_listener(bad)
    place(book, NIGHT)
    assert book.listener_errors == 6


def test_order_feed_state_replays_current_orders_and_positions() -> None:
    book = TradingBook(seed=5, tick_rate=0)
    assert book.order_feed_state(UCC) == []
    a = place(book, NIGHT)
    b = place(book, NIGHT, pt="L", pr="1.00")
    place(book, NIGHT, ts="INFY-EQ")
    state = book.order_feed_state(UCC)
    assert [m["type"] for m in state] == ["order"] * 3 + ["position"] * 2
    assert state[0]["data"] == order_row(book, a, NIGHT)
    assert state[1]["data"] == order_row(book, b, NIGHT)
    positions = call(book, "positions", now=NIGHT)["data"]
    assert [m["data"] for m in state[3:]] == [{k: str(v) for k, v in p.items()} for p in positions]
    assert book.order_feed_state("SOMEONE-ELSE") == []


# --- cost bounds and other views of the walked price -----------------------------------------


def test_only_tapes_with_a_step_due_are_walked_and_the_schedule_stays_small() -> None:
    from aioneo.testing._trading_market import EQUITIES

    book = TradingBook(seed=3, tick_rate=1.0)
    keys = [(seg, token) for seg, token, *_ in EQUITIES]
    for seg, token in keys[:7]:
        book.activate(seg, token, NIGHT)
    for seg, token in keys[7:]:
        book.activate(seg, token, NIGHT + 0.5)
    assert book.advance(NIGHT + 0.99) == []  # no first step is due yet
    assert book.advance(NIGHT + 1.0) == keys[:7]
    assert book.advance(NIGHT + 1.49) == []
    assert book.advance(NIGHT + 1.5) == keys[7:]
    assert sorted(book.advance(NIGHT + 10)) == sorted(keys)
    for i in range(1000):  # each print restarts TCS's walk: old schedule entries are dropped
        book.set_price(*TCS, 345_000 + 5 * (i % 3), NIGHT + 10)
    assert len(book._market._due) <= 4 * len(keys) + 64 + 1
    assert book.snapshot(*TCS, NIGHT + 10).ltp == 345_000  # type: ignore[union-attr]


def test_option_chain_and_holdings_show_walked_prices() -> None:
    book = TradingBook(seed=3, tick_rate=0)
    status, body = book.handle(
        "option_chain",
        ucc=UCC,
        now=NIGHT,
        data=None,
        path={},
        query={"exchange": "nse_fo", "underlying": "NIFTY", "count": "10"},
    )
    assert status == 200
    row = body["data"]["call"][0]  # type: ignore[index]
    seg, token = row["instrument"]["neoSymbol"].split("|")
    before = paise(row["quote"]["ltp"])
    book.set_price(seg, token, before + 5, NIGHT)
    status, body = book.handle(
        "option_chain",
        ucc=UCC,
        now=NIGHT,
        data=None,
        path={},
        query={"exchange": "nse_fo", "underlying": "NIFTY", "count": "10"},
    )
    assert paise(body["data"]["call"][0]["quote"]["ltp"]) == before + 5  # type: ignore[index]
    first = call(book, "holdings", now=NIGHT)["data"][0]
    token = str(first["exchangeIdentifier"])
    moved = book.snapshot("nse_cm", token, NIGHT).upper_circuit  # type: ignore[union-attr]
    book.set_price("nse_cm", token, moved, NIGHT)
    again = call(book, "holdings", now=NIGHT)["data"][0]
    assert again["mktValue"] == pytest.approx(first["quantity"] * moved / 100)
    assert again["mktValue"] != first["mktValue"]


def test_threads_advancing_in_any_order_end_on_the_same_price() -> None:
    import threading

    def final(threads: int) -> tuple[int, int, int]:
        book = TradingBook(seed=21, tick_rate=50.0)
        book.activate(*TCS, NIGHT)
        book.activate("nse_cm", "Nifty 50", NIGHT)
        barrier = threading.Barrier(threads)

        def worker(offset: int) -> None:
            barrier.wait()
            for i in range(offset, 400, threads):
                book.advance(NIGHT + i * 0.37)
                quote(book, *TCS, NIGHT + i * 0.37 + 0.1)

        workers = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        end = NIGHT + 400 * 0.37
        snap = book.snapshot(*TCS, end)
        index = book.snapshot("nse_cm", "Nifty 50", end)
        assert snap is not None
        assert index is not None
        return snap.ltp, snap.volume, index.ltp

    assert final(1) == final(4)


def test_a_walk_fill_reaches_the_listener_with_its_step_time() -> None:
    book = TradingBook(seed=5)
    events: list[dict[str, Any]] = []
    book.add_listener(lambda ucc, message: events.append(message))
    ltp = book.snapshot(*TCS, NIGHT).ltp  # type: ignore[union-attr]
    no = place(book, NIGHT, pt="L", tt="S", pr=f"{(ltp + 10) / 100:.2f}")
    events.clear()
    done = walk_until(book, NIGHT, lambda: bool(events), step=3.0)
    order, position = events
    assert (order["type"], order["data"]["nOrdNo"], order["data"]["ordSt"]) == (
        "order",
        no,
        "complete",
    )
    assert order["data"] == order_row(book, no, done)
    assert position["type"] == "position"
    assert position["data"]["flSellQty"] == "1"
    step_time = order["data"]["updRecvTm"] / 1e9
    assert done - 3.0 < step_time <= done
    assert (step_time - NIGHT) * 2 == pytest.approx(round((step_time - NIGHT) * 2), abs=1e-6)
