"""Typed results: parsing the documented sample bodies, Kotak's quirks, and bad shapes."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest

from aioneo._exceptions import InvalidResponseError
from aioneo._models import (
    IST,
    Candle,
    ExchangeSegment,
    Holding,
    Order,
    OrderResult,
    OrderStatus,
    OrderType,
    Position,
    Product,
    TransactionType,
    Validity,
    parse_cancel_order,
    parse_expiries,
    parse_historical_data,
    parse_holdings,
    parse_limits,
    parse_logout,
    parse_margin_required,
    parse_modify_order,
    parse_option_chain,
    parse_order_history,
    parse_order_report,
    parse_place_order,
    parse_positions,
    parse_quotes,
    parse_scrip_master,
    parse_trade_report,
    parse_whatsmyip,
)

# Sample bodies from the SDK's docs (kotak-neo-api.md section 3), trimmed to the keys used.
ORDER_ROW: dict[str, Any] = {
    "avgPrc": "0.00",
    "brdLtQty": "1",
    "cnlQty": 0,
    "dscQty": 0,
    "exCfmTm": "22-Jan-2025 14:28:01",
    "exOrdId": "1100000059569867",
    "exSeg": "nse_cm",
    "fldQty": 0,
    "nOrdNo": "250122000612876",
    "ordDtTm": "22-Jan-2025 14:28:01",
    "ordSt": "open",
    "stat": "open",
    "prod": "NRML",
    "prc": "9.39",
    "prcTp": "L",
    "qty": 1,
    "rejRsn": "--",
    "sym": "IDEA",
    "tckSz": "0.0100",
    "tok": "14366",
    "trnsTp": "B",
    "trgPrc": "0.00",
    "trdSym": "IDEA-EQ",
    "unFldSz": 1,
    "vldt": "DAY",
    "lotSz": "1",
    "hsUpTm": "2025/01/22 14:28:01",
    "GuiOrdId": "",
    "updRecvTm": 1737536281933015920,
}
HISTORY_ROW: dict[str, Any] = {
    "trdSym": "IDEA-EQ",
    "prc": "9.39",
    "qty": 1,
    "ordSt": "complete",
    "trnsTp": "B",
    "prcTp": "L",
    "exSeg": "nse_cm",
    "exchTmstp": "22-Jan-2025 14: 32: 53",
    "tok": "14366",
    "nOrdNo": "250122000624384",
    "avgPrc": "9.39",
    "trgPrc": "0.00",
    "exchOrdId": "1100000060414692",
    "rejRsn": "--",
    "ordDur": "DAY",
    "prod": "NRML",
    "flDtTm": "22-Jan-2025 14: 33: 01",
    "fldQty": 1,
    "unFldSz": 0,
    "GuiOrdId": "",
}
TRADE_ROW: dict[str, Any] = {
    "avgPrc": "9.39",
    "exOrdId": "1100000059569867",
    "exSeg": "nse_cm",
    "exTm": "22-Jan-2025 14:28:01",
    "fldQty": 1,
    "flDt": "22-Jan-2025",
    "flId": "207983744",
    "flTm": "14:28:16",
    "nOrdNo": "250122000612876",
    "prcTp": "L",
    "prod": "NRML",
    "rptTp": "fill",
    "sym": "IDEA",
    "trdSym": "IDEA-EQ",
    "trnsTp": "B",
    "hsUpTm": "2025/01/22 14:28:16",
    "GuiOrdId": "SMCS_xcwlNEK4",
    "tok": "",
    "qty": 0,
}
FO_POSITION: dict[str, Any] = {
    "actId": "ABCXYZ61",
    "brdLtQty": 225,
    "cfBuyAmt": "0.00",
    "cfSellAmt": "0.00",
    "cfBuyQty": "0",
    "cfSellQty": "0",
    "exSeg": "nse_fo",
    "buyAmt": "475200.00",
    "sellAmt": "0.00",
    "flBuyQty": "225",
    "flSellQty": "0",
    "prod": "NRML",
    "tok": "61304",
    "trdSym": "TCS26JULFUT",
    "optTp": "XX",
    "stkPrc": "0.00",
    "sym": "TCS",
    "lotSz": "225",
    "multiplier": "1",
    "precision": "2",
    "prcNum": "1",
    "prcDen": "1",
    "hsUpTm": "2026/07/24 12:57:46",
    "expDt": "28 Jul, 2026",
    "genNum": "1",
    "genDen": "1",
    "dscQty": "",
    "updRecvTm": 1784878066658915084,
    "ltp": "2117.00",
}
HOLDING_ROW: dict[str, Any] = {
    "displaySymbol": "IDEA",
    "averagePrice": 9.5699,
    "quantity": 35,
    "exchangeSegment": "nse_cm",
    "exchangeIdentifier": "14366",
    "holdingCost": 334.9475,
    "mktValue": 327.6,
    "scripId": "746a0ebbc6295a002ab27e42a3e06a6792baeba1",
    "instrumentToken": 8658,
    "instrumentType": "Equity",
    "isAlternateScrip": False,
    "closingPrice": 9.36,
    "symbol": "IDEA",
    "sellableQuantity": 35,
}
LIMITS_BODY: dict[str, Any] = {
    "Category": "CLIENT_SPECIAL",
    "BoardLotLimit": "5000",
    "CollateralValue": "38.19",
    "AdhocMargin": "0",
    "NotionalCash": "0",
    "UnrealizedMtomPrsnt": "0",
    "RealizedMtomPrsnt": "0",
    "MarginUsed": "18.78",
    "Net": "19.409999999999997",
    "SlbmVarElm": "",
    "TimeStamp": "1737540175823",
    "stCode": 200,
    "stat": "Ok",
}
MARGIN_BODY: dict[str, Any] = {
    "avlCash": "38.190000",
    "totMrgnUsd": "34.280000",
    "mrgnUsd": "18.780000",
    "ordMrgn": "15.500000",
    "rmsVldtd": "OK",
    "reqdMrgn": "0.000000",
    "avlMrgn": "0.000000",
    "insufFund": "0.000000",
    "stat": "Ok",
    "stCode": 200,
}
QUOTE: dict[str, Any] = {
    "exchange_token": "1333",
    "display_symbol": "HDFCBANK-EQ",
    "exchange": "nse_cm",
    "lstup_time": "1782374657",
    "ltp": "801.6000",
    "last_traded_quantity": "550",
    "total_buy": "907335",
    "total_sell": "2883870",
    "last_volume": "30043533",
    "avg_cost": "799.8900",
    "open_int": "0",
    "change": "8.4000",
    "per_change": "1.0600",
    "low_price_range": "713.9000",
    "high_price_range": "872.5000",
    "year_high": "2037.7",
    "year_low": "726.65",
    "ohlc": {"open": "798.5000", "high": "804.4500", "low": "796.0000", "close": "793.2000"},
    "depth": {
        "buy": [{"price": f"801.{60 - i}00", "quantity": "1733", "orders": "4"} for i in range(5)],
        "sell": [{"price": f"801.{65 + i}00", "quantity": "550", "orders": "1"} for i in range(5)],
    },
}
SCRIP_BODY: dict[str, Any] = {
    "data": {
        "baseFolder": "https://lapi.kotaksecurities.com/wso2-scripmaster/v1/prod",
        "filesPaths": [
            "https://lapi.kotaksecurities.com/wso2-scripmaster/v1/prod/2026-07-14/transformed/nse_fo.csv",
            "https://lapi.kotaksecurities.com/wso2-scripmaster/v1/prod/2026-07-14/transformed/nse_com.csv",
            "https://lapi.kotaksecurities.com/wso2-scripmaster/v1/prod/2026-07-14/transformed-v1/nse_cm-v1.csv",
        ],
    }
}


def ist(*args: int) -> datetime:
    return datetime(*args, tzinfo=IST)  # type: ignore[misc]


# --- Enums ------------------------------------------------------------------------------------


def test_known_codes_match_ignoring_case_and_spaces() -> None:
    assert OrderStatus("open") is OrderStatus.OPEN
    assert OrderStatus(" OPEN ") is OrderStatus.OPEN
    assert OrderStatus("put order req received") is OrderStatus.PUT_ORDER_REQ_RECEIVED
    assert TransactionType("b") is TransactionType.BUY
    assert OrderType("sl-m") is OrderType.STOP_LOSS_MARKET
    assert OrderStatus.OPEN == "open"
    assert OrderStatus.OPEN.is_known


def test_unknown_codes_never_fail_and_keep_the_raw_text() -> None:
    new = OrderStatus("some new state")
    assert new.value == "some new state"
    assert new == "some new state"
    assert not new.is_known
    assert not new.is_terminal
    assert new.name == "UNKNOWN"
    assert OrderStatus("some new state") is new
    assert new not in list(OrderStatus)
    assert len(list(OrderStatus)) == len(OrderStatus.__members__)
    assert pickle.loads(pickle.dumps(new)) is new
    assert copy.deepcopy(new) is new
    assert Product("CO2") != Product("CO")
    assert ExchangeSegment("xyz_fo").value == "xyz_fo"


def test_non_strings_are_still_refused() -> None:
    with pytest.raises(ValueError, match="not a valid OrderStatus"):
        OrderStatus(3)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "terminal"),
    [
        ("complete", True),
        ("rejected", True),
        ("cancelled", True),
        ("open", False),
        ("trigger pending", False),
        ("modified", False),
    ],
)
def test_is_terminal(status: str, terminal: bool) -> None:
    assert OrderStatus(status).is_terminal is terminal


# --- Orders -----------------------------------------------------------------------------------


def test_order_report_sample() -> None:
    (order,) = parse_order_report({"stat": "Ok", "stCode": 200, "data": [ORDER_ROW]})
    assert order.order_id == "250122000612876"
    assert order.status is OrderStatus.OPEN
    assert order.trading_symbol == "IDEA-EQ"
    assert order.symbol == "IDEA"
    assert order.exchange_segment is ExchangeSegment.NSE_CM
    assert order.instrument_token == "14366"
    assert order.transaction_type is TransactionType.BUY
    assert order.product is Product.NRML
    assert order.order_type is OrderType.LIMIT
    assert order.validity is Validity.DAY
    assert (order.quantity, order.filled_quantity, order.pending_quantity) == (1, 0, 1)
    assert (order.cancelled_quantity, order.disclosed_quantity) == (0, 0)
    assert order.price == Decimal("9.39")
    assert order.average_price == Decimal("0.00")
    assert order.trigger_price == Decimal("0.00")
    assert order.tick_size == Decimal("0.0100")
    assert order.lot_size == 1
    assert order.tag is None  # "" on the wire
    assert order.rejection_reason is None  # "--" on the wire
    assert order.exchange_order_id == "1100000059569867"
    assert order.order_time == ist(2025, 1, 22, 14, 28, 1)
    assert order.exchange_time == ist(2025, 1, 22, 14, 28, 1)
    assert order.updated_at == ist(2025, 1, 22, 14, 28, 1)
    assert order.raw is not None
    assert order.raw["updRecvTm"] == 1737536281933015920


def test_order_quirks_strings_for_numbers_empty_strings_and_new_statuses() -> None:
    row = {
        **ORDER_ROW,
        "qty": "10",
        "fldQty": "",
        "unFldSz": "10.0",
        "prc": 101.05,
        "ordSt": "Some New State",
        "GuiOrdId": "aioneo-0a1b2c3d4e5f",
        "rejRsn": "RMS:Margin Exceeds",
        "ordDtTm": "not a time",
    }
    (order,) = parse_order_report({"data": [row]})
    assert order.quantity == 10
    assert order.filled_quantity is None
    assert order.pending_quantity == 10
    assert order.price == Decimal("101.05")
    assert order.status is not None
    assert order.status.value == "Some New State"
    assert not order.status.is_known
    assert order.tag == "aioneo-0a1b2c3d4e5f"
    assert order.rejection_reason == "RMS:Margin Exceeds"
    assert order.order_time is None


def test_one_order_by_id_may_come_as_an_object() -> None:
    (order,) = parse_order_report({"stat": "Ok", "data": ORDER_ROW})
    assert order.order_id == "250122000612876"


@pytest.mark.parametrize("body", [{"stat": "Ok", "stCode": 200}, {"data": None}, {"data": []}])
def test_empty_order_book(body: dict[str, Any]) -> None:
    assert parse_order_report(body) == []


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ([ORDER_ROW], "expected a JSON object, got list"),
        ({"data": "none"}, "'data' should be a list"),
        ({"data": ["x"]}, "expected a JSON object, got str"),
        ({"data": [{**ORDER_ROW, "nOrdNo": ""}]}, "'nOrdNo' is missing"),
        ({"data": [{**ORDER_ROW, "prc": "abc"}]}, "'prc' is not a number: 'abc'"),
        ({"data": [{**ORDER_ROW, "qty": "1.5"}]}, "'qty' is not a whole number: '1.5'"),
        ({"data": [{**ORDER_ROW, "qty": True}]}, "'qty' is not a number: True"),
        ({"data": [{**ORDER_ROW, "prc": "NaN"}]}, "'prc' is not a number"),
    ],
)
def test_bad_order_report_shapes_name_the_endpoint(body: object, fragment: str) -> None:
    with pytest.raises(InvalidResponseError) as info:
        parse_order_report(body)
    assert info.value.endpoint == "order_report"
    assert str(info.value).startswith("order_report: ")
    assert fragment in str(info.value)


def test_order_history_sample_with_spaced_timestamps() -> None:
    older = {**HISTORY_ROW, "ordSt": "open", "fldQty": 0, "unFldSz": 1, "avgPrc": "0.00"}
    entries = parse_order_history({"stat": "Ok", "stCode": 200, "data": [HISTORY_ROW, older]})
    assert [e.status for e in entries] == [OrderStatus.COMPLETE, OrderStatus.OPEN]
    first = entries[0]
    assert first.order_id == "250122000624384"
    assert first.exchange_time == ist(2025, 1, 22, 14, 32, 53)
    assert first.updated_at == ist(2025, 1, 22, 14, 33, 1)
    assert first.exchange_order_id == "1100000060414692"
    assert first.validity is Validity.DAY
    assert (first.quantity, first.filled_quantity, first.pending_quantity) == (1, 1, 0)
    assert first.average_price == Decimal("9.39")


def test_order_history_accepts_the_sdk_wrapping() -> None:
    wrapped = {"data": {"stat": "Ok", "stCode": 200, "data": [HISTORY_ROW]}}
    assert parse_order_history(wrapped) == parse_order_history(wrapped["data"])
    assert len(parse_order_history(wrapped)) == 1


def test_trade_report_sample() -> None:
    (trade,) = parse_trade_report({"stat": "ok", "stCode": 200, "data": [TRADE_ROW]})
    assert trade.order_id == "250122000612876"
    assert trade.fill_id == "207983744"
    assert trade.filled_quantity == 1
    assert trade.average_price == Decimal("9.39")
    assert trade.fill_time == ist(2025, 1, 22, 14, 28, 16)
    assert trade.exchange_time == ist(2025, 1, 22, 14, 28, 1)
    assert trade.instrument_token is None  # "" on the wire
    assert trade.tag == "SMCS_xcwlNEK4"
    assert trade.transaction_type is TransactionType.BUY


def test_trade_without_fill_date_has_no_fill_time() -> None:
    (trade,) = parse_trade_report({"data": [{**TRADE_ROW, "flDt": "NA"}]})
    assert trade.fill_time is None


@pytest.mark.parametrize(
    ("parse", "body", "kwargs", "expected"),
    [
        (
            parse_place_order,
            {"stat": "Ok", "nOrdNo": "250122000624384", "stCode": 200},
            {"tag": "t1"},
            ("250122000624384", "t1"),
        ),
        (
            parse_modify_order,
            {"stat": "Ok", "nOrdNo": 250122000624384, "stCode": 200},
            {},
            ("250122000624384", None),
        ),
        (parse_cancel_order, {"stat": "Ok", "stCode": 200}, {"order_id": "42"}, ("42", None)),
    ],
)
def test_order_results(
    parse: Any, body: dict[str, Any], kwargs: dict[str, Any], expected: Any
) -> None:
    result = parse(body, **kwargs)
    assert isinstance(result, OrderResult)
    assert (result.order_id, result.tag) == expected
    assert result.raw == body


def test_place_order_without_an_order_number_is_invalid() -> None:
    with pytest.raises(InvalidResponseError, match="place_order: 'nOrdNo' is missing") as info:
        parse_place_order({"stat": "Ok", "stCode": 200}, tag="t1")
    assert info.value.endpoint == "place_order"
    with pytest.raises(InvalidResponseError, match="place_order: expected a JSON object"):
        parse_place_order("<html>")


# --- Portfolio --------------------------------------------------------------------------------


def test_positions_sample_and_kotak_arithmetic() -> None:
    (position,) = parse_positions({"stat": "ok", "stCode": 200, "data": [FO_POSITION]})
    assert position.exchange_segment is ExchangeSegment.NSE_FO
    assert position.instrument_token == "61304"
    assert (position.buy_quantity, position.sell_quantity) == (225, 0)
    assert position.net_quantity == 225
    assert position.price_factor == Decimal(1)
    assert position.buy_average_price == Decimal("2112.00")
    assert position.sell_average_price is None
    assert position.average_price == Decimal("2112.00")
    assert position.ltp == Decimal("2117.00")
    assert position.pnl() == Decimal("1125.00")
    assert position.pnl(Decimal("2100")) == Decimal("-2700.00")
    assert position.expiry == date(2026, 7, 28)
    assert position.lot_size == 225
    assert position.updated_at == ist(2026, 7, 24, 12, 57, 46)


def test_position_with_carry_forward_short_and_scaling() -> None:
    row = {
        "exSeg": "cde_fo",
        "cfBuyQty": "4",
        "cfSellQty": "0",
        "cfBuyAmt": "400",
        "flBuyQty": "0",
        "flSellQty": "10",
        "buyAmt": "0",
        "sellAmt": "1500.75",
        "multiplier": "10",
        "genNum": "1",
        "genDen": "2",
        "prcNum": "3",
        "prcDen": "1",
        "precision": "4",
    }
    (position,) = parse_positions({"data": [row]})
    assert position.carry_forward_quantity == 4
    assert position.net_quantity == -6
    assert position.price_factor == Decimal(15)
    # Sell average: 1500.75 / (10 × 15) = 10.005; buy average: 400 / (4 × 15) = 6.6667
    assert position.sell_average_price == Decimal("10.0050")
    assert position.buy_average_price == Decimal("6.6667")
    assert position.average_price == Decimal("10.0050")
    assert position.pnl(Decimal("10")) == Decimal("200.7500")  # 1100.75 + (-6 × 10 × 15)


def test_flat_position_and_missing_fields_count_as_zero_and_one() -> None:
    (position,) = parse_positions(
        {
            "data": [
                {
                    "trdSym": "X",
                    "flBuyQty": "5",
                    "flSellQty": "5",
                    "buyAmt": "50",
                    "sellAmt": "55",
                    "genDen": "0",
                }
            ]
        }
    )
    assert position.net_quantity == 0
    assert position.average_price == Decimal("0.00")
    assert position.price_factor == Decimal(1)
    assert position.precision == 2
    assert position.ltp is None
    assert position.pnl() is None
    assert position.pnl(Decimal("11")) == Decimal("5.00")


def test_holdings_sample_with_json_numbers() -> None:
    (holding,) = parse_holdings({"data": [HOLDING_ROW]})
    assert isinstance(holding, Holding)
    assert holding.average_price == Decimal("9.5699")
    assert holding.holding_cost == Decimal("334.9475")
    assert holding.market_value == Decimal("327.6")
    assert holding.closing_price == Decimal("9.36")
    assert (holding.quantity, holding.sellable_quantity) == (35, 35)
    assert holding.instrument_token == "8658"
    assert holding.exchange_identifier == "14366"
    assert holding.exchange_segment is ExchangeSegment.NSE_CM
    assert holding.is_alternate_scrip is False


def test_limits_sample() -> None:
    limits = parse_limits(LIMITS_BODY)
    assert limits.net == Decimal("19.409999999999997")
    assert limits.collateral_value == Decimal("38.19")
    assert limits.margin_used == Decimal("18.78")
    assert limits.board_lot_limit == 5000
    assert limits.category == "CLIENT_SPECIAL"
    assert limits.timestamp == datetime(2025, 1, 22, 15, 32, 55, 823000, tzinfo=IST)
    assert limits.raw["SlbmVarElm"] == ""


@pytest.mark.parametrize("body", [MARGIN_BODY, {"data": MARGIN_BODY}])
def test_margin_required_sample_raw_or_sdk_wrapped(body: dict[str, Any]) -> None:
    margin = parse_margin_required(body)
    assert margin.available_cash == Decimal("38.190000")
    assert margin.order_margin == Decimal("15.5")
    assert margin.insufficient_funds == Decimal(0)
    assert margin.rms_validated == "OK"
    assert margin.is_ok


# --- Market data ------------------------------------------------------------------------------


def test_quotes_sample() -> None:
    (quote,) = parse_quotes([QUOTE])
    assert quote.exchange_token == "1333"
    assert quote.exchange_segment is ExchangeSegment.NSE_CM
    assert quote.ltp == Decimal("801.6000")
    assert quote.volume == 30043533
    assert quote.total_buy_quantity == 907335
    assert quote.change_percent == Decimal("1.06")
    assert quote.year_high == Decimal("2037.7")
    assert quote.last_update == datetime.fromtimestamp(1782374657, IST)
    assert quote.ohlc is not None
    assert quote.ohlc.close == Decimal("793.2")
    assert len(quote.bids) == len(quote.asks) == 5
    assert quote.bids[0].price == Decimal("801.6")
    assert (quote.bids[0].quantity, quote.bids[0].orders) == (1733, 4)
    assert quote.asks[-1].price == Decimal("801.69")


def test_ltp_only_quote_leaves_the_rest_empty() -> None:
    (quote,) = parse_quotes([{"exchange_token": "Nifty 50", "exchange": "nse_cm", "ltp": 24485.2}])
    assert quote.ltp == Decimal("24485.2")
    assert quote.ohlc is None
    assert quote.bids == ()
    assert quote.volume is None


def test_quotes_accepts_a_data_envelope_and_refuses_other_shapes() -> None:
    assert len(parse_quotes({"data": [QUOTE, QUOTE]})) == 2
    with pytest.raises(InvalidResponseError, match="quotes: expected a JSON array, got str"):
        parse_quotes("oops")
    with pytest.raises(InvalidResponseError, match=r"quotes: depth\.buy should be a list"):
        parse_quotes([{**QUOTE, "depth": {"buy": "x"}}])


def test_expiries() -> None:
    body = {
        "exchange": "nse_fo",
        "underlying": "RELIANCE",
        "expiries": ["2026-06-25", "2026-06-30", "2026-07-31"],
    }
    assert parse_expiries(body) == [date(2026, 6, 25), date(2026, 6, 30), date(2026, 7, 31)]
    with pytest.raises(InvalidResponseError, match="expiries: 'x' is not a date"):
        parse_expiries({"expiries": ["x"]})
    with pytest.raises(InvalidResponseError, match="expiries: 'expiries' should be a list"):
        parse_expiries({"exchange": "nse_fo"})


def test_option_chain_sample() -> None:
    body = {
        "data": {
            "common_data": {
                "mktLot": "65",
                "multiplier": "1",
                "unlSymbol": "NIFTY",
                "exSeg": "nse_fo",
                "expiryDt": "2026-06-23",
            },
            "call": [
                {
                    "instrument": {
                        "neoSymbol": "nse_fo|71472",
                        "symbol": "NIFTY26JUN22250CE",
                        "optionType": "CE",
                        "strikePrice": "22250",
                        "moneyness": "ATM",
                    },
                    "quote": {
                        "ltp": "166.7500",
                        "open": "89.8000",
                        "high": "214.0000",
                        "low": "77.1000",
                        "prevClose": "99.7000",
                        "close": None,
                        "volume": 225431505,
                    },
                    "openInterest": {
                        "current": 10715645,
                        "previous": 13647630,
                        "change": -2931985,
                        "changePct": -21.48,
                    },
                }
            ],
            "put": [],
        }
    }
    chain = parse_option_chain(body)
    assert (chain.underlying, chain.lot_size, chain.expiry) == ("NIFTY", 65, date(2026, 6, 23))
    assert chain.exchange_segment is ExchangeSegment.NSE_FO
    assert chain.puts == ()
    assert chain.futures == ()
    (call,) = chain.calls
    assert call.neo_symbol == "nse_fo|71472"
    assert call.strike_price == Decimal(22250)
    assert call.close is None
    assert call.ltp == Decimal("166.75")
    assert call.volume == 225431505
    assert call.open_interest_change == -2931985
    assert call.open_interest_change_percent == Decimal("-21.48")


def test_futures_chain_sample() -> None:
    body = {
        "data": {
            "common_data": {
                "mktLot": "65",
                "unlSymbol": "NIFTY",
                "exSeg": "nse_fo",
                "expiryDt": None,
            },
            "call": [],
            "put": [],
            "fut": [
                {
                    "inst": {
                        "neoSymbol": "nse_fo|53001",
                        "symbol": "NIFTY26JULFUT",
                        "expiryDt": "31-JUL-2026",
                    },
                    "quote": {
                        "ltp": "24485.20",
                        "o": "24455.00",
                        "h": "24512.00",
                        "l": "24428.00",
                        "c": "24485.20",
                        "pc": "24322.10",
                        "vol": "9852340",
                    },
                    "oi": {
                        "cur": "13930930",
                        "prev": "13801200",
                        "chg": "129730",
                        "chgPct": "0.94",
                    },
                }
            ],
        }
    }
    chain = parse_option_chain(body)
    assert chain.expiry is None
    (future,) = chain.futures
    assert future.expiry == date(2026, 7, 31)
    assert (future.open, future.prev_close) == (Decimal("24455.00"), Decimal("24322.10"))
    assert (future.volume, future.open_interest, future.open_interest_change) == (
        9852340,
        13930930,
        129730,
    )
    with pytest.raises(InvalidResponseError, match="option_chain: 'data' should be an object"):
        parse_option_chain({"data": []})


def test_historical_candles() -> None:
    body = {
        "status": "success",
        "interval": "1min",
        "data": {
            "candles": [
                [
                    "2026-08-20T09:15:00+0530",
                    12009.9,
                    12019.35,
                    12001.25,
                    12001.5,
                    163275,
                    13667775,
                ],
                ["2026-08-20T09:16:00+0530", 12001, 12003, 11998.25, 12001, 105750],
            ]
        },
    }
    first, second = parse_historical_data(body)
    assert isinstance(first, Candle)
    assert first.timestamp == ist(2026, 8, 20, 9, 15)
    assert (first.open, first.high, first.low, first.close) == (
        Decimal("12009.9"),
        Decimal("12019.35"),
        Decimal("12001.25"),
        Decimal("12001.5"),
    )
    assert (first.volume, first.open_interest) == (163275, 13667775)
    assert second.open == Decimal(12001)
    assert second.open_interest is None
    assert parse_historical_data({"status": "success", "data": {}}) == []


@pytest.mark.parametrize(
    ("candles", "fragment"),
    [
        ([["2026-08-20T09:15:00+0530", 1, 2]], "candle 0 should be"),
        ([["not a time", 1, 2, 3, 4, 5]], "candle 0 has an empty time"),
        ([["2026-08-20T09:15:00+0530", "x", 2, 3, 4, 5]], "'o' is not a number"),
        ("rows", "'candles' should be a list"),
    ],
)
def test_bad_candles(candles: object, fragment: str) -> None:
    with pytest.raises(InvalidResponseError, match="historical_data: ") as info:
        parse_historical_data({"data": {"candles": candles}})
    assert fragment in str(info.value)


def test_scrip_master_paths() -> None:
    paths = parse_scrip_master(SCRIP_BODY)
    assert paths.base_folder == "https://lapi.kotaksecurities.com/wso2-scripmaster/v1/prod"
    assert len(paths.file_paths) == 3
    assert paths.for_segment("nse_cm") is not None
    assert paths.for_segment("nse_cm").endswith("/nse_cm-v1.csv")  # type: ignore[union-attr]
    assert paths.for_segment("NSE_FO").endswith("/nse_fo.csv")  # type: ignore[union-attr]
    assert paths.for_segment("mcx_fo") is None
    assert parse_scrip_master(SCRIP_BODY["data"]) == paths
    with pytest.raises(InvalidResponseError, match="scrip_master: 'filesPaths' should be"):
        parse_scrip_master({"data": {"baseFolder": "x"}})


def test_whatsmyip() -> None:
    body = {
        "data": [{"ip": "203.0.113.7", "time": "2026-07-07 12:07:34.440"}],
        "stCode": 1000,
        "status": "success",
    }
    client_ip = parse_whatsmyip(body)
    assert client_ip.ip == "203.0.113.7"
    assert client_ip.time == datetime(2026, 7, 7, 12, 7, 34, 440000, tzinfo=IST)
    with pytest.raises(InvalidResponseError, match="whatsmyip: 'data' holds no IP"):
        parse_whatsmyip({"data": []})


def test_logout() -> None:
    assert parse_logout({"stat": "Ok"}) is None
    with pytest.raises(InvalidResponseError, match="logout: "):
        parse_logout([])


# --- The dataclasses themselves --------------------------------------------------------------


def test_models_are_frozen_slotted_hashable_and_keep_raw_out_of_repr() -> None:
    (order,) = parse_order_report({"data": [ORDER_ROW]})
    assert isinstance(order, Order)
    with pytest.raises(dataclasses.FrozenInstanceError):
        order.price = Decimal(1)  # type: ignore[misc]
    assert not hasattr(order, "__dict__")
    assert hash(order) == hash(parse_order_report({"data": [ORDER_ROW]})[0])
    assert "updRecvTm" not in repr(order)
    assert "250122000612876" in repr(order)
    (position,) = parse_positions({"data": [FO_POSITION]})
    assert isinstance(position, Position)
    assert not hasattr(position, "__dict__")
