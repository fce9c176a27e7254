"""Closing the shells: the sockets behind their httpx pools, and the steps of a close.

httpx's ``close()`` / ``aclose()`` is not enough in two cases, and httpx has no API to
reach a pool's connections:

* ``NeoClient.close()`` while threads are inside ``send()``: httpcore's sync pool closes
  the sockets of the connections in use too, but on Linux closing a socket does not wake
  a thread blocked reading it; that call would end only when its read timeout expires.
  ``shutdown(SHUT_RDWR)`` wakes it at once.
* ``AsyncNeoClient`` moving to a new event loop: the old pools' connections belong to
  the closed loop. An asyncio transport closes through ``loop.call_soon``, which fails
  once the loop is closed ("Event loop is closed"), so ``aclose()`` raises, and dropping
  the pools makes the garbage collector warn about every unclosed transport.

:class:`Sockets` learns the network streams of one client's pools as they connect,
from httpcore's documented ``trace`` request extension (``connection.connect_tcp`` and
``connection.start_tls`` report the new stream as their ``return_value``), which an httpx
request hook attaches to every request. A transport that does not go through httpcore,
such as the emulator's in-process transport, reports nothing, and then everything here
is a no-op: the clients close as httpx closes. The one function that touches private
internals is :func:`_finish_closing`; where those are not what it expects, it falls
back to shutting the socket down, which still ends the connection for the server.

:class:`CloseSteps` runs the steps of one close so that a failing step does not skip
the ones after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any

import httpx

__all__ = ["CloseSteps", "Sockets", "report_masked"]

logger = logging.getLogger("aioneo")

#: The trace events whose ``return_value`` is a newly connected network stream.
_CONNECTED = frozenset(
    {
        "connection.connect_tcp.complete",
        "connection.connect_unix_socket.complete",
        "connection.start_tls.complete",
    }
)

SyncHooks = dict[str, list[Callable[[httpx.Request], None]]]
AsyncHooks = dict[str, list[Callable[[httpx.Request], Awaitable[None]]]]


class Sockets:
    """The network streams of one client's pools (trading and login), as they connect.

    Pass :meth:`hooks` (or :meth:`async_hooks`) as ``event_hooks`` to both pools. The
    streams are held until their socket is closed (checked whenever one connects): held
    weakly, a stream could be collected before the transport it wraps, which would then
    be missed. Once :meth:`shutdown`, :meth:`close` or :meth:`release` has run, a stream
    that connects afterwards (a call that raced the close) is shut down as soon as it
    connects, so its call fails at once instead of reaching the server. Thread-safe.

    A forked child must not touch its parent's connections (a shutdown acts on the
    socket both processes share): in another process than the one that made it,
    :meth:`shutdown`, :meth:`close` and :meth:`release` do nothing.
    """

    __slots__ = ("_closed", "_lock", "_pid", "_streams")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._streams: set[Any] = set()
        self._closed = False
        self._pid = os.getpid()

    def hooks(self) -> SyncHooks:
        """``event_hooks`` for an ``httpx.Client``."""
        return {"request": [self._attach]}

    def async_hooks(self) -> AsyncHooks:
        """``event_hooks`` for an ``httpx.AsyncClient``."""
        return {"request": [self._attach_async]}

    def _attach(self, request: httpx.Request) -> None:
        request.extensions.setdefault("trace", self._trace)

    async def _attach_async(self, request: httpx.Request) -> None:
        request.extensions.setdefault("trace", self._trace_async)

    def _trace(self, event: str, info: Mapping[str, Any]) -> None:
        if event in _CONNECTED:
            self._add(info.get("return_value"))

    async def _trace_async(self, event: str, info: Mapping[str, Any]) -> None:
        if event in _CONNECTED:
            self._add(info.get("return_value"))

    def _add(self, stream: object) -> None:
        if _socket_of(stream) is None:  # nothing to act on (say, a custom network backend)
            return
        with self._lock:
            if not self._closed:
                # A handful at most: the open connections, and the ones closed since the
                # last connect.
                self._streams = {s for s in self._streams if _socket_of(s) is not None}
                self._streams.add(stream)
                return
        _shutdown(stream)  # connected after the close began: end its call now

    def _take(self) -> list[Any]:
        if os.getpid() != self._pid:  # a forked child (where _lock may have been held)
            return []
        with self._lock:
            self._closed = True
            streams, self._streams = list(self._streams), set()
        return streams

    def shutdown(self) -> None:
        """Shut every socket down, in use or idle: threads blocked reading one return at
        once (with a transport error). The pool's ``close()`` then closes them. Never
        raises."""
        for stream in self._take():
            _shutdown(stream)

    def close(self) -> None:
        """Only stop tracking: for an async pool about to be closed in its own loop (its
        ``aclose()`` wakes the tasks reading), so that late connections are shut down."""
        self._take()

    def release(self, loop: asyncio.AbstractEventLoop) -> None:
        """Close the sockets of async pools whose event loop, ``loop``, has closed, and
        detach their transports, without that loop and without warnings. The pools are
        then unusable: drop them (their ``aclose()`` would fail). Refuses a loop that is
        not closed; otherwise never raises."""
        if not loop.is_closed():
            raise RuntimeError("release() is for the pools of a closed event loop")
        for stream in self._take():
            if _socket_of(stream) is not None and not _finish_closing(stream):
                _shutdown(stream)  # fallback: the socket is closed when collected


def _socket_of(stream: Any) -> Any:
    """The stream's socket while it is open, else ``None`` (also under a custom backend)."""
    try:
        sock = stream.get_extra_info("socket")
        if sock is None or sock.fileno() == -1:  # closed (or, after TLS, handed over)
            return None
    except Exception:
        return None
    return sock


def _shutdown(stream: object) -> None:
    """Shut the stream's socket down both ways: a thread blocked reading it returns at
    once and the server sees the connection end. Never raises."""
    sock = _socket_of(stream)
    if sock is None:
        return
    try:
        if isinstance(sock, socket.socket):
            # The plain socket's method, for an ssl.SSLSocket too: SSLSocket.shutdown()
            # also drops its TLS object, under a thread that may be reading through it.
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
        else:  # asyncio's TransportSocket
            sock.shutdown(socket.SHUT_RDWR)
    except Exception:  # not connected any more (OSError), closed meanwhile, a foreign socket
        pass


def _finish_closing(stream: object) -> bool:
    """Close the asyncio transport under ``stream``, whose event loop has closed, as that
    loop would have; ``True`` if the socket is now closed.

    The one place that relies on private internals, each read with ``getattr`` so that a
    change makes this return ``False`` (the caller then shuts the socket down):

    * httpcore's ``AnyIOStream._stream`` is anyio's stream (under TLS, anyio's
      ``TLSStream``, whose public ``transport_stream`` is the socket stream);
    * anyio's asyncio ``SocketStream._transport`` is the asyncio transport;
    * asyncio's selector transports end ``close()`` and ``abort()`` by scheduling
      ``_call_connection_lost`` on their loop, which closes the socket and detaches the
      transport (no "unclosed transport" warning when it is collected). Scheduling fails
      on a closed loop, so it is run here, after ``abort()`` has marked the transport
      closing and lost (a later ``close()`` or ``abort()`` on it then does nothing).
    """
    inner = getattr(stream, "_stream", None)
    while (below := getattr(inner, "transport_stream", None)) is not None:
        inner = below
    transport = getattr(inner, "_transport", None)
    finish = getattr(transport, "_call_connection_lost", None)
    if not isinstance(transport, asyncio.Transport) or not callable(finish):
        return False
    with contextlib.suppress(Exception):
        transport.abort()  # marks it, then fails to schedule: "Event loop is closed"
    with contextlib.suppress(Exception):
        # Closes the socket in a ``finally``, whatever the protocol's connection_lost
        # (which may touch the dead loop) raises.
        finish(None)
    return _socket_of(stream) is None


class CloseSteps:
    """The steps of one close; every step runs whatever happened in the ones before.

    ``with steps.step("what"):`` records the first failure (any ``BaseException``) and
    logs the later ones; :meth:`raise_first` re-raises the first once all steps ran.
    """

    __slots__ = ("_first",)

    def __init__(self) -> None:
        self._first: BaseException | None = None

    @contextlib.contextmanager
    def step(self, what: str) -> Iterator[None]:
        try:
            yield
        except BaseException as exc:
            if self._first is None:
                self._first = exc
            else:
                logger.warning("closing the client: %s failed too: %r", what, exc, exc_info=exc)

    def raise_first(self) -> None:
        first, self._first = self._first, None
        if first is not None:
            raise first


def report_masked(error: Exception, propagating: BaseException) -> None:
    """Log a close failure that is not raised, because ``propagating`` is on its way out
    of a ``with`` block and must not be replaced."""
    logger.warning(
        "closing the client failed while %s was propagating out of its `with` block "
        "(which goes on): %r",
        type(propagating).__name__,
        error,
        exc_info=error,
    )
