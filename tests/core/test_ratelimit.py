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
