"""What design.md claims about the seed's lock-and-event design, shown against the emulator.

Each ``test_seed_shows_...`` test drives ``benchmarks/baselines.py``'s ``SeedClient`` (the
design of ``seed/thread-safe-reauth.md``, reimplemented faithfully) through one scenario on
a loopback emulator and asserts the seed's failure with counts; its ``..._neo_client``
twin drives :class:`aioneo.NeoClient` through the same scenario. Recovery times are
recorded as test properties (``--junitxml``) and printed (``-s``), not asserted.

The emulator accepts a TOTP step twice here (``totp_replay_rejection=False``), so the
seed's redundant logins succeed and can be counted; with replay rejection on, all but the
first login of a step would be refused, which is worse for the seed, not better.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from aioneo import Credentials, NeoClient, SessionExpiredError, TransientLoginError
from aioneo.testing import Emulator, EmulatorConfig, EmulatorServer
from benchmarks import baselines
from benchmarks.baselines import NaiveClient, SeedClient

from .client.conftest import StepClock
from .client.sync_support import Threads, wait_for

WAIT_TIMEOUT = 1.0  # the seed's 30 s, shortened so the demonstration takes a second


@pytest.fixture
def clock() -> StepClock:
    return StepClock()


@pytest.fixture
def emulator(clock: StepClock) -> Emulator:
    return Emulator(EmulatorConfig(rate_limit=None, totp_replay_rejection=False), clock=clock)


@pytest.fixture
def server(emulator: Emulator) -> Iterator[EmulatorServer]:
    with EmulatorServer(emulator) as running:
        yield running


@pytest.fixture
def credentials(emulator: Emulator) -> Credentials:
    return Credentials(**emulator.credentials.as_dict())


@pytest.fixture
def make_seed(
    server: EmulatorServer, credentials: Credentials, clock: StepClock
) -> Iterator[Callable[..., SeedClient]]:
    made: list[SeedClient] = []

    def make(**options: Any) -> SeedClient:
        options.setdefault("wait_timeout", WAIT_TIMEOUT)
        client = SeedClient(credentials, login_url=server.url, clock=clock, **options)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()
        with baselines._reauth_locks_lock:  # the seed never forgets an id(auth): we do
            baselines._reauth_locks.pop(id(client.auth), None)
            baselines._reauth_in_progress.pop(id(client.auth), None)


@pytest.fixture
def seed(make_seed: Callable[..., SeedClient]) -> SeedClient:
    return make_seed()


@pytest.fixture
def make_neo(
    server: EmulatorServer, credentials: Credentials, clock: StepClock
) -> Iterator[Callable[..., NeoClient]]:
    made: list[NeoClient] = []

    def make(**options: Any) -> NeoClient:
        options.setdefault("rate_limit", None)
        client = NeoClient(credentials, login_url=server.url, clock=clock, **options)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def neo(make_neo: Callable[..., NeoClient]) -> NeoClient:
    return make_neo(max_connections=50)


def expire(emulator: Emulator, clock: StepClock) -> None:
    emulator.expire_sessions()
    clock.next_step()


def show(record_property: Callable[[str, object], None], **values: object) -> None:
    for name, value in values.items():
        record_property(name, value)
    print(" ".join(f"{k}={v}" for k, v in values.items()))


# -- (a) stragglers after the leader released the lock ----------------------------------


class Turnstile(httpx.BaseTransport):
    """A loopback transport that holds the next ``n`` trade-report requests before they are
    sent and lets them through on demand; everything else (retries too) passes."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport(
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=100)
        )
        self._cond = threading.Condition()
        self._to_hold = 0
        self._passes = 0
        self.held = 0

    def hold_next(self, n: int) -> None:
        with self._cond:
            self._to_hold += n

    def let_through(self, n: int) -> None:
        with self._cond:
            self._passes += n
            self._cond.notify_all()

    def until_held(self, n: int) -> None:
        with self._cond:
            assert self._cond.wait_for(lambda: self.held >= n, 5), f"{self.held} of {n} held"

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/trades"):
            with self._cond:
                if self._to_hold > 0:
                    self._to_hold -= 1
                    self.held += 1
                    self._cond.notify_all()
                    self._cond.wait_for(lambda: self._passes > 0)
                    self._passes -= 1
                    self.held -= 1
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


@pytest.fixture
def turnstile() -> Iterator[Turnstile]:
    gate = Turnstile()
    yield gate
    gate.let_through(1000)
    gate.close()


def stragglers_after_relogin(
    turnstile: Turnstile,
    emulator: Emulator,
    clock: StepClock,
    straggle: Callable[[], Any],
    lead: Callable[[], Any],
    n: int,
    *,
    one_by_one: bool,
) -> list[Any]:
    """``n`` calls sent with the token of before the expiry, answered after the relogin
    finished: all together, or one by one (each after the previous one's call returned)."""
    turnstile.hold_next(n)
    stragglers = Threads(n, straggle, name="straggler")
    turnstile.until_held(n)
    expire(emulator, clock)
    lead()  # "session expired", one relogin, retried: done
    if one_by_one:
        for k in range(n):
            turnstile.let_through(1)
            wait_for(lambda k=k: stragglers.finished == k + 1, what=f"straggler {k}")
    else:
        turnstile.let_through(n)
    return stragglers.join(10)


ARRIVALS = [(1, False), (20, False), (5, True)]
ARRIVAL_IDS = ["1-straggler", "20-together", "5-one-by-one"]


@pytest.mark.timeout(30)
@pytest.mark.parametrize(("stragglers", "one_by_one"), ARRIVALS, ids=ARRIVAL_IDS)
def test_seed_shows_redundant_logins_from_stragglers(
    make_seed: Callable[..., SeedClient],
    turnstile: Turnstile,
    emulator: Emulator,
    clock: StepClock,
    stragglers: int,
    one_by_one: bool,
    record_property: Callable[[str, object], None],
) -> None:
    seed = make_seed(transport=turnstile)
    seed.login()
    before = emulator.counters.logins
    results = stragglers_after_relogin(
        turnstile,
        emulator,
        clock,
        seed.trade_report,
        seed.positions,
        stragglers,
        one_by_one=one_by_one,
    )
    assert all(isinstance(r, list) for r in results)
    logins = emulator.counters.logins - before  # logins for one expiry event
    show(record_property, stragglers=stragglers, seed_logins_per_expiry=logins)
    if stragglers == 1 or one_by_one:
        assert logins == stragglers + 1  # the leader's, and one per straggler
    else:
        assert 2 <= logins <= stragglers + 1  # at least one redundant login
    assert seed.stats.relogins - 1 == logins


@pytest.mark.timeout(30)
@pytest.mark.parametrize(("stragglers", "one_by_one"), ARRIVALS, ids=ARRIVAL_IDS)
def test_stragglers_make_no_login_with_neo_client(
    make_neo: Callable[..., NeoClient],
    turnstile: Turnstile,
    emulator: Emulator,
    clock: StepClock,
    stragglers: int,
    one_by_one: bool,
    record_property: Callable[[str, object], None],
) -> None:
    neo = make_neo(transport=turnstile, max_connections=50)
    neo.login()
    before = emulator.counters.logins
    results = stragglers_after_relogin(
        turnstile,
        emulator,
        clock,
        neo.trade_report,
        neo.positions,
        stragglers,
        one_by_one=one_by_one,
    )
    assert all(isinstance(r, list) for r in results)
    logins = emulator.counters.logins - before
    show(record_property, stragglers=stragglers, neo_logins_per_expiry=logins)
    assert logins == 1
    assert neo.stats.stragglers == stragglers


# -- (b) a failed login: waiters sit out the timeout, then each logs in -----------------


@pytest.mark.timeout(30)
def test_seed_shows_waiters_sitting_out_the_timeout_after_a_failed_login(
    seed: SeedClient,
    emulator: Emulator,
    clock: StepClock,
    record_property: Callable[[str, object], None],
) -> None:
    n = 8
    seed.login()
    expire(emulator, clock)
    attempts, logins = emulator.counters.login_attempts, emulator.counters.logins
    hold = emulator.hold("login")
    calls = Threads(n, seed.positions)
    assert hold.wait_until_waiting(1, timeout=5)  # the leader's login is on the wire
    wait_for(lambda: seed.stats.waiting == n - 1, what="7 threads waiting on the event")
    emulator.inject_fault("login", "http_503_empty")  # the leader's login fails
    started = time.monotonic()
    hold.release()
    results = calls.join(10)
    elapsed = time.monotonic() - started
    failed = [r for r in results if isinstance(r, BaseException)]
    assert len(failed) == 1  # the leader's own call
    assert isinstance(failed[0], SessionExpiredError)
    stats = seed.stats
    assert stats.wait_timeouts == n - 1  # every waiter sat out the whole wait ...
    assert stats.waits == n - 1
    # ... and then logged in by itself: one failed login plus one per waiter
    assert emulator.counters.login_attempts - attempts == n
    assert emulator.counters.logins - logins == n - 1
    show(
        record_property,
        waiters=n - 1,
        seed_login_attempts=emulator.counters.login_attempts - attempts,
        seed_wait_timeouts=stats.wait_timeouts,
        seed_seconds_until_all_answered=round(elapsed, 3),
        seed_wait_timeout=WAIT_TIMEOUT,
    )


@pytest.mark.timeout(30)
def test_failed_login_reaches_every_waiter_at_once_with_neo_client(
    neo: NeoClient,
    emulator: Emulator,
    clock: StepClock,
    record_property: Callable[[str, object], None],
) -> None:
    n = 8
    neo.login()
    expire(emulator, clock)
    attempts = emulator.counters.login_attempts
    hold = emulator.hold("login")
    calls = Threads(n, neo.positions)
    assert hold.wait_until_waiting(1, timeout=5)
    wait_for(lambda: neo.stats.coalesced == n - 1, what="7 threads waiting for the login")
    emulator.inject_fault("login", "http_503_empty")
    started = time.monotonic()
    hold.release()
    results = calls.join(5)
    elapsed = time.monotonic() - started
    assert all(isinstance(r, TransientLoginError) for r in results)
    assert emulator.counters.login_attempts - attempts == 1
    show(
        record_property,
        waiters=n - 1,
        neo_login_attempts=emulator.counters.login_attempts - attempts,
        neo_seconds_until_all_answered=round(elapsed, 3),
    )


# -- (c) a stale event: a waiter returns at once and retries with the dead token --------


class PausingLock:
    """A ``threading.Lock`` whose next successful acquire stops its thread until resumed.

    Stands in for the scheduler switching threads right after the leader's non-blocking
    acquire and before its ``reauth_event.clear()``: the seed's code is not changed.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.paused = threading.Event()
        self.resume = threading.Event()
        self._armed = True

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        got = self._lock.acquire(blocking, timeout)
        if got and self._armed:
            self._armed = False
            self.paused.set()
            self.resume.wait(10)
        return got

    def release(self) -> None:
        self._lock.release()


def dead_token_requests(emulator: Emulator, token: str, since: int) -> list[int]:
    """Statuses of the requests sent with ``token`` after request number ``since``."""
    return [r.status for r in emulator.requests[since:] if r.headers.get("auth") == token]


@pytest.mark.timeout(30)
def test_seed_shows_a_stale_event_sends_a_dead_token(
    seed: SeedClient, emulator: Emulator, clock: StepClock
) -> None:
    seed.login()
    expire(emulator, clock)
    seed.positions()  # relogin #1: the event is set, and stays set
    assert baselines._get_reauth_event(seed.auth).is_set()
    expire(emulator, clock)
    assert seed.auth.session is not None
    dead = seed.auth.session.token
    since = len(emulator.requests)
    pausing = PausingLock()
    with baselines._reauth_locks_lock:
        baselines._reauth_locks[id(seed.auth)] = pausing  # type: ignore[assignment]
    leader = Threads(1, seed.positions)
    assert pausing.paused.wait(5)  # the leader holds the lock, the event is still set
    with pytest.raises(SessionExpiredError):
        seed.positions()  # a waiter: returns at once, retries with the dead token
    pausing.resume.set()
    assert isinstance(leader.join(5)[0], list)
    stats = seed.stats
    assert stats.stale_event_waits == 1
    assert stats.retries_expired == 1
    # the leader's first try, the waiter's first try, and the waiter's retry
    assert dead_token_requests(emulator, dead, since) == [401, 401, 401]


@pytest.mark.timeout(30)
def test_a_call_during_a_login_waits_for_it_with_neo_client(
    neo: NeoClient, emulator: Emulator, clock: StepClock
) -> None:
    neo.login()
    expire(emulator, clock)
    neo.positions()  # relogin #1
    expire(emulator, clock)
    dead = [r.headers["auth"] for r in emulator.requests if r.endpoint == "positions"][-1]
    since = len(emulator.requests)
    hold = emulator.hold("validate")
    leader = Threads(1, neo.positions)
    assert hold.wait_until_waiting(1, timeout=5)
    waiter = Threads(1, neo.positions)
    wait_for(lambda: neo.stats.coalesced == 1, what="the caller to wait for the login")
    hold.release()
    assert isinstance(leader.join(5)[0], list)
    assert isinstance(waiter.join(5)[0], list)
    # only the leader's own first try carried the dead token; the waiter never sent it
    assert dead_token_requests(emulator, dead, since) == [401]


# -- the burst the seed was designed for, and the naive baseline -------------------------


@pytest.mark.timeout(30)
@pytest.mark.parametrize("design", ["seed", "naive", "neo"])
def test_a_burst_while_the_login_is_in_flight(
    design: str,
    make_seed: Callable[..., SeedClient],
    make_neo: Callable[..., NeoClient],
    server: EmulatorServer,
    credentials: Credentials,
    emulator: Emulator,
    clock: StepClock,
    record_property: Callable[[str, object], None],
) -> None:
    """Every caller sees "expired" while the first relogin is still on the wire: the seed's
    own test case. It makes one login, as the seed says; the naive client one per caller."""
    n = 10
    client: Any
    if design == "seed":
        client = make_seed()
    elif design == "naive":
        client = NaiveClient(credentials, login_url=server.url, clock=clock)
    else:
        client = make_neo(max_connections=50)

    def joined() -> bool:
        if design == "seed":  # one leader with its login held, n - 1 on the event
            return bool(client.stats.waiting == n - 1)
        if design == "naive":  # n logins held
            return hold.waiting == n
        return bool(client.stats.coalesced == n - 1)

    try:
        client.login()
        expire(emulator, clock)
        before = emulator.counters.logins
        hold = emulator.hold("login")
        calls = Threads(n, client.trade_report)
        wait_for(joined, what="every caller to join or start a login")
        hold.release()
        assert all(isinstance(r, list) for r in calls.join(10))
        logins = emulator.counters.logins - before
    finally:
        if design == "naive":
            client.close()
    show(record_property, design=design, callers=n, logins_per_expiry=logins)
    assert logins == (n if design == "naive" else 1)
