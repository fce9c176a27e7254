"""Answers the emulator never gives, pinned exactly with respx.

The emulator reproduces the faults Kotak is known for; these are gateway answers seen in
the wild around such APIs that it does not produce: a maintenance page served with HTTP 200
and ``text/html``, and a JSON body of the wrong shape (a list where an object belongs). The
login steps are answered with the emulator's own login and validate bodies, captured once
in process, so only the odd answer is hand-written.
"""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from aioneo import (
    AsyncNeoClient,
    Credentials,
    InvalidResponseError,
    MemorySessionStore,
    NeoClient,
    SessionExpiredError,
)
from aioneo.testing import Emulator

pytestmark = pytest.mark.timeout(30)

LOGIN_URL = "https://mis.example.test"


def captured_login(emu: Emulator) -> tuple[dict[str, object], dict[str, object]]:
    """The emulator's answers to a real login and validate, as respx will replay them."""
    creds = emu.credentials
    with httpx.Client(transport=emu.sync_transport(), base_url=emu.login_url) as http:
        headers = {"Authorization": creds.consumer_key, "neo-fin-key": "neotradeapi"}
        body = {"mobileNumber": creds.mobile_number, "ucc": creds.ucc, "totp": emu.totp()}
        view = http.post("/login/1.0/tradeApiLogin", json=body, headers=headers).json()
        data = view["data"]
        trade = http.post(
            "/login/1.0/tradeApiValidate",
            json={"mpin": creds.mpin},
            headers={**headers, "Auth": data["token"], "sid": data["sid"]},
        ).json()
    trade["data"]["baseUrl"] = "https://gw.example.test/gw/e21"
    return view, trade


@pytest.fixture
def emu() -> Emulator:
    return Emulator()


def mock_login(router: respx.MockRouter, emu: Emulator) -> None:
    view, trade = captured_login(emu)
    router.post(f"{LOGIN_URL}/login/1.0/tradeApiLogin").respond(json=view)
    router.post(f"{LOGIN_URL}/login/1.0/tradeApiValidate").respond(json=trade)


MAINTENANCE = httpx.Response(
    200,
    headers={"Content-Type": "text/html; charset=utf-8"},
    text="<html><body><h1>Scheduled maintenance</h1>Back at 06:00.</body></html>",
)


async def test_a_maintenance_page_with_200_is_an_invalid_response_not_an_expiry(
    emu: Emulator,
) -> None:
    creds = Credentials(**emu.credentials.as_dict())
    with respx.mock(assert_all_called=True) as router:
        mock_login(router, emu)
        positions = router.get("https://gw.example.test/gw/e21/portfolio/v2/positions")
        positions.mock(return_value=MAINTENANCE)
        async with AsyncNeoClient(
            creds, login_url=LOGIN_URL, session_store=MemorySessionStore()
        ) as neo:
            with pytest.raises(InvalidResponseError) as caught:
                await neo.positions()
            assert not isinstance(caught.value, SessionExpiredError)
            logins = router.routes[0].call_count
    assert logins == 1  # an HTML page is not read as "session expired": no relogin
    assert positions.call_count >= 1
    message = str(caught.value)
    assert "positions" in message
    assert emu.credentials.mpin not in message


def test_a_list_where_an_object_belongs_is_an_invalid_response(emu: Emulator) -> None:
    creds = Credentials(**emu.credentials.as_dict())
    with respx.mock(assert_all_called=True) as router:
        mock_login(router, emu)
        limits = router.post("https://gw.example.test/gw/e21/quick/user/limits")
        limits.respond(200, content=json.dumps([{"stat": "Ok"}]).encode())
        with NeoClient(creds, login_url=LOGIN_URL, session_store=MemorySessionStore()) as neo:
            with pytest.raises(InvalidResponseError):
                neo.limits()
            assert router.routes[0].call_count == 1
