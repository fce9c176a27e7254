"""Response classification: the one table that decides what an answer means.

Every response of a protected call goes through :func:`classify`; every response of a
login step goes through :func:`classify_login`. Both are pure (bytes and numbers in, a
value out) and are tested row by row in ``tests/core/test_classify.py``.

Rows of :func:`classify`, first match wins:

====  ====================================================  =====================
row   condition                                             outcome
====  ====================================================  =====================
1     body is a JSON object with ``code`` 900901 / 900902   ``SESSION_EXPIRED``
      (the WSO2 gateway envelope), whatever the status
2     HTTP 401                                              ``SESSION_EXPIRED``
3     HTTP 403 whose text says "invalid session"            ``SESSION_EXPIRED``
4     ``stCode`` 100022 ("error in neo-login-check-api")    ``SESSION_EXPIRED``
5     ``stCode`` 100008, 1037, 1017 or 100021               ``NOT_FIXABLE``
6     HTTP 429                                              ``RATE_LIMITED``
7     HTTP 5xx or 424                                       ``SERVER_ERROR``
8     other HTTP 4xx                                        ``CLIENT_ERROR``
9     2xx body that is not JSON                             ``UNDECODABLE``
10    2xx JSON with a failing ``stCode``, ``errMsg``,       ``BUSINESS_ERROR``
      ``stat`` "Not_Ok", ``{"error": [...]}`` or the
      market-data ``{"status": "ERROR", "fault": ...}``
11    anything else                                         ``SUCCESS``
====  ====================================================  =====================

Rows 1 to 4 are all gateway or login-check rejections that happen *before* the order
system sees the request, which is why an order answered that way may be replayed once
after a relogin (``design.md``, "Replay policy"): ``Classification.pre_execution``.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "NOT_FIXABLE_CODES",
    "SESSION_EXPIRED_CODES",
    "Classification",
    "LoginClassification",
    "LoginOutcome",
    "Outcome",
    "classify",
    "classify_login",
    "decode_json",
    "parse_retry_after",
]

#: Gateway ``code`` values that mean "no valid credential on this request".
GATEWAY_SESSION_CODES = frozenset({"900901", "900902"})
#: ``stCode`` values meaning the session is gone.
SESSION_EXPIRED_CODES = frozenset({100022})
#: ``stCode`` values that a new login cannot fix: surfaced at once, never a relogin.
NOT_FIXABLE_CODES = frozenset({100008, 1037, 1017, 100021})
#: ``stCode`` values that mean success.
OK_CODES = frozenset({200, 1000})


class Outcome(enum.Enum):
    SUCCESS = "success"
    SESSION_EXPIRED = "session_expired"
    NOT_FIXABLE = "not_fixable"
    RATE_LIMITED = "rate_limited"
    SERVER_ERROR = "server_error"
    CLIENT_ERROR = "client_error"
    BUSINESS_ERROR = "business_error"
    UNDECODABLE = "undecodable"


@dataclass(frozen=True, slots=True)
class Classification:
    """What one response means. ``body`` is the decoded JSON (``None`` if undecodable)."""

    outcome: Outcome
    status_code: int
    body: Any = None
    st_code: int | None = None
    message: str = ""
    retry_after: float | None = None

    @property
    def pre_execution(self) -> bool:
        """True when the request provably never reached the order system."""
        return self.outcome is Outcome.SESSION_EXPIRED


_UNDECODABLE = object()


def decode_json(content: bytes) -> Any:
    """Decode a body; return the module's private sentinel when it is not JSON."""
    if not content:
        return _UNDECODABLE
    try:
        return json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return _UNDECODABLE


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds (the delta-seconds form); ``None`` if absent or unusable."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    if seconds != seconds or seconds < 0:  # NaN or negative
        return None
    return min(seconds, 3600.0)


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def _message_of(body: Any) -> str:
    """The server's own human-readable message, if the body carries one."""
    if not isinstance(body, Mapping):
        return ""
    for key in ("errMsg", "message", "emsg", "description", "Error Message"):
        value = body.get(key)
        if isinstance(value, str) and value:
            return value
    fault = body.get("fault")
    if isinstance(fault, Mapping) and isinstance(fault.get("message"), str):
        return str(fault["message"])
    errors = body.get("error")
    if isinstance(errors, list) and errors and isinstance(errors[0], Mapping):
        return str(errors[0].get("message", ""))
    return ""


def _business_code(body: Mapping[str, Any]) -> tuple[bool, int | None]:
    """(is this body a refusal?, its code) for a 2xx JSON object."""
    st_code = _as_int(body.get("stCode"))
    if st_code is not None and st_code not in OK_CODES:
        return True, st_code
    if "errMsg" in body and st_code not in OK_CODES:
        return True, st_code
    stat = body.get("stat")
    if isinstance(stat, str) and stat.lower() == "not_ok":
        return True, st_code
    if isinstance(body.get("status"), str) and str(body["status"]).upper() == "ERROR":
        fault = body.get("fault")
        code = _as_int(fault.get("code")) if isinstance(fault, Mapping) else None
        return True, code
    errors = body.get("error")
    if isinstance(errors, list) and errors and isinstance(errors[0], Mapping):
        return True, _as_int(errors[0].get("code"))
    return False, st_code


def classify(
    status_code: int, content: bytes, headers: Mapping[str, str] | None = None
) -> Classification:
    """Classify one response of a protected call (see the module table)."""
    decoded = decode_json(content)
    body = None if decoded is _UNDECODABLE else decoded
    message = _message_of(body)
    obj = body if isinstance(body, Mapping) else None

    def make(
        outcome: Outcome, st_code: int | None = None, retry: float | None = None
    ) -> Classification:
        return Classification(outcome, status_code, body, st_code, message, retry)

    if obj is not None and str(obj.get("code", "")) in GATEWAY_SESSION_CODES:
        return make(Outcome.SESSION_EXPIRED, _as_int(obj.get("code")))
    if status_code == 401:
        return make(Outcome.SESSION_EXPIRED)
    st_code = _as_int(obj.get("stCode")) if obj is not None else None
    if status_code == 403:
        text = (message + " " + str(obj.get("stat", "") if obj else "")).lower()
        if "invalid session" in text or "session expired" in text:
            return make(Outcome.SESSION_EXPIRED, st_code)
    if st_code in SESSION_EXPIRED_CODES:
        return make(Outcome.SESSION_EXPIRED, st_code)
    if st_code in NOT_FIXABLE_CODES:
        return make(Outcome.NOT_FIXABLE, st_code)
    if status_code == 429:
        retry = parse_retry_after((headers or {}).get("retry-after"))
        return make(Outcome.RATE_LIMITED, st_code, retry)
    if status_code >= 500 or status_code == 424:
        return make(Outcome.SERVER_ERROR, st_code)
    if status_code >= 400:
        return make(Outcome.CLIENT_ERROR, st_code)
    if decoded is _UNDECODABLE:
        return make(Outcome.UNDECODABLE)
    if obj is not None:
        refused, code = _business_code(obj)
        if refused:
            return make(Outcome.BUSINESS_ERROR, code)
    return make(Outcome.SUCCESS, st_code)


class LoginOutcome(enum.Enum):
    SUCCESS = "success"
    FATAL = "fatal"
    TRANSIENT = "transient"


@dataclass(frozen=True, slots=True)
class LoginClassification:
    """What one login-step response means. ``data`` is the ``data`` object on success."""

    outcome: LoginOutcome
    status_code: int
    data: Mapping[str, Any] | None = None
    st_code: int | None = None
    message: str = ""
    retry_after: float | None = None


#: Statuses of a login step that say "these credentials are wrong": never retried alone.
FATAL_LOGIN_STATUSES = frozenset({400, 401, 403, 404, 422})


def classify_login(
    status_code: int,
    content: bytes,
    headers: Mapping[str, str] | None = None,
    *,
    require: tuple[str, ...] = ("token", "sid"),
    step: str = "login",
) -> LoginClassification:
    """Classify a ``tradeApiLogin`` (``step="login"``) or ``tradeApiValidate``
    (``step="validate"``) response.

    A login step is never "session expired" (this is what stops a relogin from recursing
    through the login path, scenario 8). A gateway 900901 on the TOTP step means the
    consumer key was refused, which a new login cannot fix: **fatal**. The same 900901 on
    the MPIN step refuses the *view token* the TOTP step just issued (the consumer key
    passed that step a moment ago): the server ended sessions between the two steps, and
    the next login, on a fresh TOTP step, fixes it: **transient**, never cached as fatal.

    * 2xx with a ``data`` object holding every key of ``require`` → ``SUCCESS``.
    * 429, 424, 408 and 5xx → ``TRANSIENT`` (with ``retry_after`` from the header).
    * 2xx body that is not JSON → ``TRANSIENT`` (a proxy page, a truncated answer).
    * 400/401/403/404/422, any 2xx refusal (``stCode``/``errMsg`` without ``data``, the
      SDK's ``{"error": [...]}`` shape) and a 2xx ``data`` missing required keys → ``FATAL``.
    """
    decoded = decode_json(content)
    body = None if decoded is _UNDECODABLE else decoded
    message = _message_of(body)
    obj = body if isinstance(body, Mapping) else None
    st_code = _as_int(obj.get("stCode")) if obj is not None else None
    if obj is not None and st_code is None and str(obj.get("code", "")) in GATEWAY_SESSION_CODES:
        st_code = _as_int(obj.get("code"))
    retry = parse_retry_after((headers or {}).get("retry-after"))

    def make(outcome: LoginOutcome, data: Mapping[str, Any] | None = None) -> LoginClassification:
        return LoginClassification(outcome, status_code, data, st_code, message, retry)

    if status_code in (408, 424, 429) or status_code >= 500:
        return make(LoginOutcome.TRANSIENT)
    if step == "validate" and obj is not None and str(obj.get("code", "")) in GATEWAY_SESSION_CODES:
        return make(LoginOutcome.TRANSIENT)  # the view token was refused: log in afresh
    if status_code in FATAL_LOGIN_STATUSES or 400 <= status_code < 500:
        return make(LoginOutcome.FATAL)
    if decoded is _UNDECODABLE:
        return make(LoginOutcome.TRANSIENT)
    data = obj.get("data") if obj is not None else None
    if isinstance(data, Mapping):
        missing = [key for key in require if not isinstance(data.get(key), str) or not data[key]]
        if not missing:
            return make(LoginOutcome.SUCCESS, data)
        return LoginClassification(
            LoginOutcome.FATAL,
            status_code,
            None,
            st_code,
            message or f"login response lacks {', '.join(missing)}",
            retry,
        )
    return make(LoginOutcome.FATAL)
