"""The session state machine, driven directly: no network, no loop, no sleep."""

from __future__ import annotations

import base64
import json

import pytest

from aioneo import ClientClosedError, FatalLoginError, TransientLoginError
from aioneo._core._session import (
    Action,
    Session,
    SessionMachine,
    cooldown_seconds,
    new_session,
)


def jwt(**claims: object) -> str:
    def enc(obj: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{enc({'alg': 'RS256'})}.{enc(claims)}.sig"


def login(machine: SessionMachine, now: float = 0.0) -> Session:
    decision = machine.acquire(now)
    assert decision.action is Action.LEAD
    assert decision.ticket is not None
    session = new_session(
        token=jwt(iat=now, exp=now + 3600),
        sid="sid",
        base_url="http://gw/",
        epoch=machine.next_epoch(),
        now=now,
    )
    machine.login_succeeded(decision.ticket, session)
    return session


def test_first_acquire_leads_then_sends() -> None:
    m = SessionMachine()
    session = login(m)
    assert session.epoch == 1
    assert session.base_url == "http://gw"
    decision = m.acquire(1.0)
    assert decision.action is Action.SEND
    assert decision.session is session
    assert m.stats.logins == 1
    assert m.stats.login_attempts == 1


def test_burst_on_expiry_gives_one_leader_and_waiters() -> None:
    m = SessionMachine()
    login(m)
    decisions = [m.on_expired(1, 10.0) for _ in range(100)]
    assert [d.action for d in decisions].count(Action.LEAD) == 1
    assert [d.action for d in decisions].count(Action.WAIT) == 99
    ticket = decisions[0].ticket
    assert all(d.ticket is ticket for d in decisions)
    # new requests during the login wait too (contract item 8)
    assert m.acquire(10.0).action is Action.WAIT
    assert m.stats.coalesced == 100
    assert m.stats.relogins == 1


def test_straggler_with_old_epoch_retries_without_login() -> None:
    m = SessionMachine()
    login(m)
    lead = m.on_expired(1, 5.0)
    assert lead.ticket is not None
    m.login_succeeded(
        lead.ticket, new_session(token="opaque", sid="s2", base_url="u", epoch=2, now=5)
    )
    straggler = m.on_expired(1, 6.0)
    assert straggler.action is Action.RETRY
    assert m.stats.stragglers == 1
    assert m.acquire(6.0).session is not None
    assert m.acquire(6.0).session.epoch == 2  # type: ignore[union-attr]
    assert m.stats.login_attempts == 2


def test_stale_ticket_is_not_reused_for_the_next_expiry() -> None:
    m = SessionMachine()
    login(m)
    first = m.on_expired(1, 5.0).ticket
    assert first is not None
    m.login_succeeded(first, new_session(token="x", sid="s", base_url="u", epoch=2, now=5))
    second = m.on_expired(2, 3605.0)
    assert second.action is Action.LEAD
    assert second.ticket is not first
    assert first.done
    assert not second.ticket.done


def test_known_dead_session_is_not_sent_again() -> None:
    m = SessionMachine()
    login(m)
    lead = m.on_expired(1, 5.0)
    assert lead.ticket is not None
    m.login_failed(lead.ticket, TransientLoginError("login timed out"), now=5.0, jitter=0.0)
    # the old session is dead: acquire must not SEND it, and the cooldown refuses a login
    decision = m.acquire(6.0)
    assert decision.action is Action.FAIL
    assert isinstance(decision.error, TransientLoginError)


def test_fatal_failure_is_cached_and_shared_until_reset() -> None:
    m = SessionMachine()
    lead = m.acquire(0.0)
    assert lead.ticket is not None
    waiter = m.acquire(0.0)
    error = FatalLoginError("Invalid MPIN", st_code=10002)
    m.login_failed(lead.ticket, error, now=0.0, jitter=0.5)
    assert waiter.ticket is lead.ticket
    assert lead.ticket.error is error
    for now in (1.0, 100.0, 100_000.0):
        decision = m.acquire(now)
        assert decision.action is Action.FAIL
        assert decision.error is error
    assert m.stats.login_attempts == 1
    explicit = m.login_decision()
    assert explicit.action is Action.LEAD
    assert explicit.ticket is not None
    assert explicit.ticket.explicit


def test_transient_failure_sets_jittered_cooldown_then_allows_one_login() -> None:
    m = SessionMachine(login_cooldown=4.0)
    lead = m.acquire(100.0)
    assert lead.ticket is not None
    m.login_failed(lead.ticket, TransientLoginError("503", retry_after=None), now=100.0, jitter=0.5)
    assert m.cooldown_until == pytest.approx(100.0 + 4.0 * 1.25)
    for now in (100.1, 104.9):
        assert m.acquire(now).action is Action.FAIL
    assert m.stats.cooldown_hits == 2
    after = m.acquire(105.1)
    assert after.action is Action.LEAD
    assert m.acquire(105.1).action is Action.WAIT


def test_cooldown_honours_retry_after() -> None:
    assert cooldown_seconds(2.0, 10.0, 0.0) == 10.0
    assert cooldown_seconds(2.0, None, 0.0) == 2.0
    assert cooldown_seconds(2.0, 1.0, 0.999) == pytest.approx(2.0 * 1.4995)
    assert cooldown_seconds(2.0, None, 5.0) == 3.0  # jitter is clamped


def test_success_after_failure_clears_cached_error() -> None:
    m = SessionMachine(login_cooldown=1.0)
    lead = m.acquire(0.0)
    assert lead.ticket is not None
    m.login_failed(lead.ticket, TransientLoginError("x"), now=0.0, jitter=0.0)
    lead2 = m.acquire(2.0)
    assert lead2.ticket is not None
    m.login_succeeded(lead2.ticket, new_session(token="t", sid="s", base_url="u", epoch=1, now=2))
    assert m.cooldown_error is None
    assert m.fatal_error is None
    assert m.acquire(2.5).action is Action.SEND


def test_expired_token_at_login_is_a_failure_and_keeps_old_session() -> None:
    with pytest.raises(TransientLoginError, match="already expired"):
        new_session(token=jwt(iat=100, exp=100), sid="s", base_url="u", epoch=2, now=100)
    with pytest.raises(TransientLoginError, match="unusable token"):
        new_session(token="a.!!!.c", sid="s", base_url="u", epoch=2, now=100)
    with pytest.raises(TransientLoginError):
        new_session(token="", sid="s", base_url="u", epoch=2, now=100)


def test_expiry_uses_token_lifetime_not_raw_exp() -> None:
    # local clock 10 minutes fast: the token (iat/exp in server time) is still good for an hour
    server_now = 1_000_000.0
    local_now = server_now + 600
    s = new_session(
        token=jwt(iat=server_now, exp=server_now + 3600),
        sid="s",
        base_url="u",
        epoch=1,
        now=local_now,
    )
    assert s.expires_at == pytest.approx(local_now + 3600)
    assert not s.expired(local_now + 3599)
    assert s.expired(local_now + 3600)


def test_token_without_expiry_never_expires_locally() -> None:
    s = new_session(token=jwt(sub="x"), sid="s", base_url="u", epoch=1, now=0)
    assert s.expires_at is None
    assert not s.expired(10**12)


def test_wall_clock_jump_past_expiry_forces_login_on_first_use() -> None:
    m = SessionMachine()
    login(m, now=0.0)
    assert m.acquire(3599.0).action is Action.SEND
    assert m.acquire(3600.0 + 3 * 3600).action is Action.LEAD


def test_totp_steps_are_never_reused() -> None:
    m = SessionMachine()
    plan = m.plan_totp(30 * 10 + 1)
    m.totp_used(plan.step)
    again = m.plan_totp(30 * 10 + 2)
    assert again.step == plan.step + 1
    assert again.wait == pytest.approx(28.0)


def test_closed_machine_refuses_everything() -> None:
    m = SessionMachine()
    lead = m.acquire(0.0)
    assert m.close() is lead.ticket
    assert isinstance(m.acquire(0.0).error, ClientClosedError)
    assert isinstance(m.on_expired(0, 0.0).error, ClientClosedError)
    assert isinstance(m.login_decision().error, ClientClosedError)


def test_publishing_for_a_stale_ticket_is_a_bug() -> None:
    m = SessionMachine()
    lead = m.acquire(0.0)
    assert lead.ticket is not None
    m.login_failed(lead.ticket, FatalLoginError("x"), now=0, jitter=0)
    with pytest.raises(RuntimeError):
        m.login_failed(lead.ticket, FatalLoginError("x"), now=0, jitter=0)


def test_abandon_login_forgets_in_flight_login_only() -> None:
    m = SessionMachine()
    session = login(m)
    m.on_expired(1, 1.0)
    assert m.ticket is not None
    m.abandon_login()
    assert m.ticket is None
    assert m.session is session


def test_session_repr_hides_secrets() -> None:
    s = Session(token="SECRET-TOKEN", sid="SECRET-SID", base_url="u", epoch=1)
    assert "SECRET" not in repr(s)


def test_negative_cooldown_refused() -> None:
    with pytest.raises(ValueError, match="login_cooldown"):
        SessionMachine(login_cooldown=-1)


def test_consecutive_transient_failures_double_the_cooldown() -> None:
    """Review of issue 10: a login host that keeps failing (a validate step that keeps
    refusing the view token) is tried ever more rarely, never once per base cooldown."""
    from aioneo._core._session import MAX_LOGIN_COOLDOWN, SessionMachine

    machine = SessionMachine(login_cooldown=5.0)
    now, waits = 0.0, []
    for _ in range(9):
        decision = machine.acquire(now)
        assert decision.ticket is not None
        machine.login_failed(decision.ticket, TransientLoginError("down"), now, 0.0)
        assert machine.cooldown_until is not None
        waits.append(machine.cooldown_until - now)
        now = machine.cooldown_until
    assert waits[:4] == [5.0, 10.0, 20.0, 40.0]
    assert waits[-1] == MAX_LOGIN_COOLDOWN
    machine.reset_failures()  # a success, new credentials or an explicit login()
    decision = machine.acquire(now)
    assert decision.ticket is not None
    machine.login_failed(decision.ticket, TransientLoginError("down"), now, 0.0)
    assert machine.cooldown_until == now + 5.0
