"""Which path is which endpoint, and which credentials it needs.

The emulator serves the login host and the trading host from one application and ignores
the ``Host`` header: the paths do not overlap. Trading paths live under the configured
``trade_prefix`` (the path part of ``baseUrl``); market-data paths are served both under
it and at the root, because the SDK calls them on the pre-login host too
(``kotak-neo-api.md`` section 1.3). Anything under ``/__emulator`` is the control API.
"""

from __future__ import annotations

import dataclasses
import enum

__all__ = ["CONTROL_PREFIX", "SCRIP_FILES", "Guard", "Route", "resolve"]

CONTROL_PREFIX = "/__emulator"


class Guard(enum.Enum):
    """The credential check an endpoint runs before anything else (section 10.2)."""

    NONE = "none"  # the config service and scrip-master CSV files
    CK = "ck"  # Authorization = consumer key (market data)
    LOGIN = "login"  # consumer key; the body carries mobile, UCC and TOTP
    VIEW = "view"  # consumer key + view token and view sid (validate)
    SESSION = "session"  # trade token + trade sid (reports, portfolio, limits, margin)
    SESSION_CK = "session_ck"  # consumer key + trade token + trade sid (orders, client ip)


@dataclasses.dataclass(frozen=True, slots=True)
class Route:
    endpoint: str
    method: str
    guard: Guard
    params: dict[str, str] = dataclasses.field(default_factory=dict)


_ROOT: dict[str, tuple[str, str, Guard]] = {
    "login/1.0/tradeApiLogin": ("login", "POST", Guard.LOGIN),
    "login/1.0/tradeApiValidate": ("validate", "POST", Guard.VIEW),
    "login/1.0/get-client-ip": ("client_ip", "GET", Guard.SESSION_CK),
    "5config/config": ("config", "GET", Guard.NONE),
}

_TRADE: dict[str, tuple[str, str, Guard]] = {
    "quick/order/rule/ms/place": ("place_order", "POST", Guard.SESSION_CK),
    "quick/order/vr/modify": ("modify_order", "POST", Guard.SESSION_CK),
    "quick/order/cancel": ("cancel_order", "POST", Guard.SESSION_CK),
    "quick/user/orders": ("order_book", "GET", Guard.SESSION),
    "quick/order/history": ("order_history", "POST", Guard.SESSION),
    "quick/user/trades": ("trades", "GET", Guard.SESSION),
    "portfolio/v2/positions": ("positions", "GET", Guard.SESSION),
    "portfolio/v1/holdings": ("holdings", "GET", Guard.SESSION),
    "quick/user/limits": ("limits", "POST", Guard.SESSION),
    "quick/user/check-margin": ("margin", "POST", Guard.SESSION),
    "apim/login/2.0/logout": ("logout", "POST", Guard.SESSION),
}

_MARKET: dict[str, tuple[str, str, Guard]] = {
    "script-details/1.0/masterscrip/file-paths": ("scrip_master", "GET", Guard.CK),
    "market-data/1.0/watchlist/expiries": ("expiries", "GET", Guard.CK),
    "market-data/1.0/watchlist/option-chain": ("option_chain", "GET", Guard.CK),
    "market-data/1.0/historical/details": ("historical", "GET", Guard.CK),
}

_QUOTES = "script-details/1.0/quotes/neosymbol/"
#: Where the scrip-master CSVs live (Kotak: on ``lapi.kotaksecurities.com``).
SCRIP_FILES = "wso2-scripmaster/v1/prod"
_ORDER_DETAIL = "quick/user/orders/"


def _match(rest: str, *, trade: bool) -> Route | None:
    table = {**_MARKET, **_TRADE} if trade else _MARKET
    hit = table.get(rest)
    if hit is not None:
        return Route(*hit)
    if rest.startswith(_QUOTES):
        symbols, sep, quote_type = rest[len(_QUOTES) :].rpartition("/")
        if sep and symbols and quote_type:
            return Route("quotes", "GET", Guard.CK, {"symbols": symbols, "quote_type": quote_type})
        return None
    if trade and rest.startswith(_ORDER_DETAIL):
        order_no = rest[len(_ORDER_DETAIL) :]
        if order_no and "/" not in order_no:
            return Route("order_detail", "GET", Guard.SESSION, {"order_no": order_no})
    return None


def resolve(path: str, trade_prefix: str) -> Route | None:
    """The route for a decoded request ``path``, or ``None`` when nothing is served there.

    The method is not checked here: the caller compares ``Route.method`` so that a wrong
    method gets 405 rather than 404.
    """
    if trade_prefix and path.startswith(trade_prefix + "/"):
        return _match(path[len(trade_prefix) + 1 :], trade=True)
    rest = path.lstrip("/")
    hit = _ROOT.get(rest)
    if hit is not None:
        return Route(*hit)
    if rest.startswith(SCRIP_FILES + "/") and rest.endswith(".csv"):
        # .../<date>/transformed/nse_fo.csv or .../<date>/transformed-v1/nse_cm-v1.csv
        name = rest.rpartition("/")[2].removesuffix(".csv").removesuffix("-v1")
        return Route("scrip_file", "GET", Guard.NONE, {"segment": name})
    return _match(rest, trade=not trade_prefix)
