"""Retry and replay policy: what to do after one answer (or one network failure).

Pure: the shells pass the classification (or the kind of network failure), how many
times this call has already been retried, the jitter and the time; they get back a
:class:`Step` telling them to return, relogin and replay, sleep and retry, or raise a
ready-made exception.

The rules (``design.md``, "Replay policy"):

* **Reads** are replayed after a relogin, and retried with jittered exponential backoff on
  connect errors, 5xx (and 424) and 429, honouring ``Retry-After``, at most
  ``MAX_READ_RETRIES`` times; a ``Retry-After`` longer than ``MAX_RETRY_AFTER`` is not
  waited out, the ``RateLimitError`` is raised instead.
* **Orders** (place, modify, cancel) are replayed after a relogin only when the answer
  proves the request never reached the order system (``Classification.pre_execution``:
  the gateway's 900901 envelope and the other "session expired" rows), exactly once, with
  the same body and tag. Nothing else is ever resent: a 429 raises ``RateLimitError``; a
  connect failure (nothing was sent) raises ``ConnectError``; a timeout or reset after the
  request was written, any 5xx or 424, or an unreadable 2xx raises
  ``OrderOutcomeUnknown`` carrying the tag.
* A replayed ``place_order`` refused with ``stCode`` 5204 ("tag already used") means the
  first attempt was placed after all: the shell reconciles (looks the tag up in the order
  book) instead of failing (``StepKind.RECONCILE``). The same code on a first attempt is
  the caller's reused tag: a ``BusinessError``.
* Any call gets at most ``MAX_AUTH_RETRIES`` (1) relogin for authentication reasons; a
  second "session expired" under the new session is ``SessionExpiredError``, never a
  loop (scenario 7).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from .._exceptions import (
    AccessDeniedError,
    BusinessError,
    ConnectError,
    FatalLoginError,
    InvalidResponseError,
    LoginError,
    NeoError,
    OrderOutcomeUnknown,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    SessionExpiredError,
    StatusError,
    TransientLoginError,
    TransportError,
)
from ._classify import Classification, LoginClassification, LoginOutcome, Outcome
from ._protocol import Kind, RequestSpec

__all__ = [
    "BACKOFF_BASE",
    "BACKOFF_CAP",
    "DUPLICATE_TAG",
    "MAX_AUTH_RETRIES",
    "MAX_READ_RETRIES",
    "MAX_RETRY_AFTER",
    "Failure",
    "Step",
    "StepKind",
    "after_failure",
    "after_response",
    "backoff_delay",
    "describe_request",
    "error_for",
    "login_error",
    "login_failure",
    "unknown_outcome",
]

MAX_AUTH_RETRIES = 1
MAX_READ_RETRIES = 2
BACKOFF_BASE = 0.25
BACKOFF_CAP = 4.0
MAX_RETRY_AFTER = 30.0


class Failure(enum.Enum):
    """What went wrong on the wire, as far as the shell can tell (no response at all)."""

    CONNECT = "connect"  # could not connect: nothing was sent
    CONNECT_TIMEOUT = "connect_timeout"  # timed out connecting: nothing was sent
    POOL_TIMEOUT = "pool_timeout"  # no connection became free: nothing was sent
    WRITE_TIMEOUT = "write_timeout"  # timed out while sending: maybe received
    READ_TIMEOUT = "read_timeout"  # sent, no answer in time
    RESET = "reset"  # the connection broke after (part of) the request was sent

    @property
    def sent(self) -> bool:
        """Whether any of the request may have reached the server."""
        return self not in (Failure.CONNECT, Failure.CONNECT_TIMEOUT, Failure.POOL_TIMEOUT)


#: ``stCode`` Kotak answers when an order tag (``ig``) was already used today.
DUPLICATE_TAG = 5204
#: ``stCode`` "No Data": Kotak's answer for an empty book, which is not an error.
NO_DATA = 5203
#: Reads whose answer is a list: "No Data" from them means an empty list.
LIST_OPS = frozenset({"order_report", "trade_report", "positions", "holdings", "order_history"})


class StepKind(enum.Enum):
    RETURN = "return"  # success: parse and return ``Classification.body``
    # A replayed order was refused (as a duplicate tag, or otherwise): look its tag up in
    # the order book; found means placed, else raise ``Step.error`` (or "unknown").
    RECONCILE = "reconcile"
    RELOGIN = "relogin"  # session expired: recover (lead / wait / straggler), then replay
    RETRY = "retry"  # sleep ``Step.delay`` seconds, then send again
    RAISE = "raise"  # raise ``Step.error``


@dataclass(frozen=True, slots=True)
class Step:
    kind: StepKind
    delay: float = 0.0
    error: NeoError | None = None


def backoff_delay(retries: int, jitter: float, retry_after: float | None = None) -> float:
    """Full-jitter exponential backoff for retry number ``retries`` (0-based).

    ``uniform(0.5, 1) * min(cap, base * 2**retries)``, and never less than
    ``Retry-After`` when the server gave one.
    """
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * float(2**retries))
    delay = ceiling * (0.5 + 0.5 * min(max(jitter, 0.0), 1.0))
    return max(delay, retry_after if retry_after is not None else 0.0)


def describe_request(spec: RequestSpec) -> dict[str, Any]:
    """What an ``OrderOutcomeUnknown`` carries about the request: op, path, fields, tag.

    The fields are the jData the client built (symbol, quantity, price, ...); no header
    and no credential is ever included.
    """
    return {
        "op": spec.op,
        "method": spec.method,
        "path": spec.path,
        "fields": dict(spec.jdata) if spec.jdata is not None else {},
        "tag": spec.tag,
    }


def unknown_outcome(spec: RequestSpec, why: str) -> OrderOutcomeUnknown:
    tag = f" (tag {spec.tag!r})" if spec.tag else ""
    return OrderOutcomeUnknown(
        f"{spec.op}: outcome unknown{tag}: {why}; the order may or may not exist, look it "
        "up by its tag before trying again",
        endpoint=spec.op,
        tag=spec.tag,
        request=describe_request(spec),
    )


def _what(c: Classification) -> str:
    code = f", stCode {c.st_code}" if c.st_code is not None else ""
    text = f": {c.message}" if c.message else ""
    return f"HTTP {c.status_code}{code}{text}"


def error_for(spec: RequestSpec, c: Classification) -> NeoError:
    """The exception one refusal becomes (no retry left, or not retryable)."""
    op = spec.op
    if c.outcome is Outcome.SESSION_EXPIRED:
        return SessionExpiredError(
            f"{op}: the server still reports the session expired after a fresh login ({_what(c)})",
            endpoint=op,
        )
    if c.outcome is Outcome.NOT_FIXABLE:
        return AccessDeniedError(
            f"{op}: refused, and logging in again cannot fix it ({_what(c)}); check the static "
            "IP whitelisting of the Trade API app and create the session from that IP",
            endpoint=op,
            status_code=c.status_code,
            body=c.body,
            st_code=c.st_code,
        )
    if c.outcome is Outcome.RATE_LIMITED:
        after = f"; retry after {c.retry_after:g} s" if c.retry_after is not None else ""
        return RateLimitError(
            f"{op}: rate limited ({_what(c)}){after}",
            endpoint=op,
            status_code=c.status_code,
            body=c.body,
            retry_after=c.retry_after,
        )
    if c.outcome is Outcome.SERVER_ERROR:
        return ServerError(
            f"{op}: server error ({_what(c)})", endpoint=op, status_code=c.status_code, body=c.body
        )
    if c.outcome is Outcome.UNDECODABLE:
        return InvalidResponseError(
            f"{op}: the response body is not JSON (HTTP {c.status_code})",
            endpoint=op,
            status_code=c.status_code,
        )
    if c.outcome is Outcome.BUSINESS_ERROR or c.st_code is not None:
        return BusinessError(
            f"{op}: refused ({_what(c)})",
            endpoint=op,
            status_code=c.status_code,
            body=c.body,
            st_code=c.st_code,
        )
    return StatusError(
        f"{op}: request failed ({_what(c)})", endpoint=op, status_code=c.status_code, body=c.body
    )


def _checked_replay(spec: RequestSpec, step: Step, auth_retries: int) -> Step:
    """A replayed ``place_order`` never ends in a definite "no" without a look at the book.

    The replay happened because the first attempt was refused as "session expired", which
    proves it never executed, unless the gateway misreported. If the replay then fails
    definitely (a refusal, 429, a connect error), the client looks the tag up before
    raising: an order found there is returned as placed; otherwise the error stands.
    """
    if (
        auth_retries > 0
        and spec.op == "place_order"
        and spec.tag is not None
        and step.kind is StepKind.RAISE
        and not isinstance(step.error, OrderOutcomeUnknown)
    ):
        return Step(StepKind.RECONCILE, error=step.error)
    return step


def after_response(
    spec: RequestSpec, c: Classification, *, auth_retries: int, retries: int, jitter: float
) -> Step:
    """What to do after one answer. ``auth_retries``/``retries``: how many were used."""
    step = _after_response(spec, c, auth_retries=auth_retries, retries=retries, jitter=jitter)
    return _checked_replay(spec, step, auth_retries)


def _after_response(
    spec: RequestSpec, c: Classification, *, auth_retries: int, retries: int, jitter: float
) -> Step:
    outcome = c.outcome
    if outcome is Outcome.SUCCESS:
        return Step(StepKind.RETURN)
    if outcome is Outcome.SESSION_EXPIRED:
        # Every row classified "session expired" is a pre-execution rejection, so an
        # order may be replayed too, once, with the same body and tag. A login-kind call
        # (logout) never starts a relogin.
        if auth_retries < MAX_AUTH_RETRIES and c.pre_execution and spec.kind is not Kind.LOGIN:
            return Step(StepKind.RELOGIN)
        return Step(StepKind.RAISE, error=error_for(spec, c))
    if outcome is Outcome.BUSINESS_ERROR and c.st_code == NO_DATA and spec.op in LIST_OPS:
        return Step(StepKind.RETURN)  # an empty book: the parsers read a missing list as []
    if spec.kind is Kind.ORDER:
        if (
            auth_retries > 0
            and spec.op == "place_order"
            and spec.tag is not None
            and c.st_code == DUPLICATE_TAG
        ):
            # The replay carried the same tag and Kotak says the tag is taken: the first
            # attempt did reach the order system after all. Already placed: reconcile.
            return Step(StepKind.RECONCILE)
        if outcome is Outcome.SERVER_ERROR:
            return Step(StepKind.RAISE, error=unknown_outcome(spec, _what(c)))
        if outcome is Outcome.UNDECODABLE:
            return Step(
                StepKind.RAISE,
                error=unknown_outcome(spec, f"the answer (HTTP {c.status_code}) could not be read"),
            )
        return Step(StepKind.RAISE, error=error_for(spec, c))
    retryable = outcome in (Outcome.SERVER_ERROR, Outcome.RATE_LIMITED)
    if retryable and retries < MAX_READ_RETRIES:
        if c.retry_after is not None and c.retry_after > MAX_RETRY_AFTER:
            return Step(StepKind.RAISE, error=error_for(spec, c))
        return Step(StepKind.RETRY, delay=backoff_delay(retries, jitter, c.retry_after))
    return Step(StepKind.RAISE, error=error_for(spec, c))


def after_failure(
    spec: RequestSpec,
    failure: Failure,
    *,
    retries: int,
    jitter: float,
    timeout: float | None,
    auth_retries: int = 0,
) -> Step:
    """What to do when no response arrived at all."""
    step = _after_failure(spec, failure, retries=retries, jitter=jitter, timeout=timeout)
    return _checked_replay(spec, step, auth_retries)


def _after_failure(
    spec: RequestSpec, failure: Failure, *, retries: int, jitter: float, timeout: float | None
) -> Step:
    op = spec.op
    limit = f" after {timeout:g} s" if timeout is not None else ""
    if spec.kind is Kind.ORDER and failure.sent:
        why = {
            Failure.WRITE_TIMEOUT: f"timed out{limit} while sending",
            Failure.READ_TIMEOUT: f"no answer{limit} after the request was sent",
            Failure.RESET: "the connection broke after the request was sent",
        }[failure]
        return Step(StepKind.RAISE, error=unknown_outcome(spec, why))
    retryable = failure in (Failure.CONNECT, Failure.RESET) and spec.kind is Kind.READ
    if retryable and retries < MAX_READ_RETRIES:
        return Step(StepKind.RETRY, delay=backoff_delay(retries, jitter))
    error: TransportError
    if failure is Failure.CONNECT:
        error = ConnectError(f"{op}: could not connect to the server", endpoint=op)
    elif failure is Failure.RESET:
        error = TransportError(f"{op}: the connection broke before an answer", endpoint=op)
    else:
        step = {
            Failure.CONNECT_TIMEOUT: "connecting",
            Failure.POOL_TIMEOUT: "waiting for a free connection",
            Failure.WRITE_TIMEOUT: "sending the request",
            Failure.READ_TIMEOUT: "waiting for the answer",
        }[failure]
        error = RequestTimeoutError(f"{op}: timed out{limit} {step}", endpoint=op)
    return Step(StepKind.RAISE, error=error)


def login_error(step: str, c: LoginClassification) -> LoginError:
    """The exception a refused login step becomes. ``step`` is "login" or "validate"."""
    code = f", stCode {c.st_code}" if c.st_code is not None else ""
    text = f": {c.message}" if c.message else ""
    what = f"{step} step refused (HTTP {c.status_code}{code}){text}"
    if c.outcome is LoginOutcome.TRANSIENT:
        return TransientLoginError(
            f"{what}; will try again after a cooldown",
            endpoint=step,
            status_code=c.status_code,
            st_code=c.st_code,
            retry_after=c.retry_after,
        )
    hint = "check the credentials, then call login()"
    if step == "login" and "totp" in c.message.lower():
        # Kotak does not say whether it refuses a code already used in its 30 s step; if it
        # does, a second process (or client) logging in within the same step meets this.
        hint = (
            "check the TOTP secret and the clock; if both are right, another login on this "
            "account may have used this 30 s step's code already (another process or client): "
            "share a session_store, or call login() once the step is over"
        )
    return FatalLoginError(
        f"{what}; not retried automatically: {hint}",
        endpoint=step,
        status_code=c.status_code,
        st_code=c.st_code,
    )


def login_failure(step: str, failure: Failure, timeout: float | None) -> TransientLoginError:
    """The exception a login step becomes when no answer arrived."""
    limit = f" after {timeout:g} s" if timeout is not None else ""
    why = {
        Failure.CONNECT: "could not connect to the login host",
        Failure.CONNECT_TIMEOUT: f"timed out{limit} connecting to the login host",
        Failure.POOL_TIMEOUT: f"timed out{limit} waiting for a connection",
        Failure.WRITE_TIMEOUT: f"timed out{limit} sending",
        Failure.READ_TIMEOUT: f"no answer{limit}",
        Failure.RESET: "the connection broke",
    }[failure]
    return TransientLoginError(f"{step} step failed: {why}", endpoint=step)
