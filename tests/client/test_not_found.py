"""What ``quotes`` and ``order_history`` return when Kotak has nothing, on both twins.

Kotak leaves unknown instruments out of a quotes answer and answers "No Data" for an unknown
order number, so by default (``missing="ignore"``, unchanged) ``quotes`` returns the quotes it
got and ``order_history`` returns ``[]``. ``missing="raise"`` raises ``NotFoundError`` naming
what is missing. Each scenario runs against the in-process emulator through
``AsyncNeoClient`` (on a private event loop) and ``NeoClient`` (``sync_transport()``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from aioneo import APIError, AsyncNeoClient, Credentials, NeoClient, NotFoundError
from aioneo.testing import Emulator, EmulatorConfig, StepClock

Call = Callable[..., Any]

UNKNOWN = "nse_cm|99999999"
TCS = "nse_cm|11536"
ORDER = {
    "exchange_segment": "nse_cm",
    "product": "CNC",
    "price": "0",
    "order_type": "MKT",
    "quantity": 1,
    "validity": "DAY",
    "trading_symbol": "TCS-EQ",
    "transaction_type": "B",
}


@pytest.fixture
def emu() -> Emulator:
    return Emulator(EmulatorConfig(rate_limit=None), clock=StepClock(auto_step=True))


@pytest.fixture(params=["AsyncNeoClient", "NeoClient"])
def call(request: pytest.FixtureRequest, emu: Emulator) -> Iterator[Call]:
    """``call("quotes", ...)`` runs the method on one twin and returns its result."""
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


def test_quotes_default_leaves_unknown_instruments_out(call: Call) -> None:
    quotes = call("quotes", [UNKNOWN, TCS])
    assert [q.exchange_token for q in quotes] == ["11536"]
    assert call("quotes", [UNKNOWN]) == []


def test_quotes_raise_names_every_missing_instrument(call: Call) -> None:
    with pytest.raises(NotFoundError) as info:
        call("quotes", [UNKNOWN, TCS, "bse_cm|1", UNKNOWN], missing="raise")
    error = info.value
    assert isinstance(error, APIError)
    assert error.missing == (UNKNOWN, "bse_cm|1")
    assert [q.exchange_token for q in error.found] == ["11536"]
    assert error.endpoint == "quotes"
    assert "no quote for 2 of 4 instrument(s): nse_cm|99999999, bse_cm|1" in str(error)


def test_quotes_raise_returns_when_every_instrument_is_known(call: Call) -> None:
    instruments = [
        TCS,
        {"instrument_token": "Nifty 50", "exchange_segment": "nse_cm"},  # an index, by name
        {"instrument_token": 2885, "exchange_segment": "nse_cm"},  # the SDK's dict, int token
    ]
    quotes = call("quotes", instruments, missing="raise", quote_type="ltp")
    assert len(quotes) == 3


def test_a_bad_missing_value_is_refused_before_sending(call: Call, emu: Emulator) -> None:
    for method, args in (("quotes", ([TCS],)), ("order_history", ("1",))):
        with pytest.raises(ValueError, match=r"missing 'strict' is not allowed; use 'ignore'"):
            call(method, *args, missing="strict")
    assert "quotes" not in emu.counters.requests
    assert "order_history" not in emu.counters.requests


def test_order_history_of_an_unknown_order(call: Call) -> None:
    assert call("order_history", "260000000099999") == []
    with pytest.raises(NotFoundError) as info:
        call("order_history", "260000000099999", missing="raise")
    assert info.value.missing == ("260000000099999",)
    assert info.value.found == ()
    assert "no order '260000000099999'" in str(info.value)


def test_order_history_of_a_real_order_with_raise(call: Call) -> None:
    order_id = call("place_order", **ORDER).order_id
    history = call("order_history", order_id, missing="raise")
    assert history
    assert history == call("order_history", order_id)
