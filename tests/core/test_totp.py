"""TOTP step arithmetic: scenarios 31 and 32, without a clock."""

from __future__ import annotations

import pyotp
import pytest

from aioneo._core._totp import STEP, plan_code, step_of


def test_step_of() -> None:
    assert step_of(0) == 0
    assert step_of(29.999) == 0
    assert step_of(30) == 1
    assert step_of(1_700_000_015) == 1_700_000_015 // 30


def test_first_login_uses_current_step_without_waiting() -> None:
    plan = plan_code(1000 * STEP + 5, None)
    assert plan.step == 1000
    assert plan.wait == 0
    assert plan.at == 1000 * STEP


def test_second_login_in_same_step_waits_for_next_step() -> None:
    now = 1000 * STEP + 10.5
    plan = plan_code(now, last_used_step=1000)
    assert plan.step == 1001
    assert plan.wait == pytest.approx(19.5)
    assert "already used" in plan.reason


def test_wait_is_never_longer_than_one_step_plus_guard() -> None:
    for offset in (0.0, 0.1, 15.0, 28.9, 29.5, 29.99):
        now = 5000 * STEP + offset
        for last in (None, 4999, 5000):
            plan = plan_code(now, last)
            assert 0 <= plan.wait <= STEP + 1.0
            assert plan.step * STEP >= now - STEP  # never an old step
            if last is not None:
                assert plan.step > last


def test_boundary_guard_moves_to_next_step() -> None:
    now = 7 * STEP + 29.5  # half a second left in step 7
    plan = plan_code(now, None)
    assert plan.step == 8
    assert plan.wait == pytest.approx(0.5)
    # outside the guard window the current step is used
    assert plan_code(7 * STEP + 28.5, None).step == 7


def test_code_is_computed_from_the_planned_step() -> None:
    totp = pyotp.TOTP("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
    now = 42 * STEP + 29.9
    plan = plan_code(now, None)
    assert totp.at(plan.at) == totp.at((plan.step) * STEP + 1)
    assert totp.verify(totp.at(plan.at), for_time=plan.at)


def test_older_last_step_does_not_force_a_wait() -> None:
    plan = plan_code(100 * STEP + 3, last_used_step=98)
    assert (plan.step, plan.wait) == (100, 0)


def test_bad_guard_is_refused() -> None:
    with pytest.raises(ValueError, match="guard"):
        plan_code(0, None, guard=31)
