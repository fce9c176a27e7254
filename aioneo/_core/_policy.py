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
* A replayed ``place_order`` refused with ``stCode`` 5204 ("tag already used"), or failing
  definitely in any other way, is reconciled (``StepKind.RECONCILE``): the shell reads the
  order book and :func:`after_reconcile` decides with ``_reconcile.reconcile``, which takes
  an order as this call's only when its tag is the call's tag in one of Kotak's forms
  *and* it matches what the call sent. "Tag taken" alone proves nothing: the caller may
  have reused the tag for another order. The same code on a first attempt is the
  caller's reused tag: a ``BusinessError``.
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
    APIError,
    BusinessError,
    ClientClosedError,
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
from ._reconcile import Reconciliation, Verdict

__all__ = [
    "BACKOFF_BASE",
    "BACKOFF_CAP",
    "DUPLICATE_TAG",
    "MAX_ADOPTED_REPLAYS",
    "MAX_AUTH_RETRIES",
    "MAX_READ_RETRIES",
    "MAX_RETRY_AFTER",
    "Failure",
    "Step",
    "StepKind",
    "after_failure",
    "after_reconcile",
    "after_response",
    "backoff_delay",
    "closed_during",
    "connect_cause",
    "describe_request",
    "error_for",
    "is_totp_refusal",
    "login_error",
    "login_failure",
    "relogin_charged",
    "retry_totp",
    "totp_code_refused",
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
    # A replayed order was refused (as a duplicate tag, or otherwise) with ``Step.error``:
    # read the order book and let ``after_reconcile`` decide.
    RECONCILE = "reconcile"
    RELOGIN = "relogin"  # session expired: recover (lead / wait / straggler), then replay
    RETRY = "retry"  # sleep ``Step.delay`` seconds, then send again
    RAISE = "raise"  # raise ``Step.error``


@dataclass(frozen=True, slots=True)
class Step:
    kind: StepKind
    delay: float = 0.0
    error: NeoError | None = None


_CAUSES = (
    (
        (
            "name or service not known",
            "nodename nor servname",
            "getaddrinfo",
            "name resolution",
            "no address associated",
            "temporary failure in name",
        ),
        "its name could not be resolved (DNS)",
    ),
    (("connection refused", "errno 111", "winerror 10061"), "the connection was refused"),
    (("certificate", "ssl", "tls"), "the TLS handshake failed"),
    (("network is unreachable", "no route to host"), "the network is unreachable"),
    (("timed out", "timeout"), "it timed out"),
)


def connect_cause(text: str) -> str | None:
    """The cause of a failed connection, in words, from the transport's error text."""
    lowered = text.lower()
    for needles, cause in _CAUSES:
        if any(needle in lowered for needle in needles):
            return cause
    return None


def _where(host: str | None, cause: str | None) -> str:
    if host is None:
        return f" ({cause})" if cause else ""
    return f" {host}" + (f": {cause}" if cause else "")


def backoff_delay(retries: int, jitter: float, retry_after: float | None = None) -> float:
    """Full-jitter exponential backoff for retry number ``retries`` (0-based).

    ``uniform(0.5, 1) * min(cap, base * 2**retries)``, and never less than
    ``Retry-After`` when the server gave one.
    """
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * float(2**retries))
    delay = ceiling * (0.5 + 0.5 * min(max(jitter, 0.0), 1.0))
    return max(delay, retry_after if retry_after is not None else 0.0)


def closed_during(spec: RequestSpec, failure: Failure) -> NeoError:
    """What a call whose connection was closed beneath it by ``close()`` raises.

    ``ClientClosedError``, unless it is an order that may have reached the server: then,
    as for any order whose answer was lost, ``OrderOutcomeUnknown`` (a close must never
    turn a placed order into a definite error).
    """
    if spec.kind is Kind.ORDER and failure.sent:
        return unknown_outcome(spec, "the client was closed while the request was on the wire")
    return ClientClosedError("the client was closed during the call", endpoint=spec.op)


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


def _checked_replay(spec: RequestSpec, step: Step, replayed: bool) -> Step:
    """A replayed ``place_order`` never ends in a definite "no" without a look at the book.

    The replay happened because the first attempt was refused as "session expired", which
    proves it never executed, unless the gateway misreported. If the replay then fails
    definitely (a refusal, 429, a connect error), the client looks the tag up before
    raising: an order found there is returned as placed; otherwise the error stands.
    """
    if (
        replayed
        and spec.op == "place_order"
        and spec.tag is not None
        and step.kind is StepKind.RAISE
        and not isinstance(step.error, OrderOutcomeUnknown)
    ):
        return Step(StepKind.RECONCILE, error=step.error)
    return step


def after_response(
    spec: RequestSpec,
    c: Classification,
    *,
    auth_retries: int,
    retries: int,
    jitter: float,
    replayed: bool | None = None,
) -> Step:
    """What to do after one answer. ``auth_retries``/``retries``: how many were used.

    ``replayed``: this answer is to a replay after a relogin (default: ``auth_retries > 0``;
    the shells say so themselves once an adopted session's relogin was not charged, see
    :func:`relogin_charged`).
    """
    again = auth_retries > 0 if replayed is None else replayed
    step = _after_response(
        spec, c, auth_retries=auth_retries, retries=retries, jitter=jitter, replayed=again
    )
    return _checked_replay(spec, step, again)


def _after_response(
    spec: RequestSpec,
    c: Classification,
    *,
    auth_retries: int,
    retries: int,
    jitter: float,
    replayed: bool,
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
            replayed
            and spec.op == "place_order"
            and spec.tag is not None
            and c.st_code == DUPLICATE_TAG
        ):
            # The replay carried the same tag and Kotak says the tag is taken: either the
            # first attempt reached the order system after all, or the caller reused the
            # tag for another order. Only the book can tell: reconcile.
            return Step(StepKind.RECONCILE, error=error_for(spec, c))
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
    replayed: bool | None = None,
    host: str | None = None,
    cause: str | None = None,
) -> Step:
    """What to do when no response arrived at all. ``host`` and ``cause`` (see
    :func:`connect_cause`) name where and why a connection failed, for the message."""
    step = _after_failure(
        spec, failure, retries=retries, jitter=jitter, timeout=timeout, host=host, cause=cause
    )
    return _checked_replay(spec, step, auth_retries > 0 if replayed is None else replayed)


#: Answers "session expired" to a session adopted from a shared store that one call may
#: meet without it costing the call's one relogin.
MAX_ADOPTED_REPLAYS = 2


def relogin_charged(*, adopted: bool, auth_retries: int, forgiven: int) -> bool:
    """Whether a "session expired" answer to a *replay* spends the call's one relogin.

    Issue 10 item 4: the relogin before the replay may have ended by adopting a session
    another client wrote to the shared store, without checking it (a check would be one
    more request). If the server has ended that session too, this call never logged in
    again: the adoption is not charged, and the call may lead (or wait for) a real login
    and replay once more. At most ``MAX_ADOPTED_REPLAYS`` adoptions are forgiven per call
    (siblings that keep writing dead sessions must not make a loop); a stored session is
    adopted only when newer than any this client held, so the next relogin logs in.
    """
    return not (adopted and auth_retries > 0 and forgiven < MAX_ADOPTED_REPLAYS)


def _after_failure(
    spec: RequestSpec,
    failure: Failure,
    *,
    retries: int,
    jitter: float,
    timeout: float | None,
    host: str | None = None,
    cause: str | None = None,
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
        error = ConnectError(
            f"{op}: could not connect to the server{_where(host, cause)}", endpoint=op
        )
    elif failure is Failure.RESET:
        error = TransportError(f"{op}: the connection broke before an answer", endpoint=op)
    else:
        step = {
            Failure.CONNECT_TIMEOUT: "connecting",
            Failure.POOL_TIMEOUT: "waiting for a free connection",
            Failure.WRITE_TIMEOUT: "sending the request",
            Failure.READ_TIMEOUT: "waiting for the answer",
        }[failure]
        at = f" ({host})" if host is not None else ""
        error = RequestTimeoutError(f"{op}: timed out{limit} {step}{at}", endpoint=op)
    return Step(StepKind.RAISE, error=error)


def is_totp_refusal(step: str, c: LoginClassification) -> bool:
    """Whether the TOTP step refused the *code* (not the account, the key or the number)."""
    return step == "login" and c.outcome is LoginOutcome.FATAL and "totp" in c.message.lower()


def login_error(
    step: str, c: LoginClassification, *, url: str | None = None, retried: bool = False
) -> LoginError:
    """The exception a refused login step becomes. ``step`` is "login" or "validate".

    ``url``: the address the step was sent to (named when the server answered 404: the
    login URL is wrong, not the credentials). ``retried``: this TOTP step was already the
    second try, on a fresh step, after the first code was refused (see :func:`retry_totp`).
    """
    code = f", stCode {c.st_code}" if c.st_code is not None else ""
    text = f": {c.message}" if c.message else ""
    what = f"{step} step refused (HTTP {c.status_code}{code}){text}"
    if c.outcome is LoginOutcome.TRANSIENT:
        why = ""
        if step == "validate" and c.status_code < 500 and c.status_code not in (408, 424, 429):
            why = " (the server ended the new session between the two login steps)"
        return TransientLoginError(
            f"{what}{why}; will try again after a cooldown",
            endpoint=step,
            status_code=c.status_code,
            st_code=c.st_code,
            retry_after=c.retry_after,
        )
    hint = "check the credentials, then call login()"
    if c.status_code == 404:
        where = f" {url}" if url else ""
        hint = (
            f"nothing answers at{where}: the login URL is wrong, not the credentials; pass "
            "the login host only (login_url='https://mis.kotaksecurities.com', or the "
            "emulator's login_url), without a path"
        )
    elif is_totp_refusal(step, c):
        if retried:
            hint = (
                "the code of a fresh 30 s step was refused as well, so no other login used "
                "it: check the TOTP secret and this machine's clock"
            )
        else:
            hint = (
                "check the TOTP secret and the clock; if both are right, another login on "
                "this account may have used this 30 s step's code already (another process "
                "or client): share a session_store, or call login() once the step is over"
            )
    return FatalLoginError(
        f"{what}; not retried automatically: {hint}",
        endpoint=step,
        status_code=c.status_code,
        st_code=c.st_code,
        totp_refused=is_totp_refusal(step, c),
    )


def retry_totp(error: LoginError, attempt: int) -> bool:
    """Whether a refused TOTP step is tried once more, on the next 30 s step.

    Kotak (like any RFC 6238 server) may refuse a code whose step another login already
    used: an earlier process (``python -m aioneo login`` a moment ago), another client, a
    browser. Nothing tells that refusal from a wrong secret, so the first refusal of a
    login is retried once with the next step's code (after waiting for it, at most 30 s,
    logged); a second refusal is final and says the secret or the clock is wrong. Any
    other refusal (MPIN, UCC, mobile number, consumer key) is final at once.
    """
    return attempt == 0 and isinstance(error, FatalLoginError) and error.totp_refused


def totp_code_refused(error: LoginError) -> bool:
    """Whether a failed TOTP step proves its code was *not* used by the server.

    Only a definite refusal does (a fatal answer: "Invalid TOTP", a 4xx): the server read
    the code and said no. A transient answer (5xx, 429, 424, 408, an unreadable 2xx) may
    come from a gateway after the login service consumed the code, so the code counts as
    possibly used, as after a timeout: a shared store's lock is kept until its step ends.
    """
    return isinstance(error, FatalLoginError) and error.status_code is not None


def login_failure(
    step: str,
    failure: Failure,
    timeout: float | None,
    *,
    host: str | None = None,
    cause: str | None = None,
) -> TransientLoginError:
    """The exception a login step becomes when no answer arrived (``host``/``cause``: where
    and why a connection failed, see :func:`connect_cause`)."""
    limit = f" after {timeout:g} s" if timeout is not None else ""
    at = f" ({host})" if host is not None else ""
    why = {
        Failure.CONNECT: f"could not connect to the login host{_where(host, cause)}",
        Failure.CONNECT_TIMEOUT: f"timed out{limit} connecting to the login host{at}",
        Failure.POOL_TIMEOUT: f"timed out{limit} waiting for a connection",
        Failure.WRITE_TIMEOUT: f"timed out{limit} sending{at}",
        Failure.READ_TIMEOUT: f"no answer{limit}{at}",
        Failure.RESET: f"the connection broke{at}",
    }[failure]
    return TransientLoginError(f"{step} step failed: {why}", endpoint=step)


def _is_duplicate_tag(error: NeoError | None) -> bool:
    return isinstance(error, BusinessError) and error.st_code == DUPLICATE_TAG


def after_reconcile(
    spec: RequestSpec, rec: Reconciliation, refusal: NeoError | None
) -> dict[str, Any] | NeoError:
    """What a replayed ``place_order`` ends in, once the order book has been read.

    ``refusal`` is the replay's own definite error (``Step.error`` of the RECONCILE step).
    Returns the body to parse as the call's result (the order found), or the exception to
    raise: the order was placed (``PLACED``); it was not, and the refusal stands (``ABSENT``
    after a refusal other than 5204; ``NOT_OURS``: the tag is another order's, so Kotak
    refuses it for this one, 5204 or not); or the outcome is open (``UNCERTAIN``; ``ABSENT``
    after a 5204, because the server says the tag is taken yet the book shows no order).
    """
    if rec.verdict is Verdict.PLACED:
        assert rec.order is not None
        return {"stat": "Ok", "nOrdNo": rec.order.order_id, "stCode": 200}
    if rec.verdict is Verdict.UNCERTAIN:
        return unknown_outcome(
            spec, f"the replay was refused and the order book is ambiguous: {rec.reason}"
        )
    duplicate = _is_duplicate_tag(refusal)
    if rec.verdict is Verdict.NOT_OURS:
        # Whatever the replay met, the tag is taken by another order: Kotak refuses it for
        # this one, so the caller learns the real reason (and not to resend the same tag).
        return BusinessError(
            f"{spec.op}: refused (stCode {DUPLICATE_TAG}: tag already used): {rec.reason}; "
            "this order was not placed: use a tag of its own",
            endpoint=spec.op,
            status_code=refusal.status_code
            if duplicate and isinstance(refusal, APIError)
            else None,
            body=refusal.body if duplicate and isinstance(refusal, APIError) else None,
            st_code=DUPLICATE_TAG,
        )
    if duplicate or refusal is None:
        return unknown_outcome(
            spec,
            "the replay was refused because its tag is already used, yet no order with "
            f"that tag and these fields is in the order book ({rec.reason})",
        )
    return refusal
