"""The emulator's HTTP surface in-process: routing, bad input, rate limits, latency, faults,
holds, recorded requests and the control API."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest
from emulator_support import (
    FakeClock,
    TradeSession,
    jdata,
    login,
    order,
    session_headers,
)

from aioneo._core._scrip import SCRIP_HEADER
from aioneo.testing import ConnectionDropped, Emulator, EmulatorConfig, Fault


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


@pytest.fixture
async def session(emu: Emulator, http: httpx.AsyncClient) -> TradeSession:
    return await login(http, emu)


async def positions(http: httpx.AsyncClient, session: TradeSession) -> httpx.Response:
    return await http.get(
        session.base_url + "/portfolio/v2/positions", headers=session_headers(session)
    )


async def place(
    http: httpx.AsyncClient, emu: Emulator, session: TradeSession, body: object
) -> httpx.Response:
    return await http.post(
        session.base_url + "/quick/order/rule/ms/place",
        headers=session_headers(session, emu),
        data=jdata(body),
    )


# ------------------------------------------------------------------ routing and bad input


async def test_unknown_paths_get_404_and_wrong_methods_405(
    emu: Emulator, http: httpx.AsyncClient
) -> None:
    missing = await http.get(emu.base_url + "/quick/user/nothing")
    assert missing.status_code == 404
    assert missing.json()["message"] == "Not Found"
    wrong = await http.get(emu.login_url + "/login/1.0/tradeApiLogin")
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "POST"
    assert emu.counters.requests == {"unknown": 1, "login": 1}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "Missing form field 'jData'"),
        ({"jData": "{oops"}, "Invalid 'jData': not valid JSON"),
        ({"jData": "[1, 2]"}, "Invalid 'jData': expected a JSON object, got list"),
        ({"jdata": "{}"}, "Missing form field 'jData'"),
    ],
)
@pytest.mark.parametrize(
    "path",
    [
        "/quick/order/rule/ms/place",
        "/quick/order/vr/modify",
        "/quick/order/cancel",
        "/quick/order/history",
        "/quick/user/limits",
        "/quick/user/check-margin",
    ],
)
async def test_bad_jdata_gets_400_with_the_trading_error_shape(
    emu: Emulator,
    http: httpx.AsyncClient,
    session: TradeSession,
    path: str,
    body: dict[str, str],
    message: str,
) -> None:
    response = await http.post(
        session.base_url + path, headers=session_headers(session, emu), data=body
    )
    assert response.status_code == 400
    payload = response.json()
    assert payload["stCode"] == 5202
    assert payload["stat"] == "Not_Ok"
    assert message in payload["errMsg"]


async def test_a_body_that_is_not_utf8_gets_400(
    emu: Emulator, http: httpx.AsyncClient, session: TradeSession
) -> None:
    response = await http.post(
        session.base_url + "/quick/order/cancel",
        headers={
            **session_headers(session, emu),
            "Content-Type": "application/x-www-form-urlencoded",
        },
        content=b"jData=\xff\xfe",
    )
    assert response.status_code == 400
    assert response.json()["stCode"] == 5202


@pytest.mark.parametrize(
    "changes",
    [
        {"qt": ["1"]},
        {"qt": "-3"},
        {"pr": {"x": 1}},
        {"es": 7},
        {"ts": None},
        {"tt": True},
        {"pt": "BOGUS"},
        {"ig": 12},
    ],
)
async def test_wrong_types_in_orders_never_get_500(
    emu: Emulator, http: httpx.AsyncClient, session: TradeSession, changes: dict[str, object]
) -> None:
    body = {**order(), **changes}
    response = await place(http, emu, session, body)
    assert response.status_code < 500
    assert response.json()["stat"] == "Not_Ok"
    assert emu.counters.internal_errors == 0


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/quick/order/rule/ms/place", "POST"),
        ("/quick/order/vr/modify", "POST"),
        ("/quick/order/cancel", "POST"),
        ("/quick/user/orders", "GET"),
        ("/quick/user/orders/123", "GET"),
        ("/quick/order/history", "POST"),
        ("/quick/user/trades", "GET"),
        ("/portfolio/v2/positions", "GET"),
        ("/portfolio/v1/holdings", "GET"),
        ("/quick/user/limits", "POST"),
        ("/quick/user/check-margin", "POST"),
        ("/script-details/1.0/masterscrip/file-paths", "GET"),
        ("/script-details/1.0/quotes/neosymbol/nse_cm|11536/all", "GET"),
        ("/market-data/1.0/watchlist/expiries", "GET"),
        ("/market-data/1.0/watchlist/option-chain", "GET"),
        ("/market-data/1.0/historical/details", "GET"),
    ],
)
async def test_every_endpoint_without_headers_gets_the_gateway_answer(
    emu: Emulator, http: httpx.AsyncClient, path: str, method: str
) -> None:
    response = await http.request(
        method, emu.base_url + path, data={"jData": "{}"} if method == "POST" else None
    )
    assert response.status_code == 401
    assert response.json()["code"] == "900902"


async def test_orders_need_the_consumer_key_but_reports_do_not(
    emu: Emulator, http: httpx.AsyncClient, session: TradeSession
) -> None:
    no_key = await http.post(
        session.base_url + "/quick/order/rule/ms/place",
        headers=session_headers(session),
        data=jdata(order()),
    )
    assert (no_key.status_code, no_key.json()["code"]) == (401, "900902")
    wrong_key = await http.post(
        session.base_url + "/quick/order/rule/ms/place",
        headers={**session_headers(session), "Authorization": "nope"},
        data=jdata(order()),
    )
    assert (wrong_key.status_code, wrong_key.json()["code"]) == (401, "900901")
    assert (await positions(http, session)).status_code == 200
    assert emu.counters.orders_by_tag == {}


async def test_market_data_needs_only_the_consumer_key_and_works_before_login(
    emu: Emulator, http: httpx.AsyncClient
) -> None:
    headers = {"Authorization": emu.credentials.consumer_key}
    for origin in ("http://mis.neo.test", emu.base_url):  # pre-login host and baseUrl
        response = await http.get(
            origin + "/script-details/1.0/quotes/neosymbol/nse_cm|11536,nse_cm|2885/ltp",
            headers=headers,
        )
        assert response.status_code == 200
        assert isinstance(response.json(), list)
    assert emu.counters.requests == {"quotes": 2}


async def test_quotes_are_capped_per_call_and_the_cap_is_configurable(
    emu: Emulator, http: httpx.AsyncClient
) -> None:
    headers = {"Authorization": emu.credentials.consumer_key}

    async def quotes(count: int) -> httpx.Response:
        symbols = ",".join(f"nse_cm|{11536 + i}" for i in range(count))
        return await http.get(
            f"{emu.base_url}/script-details/1.0/quotes/neosymbol/{symbols}/ltp", headers=headers
        )

    assert (await quotes(50)).status_code == 200
    too_many = await quotes(51)
    assert too_many.status_code == 400
    assert too_many.json()["status"] == "ERROR"
    assert too_many.json()["fault"]["code"] == 400
    emu.configure(max_quotes=2)
    assert (await quotes(2)).status_code == 200
    assert (await quotes(3)).status_code == 400


async def test_scrip_master_points_at_csv_files_the_emulator_serves(
    emu: Emulator, http: httpx.AsyncClient
) -> None:
    response = await http.get(
        emu.base_url + "/script-details/1.0/masterscrip/file-paths",
        headers={"Authorization": emu.credentials.consumer_key},
    )
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["baseFolder"] == "http://gw.neo.test/wso2-scripmaster/v1/prod"
    cash = next(p for p in data["filesPaths"] if "nse_cm" in p)
    csv = await http.get(cash)
    assert csv.status_code == 200
    assert csv.headers["content-type"] == "text/csv"
    assert csv.text.splitlines()[0] == ",".join(SCRIP_HEADER)  # Kotak's 78 columns
    assert "TCS-EQ" in csv.text
    missing = await http.get("http://gw.neo.test/wso2-scripmaster/v1/prod/x/transformed/xx.csv")
    assert missing.status_code == 404


# ------------------------------------------------------------------ the order system, wired


async def test_tags_are_echoed_counted_and_not_reusable(
    emu: Emulator, http: httpx.AsyncClient, session: TradeSession
) -> None:
    placed = await place(http, emu, session, order("strat-1"))
    assert placed.status_code == 200
    number = placed.json()["nOrdNo"]
    assert len(number) == 15
    reused = await place(http, emu, session, order("strat-1"))
    assert reused.json()["stCode"] == 5204
    book = await http.get(session.base_url + "/quick/user/orders", headers=session_headers(session))
    rows = book.json()["data"]
    assert [row["nOrdNo"] for row in rows] == [number]
    assert rows[0]["GuiOrdId"] == "strat-1"
    assert emu.counters.orders_by_tag == {"strat-1": 1}
    assert [row["nOrdNo"] for row in emu.orders] == [number]
    cancel = await http.post(
        session.base_url + "/quick/order/cancel",
        headers=session_headers(session, emu),
        data=jdata({"on": number, "am": "NO"}),
    )
    assert cancel.json()["stCode"] == 1021  # a market order is already complete


# ------------------------------------------------------------------ rate limits


async def test_rate_limit_answers_429_with_headers_per_session(
    emu: Emulator, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    emu.configure(rate_limit=10.0)
    first = await login(http, emu)
    clock.advance(30)
    second = await login(http, emu)
    answers = [(await positions(http, first)).status_code for _ in range(11)]
    assert answers == [200] * 10 + [429]
    limited = await positions(http, first)
    assert limited.status_code == 429
    assert limited.json()["code"] == "900800"
    assert {k: limited.headers[k] for k in ("retry-after", "x-ratelimit-limit")} == {
        "retry-after": "1",
        "x-ratelimit-limit": "10",
    }
    assert limited.headers["x-ratelimit-remaining"] == "0"
    assert int(limited.headers["x-ratelimit-reset"]) >= 1
    assert (await positions(http, second)).status_code == 200  # its own bucket
    clock.advance(0.1)
    assert (await positions(http, first)).status_code == 200
    assert emu.counters.rate_limited == 2


async def test_market_data_is_limited_per_consumer_key_and_the_limit_can_be_switched_off(
    emu: Emulator, http: httpx.AsyncClient
) -> None:
    emu.configure(rate_limit=2.0)
    url = emu.base_url + "/market-data/1.0/watchlist/expiries"
    params = {"exchange": "nse_fo", "underlying": "NIFTY"}
    headers = {"Authorization": emu.credentials.consumer_key}
    answers = [(await http.get(url, params=params, headers=headers)).status_code for _ in range(3)]
    assert answers == [200, 200, 429]
    emu.configure(rate_limit=None)
    answers = [(await http.get(url, params=params, headers=headers)).status_code for _ in range(50)]
    assert set(answers) == {200}


# ------------------------------------------------------------------ latency


async def test_latency_is_slept_per_endpoint(
    emu: Emulator, http: httpx.AsyncClient, session: TradeSession
) -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    emu._sleep = sleep
    emu.configure(latency={"positions": 0.25, "holdings": 0.5})
    await positions(http, session)
    await http.get(session.base_url + "/quick/user/trades", headers=session_headers(session))
    await http.get(session.base_url + "/portfolio/v1/holdings", headers=session_headers(session))
    assert slept == [0.25, 0.5]


# ------------------------------------------------------------------ faults


@pytest.mark.parametrize(
    ("kind", "status", "content_type", "body"),
    [
        (
            Fault.HTTP_500,
            500,
            "application/json",
            b'{"stCode":1005,"errMsg":"Internal Error","stat":"Not_Ok"}',
        ),
        (Fault.HTTP_502_HTML, 502, "text/html", None),
        (Fault.HTTP_503_EMPTY, 503, "text/plain", b""),
        (Fault.HTTP_504, 504, "application/json", None),
        (Fault.HTTP_424, 424, "application/json", None),
        (Fault.HTTP_429, 429, "application/json", None),
    ],
)
async def test_http_faults_answer_without_executing(
    emu: Emulator,
    http: httpx.AsyncClient,
    session: TradeSession,
    kind: Fault,
    status: int,
    content_type: str,
    body: bytes | None,
) -> None:
    emu.inject_fault("place_order", kind)
    response = await place(http, emu, session, order("faulted"))
    assert response.status_code == status
    assert response.headers["content-type"] == content_type
    if body is not None:
        assert response.content == body
    if kind is Fault.HTTP_502_HTML:
        assert b"<h1>502 Bad Gateway</h1>" in response.content
    if kind is Fault.HTTP_429:
        assert response.headers["retry-after"] == "1"
    assert emu.counters.orders_by_tag == {}
    again = await place(http, emu, session, order("faulted"))
    assert again.status_code == 200
    assert emu.counters.orders_by_tag == {"faulted": 1}


async def test_faults_queue_in_order_with_counts(
    emu: Emulator, http: httpx.AsyncClient, session: TradeSession
) -> None:
    emu.inject_fault("positions", Fault.HTTP_503_EMPTY, count=2)
    emu.inject_fault("positions", "http_504")
    statuses = [(await positions(http, session)).status_code for _ in range(4)]
    assert statuses == [503, 503, 504, 200]


async def test_fault_delay_is_slept_after_latency(
    emu: Emulator, http: httpx.AsyncClient, session: TradeSession
) -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    emu._sleep = sleep
    emu.configure(latency={"positions": 0.1})
    emu.inject_fault("positions", Fault.HTTP_504, delay=2.5)
    assert (await positions(http, session)).status_code == 504
    assert slept == [0.1, 2.5]


async def test_drop_raises_remote_protocol_error_and_executes_nothing(
    emu: Emulator, http: httpx.AsyncClient, session: TradeSession
) -> None:
    emu.inject_fault("place_order", Fault.DROP)
    with pytest.raises(httpx.RemoteProtocolError, match="without sending a response") as info:
        await place(http, emu, session, order("dropped"))
    assert info.value.request.url.path.endswith("/quick/order/rule/ms/place")
    assert emu.counters.orders_by_tag == {}
    assert emu.requests[-1].status == 0


async def test_accept_then_drop_places_the_order_but_never_answers(
    emu: Emulator, http: httpx.AsyncClient, session: TradeSession
) -> None:
    emu.inject_fault("place_order", Fault.ACCEPT_THEN_DROP)
    with pytest.raises(httpx.RemoteProtocolError):
        await place(http, emu, session, order("ghost"))
    assert emu.counters.orders_by_tag == {"ghost": 1}
    book = await http.get(session.base_url + "/quick/user/orders", headers=session_headers(session))
    assert [row["GuiOrdId"] for row in book.json()["data"]] == ["ghost"]


async def test_plain_asgi_transport_sees_drops_as_remote_protocol_errors(
    emu: Emulator, session: TradeSession
) -> None:
    emu.inject_fault("positions", "drop")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=emu.app)) as plain:
        with pytest.raises(httpx.RemoteProtocolError) as info:
            await positions(plain, session)
    assert isinstance(info.value, ConnectionDropped)


async def test_hang_ends_with_the_clients_read_timeout(
    emu: Emulator, http: httpx.AsyncClient, session: TradeSession
) -> None:
    emu.inject_fault("positions", Fault.HANG)
    with pytest.raises(httpx.ReadTimeout):
        await http.get(
            session.base_url + "/portfolio/v2/positions",
            headers=session_headers(session),
            timeout=0.05,
        )
    assert (await positions(http, session)).status_code == 200


async def test_clear_faults_ends_hung_requests_and_empties_the_queue(
    emu: Emulator, http: httpx.AsyncClient, session: TradeSession
) -> None:
    emu.inject_fault("positions", Fault.HANG)
    emu.inject_fault("positions", Fault.HTTP_500, count=5)
    hung = asyncio.create_task(positions(http, session))
    while not emu._hangs:  # noqa: ASYNC110 - yields until the request reaches the hang
        await asyncio.sleep(0)
    emu.clear_faults()
    with pytest.raises(httpx.RemoteProtocolError):
        await hung
    assert (await positions(http, session)).status_code == 200


@pytest.mark.parametrize(
    ("args", "kwargs", "fragment"),
    [
        (("nope", "drop"), {}, "endpoint='nope'"),
        (("positions", "explode"), {}, "kind='explode'"),
        (("positions", "drop"), {"count": 0}, "count=0"),
        (("positions", "drop"), {"delay": -1}, "delay=-1"),
    ],
)
def test_inject_fault_validates_its_arguments(
    emu: Emulator, args: tuple[str, str], kwargs: dict[str, float], fragment: str
) -> None:
    with pytest.raises(ValueError, match="is not allowed") as info:
        emu.inject_fault(*args, **kwargs)  # type: ignore[arg-type]
    assert fragment in str(info.value)


# ------------------------------------------------------------------ holds


async def test_held_requests_wait_before_any_check_and_go_on_when_released(
    emu: Emulator, http: httpx.AsyncClient, session: TradeSession
) -> None:
    hold = emu.hold("positions")
    tasks = [asyncio.create_task(positions(http, session)) for _ in range(3)]
    async with asyncio.timeout(5):
        await hold.until_waiting(3)
    assert hold.waiting == 3
    assert emu.counters.requests["positions"] == 3
    assert [r for r in emu.requests if r.endpoint == "positions"] == []
    emu.expire_sessions()  # credentials are checked after the hold
    hold.release()
    hold.release()  # idempotent
    answers = await asyncio.gather(*tasks)
    assert [a.status_code for a in answers] == [401, 401, 401]
    assert hold.waiting == 0


async def test_a_released_hold_lets_later_requests_through(
    emu: Emulator, http: httpx.AsyncClient, session: TradeSession
) -> None:
    with emu.hold("positions") as hold:
        task = asyncio.create_task(positions(http, session))
        async with asyncio.timeout(5):
            await hold.until_waiting(1)
    assert hold.released
    assert (await task).status_code == 200
    assert (await positions(http, session)).status_code == 200
    assert emu._holds["positions"] == []


def test_hold_repr_and_unknown_endpoint(emu: Emulator) -> None:
    hold = emu.hold("login")
    assert repr(hold) == "Hold(endpoint='login', waiting=0, released=False)"
    with pytest.raises(ValueError, match="endpoint='logon' is not allowed"):
        emu.hold("logon")


# ------------------------------------------------------------------ records and counters


async def test_requests_are_recorded_with_lowercase_headers_and_secret_free_repr(
    emu: Emulator, http: httpx.AsyncClient, session: TradeSession
) -> None:
    await place(http, emu, session, order("rec"))
    record = emu.requests[-1]
    assert (record.endpoint, record.method, record.status) == ("place_order", "POST", 200)
    assert record.path == "/gw/e21/quick/order/rule/ms/place"
    assert record.host == "gw.neo.test"
    assert record.headers["auth"] == session.token
    assert record.headers["sid"] == session.sid
    assert record.jdata() == order("rec")
    for secret in (session.token, session.sid, emu.credentials.consumer_key):
        assert secret not in repr(record)
    login_record = emu.requests[0]
    assert login_record.endpoint == "login"
    assert emu.credentials.mobile_number.encode() in login_record.body
    assert login_record.jdata() is None


async def test_recording_is_bounded_by_max_recorded(
    emu: Emulator, http: httpx.AsyncClient, session: TradeSession
) -> None:
    emu.configure(max_recorded=3)
    for _ in range(5):
        await positions(http, session)
    assert [r.endpoint for r in emu.requests] == ["positions"] * 3
    assert emu.counters.requests["positions"] == 5


async def test_reset_counters_zeroes_everything_but_keeps_the_book(
    emu: Emulator, http: httpx.AsyncClient, session: TradeSession
) -> None:
    await place(http, emu, session, order("before"))
    emu.reset_counters()
    counters = emu.counters
    assert (counters.login_attempts, counters.logins, counters.requests) == (0, 0, {})
    assert counters.orders_by_tag == {}
    assert emu.requests == []
    await place(http, emu, session, order("after"))
    assert emu.counters.orders_by_tag == {"after": 1}
    assert len(emu.orders) == 2


# ------------------------------------------------------------------ control API over HTTP


async def test_control_api_covers_the_in_process_methods(
    emu: Emulator, http: httpx.AsyncClient, session: TradeSession
) -> None:
    control = emu.login_url + "/__emulator"
    index = await http.get(control + "/")
    assert "POST /__emulator/faults" in index.json()["routes"]

    creds = (await http.get(control + "/credentials")).json()
    assert creds == {
        **emu.credentials.as_dict(),
        "login_url": emu.login_url,
        "base_url": emu.base_url,
    }

    config = (await http.get(control + "/config")).json()
    assert config["expiry_status"] == 401
    assert "mpin" not in config
    changed = await http.post(
        control + "/config", json={"expiry_status": 403, "latency": {"login": 0}}
    )
    assert changed.status_code == 200
    assert emu.config.expiry_status == 403
    bad = await http.post(control + "/config", json={"expiry_status": 999})
    assert bad.status_code == 400
    assert "expiry_status=999" in bad.json()["error"]
    unknown = await http.post(control + "/config", json={"nope": 1})
    assert unknown.status_code == 400

    fault = await http.post(
        control + "/faults", json={"endpoint": "positions", "kind": "http_504", "count": 1}
    )
    assert fault.json() == {"queued": True}
    assert (await positions(http, session)).status_code == 504
    await http.post(control + "/faults", json={"endpoint": "positions", "kind": "http_500"})
    assert (await http.delete(control + "/faults")).json() == {"cleared": True}
    assert (await positions(http, session)).status_code == 200
    bad_fault = await http.post(control + "/faults", json={"endpoint": "positions"})
    assert bad_fault.status_code == 400

    hold = (await http.post(control + "/holds", json={"endpoint": "positions"})).json()
    assert hold == {"id": 1, "endpoint": "positions", "waiting": 0, "released": False}
    task = asyncio.create_task(positions(http, session))
    async with asyncio.timeout(5):
        await emu._control_holds[1].until_waiting(1)
    assert (await http.get(control + "/holds/1")).json()["waiting"] == 1
    released = await http.post(control + "/holds/1/release")
    assert released.json()["released"] is True
    assert (await task).status_code == 200
    assert (await http.get(control + "/holds/9")).status_code == 404

    counters = (await http.get(control + "/counters")).json()
    assert counters["logins"] == 1
    assert counters["requests"]["positions"] == 3

    records = (
        await http.get(control + "/requests", params={"endpoint": "positions", "limit": 2})
    ).json()
    assert [r["status"] for r in records] == [200, 200]
    assert records[0]["headers"]["auth"] == session.token

    await place(http, emu, session, order("ctl"))
    orders = (await http.get(control + "/orders")).json()
    assert [o["GuiOrdId"] for o in orders] == ["ctl"]

    expired = await http.post(control + "/sessions/expire", json={"ucc": "nobody"})
    assert expired.json() == {"ended": 0}
    revoked = await http.post(control + "/sessions/revoke")
    assert revoked.json() == {"ended": 2}
    assert (await positions(http, session)).status_code == 403

    assert (await http.post(control + "/counters/reset")).json() == {"reset": True}
    assert emu.counters.logins == 0
    assert (await http.get(control + "/nothing")).status_code == 404
    assert (await http.put(control + "/counters")).status_code == 405
    assert (await http.post(control + "/sessions/expire", content=b"[")).status_code == 400
    # The control API itself is neither counted nor recorded.
    assert emu.counters.requests == {}
    assert emu.requests == []


async def test_configure_rejects_unknown_names(emu: Emulator) -> None:
    with pytest.raises(ValueError, match="unknown emulator setting"):
        emu.configure(expiry=403)
    assert emu.config.expiry_status == 401


def test_emulator_argument_checks_and_repr() -> None:
    with pytest.raises(TypeError, match="config="):
        Emulator({"rate_limit": None})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="seed="):
        Emulator(seed="1")  # type: ignore[arg-type]
    emu = Emulator()
    assert repr(emu) == (
        "Emulator(login_url='http://login.neo.test', base_url='http://gw.neo.test/gw/e21')"
    )
    assert emu.credentials.consumer_key not in repr(emu.credentials)
    assert len(emu.totp()) == 6
    assert json.loads(json.dumps(emu.counters.as_dict()))["requests"] == {}
