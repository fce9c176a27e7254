"""The aioneo error tree: one root, split by who failed.

::

    NeoError                          root of everything aioneo raises on purpose
    ├── TransportError                no usable response: the network failed
    │   ├── ConnectError              could not connect (nothing was sent)
    │   └── RequestTimeoutError       a connect/write/read step ran out of time
    ├── APIError                      the server answered, and the answer is "no"
    │   ├── StatusError               HTTP >= 400 that no subclass below covers (.status_code)
    │   │   ├── ServerError           HTTP 5xx
    │   │   └── RateLimitError        HTTP 429 (.retry_after, seconds or None)
    │   ├── BusinessError             HTTP 200 carrying stCode/errMsg (.st_code)
    │   │   └── AccessDeniedError     static-IP and session-IP rules (100008, 1037, ...):
    │   │                             logging in again cannot fix these
    │   ├── InvalidResponseError      a body that is not the JSON the endpoint promises
    │   │   └── InstrumentFileError   a scrip-master file that is empty, header-only,
    │   │                             truncated or unparseable, with no good copy to use
    │   └── NotFoundError             missing="raise": no quote for an instrument, no
    │                                 order with that number (.missing, .found)
    ├── SessionError                  the session could not be (re)established
    │   ├── LoginError                the login itself failed
    │   │   ├── FatalLoginError       wrong MPIN / TOTP secret / UCC: never retried by itself
    │   │   └── TransientLoginError   timeout, 5xx, 424, 429: retried after a cooldown
    │   ├── SessionExpiredError       still "session expired" right after a fresh login
    │   ├── ReloginLoopError          logins keep ending each other (another login on the
    │   │                             account): automatic logins paused (.retry_in)
    │   └── SessionStoreError         the session store cannot be read, locked or trusted
    ├── OrderOutcomeUnknown           an order may or may not exist (.tag, .request)
    ├── AmbiguousTagError             find_order: several orders carry the tag in Kotak's
    │                                 rewritten forms (.tag, .order_ids)
    ├── ClientClosedError             the client was closed while the call waited
    └── FeedError                     a live feed (market or order feed) cannot go on
        ├── FeedClosedError           the feed was closed while a reader waited on it
        ├── FeedOverflowError         the consumer fell too far behind for the feed's
        │                             overflow policy (.capacity, .policy)
        └── SubscriptionError         a subscription refused before sending: over the
                                      subscription cap (.count, .limit)

Misuse (a bad argument) raises ``ValueError`` or ``TypeError`` whose message names the
field, the value and what is allowed; those are not ``NeoError``.

httpx exceptions are translated in exactly one place (the client shells, with
``raise ... from exc``). No message, ``repr`` or attribute of these exceptions ever holds a
token, sid, MPIN, TOTP code or secret: they carry the server's own error text, codes and
the endpoint name only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "APIError",
    "AccessDeniedError",
    "AmbiguousTagError",
    "BusinessError",
    "ClientClosedError",
    "ConnectError",
    "FatalLoginError",
    "FeedClosedError",
    "FeedError",
    "FeedOverflowError",
    "InstrumentFileError",
    "InvalidResponseError",
    "LoginError",
    "NeoError",
    "NotFoundError",
    "OrderOutcomeUnknown",
    "RateLimitError",
    "ReloginLoopError",
    "RequestTimeoutError",
    "ServerError",
    "SessionError",
    "SessionExpiredError",
    "SessionStoreError",
    "StatusError",
    "SubscriptionError",
    "TransientLoginError",
    "TransportError",
]


class NeoError(Exception):
    """Root of every error aioneo raises on purpose.

    ``endpoint`` names the operation (``"positions"``, ``"login"``, ...) when known.
    """

    def __init__(self, message: str, *, endpoint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.endpoint = endpoint

    def __str__(self) -> str:
        return self.message


class TransportError(NeoError):
    """No usable response arrived: the connection or a network step failed."""


class ConnectError(TransportError):
    """The connection could not be opened; the request was never sent."""


class RequestTimeoutError(TransportError):
    """A network step (connect, write or read) took longer than the client's ``timeout``."""


class APIError(NeoError):
    """The server answered and refused. ``body`` is the decoded body (``None`` if not JSON)."""

    def __init__(
        self,
        message: str,
        *,
        endpoint: str | None = None,
        status_code: int | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message, endpoint=endpoint)
        self.status_code = status_code
        self.body = body


class StatusError(APIError):
    """An HTTP status of 400 or more that no more specific error covers."""


class ServerError(StatusError):
    """HTTP 5xx: Kotak's side failed (500, 502 OMS unreachable, 503, 504)."""


class RateLimitError(StatusError):
    """HTTP 429. ``retry_after`` is the server's ``Retry-After`` in seconds, or ``None``."""

    def __init__(
        self,
        message: str,
        *,
        endpoint: str | None = None,
        status_code: int | None = 429,
        body: Any = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, endpoint=endpoint, status_code=status_code, body=body)
        self.retry_after = retry_after


class BusinessError(APIError):
    """The server answered (often HTTP 200) with ``stCode``/``errMsg``: the request was refused.

    ``st_code`` is Kotak's code as an int (for example 1021 "order is completed",
    1009 invalid quantity, 5204 reused tag).
    """

    def __init__(
        self,
        message: str,
        *,
        endpoint: str | None = None,
        status_code: int | None = None,
        body: Any = None,
        st_code: int | None = None,
    ) -> None:
        super().__init__(message, endpoint=endpoint, status_code=status_code, body=body)
        self.st_code = st_code


class AccessDeniedError(BusinessError):
    """Refused for a reason a new login cannot fix (static IP 100008, session IP 1037, ...)."""


class InvalidResponseError(APIError):
    """The body could not be decoded as the JSON this endpoint answers with."""


class InstrumentFileError(InvalidResponseError):
    """A scrip-master file that cannot be used, and no earlier good copy to fall back on.

    ``segment`` names the file (``"nse_fo"``); the message says what is wrong with it
    (header only, cut off at line N, a row with the wrong number of fields, ...).
    """

    def __init__(self, message: str, *, segment: str, endpoint: str | None = "instruments") -> None:
        super().__init__(message, endpoint=endpoint)
        self.segment = segment


class NotFoundError(APIError):
    """The server answered, without what was asked for; raised only with ``missing="raise"``.

    ``missing`` names what is missing, in the order asked: the instruments no quote came
    back for (``"nse_cm|99999"``, as ``quotes`` sent them), or the order id no order of
    the account has (``order_history``). ``found`` holds what did come back (the quotes of
    the other instruments, in order; empty for ``order_history``).
    """

    def __init__(
        self,
        message: str,
        *,
        endpoint: str | None = None,
        status_code: int | None = None,
        missing: tuple[str, ...],
        found: tuple[Any, ...] = (),
    ) -> None:
        super().__init__(message, endpoint=endpoint, status_code=status_code)
        self.missing = missing
        self.found = found


class SessionError(NeoError):
    """The session could not be established or kept."""


class LoginError(SessionError):
    """The login (TOTP step or MPIN step) failed.

    The same exception type and message reach every caller that was waiting for that
    login. ``st_code`` and ``status_code`` are the server's, when it answered.
    """

    def __init__(
        self,
        message: str,
        *,
        endpoint: str | None = "login",
        status_code: int | None = None,
        st_code: int | None = None,
    ) -> None:
        super().__init__(message, endpoint=endpoint)
        self.status_code = status_code
        self.st_code = st_code


class FatalLoginError(LoginError):
    """Wrong MPIN, TOTP secret, UCC, mobile number or consumer key, or a blocked account.

    Cached by the client and raised again without a network call until the credentials
    change or ``login()`` is called explicitly: retrying on its own could lock the account.
    ``totp_refused``: the TOTP step refused the code (the client had already tried the
    next step's code once before raising this).
    """

    def __init__(
        self,
        message: str,
        *,
        endpoint: str | None = "login",
        status_code: int | None = None,
        st_code: int | None = None,
        totp_refused: bool = False,
    ) -> None:
        super().__init__(message, endpoint=endpoint, status_code=status_code, st_code=st_code)
        self.totp_refused = totp_refused


class TransientLoginError(LoginError):
    """Timeout, connection failure, 5xx, 424 or 429 during login.

    Every caller waiting on that login receives it; the client then refuses to try again
    until a jittered cooldown has passed (``retry_after`` seconds from when it was raised).
    """

    def __init__(
        self,
        message: str,
        *,
        endpoint: str | None = "login",
        status_code: int | None = None,
        st_code: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, endpoint=endpoint, status_code=status_code, st_code=st_code)
        self.retry_after = retry_after


class SessionExpiredError(SessionError):
    """The server still said "session expired" after a fresh login (no relogin loop)."""


class ReloginLoopError(SessionError):
    """Logins keep ending each other: automatic logins are paused for ``retry_in`` seconds.

    Raised instead of logging in again when this client already had to log in again
    ``max_relogins`` times within ``relogin_window`` seconds because the server kept
    saying "session expired". The usual cause is another process or device logging in
    with the same account while Kotak keeps one session per account, so each login ends
    the other's session (a ping-pong). Share one session store between the processes
    (``FileSessionStore``, ``RedisSessionStore``) or stop the other login. An explicit
    ``login()`` is still allowed.
    """

    def __init__(
        self, message: str, *, retry_in: float = 0.0, endpoint: str | None = "login"
    ) -> None:
        super().__init__(message, endpoint=endpoint)
        self.retry_in = retry_in


class SessionStoreError(SessionError):
    """The session store could not be read, written or locked, or was refused as unsafe.

    A file that is corrupted, readable by other users or owned by another user is
    refused, never used. The message names the store and the problem, never a token or
    sid. The client does not log in without the store's lock when the store fails: that
    is what the store exists to prevent.
    """


class OrderOutcomeUnknown(NeoError):
    """An order request may or may not have reached the exchange.

    Raised for a timeout after the request was written, a reset after write, 502/503/504 or
    an unreadable 200 on place/modify/cancel. The client never resends such a request by
    itself. ``tag`` is the order's tag (``ig``, echoed as ``GuiOrdId``); look it up in the
    order book to learn what happened. ``request`` holds the operation and its fields
    (never any credential).
    """

    def __init__(
        self,
        message: str,
        *,
        endpoint: str | None = None,
        tag: str | None = None,
        request: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message, endpoint=endpoint)
        self.tag = tag
        self.request = dict(request) if request is not None else {}


class ClientClosedError(NeoError):
    """The client was closed while this call was waiting (for a login or to be sent)."""


class AmbiguousTagError(NeoError):
    """``find_order(tag)``: no order carries ``tag`` exactly, and several carry it in one of
    Kotak's rewritten forms (``<tag>-M<n>`` after a modify, ``<tag>-<secs>`` after a
    cancel), so which one was placed with ``tag`` cannot be told. Only happens when your
    own tags look like rewrites of each other (``strat`` and ``strat-M1``).
    ``order_ids`` lists the candidates."""

    def __init__(self, message: str, *, tag: str, order_ids: tuple[str, ...]) -> None:
        super().__init__(message, endpoint="find_order")
        self.tag = tag
        self.order_ids = order_ids


class FeedError(NeoError):
    """A live feed cannot go on. Session failures (a fatal login error, the relogin
    breaker) reach a feed's reader as the session's own errors, not as this."""


class FeedClosedError(FeedError):
    """The feed was closed (``close()``, or the client's) while a reader waited on it."""


class FeedOverflowError(FeedError):
    """The consumer fell further behind than the feed's buffer allows.

    Raised by the market feed with ``overflow="error"``, and by the order feed (which
    never conflates or drops an update) when ``capacity`` updates are waiting unread.
    Everything received before the overflow was delivered first; nothing after it is.
    """

    def __init__(self, message: str, *, capacity: int, policy: str) -> None:
        super().__init__(message, endpoint="feed")
        self.capacity = capacity
        self.policy = policy


class SubscriptionError(FeedError):
    """A subscription was refused before anything was sent.

    ``count`` is how many (instrument, mode) pairs the feed would have held, ``limit`` the
    cap (``max_subscriptions``, 3000 by default, as the SDK and Kotak's feed allow).
    """

    def __init__(self, message: str, *, count: int, limit: int) -> None:
        super().__init__(message, endpoint="subscribe")
        self.count = count
        self.limit = limit
