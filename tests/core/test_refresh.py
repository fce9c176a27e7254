"""Proactive refresh, driven through the pure schedule and the session machine.

Scenarios 15 (failure while the token is valid), 35 (no refresh loop), 36 (skew), 38 (no
expiry: off) and 39 (coalesced with a reactive relogin), with time as an argument.
"""

from __future__ import annotations

import pytest

from aioneo import FatalLoginError, TransientLoginError
from aioneo._core._refresh import (
    RETRY_BASE,
    RETRY_CAP,
    RefreshSchedule,
    parse_http_date,
    refresh_time,
    retry_delay,
)
from aioneo._core._session import Action, Session, SessionMachine, new_session

from .test_session import jwt


def test_refresh_time_is_ahead_of_expiry_at_most_half_the_lifetime() -> None:
    assert refresh_time(0.0, 3600.0, ahead=300.0, jitter=0.0) == 3300.0
    assert refresh_time(0.0, 3600.0, ahead=300.0, jitter=1.0) == 3375.0  # lead * 0.75
    assert refresh_time(0.0, 120.0, ahead=300.0, jitter=0.0) == 60.0  # half of 2 minutes
    assert refresh_time(0.0, None, ahead=300.0, jitter=0.0) is None  # scenario 38


def test_jitter_spreads_refreshes_within_a_quarter_of_the_lead() -> None:
    times = {refresh_time(0.0, 3600.0, ahead=400.0, jitter=j / 10) for j in range(10)}
    assert len(times) == 10
    assert min(times) >= 3200.0
    assert max(times) <= 3300.0


def test_retry_delay_doubles_up_to_the_cap() -> None:
    delays = [retry_delay(n, 1.0) for n in range(1, 10)]
    assert delays[0] == RETRY_BASE
    assert delays[1] == 2 * RETRY_BASE
    assert delays[-1] == RETRY_CAP
    assert retry_delay(1, 0.0) == 0.75 * RETRY_BASE


def test_schedule_never_refreshes_twice_within_the_base_interval() -> None:
    # scenario 35: the server re-issued a token already inside its refresh window
    schedule = RefreshSchedule(300.0)
    schedule.on_session(0.0, 3600.0, 0.0, 0.0)
    assert not schedule.due(3299.0)
    assert schedule.due(3300.0)
    schedule.on_attempt(3300.0)
    assert not schedule.due(3300.0)
    # a token valid for 20 s more came back: half its lifetime would be 3311
    schedule.on_session(3301.0, 3321.0, 3301.0, 0.0)
    assert not schedule.due(3311.0)
    assert not schedule.due(3300.0 + RETRY_BASE - 0.1)
    assert schedule.due(3300.0 + RETRY_BASE)


def test_off_switch_and_bad_values() -> None:
    schedule = RefreshSchedule(None)
    schedule.on_session(0.0, 60.0, 0.0, 0.0)
    assert not schedule.due(1e9)
    for bad in (0, -1.0, float("nan"), True, "300"):
        with pytest.raises(ValueError, match="refresh_ahead"):
            RefreshSchedule(bad)  # type: ignore[arg-type]


def test_parse_http_date() -> None:
    assert parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT") == 784111777.0
    assert parse_http_date(None) is None
    assert parse_http_date("") is None
    assert parse_http_date("yesterday") is None
    assert parse_http_date("Sun, 06 Nov 1994 08:49:37 -0000") is None  # no zone: not HTTP


def test_new_session_uses_the_server_date_when_the_token_has_no_iat() -> None:
    # exp = server time + 3600; the local clock runs 10 minutes fast (scenario 36)
    server_now = 1_000_000.0
    local_now = server_now + 600.0
    token = jwt(exp=server_now + 3600)
    skewed = new_session(token=token, sid="s", base_url="http://gw", epoch=1, now=local_now)
    assert skewed.expires_at == pytest.approx(server_now + 3600)  # 50 minutes left: wrong
    corrected = new_session(
        token=token, sid="s", base_url="http://gw", epoch=1, now=local_now, server_date=server_now
    )
    assert corrected.expires_at == pytest.approx(local_now + 3600)  # a full hour
    assert corrected.issued_at == local_now


# -- through the machine ------------------------------------------------------------------


def session(machine: SessionMachine, now: float, lifetime: float | None = 3600.0) -> Session:
    claims = {"iat": now} if lifetime is None else {"iat": now, "exp": now + lifetime}
    return new_session(
        token=jwt(**claims), sid="s", base_url="http://gw", epoch=machine.next_epoch(), now=now
    )


def logged_in(lifetime: float | None = 3600.0, **options: object) -> SessionMachine:
    machine = SessionMachine(refresh_ahead=300.0, **options)  # type: ignore[arg-type]
    decision = machine.acquire(0.0)
    assert decision.ticket is not None
    machine.login_succeeded(decision.ticket, session(machine, 0.0, lifetime), jitter=0.0)
    return machine


def test_due_session_is_sent_and_one_refresh_starts() -> None:
    machine = logged_in()
    assert machine.acquire(3299.0).ticket is None
    decision = machine.acquire(3300.0)
    assert decision.action is Action.SEND
    assert decision.session is machine.session
    ticket = decision.ticket
    assert ticket is not None
    assert ticket.proactive
    # while it runs, calls keep the current session and start nothing
    for t in (3301.0, 3400.0):
        follow = machine.acquire(t)
        assert (follow.action, follow.ticket) == (Action.SEND, None)
    machine.login_succeeded(ticket, session(machine, 3500.0), jitter=0.0)
    assert machine.epoch == 2
    assert machine.stats.refreshes == 1
    assert machine.stats.logins == 2
    assert machine.stats.coalesced == 0


def test_no_expiry_means_no_refresh() -> None:
    machine = logged_in(lifetime=None)
    assert machine.refresh.due_at is None
    assert machine.acquire(1e9).ticket is None


def test_reactive_expiry_during_a_refresh_waits_for_it() -> None:
    # scenario 39
    machine = logged_in()
    ticket = machine.acquire(3300.0).ticket
    assert ticket is not None
    decision = machine.on_expired(1, 3301.0)
    assert decision.action is Action.WAIT
    assert decision.ticket is ticket
    assert machine.acquire(3302.0).action is Action.WAIT  # the session is now known dead
    machine.login_succeeded(ticket, session(machine, 3303.0), jitter=0.0)
    assert machine.stats.login_attempts == 2
    assert machine.stats.relogins == 0


def test_failed_refresh_while_valid_is_soft_and_backs_off() -> None:
    # scenario 15
    machine = logged_in(login_cooldown=10.0)
    ticket = machine.acquire(3300.0).ticket
    assert ticket is not None
    soft = machine.login_failed(ticket, TransientLoginError("503"), 3301.0, 1.0)
    assert soft
    assert machine.cooldown_until is None  # callers are not refused
    assert machine.acquire(3302.0).action is Action.SEND
    assert machine.acquire(3301.0 + RETRY_BASE - 1).ticket is None  # not on every call
    retry = machine.acquire(3301.0 + RETRY_BASE)
    assert retry.ticket is not None
    assert machine.login_failed(retry.ticket, TransientLoginError("503"), 3340.0, 1.0)
    assert machine.refresh.failures == 2
    assert machine.refresh.due_at == 3340.0 + 2 * RETRY_BASE
    assert machine.stats.login_failures == 2


def test_failed_refresh_after_the_session_died_is_a_normal_failure() -> None:
    machine = logged_in(login_cooldown=10.0)
    ticket = machine.acquire(3300.0).ticket
    assert ticket is not None
    assert machine.on_expired(1, 3301.0).action is Action.WAIT
    soft = machine.login_failed(ticket, TransientLoginError("503"), 3302.0, 0.0)
    assert not soft
    assert machine.cooldown_until == 3312.0
    assert machine.acquire(3303.0).action is Action.FAIL


def test_fatal_refresh_failure_is_cached_but_the_session_is_kept() -> None:
    machine = logged_in()
    ticket = machine.acquire(3300.0).ticket
    assert ticket is not None
    assert machine.login_failed(ticket, FatalLoginError("wrong MPIN"), 3301.0, 0.0)
    assert machine.acquire(3302.0).action is Action.SEND
    assert machine.acquire(3599.0).action is Action.SEND  # no further refresh, ever
    assert machine.acquire(3599.0).ticket is None
    assert machine.acquire(3600.0).action is Action.FAIL  # once expired, the fatal error


def test_logout_clears_the_schedule() -> None:
    machine = logged_in()
    machine.logged_out()
    assert machine.refresh.due_at is None
