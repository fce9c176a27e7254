"""Reconnect backoff, the attempt count's reset rule, and the stall decision."""

from __future__ import annotations

import itertools
import math

import pytest

from aioneo._core._feed_policy import ReconnectPolicy, backoff_delay, stall_check

JITTERS = [0.0, 0.25, 0.5, 0.999999]


@pytest.mark.parametrize("jitter", JITTERS)
def test_the_first_retry_is_sub_second_and_later_ones_double_to_the_cap(jitter: float) -> None:
    delays = [backoff_delay(n, jitter, base=0.5, cap=30.0) for n in range(12)]
    assert delays[0] < 1.0
    assert 0.25 <= delays[0] <= 0.5
    for earlier, later in itertools.pairwise(delays):
        assert later >= earlier
    assert max(delays) <= 30.0
    assert delays[-1] >= 15.0  # at the cap: its upper half
    assert backoff_delay(10_000, jitter, base=0.5, cap=30.0) <= 30.0  # no overflow


def test_jitter_spreads_within_the_upper_half() -> None:
    for attempt in range(8):
        ceiling = min(30.0, 0.5 * 2**attempt)
        low = backoff_delay(attempt, 0.0, base=0.5, cap=30.0)
        high = backoff_delay(attempt, 1.0, base=0.5, cap=30.0)
        assert low == pytest.approx(ceiling / 2)
        assert high == pytest.approx(ceiling)
    assert backoff_delay(0, -5.0, base=0.5, cap=30.0) == pytest.approx(0.25)  # clamped
    with pytest.raises(ValueError, match="attempt must be >= 0"):
        backoff_delay(-1, 0.5, base=0.5, cap=30.0)


def test_unlimited_by_default() -> None:
    policy = ReconnectPolicy()
    decisions = [policy.on_closed(float(t), 0.5) for t in range(200)]
    assert not any(d.give_up for d in decisions)
    assert [d.attempt for d in decisions] == list(range(1, 201))
    assert decisions[-1].delay == pytest.approx(22.5)  # capped: 30 * (0.5 + 0.25)


def test_max_reconnects_bounds_the_attempts_in_a_row() -> None:
    policy = ReconnectPolicy(max_reconnects=3)
    first = [policy.on_closed(0.0, 0.0) for _ in range(3)]
    assert [d.give_up for d in first] == [False, False, False]
    final = policy.on_closed(1.0, 0.0)
    assert final.give_up
    assert final.attempt == 3
    assert ReconnectPolicy(max_reconnects=0).on_closed(0.0, 0.0).give_up


def test_accept_then_drop_does_not_reset_the_count() -> None:
    """The SDK's A.10 item 3: a server that authenticates and drops at once."""
    policy = ReconnectPolicy(max_reconnects=5, stable_after=30.0)
    now = 0.0
    decisions = []
    for _ in range(6):
        decision = policy.on_closed(now, 0.0)
        decisions.append(decision)
        now += decision.delay
        policy.on_live(now)  # authenticated...
        now += 1.0  # ...and dropped a second later
    assert [d.give_up for d in decisions] == [False] * 5 + [True]
    assert decisions[4].delay > decisions[0].delay * 8  # backed off, not a storm


def test_a_connection_that_lasted_resets_the_count() -> None:
    policy = ReconnectPolicy(max_reconnects=2, stable_after=30.0)
    policy.on_closed(0.0, 0.0)
    policy.on_closed(1.0, 0.0)
    policy.on_live(2.0)
    after = policy.on_closed(40.0, 0.0)  # up for 38 s
    assert not after.give_up
    assert after.attempt == 1
    assert after.delay == pytest.approx(0.25)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_reconnects": -1}, "max_reconnects must be >= 0"),
        ({"max_reconnects": 1.5}, "max_reconnects must be an int"),
        ({"max_reconnects": True}, "max_reconnects must be an int"),
        ({"base": 0}, "backoff base must be > 0"),
        ({"cap": math.inf}, "backoff cap must be a number"),
        ({"base": 2.0, "cap": 1.0}, r"cap \(1.0\) must be >= its base"),
        ({"stable_after": -1}, "stable_after must be >= 0"),
    ],
)
def test_bad_settings_are_named(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises((TypeError, ValueError), match=message):
        ReconnectPolicy(**kwargs)  # type: ignore[arg-type]


def test_stall() -> None:
    assert stall_check(last_frame_at=100.0, now=104.0, stall_timeout=10.0) == pytest.approx(6.0)
    assert stall_check(last_frame_at=100.0, now=110.0, stall_timeout=10.0) is None
    assert stall_check(last_frame_at=100.0, now=200.0, stall_timeout=10.0) is None
    assert stall_check(last_frame_at=100.0, now=10_000.0, stall_timeout=None) == math.inf
