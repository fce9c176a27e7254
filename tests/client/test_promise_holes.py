"""Issue 10: holes in the order and relogin promise, each run against both twins.

``AsyncNeoClient`` talks to the in-process emulator through ``GateTransport``; ``NeoClient``
talks to the same emulator on loopback (``EmulatorServer``) through ``SyncGateTransport``,
its calls run in worker threads so one async test body drives both. Every test asserts
outcomes and counts (logins the server saw, errors received), never timings.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from aioneo import (
    AsyncNeoClient,
    BusinessError,
    FatalLoginError,
    MemorySessionStore,
    OrderOutcomeUnknown,
    RateLimitError,
    TransientLoginError,
)
from aioneo.testing import EmulatorServer

from .conftest import GateTransport, credentials_of, expired_response
from .test_order_faults import order_of
from .twins import Twin, closing, twin

__all__ = ["closing", "twin"]  # fixtures

PLACE = "quick/order/rule/ms/place"


def order(tag: str | None, side: str = "B", quantity: int = 1) -> dict[str, Any]:
    return order_of(tag, (side, quantity))


def expire(twin: Twin) -> None:
    twin.emulator.expire_sessions()
    twin.clock.next_step()


def nth(n: int, answer: Callable[[httpx.Request], httpx.Response]) -> Callable[..., Any]:
    """A reply hook that answers only the ``n``-th matching request (1-based)."""
    seen = [0]

    def reply(request: httpx.Request) -> httpx.Response | None:
        seen[0] += 1
        return answer(request) if seen[0] == n else None

    return reply


# -- item 1: reconciliation --------------------------------------------------------------


async def test_1_find_order_never_takes_a_prefix(closing: Twin) -> None:
    twin = closing
    neo = twin.make()
    ten = await twin.call(neo, "place_order", **order("strat-10"))
    await twin.call(neo, "place_order", **order("strat-20"))
    assert await twin.call(neo, "find_order", "strat-1") is None
    assert await twin.call(neo, "find_order", "strat-2") is None
    found = await twin.call(neo, "find_order", "strat-10")
    assert found is not None
    assert found.order_id == ten.order_id


async def test_1_a_replay_refused_with_429_is_not_a_prefix_match(closing: Twin) -> None:
    twin = closing
    neo = twin.make()
    await twin.call(neo, "place_order", **order("strat-20"))
    expire(twin)  # the next place meets 900901: nothing placed; the replay then meets 429
    twin.transport.replies[PLACE] = nth(
        2, lambda r: httpx.Response(429, headers={"retry-after": "1"}, json={"message": "x"})
    )
    with pytest.raises(RateLimitError):
        await twin.call(neo, "place_order", **order("strat-2"))
    assert "strat-2" not in twin.emulator.counters.orders_by_tag


async def test_1_a_reused_tag_for_another_order_is_refused_not_reported(closing: Twin) -> None:
    twin = closing
    neo = twin.make()
    await twin.call(neo, "place_order", **order("dup-1", "B", 1))
    expire(twin)  # first attempt: 900901; the replay: 5204 (the tag is the BUY's)
    with pytest.raises(BusinessError) as caught:
        await twin.call(neo, "place_order", **order("dup-1", "S", 5))
    assert caught.value.st_code == 5204
    assert "another order" in str(caught.value)
    assert twin.emulator.counters.orders_by_tag["dup-1"] == 1
    assert [row["trnsTp"] for row in twin.emulator.orders] == ["B"]


# -- item 2: 900901 on the MPIN step -----------------------------------------------------


async def test_2_a_refused_view_token_is_transient_not_cached(closing: Twin) -> None:
    twin = closing
    neo = twin.make(login_cooldown=10.0)  # late callers fail fast instead of logging in
    twin.transport.rewrites["tradeApiValidate"] = lambda req, resp: expired_response(401)
    burst = [twin.start(neo, "positions") for _ in range(16)]
    results = await asyncio.gather(*burst, return_exceptions=True)
    assert all(isinstance(r, TransientLoginError) for r in results), results
    assert not any(isinstance(r, FatalLoginError) for r in results)
    del twin.transport.rewrites["tradeApiValidate"]
    twin.clock.next_step()  # past the cooldown, and a fresh TOTP step
    assert isinstance(await twin.call(neo, "positions"), list)  # a fresh login fixes it
    assert neo.stats.logins == 1


# -- item 3: set_credentials() during a login --------------------------------------------


async def test_3_new_credentials_during_a_login_are_used(closing: Twin) -> None:
    twin = closing
    good = credentials_of(twin.emulator)
    neo = twin.make(credentials=credentials_of(twin.emulator, mpin="000000"))
    twin.transport.gate("tradeApiValidate")
    call = twin.start(neo, "positions")
    await twin.until_waiting("tradeApiValidate", 1)
    neo.set_credentials(good)
    twin.clock.next_step()  # the login with the new credentials needs a fresh step
    twin.transport.ungate("tradeApiValidate")
    assert isinstance(await call, list)  # the stale "Invalid MPIN" decided nothing
    assert twin.emulator.counters.logins == 1
    assert neo.stats.login_failures == 1
    assert isinstance(await twin.call(neo, "positions"), list)


# -- item 4: adopting a sibling's dead session -------------------------------------------


async def test_4_adopting_a_dead_session_does_not_spend_the_relogin(closing: Twin) -> None:
    twin = closing
    store = MemorySessionStore()
    a = twin.make(session_store=store)
    b = twin.make(session_store=store)
    await twin.call(a, "login")
    await twin.call(b, "positions")  # adopts a's session
    expire(twin)
    await twin.call(a, "positions")  # a logs in again and writes it to the store
    expire(twin)  # ... and the server ends that session too
    results = await asyncio.gather(
        *[twin.start(b, "positions") for _ in range(10)], return_exceptions=True
    )
    assert all(isinstance(r, list) for r in results), results
    assert twin.emulator.counters.logins == 3  # a twice, b once: one login per event
    assert b.stats.adopted == 2  # the live one, then the dead one; then b logged in


# -- item 6: logout() during a login -----------------------------------------------------


async def test_6_logout_wins_over_a_login_in_flight(closing: Twin) -> None:
    twin = closing
    neo = twin.make()
    twin.transport.gate("tradeApiValidate")
    # login(), not a call: a call's own request could reach the server after the logout
    # and then log in again by itself (a call racing a logout may do that)
    call = twin.start(neo, "login")
    await twin.until_waiting("tradeApiValidate", 1)
    logout = twin.start(neo, "logout")
    await asyncio.sleep(0.05)
    assert not logout.done()  # it waits for the login
    twin.transport.ungate("tradeApiValidate")
    await call
    await logout
    assert neo.session is None
    assert twin.emulator.counters.requests.get("logout", 0) == 1  # ended on the server
    twin.clock.next_step()
    await twin.call(neo, "positions")
    assert twin.emulator.counters.logins == 2  # the next call logged in again


# -- found by the review of the fix ------------------------------------------------------


async def test_1_a_cancelled_ioc_of_another_tag_is_not_taken_for_the_call(closing: Twin) -> None:
    """An IOC the exchange cancelled keeps its tag (``strat-20``): it is no cancel-rewrite
    of ``strat``, and no rewritten form is ever proof of a placement."""
    twin = closing
    neo = twin.make()
    ioc = order("strat-20") | {"order_type": "L", "price": "1.00", "validity": "IOC"}
    await twin.call(neo, "place_order", **ioc)
    expire(twin)  # the first attempt meets 900901; the replay meets a 429
    twin.transport.replies[PLACE] = nth(
        2, lambda r: httpx.Response(429, headers={"retry-after": "1"}, json={"message": "x"})
    )
    with pytest.raises(RateLimitError):
        await twin.call(neo, "place_order", **(ioc | {"tag": "strat"}))
    assert "strat" not in twin.emulator.counters.orders_by_tag


@pytest.mark.timeout(30)
async def test_close_while_an_order_is_on_the_wire_is_an_unknown_outcome(twin: Twin) -> None:
    """``close()`` must never turn an order the server may have placed into a definite
    error: with the order on the wire, the caller gets ``OrderOutcomeUnknown``."""
    if twin.kind == "async":  # over loopback too: the in-process transport has no wire
        server = EmulatorServer(twin.emulator).start()
        twin.url = server.url
        twin.transport = GateTransport(httpx.AsyncHTTPTransport())
    try:
        neo = twin.make()
        await twin.call(neo, "login")
        twin.emulator.configure(latency={"place_order": 1.0})
        call = twin.start(neo, "place_order", **order("cl-1"))
        await asyncio.sleep(0.3)  # on the wire: the server is working on it
        if isinstance(neo, AsyncNeoClient):
            await neo.aclose()
        else:
            neo.close()
        with pytest.raises(OrderOutcomeUnknown) as caught:
            await call
        assert caught.value.tag == "cl-1"
    finally:
        await twin.aclose()
        if twin.kind == "async":
            server.stop()


async def test_a_stale_refresh_is_scheduled_again(closing: Twin) -> None:
    """A proactive refresh that fails after ``set_credentials()`` is retried later."""
    twin = closing
    neo = twin.make(refresh_ahead=600)
    await twin.call(neo, "positions")
    assert neo.session is not None
    assert neo.session.expires_at is not None
    twin.clock.advance((neo.session.expires_at - 400) - twin.clock())  # due, valid 400 s
    twin.transport.gate("tradeApiValidate")
    twin.transport.rewrites["tradeApiValidate"] = lambda q, r: httpx.Response(500, json={})
    assert isinstance(await twin.call(neo, "positions"), list)  # starts the refresh
    await twin.until_waiting("tradeApiValidate", 1)
    neo.set_credentials(credentials_of(twin.emulator))  # the refresh in flight is stale now
    twin.transport.ungate("tradeApiValidate")
    for _ in range(200):  # until the refresh has failed (it runs in a task or thread)
        if neo._session.machine.ticket is None:
            break
        await asyncio.sleep(0.01)
    del twin.transport.rewrites["tradeApiValidate"]
    twin.clock.advance(200)  # past the retry backoff, the session still valid
    before = neo.stats.refreshes
    assert isinstance(await twin.call(neo, "positions"), list)
    assert neo.stats.refreshes == before + 1
