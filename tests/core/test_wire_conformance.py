"""Wire conformance: aioneo's builders + render against the official SDK, request by request.

Each case runs one operation through ``neo_api_client.NeoAPI`` (kotakneoapi 3.0.9) on an
``httpx.MockTransport`` that records what the SDK sends, builds the same operation with
``aioneo._core._requests`` + ``render``, turns it into an ``httpx.Request`` the way the
shells do, and compares: method, host, path relative to the base URL, query, every header
name (as spelled) and value in wire order, and the body bytes (so the encoding, the jData
key order and every value).

Intentional differences, excluded from the comparison and nowhere else:

* ``User-Agent``: ``aioneo/<version>`` instead of ``NeoSDK-Python/3.0.9``.
* ``X-Request-ID``: the SDK sends a random uuid4; aioneo only when the shell passes one.
* ``X-Client-ID``: the SDK sends the first 8 characters of the consumer key; aioneo never.
* ``Connection: keep-alive`` is added by ``httpx.Client``, not by the SDK's code; the
  shells' client adds it too. ``Host`` and ``Content-Length`` are derived by httpx from the
  URL and body we compare anyway.

Operations that are not wire-equivalent by design are tested at the end, each with why.
"""

from __future__ import annotations

import json
import os
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

os.environ.setdefault("NEO_LOG_FILE_ENABLED", "false")  # before the SDK's logger is imported
neo_api_client = pytest.importorskip("neo_api_client")

from aioneo._core import _requests as rq  # noqa: E402
from aioneo._core._protocol import RequestSpec  # noqa: E402
from aioneo._core._render import USER_AGENT, render  # noqa: E402

pytestmark = pytest.mark.sdk

LOGIN_URL = "https://mis.kotaksecurities.com"
BASE_URL = "https://gw.neo.test/gw/e21"
CONSUMER_KEY = "ck-test-0123456789"
VIEW_TOKEN = "view.jwt.token"
VIEW_SID = "view-sid-1"
TRADE_TOKEN = "trade.jwt.token"
TRADE_SID = "trade-sid-1"

INTENTIONAL = {"user-agent", "x-request-id", "x-client-id"}
HTTPX_DERIVED = {"host", "connection", "content-length"}

LOGIN_BODY = {"data": {"token": VIEW_TOKEN, "sid": VIEW_SID, "ucc": "AB1C2", "kType": "View"}}
VALIDATE_BODY = {
    "data": {
        "token": TRADE_TOKEN,
        "sid": TRADE_SID,
        "rid": "rid-1",
        "baseUrl": BASE_URL,
        "dataCenter": "E21",
        "ucc": "AB1C2",
        "kType": "Trade",
    }
}


class Recorder:
    """Mock transport handler: records every request and answers canned bodies."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        path = request.url.path
        if path.endswith("/tradeApiLogin"):
            return httpx.Response(200, json=LOGIN_BODY)
        if path.endswith("/tradeApiValidate"):
            return httpx.Response(200, json=VALIDATE_BODY)
        if "/quotes/" in path:
            return httpx.Response(200, json=[])
        return httpx.Response(200, json={"stat": "Ok", "stCode": 200, "data": []})

    def only(self, since: int) -> httpx.Request:
        new = self.requests[since:]
        assert len(new) == 1, f"expected one request, got {[str(r.url) for r in new]}"
        return new[0]


@dataclass
class Sdk:
    client: Any
    recorder: Recorder

    def call(self, fn: Callable[[Any], object]) -> httpx.Request:
        before = len(self.recorder.requests)
        result = fn(self.client)
        assert not (isinstance(result, dict) and ("Error" in result or "error" in result)), result
        return self.recorder.only(before)


def _new_sdk(recorder: Recorder) -> Any:
    return neo_api_client.NeoAPI(consumer_key=CONSUMER_KEY, transport=httpx.MockTransport(recorder))


@pytest.fixture
def fresh_sdk(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Iterator[Sdk]:
    monkeypatch.setenv("NEO_HOLDINGS_CACHE_DIR", str(tmp_path / "holdings"))
    recorder = Recorder()
    client = _new_sdk(recorder)
    yield Sdk(client, recorder)
    client.api_client.rest_client.close()


@pytest.fixture
def sdk(fresh_sdk: Sdk) -> Sdk:
    """An SDK client pushed into the logged-in state by the mock transport."""
    fresh_sdk.client.totp_login(mobile_number="+919876543210", ucc="AB1C2", totp="123456")
    fresh_sdk.client.totp_validate(mpin="654321")
    assert fresh_sdk.client.configuration.base_url == BASE_URL
    assert fresh_sdk.client.configuration.edit_token == TRADE_TOKEN
    return fresh_sdk


def ours(spec: RequestSpec, *, logged_in: bool = True) -> httpx.Request:
    rendered = render(
        spec,
        login_url=LOGIN_URL,
        base_url=BASE_URL if logged_in else None,
        consumer_key=CONSUMER_KEY,
        view_token=VIEW_TOKEN,
        view_sid=VIEW_SID,
        trade_token=TRADE_TOKEN if logged_in else None,
        trade_sid=TRADE_SID if logged_in else None,
        request_id="req-1",
    )
    return httpx.Request(
        rendered.method, rendered.url, headers=rendered.headers, content=rendered.content
    )


def _compared_headers(request: httpx.Request) -> list[tuple[str, str]]:
    return [
        (name.decode(), value.decode())
        for name, value in request.headers.raw
        if name.decode().lower() not in INTENTIONAL | HTTPX_DERIVED
    ]


def _decoded_body(request: httpx.Request) -> object:
    content = request.content
    if not content:
        return None
    if request.headers.get("content-type") == "application/x-www-form-urlencoded":
        fields = urllib.parse.parse_qsl(
            content.decode(), keep_blank_values=True, strict_parsing=True
        )
        assert [name for name, _ in fields] == ["jData"]
        return ("jData", list(json.loads(fields[0][1]).items()))
    return ("json", list(json.loads(content).items()))


def assert_equivalent(sdk_request: httpx.Request, our_request: httpx.Request) -> None:
    assert our_request.method == sdk_request.method
    assert our_request.url.scheme == sdk_request.url.scheme
    assert our_request.url.host == sdk_request.url.host
    # Path relative to the base URL, byte for byte (so the percent-encoding too), and query.
    assert our_request.url.raw_path == sdk_request.url.raw_path
    assert _compared_headers(our_request) == _compared_headers(sdk_request)
    # Decoded first for a readable failure (key order matters), then the exact bytes.
    assert _decoded_body(our_request) == _decoded_body(sdk_request)
    assert our_request.content == sdk_request.content
    # The intentional differences are exactly these.
    assert our_request.headers["User-Agent"] == USER_AGENT
    assert sdk_request.headers["User-Agent"].startswith("NeoSDK-Python/")
    assert "X-Client-ID" in sdk_request.headers
    assert "X-Client-ID" not in our_request.headers
    assert our_request.headers["X-Request-ID"] == "req-1"


# --- Login ------------------------------------------------------------------------------------


def test_totp_login(fresh_sdk: Sdk) -> None:
    sent = fresh_sdk.call(
        lambda c: c.totp_login(mobile_number="+919876543210", ucc="AB1C2", totp="123456")
    )
    assert str(sent.url) == f"{LOGIN_URL}/login/1.0/tradeApiLogin"
    mine = ours(rq.totp_login(mobile_number="+919876543210", ucc="AB1C2", totp="123456"))
    assert_equivalent(sent, mine)
    assert sent.headers["neo-fin-key"] == "neotradeapi"


def test_totp_validate(fresh_sdk: Sdk) -> None:
    fresh_sdk.client.totp_login(mobile_number="+919876543210", ucc="AB1C2", totp="123456")
    before = len(fresh_sdk.recorder.requests)
    fresh_sdk.client.totp_validate(mpin="654321")
    # validate, then the SDK's best-effort config-service call (not ours to mirror).
    sent = fresh_sdk.recorder.requests[before]
    assert [str(r.url).split("?")[0] for r in fresh_sdk.recorder.requests[before:]] == [
        f"{LOGIN_URL}/login/1.0/tradeApiValidate",
        "https://lapi.kotaksecurities.com/5config/config",
    ]
    mine = ours(rq.totp_validate("654321"), logged_in=False)
    assert_equivalent(sent, mine)
    assert ("sid", VIEW_SID) in _compared_headers(sent)


# --- Orders -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param(
            {
                "exchange_segment": "nse_cm",
                "product": "CNC",
                "price": "101.5",
                "order_type": "L",
                "quantity": "1",
                "validity": "DAY",
                "trading_symbol": "ITBEES-EQ",
                "transaction_type": "B",
                "tag": "strat1-0001",
            },
            id="limit-defaults",
        ),
        pytest.param(
            {
                "exchange_segment": "nse_fo",
                "product": "NRML",
                "price": "0",
                "order_type": "SL-M",
                "quantity": "75",
                "validity": "IOC",
                "trading_symbol": "NIFTY26JUN22250CE",
                "transaction_type": "S",
                "amo": "YES",
                "disclosed_quantity": "25",
                "trigger_price": "99.95",
                "tag": "x_2",
            },
            id="sl-m-every-option",
        ),
        pytest.param(
            {
                "exchange_segment": "mcx_fo",
                "product": "MIS",
                "price": "0",
                "order_type": "MKT",
                "quantity": "1",
                "validity": "DAY",
                "trading_symbol": "CRUDEOIL26JULFUT",
                "transaction_type": "B",
                "tag": "mcx-1",
            },
            id="market-mcx",
        ),
    ],
)
def test_place_order(sdk: Sdk, kwargs: dict[str, str]) -> None:
    sent = sdk.call(lambda c: c.place_order(**kwargs))
    assert str(sent.url) == f"{BASE_URL}/quick/order/rule/ms/place"
    spec = rq.place_order(**kwargs)
    assert spec.tag == kwargs["tag"]
    assert_equivalent(sent, ours(spec))


def test_place_order_accepts_decimal_and_int_with_same_wire_text(sdk: Sdk) -> None:
    from decimal import Decimal

    common = {
        "exchange_segment": "bse_cm",
        "product": "MTF",
        "order_type": "L",
        "validity": "DAY",
        "trading_symbol": "ITBEES",
        "transaction_type": "S",
        "tag": "dec-1",
    }
    sent = sdk.call(lambda c: c.place_order(price="35.88", quantity="10", **common))
    spec = rq.place_order(price=Decimal("35.88"), quantity=10, **common)
    assert_equivalent(sent, ours(spec))


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param(
            {
                "order_id": "250122000624384",
                "price": "9.40",
                "order_type": "L",
                "quantity": "2",
                "validity": "DAY",
            },
            id="defaults",
        ),
        pytest.param(
            {
                "order_id": "250122000624384",
                "price": "9.45",
                "order_type": "SL",
                "quantity": "3",
                "validity": "IOC",
                "trigger_price": "9.41",
                "disclosed_quantity": "1",
                "amo": "YES",
            },
            id="every-option",
        ),
    ],
)
def test_modify_order(sdk: Sdk, kwargs: dict[str, str]) -> None:
    sent = sdk.call(lambda c: c.modify_order(**kwargs))
    assert str(sent.url) == f"{BASE_URL}/quick/order/vr/modify"
    assert_equivalent(sent, ours(rq.modify_order(**kwargs)))


@pytest.mark.parametrize("amo", ["NO", "YES"])
def test_cancel_order(sdk: Sdk, amo: str) -> None:
    sent = sdk.call(lambda c: c.cancel_order(order_id="250122000624384", amo=amo, isVerify=True))
    assert str(sent.url) == f"{BASE_URL}/quick/order/cancel"
    assert_equivalent(sent, ours(rq.cancel_order("250122000624384", amo=amo, isVerify=True)))


# --- Reports and portfolio --------------------------------------------------------------------


def test_order_report(sdk: Sdk) -> None:
    sent = sdk.call(lambda c: c.order_report())
    assert str(sent.url) == f"{BASE_URL}/quick/user/orders"
    assert_equivalent(sent, ours(rq.order_report()))


def test_order_report_one_order(sdk: Sdk) -> None:
    sent = sdk.call(lambda c: c.order_report(order_id="250122000624384"))
    assert str(sent.url) == f"{BASE_URL}/quick/user/orders/250122000624384"
    assert_equivalent(sent, ours(rq.order_report("250122000624384")))


def test_order_history(sdk: Sdk) -> None:
    sent = sdk.call(lambda c: c.order_history(order_id="250122000624384"))
    assert_equivalent(sent, ours(rq.order_history("250122000624384")))


def test_trade_report(sdk: Sdk) -> None:
    sent = sdk.call(lambda c: c.trade_report())
    assert_equivalent(sent, ours(rq.trade_report()))


def test_positions(sdk: Sdk) -> None:
    sent = sdk.call(lambda c: c.positions())
    assert str(sent.url) == f"{BASE_URL}/portfolio/v2/positions"
    assert_equivalent(sent, ours(rq.positions()))


def test_holdings(sdk: Sdk) -> None:
    sent = sdk.call(lambda c: c.holdings())
    assert sent.headers["accept"] == "*/*"
    assert_equivalent(sent, ours(rq.holdings()))


def test_limits(sdk: Sdk) -> None:
    sent = sdk.call(lambda c: c.limits())
    assert_equivalent(sent, ours(rq.limits()))


def test_margin_required_defaults(sdk: Sdk) -> None:
    kwargs = {
        "exchange_segment": "nse_cm",
        "price": "100",
        "order_type": "L",
        "product": "CNC",
        "quantity": "1",
        "instrument_token": "11536",
        "transaction_type": "B",
    }
    sent = sdk.call(lambda c: c.margin_required(**kwargs))
    assert_equivalent(sent, ours(rq.margin_required(**kwargs)))


def test_margin_required_every_option(sdk: Sdk) -> None:
    kwargs = {
        "exchange_segment": "nse_fo",
        "price": "0",
        "order_type": "SL-M",
        "product": "NRML",
        "quantity": "75",
        "instrument_token": "71472",
        "transaction_type": "S",
        "trigger_price": "160.5",
        "broker_name": "KOTAK",
        "branch_id": "ONLINE",
        "stop_loss_type": "A",
        "stop_loss_value": "5",
        "square_off_type": "T",
        "square_off_value": "10",
        "trailing_stop_loss": "Y",
        "trailing_sl_value": "1.5",
    }
    sent = sdk.call(lambda c: c.margin_required(**kwargs))
    assert_equivalent(sent, ours(rq.margin_required(**kwargs)))


def test_whatsmyip(sdk: Sdk) -> None:
    sent = sdk.call(lambda c: c.whatsmyip())
    assert str(sent.url) == f"{LOGIN_URL}/login/1.0/get-client-ip"
    assert_equivalent(sent, ours(rq.whatsmyip()))


# --- Market data ------------------------------------------------------------------------------


def test_scrip_master(sdk: Sdk) -> None:
    sent = sdk.call(lambda c: c.scrip_master())
    assert_equivalent(sent, ours(rq.scrip_master()))


@pytest.mark.parametrize("quote_type", ["all", "ltp", "market_depth"])
def test_quotes(sdk: Sdk, quote_type: str) -> None:
    tokens = [
        {"instrument_token": "1333", "exchange_segment": "nse_cm"},
        {"instrument_token": "Nifty 50", "exchange_segment": "nse_cm"},
        {"instrument_token": "SENSEX", "exchange_segment": "bse_cm"},
    ]
    sent = sdk.call(lambda c: c.quotes(instrument_tokens=tokens, quote_type=quote_type))
    assert sent.url.raw_path.endswith(
        f"/neosymbol/nse_cm|1333,nse_cm|Nifty%2050,bse_cm|SENSEX/{quote_type}".encode()
    )
    (spec,) = rq.quotes(tokens, quote_type=quote_type)
    assert_equivalent(sent, ours(spec))


def test_quotes_fifty_instruments_is_one_identical_request(sdk: Sdk) -> None:
    tokens = [{"instrument_token": str(1000 + i), "exchange_segment": "nse_fo"} for i in range(50)]
    sent = sdk.call(lambda c: c.quotes(instrument_tokens=tokens))
    (spec,) = rq.quotes(tokens)
    assert_equivalent(sent, ours(spec))


@pytest.mark.parametrize("instrument_type", [None, "fut"])
def test_expiries(sdk: Sdk, instrument_type: str | None) -> None:
    sent = sdk.call(
        lambda c: c.expiries(
            exchange="nse_fo", underlying="RELIANCE", instrument_type=instrument_type
        )
    )
    spec = rq.expiries(exchange="nse_fo", underlying="RELIANCE", instrument_type=instrument_type)
    assert_equivalent(sent, ours(spec))


def test_option_chain_minimal(sdk: Sdk) -> None:
    sent = sdk.call(lambda c: c.option_chain(exchange="nse_fo", underlying="NIFTY"))
    assert_equivalent(sent, ours(rq.option_chain(exchange="nse_fo", underlying="NIFTY")))


def test_option_chain_every_option(sdk: Sdk) -> None:
    kwargs: dict[str, Any] = {
        "exchange": "bse_fo",
        "underlying": "SENSEX",
        "expiry": "2026-06-25",
        "instrument_type": "option",
        "count": 40,
    }
    sent = sdk.call(lambda c: c.option_chain(**kwargs))
    assert_equivalent(sent, ours(rq.option_chain(**kwargs)))


def test_historical_data(sdk: Sdk) -> None:
    kwargs = {
        "neosymbol": "nse_cm|1333",
        "interval": "10min",
        "from_date": "2026-08-20",
        "to_date": "2026-09-01",
    }
    sent = sdk.call(lambda c: c.historical_data(**kwargs))
    assert b"neosymbol=nse_cm%7C1333" in sent.url.raw_path
    assert_equivalent(sent, ours(rq.historical_data(**kwargs)))


@pytest.mark.parametrize(
    ("call", "spec"),
    [
        pytest.param(lambda c: c.scrip_master(), rq.scrip_master(), id="scrip_master"),
        pytest.param(
            lambda c: c.quotes(
                instrument_tokens=[{"instrument_token": "2885", "exchange_segment": "nse_cm"}]
            ),
            rq.quotes([{"instrument_token": "2885", "exchange_segment": "nse_cm"}])[0],
            id="quotes",
        ),
        pytest.param(
            lambda c: c.expiries(exchange="nse_fo", underlying="NIFTY"),
            rq.expiries(exchange="nse_fo", underlying="NIFTY"),
            id="expiries",
        ),
    ],
)
def test_market_data_before_login_goes_to_the_login_host(
    fresh_sdk: Sdk, call: Callable[[Any], object], spec: RequestSpec
) -> None:
    sent = fresh_sdk.call(call)
    assert sent.url.host == "mis.kotaksecurities.com"
    assert_equivalent(sent, ours(spec, logged_in=False))


# --- Not wire-equivalent, by design -----------------------------------------------------------


def test_place_order_without_tag_differs_only_in_ig(sdk: Sdk) -> None:
    """The SDK sends ``"ig": null``; aioneo generates a tag (design.md, Replay policy)."""
    kwargs = {
        "exchange_segment": "nse_cm",
        "product": "CNC",
        "price": "101.5",
        "order_type": "L",
        "quantity": "1",
        "validity": "DAY",
        "trading_symbol": "ITBEES-EQ",
        "transaction_type": "B",
    }
    sent = sdk.call(lambda c: c.place_order(**kwargs))
    spec = rq.place_order(**kwargs, entropy=lambda n: bytes(range(n)))
    theirs = dict(_decoded_body(sent)[1])  # type: ignore[index]
    mine = dict(_decoded_body(ours(spec))[1])  # type: ignore[index]
    assert theirs.pop("ig") is None
    assert mine.pop("ig") == spec.tag == "aioneo-000102030405"
    assert mine == theirs


def test_logout_sends_nothing_in_the_sdk(sdk: Sdk) -> None:
    """SDK ``logout()`` only forgets tokens; aioneo's builder posts the legacy logout path."""
    before = len(sdk.recorder.requests)
    assert sdk.client.logout()["State"] == "OK"
    assert len(sdk.recorder.requests) == before
    mine = ours(rq.logout())
    assert (mine.method, str(mine.url)) == ("POST", f"{BASE_URL}/apim/login/2.0/logout")


def test_quotes_over_fifty_become_several_requests(sdk: Sdk) -> None:
    """The SDK sends 51 instruments in one request (the server refuses it); aioneo splits."""
    tokens = [{"instrument_token": str(i), "exchange_segment": "nse_cm"} for i in range(1, 52)]
    sent = sdk.call(lambda c: c.quotes(instrument_tokens=tokens))
    first, second = rq.quotes(tokens)
    assert sent.url.raw_path.count(b"|") == 51
    assert ours(first).url.raw_path.count(b"|") == 50
    assert ours(second).url.raw_path.endswith(b"/neosymbol/nse_cm|51/all")


def test_limits_filters_are_beyond_the_sdk(sdk: Sdk) -> None:
    """SDK 3.0.9 ``limits()`` takes no filter; the defaults are the SDK's request."""
    with pytest.raises(TypeError):
        sdk.client.limits(segment="CASH")
    mine = ours(rq.limits(segment="CASH", exchange="NSE", product="CNC"))
    assert _decoded_body(mine) == ("jData", [("seg", "CASH"), ("exch", "NSE"), ("prod", "CNC")])
