"""TradingBook: the emulator's order system, reports, portfolio and market data.

Driven directly (no app, no loop): every call passes ``now``, so nothing here sleeps or
reads the clock.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone

import pytest

from aioneo.testing._trading import OPENING_CASH, TRADING_OPS, TradingBook
from aioneo.testing._trading_market import SEGMENTS, Market

IST = timezone(timedelta(hours=5, minutes=30))
# Tuesday 2026-01-06 11:00 IST: a trading session (and a NIFTY weekly expiry day).
NOW = datetime(2026, 1, 6, 11, 0, tzinfo=IST).timestamp()
UCC = "UCC001"

_tags = itertools.count(1)


def call(
    book: TradingBook,
    op: str,
    data: object = None,
    *,
    path: Mapping[str, str] | None = None,
    query: Mapping[str, str] | None = None,
    ucc: str = UCC,
    now: float = NOW,
) -> tuple[int, object]:
    return book.handle(
        op,
        ucc=ucc,
        now=now,
        data=data,  # type: ignore[arg-type]  # bad shapes are part of what is tested
        path=path or {},
        query=query or {},
    )


def ok(book: TradingBook, op: str, data: object = None, **kw: object) -> dict[str, object]:
    status, body = call(book, op, data, **kw)  # type: ignore[arg-type]
    assert status == 200, body
    assert isinstance(body, dict), body
    return body


def order_data(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
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
        "ig": f"tag-{next(_tags)}",
        "os": "NEOTRADEAPI",
    }
    data.update(overrides)
    return data


def place(book: TradingBook, *, ucc: str = UCC, now: float = NOW, **overrides: object) -> str:
    body = ok(book, "place_order", order_data(**overrides), ucc=ucc, now=now)
    assert (body["stat"], body["stCode"]) == ("Ok", 200), body
    return str(body["nOrdNo"])


def ltp(book: TradingBook, seg: str, token: str, now: float = NOW) -> float:
    status, body = call(
        book, "quotes", path={"symbols": f"{seg}|{token}", "quote_type": "ltp"}, now=now
    )
    assert status == 200, body
    assert isinstance(body, list), body
    assert len(body) == 1, body
    return float(body[0]["ltp"])


def paise(text: object) -> int:
    assert isinstance(text, str), text
    return round(float(text) * 100)


def row(book: TradingBook, no: str) -> dict[str, object]:
    body = ok(book, "order_detail", path={"order_no": no})
    data = body["data"]
    assert isinstance(data, list)
    assert len(data) == 1
    result = data[0]
    assert isinstance(result, dict)
    return result


def history(book: TradingBook, no: str) -> list[str]:
    body = ok(book, "order_history", {"nOrdNo": no})
    assert body["stat"] == "Ok"
    assert body["stCode"] == 200
    data = body["data"]
    assert isinstance(data, list)
    return [str(r["ordSt"]) for r in data]


def limits(book: TradingBook, ucc: str = UCC) -> dict[str, object]:
    return ok(book, "limits", {"seg": "ALL", "exch": "ALL", "prod": "ALL"}, ucc=ucc)


def data_of(body: Mapping[str, object]) -> list[dict[str, object]]:
    data = body["data"]
    assert isinstance(data, list)
    return data


def assert_fault(status: int, body: object, context: object) -> None:
    assert status == 400, context
    assert isinstance(body, dict), context
    assert body["status"] == "ERROR", context
    assert body["fault"]["code"] == 400, context
    assert isinstance(body["fault"]["message"], str), context


@pytest.fixture
def book() -> TradingBook:
    return TradingBook(seed=7)


# --- lifecycle and consistency -------------------------------------------------------------


def test_market_order_fills_at_ltp_and_every_book_agrees(book: TradingBook) -> None:
    price = ltp(book, "nse_cm", "11536")
    status, body = call(book, "place_order", order_data(qt="3", ig="alpha-1"))
    assert status == 200
    assert isinstance(body, dict)
    assert set(body) == {"stat", "nOrdNo", "stCode"}
    no = str(body["nOrdNo"])
    assert re.fullmatch(r"260106\d{9}", no)

    r = row(book, no)
    assert (r["ordSt"], r["qty"], r["fldQty"], r["unFldSz"]) == ("complete", 3, 3, 0)
    assert paise(r["avgPrc"]) == round(price * 100)
    assert r["GuiOrdId"] == "alpha-1"
    assert r["trdSym"] == "TCS-EQ"
    assert r["tok"] == "11536"
    assert history(book, no) == [
        "complete",
        "open",
        "open pending",
        "validation pending",
        "put order req received",
    ]
    hist = data_of(ok(book, "order_history", {"nOrdNo": no}))
    assert {h["GuiOrdId"] for h in hist} == {"alpha-1"}
    assert [h["updRecvTm"] for h in hist] == sorted((h["updRecvTm"] for h in hist), reverse=True)

    trades = ok(book, "trades")
    assert trades["stat"] == "ok"
    assert trades["stCode"] == 200
    (fill,) = data_of(trades)
    assert (fill["nOrdNo"], fill["fldQty"], fill["rptTp"]) == (no, 3, "fill")
    assert fill["GuiOrdId"] == "alpha-1"
    assert fill["avgPrc"] == r["avgPrc"]

    positions = ok(book, "positions")
    assert positions["stat"] == "ok"
    assert positions["stCode"] == 200
    (pos,) = data_of(positions)
    value = 3 * paise(r["avgPrc"])
    assert (pos["flBuyQty"], pos["flSellQty"], pos["tok"], pos["prod"]) == (
        "3",
        "0",
        "11536",
        "CNC",
    )
    assert paise(pos["buyAmt"]) == value
    assert isinstance(pos["brdLtQty"], int)
    assert isinstance(pos["updRecvTm"], int)

    lim = limits(book)
    assert lim["stat"] == "Ok"
    assert lim["stCode"] == 200
    assert lim["Category"] == "CLIENT"
    assert paise(lim["Net"]) == OPENING_CASH * 100 - value
    assert paise(lim["MarginUsed"]) == value
    assert paise(lim["CollateralValue"]) == OPENING_CASH * 100

    margin = ok(book, "margin", margin_data(qty="1"))
    assert margin["avlCash"] == f"{(OPENING_CASH * 100 - value) / 100:.6f}"
    assert margin["mrgnUsd"] == f"{value / 100:.6f}"


def margin_data(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "exSeg": "nse_cm",
        "prc": "0",
        "prcTp": "MKT",
        "prod": "CNC",
        "qty": "1",
        "tok": "11536",
        "trnsTp": "B",
        "trgPrc": None,
        "brkName": "KOTAK",
        "brnchId": "ONLINE",
        "slAbsOrTks": None,
        "slVal": None,
        "sqrOffAbsOrTks": None,
        "sqrOffVal": None,
        "trailSL": None,
        "tSLTks": None,
    }
    data.update(overrides)
    return data


def test_check_margin_predicts_exactly_what_a_buy_debits(book: TradingBook) -> None:
    margin = ok(book, "margin", margin_data(qty="5"))
    assert margin["stat"] == "Ok"
    assert margin["stCode"] == 200
    assert margin["rmsVldtd"] == "OK"
    for key in ("avlCash", "totMrgnUsd", "mrgnUsd", "ordMrgn", "reqdMrgn", "avlMrgn", "insufFund"):
        assert re.fullmatch(r"-?\d+\.\d{6}", str(margin[key])), (key, margin[key])
    assert margin["insufFund"] == "0.000000"
    before = paise(limits(book)["Net"])
    place(book, qt="5")
    after = limits(book)
    assert before - paise(after["Net"]) == paise(margin["reqdMrgn"])
    assert paise(after["MarginUsed"]) == paise(margin["reqdMrgn"])
    # A sell needs no cash in this model.
    assert ok(book, "margin", margin_data(trnsTp="S"))["reqdMrgn"] == "0.000000"


def test_sell_fill_credits_cash(book: TradingBook) -> None:
    no = place(book, tt="S", qt="2", ts="SBIN-EQ", pc="MIS")
    r = row(book, no)
    assert r["ordSt"] == "complete"
    assert r["trnsTp"] == "S"
    assert paise(limits(book)["Net"]) == OPENING_CASH * 100 + 2 * paise(r["avgPrc"])
    (pos,) = data_of(ok(book, "positions"))
    assert (pos["flBuyQty"], pos["flSellQty"], pos["prod"]) == ("0", "2", "MIS")


def test_resting_limit_order_blocks_cash_until_cancelled(book: TradingBook) -> None:
    price = ltp(book, "nse_cm", "11536")
    limit = f"{price * 0.9:.2f}"
    no = place(book, pt="L", pr=limit, qt="4", ig="rest-1")
    r = row(book, no)
    assert (r["ordSt"], r["fldQty"], r["unFldSz"], r["prc"]) == ("open", 0, 4, limit)
    assert r["exOrdId"] != "NA"
    blocked = 4 * paise(limit)
    assert paise(limits(book)["Net"]) == OPENING_CASH * 100 - blocked
    assert paise(limits(book)["MarginUsed"]) == blocked
    assert data_of(ok(book, "trades")) == []
    assert data_of(ok(book, "positions")) == []

    cancel_now = NOW + 30
    body = ok(book, "cancel_order", {"on": no, "am": "NO"}, now=cancel_now)
    assert body == {"stat": "Ok", "nOrdNo": no, "stCode": 200}
    r = row(book, no)
    assert (r["ordSt"], r["cnlQty"], r["unFldSz"]) == ("cancelled", 4, 0)
    assert r["GuiOrdId"] == f"rest-1-{int(cancel_now)}"
    assert str(r["GuiOrdId"]).startswith("rest-1")
    assert history(book, no)[:2] == ["cancelled", "open"]
    assert paise(limits(book)["Net"]) == OPENING_CASH * 100
    assert paise(limits(book)["MarginUsed"]) == 0


def test_modify_to_a_marketable_price_fills_and_rewrites_the_tag(book: TradingBook) -> None:
    price = ltp(book, "nse_cm", "1594")
    no = place(book, ts="INFY-EQ", pt="L", pr=f"{price * 0.95:.2f}", qt="2", ig="mod-1")
    assert row(book, no)["ordSt"] == "open"
    modify = {
        "mp": "0",
        "dq": "0",
        "vd": "DAY",
        "pr": f"{price * 0.96:.2f}",
        "pt": "L",
        "am": "NO",
        "tp": "0",
        "qt": "3",
        "no": no,
        "os": "NEOTRADEAPI",
    }
    assert ok(book, "modify_order", modify) == {"stat": "Ok", "nOrdNo": no, "stCode": 200}
    r = row(book, no)
    assert (r["ordSt"], r["qty"], r["GuiOrdId"]) == ("open", 3, "mod-1-M1")
    assert paise(limits(book)["MarginUsed"]) == 3 * paise(modify["pr"])

    modify["pr"] = f"{price * 1.05:.2f}"
    ok(book, "modify_order", modify)
    r = row(book, no)
    assert (r["ordSt"], r["fldQty"], r["GuiOrdId"]) == ("complete", 3, "mod-1-M2")
    assert paise(r["avgPrc"]) == round(price * 100)  # filled at the LTP, not the limit
    assert history(book, no) == [
        "complete",
        "open",
        "modified",
        "open",
        "modified",
        "open",
        "open pending",
        "validation pending",
        "put order req received",
    ]
    hist = data_of(ok(book, "order_history", {"nOrdNo": no}))
    assert [h["GuiOrdId"] for h in hist][-1] == "mod-1"
    assert hist[0]["GuiOrdId"] == "mod-1-M2"
    (fill,) = data_of(ok(book, "trades"))
    assert str(fill["GuiOrdId"]).startswith("mod-1")
    assert paise(limits(book)["MarginUsed"]) == 3 * paise(r["avgPrc"])
    # The original tag stays used: prefix matching finds the order, reuse is refused.
    assert book.orders_by_tag() == {"mod-1": 1}
    status, body = call(book, "place_order", order_data(ig="mod-1"))
    assert status == 200
    assert isinstance(body, dict)
    assert body["stCode"] == 5204


COMPLETED = {
    "stCode": 1021,
    "errMsg": "order is completed",
    "stat": "please provide valid order number",
}


def test_modify_or_cancel_of_a_completed_order_gives_1021(book: TradingBook) -> None:
    no = place(book)
    modify = {
        "mp": "0",
        "dq": "0",
        "vd": "DAY",
        "pr": "0",
        "pt": "MKT",
        "am": "NO",
        "tp": "0",
        "qt": "1",
        "no": no,
        "os": "NEOTRADEAPI",
    }
    assert call(book, "modify_order", modify) == (200, COMPLETED)
    assert call(book, "cancel_order", {"on": no, "am": "NO"}) == (200, COMPLETED)
    assert row(book, no)["ordSt"] == "complete"
    assert len(history(book, no)) == 5


def test_cancel_of_a_cancelled_order_gives_1021_not_open(book: TradingBook) -> None:
    no = place(book, pt="L", pr="1.00")
    ok(book, "cancel_order", {"on": no, "am": "NO"})
    status, body = call(book, "cancel_order", {"on": no, "am": "NO"})
    assert status == 200
    assert isinstance(body, dict)
    assert (body["stCode"], body["errMsg"]) == (1021, "order is cancelled")


def test_untagged_orders_get_a_system_tag(book: TradingBook) -> None:
    no = place(book, ig=None, pt="L", pr="1.00")
    gui = str(row(book, no)["GuiOrdId"])
    assert re.fullmatch(rf"{int(NOW)}-\d{{6}}-{UCC}-ADMINAPI", gui)
    ok(book, "cancel_order", {"on": no, "am": "NO"}, now=NOW + 5)
    assert row(book, no)["GuiOrdId"] == f"{gui}-{int(NOW) + 5}"
    assert book.orders_by_tag() == {}


def test_reused_tag_is_refused_with_5204_and_nothing_is_created(book: TradingBook) -> None:
    first = place(book, ig="dup-1")
    status, body = call(book, "place_order", order_data(ig="dup-1", qt="7"))
    assert status == 200
    assert isinstance(body, dict)
    assert body["stCode"] == 5204
    assert body["stat"] == "Not_Ok"
    assert "dup-1" in str(body["errMsg"])
    assert "already" in str(body["errMsg"])
    assert [r["nOrdNo"] for r in data_of(ok(book, "order_book"))] == [first]
    assert len(data_of(ok(book, "trades"))) == 1
    assert book.orders_by_tag() == {"dup-1": 1}
    # Per user: another account may use the same tag; a new IST day frees it.
    place(book, ig="dup-1", ucc="OTHER")
    assert book.orders_by_tag() == {"dup-1": 2}
    tomorrow = NOW + 86_400
    assert place(book, ig="dup-1", now=tomorrow).startswith("260107")
    assert book.orders_by_tag() == {"dup-1": 3}


def test_tag_of_an_rms_rejected_order_is_used(book: TradingBook) -> None:
    no = place(book, qt="100000", ig="big-1")
    r = row(book, no)
    assert r["ordSt"] == "rejected"
    assert str(r["rejRsn"]).startswith("RMS:")
    assert history(book, no) == ["rejected", "validation pending", "put order req received"]
    assert paise(limits(book)["Net"]) == OPENING_CASH * 100
    assert book.orders_by_tag() == {"big-1": 1}
    _status, body = call(book, "place_order", order_data(ig="big-1", qt="1"))
    assert isinstance(body, dict)
    assert body["stCode"] == 5204
    assert call(book, "cancel_order", {"on": no})[1] == {
        "stCode": 1021,
        "errMsg": "order is rejected",
        "stat": "please provide valid order number",
    }


def test_ioc_that_cannot_fill_is_cancelled_at_once(book: TradingBook) -> None:
    no = place(book, pt="L", pr="1.00", rt="IOC")
    assert row(book, no)["ordSt"] == "cancelled"
    assert history(book, no)[:2] == ["cancelled", "open"]
    assert paise(limits(book)["MarginUsed"]) == 0


def test_stop_orders_trigger_against_the_ltp(book: TradingBook) -> None:
    price = ltp(book, "nse_cm", "3045")
    below, above = f"{price * 0.9:.2f}", f"{price * 1.1:.2f}"
    # A buy stop triggers when the LTP is at or above the trigger.
    filled = place(book, ts="SBIN-EQ", pt="SL-M", tp=below)
    resting = place(book, ts="SBIN-EQ", pt="SL", pr=f"{price * 1.2:.2f}", tp=above)
    assert row(book, filled)["ordSt"] == "complete"
    assert row(book, resting)["ordSt"] == "open"


def test_amo_orders_rest(book: TradingBook) -> None:
    no = place(book, am="YES")
    assert row(book, no)["ordSt"] == "open"


def test_order_book_is_newest_first_and_per_user(book: TradingBook) -> None:
    a = place(book)
    b = place(book, pt="L", pr="1.00")
    other = place(book, ucc="OTHER")
    assert [r["nOrdNo"] for r in data_of(ok(book, "order_book"))] == [b, a]
    assert [r["nOrdNo"] for r in data_of(ok(book, "order_book", ucc="OTHER"))] == [other]
    assert [r["nOrdNo"] for r in book.order_rows()] == [other, b, a]
    rows = book.order_rows()
    rows[0]["ordSt"] = "tampered"
    assert book.order_rows()[0]["ordSt"] != "tampered"
    # Another user's order does not exist for this user.
    _status, body = call(book, "cancel_order", {"on": other}, ucc=UCC)
    assert isinstance(body, dict)
    assert body["stCode"] == 5203


@pytest.mark.parametrize(
    ("op", "data", "path"),
    [
        (
            "modify_order",
            {"no": "260106999999999", "qt": "1", "pr": "0", "pt": "MKT", "vd": "DAY"},
            {},
        ),
        ("cancel_order", {"on": "260106999999999", "am": "NO"}, {}),
        ("order_history", {"nOrdNo": "260106999999999"}, {}),
        ("order_detail", None, {"order_no": "260106999999999"}),
    ],
)
def test_unknown_order_number_gives_5203(
    book: TradingBook, op: str, data: object, path: dict[str, str]
) -> None:
    status, body = call(book, op, data, path=path)
    assert status == 200
    assert isinstance(body, dict)
    assert body["stCode"] == 5203
    assert body["stat"] == "Not_Ok"
    assert "260106999999999" in str(body["errMsg"])


# --- validation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "code", "mentions"),
    [
        ({"es": "nse_xx"}, 1006, "es"),
        ({"es": None}, 1006, "es"),
        ({"es": "cde_fo"}, 1006, "es"),
        ({"ts": "NOSUCH-EQ"}, 1007, "ts"),
        ({"ts": None}, 1007, "ts"),
        ({"es": "bse_cm", "ts": "RELIANCE-EQ"}, 1007, "ts"),
        ({"ts": "Nifty 50"}, 1007, "ts"),
        ({"qt": "0"}, 1009, "qt"),
        ({"qt": "-1"}, 1009, "qt"),
        ({"qt": "1.5"}, 1009, "qt"),
        ({"qt": "ten"}, 1009, "qt"),
        ({"qt": None}, 1009, "qt"),
        ({"qt": True}, 1009, "qt"),
        ({"qt": [1]}, 1009, "qt"),
        ({"pt": "L", "pr": "0"}, 5202, "pr"),
        ({"pt": "L", "pr": None}, 5202, "pr"),
        ({"pt": "L", "pr": "-5"}, 5202, "pr"),
        ({"pt": "SL", "pr": "100", "tp": "0"}, 5202, "tp"),
        ({"pt": "SL-M", "tp": None}, 5202, "tp"),
        ({"pt": "LIMIT"}, 5202, "pt"),
        ({"tt": "Buy"}, 5202, "tt"),
        ({"pc": "BO"}, 5202, "pc"),
        ({"rt": "GTC"}, 5202, "rt"),
        ({"am": "MAYBE"}, 5202, "am"),
        ({"dq": "5", "qt": "2"}, 5202, "dq"),
        ({"ig": 42}, 5202, "ig"),
    ],
)
def test_place_validation_codes(
    book: TradingBook, overrides: dict[str, object], code: int, mentions: str
) -> None:
    status, body = call(book, "place_order", order_data(**overrides))
    assert status == 200
    assert isinstance(body, dict)
    assert (body["stCode"], body["stat"]) == (code, "Not_Ok"), body
    assert mentions in str(body["errMsg"])
    assert book.order_rows() == []
    assert book.orders_by_tag() == {}


def test_fo_quantity_must_be_whole_lots(book: TradingBook) -> None:
    symbol = nifty_option(book)
    _status, body = call(
        book, "place_order", order_data(es="nse_fo", ts=symbol, qt="10", pc="NRML")
    )
    assert isinstance(body, dict)
    assert body["stCode"] == 1009
    assert "75" in str(body["errMsg"])


def test_mcx_allows_day_validity_only(book: TradingBook) -> None:
    exp = ok(
        book,
        "expiries",
        query={"exchange": "mcx_fo", "underlying": "CRUDEOIL", "instrument_type": "fut"},
    )
    d = date.fromisoformat(str(exp["expiries"][0]))  # type: ignore[index]
    symbol = f"CRUDEOIL{d:%y}{d:%b}FUT".upper()
    no = place(book, es="mcx_fo", ts=symbol, qt="100", pc="NRML")
    assert row(book, no)["ordSt"] == "complete"
    _status, body = call(
        book, "place_order", order_data(es="mcx_fo", ts=symbol, qt="100", rt="IOC")
    )
    assert isinstance(body, dict)
    assert body["stCode"] == 5202
    assert "rt" in str(body["errMsg"])


@pytest.mark.parametrize(
    "op", ["place_order", "modify_order", "cancel_order", "order_history", "limits", "margin"]
)
@pytest.mark.parametrize("data", [None, [], "jData", 5])
def test_missing_or_non_object_jdata_is_a_400(book: TradingBook, op: str, data: object) -> None:
    status, body = call(book, op, data)
    assert status == 400
    assert isinstance(body, dict)
    assert body["stCode"] == 5202
    assert "jData" in str(body["errMsg"])


def test_modify_validates_its_fields(book: TradingBook) -> None:
    no = place(book, pt="L", pr="1.00")
    base = {"no": no, "qt": "1", "pr": "1.00", "pt": "L", "vd": "DAY"}
    for overrides, code in (
        ({"qt": "0"}, 1009),
        ({"pr": "0"}, 5202),
        ({"pt": "X"}, 5202),
        ({"vd": "GTC"}, 5202),
        ({"no": None}, 5202),
    ):
        _status, body = call(book, "modify_order", {**base, **overrides})
        assert isinstance(body, dict)
        assert body["stCode"] == code, (overrides, body)
    assert row(book, no)["GuiOrdId"] == book.order_rows()[0]["GuiOrdId"]
    assert row(book, no)["ordSt"] == "open"
    assert row(book, no)["reqId"] == "1"


def test_limits_and_margin_validation(book: TradingBook) -> None:
    status, body = call(book, "limits", {"seg": "EQUITY", "exch": "ALL", "prod": "ALL"})
    assert isinstance(body, dict)
    assert body["stCode"] == 5202
    assert "seg" in str(body["errMsg"])
    for overrides, code in (
        ({"exSeg": "xx"}, 1006),
        ({"tok": "999999"}, 1007),
        ({"tok": "Nifty 50"}, 1007),
        ({"qty": "0"}, 1009),
        ({"trnsTp": "X"}, 5202),
        ({"prcTp": "L", "prc": "0"}, 5202),
    ):
        status, body = call(book, "margin", margin_data(**overrides))
        assert status == 200
        assert isinstance(body, dict)
        assert body["stCode"] == code, overrides
    lim = limits(book)
    assert all(isinstance(v, str) for k, v in lim.items() if k != "stCode")
    assert {
        "Net",
        "MarginUsed",
        "CollateralValue",
        "Category",
        "NotionalCash",
        "AdhocMargin",
    } <= set(lim)
    assert len(lim) > 70
    insufficient = ok(book, "margin", margin_data(qty="1000000"))
    assert insufficient["rmsVldtd"] == "NOT_OK"
    assert insufficient["insufFund"] != "0.000000"


# --- portfolio -----------------------------------------------------------------------------


def test_holdings_are_json_numbers_without_stat(book: TradingBook) -> None:
    body = ok(book, "holdings")
    assert set(body) == {"data"}
    rows = data_of(body)
    assert len(rows) == 3
    for h in rows:
        for key in (
            "averagePrice",
            "quantity",
            "holdingCost",
            "mktValue",
            "closingPrice",
            "sellableQuantity",
            "instrumentToken",
        ):
            assert type(h[key]) in (int, float), key
        assert h["mktValue"] == pytest.approx(
            h["quantity"] * ltp(book, "nse_cm", str(h["exchangeIdentifier"]))
        )  # type: ignore[operator]


def test_positions_are_cheap_to_repeat(book: TradingBook) -> None:
    place(book)
    first = ok(book, "positions")
    second = ok(book, "positions", now=NOW + 0.5)
    assert first["data"] is second["data"]  # same second, no fill since: reused, not rebuilt
    place(book, ts="INFY-EQ")
    assert len(data_of(ok(book, "positions", now=NOW + 0.6))) == 2


def test_fo_order_via_option_chain(book: TradingBook) -> None:
    symbol = nifty_option(book)
    no = place(book, es="nse_fo", ts=symbol, qt="150", pc="NRML")
    r = row(book, no)
    assert (r["ordSt"], r["exSeg"], r["lotSz"], r["optTp"]) == ("complete", "nse_fo", "75", "CE")
    (pos,) = data_of(ok(book, "positions"))
    assert (pos["type"], pos["optTp"], pos["flBuyQty"]) == ("OPTIDX", "CE", "150")
    assert pos["expDt"] != "NA"
    assert str(pos["exp"]).isdigit()
    price = ltp(book, "nse_fo", str(r["tok"]))
    assert paise(r["avgPrc"]) == round(price * 100)


def nifty_option(book: TradingBook) -> str:
    body = ok(
        book, "option_chain", query={"exchange": "nse_fo", "underlying": "NIFTY", "count": "10"}
    )
    calls = body["data"]["call"]  # type: ignore[index]
    return str(calls[5]["instrument"]["symbol"])


# --- market data ---------------------------------------------------------------------------


QUOTE_TYPES = {
    "all": {"ltp", "ohlc", "depth", "year_high", "low_price_range", "open_int", "lstup_time"},
    "ltp": {"ltp"},
    "ohlc": {"ohlc"},
    "oi": {"open_int"},
    "52w": {"year_high", "year_low"},
    "circuit_limits": {"low_price_range", "high_price_range"},
    "scrip_details": {"ltp", "last_volume", "change", "per_change"},
    "market_depth": {"depth"},
}


@pytest.mark.parametrize("quote_type", sorted(QUOTE_TYPES))
def test_quotes_each_type(book: TradingBook, quote_type: str) -> None:
    status, body = call(
        book,
        "quotes",
        path={"symbols": "nse_cm|11536,nse_cm|Nifty 50,bse_cm|500325", "quote_type": quote_type},
    )
    assert status == 200
    assert isinstance(body, list)
    assert len(body) == 3
    assert [q["exchange_token"] for q in body] == ["11536", "Nifty 50", "500325"]
    for q in body:
        assert QUOTE_TYPES[quote_type] <= set(q)
        assert {"exchange_token", "display_symbol", "exchange"} <= set(q)
        for key, value in q.items():
            if key == "ohlc":
                assert all(isinstance(v, str) for v in value.values())
            elif key == "depth":
                assert len(value["buy"]) == 5
                assert len(value["sell"]) == 5
                assert all(isinstance(v, str) for lvl in value["buy"] for v in lvl.values())
            else:
                assert isinstance(value, str), (key, value)


def test_quote_values_are_consistent(book: TradingBook) -> None:
    (q,) = ok_list(book, "nse_cm|2885", "all")
    o = q["ohlc"]
    assert float(o["low"]) <= float(q["ltp"]) <= float(o["high"])
    assert float(q["low_price_range"]) < float(o["close"]) < float(q["high_price_range"])
    assert float(q["change"]) == pytest.approx(float(q["ltp"]) - float(o["close"]), abs=0.001)
    assert (
        float(q["depth"]["buy"][0]["price"])
        < float(q["ltp"])
        < float(q["depth"]["sell"][0]["price"])
    )
    # NSE and BSE listings of one company share one price.
    (b,) = ok_list(book, "bse_cm|500325", "ltp")
    assert b["ltp"] == q["ltp"]


def ok_list(book: TradingBook, symbols: str, quote_type: str) -> list[dict[str, object]]:
    status, body = call(book, "quotes", path={"symbols": symbols, "quote_type": quote_type})
    assert status == 200, body
    assert isinstance(body, list), body
    return body


def test_quotes_limits_and_errors(book: TradingBook) -> None:
    fifty = ",".join(["nse_cm|11536"] * 50)
    assert len(ok_list(book, fifty, "ltp")) == 50
    status, body = call(
        book, "quotes", path={"symbols": fifty + ",nse_cm|2885", "quote_type": "ltp"}
    )
    assert status == 400
    assert isinstance(body, dict)
    assert body["status"] == "ERROR"
    assert body["fault"]["code"] == 400
    assert "50" in body["fault"]["message"]  # type: ignore[index]
    small = TradingBook(seed=7, max_quotes=2)
    assert call(small, "quotes", path={"symbols": "nse_cm|1,nse_cm|2,nse_cm|3"})[0] == 400
    small.max_quotes = 3
    assert call(small, "quotes", path={"symbols": "nse_cm|2885,nse_cm|2,nse_cm|3"})[0] == 200
    with pytest.raises(ValueError, match="max_quotes"):
        small.max_quotes = 0
    for path in (
        {"symbols": "nse_cm|11536", "quote_type": "bogus"},
        {"symbols": "11536"},
        {"symbols": ""},
        {},
    ):
        status, body = call(book, "quotes", path=path)
        assert_fault(status, body, path)
    # Unknown instruments are left out; quote_type defaults to all.
    assert [q["exchange_token"] for q in ok_list(book, "nse_cm|424242,nse_cm|1594", "")] == ["1594"]


def test_expiries(book: TradingBook) -> None:
    body = ok(book, "expiries", query={"exchange": "nse_fo", "underlying": "NIFTY"})
    expiries = body["expiries"]
    assert body["exchange"] == "nse_fo"
    assert body["underlying"] == "NIFTY"
    assert isinstance(expiries, list)
    assert expiries == sorted(expiries)
    assert expiries[0] == "2026-01-06"  # today is a Tuesday expiry, session still open
    assert all(date.fromisoformat(e).weekday() == 1 for e in expiries)
    after_close = datetime(2026, 1, 6, 16, 0, tzinfo=IST).timestamp()
    later = ok(
        book, "expiries", query={"exchange": "nse_fo", "underlying": "NIFTY"}, now=after_close
    )
    assert later["expiries"][0] == "2026-01-13"  # type: ignore[index]
    futs = ok(
        book,
        "expiries",
        query={"exchange": "nse_fo", "underlying": "NIFTY", "instrument_type": "fut"},
    )
    assert futs["expiries"] == ["2026-01-27", "2026-02-24", "2026-03-31"]
    sensex = ok(book, "expiries", query={"exchange": "bse_fo", "underlying": "SENSEX"})
    assert all(date.fromisoformat(e).weekday() == 3 for e in sensex["expiries"])  # type: ignore[union-attr]
    for query in (
        {"exchange": "nse_cm", "underlying": "NIFTY"},
        {"exchange": "nse_fo"},
        {"exchange": "nse_fo", "underlying": "NOPE"},
        {"exchange": "nse_fo", "underlying": "NIFTY", "instrument_type": "swap"},
    ):
        status, err = call(book, "expiries", query=query)
        assert_fault(status, err, query)


def test_option_chain(book: TradingBook) -> None:
    body = ok(book, "option_chain", query={"exchange": "nse_fo", "underlying": "NIFTY"})
    data = body["data"]
    assert isinstance(data, dict)
    assert data["common_data"] == {
        "mktLot": "75",
        "multiplier": "1",
        "unlSymbol": "NIFTY",
        "exSeg": "nse_fo",
        "expiryDt": "2026-01-06",
    }
    assert len(data["call"]) == 40
    assert len(data["put"]) == 40
    strikes = [float(c["instrument"]["strikePrice"]) for c in data["call"]]
    assert strikes == sorted(strikes)
    money = {c["instrument"]["moneyness"] for c in data["call"]}
    assert money <= {"ITM", "ATM", "OTM"}
    assert {"ITM", "OTM"} <= money
    first = data["call"][0]
    assert set(first) == {"instrument", "quote", "openInterest"}
    assert set(first["quote"]) == {"ltp", "open", "high", "low", "prevClose", "close", "volume"}
    assert set(first["openInterest"]) == {"current", "previous", "change", "changePct"}
    (fut,) = data["fut"]
    assert set(fut) == {"inst", "quote", "oi"}
    assert set(fut["oi"]) == {
        "cur",
        "prev",
        "chg",
        "chgPct",
    }
    # A call's neoSymbol quotes the same LTP the chain shows.
    (q,) = ok_list(book, first["instrument"]["neoSymbol"], "ltp")
    assert q["ltp"] == first["quote"]["ltp"]

    futs = ok(
        book,
        "option_chain",
        query={"exchange": "nse_fo", "underlying": "NIFTY", "instrument_type": "fut"},
    )
    fdata = futs["data"]
    assert fdata["call"] == []
    assert fdata["put"] == []
    assert len(fdata["fut"]) == 3
    twenty = ok(
        book,
        "option_chain",
        query={"exchange": "nse_fo", "underlying": "NIFTY", "count": "20", "expiry": "2026-01-13"},
    )
    assert len(twenty["data"]["call"]) == 20  # type: ignore[index,arg-type]
    assert twenty["data"]["common_data"]["expiryDt"] == "2026-01-13"  # type: ignore[index]
    for query in (
        {"exchange": "nse_fo", "underlying": "NIFTY", "count": "15"},
        {"exchange": "nse_fo", "underlying": "NIFTY", "count": "0"},
        {"exchange": "nse_fo", "underlying": "NIFTY", "count": "ten"},
        {"exchange": "nse_fo", "underlying": "NIFTY", "expiry": "2026-01-07"},
        {"exchange": "nse_fo", "underlying": "NIFTY", "expiry": "07JAN2026"},
        {"exchange": "mcx", "underlying": "NIFTY"},
    ):
        status, err = call(book, "option_chain", query=query)
        assert_fault(status, err, query)


@pytest.mark.parametrize(
    ("interval", "max_days"),
    [
        ("1min", 30),
        ("3min", 30),
        ("5min", 30),
        ("10min", 60),
        ("15min", 60),
        ("30min", 90),
        ("60min", 90),
        ("D", 180),
        ("W", 180),
    ],
)
def test_historical_range_limits(book: TradingBook, interval: str, max_days: int) -> None:
    end = date(2026, 1, 6)
    query = {"neosymbol": "nse_cm|11536", "interval": interval, "todate": end.isoformat()}
    start = (end - timedelta(days=max_days)).isoformat()
    body = ok(book, "historical", query={**query, "fromdate": start})
    assert body["status"] == "success"
    assert body["interval"] == interval
    candles = body["data"]["candles"]  # type: ignore[index]
    assert candles
    for stamp, o, h, lo, c, volume, oi in candles:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:00\+0530", stamp)
        assert lo <= min(o, c) <= max(o, c) <= h
        assert isinstance(volume, int)
        assert volume >= 0
        assert oi == 0
    assert candles[-1][0] <= "2026-01-06T11:00:00+0530"  # nothing from the future
    too_far = (end - timedelta(days=max_days + 1)).isoformat()
    status, err = call(book, "historical", query={**query, "fromdate": too_far})
    assert status == 400
    assert isinstance(err, dict)
    assert err["status"] == "ERROR"
    assert str(max_days) in err["fault"]["message"]  # type: ignore[index]


def test_historical_shapes_and_errors(book: TradingBook) -> None:
    day = ok(
        book,
        "historical",
        query={
            "neosymbol": "nse_cm|2885",
            "interval": "D",
            "fromdate": "2025-12-29",
            "todate": "2026-01-06",
        },
    )
    stamps = [c[0][:10] for c in day["data"]["candles"]]  # type: ignore[index]
    assert stamps == [
        "2025-12-29",
        "2025-12-30",
        "2025-12-31",
        "2026-01-01",
        "2026-01-02",
        "2026-01-05",
        "2026-01-06",
    ]
    minutes = ok(
        book,
        "historical",
        query={
            "neosymbol": "nse_cm|2885",
            "interval": "5min",
            "fromdate": "2026-01-06",
            "todate": "2026-01-06",
        },
    )
    assert len(minutes["data"]["candles"]) == (11 * 60 - (9 * 60 + 15)) // 5 + 1  # type: ignore[index]
    status, err = call(
        book,
        "historical",
        query={
            "neosymbol": "nse_cm|2885",
            "interval": "2min",
            "fromdate": "2026-01-06",
            "todate": "2026-01-06",
        },
    )
    assert status == 400
    assert err == {
        "status": "ERROR",
        "fault": {"code": 400, "message": "Invalid interval value"},
    }
    for query in (
        {
            "neosymbol": "mcx_fo|1234",
            "interval": "D",
            "fromdate": "2026-01-01",
            "todate": "2026-01-02",
        },
        {
            "neosymbol": "nse_com|1234",
            "interval": "D",
            "fromdate": "2026-01-01",
            "todate": "2026-01-02",
        },
        {
            "neosymbol": "nse_cm|2885",
            "interval": "D",
            "fromdate": "2026-01-05",
            "todate": "2026-01-01",
        },
        {
            "neosymbol": "nse_cm|2885",
            "interval": "D",
            "fromdate": "01-01-2026",
            "todate": "2026-01-02",
        },
        {"neosymbol": "nse_cm|2885", "interval": "D", "todate": "2026-01-02"},
        {
            "neosymbol": "nse_cm|999999",
            "interval": "D",
            "fromdate": "2026-01-01",
            "todate": "2026-01-02",
        },
        {"neosymbol": "2885", "interval": "D", "fromdate": "2026-01-01", "todate": "2026-01-02"},
    ):
        status, err = call(book, "historical", query=query)
        assert_fault(status, err, query)


def test_scrip_master_paths_and_csv(book: TradingBook) -> None:
    body = ok(book, "scrip_master")
    data = body["data"]
    assert isinstance(data, dict)
    assert set(data) == {"baseFolder", "filesPaths"}
    paths = data["filesPaths"]
    assert all(p.startswith(data["baseFolder"]) and "/2026-01-06/" in p for p in paths)
    for seg in ("nse_cm", "bse_cm", "nse_fo", "bse_fo", "mcx_fo"):
        assert any(seg in p for p in paths), seg
    csv = book.scrip_csv("nse_cm", now=NOW)
    assert csv is not None
    assert "TCS-EQ" in csv
    assert csv.splitlines()[0].startswith("pSymbol,")
    fo = book.scrip_csv("nse_fo", now=NOW)
    assert fo is not None
    assert nifty_option(book) in fo
    assert book.scrip_csv("nse_xx", now=NOW) is None


def test_prices_move_in_session_and_freeze_outside_it(book: TradingBook) -> None:
    intraday = {ltp(book, "nse_cm", "2885", NOW + 60 * i) for i in range(30)}
    assert len(intraday) > 5
    friday_close = datetime(2026, 1, 9, 15, 30, tzinfo=IST).timestamp()
    weekend = [
        datetime(2026, 1, d, h, tzinfo=IST).timestamp() for d, h in ((9, 18), (10, 12), (12, 8))
    ]
    closes = {ltp(book, "nse_cm", "2885", t) for t in [friday_close, *weekend]}
    assert len(closes) == 1


# --- determinism and robustness ------------------------------------------------------------


def scripted(seed: int) -> str:
    book = TradingBook(seed=seed)
    out: list[object] = []
    out.append(call(book, "place_order", order_data(ig="d1")))
    out.append(call(book, "place_order", order_data(ig="d2", pt="L", pr="100.00")))
    out.append(call(book, "order_book"))
    out.append(call(book, "trades"))
    out.append(call(book, "positions"))
    out.append(call(book, "limits", {"seg": "ALL", "exch": "ALL", "prod": "ALL"}))
    out.append(call(book, "holdings"))
    out.append(
        call(book, "quotes", path={"symbols": "nse_cm|11536,nse_cm|Nifty 50", "quote_type": "all"})
    )
    out.append(
        call(
            book, "option_chain", query={"exchange": "nse_fo", "underlying": "NIFTY", "count": "10"}
        )
    )
    out.append(
        call(
            book,
            "historical",
            query={
                "neosymbol": "nse_cm|1594",
                "interval": "15min",
                "fromdate": "2026-01-01",
                "todate": "2026-01-06",
            },
        )
    )
    return json.dumps(out, sort_keys=True)


def test_same_seed_same_answers_other_seed_other_answers() -> None:
    assert scripted(5) == scripted(5)
    assert scripted(5) != scripted(6)


_WEIRD: list[object] = [
    None,
    [],
    "x",
    5,
    1.5,
    True,
    {},
    {"a": 1},
    [1, 2],
    "",
    " ",
    "-1",
    "1e999",
    "NaN",
]


def test_bad_input_never_raises(book: TradingBook) -> None:
    good = order_data()
    payloads: list[object] = [None, [], "jData", 7, {}, {"es": []}, {"x": {"y": 1}}]
    for key in (*good, "no", "on", "nOrdNo", "seg", "exch", "prod", "exSeg", "tok", "qty", "prc"):
        payloads.extend({**good, key: weird} for weird in _WEIRD)
    paths: list[object] = [
        {},
        {"order_no": None},
        {"order_no": 5},
        {"symbols": None},
        {"symbols": "|,|", "quote_type": 3},
        {"symbols": ["a"]},
        {"symbols": "nse_cm|Nifty 50,nse_fo|1", "quote_type": None},
    ]
    queries: list[object] = [
        {},
        {"exchange": None, "count": 5},
        {"exchange": "nse_fo", "underlying": 5, "count": "-10", "expiry": 3},
        {"neosymbol": "|", "interval": "D", "fromdate": "", "todate": None},
        {"neosymbol": "nse_cm|2885", "interval": "W", "fromdate": 20260101, "todate": "x"},
    ]
    statuses: set[int] = set()
    for op in (*TRADING_OPS, "login", "nonsense", ""):
        calls = [(data, {}, {}) for data in payloads]
        calls += [(good, path, query) for path in paths for query in queries]
        for data, path, query in calls:
            status, body = book.handle(
                op,
                ucc=UCC,
                now=NOW,
                data=data,  # type: ignore[arg-type]
                path=path,  # type: ignore[arg-type]
                query=query,  # type: ignore[arg-type]
            )
            json.dumps(body)
            statuses.add(status)
    assert statuses == {200, 400, 404}


def test_tokens_and_symbols_are_unique_and_stable_across_days() -> None:
    market = Market(seed=3)
    next_week = NOW + 7 * 86_400
    for seg in SEGMENTS:
        today = market.tradable_instruments(seg, NOW)
        assert today, seg
        assert len({i.token for i in today}) == len(today), seg
        assert len({i.trd_sym for i in today}) == len(today), seg
        later = {i.trd_sym: i.token for i in market.tradable_instruments(seg, next_week)}
        shared = [i for i in today if i.trd_sym in later]
        assert shared, seg
        assert all(later[i.trd_sym] == i.token for i in shared), seg


def test_concurrent_places_with_shared_tags_accept_each_tag_once() -> None:
    book = TradingBook(seed=11)
    tags = [f"shared-{i}" for i in range(40)]
    codes: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        for tag in tags:
            _, body = call(book, "place_order", order_data(ig=tag, pt="L", pr="1.00"))
            code = int(str(body["stCode"])) if isinstance(body, dict) else -1
            with lock:
                codes.append(code)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes.count(200) == 40
    assert codes.count(5204) == 7 * 40
    assert book.orders_by_tag() == dict.fromkeys(tags, 1)
    numbers = [r["nOrdNo"] for r in book.order_rows()]
    assert len(set(numbers)) == 40


def test_unknown_op_is_a_404(book: TradingBook) -> None:
    status, body = call(book, "login")
    assert status == 404
    assert isinstance(body, dict)
    assert "login" in str(body["errMsg"])
