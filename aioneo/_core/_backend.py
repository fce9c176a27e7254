"""Which HTTP stack a client sends through: the ``http_backend`` option, checked (pure)."""

from __future__ import annotations

__all__ = ["ASYNC_BACKENDS", "SYNC_BACKENDS", "check_http_backend"]

#: ``AsyncNeoClient``: httpx's own transport (httpcore), or aioneo's transport over aiohttp.
ASYNC_BACKENDS = ("httpx", "aiohttp")
#: ``NeoClient``: aiohttp has no synchronous client, so httpx only.
SYNC_BACKENDS = ("httpx",)


def check_http_backend(http_backend: object, *, transport: object, sync: bool) -> str:
    """Refuse an unknown backend, and ``transport=`` beside a backend that makes its own."""
    allowed = SYNC_BACKENDS if sync else ASYNC_BACKENDS
    if not isinstance(http_backend, str) or http_backend not in allowed:
        client = "NeoClient" if sync else "AsyncNeoClient"
        why = " (aiohttp has no synchronous client: use AsyncNeoClient)" if sync else ""
        raise ValueError(
            f"http_backend={http_backend!r} is not allowed for {client}: pass "
            + " or ".join(repr(name) for name in allowed)
            + why
        )
    if http_backend != "httpx" and transport is not None:
        raise ValueError(
            f"http_backend={http_backend!r} makes its own transports: pass transport=None "
            "with it (transport= replaces the network, whatever the backend)"
        )
    return http_backend
