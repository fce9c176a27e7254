"""Login, validate and sessions over HTTP, in-process, with every switch that touches them."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator

import httpx
import pyotp
import pytest
from emulator_support import (
    T0,
    FakeClock,
    TradeSession,
    login,
    login_request,
    session_headers,
    validate_request,
)

from aioneo.testing import Emulator, EmulatorConfig

GATEWAY_INVALID = {
    "code": "900901",
    "message": "Invalid Credentials",
    "description": (
        "Invalid JWT token. Make sure you have provided the correct security credentials"
    ),
}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def emu(clock: FakeClock) -> Emulator:
    return Emulator(EmulatorConfig(rate_limit=None), clock=clock)


@pytest.fixture
async def http(emu: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=emu.transport()) as client:
        yield client


async def positions(http: httpx.AsyncClient, session: TradeSession) -> httpx.Response:
    return await http.get(
        session.base_url + "/portfolio/v2/positions", headers=session_headers(session)
    )


def claims(token: str) -> dict[str, object]:
    payload = token.split(".")[1]
    decoded: dict[str, object] = json.loads(base64.urlsafe_b64decode(payload + "==="))
    return decoded


# ------------------------------------------------------------------ happy path


async def test_login_then_validate_issue_view_then_trade_sessions(
    emu: Emulator, http: httpx.AsyncClient
) -> None:
    first = await http.send(login_request(emu))
    assert first.status_code == 200
    view = first.json()["data"]
    assert view["kType"] == "View"
    assert view["status"] == "success"
    assert view["ucc"] == emu.credentials.ucc
    assert view["dataCenter"] == "E21"
    assert "baseUrl" not in view
    assert claims(view["token"])["scope"] == ["View"]

    second = await http.send(validate_request(emu, view))
    assert second.status_code == 200
    trade = second.json()["data"]
    assert trade["kType"] == "Trade"
    assert trade["baseUrl"] == emu.base_url == "http://gw.neo.test/gw/e21"
    assert claims(trade["token"])["scope"] == ["Trade"]
    assert claims(trade["token"])["exp"] == 1_767_033_000  # next 00:00 IST
    assert trade["sid"] != view["sid"]

    ok = await positions(http, TradeSession(trade["token"], trade["sid"], trade["baseUrl"]))
    assert ok.status_code == 200
    counters = emu.counters
    assert (counters.login_attempts, counters.logins, counters.login_failures) == (1, 1, 0)


async def test_login_accepts_a_raw_json_body_without_content_type(
    emu: Emulator, http: httpx.AsyncClient
) -> None:
    request = login_request(emu)
    del request.headers["Content-Type"]
    response = await http.send(request)
    assert "content-type" not in emu.requests[-1].headers
    assert response.status_code == 200


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("field", "shown"), [("mobileNumber", "MobileNumber"), ("ucc", "Ucc"), ("totp", "Totp")]
)
@pytest.mark.parametrize("value", [None, "", "  "])
async def test_missing_or_blank_login_fields_get_the_sdk_error_shape(
    emu: Emulator, http: httpx.AsyncClient, field: str, shown: str, value: object
) -> None:
    response = await http.send(login_request(emu, **{field: value}))
    assert response.status_code == 400
    assert response.json() == {
        "error": [{"code": "400", "message": f"Missing required field '{shown}'"}]
    }
    assert emu.counters.login_failures == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "Request body is not valid JSON: send a JSON object"),
        (b"", "Request body must be a JSON object with mobileNumber, ucc, totp"),
        (b"[1, 2]", "Request body must be a JSON object with mobileNumber, ucc, totp"),
        (
            json.dumps({"mobileNumber": "+919999999999", "ucc": "DEMO1", "totp": 123456}),
            "Invalid field 'Totp': expected a string, got int",
        ),
    ],
)
async def test_malformed_login_bodies_get_400_not_500(
    emu: Emulator, http: httpx.AsyncClient, content: bytes | str, message: str
) -> None:
    response = await http.send(login_request(emu, content=content))
    assert response.status_code == 400
    assert response.json() == {"error": [{"code": "400", "message": message}]}


async def test_validate_without_mpin_gets_the_sdk_error_shape(
    emu: Emulator, http: httpx.AsyncClient
) -> None:
    view = (await http.send(login_request(emu))).json()["data"]
    response = await http.send(validate_request(emu, view, content="{}"))
    assert response.status_code == 400
    assert response.json() == {
        "error": [{"code": "400", "message": "Missing required field 'Mpin'"}]
    }


@pytest.mark.parametrize(
    ("style", "case", "status", "st_code", "message"),
    [
        ("4xx", {"ucc": "NOBODY"}, 400, 10005, "Invalid UCC"),
        ("4xx", {"mobileNumber": "+910000000000"}, 400, 10006, "Invalid mobile number"),
        ("4xx", {"totp": "000000"}, 401, 10002, "Invalid TOTP"),
        ("200", {"ucc": "NOBODY"}, 200, 10005, "Invalid UCC"),
        ("200", {"mobileNumber": "+910000000000"}, 200, 10006, "Invalid mobile number"),
        ("200", {"totp": "000000"}, 200, 10002, "Invalid TOTP"),
    ],
)
async def test_wrong_login_credentials_follow_the_login_error_style(
    emu: Emulator,
    http: httpx.AsyncClient,
    style: str,
    case: dict[str, str],
    status: int,
    st_code: int,
    message: str,
) -> None:
    emu.configure(login_error_style=style)
    if "totp" in case and case["totp"] == emu.totp():  # pragma: no cover - 1 in a million
        case = {"totp": "000001"}
    response = await http.send(login_request(emu, **case))
    assert response.status_code == status
    assert response.json() == {"stCode": st_code, "errMsg": message, "status": "failure"}
    assert emu.counters.login_failures == 1


@pytest.mark.parametrize(("style", "status"), [("4xx", 401), ("200", 200)])
async def test_wrong_mpin_follows_the_login_error_style(
    emu: Emulator, http: httpx.AsyncClient, style: str, status: int
) -> None:
    emu.configure(login_error_style=style)
    view = (await http.send(login_request(emu))).json()["data"]
    response = await http.send(validate_request(emu, view, mpin="000000"))
    assert response.status_code == status
    assert response.json() == {"stCode": 10004, "errMsg": "Invalid MPIN", "status": "failure"}
    assert "data" not in response.json()
    assert (emu.counters.logins, emu.counters.login_failures) == (0, 1)


@pytest.mark.parametrize("step", ["login", "validate"])
@pytest.mark.parametrize(("consumer_key", "code"), [(None, "900902"), ("wrong-key", "900901")])
async def test_login_steps_need_the_consumer_key(
    emu: Emulator, http: httpx.AsyncClient, step: str, consumer_key: str | None, code: str
) -> None:
    request = login_request(emu)
    if step == "validate":
        view = (await http.send(request)).json()["data"]
        request = validate_request(emu, view)
    del request.headers["Authorization"]
    if consumer_key is not None:
        request.headers["Authorization"] = consumer_key
    response = await http.send(request)
    assert response.status_code == 401
    assert response.json()["code"] == code


# ------------------------------------------------------------------ TOTP switches


async def test_a_totp_step_is_not_accepted_twice(
    emu: Emulator, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    code = emu.totp()
    assert (await http.send(login_request(emu, totp=code))).status_code == 200
    clock.advance(5)  # same 30 s step
    replay = await http.send(login_request(emu, totp=code))
    assert replay.status_code == 401
    assert replay.json() == {"stCode": 10003, "errMsg": "Invalid TOTP", "status": "failure"}
    clock.advance(30)  # next step, new code
    assert (await http.send(login_request(emu))).status_code == 200
    counters = emu.counters
    assert (counters.login_attempts, counters.totp_replays_rejected) == (3, 1)


async def test_totp_replay_rejection_can_be_switched_off(
    emu: Emulator, http: httpx.AsyncClient
) -> None:
    emu.configure(totp_replay_rejection=False)
    code = emu.totp()
    for _ in range(3):
        assert (await http.send(login_request(emu, totp=code))).status_code == 200
    assert emu.counters.totp_replays_rejected == 0


async def test_totp_skew_window_is_configurable(emu: Emulator, http: httpx.AsyncClient) -> None:
    totp = pyotp.TOTP(emu.credentials.totp_secret)
    previous, two_back = totp.at(T0 - 30), totp.at(T0 - 60)
    assert (await http.send(login_request(emu, totp=previous))).status_code == 200
    assert (await http.send(login_request(emu, totp=two_back))).status_code == 401
    emu.configure(totp_skew_steps=2)
    assert (await http.send(login_request(emu, totp=two_back))).status_code == 200
    emu.configure(totp_skew_steps=0, totp_replay_rejection=False)
    assert (await http.send(login_request(emu, totp=previous))).status_code == 401


# ------------------------------------------------------------------ which token where


async def test_view_session_opens_validate_only_and_trade_session_everything_else(
    emu: Emulator, http: httpx.AsyncClient
) -> None:
    view = (await http.send(login_request(emu))).json()["data"]
    as_trade = TradeSession(view["token"], view["sid"], emu.base_url)
    refused = await positions(http, as_trade)
    assert (refused.status_code, refused.json()) == (401, GATEWAY_INVALID)

    trade = (await http.send(validate_request(emu, view))).json()["data"]
    as_view = {"token": trade["token"], "sid": trade["sid"]}
    again = await http.send(validate_request(emu, as_view))
    assert (again.status_code, again.json()) == (401, GATEWAY_INVALID)


async def test_token_and_sid_must_belong_together(
    emu: Emulator, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    one, two = await login(http, emu), await login_later(http, emu, clock)
    mixed = TradeSession(one.token, two.sid, one.base_url)
    assert (await positions(http, mixed)).status_code == 401
    assert (await positions(http, one)).status_code == 200
    assert (await positions(http, two)).status_code == 200


async def login_later(http: httpx.AsyncClient, emu: Emulator, clock: FakeClock) -> TradeSession:
    clock.advance(30)  # a fresh TOTP step
    return await login(http, emu)


@pytest.mark.parametrize(
    ("headers", "code"),
    [({"Sid": "x"}, "900902"), ({"Auth": "not-a-token", "Sid": "x"}, "900901")],
)
async def test_missing_or_unknown_token(
    emu: Emulator, http: httpx.AsyncClient, headers: dict[str, str], code: str
) -> None:
    response = await http.get(emu.base_url + "/quick/user/orders", headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == code


# ------------------------------------------------------------------ lifetime and expiry


async def test_session_ttl_ends_sessions_on_the_emulator_clock(
    emu: Emulator, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    emu.configure(session_ttl=60)
    session = await login(http, emu)
    clock.advance(59.9)
    assert (await positions(http, session)).status_code == 200
    clock.advance(0.1)
    expired = await positions(http, session)
    assert (expired.status_code, expired.json()) == (401, GATEWAY_INVALID)


async def test_default_lifetime_ends_at_midnight_ist(
    emu: Emulator, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    session = await login(http, emu)
    clock.now = 1_767_033_000 - 1  # 23:59:59 IST
    assert (await positions(http, session)).status_code == 200
    clock.now = 1_767_033_000
    assert (await positions(http, session)).status_code == 401


@pytest.mark.parametrize("status", [401, 403, 200])
@pytest.mark.parametrize("how", ["expire", "revoke"])
async def test_expired_or_revoked_sessions_get_900901_with_the_configured_status(
    emu: Emulator, http: httpx.AsyncClient, status: int, how: str
) -> None:
    emu.configure(expiry_status=status)
    session = await login(http, emu)
    ended = emu.expire_sessions() if how == "expire" else emu.revoke_sessions()
    assert ended == 2  # the view and the trade session
    for path in ("/portfolio/v2/positions", "/quick/user/orders", "/portfolio/v1/holdings"):
        response = await http.get(session.base_url + path, headers=session_headers(session))
        assert (response.status_code, response.json()) == (status, GATEWAY_INVALID)
    order = await http.post(
        session.base_url + "/quick/order/rule/ms/place",
        headers=session_headers(session, emu),
        data={"jData": "{}"},
    )
    assert (order.status_code, order.json()) == (status, GATEWAY_INVALID)


async def test_expire_sessions_selects_by_ucc(emu: Emulator, http: httpx.AsyncClient) -> None:
    session = await login(http, emu)
    assert emu.expire_sessions(ucc="SOMEONE-ELSE") == 0
    assert (await positions(http, session)).status_code == 200
    assert emu.expire_sessions(ucc=emu.credentials.ucc) == 2
    assert (await positions(http, session)).status_code == 401
    assert emu.expire_sessions() == 0


@pytest.mark.parametrize("single", [False, True])
async def test_single_session_switch(
    emu: Emulator, http: httpx.AsyncClient, clock: FakeClock, single: bool
) -> None:
    emu.configure(single_session=single)
    first = await login(http, emu)
    second = await login_later(http, emu, clock)
    assert (await positions(http, second)).status_code == 200
    assert (await positions(http, first)).status_code == (401 if single else 200)
    assert emu.counters.logins == 2


async def test_logout_ends_the_session(emu: Emulator, http: httpx.AsyncClient) -> None:
    session = await login(http, emu)
    response = await http.post(
        session.base_url + "/apim/login/2.0/logout", headers=session_headers(session)
    )
    assert response.status_code == 200
    assert response.json()["stat"] == "Ok"
    assert (await positions(http, session)).status_code == 401


async def test_client_ip_needs_consumer_key_and_session(
    emu: Emulator, http: httpx.AsyncClient
) -> None:
    session = await login(http, emu)
    url = emu.login_url + "/login/1.0/get-client-ip"
    without_key = await http.get(url, headers=session_headers(session))
    assert without_key.status_code == 401
    response = await http.get(url, headers=session_headers(session, emu))
    assert response.status_code == 200
    body = response.json()
    assert body["stCode"] == 1000
    assert body["status"] == "success"
    assert body["data"][0]["ip"] == "127.0.0.1"
    assert body["data"][0]["time"] == "2025-12-29 09:50:00.000"


async def test_config_service_answers_without_feed_urls(
    emu: Emulator, http: httpx.AsyncClient
) -> None:
    response = await http.get(
        "http://lapi.neo.test/5config/config",
        params={"appVersion": "3.0.9", "platform": "api", "environment": "prod"},
    )
    assert response.status_code == 200
    assert response.json() == {"data": {"configs": {}}}


async def test_base_url_data_center_and_prefix_are_configurable(
    emu: Emulator, http: httpx.AsyncClient
) -> None:
    emu.configure(base_url="https://e43.example.test/api", data_center="E43", trade_prefix="")
    view = (await http.send(login_request(emu))).json()["data"]
    assert view["dataCenter"] == "E43"
    trade = (await http.send(validate_request(emu, view))).json()["data"]
    assert (trade["dataCenter"], trade["baseUrl"]) == ("E43", "https://e43.example.test/api")
    session = TradeSession(trade["token"], trade["sid"], trade["baseUrl"])
    # With an empty prefix the trading paths live at the root of any host.
    response = await http.get(
        "http://any.host.test/portfolio/v2/positions", headers=session_headers(session)
    )
    assert response.status_code == 200
    assert (await http.get(emu.login_url + "/gw/e21/portfolio/v2/positions")).status_code == 404
