"""The feeds' control plane: auth frames, their replies, close codes. Pure: no I/O, no clock.

Market feed (SFeed ``native_batch``, ``kotak-neo-api.md`` 6.1). The first message after
the socket opens is a JSON text frame, :func:`sfeed_auth_frame`, carrying the UCC as
``user`` and the trade **sid** as ``auth`` (the SDK's code and Kotak's guide agree; the
SDK's ``create_websocket`` docstring, which says otherwise, is wrong). The server answers
with a text frame of ``message_code`` 1117 (documented) or 1119 (seen in production)
whose ``exchanges`` give each segment's price divider. The SDK reads at most 10 frames,
skipping binary ones, for that reply; :class:`SFeedAuthWait` does the same, one frame at a
time, and says what the reply means (:class:`AuthResult`):

* ``ACCEPTED``: 1117/1119 without ``native_fallback``: the dividers, by exchange id;
* ``REFUSED``: ``"format": "native_fallback"``, the server's "not with this session":
  "session expired" for the epoch whose sid was sent;
* ``FAILED``: anything else (no reply within 10 frames, a first text frame that is not an
  auth reply, unreadable JSON): a protocol failure, retried with backoff, not an expiry.

Order feed (``kotak-neo-api.md`` 6.2). The first message is one **non-JSON** text frame,
:func:`order_feed_handshake`: ``{type:cn,Authorization:<trade token>,Sid:<trade sid>,src:WEB}``.
The server acknowledges with JSON: ``{"ak":"ok","type":"cn",...}``, or, for a dead
session, ``{"ak":"nk","type":"cn","msg":"Authentication Failed"}``, which the SDK drops
with the ``ok`` acks (its feed then looks connected and stays mute). aioneo parses the
ack (:func:`parse_order_feed_ack`): ``nk`` is REFUSED.

Close codes. Kotak documents none for auth; :func:`close_kind` treats 1008 (policy
violation, what servers send for a rejected credential) and 4001/4003/4401/4403 (the
application range's "unauthorised"/"forbidden") as an auth refusal, and an HTTP 401/403
answer to the WebSocket handshake likewise (:func:`handshake_status_kind`). Everything
else, 1006 (no close frame) included, is a plain drop: reconnect with backoff and the
current session, no login. Treating a drop as an expiry would cost a login per network
blip; treating a refusal as a drop would reconnect forever with a dead sid. The sets are
arguments so a shell (or a test against another server) can change them.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from ._feed_decode import EXCHANGE_IDS

__all__ = [
    "AUTH_CLOSE_CODES",
    "AUTH_HANDSHAKE_STATUSES",
    "AUTH_REPLY_CODES",
    "MAX_AUTH_FRAMES",
    "SUBSCRIBE_ACK_CODE",
    "AuthOutcome",
    "AuthResult",
    "CloseKind",
    "ControlFrame",
    "SFeedAuthWait",
    "close_kind",
    "handshake_status_kind",
    "order_feed_handshake",
    "parse_order_feed_ack",
    "parse_sfeed_auth_reply",
    "parse_sfeed_control",
    "sfeed_auth_frame",
]

#: ``message_code`` of the SFeed auth reply: 1117 documented, 1119 seen in production.
AUTH_REPLY_CODES: Final = frozenset({1117, 1119})
#: ``message_code`` of the subscribe acknowledgement carrying ``trading_symbols``.
SUBSCRIBE_ACK_CODE: Final = 1109
#: Frames read while waiting for the auth reply before giving up (as the SDK).
MAX_AUTH_FRAMES: Final = 10
#: Close codes read as "this session is refused" (see the module docstring).
AUTH_CLOSE_CODES: Final = frozenset({1008, 4001, 4003, 4401, 4403})
#: HTTP statuses of a refused WebSocket handshake read as "this session is refused".
AUTH_HANDSHAKE_STATUSES: Final = frozenset({401, 403})
_DEFAULT_DIVIDER: Final = 100

# The SDK's fixed auth-frame values (``SFeedWebSocket.__init__`` defaults, 3.0.9).
SFEED_SOURCE: Final = "NEOTRADEAPI"
SFEED_PLATFORM: Final = "Web"
SFEED_VERSION: Final = "1.2.3"
SFEED_SDK_VERSION: Final = 2
SFEED_SDK_DATE: Final = "2026-08-07T09:41:17.667Z"


class AuthOutcome(enum.Enum):
    ACCEPTED = "accepted"  # authenticated: go live
    REFUSED = "refused"  # the session was refused: "session expired" for its epoch
    FAILED = "failed"  # a protocol failure: reconnect with backoff, no login


@dataclass(frozen=True, slots=True)
class AuthResult:
    """What a feed's auth reply means. ``dividers`` by exchange id (ACCEPTED only);
    ``reason`` a short text safe to show (never a credential)."""

    outcome: AuthOutcome
    reason: str = ""
    dividers: Mapping[int, int] = field(default_factory=dict)


def _check_credential(name: str, value: object) -> str:
    if not isinstance(value, str) or not value or any(c in value for c in ",{}\r\n"):
        shown = "an empty string" if value == "" else type(value).__name__
        if isinstance(value, str) and value:
            shown = "a string containing ',', '{', '}' or a line break"
        raise ValueError(
            f"{name} must be a non-empty string without ',', '{{', '}}' or line breaks "
            f"(the session's value); got {shown}"
        )
    return value


def sfeed_auth_frame(*, user: str, sid: str, now_ms: int) -> str:
    """The SFeed auth frame, byte for byte as the SDK sends it (``json.dumps``, same keys
    in the same order). ``user`` is the UCC, ``sid`` the trade sid, ``now_ms`` the local
    time in epoch milliseconds (``conn_req_time``)."""
    return json.dumps(
        {
            "user": _check_credential("user", user),
            "auth": _check_credential("sid", sid),
            "format": "native_batch",
            "source": SFEED_SOURCE,
            "platform": SFEED_PLATFORM,
            "version": SFEED_VERSION,
            "sdk_version": SFEED_SDK_VERSION,
            "sdk_date": SFEED_SDK_DATE,
            "conn_req_time": int(now_ms),
            "sessionValidation": False,
        }
    )


def _divider(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if isinstance(value, float) and value.is_integer() and value > 0:
        return int(value)
    if isinstance(value, str) and value.strip().isdigit() and int(value) > 0:
        return int(value)
    return None


def parse_sfeed_auth_reply(data: Mapping[str, Any]) -> AuthResult:
    """The meaning of a decoded JSON text frame read while waiting for the auth reply.

    Dividers: ``exchanges[name] = {"value": <exchange id>, "divider": <n>}``; the id comes
    from ``value`` (else the name's id), a missing divider is 100 (as the SDK); a divider
    that is not a positive whole number is left out, so that segment decodes with 100.
    """
    code = data.get("message_code")
    if code not in AUTH_REPLY_CODES:
        return AuthResult(
            AuthOutcome.FAILED, f"the first text frame is not an auth reply ({code!r})"
        )
    if data.get("format") == "native_fallback":
        return AuthResult(AuthOutcome.REFUSED, "the feed refused the session (native_fallback)")
    dividers: dict[int, int] = {}
    exchanges = data.get("exchanges")
    if isinstance(exchanges, Mapping):
        for name, info in exchanges.items():
            if not isinstance(info, Mapping):
                continue
            exchange_id = info.get("value", EXCHANGE_IDS.get(str(name)))
            if isinstance(exchange_id, bool) or not isinstance(exchange_id, int):
                continue
            if not -128 <= exchange_id <= 127:
                continue
            divider = _divider(info.get("divider", _DEFAULT_DIVIDER))
            if divider is not None:
                dividers[exchange_id] = divider
    return AuthResult(AuthOutcome.ACCEPTED, "authenticated", dividers)


class SFeedAuthWait:
    """Waiting for the SFeed auth reply, one received frame at a time.

    ``feed(frame)`` returns ``None`` while the reply may still come (a binary frame is
    skipped), else the :class:`AuthResult`. After :data:`MAX_AUTH_FRAMES` frames without
    a reply the result is ``FAILED``. The time limit per frame is the shell's (the SDK
    waits 10 s per frame); a shell that times out reports ``FAILED`` itself.
    """

    __slots__ = ("frames",)

    def __init__(self) -> None:
        self.frames = 0

    def feed(self, frame: str | bytes) -> AuthResult | None:
        self.frames += 1
        if isinstance(frame, str):
            try:
                data = json.loads(frame)
            except ValueError:
                return AuthResult(AuthOutcome.FAILED, "the auth reply is not JSON")
            if not isinstance(data, Mapping):
                return AuthResult(AuthOutcome.FAILED, "the auth reply is not a JSON object")
            return parse_sfeed_auth_reply(data)
        if self.frames >= MAX_AUTH_FRAMES:
            return AuthResult(AuthOutcome.FAILED, f"no auth reply within {MAX_AUTH_FRAMES} frames")
        return None


@dataclass(frozen=True, slots=True)
class ControlFrame:
    """A JSON text frame of a live SFeed connection. ``trading_symbols`` is filled for a
    subscribe acknowledgement (1109): ``{"nse_cm|2885": "RELIANCE-EQ", ...}`` (indices
    keyed by name); ``data`` is the decoded object (``None`` when it was not JSON)."""

    message_code: int | None
    trading_symbols: Mapping[str, str] = field(default_factory=dict)
    data: Mapping[str, Any] | None = field(default=None, repr=False)


def parse_sfeed_control(text: str) -> ControlFrame:
    """Read a text frame of a live SFeed connection; never raises."""
    try:
        data = json.loads(text)
    except ValueError:
        return ControlFrame(None)
    if not isinstance(data, Mapping):
        return ControlFrame(None)
    code = data.get("message_code")
    if isinstance(code, bool) or not isinstance(code, int):
        code = None
    symbols: dict[str, str] = {}
    if code == SUBSCRIBE_ACK_CODE:
        mapping = data.get("trading_symbols")
        if isinstance(mapping, Mapping):
            symbols = {
                k: v for k, v in mapping.items() if isinstance(k, str) and isinstance(v, str)
            }
    return ControlFrame(code, symbols, data)


def order_feed_handshake(*, token: str, sid: str, source: str = "WEB") -> str:
    """The order feed's first frame, exactly as the SDK builds it (not JSON)."""
    token = _check_credential("token", token)
    sid = _check_credential("sid", sid)
    source = _check_credential("source", source)
    return f"{{type:cn,Authorization:{token},Sid:{sid},src:{source}}}"


def parse_order_feed_ack(data: Mapping[str, Any]) -> AuthResult | None:
    """The handshake ack in a decoded order-feed message, or ``None`` if it is not one.

    ``"ak": "ok"`` is ACCEPTED; ``"ak": "nk"`` (``"msg": "Authentication Failed"``) is
    REFUSED, whatever the message says; a ``"type": "cn"`` frame with any other ``ak`` is
    FAILED.
    """
    ak = data.get("ak")
    if ak is None and data.get("type") != "cn":
        return None
    message = data.get("msg")
    text = message if isinstance(message, str) else ""
    if ak == "ok":
        return AuthResult(AuthOutcome.ACCEPTED, text or "authenticated")
    if ak == "nk":
        return AuthResult(AuthOutcome.REFUSED, text or "the order feed refused the session")
    return AuthResult(AuthOutcome.FAILED, f"unexpected handshake ack {ak!r}")


class CloseKind(enum.Enum):
    AUTH = "auth"  # the session was refused: "session expired" for its epoch
    DROP = "drop"  # anything else: reconnect with backoff, no login


def close_kind(code: int | None, *, auth_codes: frozenset[int] = AUTH_CLOSE_CODES) -> CloseKind:
    """What a close code means (``None`` or 1006: no close frame arrived: a drop)."""
    return CloseKind.AUTH if code is not None and code in auth_codes else CloseKind.DROP


def handshake_status_kind(
    status: int, *, auth_statuses: frozenset[int] = AUTH_HANDSHAKE_STATUSES
) -> CloseKind:
    """What an HTTP status refusing the WebSocket upgrade means (401/403: the session)."""
    return CloseKind.AUTH if status in auth_statuses else CloseKind.DROP
