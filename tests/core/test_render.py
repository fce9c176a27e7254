"""render(): URL, headers in wire order, body bytes, and a repr without secrets."""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

import pytest

from aioneo._core import _requests as rq
from aioneo._core._protocol import FORM, JSON, Auth, Host, RequestSpec
from aioneo._core._render import USER_AGENT, RenderedRequest, render
from aioneo._version import __version__

LOGIN = "https://mis.kotaksecurities.com"
BASE = "https://gw.neo.test/gw/e21"
CREDS: dict[str, Any] = {
    "login_url": LOGIN,
    "base_url": BASE,
    "consumer_key": "ck-secret",
    "view_token": "view-token-secret",
    "view_sid": "view-sid-secret",
    "trade_token": "trade-token-secret",
    "trade_sid": "trade-sid-secret",
}
SECRETS = (
    "ck-secret",
    "view-token-secret",
    "view-sid-secret",
    "trade-token-secret",
    "trade-sid-secret",
)
COMMON = [
    ("User-Agent", USER_AGENT),
    ("Accept", "application/json"),
    ("Accept-Encoding", "gzip, deflate"),
]
COMMON_NO_ACCEPT = [("User-Agent", USER_AGENT), ("Accept-Encoding", "gzip, deflate")]


def test_user_agent_names_aioneo_and_its_version() -> None:
    assert f"aioneo/{__version__}" == USER_AGENT


@pytest.mark.parametrize(
    ("base_url", "path", "expected"),
    [
        (
            "https://gw.neo.test/gw/e21",
            "quick/user/orders",
            "https://gw.neo.test/gw/e21/quick/user/orders",
        ),
        (
            "https://gw.neo.test/gw/e21/",
            "quick/user/orders",
            "https://gw.neo.test/gw/e21/quick/user/orders",
        ),
        ("https://gw.neo.test/", "/quick/user/orders", "https://gw.neo.test/quick/user/orders"),
        (
            "https://e21.kotaksecurities.com",
            "quick/user/orders",
            "https://e21.kotaksecurities.com/quick/user/orders",
        ),
    ],
)
def test_url_joins_host_and_path_with_exactly_one_slash(
    base_url: str, path: str, expected: str
) -> None:
    spec = RequestSpec(op="x", method="GET", path=path)
    assert render(spec, **{**CREDS, "base_url": base_url}).url == expected


def test_login_host_calls_ignore_base_url() -> None:
    assert render(rq.whatsmyip(), **CREDS).url == f"{LOGIN}/login/1.0/get-client-ip"
    spec = rq.totp_validate("654321")
    assert render(spec, **CREDS).url == f"{LOGIN}/login/1.0/tradeApiValidate"


def test_trade_host_calls_before_login_go_to_the_login_host() -> None:
    spec = rq.scrip_master()
    rendered = render(spec, **{**CREDS, "base_url": None})
    assert rendered.url == f"{LOGIN}/script-details/1.0/masterscrip/file-paths"


def test_query_string_encoding() -> None:
    spec = rq.historical_data(
        neosymbol="nse_cm|Nifty 50", interval="D", from_date="2026-01-01", to_date="2026-02-01"
    )
    url = render(spec, **CREDS).url
    assert url == (
        f"{BASE}/market-data/1.0/historical/details"
        "?neosymbol=nse_cm%7CNifty+50&interval=D&fromdate=2026-01-01&todate=2026-02-01"
    )


def test_quotes_path_is_used_as_encoded_by_the_builder() -> None:
    (spec,) = rq.quotes(["nse_cm|Nifty 50", "nse_cm|1333"])
    assert render(spec, **CREDS).url == (
        f"{BASE}/script-details/1.0/quotes/neosymbol/nse_cm|Nifty%2050,nse_cm|1333/all"
    )


# --- Headers ----------------------------------------------------------------------------------


def test_login_headers() -> None:
    spec = rq.totp_login(mobile_number="+919876543210", ucc="AB1C2", totp="123456")
    assert render(spec, **CREDS).headers == [
        *COMMON,
        ("Authorization", "ck-secret"),
        ("neo-fin-key", "neotradeapi"),
        ("Content-Type", JSON),
    ]


def test_validate_headers_use_the_view_credentials_and_a_lowercase_sid() -> None:
    rendered = render(rq.totp_validate("654321"), **CREDS, neo_fin_key="custom-fin-key")
    assert rendered.headers == [
        *COMMON,
        ("Authorization", "ck-secret"),
        ("sid", "view-sid-secret"),
        ("Auth", "view-token-secret"),
        ("neo-fin-key", "custom-fin-key"),
        ("Content-Type", JSON),
    ]


def test_order_headers() -> None:
    rendered = render(rq.cancel_order("1"), **CREDS)
    assert rendered.headers == [
        *COMMON,
        ("Authorization", "ck-secret"),
        ("Sid", "trade-sid-secret"),
        ("Auth", "trade-token-secret"),
        ("Content-Type", FORM),
    ]


def test_report_headers_replace_accept_and_append_json_content_type() -> None:
    rendered = render(rq.order_report(), **CREDS)
    assert rendered.headers == [
        *COMMON_NO_ACCEPT,
        ("Sid", "trade-sid-secret"),
        ("Auth", "trade-token-secret"),
        ("accept", JSON),
        ("Content-Type", JSON),
    ]
    assert rendered.content is None


def test_holdings_headers_put_form_content_type_before_accept() -> None:
    assert render(rq.holdings(), **CREDS).headers == [
        *COMMON_NO_ACCEPT,
        ("Sid", "trade-sid-secret"),
        ("Auth", "trade-token-secret"),
        ("Content-Type", FORM),
        ("accept", "*/*"),
    ]


def test_session_form_headers_have_no_consumer_key() -> None:
    assert render(rq.limits(), **CREDS).headers == [
        *COMMON,
        ("Sid", "trade-sid-secret"),
        ("Auth", "trade-token-secret"),
        ("Content-Type", FORM),
    ]


def test_market_data_headers_carry_the_consumer_key_only() -> None:
    assert render(rq.expiries(exchange="nse_fo", underlying="NIFTY"), **CREDS).headers == [
        *COMMON,
        ("Authorization", "ck-secret"),
        ("Content-Type", FORM),
    ]


def test_whatsmyip_headers() -> None:
    assert render(rq.whatsmyip(), **CREDS).headers == [
        *COMMON_NO_ACCEPT,
        ("Authorization", "ck-secret"),
        ("Sid", "trade-sid-secret"),
        ("Auth", "trade-token-secret"),
        ("accept", JSON),
        ("Content-Type", JSON),
    ]


def test_auth_none_sends_no_credentials() -> None:
    spec = RequestSpec(op="x", method="GET", path="p", auth=Auth.NONE, accept=None)
    assert render(spec, **CREDS).headers == [*COMMON, ("Content-Type", JSON)]


def test_missing_credentials_are_left_out_like_the_sdk() -> None:
    rendered = render(rq.positions(), **{**CREDS, "trade_token": None, "trade_sid": None})
    names = [name for name, _ in rendered.headers]
    assert "Sid" not in names
    assert "Auth" not in names
    assert names == ["User-Agent", "Accept-Encoding", "accept", "Content-Type"]


def test_request_id_is_the_last_header_when_given() -> None:
    rendered = render(rq.positions(), **CREDS, request_id="rid-42")
    assert rendered.headers[-1] == ("X-Request-ID", "rid-42")
    assert all(name != "X-Request-ID" for name, _ in render(rq.positions(), **CREDS).headers)


def test_never_sends_x_client_id() -> None:
    for spec in (
        rq.positions(),
        rq.place_order(**ORDER),
        rq.scrip_master(),
        rq.totp_validate("654321"),
    ):
        assert all(name.lower() != "x-client-id" for name, _ in render(spec, **CREDS).headers)


# --- Bodies -----------------------------------------------------------------------------------

ORDER: dict[str, Any] = {
    "exchange_segment": "nse_cm",
    "product": "CNC",
    "price": "101.5",
    "order_type": "L",
    "quantity": "1",
    "validity": "DAY",
    "trading_symbol": "ITBEES-EQ",
    "transaction_type": "B",
    "tag": "t1",
}


def test_form_body_is_one_jdata_field_with_python_separators_and_plus_for_spaces() -> None:
    rendered = render(rq.cancel_order("123"), **CREDS)
    assert rendered.content == b"jData=%7B%22on%22%3A+%22123%22%2C+%22am%22%3A+%22NO%22%7D"


def test_form_body_keeps_key_order_and_nulls() -> None:
    spec = rq.margin_required(
        exchange_segment="nse_cm",
        price="100",
        order_type="L",
        product="CNC",
        quantity="1",
        instrument_token="11536",
        transaction_type="B",
    )
    content = render(spec, **CREDS).content
    assert content is not None
    (field,) = urllib.parse.parse_qsl(content.decode(), strict_parsing=True)
    assert field[0] == "jData"
    assert field[1] == json.dumps(spec.jdata)
    assert '"trgPrc": null' in field[1]
    assert list(json.loads(field[1])) == list(spec.jdata or {})


def test_json_body_is_raw_json_dumps() -> None:
    spec = rq.totp_login(mobile_number="+919876543210", ucc="AB1C2", totp="123456")
    content = render(spec, **CREDS).content
    assert content == b'{"mobileNumber": "+919876543210", "ucc": "AB1C2", "totp": "123456"}'


def test_gets_and_bodiless_posts_have_no_content() -> None:
    assert render(rq.holdings(), **CREDS).content is None
    assert render(rq.logout(), **CREDS).content is None
    assert render(rq.logout(), **CREDS).method == "POST"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            RequestSpec(op="bad", method="GET", path="p", jdata={"a": 1}, content_type=FORM),
            "GET with a body",
        ),
        (
            RequestSpec(op="bad", method="POST", path="p", jdata={"a": 1}, json={"b": 2}),
            "both jdata and json",
        ),
        (
            RequestSpec(op="bad", method="POST", path="p", jdata={"a": 1}, content_type=JSON),
            "jdata needs",
        ),
        (
            RequestSpec(op="bad", method="POST", path="p", json={"a": 1}, content_type=FORM),
            "json needs",
        ),
    ],
)
def test_inconsistent_specs_are_refused(spec: RequestSpec, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        render(spec, **CREDS)


def test_method_is_upper_case() -> None:
    spec = RequestSpec(op="x", method="get", path="p", host=Host.LOGIN)
    assert render(spec, **CREDS).method == "GET"


# --- Secrets ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec",
    [
        rq.totp_login(mobile_number="+919876543210", ucc="AB1C2", totp="135790"),
        rq.totp_validate("246801"),
        rq.place_order(**ORDER),
        rq.positions(),
    ],
    ids=lambda spec: spec.op,
)
def test_repr_shows_no_secret(spec: RequestSpec) -> None:
    rendered = render(spec, **CREDS)
    text = repr(rendered)
    for secret in (*SECRETS, "135790", "246801", "+919876543210"):
        assert secret not in text
    assert text.startswith(f"RenderedRequest({rendered.method} {rendered.url}")
    assert "Authorization" in text or "Sid" in text


def test_rendered_request_is_frozen() -> None:
    rendered = render(rq.positions(), **CREDS)
    assert isinstance(rendered, RenderedRequest)
    with pytest.raises(AttributeError):
        rendered.url = "https://elsewhere.test"  # type: ignore[misc]


def test_render_is_deterministic() -> None:
    spec = rq.place_order(**ORDER)
    assert render(spec, **CREDS, request_id="a") == render(spec, **CREDS, request_id="a")
