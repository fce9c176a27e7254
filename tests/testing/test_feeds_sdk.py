"""Fidelity of the emulator's feeds: the official SDK's feed clients, unchanged, on both
server backends.

The SDK logs in over REST (through :class:`~aioneo.testing.RoutingTransport`), finds the
feed URLs itself (the config service, as on Kotak), and its ``SFeedWebSocket`` and
``OrderFeedWebSocket`` connect with no ``url=``. Every packet the SDK decodes is compared,
field by field, with the values the emulator recorded sending (``emulator.feeds.sent()``),
scaled by the divider the auth reply announced: the emulator's encoder and the SDK's
decoder meet only on the wire.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from emulator_support import FakeClock

from aioneo.testing import Emulator, EmulatorConfig, EmulatorServer
from aioneo.testing import _feedwire as wire
from aioneo.testing._feeds import SentPacket

os.environ.setdefault("NEO_LOG_FILE_ENABLED", "false")
import neo_api_client
from neo_api_client.websocket.feed import WsToken
from neo_api_client.websocket.feed.models import (
    SFeedCasChange,
    SFeedIndex,
    SFeedMarketStatus,
    SFeedScrip,
    SFeedScripLite,
)

pytestmark = [pytest.mark.sdk, pytest.mark.timeout(30)]

TCS = WsToken("nse_cm", "11536")
INFY = WsToken("nse_cm", "1594")
NIFTY = WsToken("nse_cm", "Nifty 50")


@pytest.fixture(params=["uvicorn", "builtin"])
def server(
    request: pytest.FixtureRequest, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[EmulatorServer]:
    monkeypatch.setenv("NEO_HOLDINGS_CACHE_DIR", str(tmp_path / "holdings"))
    monkeypatch.setenv("NEO_SCRIP_CACHE_DIR", str(tmp_path / "scrip"))
    emulator = Emulator(EmulatorConfig(rate_limit=None), clock=FakeClock())
    with EmulatorServer(emulator, backend=request.param) as running:
        yield running


def sdk_login(server: EmulatorServer) -> Any:
    emu = server.emulator
    creds = emu.credentials
    api = neo_api_client.NeoAPI(consumer_key=creds.consumer_key, transport=server.transport())
    api.totp_login(mobile_number=creds.mobile_number, ucc=creds.ucc, totp=emu.totp())
    api.totp_validate(mpin=creds.mpin)
    return api


async def next_messages(ws: Any, count: int, *, within: float = 5.0) -> list[Any]:
    out: list[Any] = []
    while len(out) < count:
        out.append(await asyncio.wait_for(ws.__anext__(), within))
    return out


def scaled(value: int, divider: int) -> float:
    return value / divider


def expected_fields(sent: SentPacket) -> dict[str, Any]:
    """What the SDK's decoder must produce for a packet the emulator sent."""
    p = sent.packet
    d = wire.DIVIDERS[sent.segment]
    if isinstance(p, wire.MiniTouchLine):
        return {
            "exchange_segment": sent.segment,
            "instrument_token": str(p.token),
            "last_traded_price": scaled(p.ltp, d),
            "last_trade_time": p.last_trade_time,
            "last_trade_qty": p.last_trade_qty,
            "close_price": scaled(p.close, d),
            "net_change": scaled(p.net_change, d),
            "net_change_percent": p.net_change_percent / 100,
            "market_lot": p.market_lot,
            "precision": p.precision,
            "multiplier": p.multiplier,
        }
    if isinstance(p, wire.MarketPicture):
        return {
            "exchange_segment": sent.segment,
            "instrument_token": str(p.token),
            "level": p.level,
            "last_traded_price": scaled(p.ltp, d),
            "open_price": scaled(p.open, d),
            "high_price": scaled(p.high, d),
            "low_price": scaled(p.low, d),
            "close_price": scaled(p.close, d),
            "average_trade_price": scaled(p.avg_price, d),
            "last_trade_time": p.last_trade_time,
            "last_update_time": p.last_update_time,
            "last_trade_qty": p.last_trade_qty,
            "total_buy_quantity": p.total_buy_qty,
            "total_sell_quantity": p.total_sell_qty,
            "volume_traded_today": p.volume,
            "open_interest": p.open_interest,
            "net_change": scaled(p.net_change, d),
            "net_change_percent": p.net_change_percent / 100,
            "upper_circuit_limit": scaled(p.upper_circuit, d),
            "lower_circuit_limit": scaled(p.lower_circuit, d),
            "yearly_high": scaled(p.yearly_high, d),
            "yearly_low": scaled(p.yearly_low, d),
            "total_traded_value": p.total_traded_value / d,
            "market_lot": p.market_lot,
            "precision": p.precision,
            "multiplier": p.multiplier,
            "auction": p.auction > 0,
            "buy": [(q, scaled(pr, d), o) for q, pr, o in p.buy],
            "sell": [(q, scaled(pr, d), o) for q, pr, o in p.sell],
        }
    if isinstance(p, wire.IndexPacket):
        return {
            "exchange_segment": sent.segment,
            "instrument_token": str(p.token),
            "name": p.name,
            "last_traded_price": scaled(p.value, d),
            "open_price": scaled(p.open, d),
            "high_price": scaled(p.high, d),
            "low_price": scaled(p.low, d),
            "close_price": scaled(p.close, d),
            "change": (p.value - p.close) / d,
            "net_change_percent": p.net_change_percent / 100,
            "yearly_high": scaled(p.yearly_high, d),
            "yearly_low": scaled(p.yearly_low, d),
            "last_trade_time": p.last_trade_time,
            "precision": p.precision,
            "multiplier": p.multiplier / d,  # the SDK divides the index multiplier (A.10.13)
        }
    if isinstance(p, wire.StatusPacket):
        code = {wire.MSG_MARKET_OPEN: 1, wire.MSG_MARKET_CLOSE: 2}.get(p.code, p.status_code)
        return {"exchange_segment": sent.segment, "status_code": code}
    assert isinstance(p, wire.CasPacket)
    return {
        "exchange_segment": sent.segment,
        "instrument_token": str(p.token),
        "ref_price": scaled(p.ref_price, d),
        "imbalance_qty": p.imbalance_qty,
        "imbalance_qty_at_market": p.imbalance_qty_at_market,
    }


def decoded_fields(message: Any, names: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in names:
        value = getattr(message, name)
        if name in ("buy", "sell"):
            value = [(row.quantity, row.price, row.orders) for row in value]
        out[name] = value
    return out


def assert_same(message: Any, sent: SentPacket) -> None:
    want = expected_fields(sent)
    got = decoded_fields(message, list(want))
    assert got == want, (sent.mode, sent.token)


@pytest.fixture
async def sfeed(server: EmulatorServer) -> AsyncIterator[Any]:
    api = sdk_login(server)
    ws = api.create_websocket()  # no url=: found through the config service
    assert ws.url == server.emulator.feed_urls()["market"]
    async with ws:
        yield ws


async def test_sfeed_auth_and_dividers(sfeed: Any, server: EmulatorServer) -> None:
    assert sfeed.is_connected
    assert sfeed.dividers[wire.EXCHANGE_IDS["nse_cm"]] == 100
    assert sfeed.dividers[wire.EXCHANGE_IDS["mcx_fo"]] == 10_000  # not 100: caught if hard-coded
    counters = server.emulator.feeds.counters()
    assert counters["market_auths_accepted"] == 1
    assert counters["market_auths_refused"] == 0


@pytest.mark.parametrize(
    ("subscribe", "mode", "kind"),
    [
        ("subscribe_scrips_lite", "scrips_lite", SFeedScripLite),
        ("subscribe_scrips", "scrips", SFeedScrip),
        ("subscribe_depth", "depth", SFeedScrip),
        ("subscribe_full_depth", "full_depth", SFeedScrip),
    ],
)
async def test_every_scrip_packet_kind_decodes_to_what_was_sent(
    sfeed: Any, server: EmulatorServer, subscribe: str, mode: str, kind: type
) -> None:
    emu = server.emulator
    await getattr(sfeed, subscribe)([TCS, INFY])
    assert sfeed.trading_symbols == {"nse_cm|11536": "TCS-EQ", "nse_cm|1594": "INFY-EQ"}
    first = await next_messages(sfeed, 2)
    # A price moved by the test reaches the feed on the next tick.
    emu.set_price("nse_cm|11536", "3456.15")
    emu.feeds.tick()
    (moved,) = await next_messages(sfeed, 1)
    assert moved.last_traded_price == 3456.15
    sent = emu.feeds.sent(mode=mode)
    assert len(sent) == 3
    for message, record in zip([*first, moved], sent, strict=True):
        assert isinstance(message, kind)
        assert message.trading_symbol == {"11536": "TCS-EQ", "1594": "INFY-EQ"}[record.token]
        assert_same(message, record)
    if mode == "depth":
        assert len(moved.buy) == len(moved.sell) == 5
    if mode == "full_depth":
        assert len(moved.buy) == len(moved.sell) == 20
    if mode == "scrips":
        assert len(moved.buy) == len(moved.sell) == 1


async def test_index_packets_and_their_name_keyed_symbols(
    sfeed: Any, server: EmulatorServer
) -> None:
    await sfeed.subscribe_index([NIFTY])
    (message,) = await next_messages(sfeed, 1)
    assert isinstance(message, SFeedIndex)
    assert message.instrument_token == "26000"  # streamed with its number
    assert message.name == "Nifty 50"
    assert message.trading_symbol is not None  # found through the name-keyed ack
    (record,) = server.emulator.feeds.sent(mode="index")
    assert_same(message, record)


async def test_a_segment_whose_divider_is_not_100(sfeed: Any, server: EmulatorServer) -> None:
    emu = server.emulator
    crude = next(
        i for i in emu._book._market.tradable_instruments("mcx_fo", emu.clock()) if i.is_future
    )
    token = WsToken("mcx_fo", crude.token)
    await sfeed.subscribe_scrips([token])
    (message,) = await next_messages(sfeed, 1)
    (record,) = emu.feeds.sent(mode="scrips")
    assert_same(message, record)
    quote = emu._book.snapshot("mcx_fo", crude.token, emu.clock())
    assert quote is not None
    assert message.last_traded_price == quote.ltp / 100  # rupees, not 100x


async def test_market_status_open_close_and_cas(sfeed: Any, server: EmulatorServer) -> None:
    emu = server.emulator
    await sfeed.subscribe_exchange()
    statuses = await next_messages(sfeed, 5)
    assert all(isinstance(m, SFeedMarketStatus) for m in statuses)
    assert emu.feeds.push_market_status("nse_cm", 10) == 1
    (cas_start,) = await next_messages(sfeed, 1)
    assert (cas_start.exchange_segment, cas_start.status_code) == ("nse_cm", 10)
    assert emu.feeds.push_open_close("nse_fo", is_open=True) == 1
    (opened,) = await next_messages(sfeed, 1)
    assert (opened.exchange_segment, opened.status_code) == ("nse_fo", 1)
    await sfeed.subscribe_scrips([TCS])
    await next_messages(sfeed, 1)
    assert emu.feeds.push_cas("nse_cm", "11536", ref_price=345_010, imbalance_qty=700, at_market=5)
    (cas,) = await next_messages(sfeed, 1)
    assert isinstance(cas, SFeedCasChange)
    records = [s for s in emu.feeds.sent() if s.mode in ("status", "cas")]
    decoded = [*statuses, cas_start, opened, cas]
    assert len(records) == len(decoded)
    for message, record in zip(decoded, records, strict=True):
        assert_same(message, record)


async def test_unsubscribe_stops_the_packets(sfeed: Any, server: EmulatorServer) -> None:
    emu = server.emulator
    await sfeed.subscribe_scrips_lite([TCS])
    await next_messages(sfeed, 1)
    await sfeed.unsubscribe_scrips_lite([TCS])
    await asyncio.sleep(0.1)  # let the frame arrive
    emu.set_price("nse_cm|11536", "3400")
    emu.feeds.tick()
    with pytest.raises(TimeoutError):
        await next_messages(sfeed, 1, within=0.3)
    assert emu.feeds.counters()["unsubscribe_frames"] == 1


async def test_a_dead_sid_gets_native_fallback_and_the_sdk_refuses(
    server: EmulatorServer,
) -> None:
    api = sdk_login(server)
    server.emulator.expire_sessions()
    ws = api.create_websocket(max_connect_retries=0)
    with pytest.raises(Exception, match="native_fallback"):
        await ws.connect()
    await ws.close()
    assert server.emulator.feeds.counters()["market_auths_refused"] == 1


async def test_order_feed_carries_every_state_change_and_each_fill(
    server: EmulatorServer,
) -> None:
    from neo_api_client.websocket.orderfeed.models import OrderUpdate, PositionUpdate

    api = sdk_login(server)
    feed = api.create_order_feed()
    assert feed.url == server.emulator.feed_urls()["order"]
    async with feed:
        placed = await asyncio.to_thread(
            api.place_order,
            exchange_segment="nse_cm",
            product="CNC",
            price="0",
            order_type="MKT",
            quantity="2",
            validity="DAY",
            trading_symbol="TCS-EQ",
            transaction_type="B",
            tag="feed-mkt",
        )
        number = placed["nOrdNo"]
        messages = await next_messages(feed, 6)
    orders = [m for m in messages if isinstance(m, OrderUpdate)]
    positions = [m for m in messages if isinstance(m, PositionUpdate)]
    assert [m.data.order_status for m in orders] == [
        "put order req received",
        "validation pending",
        "open pending",
        "open",
        "complete",
    ]
    assert {m.data.order_id for m in orders} == {number}
    done = orders[-1].data
    assert (done.quantity, done.filled_quantity, done.unfilled_size) == (2, 2, 0)
    assert done.trading_symbol == "TCS-EQ"
    assert done.token == "11536"
    row = next(r for r in api.order_report()["data"] if r["nOrdNo"] == number)
    assert done.average_price == row["avgPrc"]
    (position,) = positions
    assert position.data.filled_buy_quantity == "2"
    assert position.data.exchange_segment == "nse_cm"


async def test_order_feed_pushes_the_current_state_on_reconnect(
    server: EmulatorServer,
) -> None:
    from neo_api_client.websocket.orderfeed.models import OrderUpdate, PositionUpdate

    api = sdk_login(server)
    api.place_order(
        exchange_segment="nse_cm",
        product="CNC",
        price="0",
        order_type="MKT",
        quantity="1",
        validity="DAY",
        trading_symbol="INFY-EQ",
        transaction_type="B",
        tag="before-connect",
    )
    feed = api.create_order_feed()
    async with feed:
        first = await next_messages(feed, 2)
        assert [type(m) for m in first] == [OrderUpdate, PositionUpdate]
        assert first[0].data.order_status == "complete"
        assert server.emulator.feeds.drop("order", code=1011) == 1
        feed.reconnect_delay = 0.05
        again = await next_messages(feed, 2)  # after the SDK's own reconnect
        assert [type(m) for m in again] == [OrderUpdate, PositionUpdate]
    assert server.emulator.feeds.counters()["order_auths_accepted"] == 2


async def test_order_feed_auth_failed_for_a_dead_session(server: EmulatorServer) -> None:
    api = sdk_login(server)
    server.emulator.expire_sessions()
    feed = api.create_order_feed()
    async with feed:
        # The SDK drops the nk ack (its bug A.10.6): the feed looks connected and says
        # nothing. What the emulator answered is in its counters.
        with pytest.raises(TimeoutError):
            await next_messages(feed, 1, within=0.3)
        assert feed.is_connected
    assert server.emulator.feeds.counters()["order_auths_refused"] == 1
