"""StepClock: starts inside a chosen TOTP step and jumps to the next one."""

from __future__ import annotations

import pytest

from aioneo.testing import StepClock


def test_starts_into_a_future_step() -> None:
    clock = StepClock(into_step=7.0, steps_ahead=2)
    assert 7.0 <= clock() % 30 < 8.0


def test_next_step_moves_exactly_one_step() -> None:
    clock = StepClock(into_step=5.0)
    step = int(clock() // 30)
    clock.next_step(into_step=10.0)
    assert int(clock() // 30) == step + 1
    assert 10.0 <= clock() % 30 < 11.0


def test_advance() -> None:
    clock = StepClock()
    before = clock()
    clock.advance(3600)
    assert clock() - before >= 3600


@pytest.mark.parametrize("into", [-1.0, 30.0])
def test_into_step_must_lie_inside_a_step(into: float) -> None:
    with pytest.raises(ValueError, match="into_step"):
        StepClock(into_step=into)
