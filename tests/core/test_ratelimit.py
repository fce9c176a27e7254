"""The GCRA rate limiter, with time as an argument."""

from __future__ import annotations

import pytest

from aioneo._core._ratelimit import RateLimiter


def test_default_burst_is_half_a_second() -> None:
    limiter = RateLimiter(10)
    waits = [limiter.reserve(0.0) for _ in range(7)]
    assert waits[:5] == [0.0] * 5
    assert waits[5] == pytest.approx(0.1)


def test_burst_then_paced() -> None:
    limiter = RateLimiter(10, burst=10)
    waits = [limiter.reserve(100.0) for _ in range(30)]
    assert waits[:10] == [0.0] * 10
    assert waits[10] == pytest.approx(0.1)
    assert waits[29] == pytest.approx(2.0)
    # over any window, at most burst + rate * window requests pass
    sent_at = [100.0 + w for w in waits]
    assert sum(1 for t in sent_at if t < 100.99) == 19


def test_quiet_period_refills() -> None:
    limiter = RateLimiter(5)
    for _ in range(5):
        limiter.reserve(0.0)
    assert limiter.reserve(0.0) > 0
    assert limiter.reserve(10.0) == 0.0


@pytest.mark.parametrize("rate", [0, -1, float("nan")])
def test_bad_rate(rate: float) -> None:
    with pytest.raises(ValueError, match="rate_limit"):
        RateLimiter(rate)


def test_schedule_numbers() -> None:
    limiter = RateLimiter(10)
    assert limiter.interval == pytest.approx(0.1)
    assert limiter.tolerance == pytest.approx(0.4)  # burst 5: four slots ahead


def test_with_rate_continues_the_schedule() -> None:
    fast = RateLimiter(20)  # burst 10
    for _ in range(10):
        assert fast.reserve(0.0) == 0.0  # the schedule is now 0.5 s ahead
    slow = fast.with_rate(10)  # burst 5, tolerance 0.4 s
    assert (slow.rate, slow.burst) == (10.0, 5)
    assert slow.reserve(0.0) == pytest.approx(0.1)  # the slots already given stay given
    assert slow.reserve(0.0) == pytest.approx(0.2)
    assert fast.reserve(0.0) == pytest.approx(0.0 + 0.05)  # the original is unchanged
