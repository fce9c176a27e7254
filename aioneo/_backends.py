"""The transports of one ``AsyncNeoClient``'s two pools, per ``http_backend``.

``"httpx"`` (the default): the client's ``transport`` (``None``: httpx's own, one per pool,
made by ``httpx.AsyncClient`` from its ``Limits``). ``"aiohttp"``: two
:class:`~aioneo._aiohttp.AiohttpTransport`, one with ``max_connections`` slots for trading
requests and one with ``LOGIN_CONNECTIONS`` for logins, so the pools stay separate (httpx
ignores ``Limits`` under a custom transport, so the limits live in the transports).
They are made once per client and rebind to a new event loop themselves.

:meth:`PoolTransports.send` is the one place a request leaves the client. On ``"httpx"`` it
is ``httpx.AsyncClient.send``. On ``"aiohttp"`` it hands the request straight to the
pool's transport (the *lean path*), skipping ``AsyncClient.send``'s auth flow, redirect
loop, response-hook and cookie-extraction machinery, which costs about a fifth of the
client's CPU per request there. What that skips is nothing aioneo uses: it sends
pre-built requests (``AsyncClient`` merges no default headers or cookies into those, so
the bytes on the wire are the same), follows no redirects, has no auth flow, and its only
hook (``aioneo._lifecycle.Sockets``) tracks httpcore's sockets, which this transport does
not have (it releases its own). What is lost: httpx's INFO log line per request (logger
``httpx``) and ``Response.elapsed``.
"""

from __future__ import annotations

import httpx

from ._shell import LOGIN_CONNECTIONS

__all__ = ["PoolTransports"]


class PoolTransports:
    """``trading`` and ``login`` transports (``None``: httpx's default) of one client."""

    __slots__ = ("_owned", "login", "trading")

    def __init__(
        self,
        http_backend: str,
        transport: httpx.AsyncBaseTransport | None,
        *,
        max_connections: int,
    ) -> None:
        self.trading: httpx.AsyncBaseTransport | None = transport
        self.login: httpx.AsyncBaseTransport | None = transport
        self._owned: tuple[httpx.AsyncBaseTransport, ...] = ()
        if http_backend == "aiohttp":
            from ._aiohttp import AiohttpTransport  # ImportError names the extra

            self.trading = AiohttpTransport(max_connections=max_connections)
            self.login = AiohttpTransport(max_connections=LOGIN_CONNECTIONS)
            self._owned = (self.trading, self.login)

    async def send(
        self, http: httpx.AsyncClient, request: httpx.Request, *, login: bool
    ) -> httpx.Response:
        """Send ``request`` through ``http`` (the login or trading pool), or on the lean
        path straight to that pool's own transport (see the module docstring)."""
        if not self._owned:
            return await http.send(request)
        transport = self.login if login else self.trading
        assert transport is not None
        return await transport.handle_async_request(request)

    def release_closed_loop(self) -> None:
        """After the client's loop closed: close the sockets of the transports it made."""
        for transport in self._owned:
            release = getattr(transport, "release_closed_loop", None)
            if release is not None:
                release()
