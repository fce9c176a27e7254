"""Every AsyncNeoClient endpoint against the emulator: success, a business error, and a
session expiry in the middle of the call (one relogin, then the call succeeds)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest

from aioneo import AsyncNeoClient, BusinessError, StatusError
from aioneo._models import (
    ClientIp,
    Limits,
    MarginRequirement,
    OptionChain,
    OrderResult,
    OrderStatus,
    ScripMasterPaths,
)
from aioneo.testing import Emulator

from .conftest import StepClock

#: Every test that uses the client fixtures runs on both HTTP backends (see conftest).
BOTH_BACKENDS = True

Call = Callable[[AsyncNeoClient], Awaitable[Any]]


async def place(neo: AsyncNeoClient, **changes: Any) -> OrderResult:
    fields: dict[str, Any] = {
        "exchange_segment": "nse_cm",
        "product": "CNC",
        "price": "0",
        "order_type": "MKT",
        "quantity": 1,
        "validity": "DAY",
        "trading_symbol": "ITBEES-EQ",
        "transaction_type": "B",
    }
    fields.update(changes)
    return await neo.place_order(**fields)


async def resting_order(neo: AsyncNeoClient) -> str:
    result = await place(neo, order_type="L", price=Decimal("1.00"))
    return result.order_id


READS: dict[str, Call] = {
    "order_report": lambda neo: neo.order_report(),
    "trade_report": lambda neo: neo.trade_report(),
    "positions": lambda neo: neo.positions(),
    "holdings": lambda neo: neo.holdings(),
    "limits": lambda neo: neo.limits(),
    "margin_required": lambda neo: neo.margin_required(
        exchange_segment="nse_cm",
        price="41.20",
        order_type="L",
        product="CNC",
        quantity=1,
        instrument_token="19084",
        transaction_type="B",
    ),
    "scrip_master": lambda neo: neo.scrip_master(),
    "quotes": lambda neo: neo.quotes(["nse_cm|11536", "nse_cm|2885"]),
    "expiries": lambda neo: neo.expiries(exchange="nse_fo", underlying="NIFTY"),
    "option_chain": lambda neo: neo.option_chain(exchange="nse_fo", underlying="NIFTY"),
    "historical_data": lambda neo: neo.historical_data(
        neosymbol="nse_cm|11536",
        interval="D",
        from_date=dt.date(2026, 10, 1),
        to_date=dt.date(2026, 10, 30),
    ),
    "whatsmyip": lambda neo: neo.whatsmyip(),
}


CONSUMER_KEY_ONLY = {"scrip_master", "quotes", "expiries", "option_chain", "historical_data"}


@pytest.mark.parametrize("name", sorted(READS))
async def test_read_succeeds_and_survives_expiry(
    client: AsyncNeoClient, emulator: Emulator, clock: StepClock, name: str
) -> None:
    call = READS[name]
    first = await call(client)
    assert first is not None
    emulator.expire_sessions()
    clock.next_step()
    again = await call(client)  # expiry in the middle: one relogin, same answer shape
    assert type(again) is type(first)
    # market data carries only the consumer key: a dead session does not touch it
    assert emulator.counters.logins == (1 if name in CONSUMER_KEY_ONLY else 2)


async def test_read_models_are_typed(client: AsyncNeoClient) -> None:
    assert isinstance(await client.limits(), Limits)
    assert isinstance(await client.scrip_master(), ScripMasterPaths)
    assert isinstance(await client.whatsmyip(), ClientIp)
    chain = await client.option_chain(exchange="nse_fo", underlying="NIFTY")
    assert isinstance(chain, OptionChain)
    margin = await READS["margin_required"](client)
    assert isinstance(margin, MarginRequirement)
    expiries = await client.expiries(exchange="nse_fo", underlying="NIFTY")
    assert expiries == sorted(expiries)
    assert all(isinstance(d, dt.date) for d in expiries)


async def test_order_lifecycle(client: AsyncNeoClient, emulator: Emulator) -> None:
    filled = await place(client, tag="bot-1")
    assert filled.tag == "bot-1"
    order_id = await resting_order(client)
    modified = await client.modify_order(
        order_id=order_id, price=Decimal("1.05"), order_type="L", quantity=2, validity="DAY"
    )
    assert modified.order_id == order_id
    history = await client.order_history(order_id)
    assert history
    cancelled = await client.cancel_order(order_id)
    assert cancelled.order_id == order_id
    [row] = await client.order_report(order_id)
    assert row.status is OrderStatus.CANCELLED
    trades = await client.trade_report()
    assert any(t.order_id == filled.order_id for t in trades)
    found = await client.find_order("bot-1")
    assert found is not None
    assert found.order_id == filled.order_id
    assert emulator.counters.orders_by_tag == {"bot-1": 1, cancelled_tag(emulator, order_id): 1}


def cancelled_tag(emulator: Emulator, order_id: str) -> str:
    for tag, _ in emulator.counters.orders_by_tag.items():
        rows = [r for r in emulator.orders if r["nOrdNo"] == order_id]
        if rows and str(rows[0]["GuiOrdId"]).startswith(tag):
            return tag
    raise AssertionError("order not found")


async def test_find_order_matches_rewritten_tags_by_prefix(client: AsyncNeoClient) -> None:
    result = await place(client, order_type="L", price="1.00", tag="grid-7")
    await client.modify_order(
        order_id=result.order_id, price="1.10", order_type="L", quantity=1, validity="DAY"
    )
    found = await client.find_order("grid-7")
    assert found is not None
    assert found.order_id == result.order_id
    assert found.tag != "grid-7"  # rewritten by the modify
    assert await client.find_order("nobody") is None


@pytest.mark.parametrize(
    ("call", "st_code"),
    [
        (lambda neo: place(neo, trading_symbol="NOSUCH-EQ"), 1007),
        (lambda neo: place(neo, tag="dup"), None),  # first use succeeds (see below)
    ],
)
async def test_order_business_errors(
    client: AsyncNeoClient, call: Call, st_code: int | None
) -> None:
    if st_code is None:
        await call(client)
        with pytest.raises(BusinessError) as caught:
            await call(client)  # the caller reused a tag: refused, not reconciled
        assert caught.value.st_code == 5204
    else:
        with pytest.raises(BusinessError) as caught:
            await call(client)
        assert caught.value.st_code == st_code


async def test_modify_and_cancel_of_a_completed_order_is_1021(client: AsyncNeoClient) -> None:
    filled = await place(client)
    with pytest.raises(BusinessError, match="1021") as caught:
        await client.cancel_order(filled.order_id)
    assert caught.value.st_code == 1021
    with pytest.raises(BusinessError) as modified:
        await client.modify_order(
            order_id=filled.order_id, price="1", order_type="L", quantity=1, validity="DAY"
        )
    assert modified.value.st_code == 1021


async def test_market_data_refusals_are_typed(client: AsyncNeoClient) -> None:
    # 1-minute candles are served for at most 30 days: the server refuses 60
    with pytest.raises(StatusError) as caught:
        await client.historical_data(
            neosymbol="nse_cm|11536",
            interval="1min",
            from_date=dt.date(2026, 8, 1),
            to_date=dt.date(2026, 9, 30),
        )
    assert caught.value.status_code == 400
    with pytest.raises(ValueError, match="mcx_fo"):  # refused before sending
        await client.historical_data(
            neosymbol="mcx_fo|999999",
            interval="D",
            from_date=dt.date(2026, 10, 1),
            to_date=dt.date(2026, 10, 2),
        )


async def test_quotes_over_50_are_split(client: AsyncNeoClient, emulator: Emulator) -> None:
    symbols = ["nse_cm|11536", "nse_cm|2885"] * 40  # 80 instruments
    quotes = await client.quotes(symbols, quote_type="ltp")
    assert len(quotes) == 80
    assert emulator.counters.requests["quotes"] == 2


async def test_bad_input_is_refused_before_sending(
    client: AsyncNeoClient, emulator: Emulator
) -> None:
    with pytest.raises(ValueError, match="exchange_segment") as caught:
        await place(client, exchange_segment="nse")
    assert "nse_cm" in str(caught.value)
    with pytest.raises(ValueError, match="price"):
        await place(client, order_type="L", price="0")
    with pytest.raises(TypeError, match="Decimal"):
        await place(client, order_type="L", price=1.5)
    with pytest.raises(ValueError, match="quantity"):
        await place(client, quantity=0)
    assert emulator.counters.requests.get("place_order", 0) == 0


async def test_logout_ends_the_session_and_next_call_logs_in(
    client: AsyncNeoClient, emulator: Emulator, clock: StepClock
) -> None:
    await client.positions()
    await client.logout()
    await client.logout()  # idempotent: nothing sent without a session
    assert emulator.counters.requests["logout"] == 1
    clock.next_step()
    await client.positions()
    assert emulator.counters.logins == 2
