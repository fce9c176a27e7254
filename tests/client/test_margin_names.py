"""``margin_required`` takes ``place_order``'s keywords as well as the SDK's, on both twins.

Reusing an order's keywords (``margin_required(**order, instrument_token=...)``) used to
raise ``TypeError`` (``validity``, ``trading_symbol``, ``amo``, ... unexpected). Now they are
accepted, checked as ``place_order`` checks them (the same message for the same bad value)
and not sent: the request is byte for byte the SDK's either way.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from aioneo import AsyncNeoClient, Credentials, NeoClient
from aioneo._core import _requests as rq
from aioneo.testing import Emulator, EmulatorConfig, StepClock

Call = Callable[..., Any]

ORDER: dict[str, Any] = {
    "exchange_segment": "nse_cm",
    "product": "CNC",
    "price": "3500.00",
    "order_type": "L",
    "quantity": 2,
    "validity": "DAY",
    "trading_symbol": "TCS-EQ",
    "transaction_type": "B",
    "amo": "NO",
    "disclosed_quantity": "0",
    "trigger_price": "0",
    "tag": "strat-7",
}
SDK_ARGS = {
    "exchange_segment": "nse_cm",
    "price": "3500.00",
    "order_type": "L",
    "product": "CNC",
    "quantity": 2,
    "instrument_token": "11536",
    "transaction_type": "B",
    "trigger_price": "0",
}


@pytest.fixture
def emu() -> Emulator:
    return Emulator(EmulatorConfig(rate_limit=None), clock=StepClock(auto_step=True))


@pytest.fixture(params=["AsyncNeoClient", "NeoClient"])
def call(request: pytest.FixtureRequest, emu: Emulator) -> Iterator[Call]:
    creds = Credentials(**emu.credentials.as_dict())
    options: dict[str, Any] = {"login_url": emu.login_url, "clock": emu.clock, "rate_limit": None}
    if request.param == "NeoClient":
        with NeoClient(creds, transport=emu.sync_transport(), **options) as neo:
            yield lambda name, *args, **kwargs: getattr(neo, name)(*args, **kwargs)
        return
    with asyncio.Runner() as runner:
        aneo = AsyncNeoClient(creds, transport=emu.transport(), **options)
        try:
            yield lambda name, *args, **kwargs: runner.run(getattr(aneo, name)(*args, **kwargs))
        finally:
            runner.run(aneo.aclose())


def sent_body(emu: Emulator) -> bytes:
    return [r for r in emu.requests if r.endpoint == "margin"][-1].body


def test_an_orders_keywords_can_be_reused(call: Call, emu: Emulator) -> None:
    with_order = call("margin_required", **ORDER, instrument_token="11536")
    sent_with_order = sent_body(emu)
    with_sdk = call("margin_required", **SDK_ARGS)
    assert sent_with_order == sent_body(emu)  # the extra names change nothing on the wire
    assert with_order.required_margin == with_sdk.required_margin > 0
    call("place_order", **ORDER)  # and the same dict still places the order


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("validity", "GTC"),
        ("trading_symbol", " TCS-EQ"),
        ("amo", "MAYBE"),
        ("disclosed_quantity", -1),
        ("tag", "no spaces allowed"),
        ("validity", 1),
    ],
)
def test_a_bad_order_keyword_gets_place_orders_message(
    call: Call, emu: Emulator, name: str, value: Any
) -> None:
    bad = {**ORDER, name: value}
    with pytest.raises((ValueError, TypeError)) as placing:
        call("place_order", **bad)
    with pytest.raises(type(placing.value)) as checking:
        call("margin_required", **bad, instrument_token="11536")
    assert str(checking.value) == str(placing.value)
    assert name in str(checking.value)
    assert "margin" not in emu.counters.requests  # refused before anything was sent


@pytest.mark.parametrize("client", [AsyncNeoClient, NeoClient])
def test_margin_required_has_every_place_order_keyword(client: type) -> None:
    margin = inspect.signature(client.margin_required).parameters
    order = inspect.signature(client.place_order).parameters
    assert set(order) - {"self"} <= set(margin)
    for name in set(order) & set(margin) - {"self"}:
        assert margin[name].kind is inspect.Parameter.KEYWORD_ONLY, name


def test_the_core_builds_the_same_request_with_or_without_order_names() -> None:
    plain = rq.margin_required(**SDK_ARGS)
    reused = rq.margin_required(**ORDER, instrument_token="11536")
    assert plain == reused
