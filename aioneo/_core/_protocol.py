"""What a request is, before any I/O: the value the endpoint builders return.

A :class:`RequestSpec` says everything a shell needs to send one call the way the official
SDK ``kotakneoapi`` 3.0.9 does: which host, method, path (relative to that host, no leading
slash), which credentials go in which headers, how the body is encoded, and whether the
call is a read (safe to replay and retry) or an order (replayed only on a proven
pre-execution rejection, see ``design.md`` "Replay policy").

Header sets per ``Auth`` value (names as the SDK sends them):

=============  ===============================================================
``LOGIN``      ``Authorization: <consumer key>``, ``neo-fin-key``
``VALIDATE``   ``Authorization``, ``neo-fin-key``, ``sid: <view sid>``, ``Auth: <view token>``
``CK``         ``Authorization: <consumer key>`` only (market data)
``SESSION``    ``Sid: <trade sid>``, ``Auth: <trade token>`` (reports, portfolio)
``SESSION_CK`` ``Authorization``, ``Sid``, ``Auth`` (orders, whatsmyip)
``NONE``       nothing
=============  ===============================================================
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FORM", "JSON", "Auth", "Host", "Kind", "RequestSpec"]

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


class Host(enum.Enum):
    """Which base URL a path is relative to."""

    LOGIN = "login"  # the fixed login host (login, validate, get-client-ip)
    TRADE = "trade"  # the ``baseUrl`` returned by validate, path prefix kept


class Auth(enum.Enum):
    """Which credentials go in which headers (see the module docstring)."""

    NONE = "none"
    LOGIN = "login"
    VALIDATE = "validate"
    CK = "ck"
    SESSION = "session"
    SESSION_CK = "session_ck"


class Kind(enum.Enum):
    """How the retry/replay policy treats a call."""

    READ = "read"  # idempotent: replayed after relogin, retried on transient failures
    ORDER = "order"  # place/modify/cancel: never resent blindly
    LOGIN = "login"  # the login steps themselves: never trigger a relogin


@dataclass(frozen=True, slots=True)
class RequestSpec:
    """One call, fully described, with no credential in it.

    ``jdata`` is sent as the single form field ``jData=<json.dumps(jdata)>`` (Python's
    default separators, key order kept, ``None`` as ``null``), exactly as the SDK does.
    ``json`` is sent as a raw JSON body (login steps only). ``params`` become the query
    string. ``accept`` is sent as a lowercase ``accept`` header when not ``None``.
    ``tag`` is the order tag (``ig``) for orders, so errors can carry it.
    """

    op: str
    method: str
    path: str
    host: Host = Host.TRADE
    auth: Auth = Auth.SESSION
    kind: Kind = Kind.READ
    content_type: str = JSON
    accept: str | None = JSON
    # Bodies stay out of repr: the login bodies hold the TOTP code and the MPIN.
    jdata: Mapping[str, Any] | None = field(default=None, repr=False)
    json: Mapping[str, Any] | None = field(default=None, repr=False)
    params: Mapping[str, str] | None = None
    tag: str | None = None
