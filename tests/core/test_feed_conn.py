"""The feed cores driven as a shell would: frames, closes and time in, actions out.

No sockets and no clock: every step is a call with ``now``. The last tests run the
session machine beside them: a REST storm and two feeds refused at once make one login.
"""

from __future__ import annotations

import json
import random

import pytest

from aioneo import (
    FeedEvent,
    FeedOverflowError,
    OrderUpdate,
    PositionUpdate,
    SubscriptionError,
    Tick,
)
from aioneo._core._feed_conn import MarketFeedCore, OrderFeedCore, Phase
from aioneo._core._feed_protocol import AuthOutcome
from aioneo._core._session import Action, SessionMachine, new_session
from aioneo._models import parse_order_report

from . import feed_packets as fp
from .test_session import jwt

REPLY = json.dumps({"message_code": 1119, "exchanges": {"nse_cm": {"value": 1, "divider": 100}}})


def quote(token: int, ltp: int) -> bytes:
    rng = random.Random(token + ltp)
    packet = bytearray(fp.packet(rng, "mp4"))
    packet[4] = 1
    packet[9:13] = token.to_bytes(4, "little")
    packet[9 + 60 : 9 + 64] = ltp.to_bytes(4, "little")
    return bytes(packet)


def drain(core: MarketFeedCore | OrderFeedCore) -> list[object]:
    out = []
    while (item := core.next_item()) is not None:
        out.append(item)
    return out


def events(items: list[object]) -> list[str]:
    return [item.kind for item in items if isinstance(item, FeedEvent)]


def live_market(**kwargs: object) -> MarketFeedCore:
    core = MarketFeedCore(**kwargs)  # type: ignore[arg-type]
    core.begin(user="U", sid="S1", epoch=1, now=0.0)
    core.receive(REPLY, 0.1)
    assert core.phase is Phase.LIVE
    return core


def test_a_market_feed_from_first_connect_through_a_drop() -> None:
    core = MarketFeedCore()
    assert core.subscribe(["nse_cm|11536"], mode="quote") is None  # not connected: kept
    assert core.set_market_status(True) is None
    auth = json.loads(core.begin(user="AB1", sid="SID-1", epoch=1, now=100.0))
    assert (auth["user"], auth["auth"], auth["conn_req_time"]) == ("AB1", "SID-1", 100_000)
    assert core.phase is Phase.AUTHENTICATING
    assert core.receive(quote(1, 1), 100.1).send == ()  # binary before the reply: skipped
    live = core.receive(REPLY, 100.2)
    assert [json.loads(f)["event"] for f in live.send] == ["subscribeScrips", "subscribeExchange"]
    assert core.dividers == {1: 100}
    frame = core.subscribe(["nse_cm|1594"], mode="ltp")
    assert frame is not None
    assert json.loads(frame)["event"] == "subscribeScripsLite"
    core.receive(quote(11536, 150_025) + quote(1594, 99), 100.3)
    core.receive('{"message_code": 1109, "trading_symbols": {"nse_cm|11536": "X-EQ"}}', 100.4)
    assert core.trading_symbols == {"nse_cm|11536": "X-EQ"}
    first = drain(core)
    assert events(first) == ["connected"]
    ticks = [i for i in first if isinstance(i, Tick)]
    assert [str(t.ltp) for t in ticks] == ["1500.25", "0.99"]

    closed = core.closed(now=101.0, jitter=0.5, code=1006)
    assert not closed.expired
    assert closed.delay < 1.0
    assert core.phase is Phase.DOWN
    assert core.subscribe(["nse_cm|2885"], mode="quote") is None  # during the gap: kept
    core.begin(user="AB1", sid="SID-1", epoch=1, now=101.5)
    again = core.receive(REPLY, 101.6)
    sent = [json.loads(f) for f in again.send]
    assert sent[0] == {
        "event": "subscribeScripsLite",
        "inputtoken": "nse_cm|1594",
        "ack_symbol": True,
    }
    assert sent[1]["inputtoken"] == "nse_cm|11536,nse_cm|2885"
    assert sent[2] == {"event": "subscribeExchange"}
    after = drain(core)
    assert events(after) == ["disconnected", "connected", "resubscribed"]
    disconnected, connected, resubscribed = (i for i in after if isinstance(i, FeedEvent))
    assert disconnected.code == 1006
    assert connected.reconnect
    assert resubscribed.subscriptions == 3
    stats = core.stats
    assert (stats.connects, stats.reconnects, stats.auth_refusals) == (2, 1, 0)
    assert stats.items == len(first) + len(after)


def test_native_fallback_is_reported_as_expiry_of_that_epoch() -> None:
    core = MarketFeedCore()
    core.begin(user="U", sid="OLD", epoch=3, now=0.0)
    received = core.receive('{"message_code": 1117, "format": "native_fallback"}', 0.1)
    assert received.auth is not None
    assert received.auth.outcome is AuthOutcome.REFUSED
    closed = core.closed(now=0.2, jitter=0.5, auth=received.auth)
    assert closed.expired
    assert closed.epoch == 3
    assert closed.delay == 0.0
    assert "native_fallback" in closed.reason
    assert core.stats.auth_refusals == 1
    assert drain(core) == []  # never live: no "disconnected" to report


def test_a_protocol_failure_is_a_drop_not_an_expiry() -> None:
    core = MarketFeedCore()
    core.begin(user="U", sid="S", epoch=1, now=0.0)
    received = core.receive('{"message_code": 42}', 0.1)
    assert received.auth is not None
    assert received.auth.outcome is AuthOutcome.FAILED
    closed = core.closed(now=0.2, jitter=0.0, auth=received.auth)
    assert not closed.expired
    assert closed.delay == pytest.approx(0.25)


@pytest.mark.parametrize(("code", "status", "expired"), [
    (1008, None, True), (4003, None, True), (1000, None, False), (1011, None, False),
    (None, 401, True), (None, 403, True), (None, 502, False), (None, None, False),
])  # fmt: skip
def test_close_codes_and_handshake_statuses(
    code: int | None, status: int | None, expired: bool
) -> None:
    core = live_market()
    closed = core.closed(now=1.0, jitter=0.5, code=code, handshake_status=status)
    assert closed.expired is expired
    assert core.stats.auth_refusals == int(expired)
    (event,) = (i for i in drain(core) if isinstance(i, FeedEvent) and i.kind == "disconnected")
    assert event.code == code


def test_the_stall_watchdog_and_the_auth_timeout() -> None:
    core = live_market(stall_timeout=5.0)
    core.receive(quote(1, 1), 10.0)
    assert core.stall(14.0) == pytest.approx(1.0)
    assert core.stall(15.0) is None
    assert core.stats.stalls == 1
    stalled = [i for i in drain(core) if isinstance(i, FeedEvent) and i.kind == "stalled"]
    assert stalled[0].reason == "no frame for 5 s"
    core.closed(now=15.0, jitter=0.5, reason="stalled")
    assert core.stall(1_000.0) == float("inf")  # no socket: nothing to watch
    core.begin(user="U", sid="S", epoch=1, now=20.0)
    assert core.stall(24.9) == pytest.approx(0.1)  # min(stall_timeout, auth_timeout)
    quiet = MarketFeedCore()  # no stall watchdog: still an auth timeout
    quiet.begin(user="U", sid="S", epoch=1, now=0.0)
    assert quiet.stall(9.0) == pytest.approx(1.0)
    assert quiet.stall(10.0) is None
    assert "no auth reply for 10 s" in [i.reason for i in drain(quiet) if isinstance(i, FeedEvent)]
    quiet.receive(REPLY, 10.5)  # a late reply still works
    assert quiet.stall(10_000.0) == float("inf")


def test_max_reconnects_gives_up_with_a_reason() -> None:
    core = live_market(max_reconnects=2)
    core.closed(now=1.0, jitter=0.5, code=1006)
    core.closed(now=2.0, jitter=0.5, handshake_status=502)
    final = core.closed(now=3.0, jitter=0.5, reason="connection refused")
    assert final.give_up
    assert "gave up after 2 reconnect attempts in a row" in final.reason
    assert "connection refused" in final.reason


def test_the_cap_refuses_before_anything_changes() -> None:
    core = live_market(max_subscriptions=2)
    core.subscribe(["nse_cm|1", "nse_cm|2"], mode="quote")
    with pytest.raises(SubscriptionError):
        core.subscribe(["nse_cm|3"], mode="depth")
    assert len(core.subscriptions) == 2


def test_a_slow_consumer_with_overflow_error_gets_the_backlog_then_the_error() -> None:
    core = live_market(capacity=3, overflow="error")
    core.receive(quote(1, 1) + quote(2, 2) + quote(3, 3) + quote(4, 4), 1.0)
    items = [core.next_item() for _ in range(3)]
    assert events(items) == ["connected"]
    assert [str(i.ltp) for i in items if isinstance(i, Tick)] == ["0.01", "0.02"]
    with pytest.raises(FeedOverflowError):  # the third tick did not fit: nothing after it
        core.next_item()


def test_a_slow_consumer_with_conflation_keeps_the_latest_and_counts() -> None:
    core = live_market(capacity=4)
    for price in range(1, 101):
        core.receive(quote(7, price) + quote(8, 1000 + price), float(price))
    items = drain(core)
    latest = {t.instrument: t.ltp for t in items if isinstance(t, Tick)}
    assert {k: int(v * 100) for k, v in latest.items()} == {"nse_cm|7": 100, "nse_cm|8": 1100}
    assert core.stats.conflated == 200 - 3  # 3 of the 200 ticks fitted unmerged
    assert len(items) == 4


def test_garbage_is_counted_in_the_feed_stats() -> None:
    core = live_market()
    core.receive(quote(1, 1)[:50], 1.0)
    core.receive(b"\x05\x00", 1.1)
    core.receive("not json", 1.2)  # a text frame that is no control frame: ignored
    assert core.stats.malformed == 2


def _book(*rows: tuple[str, str, int]) -> list[object]:
    data = [
        {"nOrdNo": oid, "ordSt": status, "qty": 10, "fldQty": filled, "unFldSz": 10 - filled}
        for oid, status, filled in rows
    ]
    return list(parse_order_report({"stat": "Ok", "data": data}))


def _order(oid: str, status: str, filled: int = 0) -> str:
    data = {"nOrdNo": oid, "ordSt": status, "qty": 10, "fldQty": filled, "unFldSz": 10 - filled}
    return json.dumps({"type": "order", "data": data})


def test_an_order_feed_through_a_gap() -> None:
    core = OrderFeedCore()
    assert core.begin(token="TOK", sid="SID", epoch=1, now=0.0) == (
        "{type:cn,Authorization:TOK,Sid:SID,src:WEB}"
    )
    assert core.receive('{"ak":"ok","type":"cn"}', 0.1).fetch_orders == "baseline"
    core.baseline(_book(("A", "complete", 10), ("B", "open", 0)))  # type: ignore[arg-type]
    core.receive(_order("B", "open"), 0.2)  # the state the book showed: a duplicate
    core.receive(_order("C", "open"), 0.3)
    core.receive(json.dumps({"type": "position", "data": {"sym": "X", "flBuyQty": "1"}}), 0.4)
    core.receive('{"stat": "invalid request format"}', 0.5)
    first = drain(core)
    assert events(first) == ["connected"]
    assert [i.order_id for i in first if isinstance(i, OrderUpdate)] == ["C"]
    assert any(isinstance(i, PositionUpdate) for i in first)
    assert (core.stats.duplicates, core.stats.malformed) == (1, 1)

    core.closed(now=1.0, jitter=0.5, code=1006)
    core.begin(token="TOK", sid="SID", epoch=1, now=2.0)
    assert core.receive('{"ak":"ok","type":"cn"}', 2.1).fetch_orders == "reconcile"
    core.receive(_order("C", "complete", 10), 2.2)  # pushed before the book came back
    book = _book(("A", "complete", 10), ("B", "complete", 10), ("C", "complete", 10))
    assert core.reconcile(book) == 1  # type: ignore[arg-type]
    core.receive(_order("B", "complete", 10), 2.4)  # the server's re-push
    after = drain(core)
    assert events(after) == ["disconnected", "connected"]
    updates = [i for i in after if isinstance(i, OrderUpdate)]
    assert [(u.order_id, u.reconciled) for u in updates] == [("C", False), ("B", True)]
    assert (core.stats.reconciled, core.stats.duplicates) == (1, 2)


def test_authentication_failed_is_a_refusal_and_an_update_proves_auth() -> None:
    core = OrderFeedCore()
    core.begin(token="T", sid="S", epoch=4, now=0.0)
    received = core.receive('{"ak":"nk","type":"cn","msg":"Authentication Failed"}', 0.1)
    assert received.auth is not None
    closed = core.closed(now=0.1, jitter=0.5, auth=received.auth)
    assert (closed.expired, closed.epoch, closed.reason) == (True, 4, "Authentication Failed")
    core.begin(token="T", sid="S2", epoch=5, now=1.0)
    assert core.receive(_order("A", "open"), 1.1).fetch_orders == "baseline"
    assert core.phase is Phase.LIVE


def test_the_order_feed_never_drops() -> None:
    core = OrderFeedCore(capacity=3)
    core.begin(token="T", sid="S", epoch=1, now=0.0)
    core.receive('{"ak":"ok"}', 0.1)
    for n in range(5):
        core.receive(_order(f"O{n}", "open"), 1.0 + n)
    got = [core.next_item() for _ in range(3)]
    assert events(got) == ["connected"]
    assert [i.order_id for i in got if isinstance(i, OrderUpdate)] == ["O0", "O1"]
    with pytest.raises(FeedOverflowError, match="order updates behind"):
        core.next_item()
    assert core.stats.dropped == 0


def test_bad_settings() -> None:
    with pytest.raises(ValueError, match="stall_timeout must be"):
        MarketFeedCore(stall_timeout=0)
    with pytest.raises(ValueError, match="auth_timeout must be"):
        OrderFeedCore(auth_timeout=0)
    with pytest.raises(ValueError, match="overflow="):
        MarketFeedCore(overflow="latest")


# -- with the session machine: one login for a REST storm and both feeds ---------------


def session(epoch: int, sid: str) -> object:
    return new_session(token=jwt(iat=0, exp=10**10), sid=sid, base_url="https://x", epoch=epoch,
                       now=0.0, ucc="U")  # fmt: skip


def test_a_rest_storm_and_both_feeds_refused_at_once_make_one_login() -> None:
    machine = SessionMachine()
    first = machine.acquire(0.0)
    assert first.action is Action.LEAD
    assert first.ticket is not None
    machine.login_succeeded(first.ticket, session(1, "SID-1"))  # type: ignore[arg-type]
    market, orders = live_market(), OrderFeedCore()
    orders.begin(token="T1", sid="SID-1", epoch=1, now=0.0)
    orders.receive('{"ak":"ok"}', 0.1)

    # The server ends the session: 500 REST calls and both feeds hear it.
    decisions = [machine.on_expired(1, 5.0) for _ in range(500)]
    closed_market = market.closed(now=5.0, jitter=0.5, code=1008)
    refusal = orders.receive('{"ak":"nk","msg":"Authentication Failed"}', 5.0).auth
    closed_orders = orders.closed(now=5.0, jitter=0.5, auth=refusal)
    assert closed_market.expired
    assert closed_orders.expired
    feed_decisions = [
        machine.on_expired(closed_market.epoch or 0, 5.0),
        machine.on_expired(closed_orders.epoch or 0, 5.0),
    ]
    leads = [d for d in decisions + feed_decisions if d.action is Action.LEAD]
    assert len(leads) == 1
    assert {d.action for d in feed_decisions} == {Action.WAIT}  # the feeds never lead here
    ticket = leads[0].ticket
    assert ticket is not None
    machine.login_succeeded(ticket, session(2, "SID-2"))  # type: ignore[arg-type]
    assert machine.stats.logins == 2  # the first login and the one relogin

    # Both feeds reconnect with the new session; a straggler refusal of epoch 1 retries.
    assert machine.acquire(5.5).session is not None
    fresh = machine.acquire(5.5).session
    assert fresh is not None
    assert json.loads(market.begin(user="U", sid=fresh.sid, epoch=fresh.epoch, now=5.5))[
        "auth"
    ] == ("SID-2")
    market.receive(REPLY, 5.6)
    assert events(drain(market))[-2:] == ["disconnected", "connected"]
    assert machine.on_expired(1, 6.0).action is Action.RETRY
    assert machine.stats.logins == 2


def test_events_and_stats_are_checked_and_copied() -> None:
    with pytest.raises(ValueError, match=r"kind='closed' is not allowed: use one of 'connected'"):
        FeedEvent(kind="closed", at=0.0)  # type: ignore[arg-type]
    core = live_market()
    snapshot = core.stats.snapshot()
    core.receive(quote(1, 1), 1.0)
    core.next_item()
    assert snapshot.items == 0
    assert core.stats.items == 1
    assert "sid" not in repr(FeedEvent(kind="connected", at=1.0, epoch=2)).lower()
