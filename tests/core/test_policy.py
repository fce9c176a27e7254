"""Retry/replay policy: every outcome for reads and for orders."""

from __future__ import annotations

import pytest

from aioneo import (
    AccessDeniedError,
    BusinessError,
    ConnectError,
    FatalLoginError,
    InvalidResponseError,
    OrderOutcomeUnknown,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    SessionExpiredError,
    StatusError,
    TransientLoginError,
    TransportError,
)
from aioneo._core._classify import Classification, LoginClassification, LoginOutcome, Outcome
from aioneo._core._policy import (
    BACKOFF_CAP,
    MAX_READ_RETRIES,
    Failure,
    StepKind,
    after_failure,
    after_response,
    backoff_delay,
    login_error,
    login_failure,
)
from aioneo._core._protocol import FORM, Auth, Kind, RequestSpec

READ = RequestSpec(op="positions", method="GET", path="portfolio/v2/positions")
ORDER = RequestSpec(
    op="place_order",
    method="POST",
    path="quick/order/rule/ms/place",
    auth=Auth.SESSION_CK,
    kind=Kind.ORDER,
    content_type=FORM,
    jdata={"ts": "TCS-EQ", "qt": "1", "ig": "aioneo-abc"},
    tag="aioneo-abc",
)


def c(outcome: Outcome, status: int = 200, **kw: object) -> Classification:
    return Classification(outcome, status, **kw)  # type: ignore[arg-type]


def test_success_returns() -> None:
    for spec in (READ, ORDER):
        step = after_response(spec, c(Outcome.SUCCESS), auth_retries=0, retries=0, jitter=0.5)
        assert step.kind is StepKind.RETURN


@pytest.mark.parametrize("spec", [READ, ORDER])
def test_session_expired_relogins_once_then_raises(spec: RequestSpec) -> None:
    expired = c(Outcome.SESSION_EXPIRED, 401)
    first = after_response(spec, expired, auth_retries=0, retries=0, jitter=0)
    assert first.kind is StepKind.RELOGIN
    step = after_response(spec, expired, auth_retries=1, retries=0, jitter=0)
    # a replayed order looks its tag up before it gives a definite "no"
    assert step.kind is (StepKind.RECONCILE if spec is ORDER else StepKind.RAISE)
    assert isinstance(step.error, SessionExpiredError)


def test_replayed_order_failures_reconcile_first() -> None:
    for answer in (
        c(Outcome.RATE_LIMITED, 429, retry_after=1.0),
        c(Outcome.BUSINESS_ERROR, 200, st_code=1007),
    ):
        step = after_response(ORDER, answer, auth_retries=1, retries=0, jitter=0)
        assert step.kind is StepKind.RECONCILE
        assert step.error is not None
    lost = after_failure(ORDER, Failure.CONNECT, retries=0, jitter=0, timeout=1, auth_retries=1)
    assert lost.kind is StepKind.RECONCILE
    unknown = after_response(
        ORDER, c(Outcome.SERVER_ERROR, 502), auth_retries=1, retries=0, jitter=0
    )
    assert isinstance(unknown.error, OrderOutcomeUnknown)  # unknown stays unknown


@pytest.mark.parametrize(
    ("outcome", "status", "retry_after"),
    [
        (Outcome.SERVER_ERROR, 503, None),
        (Outcome.SERVER_ERROR, 424, None),
        (Outcome.RATE_LIMITED, 429, 2.0),
    ],
)
def test_reads_retry_transient_answers_with_bounded_backoff(
    outcome: Outcome, status: int, retry_after: float | None
) -> None:
    answer = c(outcome, status, retry_after=retry_after)
    for retries in range(MAX_READ_RETRIES):
        step = after_response(READ, answer, auth_retries=0, retries=retries, jitter=0.3)
        assert step.kind is StepKind.RETRY
        assert 0 < step.delay <= max(BACKOFF_CAP, retry_after or 0)
        if retry_after:
            assert step.delay >= retry_after
    final = after_response(READ, answer, auth_retries=0, retries=MAX_READ_RETRIES, jitter=0.3)
    assert final.kind is StepKind.RAISE
    assert isinstance(final.error, RateLimitError if status == 429 else ServerError)


def test_long_retry_after_is_not_waited_out() -> None:
    step = after_response(
        READ, c(Outcome.RATE_LIMITED, 429, retry_after=120.0), auth_retries=0, retries=0, jitter=0
    )
    assert step.kind is StepKind.RAISE
    assert isinstance(step.error, RateLimitError)
    assert step.error.retry_after == 120.0


@pytest.mark.parametrize("status", [500, 502, 503, 504, 424])
def test_order_server_error_is_unknown_outcome_with_tag(status: int) -> None:
    step = after_response(
        ORDER, c(Outcome.SERVER_ERROR, status), auth_retries=0, retries=0, jitter=0
    )
    assert step.kind is StepKind.RAISE
    assert isinstance(step.error, OrderOutcomeUnknown)
    assert step.error.tag == "aioneo-abc"
    assert step.error.request["fields"]["ts"] == "TCS-EQ"
    assert "aioneo-abc" in str(step.error)


def test_order_unreadable_200_is_unknown() -> None:
    step = after_response(ORDER, c(Outcome.UNDECODABLE, 200), auth_retries=0, retries=0, jitter=0)
    assert isinstance(step.error, OrderOutcomeUnknown)


def test_order_rate_limit_is_never_retried() -> None:
    step = after_response(
        ORDER, c(Outcome.RATE_LIMITED, 429, retry_after=1.0), auth_retries=0, retries=0, jitter=0
    )
    assert step.kind is StepKind.RAISE
    assert isinstance(step.error, RateLimitError)


@pytest.mark.parametrize(
    ("outcome", "status", "st_code", "error"),
    [
        (Outcome.NOT_FIXABLE, 200, 100008, AccessDeniedError),
        (Outcome.BUSINESS_ERROR, 200, 1021, BusinessError),
        (Outcome.CLIENT_ERROR, 400, None, StatusError),
        (Outcome.CLIENT_ERROR, 400, 1009, BusinessError),
        (Outcome.UNDECODABLE, 200, None, InvalidResponseError),
    ],
)
def test_refusals_raise_typed_errors(
    outcome: Outcome, status: int, st_code: int | None, error: type[Exception]
) -> None:
    step = after_response(
        READ,
        c(outcome, status, st_code=st_code, message="why"),
        auth_retries=0,
        retries=0,
        jitter=0,
    )
    assert step.kind is StepKind.RAISE
    assert type(step.error) is error
    if st_code is not None:
        assert step.error.st_code == st_code  # type: ignore[union-attr]
        assert str(st_code) in str(step.error)


@pytest.mark.parametrize("failure", [Failure.WRITE_TIMEOUT, Failure.READ_TIMEOUT, Failure.RESET])
def test_order_sent_then_lost_is_unknown(failure: Failure) -> None:
    step = after_failure(ORDER, failure, retries=0, jitter=0, timeout=5.0)
    assert isinstance(step.error, OrderOutcomeUnknown)
    assert step.error.tag == "aioneo-abc"


@pytest.mark.parametrize(
    ("failure", "error"),
    [
        (Failure.CONNECT, ConnectError),
        (Failure.CONNECT_TIMEOUT, RequestTimeoutError),
        (Failure.POOL_TIMEOUT, RequestTimeoutError),
    ],
)
def test_order_never_sent_is_a_plain_transport_error(
    failure: Failure, error: type[Exception]
) -> None:
    step = after_failure(ORDER, failure, retries=0, jitter=0, timeout=5.0)
    assert type(step.error) is error


def test_reads_retry_connect_errors_and_resets_then_raise() -> None:
    for failure in (Failure.CONNECT, Failure.RESET):
        assert after_failure(READ, failure, retries=0, jitter=0, timeout=1).kind is StepKind.RETRY
        final = after_failure(READ, failure, retries=MAX_READ_RETRIES, jitter=0, timeout=1)
        assert isinstance(final.error, TransportError)
    timeout = after_failure(READ, Failure.READ_TIMEOUT, retries=0, jitter=0, timeout=2.5)
    assert isinstance(timeout.error, RequestTimeoutError)
    assert "2.5 s" in str(timeout.error)


def test_backoff_grows_and_is_capped() -> None:
    assert backoff_delay(0, 0.0) < backoff_delay(3, 0.0)
    assert backoff_delay(20, 1.0) == BACKOFF_CAP
    assert backoff_delay(0, 0.0, retry_after=5) == 5


def test_login_errors() -> None:
    fatal = login_error(
        "validate",
        LoginClassification(LoginOutcome.FATAL, 401, st_code=10002, message="Invalid MPIN"),
    )
    assert isinstance(fatal, FatalLoginError)
    assert "Invalid MPIN" in str(fatal)
    assert fatal.st_code == 10002
    transient = login_error(
        "login", LoginClassification(LoginOutcome.TRANSIENT, 429, retry_after=3.0)
    )
    assert isinstance(transient, TransientLoginError)
    assert transient.retry_after == 3.0
    lost = login_failure("login", Failure.READ_TIMEOUT, 4.0)
    assert isinstance(lost, TransientLoginError)
    assert "4 s" in str(lost)


def test_no_data_on_a_list_read_is_an_empty_result() -> None:
    answer = c(Outcome.BUSINESS_ERROR, 200, st_code=5203, message="No Data")
    assert after_response(READ, answer, auth_retries=0, retries=0, jitter=0).kind is StepKind.RETURN
    limits = RequestSpec(op="limits", method="POST", path="quick/user/limits")
    step = after_response(limits, answer, auth_retries=0, retries=0, jitter=0)
    assert isinstance(step.error, BusinessError)


def test_duplicate_tag_on_a_replay_reconciles_but_not_on_a_first_attempt() -> None:
    dup = c(Outcome.BUSINESS_ERROR, 200, st_code=5204, message="tag already used")
    assert (
        after_response(ORDER, dup, auth_retries=1, retries=0, jitter=0).kind is StepKind.RECONCILE
    )
    first = after_response(ORDER, dup, auth_retries=0, retries=0, jitter=0)
    assert isinstance(first.error, BusinessError)
    assert first.error.st_code == 5204


def test_login_kind_never_relogins() -> None:
    logout = RequestSpec(op="logout", method="POST", path="x", kind=Kind.LOGIN)
    step = after_response(
        logout, c(Outcome.SESSION_EXPIRED, 401), auth_retries=0, retries=0, jitter=0
    )
    assert step.kind is StepKind.RAISE


def test_totp_refusal_explains_the_replay_case() -> None:
    refused = LoginClassification(LoginOutcome.FATAL, 401, st_code=10003, message="Invalid TOTP")
    error = login_error("login", refused)
    assert isinstance(error, FatalLoginError)
    assert "Invalid TOTP" in str(error)
    assert "session_store" in str(error)
    mpin = login_error(
        "validate", LoginClassification(LoginOutcome.FATAL, 401, message="Invalid MPIN")
    )
    assert "session_store" not in str(mpin)
