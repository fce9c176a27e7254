"""Order-feed messages, typed (against the SDK's parse), and the reconnect-gap ledger."""

from __future__ import annotations

import json
import random
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from aioneo import IST, OrderStatus, OrderUpdate, PositionUpdate, Product, TransactionType
from aioneo._core._feed_protocol import AuthOutcome, AuthResult
from aioneo._core._order_feed import OrderLedger, OtherMessage, parse_order_feed
from aioneo._models import Order, parse_order_report

order_client = pytest.importorskip("neo_api_client.websocket.orderfeed.client")

ORDER = {
    "nOrdNo": "250122000123",
    "exOrdId": "1100000012345",
    "ordSt": "complete",
    "avgPrc": "101.05",
    "qty": 10,
    "fldQty": "10",
    "unFldSz": 0,
    "trnsTp": "B",
    "prcTp": "L",
    "prod": "CNC",
    "exSeg": "nse_cm",
    "sym": "RELIANCE",
    "trdSym": "RELIANCE-EQ",
    "tok": "2885",
    "ordDtTm": "22-Jan-2025 14:28:01",
    "updRecvTm": 1_737_536_281_123_456_789,
    "boeSec": 1_737_536_281,
    "exCfmTm": "22-Jan-2025 14:28:02",
    "GuiOrdId": "aioneo-0123456789ab",
    "newField": "kept",
}
POSITION = {
    "actId": "AB1234",
    "sym": "RELIANCE",
    "exSeg": "nse_cm",
    "prod": "MIS",
    "flBuyQty": "10",
    "flSellQty": "4",
    "buyAmt": "1010.50",
    "sellAmt": "406.00",
    "posFlg": "true",
    "sqrFlg": "Y",
    "lotSz": "1",
    "multiplier": "1",
    "hsUpTm": "2025/01/22 14:30:00",
}


def test_an_order_message_is_typed_with_the_rest_models_rules() -> None:
    update = parse_order_feed(json.dumps({"type": "order", "data": ORDER}))
    assert isinstance(update, OrderUpdate)
    assert update.order_id == "250122000123"
    assert update.status is OrderStatus.COMPLETE
    assert update.average_price == Decimal("101.05")
    assert (update.quantity, update.filled_quantity, update.pending_quantity) == (10, 10, 0)
    assert update.transaction_type is TransactionType.BUY
    assert update.product is Product.CNC
    assert update.instrument_token == "2885"
    assert update.order_time == datetime(2025, 1, 22, 14, 28, 1, tzinfo=IST)
    assert update.updated_at is not None
    assert update.updated_at.tzinfo is IST
    assert abs(update.updated_at.timestamp() - 1_737_536_281.123) < 0.001  # nanoseconds
    assert update.tag == "aioneo-0123456789ab"
    assert update.reconciled is False
    assert update.raw["newField"] == "kept"
    assert "newField" not in repr(update)


def test_a_position_message_is_typed() -> None:
    update = parse_order_feed(json.dumps({"type": "position", "data": POSITION}).encode())
    assert isinstance(update, PositionUpdate)
    assert (update.buy_quantity, update.sell_quantity, update.net_quantity) == (10, 4, 6)
    assert update.buy_amount == Decimal("1010.50")
    assert update.product is Product.MIS
    assert update.updated_at == datetime(2025, 1, 22, 14, 30, tzinfo=IST)


def _random_order(rng: random.Random) -> dict[str, Any]:
    data: dict[str, Any] = dict(ORDER)
    data["nOrdNo"] = str(rng.randrange(10**11, 10**12))
    data["ordSt"] = rng.choice(["open", "complete", "rejected", "cancelled", "some new state"])
    data["qty"] = rng.randrange(1, 1000)
    data["fldQty"] = rng.randrange(0, data["qty"] + 1)
    data["unFldSz"] = data["qty"] - data["fldQty"]
    data["avgPrc"] = f"{rng.randrange(0, 10**6) / 100:.2f}"
    for key in rng.sample(sorted(data), 3):
        if key != "nOrdNo":
            del data[key]
    return data


def test_order_fields_agree_with_the_sdks_parse() -> None:
    sdk = order_client.OrderFeedWebSocket(base_url=None, auth="t", sid="s", url="wss://h")
    rng = random.Random(5)
    for _ in range(300):
        text = json.dumps({"type": "order", "data": _random_order(rng)})
        ours = parse_order_feed(text)
        theirs = sdk._parse_message(text).data
        assert isinstance(ours, OrderUpdate)
        assert ours.order_id == theirs.order_id
        assert ours.exchange_order_id == theirs.exchange_order_id
        assert (ours.status.value if ours.status else None) == theirs.order_status
        assert ours.quantity == theirs.quantity
        assert ours.filled_quantity == theirs.filled_quantity
        assert ours.pending_quantity == theirs.unfilled_size
        avg = None if theirs.average_price is None else Decimal(theirs.average_price)
        assert ours.average_price == avg
        assert (ours.transaction_type or None) == theirs.transaction_type
        assert ours.trading_symbol == theirs.trading_symbol
        assert ours.instrument_token == theirs.token


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        ("not json", "not JSON"),
        (b"\xff\xfe", "not UTF-8"),
        ("[1]", "not a JSON object"),
        ('{"type": "trade", "data": {}}', "unknown message type 'trade'"),
        ('{"type": "order", "data": {"qty": "ten", "nOrdNo": "1"}}', "unreadable order"),
        ('{"type": "order", "data": {"ordSt": "open"}}', "unreadable order"),
        ('{"type": "position", "data": "x"}', "unreadable position"),
        ('{"stat": "invalid request format"}', "unknown message type None"),
    ],
)
def test_anything_else_is_another_message_never_an_exception(
    frame: str | bytes, reason: str
) -> None:
    result = parse_order_feed(frame)
    assert isinstance(result, OtherMessage)
    assert reason in result.reason


def test_the_ack_comes_back_as_an_auth_result() -> None:
    ok = parse_order_feed('{"ak":"ok","type":"cn"}')
    assert isinstance(ok, AuthResult)
    assert ok.outcome is AuthOutcome.ACCEPTED


def _order(order_id: str, status: str, filled: int = 0, *, qty: int = 10) -> Order:
    row = {
        "nOrdNo": order_id,
        "ordSt": status,
        "qty": qty,
        "fldQty": filled,
        "unFldSz": qty - filled,
        "prc": "100.00",
        "avgPrc": "100.00" if filled else "0",
        "trdSym": "RELIANCE-EQ",
        "GuiOrdId": f"tag-{order_id}",
    }
    (order,) = parse_order_report({"stat": "Ok", "data": [row]})
    return order


def _pushed(order_id: str, status: str, filled: int = 0, *, qty: int = 10) -> OrderUpdate:
    data = {
        "nOrdNo": order_id,
        "ordSt": status,
        "qty": qty,
        "fldQty": filled,
        "unFldSz": qty - filled,
        "avgPrc": "100.00" if filled else "0",
    }
    update = parse_order_feed(json.dumps({"type": "order", "data": data}))
    assert isinstance(update, OrderUpdate)
    return update


def test_reconcile_reports_what_changed_in_the_gap_and_drops_the_repush() -> None:
    ledger = OrderLedger()
    ledger.baseline([_order("A", "complete", 10), _order("B", "open")])
    assert ledger.accept(_pushed("B", "open", 0)) is False  # the baseline's state again
    assert ledger.accept(_pushed("C", "open")) is True
    # ... the socket drops; meanwhile B fills, C is cancelled, D is placed ...
    book = [
        _order("A", "complete", 10),
        _order("B", "complete", 10),
        _order("C", "cancelled"),
        _order("D", "open"),
    ]
    updates = ledger.reconcile(book)
    assert [(u.order_id, u.status) for u in updates] == [
        ("B", OrderStatus.COMPLETE),
        ("C", OrderStatus.CANCELLED),
        ("D", OrderStatus.OPEN),
    ]
    assert all(u.reconciled for u in updates)
    assert updates[0].tag == "tag-B"
    assert updates[0].raw["GuiOrdId"] == "tag-B"  # the book's row
    # The server's re-push of the current states after the reconnect: all dropped.
    for repush in (
        _pushed("B", "complete", 10),
        _pushed("C", "cancelled"),
        _pushed("A", "complete", 10),
    ):
        assert ledger.accept(repush) is False
    assert ledger.reconcile(book) == []  # nothing new on a second look
    assert len(ledger) == 4


def test_a_return_to_an_earlier_state_is_not_a_repeat() -> None:
    ledger = OrderLedger()
    assert ledger.accept(_pushed("A", "open", qty=10))
    assert ledger.accept(_pushed("A", "modified", qty=20))
    assert ledger.accept(_pushed("A", "open", qty=20))
    assert ledger.accept(_pushed("A", "open", qty=10))  # modified back
    assert not ledger.accept(_pushed("A", "open", qty=10))  # the same again: a repeat


def test_a_final_state_is_never_overwritten_by_an_older_book_row() -> None:
    ledger = OrderLedger()
    assert ledger.accept(_pushed("A", "complete", 10))
    assert ledger.reconcile([_order("A", "open", 0)]) == []  # the book lags the feed
    assert ledger.accept(_pushed("B", "open", 0))
    (update,) = ledger.reconcile([_order("B", "open", 5)])  # a partial fill in the gap
    assert update.filled_quantity == 5
    assert update.reconciled


def test_a_field_one_side_lacks_does_not_make_states_differ() -> None:
    ledger = OrderLedger()
    assert ledger.accept(_pushed("A", "open"))  # the feed message carries no price
    assert ledger.reconcile([_order("A", "open")]) == []  # the book row does: same state


def test_a_stale_push_after_a_final_state_is_dropped() -> None:
    """The book read after a reconnect said complete; the order's earlier states, still
    queued in the socket, arrive after it: each is dropped, so the fill is seen once."""
    ledger = OrderLedger()
    updates = ledger.reconcile([_order("E", "complete", 10)])
    assert [u.status for u in updates] == [OrderStatus.COMPLETE]
    for status, filled in (("put order req received", 0), ("open", 0), ("complete", 10)):
        assert ledger.accept(_pushed("E", status, filled)) is False
    assert ledger.accept(_pushed("F", "open")) is True
    assert ledger.accept(_pushed("F", "cancelled")) is True  # a final state after an open one
