"""Running the emulator on loopback: an HTTP server in a background thread.

:class:`EmulatorServer` binds the socket itself (``port=0`` picks a free port), so
:attr:`EmulatorServer.url` is known before the first request, and serves the emulator's
ASGI app with uvicorn (or, without uvicorn, the built-in server of ``_h11server``) on a
private event loop in a daemon thread. ``stop()`` releases held and hung requests, asks
the server to shut down and joins the thread.

Closing a connection without an answer (the ``drop``, ``hang`` and ``accept_then_drop``
faults) needs the socket, which ASGI does not expose; :class:`_DroppingH11Protocol` is
uvicorn's h11 protocol with the app wrapped so that :class:`ConnectionDropped` closes the
transport instead of becoming a 500.

:class:`RoutingTransport` is a synchronous httpx transport that sends every request,
whatever its host, to one emulator: what the official SDK (``NeoAPI(transport=...)``) needs
to log in to ``mis.kotaksecurities.com`` and still reach the emulator.
"""

from __future__ import annotations

import asyncio
import importlib.util
import signal
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

import httpx

from aioneo.testing._app import ConnectionDropped, Emulator, Receive, Scope, Send

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["BACKENDS", "EmulatorServer", "RoutingTransport"]

#: ``auto`` = uvicorn when installed, else the built-in h11 server.
BACKENDS = ("auto", "uvicorn", "builtin")


def _has_uvicorn() -> bool:
    return importlib.util.find_spec("uvicorn") is not None


class RoutingTransport(httpx.HTTPTransport):
    """Send every request to ``url``'s scheme, host and port; keep its path and query.

    For synchronous clients such as the official SDK, whose hosts are hard-coded::

        NeoAPI(consumer_key=..., transport=RoutingTransport(server.url))

    Extra keyword arguments go to ``httpx.HTTPTransport``. Thread-safe like it.
    """

    def __init__(self, url: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        target = httpx.URL(url)
        if target.scheme not in ("http", "https") or not target.host:
            raise ValueError(f"url={url!r} is not allowed: pass an http:// URL of the emulator")
        self._target = target

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        original_host = request.url.netloc
        request.url = request.url.copy_with(
            scheme=self._target.scheme, host=self._target.host, port=self._target.port
        )
        request.headers["Host"] = original_host.decode("ascii")
        return super().handle_request(request)


def _dropping_protocol_class() -> type[asyncio.Protocol]:
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class _DroppingH11Protocol(H11Protocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            inner = self.app

            async def app(scope: Scope, receive: Receive, send: Send) -> None:
                try:
                    await inner(scope, receive, send)
                except ConnectionDropped:
                    self.transport.close()
                    # Let connection_lost run, so uvicorn sees a disconnected client and
                    # neither answers 500 nor logs an error.
                    for _ in range(3):
                        await asyncio.sleep(0)

            self.app = app

    return _DroppingH11Protocol


class EmulatorServer:
    """An :class:`Emulator` served on loopback by uvicorn in a background thread.

    Use it as a context manager (or call :meth:`start` and :meth:`stop`)::

        with EmulatorServer() as server:
            print(server.url, server.emulator.credentials)

    ``emulator`` defaults to a fresh ``Emulator()``; ``port=0`` picks a free port.
    Unless the emulator's config sets ``base_url``, validate returns ``url`` plus the
    trade prefix. ``backend``: ``"uvicorn"`` (one worker, HTTP/1.1 over h11, no access
    log), ``"builtin"`` (a small asyncio + h11 server that needs only aioneo's runtime
    dependencies) or ``"auto"`` (uvicorn if installed). ``start`` and ``stop`` are not
    meant to race each other; every other method is thread-safe.
    """

    def __init__(
        self,
        emulator: Emulator | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        startup_timeout: float = 10.0,
        log_level: str = "warning",
        backend: str = "auto",
    ) -> None:
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValueError(f"port={port!r} is not allowed: pass 0 (any free port) to 65535")
        if backend not in BACKENDS:
            raise ValueError(
                f"backend={backend!r} is not allowed: pass one of {', '.join(BACKENDS)}"
            )
        self._backend = backend
        self.emulator = emulator if emulator is not None else Emulator()
        self._host = host
        self._port = port
        self._startup_timeout = startup_timeout
        self._log_level = log_level
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._server: Any = None
        self._url: str | None = None

    def __repr__(self) -> str:
        return f"EmulatorServer(url={self._url!r})"

    @property
    def backend(self) -> str:
        """The HTTP server that serves (or will serve): ``"uvicorn"`` or ``"builtin"``."""
        if self._backend == "auto":
            return "uvicorn" if _has_uvicorn() else "builtin"
        return self._backend

    @property
    def url(self) -> str:
        """``http://host:port`` of the running server (also the login host)."""
        if self._url is None:
            raise RuntimeError("the server is not running: call start() or use `with`")
        return self._url

    @property
    def login_url(self) -> str:
        return self.url

    @property
    def base_url(self) -> str:
        """The ``baseUrl`` validate returns."""
        return self.emulator.base_url

    def transport(self, **kwargs: Any) -> RoutingTransport:
        """A synchronous transport that sends every request to this server."""
        return RoutingTransport(self.url, **kwargs)

    def bind(self) -> socket.socket:
        """Bind and listen on the socket now (done by :meth:`start` if not yet)."""
        if self._sock is None:
            family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
            # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted sockets only
            # when the proto says TCP, and without it every answer (headers and body are two
            # writes) waits out the client's 40 ms delayed ACK.
            sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                sock.bind((self._host, self._port))
                sock.listen(2048)
            except OSError:
                sock.close()
                raise
            self._sock = sock
            port = sock.getsockname()[1]
            host = f"[{self._host}]" if family == socket.AF_INET6 else self._host
            self._url = f"http://{host}:{port}"
            self.emulator._set_served_url(self._url)
        return self._sock

    def _make_server(self) -> Any:
        if self.backend == "builtin":
            from aioneo.testing._h11server import H11Server

            return H11Server(self.emulator.app)
        try:
            import uvicorn
        except ImportError:  # pragma: no cover - only when backend="uvicorn" is forced
            raise RuntimeError(
                "backend='uvicorn' needs uvicorn: pip install 'aioneo[emulator]', "
                "or pass backend='auto' to fall back to the built-in server"
            ) from None
        config = uvicorn.Config(
            self.emulator.app,
            http=_dropping_protocol_class(),
            interface="asgi3",
            lifespan="off",
            access_log=False,
            log_level=self._log_level,
            timeout_graceful_shutdown=2,
            proxy_headers=False,
            server_header=False,
            # The feeds: websockets' sans-IO implementation (the default one is built on
            # websockets' deprecated legacy API and warns).
            ws="websockets-sansio",
            ws_max_size=1 << 20,
            ws_ping_interval=None,
        )
        return uvicorn.Server(config)

    def start(self) -> EmulatorServer:
        """Start serving in a background thread; returns once requests are accepted."""
        if self._thread is not None:
            raise RuntimeError("the server is already running")
        sock = self.bind()
        server = self._make_server()
        self._server = server
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="aioneo-emulator", daemon=True
        )
        self._thread = thread
        thread.start()
        deadline = time.monotonic() + self._startup_timeout
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.005)
        if not server.started:
            server.should_exit = True
            thread.join(self._startup_timeout)
            self._thread = None
            self._close_socket()
            raise RuntimeError("the emulator server did not start (see the log above)")
        return self

    def serve_forever(self) -> None:
        """Serve until SIGINT or SIGTERM arrives, then stop cleanly; main thread only (CLI)."""
        stop = threading.Event()
        signals = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in signals}
        try:
            self.start()
            stop.wait()
        finally:
            self.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def stop(self) -> None:
        """Release held and hung requests, shut the server down and join its thread."""
        thread, server = self._thread, self._server
        self.emulator.release_all()
        if thread is not None and server is not None:
            # Close the feeds first (1001 "going away"), so neither server waits for them.
            feeds, own = self.emulator.feeds, self._address()
            if feeds.drop(code=1001, reason="emulator stopping", server=own):
                deadline = time.monotonic() + 2.0
                while feeds.connections(server=own) and time.monotonic() < deadline:
                    time.sleep(0.01)
            server.should_exit = True
            thread.join(self._startup_timeout)
        self._thread = None
        self._server = None
        self._close_socket()

    def _address(self) -> tuple[str, int] | None:
        """``(host, port)`` as the ASGI scope's ``server`` names it, once bound."""
        if self._sock is None:
            return None
        host, port = self._sock.getsockname()[:2]
        return (str(host), int(port))

    def _close_socket(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self.emulator._set_served_url(None)
        self._url = None

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
