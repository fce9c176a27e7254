"""Order safety under faults: seeded sequences of faults on ``place_order``, both twins.

Each sequence is one order intent (a side and a quantity) with a tag drawn from: a fresh
tag, none (the client makes one), a prefix of a tag already used (``s-1`` beside
``s-12``), an extension of one (``s-12`` beside ``s-1``), one that looks like Kotak's
rewrite of another (``s-1-M1``, ``s-1-17``), or a tag already used, for the same or for a
different intent. The first attempt, and the replay if the client makes one, each meet a
fault drawn from the list below (or none). Afterwards, with ``added`` the orders the
emulator accepted during the call:

* never more than one order for one tag, never more than one order for one call;
* when the client reports success, the emulator holds that order, with exactly that tag
  and the intent's side and quantity, and it was placed by this call (``added`` is that
  order), or the tag was reused for an identical intent and the earlier order is the one
  returned (the tag is then an idempotency key);
* when the client raises a definite error (anything but ``OrderOutcomeUnknown``), the call
  placed nothing: a definite "no" is never wrong;
* ``OrderOutcomeUnknown`` always carries the tag, so the caller can reconcile.

The async test runs on both HTTP backends (``backend``, see ``conftest``). On ``"aiohttp"``
the emulator is on loopback and the two connection faults are real: ``reset_before`` is
the emulator's ``drop`` fault and ``accept_then_drop`` its own, so the server closes the
socket and the exception the client reads is aioneo's aiohttp transport's mapping of
aiohttp's (``ServerDisconnectedError``), not one the test raises. ``timeout_after_write``
stays scripted there too (the emulator has no "place, then never answer" fault).
"""

from __future__ import annotations

import json
import random
from collections import Counter
from typing import Any

import httpx
import pytest

from aioneo import AsyncNeoClient, NeoClient, NeoError, OrderOutcomeUnknown
from aioneo._models import OrderResult
from aioneo.testing import Emulator, EmulatorServer, StepClock

from .conftest import ENVELOPE, credentials_of

#: What one attempt meets. "forward" means the emulator received and executed the order.
FAULTS = [
    "none",  # answered normally
    "expired",  # the session really expired: the gateway refuses, nothing is placed
    "lying_expired",  # placed, but the answer the client reads is the 900901 envelope
    "rate_limited",  # 429 from the gateway: nothing placed
    "timeout_after_write",  # placed, then the answer never comes (read timeout)
    "reset_before",  # the connection breaks before the server acts
    "accept_then_drop",  # placed, then the connection breaks
    "bad_gateway_before",  # 502 HTML without reaching the order system
    "bad_gateway_after",  # placed, then 502 HTML
    "unreadable_200",  # placed, then a 200 with a body that is not JSON
]
#: The async test runs on both HTTP backends (see conftest).
BOTH_BACKENDS = True
TAG_KINDS = ["fresh", "none", "prefix", "extension", "rewrite_like", "reused"]
PLACE = "quick/order/rule/ms/place"


def _before(fault: str, emulator: Emulator, request: httpx.Request) -> httpx.Response | None:
    """The part of a fault that acts before the order system sees the request."""
    if fault == "expired":
        emulator.expire_sessions()
    if fault == "rate_limited":
        return httpx.Response(429, headers={"retry-after": "1"}, json={"message": "throttled"})
    if fault == "reset_before":
        raise httpx.RemoteProtocolError("Server disconnected", request=request)
    if fault == "bad_gateway_before":
        return httpx.Response(502, content=b"<html>502 Bad Gateway</html>")
    return None


def _after(fault: str, request: httpx.Request, response: httpx.Response) -> httpx.Response:
    """The part of a fault that acts after the order system executed the request."""
    if fault == "lying_expired":
        return httpx.Response(401, content=json.dumps(ENVELOPE).encode())
    if fault == "timeout_after_write":
        raise httpx.ReadTimeout("timed out", request=request)
    if fault == "accept_then_drop":
        raise httpx.RemoteProtocolError("Server disconnected", request=request)
    if fault == "bad_gateway_after":
        return httpx.Response(502, content=b"<html>502 Bad Gateway</html>")
    if fault == "unreadable_200":
        return httpx.Response(200, content=b"<html>ok</html>")
    return response


#: Faults the server itself causes when the emulator is on loopback: its fault kind.
SOCKET_FAULTS = {"reset_before": "drop", "accept_then_drop": "accept_then_drop"}


class FaultyOrders(httpx.AsyncBaseTransport):
    """Applies one scripted fault per place-order request; everything else passes.

    ``socket_faults``: the connection faults are the server's (see the module docstring).
    """

    def __init__(
        self,
        emulator: Emulator,
        inner: httpx.AsyncBaseTransport | None = None,
        *,
        socket_faults: bool = False,
    ) -> None:
        self.emulator = emulator
        self.inner = inner if inner is not None else emulator.transport()
        self.socket_faults = socket_faults
        self.script: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not request.url.path.endswith(PLACE) or not self.script:
            return await self.inner.handle_async_request(request)
        fault = self.script.pop(0)
        if self.socket_faults and fault in SOCKET_FAULTS:
            self.emulator.inject_fault("place_order", SOCKET_FAULTS[fault], count=1)
            return await self.inner.handle_async_request(request)
        early = _before(fault, self.emulator, request)
        if early is not None:
            return early
        response = await self.inner.handle_async_request(request)
        await response.aread()
        return _after(fault, request, response)

    async def aclose(self) -> None:
        await self.inner.aclose()


class SyncFaultyOrders(httpx.BaseTransport):
    """The same faults for ``NeoClient``, in front of a real loopback connection.

    ``NeoClient`` has no sleep seam: an "expired" fault moves the clock to the next TOTP
    step, so the login that follows (for the reconciling read) does not wait 25 s for one.
    """

    def __init__(self, emulator: Emulator, clock: StepClock) -> None:
        self.emulator = emulator
        self.clock = clock
        self.inner = httpx.HTTPTransport()
        self.script: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not request.url.path.endswith(PLACE) or not self.script:
            return self.inner.handle_request(request)
        fault = self.script.pop(0)
        if fault in ("expired", "lying_expired"):
            self.clock.next_step()
        early = _before(fault, self.emulator, request)
        if early is not None:
            return early
        response = self.inner.handle_request(request)
        response.read()
        response.close()
        return _after(
            fault, request, httpx.Response(response.status_code, content=response.content)
        )

    def close(self) -> None:
        self.inner.close()


class Tags:
    """Draws the tag of each intent and remembers which intent each used tag was for."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: dict[str, tuple[str, int]] = {}  # tag -> (side, quantity) of its order

    def draw(self, n: int) -> str | None:
        kind = self.rng.choice(TAG_KINDS)
        fresh = f"s-{n}"
        if kind == "none":
            return None
        if kind == "fresh" or not self.used:
            return fresh
        base = self.rng.choice(sorted(self.used))
        if kind == "reused":
            return base
        if kind == "prefix":
            shorter = base[:-1]
            return shorter if len(shorter) > 2 and shorter not in self.used else fresh
        options = {
            "extension": [base + str(self.rng.randrange(10)), f"{base}-{self.rng.randrange(99)}"],
            "rewrite_like": [f"{base}-M1", f"{base}-{self.rng.randrange(10**9, 2 * 10**9)}"],
        }[kind]
        tag = self.rng.choice(options)
        return tag if len(tag) <= 20 and tag not in self.used else fresh


def check_one(
    n: int,
    script: list[str],
    tag: str | None,
    intent: tuple[str, int],
    result: OrderResult | NeoError,
    before: dict[str, dict[str, Any]],
    emulator: Emulator,
    tags: Tags,
) -> str:
    """Check one call's invariants; return the outcome's name for the tally."""
    after = {str(row["nOrdNo"]): row for row in emulator.orders}
    added = [row for no, row in after.items() if no not in before]
    where = (n, script, tag, intent, repr(result))
    assert len(added) <= 1, where
    assert all(count <= 1 for count in emulator.counters.orders_by_tag.values()), where
    if isinstance(result, OrderOutcomeUnknown):
        assert result.tag is not None
        assert tag is None or result.tag == tag, where
        if added:
            tags.used[result.tag] = intent
        return "unknown"
    if isinstance(result, NeoError):
        assert not added, where  # a definite "no" is never wrong
        return type(result).__name__
    row = after.get(result.order_id)
    assert row is not None, where  # a reported success is an order that exists
    assert row["GuiOrdId"] == result.tag, where
    assert tag is None or result.tag == tag, where
    assert (row["trnsTp"], int(row["qty"])) == intent, where  # ... and it is this intent
    if added:
        assert str(added[0]["nOrdNo"]) == result.order_id, where
    else:  # the tag was used before, for this same intent: the earlier order came back
        assert tags.used.get(result.tag) == intent, where
    tags.used[result.tag] = intent
    return "placed"


class Sequence:
    """One drawn sequence: its faults, intent and tag, and the book before the call."""

    def __init__(self, n: int, tags: Tags, clock: StepClock, emulator: Emulator) -> None:
        clock.next_step()  # a relogin, if one is needed, gets a fresh TOTP step
        self.n, self.tags, self.emulator = n, tags, emulator
        self.script = [tags.rng.choice(FAULTS), tags.rng.choice(FAULTS)]
        self.intent = (tags.rng.choice("BS"), tags.rng.randint(1, 3))
        self.tag = tags.draw(n)
        self.order = order_of(self.tag, self.intent)
        self.before = {str(row["nOrdNo"]): row for row in emulator.orders}

    def check(self, result: OrderResult | NeoError) -> str:
        return check_one(
            self.n,
            self.script,
            self.tag,
            self.intent,
            result,
            self.before,
            self.emulator,
            self.tags,
        )


def order_of(tag: str | None, intent: tuple[str, int]) -> dict[str, Any]:
    side, quantity = intent
    return {
        "exchange_segment": "nse_cm",
        "product": "MIS",
        "price": "0",
        "order_type": "MKT",
        "quantity": quantity,
        "validity": "DAY",
        "trading_symbol": "ITBEES-EQ",
        "transaction_type": side,
        "tag": tag,
    }


def check_tally(outcomes: Counter[str], emulator: Emulator, *, count: int) -> None:
    # the draw exercised every branch: placed (some reconciled), unknowns, refusals
    assert outcomes["placed"] > count // 10, outcomes
    assert outcomes["unknown"] > count // 3, outcomes
    assert outcomes["RateLimitError"] > count // 25, outcomes
    assert outcomes["BusinessError"] > 0, outcomes  # reused tags, with and without expiry
    assert outcomes["SessionExpiredError"] > 0, outcomes
    assert emulator.counters.logins > count // 10  # replays after (real and lying) expiries


@pytest.fixture
def emulator(clock: StepClock) -> Emulator:
    emulator = Emulator(clock=clock)
    emulator.configure(rate_limit=None)
    return emulator


@pytest.mark.timeout(120)
async def test_500_fault_sequences_never_duplicate_or_lie(
    clock: StepClock, emulator: Emulator, network: httpx.AsyncBaseTransport, backend: str
) -> None:
    count = 500
    transport = FaultyOrders(emulator, network, socket_faults=backend == "aiohttp")
    outcomes: Counter[str] = Counter()
    async with AsyncNeoClient(
        credentials_of(emulator),
        login_url=emulator.login_url,
        transport=transport,
        rate_limit=None,
        clock=clock,
        login_cooldown=0.0,
    ) as neo:
        await neo.login()

        async def skip_ahead(seconds: float) -> None:  # a TOTP-step wait moves the clock
            clock.advance(seconds)

        neo._sleep = skip_ahead
        tags = Tags(random.Random(20261201))
        for n in range(count):
            sequence = Sequence(n, tags, clock, emulator)
            transport.script = list(sequence.script)
            result: OrderResult | NeoError
            try:
                result = await neo.place_order(**sequence.order)
            except NeoError as exc:
                result = exc
            outcomes[sequence.check(result)] += 1
    check_tally(outcomes, emulator, count=count)


@pytest.mark.timeout(120)
def test_300_fault_sequences_never_duplicate_or_lie_sync(clock: StepClock) -> None:
    count = 300
    emulator = Emulator(clock=clock)
    emulator.configure(rate_limit=None)
    transport = SyncFaultyOrders(emulator, clock)
    outcomes: Counter[str] = Counter()
    with (
        EmulatorServer(emulator) as server,
        NeoClient(
            credentials_of(emulator),
            login_url=server.login_url,
            transport=transport,
            rate_limit=None,
            clock=clock,
            login_cooldown=0.0,
        ) as neo,
    ):
        neo.login()
        tags = Tags(random.Random(20261202))
        for n in range(count):
            sequence = Sequence(n, tags, clock, emulator)
            transport.script = list(sequence.script)
            result: OrderResult | NeoError
            try:
                result = neo.place_order(**sequence.order)
            except NeoError as exc:
                result = exc
            outcomes[sequence.check(result)] += 1
    check_tally(outcomes, emulator, count=count)
