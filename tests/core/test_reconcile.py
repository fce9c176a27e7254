"""Reconciliation (issue 10 item 1): a tag matches exactly or by Kotak's rewrites only, and
an order counts as a call's own only when it matches what the call sent."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from aioneo import AmbiguousTagError, BusinessError, OrderOutcomeUnknown, RateLimitError
from aioneo._core import _requests as requests
from aioneo._core._policy import after_reconcile
from aioneo._core._reconcile import TagForm, Verdict, candidates, lookup, reconcile, tag_form


@dataclass(frozen=True)
class Row:
    order_id: str
    tag: str | None
    status: Any = "open"
    exchange_segment: Any = "nse_cm"
    trading_symbol: str | None = "ITBEES-EQ"
    transaction_type: Any = "B"
    product: Any = "CNC"
    order_type: Any = "L"
    quantity: int | None = 1
    price: Decimal | None = Decimal("100.00")
    trigger_price: Decimal | None = Decimal("0")
    validity: Any = "DAY"
    disclosed_quantity: int | None = 0


def spec(tag: str, **changes: Any) -> requests.RequestSpec:
    fields: dict[str, Any] = {
        "exchange_segment": "nse_cm",
        "product": "CNC",
        "price": "100",
        "order_type": "L",
        "quantity": 1,
        "validity": "DAY",
        "trading_symbol": "ITBEES-EQ",
        "transaction_type": "B",
        "tag": tag,
    }
    fields.update(changes)
    return requests.place_order(**fields)


def intent(tag: str, **changes: Any) -> dict[str, Any]:
    jdata = spec(tag, **changes).jdata
    assert jdata is not None
    return dict(jdata)


@pytest.mark.parametrize(
    ("tag", "gui", "form"),
    [
        ("strat-1", "strat-1", TagForm.EXACT),
        ("strat-1", "strat-1-M2", TagForm.MODIFIED),
        ("strat-1", "strat-1-1764600000", TagForm.CANCELLED),
        ("strat-1", "strat-1-20", None),  # a cancel appends unix seconds, not any digits
        ("strat-1", "strat-1-9999999999", None),  # ... of this century
        ("strat-1", "strat-1-M1234", None),
        ("strat-1", "strat-10", None),  # a prefix is not a match
        ("strat-1", "strat-1x", None),
        ("strat-1", "strat-1-M", None),
        ("strat-1", "strat-1-", None),
        ("strat-1", "strat-1-M2-3", None),
        ("strat-1", "xstrat-1", None),
        ("strat-1", None, None),
        ("strat-1", "strat-1-\u0661", None),  # an Arabic-Indic digit is not a digit here
    ],
)
def test_tag_forms(tag: str, gui: str | None, form: TagForm | None) -> None:
    assert tag_form(tag, gui) is form


def test_a_seconds_suffix_counts_only_for_a_cancelled_order() -> None:
    open_other = Row("1", "strat-1764600000")  # open: not a cancel's rewrite
    ioc = Row("2", "strat-20", status="cancelled")  # an IOC the exchange cancelled
    cancelled = Row("3", "strat-1764600000", status="cancelled")
    assert candidates("strat", [open_other, ioc]) == []
    assert candidates("strat", [cancelled]) == [(TagForm.CANCELLED, cancelled)]


def test_lookup_never_takes_a_prefix() -> None:
    book = [Row("10", "strat-10"), Row("20", "strat-20")]
    assert lookup("strat-1", book) is None
    assert lookup("strat-2", book) is None
    assert lookup("strat-10", book) == book[0]


def test_lookup_prefers_exact_and_refuses_ambiguity() -> None:
    exact = Row("1", "strat")
    modified_own = Row("2", "strat-M1")
    cancelled = Row("3", "strat-1764600000", status="cancelled")
    assert lookup("strat", [modified_own, exact]) is exact
    assert lookup("strat", [modified_own]) is modified_own
    with pytest.raises(AmbiguousTagError) as caught:
        lookup("strat", [modified_own, cancelled])
    assert caught.value.order_ids == ("2", "3")
    assert caught.value.tag == "strat"


def test_placed_only_when_the_intent_matches() -> None:
    mine = Row("1", "t")
    assert reconcile("t", intent("t"), [mine]).verdict is Verdict.PLACED
    other_validity = reconcile("t", intent("t", validity="IOC"), [mine])
    assert other_validity.verdict is Verdict.UNCERTAIN
    # a reused tag for another order: SELL 5 against the earlier BUY 1
    result = reconcile("t", intent("t", transaction_type="S", quantity=5), [mine])
    assert result.verdict is Verdict.NOT_OURS
    assert "transaction_type=B" in result.reason
    assert "order 1" in result.reason


@pytest.mark.parametrize(
    ("field", "row_change", "verdict"),
    [
        ("exchange_segment", {"exchange_segment": "bse_cm"}, Verdict.NOT_OURS),
        ("trading_symbol", {"trading_symbol": "TCS-EQ"}, Verdict.NOT_OURS),
        ("transaction_type", {"transaction_type": "S"}, Verdict.NOT_OURS),
        ("product", {"product": "MIS"}, Verdict.NOT_OURS),
        # what the server may round, or a modify change: never proof of another order
        ("order_type", {"order_type": "MKT"}, Verdict.UNCERTAIN),
        ("price", {"price": Decimal("101")}, Verdict.UNCERTAIN),
        ("quantity", {"quantity": 2}, Verdict.UNCERTAIN),
        ("validity", {"validity": "IOC"}, Verdict.UNCERTAIN),
        ("disclosed_quantity", {"disclosed_quantity": 1}, Verdict.UNCERTAIN),
    ],
)
def test_each_field_of_the_intent_is_compared(
    field: str, row_change: dict[str, Any], verdict: Verdict
) -> None:
    result = reconcile("t", intent("t"), [Row("1", "t", **row_change)])
    assert result.verdict is verdict
    assert field in result.reason


def test_a_rewritten_form_is_never_proof_of_placement() -> None:
    """Review of issue 10: a cancelled order reading ``strat-<secs>`` with the very same
    fields may be somebody's own tag; only an exact tag proves a placement."""
    cancelled = Row("1", "strat-1764600000", status="cancelled")
    assert reconcile("strat", intent("strat"), [cancelled]).verdict is Verdict.UNCERTAIN


def test_market_orders_ignore_the_price_stop_orders_compare_the_trigger() -> None:
    market = intent("t", order_type="MKT", price="0")
    row = Row("1", "t", order_type="MKT", price=Decimal("0"))
    assert reconcile("t", market, [row]).verdict is Verdict.PLACED
    filled = Row("1", "t", order_type="MKT", price=Decimal("412.35"))  # a book shows the fill
    assert reconcile("t", market, [filled]).verdict is Verdict.PLACED
    stop = intent("t", order_type="SL", price="100", trigger_price="99")
    assert (
        reconcile("t", stop, [Row("1", "t", order_type="SL", trigger_price=Decimal("98"))]).verdict
        is Verdict.UNCERTAIN
    )


def test_a_modified_form_or_a_missing_field_is_uncertain() -> None:
    modified = Row("1", "t-M1", quantity=7)
    assert reconcile("t", intent("t"), [modified]).verdict is Verdict.UNCERTAIN
    missing = Row("1", "t", quantity=None)
    assert reconcile("t", intent("t"), [missing]).verdict is Verdict.UNCERTAIN
    # a modified form that contradicts the fixed fields is ignored
    other = Row("1", "t-M1", transaction_type="S")
    assert reconcile("t", intent("t"), [other]).verdict is Verdict.ABSENT


def test_several_matches_are_uncertain() -> None:
    book = [Row("1", "t"), Row("2", "t")]  # a server that let a tag be used twice
    assert reconcile("t", intent("t"), book).verdict is Verdict.UNCERTAIN


def test_prefix_collisions_are_absent() -> None:
    book = [Row("10", "strat-10"), Row("20", "strat-20")]
    assert reconcile("strat-2", intent("strat-2"), book).verdict is Verdict.ABSENT


def test_after_reconcile_maps_each_verdict() -> None:
    s = spec("t")
    dup = BusinessError("refused", endpoint="place_order", st_code=5204, status_code=200)
    limited = RateLimitError("429", endpoint="place_order")
    mine, other = Row("1", "t"), Row("2", "t", transaction_type="S")
    placed = after_reconcile(s, reconcile("t", s.jdata or {}, [mine]), dup)
    assert placed == {"stat": "Ok", "nOrdNo": "1", "stCode": 200}
    # tag taken by another order: definite, with 5204, whatever the replay met
    for refusal in (dup, limited):
        error = after_reconcile(s, reconcile("t", s.jdata or {}, [other]), refusal)
        assert isinstance(error, BusinessError)
        assert error.st_code == 5204
        assert "order 2" in str(error)
    # absent: the replay's own definite error stands; after a 5204 the outcome is open
    assert after_reconcile(s, reconcile("t", s.jdata or {}, []), limited) is limited
    unknown = after_reconcile(s, reconcile("t", s.jdata or {}, []), dup)
    assert isinstance(unknown, OrderOutcomeUnknown)
    assert unknown.tag == "t"
    uncertain = after_reconcile(s, reconcile("t", s.jdata or {}, [Row("1", "t-M1")]), limited)
    assert isinstance(uncertain, OrderOutcomeUnknown)
