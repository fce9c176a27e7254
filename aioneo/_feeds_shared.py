"""What the two feed shells (``_feeds_async.py``, ``_feeds_sync.py``) share.

No decisions live here (those are in ``aioneo._core._feed_conn``); only the constants both
shells connect with, the option checks, which URL a connection uses, and how a
``websockets`` close becomes the core's ``(code, reason)``.

Choices made here, with their trade-offs:

* ``PING_INTERVAL`` 20 s, as the SDK: ``websockets`` pings and closes a socket whose
  pong does not come within ``PING_TIMEOUT``; a socket that answers pings but sends no
  data is the stall watchdog's business (``stall_timeout=``).
* ``MAX_FRAME`` 4 MiB instead of the library's 1 MiB default: the acknowledgement of a
  3000-instrument subscribe carries every trading symbol and can pass 1 MiB; a frame
  over the limit would close the socket with 1009 and loop.
* ``CLOSE_TIMEOUT`` 2 s: ``close()`` waits that long at most for the server's close
  frame (prompt shutdown matters more than a polite one).
* The config service is asked once per client and data centre (cached): it says where
  the feeds are, and asking it at every reconnect would add a round trip to each
  recovery. Any failure means "not given" (as the SDK), and the next source is used.
"""

from __future__ import annotations

import logging
from typing import Final
from urllib.parse import urlsplit

from websockets.exceptions import ConnectionClosed

from ._core._feed_urls import (
    CONFIG_URL,
    FeedEndpoints,
    market_feed_url,
    order_feed_url,
    to_websocket_url,
)
from ._core._session import Session

__all__ = [
    "CLOSE_TIMEOUT",
    "CONFIG_TIMEOUT",
    "MAX_FRAME",
    "OPEN_TIMEOUT",
    "PING_INTERVAL",
    "PING_TIMEOUT",
    "WIRE_LOGGER",
    "check_config_url",
    "check_feed_url",
    "close_of",
    "feed_url_for",
    "text_or_none",
]

PING_INTERVAL: Final = 20.0
PING_TIMEOUT: Final = 20.0
#: Bytes a single frame may have (see the module docstring).
MAX_FRAME: Final = 4 * 1024 * 1024
#: Seconds for the WebSocket opening handshake (TCP, TLS and the HTTP upgrade).
OPEN_TIMEOUT: Final = 10.0
CLOSE_TIMEOUT: Final = 2.0
#: Seconds the config service may take before its answer is treated as "not given".
CONFIG_TIMEOUT: Final = 5.0


def text_or_none(value: object) -> str | None:
    """A non-empty string from a login answer, or ``None``."""
    return value if isinstance(value, str) and value.strip() else None


def check_feed_url(url: object, *, field: str = "url") -> str | None:
    """``None`` or a ``ws``/``wss``/``http``/``https`` URL, normalised; else an error
    naming ``field`` (raised when the feed is created, not at the first connect)."""
    if url is None:
        return None
    return to_websocket_url(url, field=field)  # type: ignore[arg-type]


def check_config_url(url: object) -> str | None:
    """The client's ``config_url=``: ``None`` (not asked) or an ``http(s)`` URL."""
    if url is None:
        return None
    if not isinstance(url, str):
        raise TypeError(
            f"config_url must be a str such as {CONFIG_URL!r}, or None; got {type(url).__name__}"
        )
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(
            f"config_url={url!r} is not allowed: give an http:// or https:// URL with a "
            f"host, e.g. {CONFIG_URL!r}, or None to skip the config service"
        )
    return url


def feed_url_for(
    kind: str, *, url: str | None, endpoints: FeedEndpoints | None, session: Session
) -> str:
    """Where a connection of ``kind`` (``"market"`` / ``"order"``) goes with ``session``:
    ``url=``, the config service, validate's ``feedUrl`` / ``rtUrl``, the defaults."""
    if kind == "market":
        return market_feed_url(url=url, config=endpoints, feed_url=session.feed_url)
    return order_feed_url(
        url=url,
        config=endpoints,
        rt_url=session.rt_url,
        base_url=session.base_url,
        data_center=session.data_center,
    )


def close_of(exc: ConnectionClosed) -> tuple[int, str]:
    """The close frame the server sent, as ``(code, reason)``; 1006 and ``""`` when the
    connection ended without one (``websockets`` reports what it sent itself in
    ``exc.sent``, which is not the server's word)."""
    rcvd = exc.rcvd
    if rcvd is None:
        return 1006, ""
    return rcvd.code, rcvd.reason


#: The logger the ``websockets`` connections of both feeds write to. Its DEBUG lines would
#: show every frame, and the auth frames carry the session's sid and token, so it is held
#: at INFO whatever the application's root level: ``logging.basicConfig(level=DEBUG)`` must
#: never print a secret. Lower it by hand only when debugging the wire on a session you are
#: about to throw away.
WIRE_LOGGER = logging.getLogger("aioneo.feeds.wire")
WIRE_LOGGER.setLevel(logging.INFO)
