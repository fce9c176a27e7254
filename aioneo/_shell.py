"""What both shells share: defaults, the httpx failure translation, login bookkeeping.

``AsyncNeoClient`` (``_async_client.py``) and ``NeoClient`` (``_sync_client.py``) are twins;
neither imports the other. Everything they both need that is not a decision (those live
in ``aioneo._core``) lives here: the default option values, the one place httpx's
transport exceptions are translated into a :class:`~aioneo._core._policy.Failure`, and the
small records a login passes around.
"""

from __future__ import annotations

import logging

import httpx

from ._core._persist import StoredSession
from ._core._policy import Failure, connect_cause
from ._core._session import Session
from ._exceptions import SessionStoreError
from ._stores import SessionStore

__all__ = [
    "DEFAULT_LOGIN_TIMEOUT",
    "DEFAULT_LOGIN_URL",
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_RATE_LIMIT",
    "DEFAULT_TIMEOUT",
    "LOGIN_CONNECTIONS",
    "STORE_POLL",
    "STORE_WAIT_MARGIN",
    "LoginProgress",
    "NoResponse",
    "Obtained",
    "error_text",
    "failure_of",
    "no_response",
    "release_quietly",
]

logger = logging.getLogger("aioneo")

DEFAULT_LOGIN_URL = "https://mis.kotaksecurities.com"
#: Seconds for each network step of a request (connect, write, read).
DEFAULT_TIMEOUT = 10.0
#: Seconds for the two network steps of a login together (the TOTP wait is not counted).
DEFAULT_LOGIN_TIMEOUT = 30.0
#: Concurrent trading requests on the wire; the rest queue inside the client.
DEFAULT_MAX_CONNECTIONS = 10
#: Requests per second per session, as Kotak documents.
DEFAULT_RATE_LIMIT: float | None = 10.0
#: Connections reserved for the login host: a login never queues behind requests.
LOGIN_CONNECTIONS = 2
#: Seconds between two looks at a shared session store while another client logs in.
STORE_POLL = 0.05
#: Seconds a login waits for a shared store's lock beyond the holder's lease.
STORE_WAIT_MARGIN = 5.0


def failure_of(exc: httpx.TransportError) -> Failure:
    """The one place httpx's transport exceptions are translated."""
    if isinstance(exc, httpx.ConnectTimeout):
        return Failure.CONNECT_TIMEOUT
    if isinstance(exc, httpx.PoolTimeout):
        return Failure.POOL_TIMEOUT
    if isinstance(exc, httpx.WriteTimeout):
        return Failure.WRITE_TIMEOUT
    if isinstance(exc, httpx.TimeoutException):
        return Failure.READ_TIMEOUT
    if isinstance(exc, httpx.ConnectError):
        return Failure.CONNECT
    return Failure.RESET


class NoResponse(Exception):
    """No answer: what failed (``failure``), and where and why (``host``, ``cause``)."""

    def __init__(
        self, failure: Failure, *, host: str | None = None, cause: str | None = None
    ) -> None:
        super().__init__(failure.value)
        self.failure = failure
        self.host = host
        self.cause = cause


def error_text(exc: BaseException) -> str:
    """The text of ``exc`` and of what caused it (anyio hides "Connection refused" behind
    "All connection attempts failed"), for :func:`~aioneo._core._policy.connect_cause`."""
    parts: list[str] = []
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo and len(parts) < 16:
        item = todo.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        parts.append(str(item))
        if isinstance(item, BaseExceptionGroup):
            todo.extend(item.exceptions)
        for nxt in (item.__cause__, item.__context__):
            if nxt is not None:
                todo.append(nxt)
    return " | ".join(parts)


def no_response(exc: httpx.TransportError, request: httpx.Request) -> NoResponse:
    """``exc`` as a :class:`NoResponse` naming the host and, for a connect failure, why."""
    failure = failure_of(exc)
    cause = connect_cause(error_text(exc)) if failure is Failure.CONNECT else None
    return NoResponse(failure, host=request.url.host or None, cause=cause)


class LoginProgress:
    """How far one login got: which TOTP step it planned, whether the code may be spent."""

    __slots__ = ("refused", "sent", "step")

    def __init__(self) -> None:
        self.step: int | None = None
        self.sent = False  # the TOTP step request went out
        self.refused = False  # ... and the server answered it with a refusal

    @property
    def code_may_be_used(self) -> bool:
        return self.sent and not self.refused


class Obtained:
    """A login task's result: the session, and what is left to do after publishing it."""

    __slots__ = ("adopted", "owner", "record", "session")

    def __init__(
        self,
        session: Session,
        *,
        adopted: bool,
        owner: str | None = None,
        record: StoredSession | None = None,
    ) -> None:
        self.session = session
        self.adopted = adopted
        self.owner = owner  # the store lock still held, released after the write
        self.record = record  # what to write to the store (a login of this client)


def release_quietly(store: SessionStore, owner: str) -> None:
    """Release a store lock from a worker thread; a failure is logged, never raised."""
    try:
        store.release_lock(owner)
    except Exception as exc:  # the lease ends by itself: log, do not raise
        logger.warning(
            "releasing the session store's login lock failed (%s); it ends with its lease",
            exc if isinstance(exc, SessionStoreError) else type(exc).__name__,
        )
