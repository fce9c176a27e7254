"""``http_backend="aiohttp"``: an httpx transport of aioneo's own over an aiohttp session.

Why: httpx's own transport (httpcore over anyio) costs most of ``AsyncNeoClient``'s CPU per
request; with this transport (and the lean path of ``aioneo/_backends.py``) the client
costs about a third of that at one caller and a fifth at a thousand
(``benchmarks/client_cpu.py``). The client above it is unchanged: requests and responses
are still httpx's ``Request`` and ``Response``, so everything aioneo decides (relogin,
replays, order outcomes) reads the same httpx types and exceptions.

What this transport guarantees, and how:

* **Whether a request may have been written** decides every failure, not aiohttp's
  exception type. Each request goes through three phases, reported by aioneo's subclass
  of aiohttp's ``ClientRequest`` (its ``send`` runs once a connection is held):
  *connecting* (DNS, TCP, TLS; or taking a pooled connection), *writing* (from the moment
  a connection is held until the request headers are written) and *reading*.
  A failure while connecting raises ``httpx.ConnectError`` (``httpx.ConnectTimeout`` for a
  timeout): nothing was sent, so aioneo may retry an order. Any failure once a connection
  is held (reset, server disconnected, a malformed answer, a read timeout) raises
  ``httpx.WriteError``/``httpx.WriteTimeout`` or ``httpx.ReadError``/
  ``httpx.ReadTimeout``/``httpx.RemoteProtocolError``, which aioneo reads as "the outcome
  is unknown" for an order. httpx-aiohttp 0.2.0 maps reset, server disconnected and read
  timeouts to ``ConnectTimeout`` ("nothing sent"), which would turn a lost answer into a
  definite error; that is why aioneo owns this map.
* **Timeouts** come from each request's httpx ``timeout`` extension: ``pool`` bounds the wait
  for one of the ``max_connections`` slots (``httpx.PoolTimeout``), ``connect`` the
  connecting phase, ``write`` the writing phase, ``read`` each read from the socket
  (aiohttp's ``sock_read``, the same per-read meaning as httpx's).
* **``max_connections``** bounds the requests in flight (a semaphore, whose wait is the
  pool phase) and the connections aiohttp opens (``TCPConnector(limit=...)``); idle
  connections are kept ``KEEPALIVE_EXPIRY`` seconds, as httpx does.
* **One transport, one pool**: ``AsyncNeoClient`` makes one for trading requests and one for
  logins, so a login never queues behind the requests it rescues.
* **Event loops**: the aiohttp session is made on first use in the running loop. Used from
  a later loop after that one closed, the old loop's sockets are closed without it (as
  ``aioneo._lifecycle`` does for httpx's pools) and a new session is made; used from
  another loop while the first still runs, it raises ``RuntimeError``.

The trade-offs: each response is read whole before ``handle_async_request`` returns (Neo's
answers are small JSON documents, and aioneo reads every body anyway), so streaming a
large body is not supported. Cookies are left to ``httpx.AsyncClient`` (aiohttp's jar is
off) and so is decompression (aiohttp's is off, httpx decodes ``Content-Encoding``).
aiohttp's own silent resend of an idempotent request after a disconnect is turned off
(each request is sent once: aioneo decides retries). Certificates are checked against
certifi's bundle, as httpx does. Proxies and HTTP/2 are
not supported (aiohttp reads no proxy variables here: ``trust_env`` is off).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import enum
import functools
import ssl
from typing import Any

import httpx

try:
    import aiohttp
    import certifi
    import yarl
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "http_backend='aiohttp' needs aiohttp: pip install 'aioneo[aiohttp]'"
    ) from exc

__all__ = ["KEEPALIVE_EXPIRY", "AiohttpTransport"]

#: Seconds an idle connection is kept for reuse (httpx's ``keepalive_expiry`` default).
KEEPALIVE_EXPIRY = 5.0


class _Phase(enum.Enum):
    POOL = "waiting for a free connection"
    CONNECT = "connecting"
    WRITE = "writing the request"
    READ = "reading the response"


class _Progress:
    """One request's phase, moved on by :class:`_Request`, and its deadline."""

    __slots__ = ("deadline", "phase", "write")

    def __init__(self, deadline: asyncio.Timeout, write: float | None) -> None:
        self.phase = _Phase.CONNECT
        self.deadline = deadline
        self.write = write

    def connected(self) -> None:
        self.phase = _Phase.WRITE
        loop = asyncio.get_running_loop()
        self.deadline.reschedule(None if self.write is None else loop.time() + self.write)

    def written(self) -> None:
        self.phase = _Phase.READ
        self.deadline.reschedule(None)  # reads are bounded by aiohttp's sock_read


#: The progress of the request this task is sending (set around ``session.request``).
_PROGRESS: contextvars.ContextVar[_Progress | None] = contextvars.ContextVar(
    "aioneo_aiohttp_progress", default=None
)


class _Request(aiohttp.ClientRequest):
    """aiohttp's request, reporting the phases: ``send`` is called once a connection is
    held (new or pooled) and returns once the request headers (and a small body) are
    written; a larger body goes on in a task while the answer is read. Cheaper than
    aiohttp's tracing signals, which cost a dozen awaits per request."""

    async def send(self, conn: Any) -> aiohttp.ClientResponse:
        progress = _PROGRESS.get()
        if progress is not None:
            progress.connected()
        response = await super().send(conn)
        if progress is not None:
            progress.written()
        return response


def _timeout_error(phase: _Phase, request: httpx.Request) -> httpx.TimeoutException:
    text = f"timed out {phase.value}"
    if phase is _Phase.POOL:
        return httpx.PoolTimeout(text, request=request)
    if phase is _Phase.CONNECT:
        return httpx.ConnectTimeout(text, request=request)
    if phase is _Phase.WRITE:
        return httpx.WriteTimeout(text, request=request)
    return httpx.ReadTimeout(text, request=request)


def map_failure(exc: BaseException, phase: _Phase, request: httpx.Request) -> httpx.TransportError:
    """The httpx exception for aiohttp's ``exc``, raised in ``phase``.

    The phase alone decides whether anything may have been sent; the type only picks the
    class within it. A connector error (refused, DNS, TLS handshake) happens while
    connecting; anything once a connection is held is at best "unknown".
    """
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
        return _timeout_error(phase, request)
    if phase in (_Phase.POOL, _Phase.CONNECT):
        return httpx.ConnectError(text, request=request)
    if phase is _Phase.WRITE:
        return httpx.WriteError(text, request=request)
    if isinstance(
        exc,
        aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError | aiohttp.ClientResponseError,
    ):
        return httpx.RemoteProtocolError(text, request=request)
    return httpx.ReadError(text, request=request)


@functools.lru_cache(maxsize=16)
def _read_timeout(read: float | None) -> aiohttp.ClientTimeout:
    """aiohttp's per-request timeout: only ``sock_read`` (the rest is this module's)."""
    return aiohttp.ClientTimeout(total=None, sock_read=read)


class AiohttpTransport(httpx.AsyncBaseTransport):
    """An ``httpx.AsyncBaseTransport`` over one ``aiohttp.ClientSession`` (see the module).

    ``max_connections`` bounds the requests in flight and the open connections.
    ``verify=False`` skips certificate checks (tests against a self-signed server only).
    """

    def __init__(self, *, max_connections: int = 10, verify: bool = True) -> None:
        if isinstance(max_connections, bool) or not isinstance(max_connections, int):
            raise ValueError(f"max_connections must be an int >= 1, got {max_connections!r}")
        if max_connections < 1:
            raise ValueError(f"max_connections must be an int >= 1, got {max_connections!r}")
        self._max_connections = max_connections
        self._verify = verify
        self._loop: asyncio.AbstractEventLoop | None = None
        self._session: aiohttp.ClientSession | None = None
        self._slots: asyncio.Semaphore | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"AiohttpTransport(max_connections={self._max_connections})"

    # -- the session of the running loop -----------------------------------------------
    def _bind(self) -> tuple[aiohttp.ClientSession, asyncio.Semaphore]:
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._session is None or self._slots is None:
            if self._loop is not None and not self._loop.is_closed():
                raise RuntimeError(
                    "this AiohttpTransport is bound to another running event loop; "
                    "use one per event loop"
                )
            self.release_closed_loop()
            ssl_context: ssl.SSLContext | bool = False
            if self._verify:
                ssl_context = ssl.create_default_context(cafile=certifi.where())
            connector = aiohttp.TCPConnector(
                limit=self._max_connections,
                limit_per_host=0,
                keepalive_timeout=KEEPALIVE_EXPIRY,
                ssl=ssl_context,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False,
                trust_env=False,
                raise_for_status=False,
                requote_redirect_url=False,
                request_class=_Request,
                timeout=aiohttp.ClientTimeout(total=None),
            )
            # aiohttp resends a GET (any idempotent method) once, silently, when the server
            # disconnects or resets; httpcore never does. aioneo decides every retry itself
            # (and counts them), so the transport must send each request exactly once.
            if hasattr(self._session, "_retry_connection"):
                self._session._retry_connection = False
            self._slots = asyncio.Semaphore(self._max_connections)
            self._loop = loop
        return self._session, self._slots

    def release_closed_loop(self) -> None:
        """Close the sockets of a session whose event loop has closed, without that loop
        and without "unclosed" warnings; a no-op otherwise (no session, or its loop runs).

        Relies on aiohttp's connector internals (``_conns``, ``_acquired``, ``_closed``),
        each read with ``getattr``; where they are not what it expects, the sockets are
        left to the garbage collector (which then warns).
        """
        session, loop = self._session, self._loop
        if session is None or loop is None or not loop.is_closed():
            return
        self._session = self._slots = None
        self._loop = None
        connector = session.connector
        if connector is None:
            return
        protocols: list[Any] = []
        for held in list(getattr(connector, "_conns", {}).values()):
            protocols.extend(proto for proto, _ in held)
        protocols.extend(getattr(connector, "_acquired", ()))
        for proto in protocols:
            transport = getattr(proto, "transport", None)
            finish = getattr(transport, "_call_connection_lost", None)
            if isinstance(transport, asyncio.Transport) and callable(finish):
                with contextlib.suppress(Exception):
                    transport.abort()  # marks it closing; scheduling on the dead loop fails
                with contextlib.suppress(Exception):
                    finish(None)  # closes the socket
        with contextlib.suppress(Exception):
            getattr(connector, "_conns", {}).clear()
            getattr(connector, "_acquired", set()).clear()
            connector._closed = True  # so neither it nor the session warns when collected

    # -- httpx.AsyncBaseTransport ------------------------------------------------------
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._closed:
            raise httpx.ConnectError("the transport is closed", request=request)
        session, slots = self._bind()
        timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        loop = asyncio.get_running_loop()
        pool = timeouts.get("pool")
        try:
            if pool is None:
                await slots.acquire()
            else:
                async with asyncio.timeout(pool):
                    await slots.acquire()
        except TimeoutError:
            raise _timeout_error(_Phase.POOL, request) from None
        try:
            return await self._exchange(session, request, timeouts, loop)
        finally:
            slots.release()

    async def _exchange(
        self,
        session: aiohttp.ClientSession,
        request: httpx.Request,
        timeouts: dict[str, float | None],
        loop: asyncio.AbstractEventLoop,
    ) -> httpx.Response:
        body = await request.aread()
        connect = timeouts.get("connect")
        read = timeouts.get("read")
        async with asyncio.timeout(None) as deadline:
            progress = _Progress(deadline, timeouts.get("write"))
            if connect is not None:
                deadline.reschedule(loop.time() + connect)
            token = _PROGRESS.set(progress)
            try:
                async with session.request(
                    request.method,
                    yarl.URL(str(request.url), encoded=True),
                    headers=[
                        (k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw
                    ],
                    data=body or None,
                    allow_redirects=False,
                    compress=None,
                    timeout=_read_timeout(read),
                ) as answer:
                    progress.phase = _Phase.READ
                    deadline.reschedule(None)
                    content = await answer.read()
                    status = answer.status
                    headers = [(k, v) for k, v in answer.raw_headers]
            except asyncio.CancelledError:
                if deadline.expired():
                    raise _timeout_error(progress.phase, request) from None
                raise
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                if deadline.expired():
                    raise _timeout_error(progress.phase, request) from exc
                raise map_failure(exc, progress.phase, request) from exc
            except RuntimeError as exc:  # "Session is closed": closed while this waited
                if session.closed:
                    raise httpx.ConnectError("the transport was closed", request=request) from exc
                raise
            finally:
                _PROGRESS.reset(token)
        return httpx.Response(
            status,
            headers=headers,
            content=content,
            request=request,
            extensions={"http_version": b"HTTP/1.1"},
        )

    async def aclose(self) -> None:
        self._closed = True
        session, self._session = self._session, None
        loop, self._loop = self._loop, None
        if session is None:
            return
        if loop is not None and loop.is_closed():
            self._session, self._loop = session, loop
            self.release_closed_loop()
            return
        await session.close()
