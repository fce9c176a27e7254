"""Where the feeds are: URL resolution as the official SDK does it. Pure.

Market feed (``kotak-neo-api.md`` 6.1, SDK ``NeoAPI.create_websocket``), first found wins:

1. an explicit ``url=``;
2. the config service: ``GET <config_url>?appVersion=<v>&platform=api&environment=prod``
   answers ``data.configs``; ``configs[f"{dc}_broadcast_source"]`` names the source in use
   for the account's data centre ``dc`` (``"sh"``, ``"ks"``), and
   ``configs[f"{dc}_{source}_broadcast_endpoint"]`` is the feed (:func:`parse_feed_config`);
3. ``feedUrl`` from the MPIN validate answer;
4. :data:`DEFAULT_MARKET_FEED_URL` (``wss://sfeed.kotaksecurities.com/apifeed``).

Order feed (6.2, SDK ``create_order_feed``): ``url=``, then the config service's
``{dc}_{source}_interactive_endpoint``, then validate's ``rtUrl``, then
``wss://<host of baseUrl>/realtime`` (any path of ``baseUrl`` dropped), then only when
there is no ``baseUrl`` the SDK's per-data-centre map (:data:`ORDER_FEED_URLS`).

Every answer is normalised like the SDK's ``to_websocket_scheme``: ``https://`` becomes
``wss://`` and ``http://`` ``ws://`` (the config service answers with ``https``); what is
then not a ``ws``/``wss`` URL with a host is refused with a ``ValueError`` naming it. The
config service is best effort in the SDK (any failure: fall through); :func:`parse_feed_config`
likewise returns empty endpoints for a body it cannot read. The SDK's default config
service is Kotak's production one (:data:`CONFIG_URL`); a client's ``config_url=`` lets an
emulator serve it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit, urlunsplit

from .._exceptions import FeedError

__all__ = [
    "CONFIG_URL",
    "CONFIG_URL_UAT",
    "DEFAULT_MARKET_FEED_URL",
    "ORDER_FEED_URLS",
    "FeedEndpoints",
    "config_params",
    "market_feed_url",
    "order_feed_url",
    "parse_feed_config",
    "to_websocket_url",
]

#: Kotak's config service (production), as the SDK queries it.
CONFIG_URL: Final = "https://lapi.kotaksecurities.com/5config/config"
#: The UAT config service (environment ``qa``).
CONFIG_URL_UAT: Final = "https://qapi.kotaksecurities.online/5config/config"
#: The SDK's last-resort market feed.
DEFAULT_MARKET_FEED_URL: Final = "wss://sfeed.kotaksecurities.com/apifeed"
#: The SDK's last-resort order feeds by data centre (used only without a ``baseUrl``).
ORDER_FEED_URLS: Final[Mapping[str, str]] = {
    "E21": "wss://e21.kotaksecurities.com/realtime",
    "E22": "wss://e22.kotaksecurities.com/realtime",
    "E41": "wss://e41.kotaksecurities.com/realtime",
    "E43": "wss://e43.kotaksecurities.com/realtime",
}
_SCHEMES: Final = {"https": "wss", "http": "ws", "wss": "wss", "ws": "ws"}


def config_params(*, app_version: str, environment: str = "prod") -> dict[str, str]:
    """The config service's query, in the SDK's order (``environment``: prod or qa)."""
    if environment not in ("prod", "qa"):
        raise ValueError(f"environment={environment!r} is not allowed: use 'prod' or 'qa'")
    return {"appVersion": app_version, "platform": "api", "environment": environment}


@dataclass(frozen=True, slots=True)
class FeedEndpoints:
    """What the config service says for one data centre (``None``: not given)."""

    source: str | None = None
    broadcast: str | None = None
    interactive: str | None = None


def parse_feed_config(body: object, data_center: str | None) -> FeedEndpoints:
    """Read the config service's answer for ``data_center``; empty when it says nothing
    usable (as the SDK, which falls through to the next choice)."""
    if not data_center or not isinstance(body, Mapping):
        return FeedEndpoints()
    data = body.get("data")
    configs = data.get("configs") if isinstance(data, Mapping) else None
    if not isinstance(configs, Mapping):
        return FeedEndpoints()
    source = configs.get(f"{data_center}_broadcast_source")
    if not isinstance(source, str) or not source:
        return FeedEndpoints()
    broadcast = configs.get(f"{data_center}_{source}_broadcast_endpoint")
    interactive = configs.get(f"{data_center}_{source}_interactive_endpoint")
    return FeedEndpoints(
        source,
        broadcast if isinstance(broadcast, str) and broadcast else None,
        interactive if isinstance(interactive, str) and interactive else None,
    )


def to_websocket_url(url: str, *, field: str = "url") -> str:
    """``https``→``wss``, ``http``→``ws``; anything else without a host is refused."""
    if not isinstance(url, str):
        raise TypeError(f"{field} must be a str such as 'wss://host/path', got {url!r}")
    parts = urlsplit(url.strip())
    scheme = _SCHEMES.get(parts.scheme.lower())
    if scheme is None or not parts.netloc:
        raise ValueError(
            f"{field}={url!r} is not allowed: give a ws://, wss://, http:// or https:// URL "
            "with a host, e.g. 'wss://sfeed.kotaksecurities.com/apifeed'"
        )
    return urlunsplit((scheme, parts.netloc, parts.path, parts.query, parts.fragment))


def market_feed_url(*, url: str | None, config: FeedEndpoints | None, feed_url: str | None) -> str:
    """The market feed's URL (see the module docstring for the order)."""
    if url is not None:
        return to_websocket_url(url)
    if config is not None and config.broadcast:
        return to_websocket_url(config.broadcast, field="config broadcast endpoint")
    if feed_url:
        return to_websocket_url(feed_url, field="feedUrl")
    return DEFAULT_MARKET_FEED_URL


def order_feed_url(
    *,
    url: str | None,
    config: FeedEndpoints | None,
    rt_url: str | None,
    base_url: str | None,
    data_center: str | None,
) -> str:
    """The order feed's URL; :class:`~aioneo.FeedError` when nothing gives one."""
    if url is not None:
        return to_websocket_url(url)
    if config is not None and config.interactive:
        return to_websocket_url(config.interactive, field="config interactive endpoint")
    if rt_url:
        return to_websocket_url(rt_url, field="rtUrl")
    if base_url:
        parts = urlsplit(base_url)
        scheme = "wss" if parts.scheme in ("https", "wss", "") else "ws"
        netloc = parts.netloc or parts.path.split("/", 1)[0]
        return urlunsplit((scheme, netloc, "/realtime", "", ""))
    fallback = ORDER_FEED_URLS.get(data_center or "")
    if fallback is None:
        raise FeedError(
            f"no order-feed URL: no url=, no config-service endpoint, no rtUrl or baseUrl "
            f"from the login, and no known default for data centre {data_center!r}",
            endpoint="order_feed",
        )
    return fallback
