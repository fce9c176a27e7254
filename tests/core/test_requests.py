"""The endpoint builders: what each one produces, and every way its input is refused."""

from __future__ import annotations

import enum
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest

from aioneo._core import _requests as rq
from aioneo._core._protocol import FORM, JSON, Auth, Host, Kind, RequestSpec

ORDER: dict[str, Any] = {
    "exchange_segment": "nse_cm",
    "product": "CNC",
    "price": "101.05",
    "order_type": "L",
    "quantity": "10",
    "validity": "DAY",
    "trading_symbol": "ITBEES-EQ",
    "transaction_type": "B",
    "tag": "strat1-0001",
}
MODIFY: dict[str, Any] = {
    "order_id": "250122000624384",
    "price": "9.40",
    "order_type": "L",
    "quantity": "2",
    "validity": "DAY",
}
MARGIN: dict[str, Any] = {
    "exchange_segment": "nse_cm",
    "price": "100",
    "order_type": "L",
    "product": "CNC",
    "quantity": "1",
    "instrument_token": "11536",
    "transaction_type": "B",
}


def counter_entropy() -> Callable[[int], bytes]:
    state = {"n": 0}

    def entropy(size: int) -> bytes:
        state["n"] += 1
        return state["n"].to_bytes(size, "big")

    return entropy


def raises(exc: type[Exception], fn: Callable[..., object], *parts: str, **kwargs: Any) -> str:
    """Call ``fn(**kwargs)``, expect ``exc``, and check the message mentions every part."""
    with pytest.raises(exc) as info:
        fn(**kwargs)
    message = str(info.value)
    for part in parts:
        assert part in message, f"{part!r} not in {message!r}"
    return message


def shape(spec: RequestSpec) -> tuple[object, ...]:
    return (
        spec.op,
        spec.method,
        spec.path,
        spec.host,
        spec.auth,
        spec.kind,
        spec.content_type,
        spec.accept,
    )


# --- What each builder produces ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            rq.totp_login(mobile_number="+919876543210", ucc="AB1C2", totp="123456"),
            (
                "totp_login",
                "POST",
                "login/1.0/tradeApiLogin",
                Host.LOGIN,
                Auth.LOGIN,
                Kind.LOGIN,
                JSON,
                None,
            ),
        ),
        (
            rq.totp_validate("654321"),
            (
                "totp_validate",
                "POST",
                "login/1.0/tradeApiValidate",
                Host.LOGIN,
                Auth.VALIDATE,
                Kind.LOGIN,
                JSON,
                None,
            ),
        ),
        (
            rq.logout(),
            (
                "logout",
                "POST",
                "apim/login/2.0/logout",
                Host.TRADE,
                Auth.SESSION_CK,
                Kind.LOGIN,
                FORM,
                JSON,
            ),
        ),
        (
            rq.whatsmyip(),
            (
                "whatsmyip",
                "GET",
                "login/1.0/get-client-ip",
                Host.LOGIN,
                Auth.SESSION_CK,
                Kind.READ,
                JSON,
                JSON,
            ),
        ),
        (
            rq.place_order(**ORDER),
            (
                "place_order",
                "POST",
                "quick/order/rule/ms/place",
                Host.TRADE,
                Auth.SESSION_CK,
                Kind.ORDER,
                FORM,
                None,
            ),
        ),
        (
            rq.modify_order(**MODIFY),
            (
                "modify_order",
                "POST",
                "quick/order/vr/modify",
                Host.TRADE,
                Auth.SESSION_CK,
                Kind.ORDER,
                FORM,
                None,
            ),
        ),
        (
            rq.cancel_order("250122000624384"),
            (
                "cancel_order",
                "POST",
                "quick/order/cancel",
                Host.TRADE,
                Auth.SESSION_CK,
                Kind.ORDER,
                FORM,
                None,
            ),
        ),
        (
            rq.order_report(),
            (
                "order_report",
                "GET",
                "quick/user/orders",
                Host.TRADE,
                Auth.SESSION,
                Kind.READ,
                JSON,
                JSON,
            ),
        ),
        (
            rq.order_report("250122000624384"),
            (
                "order_report",
                "GET",
                "quick/user/orders/250122000624384",
                Host.TRADE,
                Auth.SESSION,
                Kind.READ,
                JSON,
                JSON,
            ),
        ),
        (
            rq.order_history("250122000624384"),
            (
                "order_history",
                "POST",
                "quick/order/history",
                Host.TRADE,
                Auth.SESSION,
                Kind.READ,
                FORM,
                None,
            ),
        ),
        (
            rq.trade_report(),
            (
                "trade_report",
                "GET",
                "quick/user/trades",
                Host.TRADE,
                Auth.SESSION,
                Kind.READ,
                JSON,
                JSON,
            ),
        ),
        (
            rq.positions(),
            (
                "positions",
                "GET",
                "portfolio/v2/positions",
                Host.TRADE,
                Auth.SESSION,
                Kind.READ,
                JSON,
                JSON,
            ),
        ),
        (
            rq.holdings(),
            (
                "holdings",
                "GET",
                "portfolio/v1/holdings",
                Host.TRADE,
                Auth.SESSION,
                Kind.READ,
                FORM,
                "*/*",
            ),
        ),
        (
            rq.limits(),
            (
                "limits",
                "POST",
                "quick/user/limits",
                Host.TRADE,
                Auth.SESSION,
                Kind.READ,
                FORM,
                None,
            ),
        ),
        (
            rq.margin_required(**MARGIN),
            (
                "margin_required",
                "POST",
                "quick/user/check-margin",
                Host.TRADE,
                Auth.SESSION,
                Kind.READ,
                FORM,
                None,
            ),
        ),
        (
            rq.scrip_master(),
            (
                "scrip_master",
                "GET",
                "script-details/1.0/masterscrip/file-paths",
                Host.TRADE,
                Auth.CK,
                Kind.READ,
                FORM,
                None,
            ),
        ),
        (
            rq.quotes(["nse_cm|1333"])[0],
            (
                "quotes",
                "GET",
                "script-details/1.0/quotes/neosymbol/nse_cm|1333/all",
                Host.TRADE,
                Auth.CK,
                Kind.READ,
                FORM,
                None,
            ),
        ),
        (
            rq.expiries(exchange="nse_fo", underlying="NIFTY"),
            (
                "expiries",
                "GET",
                "market-data/1.0/watchlist/expiries",
                Host.TRADE,
                Auth.CK,
                Kind.READ,
                FORM,
                None,
            ),
        ),
        (
            rq.option_chain(exchange="nse_fo", underlying="NIFTY"),
            (
                "option_chain",
                "GET",
                "market-data/1.0/watchlist/option-chain",
                Host.TRADE,
                Auth.CK,
                Kind.READ,
                FORM,
                None,
            ),
        ),
        (
            rq.historical_data(
                neosymbol="nse_cm|1333",
                interval="D",
                from_date="2026-01-01",
                to_date="2026-02-01",
            ),
            (
                "historical_data",
                "GET",
                "market-data/1.0/historical/details",
                Host.TRADE,
                Auth.CK,
                Kind.READ,
                FORM,
                None,
            ),
        ),
    ],
    ids=lambda value: value.op if isinstance(value, RequestSpec) else "",
)
def test_builder_shape(spec: RequestSpec, expected: tuple[object, ...]) -> None:
    assert shape(spec) == expected


def test_bodiless_builders_have_no_body_params_or_tag() -> None:
    for spec in (
        rq.logout(),
        rq.whatsmyip(),
        rq.order_report(),
        rq.trade_report(),
        rq.positions(),
        rq.holdings(),
        rq.scrip_master(),
    ):
        assert (spec.jdata, spec.json, spec.params, spec.tag) == (None, None, None, None), spec


def test_totp_login_body_and_its_repr_hides_the_secrets() -> None:
    spec = rq.totp_login(mobile_number="+919876543210", ucc="AB1C2", totp="123456")
    assert spec.json is not None
    assert list(spec.json.items()) == [
        ("mobileNumber", "+919876543210"),
        ("ucc", "AB1C2"),
        ("totp", "123456"),
    ]
    assert spec.jdata is None
    assert "123456" not in repr(spec)
    assert "+919876543210" not in repr(spec)


def test_totp_validate_body_and_its_repr_hides_the_mpin() -> None:
    spec = rq.totp_validate("654321")
    assert spec.json == {"mpin": "654321"}
    assert "654321" not in repr(spec)


def test_place_order_jdata_keys_in_sdk_order_with_defaults() -> None:
    spec = rq.place_order(**ORDER)
    assert spec.jdata is not None
    assert list(spec.jdata.items()) == [
        ("am", "NO"),
        ("dq", "0"),
        ("es", "nse_cm"),
        ("mp", "0"),
        ("pc", "CNC"),
        ("pr", "101.05"),
        ("pt", "L"),
        ("qt", "10"),
        ("rt", "DAY"),
        ("tp", "0"),
        ("ts", "ITBEES-EQ"),
        ("tt", "B"),
        ("ig", "strat1-0001"),
        ("os", "NEOTRADEAPI"),
    ]
    assert spec.tag == "strat1-0001"


def test_place_order_every_option() -> None:
    spec = rq.place_order(
        exchange_segment="nse_fo",
        product="NRML",
        price=Decimal("0"),
        order_type="SL-M",
        quantity=75,
        validity="IOC",
        trading_symbol="NIFTY26JUN22250CE",
        transaction_type="S",
        amo="YES",
        disclosed_quantity=Decimal("25"),
        trigger_price=Decimal("99.95"),
        tag="x_2",
    )
    assert spec.jdata is not None
    assert dict(spec.jdata) == {
        "am": "YES",
        "dq": "25",
        "es": "nse_fo",
        "mp": "0",
        "pc": "NRML",
        "pr": "0",
        "pt": "SL-M",
        "qt": "75",
        "rt": "IOC",
        "tp": "99.95",
        "ts": "NIFTY26JUN22250CE",
        "tt": "S",
        "ig": "x_2",
        "os": "NEOTRADEAPI",
    }


@pytest.mark.parametrize(
    ("price", "wire"),
    [
        (101, "101"),
        (Decimal("101.50"), "101.50"),
        (Decimal("1E+2"), "100"),
        (Decimal("-0"), "0"),
        ("101.50", "101.50"),
        ("0", "0"),
    ],
)
def test_price_forms(price: object, wire: str) -> None:
    spec = rq.place_order(**{**ORDER, "price": price, "order_type": "MKT"})
    assert spec.jdata is not None
    assert spec.jdata["pr"] == wire


@pytest.mark.parametrize(
    ("quantity", "wire"), [(10, "10"), ("10", "10"), ("010", "10"), (Decimal("10.0"), "10")]
)
def test_quantity_forms(quantity: object, wire: str) -> None:
    spec = rq.place_order(**{**ORDER, "quantity": quantity})
    assert spec.jdata is not None
    assert spec.jdata["qt"] == wire


def test_place_order_generates_a_unique_tag_per_call_when_none_given() -> None:
    entropy = counter_entropy()
    first = rq.place_order(**{**ORDER, "tag": None}, entropy=entropy)
    second = rq.place_order(**{**ORDER, "tag": None}, entropy=entropy)
    assert first.tag == "aioneo-000000000001"
    assert second.tag == "aioneo-000000000002"
    assert first.jdata is not None
    assert first.jdata["ig"] == first.tag
    assert len(first.tag) <= rq.TAG_MAX_LENGTH


def test_default_tags_come_from_secrets_and_fit_the_limit() -> None:
    tags = {rq.place_order(**{**ORDER, "tag": None}).tag for _ in range(200)}
    assert len(tags) == 200
    for tag in tags:
        assert tag is not None
        assert tag.startswith("aioneo-")
        assert len(tag) == 19
        int(tag.removeprefix("aioneo-"), 16)


def test_new_tag_checks_the_entropy_source() -> None:
    assert rq.new_tag(lambda n: b"\xff" * n) == "aioneo-ffffffffffff"
    raises(ValueError, rq.new_tag, "entropy(6) must return 6 bytes", entropy=lambda n: b"x")


def test_enum_members_are_accepted_and_sent_as_plain_strings() -> None:
    class Segment(enum.StrEnum):
        NSE_CM = "nse_cm"

    spec = rq.place_order(**{**ORDER, "exchange_segment": Segment.NSE_CM})
    assert spec.jdata is not None
    assert type(spec.jdata["es"]) is str
    assert spec.jdata["es"] == "nse_cm"


def test_modify_order_jdata() -> None:
    spec = rq.modify_order(**MODIFY)
    assert spec.jdata is not None
    assert list(spec.jdata.items()) == [
        ("mp", "0"),
        ("dq", "0"),
        ("vd", "DAY"),
        ("pr", "9.40"),
        ("pt", "L"),
        ("am", "NO"),
        ("tp", "0"),
        ("qt", "2"),
        ("no", "250122000624384"),
        ("os", "NEOTRADEAPI"),
    ]
    assert spec.tag is None


def test_cancel_order_jdata() -> None:
    assert rq.cancel_order("250122000624384").jdata == {"on": "250122000624384", "am": "NO"}
    spec = rq.cancel_order(250122000624384, amo="YES", isVerify=True)
    assert spec.jdata is not None
    assert list(spec.jdata.items()) == [("on", "250122000624384"), ("am", "YES")]


def test_order_history_jdata() -> None:
    assert rq.order_history("250122000624384").jdata == {"nOrdNo": "250122000624384"}


def test_limits_jdata() -> None:
    jdata = rq.limits().jdata
    assert jdata is not None
    assert list(jdata.items()) == [("seg", "ALL"), ("exch", "ALL"), ("prod", "ALL")]
    spec = rq.limits(segment="FO", exchange="BSE", product="MIS")
    assert spec.jdata == {"seg": "FO", "exch": "BSE", "prod": "MIS"}


def test_margin_required_jdata_with_nulls() -> None:
    spec = rq.margin_required(**MARGIN)
    assert spec.jdata is not None
    assert list(spec.jdata.items()) == [
        ("exSeg", "nse_cm"),
        ("prc", "100"),
        ("prcTp", "L"),
        ("prod", "CNC"),
        ("qty", "1"),
        ("tok", "11536"),
        ("trnsTp", "B"),
        ("trgPrc", None),
        ("brkName", "KOTAK"),
        ("brnchId", "ONLINE"),
        ("slAbsOrTks", None),
        ("slVal", None),
        ("sqrOffAbsOrTks", None),
        ("sqrOffVal", None),
        ("trailSL", None),
        ("tSLTks", None),
    ]


def test_margin_required_options() -> None:
    spec = rq.margin_required(
        **{**MARGIN, "instrument_token": 11536, "order_type": "MKT", "price": 0},
        trigger_price=Decimal("99.5"),
        stop_loss_type="A",
        stop_loss_value="5",
        square_off_type="T",
        square_off_value=10,
        trailing_stop_loss="Y",
        trailing_sl_value="1.5",
    )
    assert spec.jdata is not None
    assert [spec.jdata[k] for k in ("prc", "tok", "trgPrc", "slVal", "sqrOffVal", "tSLTks")] == [
        "0",
        "11536",
        "99.5",
        "5",
        "10",
        "1.5",
    ]


def test_quotes_path_encoding() -> None:
    (spec,) = rq.quotes(
        [
            {"instrument_token": "1333", "exchange_segment": "nse_cm"},
            {"instrument_token": "Nifty 50", "exchange_segment": "nse_cm"},
            {"instrument_token": 2885, "exchange_segment": "nse_cm"},
            "bse_cm|S&P/BSE 100",
        ],
        quote_type="ltp",
    )
    assert spec.path == (
        "script-details/1.0/quotes/neosymbol/"
        "nse_cm|1333,nse_cm|Nifty%2050,nse_cm|2885,bse_cm|S%26P%2FBSE%20100/ltp"
    )


@pytest.mark.parametrize(
    ("count", "sizes"), [(1, [1]), (50, [50]), (51, [50, 1]), (120, [50, 50, 20])]
)
def test_quotes_split_into_chunks_of_fifty_in_order(count: int, sizes: list[int]) -> None:
    tokens = [f"nse_fo|{1000 + i}" for i in range(count)]
    specs = rq.quotes(tokens, quote_type="oi")
    assert [spec.path.count("|") for spec in specs] == sizes
    sent: list[str] = []
    for spec in specs:
        assert spec.path.endswith("/oi")
        middle = spec.path.removeprefix("script-details/1.0/quotes/neosymbol/").removesuffix("/oi")
        sent += middle.split(",")
    assert sent == tokens


def test_expiries_params() -> None:
    spec = rq.expiries(exchange="mcx_fo", underlying="CRUDEOIL", instrument_type="fut")
    assert spec.params is not None
    assert list(spec.params.items()) == [
        ("exchange", "mcx_fo"),
        ("underlying", "CRUDEOIL"),
        ("instrument_type", "fut"),
    ]
    assert rq.expiries(exchange="nse_fo", underlying="NIFTY").params == {
        "exchange": "nse_fo",
        "underlying": "NIFTY",
    }


def test_option_chain_params() -> None:
    spec = rq.option_chain(
        exchange="nse_fo",
        underlying="NIFTY",
        expiry=date(2026, 6, 23),
        instrument_type="option",
        count=40,
    )
    assert spec.params is not None
    assert list(spec.params.items()) == [
        ("exchange", "nse_fo"),
        ("underlying", "NIFTY"),
        ("expiry", "2026-06-23"),
        ("instrument_type", "option"),
        ("count", "40"),
    ]


def test_historical_data_params() -> None:
    spec = rq.historical_data(
        neosymbol="nse_cm|1333", interval="1min", from_date=date(2026, 8, 20), to_date="2026-08-20"
    )
    assert spec.params is not None
    assert list(spec.params.items()) == [
        ("neosymbol", "nse_cm|1333"),
        ("interval", "1min"),
        ("fromdate", "2026-08-20"),
        ("todate", "2026-08-20"),
    ]


# --- Validation: every message names the field, the value and what is allowed ----------------


@pytest.mark.parametrize(
    ("field", "value", "allowed"),
    [
        ("exchange_segment", "NSE", "'nse_cm', 'bse_cm', 'nse_fo', 'bse_fo', 'mcx_fo'"),
        ("exchange_segment", "cde_fo", "'nse_cm'"),
        ("product", "Normal", "'CNC', 'NRML', 'MIS', 'MTF'"),
        ("product", "BO", "'CNC', 'NRML', 'MIS', 'MTF'"),
        ("order_type", "Limit", "'L', 'MKT', 'SL', 'SL-M'"),
        ("order_type", "SP", "'L', 'MKT', 'SL', 'SL-M'"),
        ("validity", "GTC", "'DAY', 'IOC'"),
        ("transaction_type", "Buy", "'B', 'S'"),
        ("transaction_type", "b", "'B', 'S'"),
        ("amo", "no", "'NO', 'YES'"),
    ],
)
def test_place_order_refuses_values_outside_the_allowed_set(
    field: str, value: str, allowed: str
) -> None:
    raises(ValueError, rq.place_order, field, repr(value), allowed, **{**ORDER, field: value})


def test_mcx_allows_day_only() -> None:
    raises(
        ValueError,
        rq.place_order,
        "validity",
        "'IOC'",
        "'DAY'",
        "mcx_fo",
        **{**ORDER, "exchange_segment": "mcx_fo", "validity": "IOC"},
    )
    assert rq.place_order(**{**ORDER, "exchange_segment": "mcx_fo"}).jdata is not None


@pytest.mark.parametrize("order_type", ["L", "SL"])
@pytest.mark.parametrize("price", ["0", 0, Decimal("0.00")])
def test_limit_and_stop_limit_need_a_price_above_zero(order_type: str, price: object) -> None:
    raises(
        ValueError,
        rq.place_order,
        "price",
        repr(price),
        "above 0",
        repr(order_type),
        **{**ORDER, "order_type": order_type, "price": price, "trigger_price": "1"},
    )
    raises(
        ValueError,
        rq.modify_order,
        "price",
        "above 0",
        **{**MODIFY, "order_type": order_type, "price": price, "trigger_price": "1"},
    )
    raises(
        ValueError,
        rq.margin_required,
        "price",
        "above 0",
        **{**MARGIN, "order_type": order_type, "price": price},
    )


@pytest.mark.parametrize("order_type", ["SL", "SL-M"])
def test_stop_loss_orders_need_a_trigger_price(order_type: str) -> None:
    raises(
        ValueError,
        rq.place_order,
        "trigger_price",
        "'0'",
        "above 0",
        repr(order_type),
        **{**ORDER, "order_type": order_type},
    )


def test_market_orders_may_use_price_zero() -> None:
    spec = rq.place_order(**{**ORDER, "order_type": "MKT", "price": "0"})
    assert spec.jdata is not None
    assert spec.jdata["pr"] == "0"


@pytest.mark.parametrize("field", ["price", "trigger_price"])
def test_float_prices_are_refused_with_a_suggestion(field: str) -> None:
    raises(
        TypeError,
        rq.place_order,
        field,
        "float 101.05",
        "Decimal('101.05')",
        "'101.05'",
        **{**ORDER, field: 101.05},
    )


@pytest.mark.parametrize(
    ("value", "exc", "parts"),
    [
        ("-1", ValueError, ("price", "'-1'", "e.g. '101.05'")),
        (-1, ValueError, ("price", "-1", "0 or more")),
        ("1e2", ValueError, ("price", "'1e2'", "no sign, exponent or spaces")),
        (
            " 101",
            ValueError,
            (
                "price",
                "' 101'",
            ),
        ),
        (
            "abc",
            ValueError,
            (
                "price",
                "'abc'",
            ),
        ),
        (
            "",
            ValueError,
            (
                "price",
                "''",
            ),
        ),
        (Decimal("NaN"), ValueError, ("price", "finite")),
        (Decimal("-1.5"), ValueError, ("price", "0 or more")),
        (True, TypeError, ("price", "bool", "int, Decimal or str")),
        (None, TypeError, ("price", "NoneType", "int, Decimal or str")),
    ],
)
def test_bad_prices(value: object, exc: type[Exception], parts: tuple[str, ...]) -> None:
    raises(exc, rq.place_order, *parts, **{**ORDER, "price": value})


@pytest.mark.parametrize(
    ("value", "exc", "parts"),
    [
        ("0", ValueError, ("quantity", "'0'", "positive whole number")),
        (0, ValueError, ("quantity", "0", "positive whole number")),
        (-5, ValueError, ("quantity", "-5", "positive whole number")),
        ("1.5", ValueError, ("quantity", "'1.5'", "digits only")),
        (Decimal("1.5"), ValueError, ("quantity", "1.5", "whole number")),
        ("", ValueError, ("quantity", "''", "digits only")),
        (10.0, TypeError, ("quantity", "float", "int, integral Decimal or digit str")),
        (True, TypeError, ("quantity", "bool")),
    ],
)
def test_bad_quantities(value: object, exc: type[Exception], parts: tuple[str, ...]) -> None:
    raises(exc, rq.place_order, *parts, **{**ORDER, "quantity": value})


def test_disclosed_quantity_may_be_zero_but_not_negative() -> None:
    assert rq.place_order(**{**ORDER, "disclosed_quantity": 0}).jdata is not None
    raises(
        ValueError,
        rq.place_order,
        "disclosed_quantity",
        "-1",
        "whole number >= 0",
        **{**ORDER, "disclosed_quantity": -1},
    )


@pytest.mark.parametrize(
    ("tag", "exc", "parts"),
    [
        ("", ValueError, ("tag", "''", "blank")),
        ("   ", ValueError, ("tag", "'   '", "blank")),
        ("has space", ValueError, ("tag", "'has space'", "A-Z, a-z, 0-9, '-' and '_'")),
        ("a" * 21, ValueError, ("tag", "a" * 21, "1 to 20 characters")),
        ("naïve", ValueError, ("tag", "'naïve'", "A-Z, a-z, 0-9")),
        (42, TypeError, ("tag", "int")),
    ],
)
def test_bad_tags(tag: object, exc: type[Exception], parts: tuple[str, ...]) -> None:
    raises(exc, rq.place_order, *parts, **{**ORDER, "tag": tag})


def test_a_twenty_character_tag_is_accepted() -> None:
    assert rq.place_order(**{**ORDER, "tag": "A-b_9" * 4}).tag == "A-b_9" * 4


@pytest.mark.parametrize(
    ("symbol", "exc", "parts"),
    [
        ("", ValueError, ("trading_symbol", "''", "e.g. 'ITBEES-EQ'")),
        (" ITBEES-EQ", ValueError, ("trading_symbol", "' ITBEES-EQ'", "whitespace")),
        (None, TypeError, ("trading_symbol", "NoneType")),
    ],
)
def test_bad_trading_symbols(symbol: object, exc: type[Exception], parts: tuple[str, ...]) -> None:
    raises(exc, rq.place_order, *parts, **{**ORDER, "trading_symbol": symbol})


def test_non_string_choice_is_a_type_error_naming_the_allowed_values() -> None:
    raises(
        TypeError,
        rq.place_order,
        "exchange_segment",
        "int",
        "'nse_cm'",
        **{**ORDER, "exchange_segment": 1},
    )


@pytest.mark.parametrize(
    ("order_id", "exc"),
    [("", ValueError), ("25012200/0624384", ValueError), ("a" * 41, ValueError), (None, TypeError)],
)
def test_bad_order_ids(order_id: object, exc: type[Exception]) -> None:
    for fn in (
        lambda: rq.cancel_order(order_id),  # type: ignore[arg-type]
        lambda: rq.order_history(order_id),  # type: ignore[arg-type]
        lambda: rq.modify_order(**{**MODIFY, "order_id": order_id}),
    ):
        with pytest.raises(exc) as info:
            fn()
        assert "order_id" in str(info.value)
        assert repr(order_id) in str(info.value) or type(order_id).__name__ in str(info.value)
    if order_id is not None:
        with pytest.raises(exc, match="order_id"):
            rq.order_report(order_id)  # type: ignore[arg-type]


def test_modify_order_validity_is_day_or_ioc() -> None:
    raises(
        ValueError,
        rq.modify_order,
        "validity",
        "'GTC'",
        "'DAY', 'IOC'",
        **{**MODIFY, "validity": "GTC"},
    )


def test_cancel_order_checks_amo_and_isverify() -> None:
    raises(ValueError, rq.cancel_order, "amo", "'yes'", "'NO', 'YES'", order_id="1", amo="yes")
    raises(TypeError, rq.cancel_order, "isVerify", "bool", order_id="1", isVerify="no")


@pytest.mark.parametrize(
    ("field", "value", "allowed"),
    [
        ("segment", "EQ", "'ALL', 'CASH', 'CUR', 'FO'"),
        ("exchange", "MCX", "'ALL', 'NSE', 'BSE'"),
        ("product", "MTF", "'ALL', 'NRML', 'CNC', 'MIS'"),
    ],
)
def test_limits_filters(field: str, value: str, allowed: str) -> None:
    raises(ValueError, rq.limits, field, repr(value), allowed, **{field: value})


@pytest.mark.parametrize(
    ("override", "exc", "parts"),
    [
        ({"exchange_segment": "NFO"}, ValueError, ("exchange_segment", "'NFO'", "'nse_fo'")),
        ({"transaction_type": "Buy"}, ValueError, ("transaction_type", "'Buy'", "'B', 'S'")),
        ({"instrument_token": "0"}, ValueError, ("instrument_token", "'0'", "positive")),
        ({"instrument_token": "RELIANCE"}, ValueError, ("instrument_token", "'RELIANCE'")),
        ({"quantity": "0"}, ValueError, ("quantity", "'0'", "positive")),
        ({"broker_name": ""}, ValueError, ("broker_name", "''", "blank")),
        ({"branch_id": " "}, ValueError, ("branch_id", "' '", "blank")),
        ({"trigger_price": 1.5}, TypeError, ("trigger_price", "float", "Decimal('1.5')")),
        ({"stop_loss_type": ""}, ValueError, ("stop_loss_type", "''")),
        ({"trailing_sl_value": "x"}, ValueError, ("trailing_sl_value", "'x'")),
    ],
)
def test_margin_required_refusals(
    override: dict[str, object], exc: type[Exception], parts: tuple[str, ...]
) -> None:
    raises(exc, rq.margin_required, *parts, **{**MARGIN, **override})


@pytest.mark.parametrize(
    ("tokens", "exc", "parts"),
    [
        ([], ValueError, ("instrument_tokens", "empty")),
        ("nse_cm|1333", TypeError, ("instrument_tokens", "list")),
        ([{"instrument_token": "1333"}], ValueError, ("instrument_tokens[0]", "exchange_segment")),
        (
            [{"instrument_token": "1333", "exchange_segment": "NSE"}],
            ValueError,
            ("instrument_tokens[0] exchange_segment", "'NSE'", "'nse_cm'"),
        ),
        (["nse_cm|1333", "1333"], ValueError, ("instrument_tokens[1]", "'1333'", "segment|token")),
        (["nse_cm|"], ValueError, ("instrument_tokens[0] instrument_token", "''")),
        (
            ["nse_cm|1,2"],
            ValueError,
            ("instrument_tokens[0] instrument_token", "'1,2'", "'|' or ','"),
        ),
        ([1333], TypeError, ("instrument_tokens[0]", "int")),
    ],
)
def test_quotes_refusals(tokens: object, exc: type[Exception], parts: tuple[str, ...]) -> None:
    raises(exc, rq.quotes, *parts, instrument_tokens=tokens)


def test_quote_type_is_checked() -> None:
    raises(
        ValueError,
        rq.quotes,
        "quote_type",
        "'depth'",
        "'all', 'ltp', 'ohlc', 'oi', '52w', 'circuit_limits', 'scrip_details', 'market_depth'",
        instrument_tokens=["nse_cm|1"],
        quote_type="depth",
    )


@pytest.mark.parametrize(
    ("kwargs", "exc", "parts"),
    [
        (
            {"exchange": "nse_cm"},
            ValueError,
            ("exchange", "'nse_cm'", "'nse_fo', 'bse_fo', 'mcx_fo'"),
        ),
        ({"underlying": ""}, ValueError, ("underlying", "''")),
        (
            {"instrument_type": "future"},
            ValueError,
            ("instrument_type", "'future'", "'option', 'fut'"),
        ),
    ],
)
def test_expiries_refusals(
    kwargs: dict[str, object], exc: type[Exception], parts: tuple[str, ...]
) -> None:
    raises(exc, rq.expiries, *parts, **{"exchange": "nse_fo", "underlying": "NIFTY", **kwargs})


@pytest.mark.parametrize(
    ("kwargs", "exc", "parts"),
    [
        ({"count": 45}, ValueError, ("count", "45", "multiple of 10")),
        ({"count": 0}, ValueError, ("count", "0", "multiple of 10")),
        ({"count": "40"}, TypeError, ("count", "'40'", "int")),
        ({"expiry": "23-06-2026"}, ValueError, ("expiry", "'23-06-2026'", "YYYY-MM-DD")),
        ({"expiry": "2026-02-30"}, ValueError, ("expiry", "'2026-02-30'", "YYYY-MM-DD")),
        ({"expiry": datetime(2026, 6, 23)}, TypeError, ("expiry", "datetime")),
        ({"instrument_type": "opt"}, ValueError, ("instrument_type", "'opt'", "'option', 'fut'")),
    ],
)
def test_option_chain_refusals(
    kwargs: dict[str, object], exc: type[Exception], parts: tuple[str, ...]
) -> None:
    raises(exc, rq.option_chain, *parts, **{"exchange": "nse_fo", "underlying": "NIFTY", **kwargs})


HISTORICAL: dict[str, Any] = {
    "neosymbol": "nse_cm|1333",
    "interval": "D",
    "from_date": "2026-01-01",
    "to_date": "2026-02-01",
}


@pytest.mark.parametrize(
    ("kwargs", "exc", "parts"),
    [
        (
            {"interval": "1m"},
            ValueError,
            ("interval", "'1m'", "'1min', '3min', '5min'", "'D', 'W'"),
        ),
        ({"neosymbol": "1333"}, ValueError, ("neosymbol", "'1333'", "segment|token")),
        (
            {"neosymbol": "mcx_fo|1"},
            ValueError,
            ("neosymbol", "'mcx_fo|1'", "not available", "'nse_cm'"),
        ),
        ({"neosymbol": "xyz|1"}, ValueError, ("neosymbol segment", "'xyz'", "'nse_cm'")),
        (
            {"from_date": "2026-03-01"},
            ValueError,
            ("from_date", "'2026-03-01'", "after", "'2026-02-01'"),
        ),
        ({"to_date": 20260201}, TypeError, ("to_date", "int", "YYYY-MM-DD")),
    ],
)
def test_historical_data_refusals(
    kwargs: dict[str, object], exc: type[Exception], parts: tuple[str, ...]
) -> None:
    raises(exc, rq.historical_data, *parts, **{**HISTORICAL, **kwargs})


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"mobile_number": "9000000001"}, "mobile_number"),
        ({"mobile_number": "+91 90000 00001"}, "mobile_number"),
        ({"ucc": ""}, "ucc"),
        ({"ucc": "AB 1"}, "ucc"),
        ({"totp": "98765"}, "totp"),
        ({"totp": "98765a"}, "totp"),
        ({"totp": 987654}, "totp"),
    ],
)
def test_totp_login_refusals_never_echo_secrets(kwargs: dict[str, object], field: str) -> None:
    good = {"mobile_number": "+919876543210", "ucc": "AB1C2", "totp": "123456"}
    message = raises(ValueError, rq.totp_login, field, **{**good, **kwargs})
    if field in ("mobile_number", "totp"):
        assert "value not shown" in message
        assert str(kwargs[field]) not in message
    else:
        assert repr(kwargs[field]) in message


@pytest.mark.parametrize("mpin", ["98765", "9876543", "abcdef", "", 987654])
def test_totp_validate_refusals_never_echo_the_mpin(mpin: object) -> None:
    message = raises(ValueError, rq.totp_validate, "mpin", "6-digit", mpin=mpin)
    assert "value not shown" in message
    if mpin:
        assert str(mpin) not in message


def test_a_negative_quantity_is_named_as_not_positive() -> None:
    """A new user's ``--quantity -1`` was told "-1 is not a whole number"."""
    with pytest.raises(ValueError, match=r"quantity must be a positive whole number; got '-1'"):
        rq.place_order(
            exchange_segment="nse_cm",
            product="CNC",
            price="0",
            order_type="MKT",
            quantity="-1",
            validity="DAY",
            trading_symbol="ITBEES-EQ",
            transaction_type="B",
        )
