"""The checks both clients make on their constructor options, in one place.

``AsyncNeoClient`` and ``NeoClient`` take the same keywords; a bad value raises the same
``TypeError``/``ValueError``, naming the option, the value and what is allowed, from
either twin.
"""

from __future__ import annotations

import httpx

from .._credentials import Credentials

__all__ = ["check_client_options", "check_transport"]


def check_client_options(
    credentials: object,
    *,
    login_url: str,
    timeout: float | None,
    login_timeout: float,
    max_connections: int,
    transport: object = None,
    sync: bool = False,
) -> str:
    """Refuse bad options; return ``login_url`` without a trailing slash.

    ``sync`` says which twin asks: ``NeoClient`` (``True``) sends through
    ``httpx.BaseTransport.handle_request``, ``AsyncNeoClient`` through
    ``httpx.AsyncBaseTransport.handle_async_request``; a transport of the other kind would
    fail only at the first login, so it is refused here.
    """
    if not isinstance(credentials, Credentials):
        raise TypeError(f"credentials must be aioneo.Credentials, got {type(credentials).__name__}")
    if not isinstance(login_url, str) or not login_url.startswith(("http://", "https://")):
        raise ValueError(f"login_url must start with http:// or https://, got {login_url!r}")
    if timeout is not None and not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds or None, got {timeout!r}")
    if not login_timeout > 0:
        raise ValueError(
            f"login_timeout must be a positive number of seconds, got {login_timeout!r}"
        )
    if isinstance(max_connections, bool) or not isinstance(max_connections, int):
        raise ValueError(f"max_connections must be an int >= 1, got {max_connections!r}")
    if max_connections < 1:
        raise ValueError(f"max_connections must be an int >= 1, got {max_connections!r}")
    if transport is not None:
        check_transport(transport, sync=sync)
    return login_url.rstrip("/")


#: The transports each twin can drive: (client, wanted, the other kind, examples, twin).
_KINDS: dict[bool, tuple[str, type, type, str, str]] = {
    True: (
        "NeoClient",
        httpx.BaseTransport,
        httpx.AsyncBaseTransport,
        "aioneo.testing.Emulator().sync_transport(), "
        "aioneo.testing.EmulatorServer().transport() or httpx.HTTPTransport()",
        "AsyncNeoClient",
    ),
    False: (
        "AsyncNeoClient",
        httpx.AsyncBaseTransport,
        httpx.BaseTransport,
        "aioneo.testing.Emulator().transport() or httpx.AsyncHTTPTransport()",
        "NeoClient",
    ),
}


def check_transport(transport: object, *, sync: bool) -> None:
    """Refuse a transport the twin asking (``sync``: ``NeoClient``) cannot drive."""
    client, wanted, other, examples, twin = _KINDS[sync]
    if isinstance(transport, wanted):
        return
    kind = type(transport).__name__
    if isinstance(transport, other):
        raise TypeError(
            f"transport={kind} is an httpx.{other.__name__}, which {client} cannot use: "
            f"pass an httpx.{wanted.__name__} (for example {examples}), or use this "
            f"transport with {twin}"
        )
    raise TypeError(
        f"transport={kind} is not an httpx transport: {client} needs an "
        f"httpx.{wanted.__name__} (for example {examples}), or None for the network"
    )
