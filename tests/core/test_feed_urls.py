"""Feed URL resolution, in the official SDK's order, checked against the SDK itself."""

from __future__ import annotations

from typing import Any

import pytest

from aioneo import FeedError
from aioneo._core._feed_urls import (
    DEFAULT_MARKET_FEED_URL,
    FeedEndpoints,
    config_params,
    market_feed_url,
    order_feed_url,
    parse_feed_config,
    to_websocket_url,
)

neo_api = pytest.importorskip("neo_api_client")
order_client = pytest.importorskip("neo_api_client.websocket.orderfeed.client")
ws_scheme = pytest.importorskip("neo_api_client.utils.ws_scheme")

CONFIG = {
    "data": {
        "configs": {
            "E21_broadcast_source": "sh",
            "E21_sh_broadcast_endpoint": "https://sfeed-e21.example/apifeed",
            "E21_sh_interactive_endpoint": "https://e21.example/realtime",
            "E22_broadcast_source": "ks",
            "E22_ks_broadcast_endpoint": "wss://ks.example/feed",
            "E41_broadcast_source": "sh",
        }
    }
}


class _Answer:
    def __init__(self, body: Any) -> None:
        self.body = body

    def json(self) -> Any:
        return self.body


class _Rest:
    def __init__(self, body: Any) -> None:
        self.body = body
        self.params: dict[str, Any] = {}

    def request(self, **kwargs: Any) -> _Answer:
        self.params = kwargs["query_params"]
        return _Answer(self.body)


def _sdk(*, data_center: str | None, body: Any = CONFIG, **config: Any) -> Any:
    client = neo_api.NeoAPI(consumer_key="k", environment="prod")
    cfg = client.configuration
    cfg.edit_token, cfg.edit_sid, cfg.ucc = "T", "S", "U"
    cfg.data_center = data_center
    rest = _Rest(body)
    cfg.resolve_dynamic_urls(rest)
    for key, value in config.items():
        setattr(cfg, key, value)
    return client, rest


CASES = [
    # data centre, validate's feedUrl / rtUrl / baseUrl
    ("E21", None, None, "https://e21.kotaksecurities.com"),
    ("E22", "https://feed.example/x", "https://rt.example/realtime", "https://e22.example"),
    ("E41", "https://feed.example/x", "https://rt.example/realtime", "https://e41.example"),
    ("E41", None, None, "https://e41.kotaksecurities.com/some/path"),
    ("E43", None, None, None),
    (None, "http://feed.example:8080/f", "http://rt.example:81/r", "http://base.example:82"),
]


@pytest.mark.parametrize(("dc", "feed", "rt", "base"), CASES)
def test_the_same_urls_as_the_sdk(
    dc: str | None, feed: str | None, rt: str | None, base: str | None
) -> None:
    client, rest = _sdk(data_center=dc, feed_url=feed, rt_url=rt, base_url=base)
    endpoints = parse_feed_config(CONFIG, dc)
    assert endpoints.broadcast == client.configuration.sfeed_websocket_url
    assert endpoints.interactive == client.configuration.order_feed_url
    assert market_feed_url(url=None, config=endpoints, feed_url=feed) == (
        client.create_websocket().url
    )
    assert order_feed_url(
        url=None, config=endpoints, rt_url=rt, base_url=base, data_center=dc
    ) == ws_scheme.to_websocket_scheme(client.create_order_feed().url)
    explicit = "https://mine.example/ws"
    assert market_feed_url(url=explicit, config=endpoints, feed_url=feed) == (
        client.create_websocket(url=explicit).url
    )
    if dc is not None:
        assert rest.params == config_params(app_version=rest.params["appVersion"])


def test_the_default_market_feed_and_no_order_feed() -> None:
    assert market_feed_url(url=None, config=None, feed_url=None) == DEFAULT_MARKET_FEED_URL
    assert market_feed_url(url=None, config=FeedEndpoints(), feed_url="") == (
        DEFAULT_MARKET_FEED_URL
    )
    with pytest.raises(FeedError, match=r"no order-feed URL.*data centre 'E99'"):
        order_feed_url(url=None, config=None, rt_url=None, base_url=None, data_center="E99")
    client, _ = _sdk(data_center="E99", body={}, base_url=None)
    with pytest.raises(ValueError, match="unavailable"):  # the SDK refuses too
        client.create_order_feed()


@pytest.mark.parametrize(
    "body", [None, {}, {"data": None}, {"data": {"configs": []}}, "text", {"data": {"configs": {}}}]
)
def test_an_unusable_config_answer_says_nothing(body: object) -> None:
    assert parse_feed_config(body, "E21") == FeedEndpoints()
    assert parse_feed_config(CONFIG, None) == FeedEndpoints()
    assert parse_feed_config(CONFIG, "E41") == FeedEndpoints("sh", None, None)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://h.example/a?b=1", "wss://h.example/a?b=1"),
        ("http://127.0.0.1:8000/feed", "ws://127.0.0.1:8000/feed"),
        ("wss://h.example", "wss://h.example"),
        ("WS://h.example/x", "ws://h.example/x"),
    ],
)
def test_scheme_normalisation(url: str, expected: str) -> None:
    assert to_websocket_url(url) == expected


@pytest.mark.parametrize("bad", ["ftp://h/x", "h.example/x", "wss:///nohost", ""])
def test_a_url_that_is_no_websocket_url_is_named(bad: str) -> None:
    with pytest.raises(ValueError, match=r"url=.* is not allowed: give a ws://, wss://"):
        market_feed_url(url=bad, config=None, feed_url=None)
    with pytest.raises(ValueError, match="feedUrl="):
        market_feed_url(url=None, config=None, feed_url=bad or "x")


def test_config_params() -> None:
    assert config_params(app_version="1.0") == {
        "appVersion": "1.0",
        "platform": "api",
        "environment": "prod",
    }
    with pytest.raises(ValueError, match="environment='uat' is not allowed"):
        config_params(app_version="1", environment="uat")
