"""The relogin breaker, and the session machine refusing a ping-pong (scenario 40)."""

from __future__ import annotations

import copy

import pytest

from aioneo import ReloginLoopError
from aioneo._core._breaker import ReloginBreaker
from aioneo._core._session import Action, SessionMachine, new_session

from .test_session import jwt


def test_allows_max_relogins_per_window_then_refuses() -> None:
    breaker = ReloginBreaker(3, 60.0)
    for t in (0.0, 10.0, 20.0):
        assert breaker.refusal(t) is None
        breaker.record(t)
    error = breaker.refusal(25.0)
    assert isinstance(error, ReloginLoopError)
    assert error.retry_in == pytest.approx(35.0)  # until the first leaves the window
    assert "3 times within 60 s" in str(error)
    assert "session store" in str(error)
    assert breaker.refusal(30.0) is error  # one error object while open
    assert breaker.refusals == 2
    assert breaker.refusal(60.0) is None  # t=0 left the window
    assert breaker.recent(60.0) == 2


def test_retry_in_is_the_time_left_at_each_refusal() -> None:
    """Issue 10 item 9: ``retry_in`` was frozen at the moment the breaker opened."""
    breaker = ReloginBreaker(3, 120.0)
    for t in (0.0, 30.0, 60.0):
        breaker.record(t)
    first = breaker.refusal(60.0)
    assert first is not None
    assert first.retry_in == pytest.approx(60.0)
    raised_early = copy.copy(first)  # what a shell raises: a copy
    later = breaker.refusal(100.0)
    assert later is first  # the same opening
    assert later.retry_in == pytest.approx(20.0)
    assert "resume in 20 s" in str(later)
    assert raised_early.retry_in == pytest.approx(60.0)  # a raised copy keeps its value


def test_reopens_with_a_new_error() -> None:
    breaker = ReloginBreaker(1, 10.0)
    breaker.record(0.0)
    first = breaker.refusal(1.0)
    assert first is not None
    assert breaker.refusal(10.0) is None
    breaker.record(10.0)
    second = breaker.refusal(11.0)
    assert second is not None
    assert second is not first


@pytest.mark.parametrize(
    ("limit", "window", "field"),
    [(0, 1.0, "max_relogins"), (True, 1.0, "max_relogins"), (1, 0.0, "relogin_window")],
)
def test_bad_settings_name_the_field(limit: int, window: float, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        ReloginBreaker(limit, window)


def relogin(machine: SessionMachine, now: float) -> Action:
    """The current session is declared dead at ``now``; log in again if allowed."""
    decision = machine.on_expired(machine.epoch, now)
    if decision.action is not Action.LEAD:
        return decision.action
    assert decision.ticket is not None
    session = new_session(
        token=jwt(iat=now, exp=now + 3600),
        sid="s",
        base_url="http://gw",
        epoch=machine.next_epoch(),
        now=now,
    )
    machine.login_succeeded(decision.ticket, session)
    return Action.LEAD


def test_machine_refuses_the_relogin_after_the_limit_and_says_why() -> None:
    machine = SessionMachine(max_relogins=3, relogin_window=100.0)
    first = machine.acquire(0.0)
    assert first.ticket is not None
    machine.login_succeeded(
        first.ticket,
        new_session(token=jwt(iat=0, exp=3600), sid="s", base_url="http://gw", epoch=1, now=0),
    )
    assert [relogin(machine, t) for t in (30.0, 60.0, 90.0)] == [Action.LEAD] * 3
    assert relogin(machine, 95.0) is Action.FAIL
    decision = machine.acquire(96.0)  # the session is dead: calls fail fast with the error
    assert decision.action is Action.FAIL
    assert isinstance(decision.error, ReloginLoopError)
    assert machine.stats.loop_refusals == 2
    assert machine.stats.login_attempts == 4  # the first login and three relogins
    # the user may still log in explicitly
    explicit = machine.login_decision()
    assert explicit.action is Action.LEAD
    # after the window, automatic relogins resume
    assert explicit.ticket is not None
    machine.login_failed(explicit.ticket, ReloginLoopError("x"), 97.0, 0.0)
    assert machine.acquire(131.0).action is Action.LEAD


def test_first_login_and_explicit_logins_are_not_counted() -> None:
    machine = SessionMachine(max_relogins=1, relogin_window=100.0)
    for t in (0.0, 1.0, 2.0):
        decision = machine.login_decision()
        assert decision.ticket is not None
        session = new_session(
            token=jwt(iat=t, exp=t + 60),
            sid="s",
            base_url="http://gw",
            epoch=machine.next_epoch(),
            now=t,
        )
        machine.login_succeeded(decision.ticket, session)
    assert machine.breaker is not None
    assert machine.breaker.recent(3.0) == 0
    assert relogin(machine, 4.0) is Action.LEAD
    assert relogin(machine, 5.0) is Action.FAIL


def test_adopted_sessions_are_not_counted() -> None:
    machine = SessionMachine(max_relogins=1, relogin_window=100.0)
    for t in (1.0, 2.0, 3.0):
        decision = machine.on_expired(machine.epoch, t)
        assert decision.action is Action.LEAD
        assert decision.ticket is not None
        session = new_session(
            token=jwt(iat=t, exp=t + 60),
            sid="s",
            base_url="http://gw",
            epoch=machine.next_epoch(),
            now=t,
        )
        machine.login_succeeded(decision.ticket, session, adopted=True)
    assert machine.stats.adopted == 3
    assert machine.stats.logins == 0
    assert machine.stats.login_attempts == 0
    assert relogin(machine, 4.0) is Action.LEAD


def test_off_by_default_in_the_machine() -> None:
    machine = SessionMachine()
    assert machine.breaker is None
    machine.acquire(0.0)
    assert all(relogin(machine, float(t)) is not Action.FAIL for t in range(1, 3))
