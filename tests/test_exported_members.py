"""The public surface is ``aioneo.__all__``: pinned here so a change is a decision."""

from __future__ import annotations

import aioneo
import aioneo.testing

EXPECTED = {
    # clients and configuration
    "AsyncNeoClient",
    "Credentials",
    "SessionInfo",
    "SessionStats",
    # session stores
    "FileSessionStore",
    "MemorySessionStore",
    "RedisSessionStore",
    "SessionStore",
    "StoredSession",
    # errors
    "APIError",
    "AccessDeniedError",
    "AmbiguousTagError",
    "BusinessError",
    "ClientClosedError",
    "ConnectError",
    "FatalLoginError",
    "InvalidResponseError",
    "LoginError",
    "NeoError",
    "NotFoundError",
    "OrderOutcomeUnknown",
    "RateLimitError",
    "ReloginLoopError",
    "RequestTimeoutError",
    "ServerError",
    "SessionError",
    "SessionExpiredError",
    "SessionStoreError",
    "StatusError",
    "TransientLoginError",
    "TransportError",
    # models
    "IST",
    "Candle",
    "ClientIp",
    "DepthLevel",
    "ExchangeSegment",
    "FutureChainRow",
    "Holding",
    "Limits",
    "MarginRequirement",
    "Ohlc",
    "OptionChain",
    "OptionChainRow",
    "Order",
    "OrderHistoryEntry",
    "OrderResult",
    "OrderStatus",
    "OrderType",
    "Position",
    "Product",
    "Quote",
    "ScripMasterPaths",
    "Trade",
    "TransactionType",
    "Validity",
    # instruments (the scrip master)
    "INDICES",
    "ChainStrike",
    "Instrument",
    "InstrumentFileError",
    "InstrumentTable",
    "index_instrument",
    "__version__",
    # live feeds (issue 12): errors, items, events
    "FeedClosedError",
    "FeedError",
    "FeedOverflowError",
    "SubscriptionError",
    "FeedEvent",
    "FeedStats",
    "OrderUpdate",
    "PositionUpdate",
    "CasChange",
    "IndexTick",
    "MarketStatus",
    "Tick",
    # the feeds themselves (what market_feed() / order_feed() return)
    "MarketFeed",
    "OrderFeed",
    "SyncMarketFeed",
    "SyncOrderFeed",
}
OPTIONAL = {"NeoClient"}  # the sync facade, exported once it lands


def test_all_is_exactly_the_public_surface() -> None:
    assert set(aioneo.__all__) - OPTIONAL == EXPECTED
    assert len(set(aioneo.__all__)) == len(aioneo.__all__)  # ruff (RUF022) keeps it sorted


def test_every_exported_name_exists_and_is_public() -> None:
    for name in aioneo.__all__:
        value = getattr(aioneo, name)
        module = getattr(value, "__module__", "aioneo")
        assert module.startswith("aioneo"), name


def test_testing_exports_resolve() -> None:
    for name in aioneo.testing.__all__:
        assert getattr(aioneo.testing, name) is not None
