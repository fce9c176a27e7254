"""Emulator settings, demo credentials, endpoint names, fault kinds and latency presets.

Everything here is a plain value: frozen dataclasses validated on construction, so a bad
switch fails when it is set (``Emulator(config=...)``, ``Emulator.configure(...)`` or the
HTTP control API), with a message that names the field, the value and what is allowed.

No field of :class:`EmulatorConfig` or :class:`DemoCredentials` that is a secret (consumer
key, MPIN, TOTP secret) shows up in a ``repr``.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import enum
import math
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

__all__ = [
    "DEMO_CONSUMER_KEY",
    "DEMO_MOBILE_NUMBER",
    "DEMO_MPIN",
    "DEMO_TOTP_SECRET",
    "DEMO_UCC",
    "ENDPOINTS",
    "KOTAK_LATENCY",
    "ZERO_LATENCY",
    "DemoCredentials",
    "EmulatorConfig",
    "Fault",
]

#: Every endpoint the emulator serves, by the name used for counters, faults, holds and
#: latency. ``login``, ``validate`` and ``client_ip`` live on the login host; ``config`` is
#: the SDK's dynamic-config service; ``scrip_file`` is a scrip-master CSV download (the URLs
#: ``scrip_master`` lists); the rest live under the trading ``baseUrl`` (market data is
#: served both with and without the trading path prefix, as the SDK calls it before login
#: too).
ENDPOINTS: tuple[str, ...] = (
    "login",
    "validate",
    "client_ip",
    "place_order",
    "modify_order",
    "cancel_order",
    "order_book",
    "order_detail",
    "order_history",
    "trades",
    "positions",
    "holdings",
    "limits",
    "margin",
    "scrip_master",
    "quotes",
    "expiries",
    "option_chain",
    "historical",
    "logout",
    "config",
    "scrip_file",
)

#: No added latency anywhere: the default, for fast tests.
ZERO_LATENCY: Mapping[str, float] = MappingProxyType(dict.fromkeys(ENDPOINTS, 0.0))

#: Kotak's documented averages (login about 367 ms, validate about 134 ms, quotes about
#: 289 ms; ``kotak-neo-api.md`` sections 2.3, 2.4 and 3.6) and 50 ms for every endpoint
#: whose latency is not documented.
KOTAK_LATENCY: Mapping[str, float] = MappingProxyType(
    {**dict.fromkeys(ENDPOINTS, 0.05), "login": 0.367, "validate": 0.134, "quotes": 0.289}
)

# Fixed, documented demo values. They open nothing real: the consumer key and TOTP secret
# are made up, and the mobile number is not a valid Indian mobile number.
DEMO_CONSUMER_KEY = "neo-emulator-demo-consumer-key"
DEMO_MOBILE_NUMBER = "+919999999999"
DEMO_UCC = "DEMO1"
DEMO_MPIN = "123456"
DEMO_TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"

EXPIRY_STATUSES = (401, 403, 200)
LOGIN_ERROR_STYLES = ("4xx", "200")
#: How a refused feed auth is answered (see ``EmulatorConfig.feed_auth_failure``).
FEED_AUTH_FAILURES = ("reply", "close")
#: Where the feed URLs are advertised (see ``EmulatorConfig.advertise_feeds``).
FEED_ADVERTISING = ("both", "config", "validate", "none")


class Fault(enum.StrEnum):
    """What an injected fault does to the next request(s) of an endpoint.

    ``HTTP_*`` kinds answer at once (after the optional delay) without touching any
    state: an order hit by one is **not** placed. ``DROP`` closes the connection without
    an answer (nothing executed). ``HANG`` never answers: the request waits until the
    client gives up, or until :meth:`Emulator.clear_faults` / the server stopping
    releases it, and then the connection is closed without an answer.
    ``ACCEPT_THEN_DROP`` runs the request normally (an order **is** placed and stored),
    then closes the connection instead of answering: the "unknown outcome" case.
    """

    HTTP_500 = "http_500"
    HTTP_502_HTML = "http_502_html"
    HTTP_503_EMPTY = "http_503_empty"
    HTTP_504 = "http_504"
    HTTP_424 = "http_424"
    HTTP_429 = "http_429"
    DROP = "drop"
    HANG = "hang"
    ACCEPT_THEN_DROP = "accept_then_drop"


@dataclasses.dataclass(frozen=True, slots=True)
class DemoCredentials:
    """The credentials the emulator accepts, ready to hand to a client.

    ``repr`` shows the mobile number and UCC only; :meth:`as_dict` returns everything
    (for scripts and for ``python -m aioneo.testing serve``).
    """

    consumer_key: str = dataclasses.field(repr=False)
    mobile_number: str
    ucc: str
    mpin: str = dataclasses.field(repr=False)
    totp_secret: str = dataclasses.field(repr=False)

    def as_dict(self) -> dict[str, str]:
        """All five values, secrets included, keyed by field name."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class EmulatorConfig:
    """Every switch of the emulator. All fields are keyword arguments with defaults.

    Credentials (``consumer_key``, ``mobile_number``, ``ucc``, ``mpin``,
    ``totp_secret``): what login and validate accept. Defaults are the ``DEMO_*``
    constants.

    ``base_url``: the ``baseUrl`` validate returns. ``None`` means: the served URL plus
    ``trade_prefix`` when running on loopback, else ``http://gw.neo.test`` plus
    ``trade_prefix`` (in-process; the app ignores the host name).
    ``trade_prefix``: path prefix of the trading endpoints (``""`` or ``/segment[/...]``).
    ``data_center``: reported by login and validate.

    ``session_ttl``: lifetime of view and trade sessions in seconds; ``None`` = until the
    next 00:00 IST, as Kotak's historical tokens show.
    ``expiry_status``: HTTP status of the 900901/900902 gateway answer for an expired,
    revoked, unknown or missing session token: 401 (WSO2's default), 403 (what the SDK docs
    say) or 200 (the body alone).
    ``totp_skew_steps``: how many 30 s steps before and after "now" a TOTP may come from.
    ``totp_replay_rejection``: a TOTP step already used by a successful login of the same
    UCC is refused (RFC 6238 section 5.2). Kotak does not document this.
    ``single_session``: a new validate for a UCC revokes that UCC's older trade sessions
    (reported by users, not documented).
    ``login_error_style``: how wrong TOTP, MPIN, UCC or mobile number are answered:
    ``"4xx"`` (HTTP 401 for TOTP/MPIN, 400 for UCC/mobile) or ``"200"`` (HTTP 200 with an
    error body and no ``data``). The body is ``{"stCode", "errMsg", "status": "failure"}``
    either way.
    ``rate_limit``: requests per second per trade session (and per consumer key for login
    and market data), token bucket with a burst of ``max(1, rate_limit)``; ``None`` = off.
    ``latency``: seconds added to each endpoint's answer; endpoints not named get 0.
    See :data:`ZERO_LATENCY` and :data:`KOTAK_LATENCY`.
    ``max_quotes``: instruments allowed per quotes call.
    ``tick_rate``: random-walk steps per second of each live instrument (subscribed on a
    feed, holding a resting order, or given a price); 0 keeps prices where
    ``set_price``/``push_tick`` put them; at most 1,000,000.
    ``max_recorded``: how many recorded requests are kept (oldest dropped first).

    Feeds (``aioneo.testing._feeds``): ``feed_auth_failure``: how a feed auth with a dead
    or unknown session is answered: ``"reply"`` (market feed: a 1119 reply with
    ``"format": "native_fallback"``; order feed: ``{"ak":"nk",...,"Authentication
    Failed"}``; the socket stays open) or ``"close"`` (the same reply on the order feed,
    then both close with 1008). ``feeds_close_on_expiry``: when a session ends (expired,
    revoked, logged out), its feed sockets are closed with 1008; ``False`` leaves them
    streaming until they reconnect. ``advertise_feeds``: where clients learn the feed URLs:
    ``"both"`` (the config service ``/5config/config`` and validate's ``feedUrl``/``rtUrl``),
    ``"config"``, ``"validate"`` or ``"none"``. ``broadcast_source``: the source the config
    service names for the data center (Kotak: ``"sh"`` or ``"ks"``).
    """

    consumer_key: str = dataclasses.field(default=DEMO_CONSUMER_KEY, repr=False)
    mobile_number: str = DEMO_MOBILE_NUMBER
    ucc: str = DEMO_UCC
    mpin: str = dataclasses.field(default=DEMO_MPIN, repr=False)
    totp_secret: str = dataclasses.field(default=DEMO_TOTP_SECRET, repr=False)
    base_url: str | None = None
    trade_prefix: str = "/gw/e21"
    data_center: str = "E21"
    session_ttl: float | None = None
    expiry_status: int = 401
    totp_skew_steps: int = 1
    totp_replay_rejection: bool = True
    single_session: bool = False
    login_error_style: str = "4xx"
    rate_limit: float | None = 10.0
    latency: Mapping[str, float] = dataclasses.field(
        default_factory=lambda: ZERO_LATENCY, hash=False
    )
    max_quotes: int = 50
    tick_rate: float = 2.0  # the moving market (aioneo.testing._trading_walk)
    max_recorded: int = 10_000
    feed_auth_failure: str = "reply"
    feeds_close_on_expiry: bool = True
    advertise_feeds: str = "both"
    broadcast_source: str = "sh"

    def __post_init__(self) -> None:
        _check_text("consumer_key", self.consumer_key, secret=True)
        _check_text("mobile_number", self.mobile_number)
        if not re.fullmatch(r"\+\d{8,15}", self.mobile_number):
            raise ValueError(
                f"mobile_number={self.mobile_number!r} is not allowed: pass '+' followed by "
                "the country code and number, e.g. '+919999999999'"
            )
        _check_text("ucc", self.ucc)
        if not isinstance(self.mpin, str) or not re.fullmatch(r"\d{6}", self.mpin):
            raise ValueError("mpin is not allowed: pass a string of exactly 6 digits")
        _check_base32(self.totp_secret)
        if self.base_url is not None:
            _check_text("base_url", self.base_url)
            if not re.match(r"https?://[^/\s]+", self.base_url):
                raise ValueError(
                    f"base_url={self.base_url!r} is not allowed: pass an http:// or https:// "
                    "URL such as 'http://127.0.0.1:8000/gw/e21', or None"
                )
        if not isinstance(self.trade_prefix, str) or not re.fullmatch(
            r"(/[A-Za-z0-9._~-]+)*", self.trade_prefix
        ):
            raise ValueError(
                f"trade_prefix={self.trade_prefix!r} is not allowed: pass '' or a path like "
                "'/gw/e21' (leading slash, no trailing slash)"
            )
        if self.trade_prefix.startswith("/__emulator"):
            raise ValueError(
                f"trade_prefix={self.trade_prefix!r} is not allowed: '/__emulator' is "
                "reserved for the control API"
            )
        _check_text("data_center", self.data_center)
        _check_positive_or_none("session_ttl", self.session_ttl)
        if (
            not isinstance(self.expiry_status, int)
            or isinstance(self.expiry_status, bool)
            or self.expiry_status not in EXPIRY_STATUSES
        ):
            raise ValueError(
                f"expiry_status={self.expiry_status!r} is not allowed: pass one of "
                f"{', '.join(map(str, EXPIRY_STATUSES))}"
            )
        _check_int("totp_skew_steps", self.totp_skew_steps, minimum=0)
        _check_bool("totp_replay_rejection", self.totp_replay_rejection)
        _check_bool("single_session", self.single_session)
        if self.login_error_style not in LOGIN_ERROR_STYLES:
            raise ValueError(
                f"login_error_style={self.login_error_style!r} is not allowed: pass "
                "'4xx' (HTTP 401/400) or '200' (HTTP 200 without data)"
            )
        _check_positive_or_none("rate_limit", self.rate_limit)
        object.__setattr__(self, "latency", _check_latency(self.latency))
        _check_int("max_quotes", self.max_quotes, minimum=1)
        _check_tick_rate(self.tick_rate)
        _check_int("max_recorded", self.max_recorded, minimum=0)
        if self.feed_auth_failure not in FEED_AUTH_FAILURES:
            raise ValueError(
                f"feed_auth_failure={self.feed_auth_failure!r} is not allowed: pass "
                "'reply' (native_fallback / Authentication Failed) or 'close' (close with 1008)"
            )
        _check_bool("feeds_close_on_expiry", self.feeds_close_on_expiry)
        if self.advertise_feeds not in FEED_ADVERTISING:
            raise ValueError(
                f"advertise_feeds={self.advertise_feeds!r} is not allowed: pass one of "
                f"{', '.join(FEED_ADVERTISING)}"
            )
        _check_text("broadcast_source", self.broadcast_source)

    def replace(self, **changes: Any) -> EmulatorConfig:
        """A copy with ``changes`` applied and validated; unknown names raise ``ValueError``."""
        allowed = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - allowed)
        if unknown:
            raise ValueError(
                f"unknown emulator setting(s) {', '.join(map(repr, unknown))}: "
                f"allowed are {', '.join(sorted(allowed))}"
            )
        return dataclasses.replace(self, **changes)

    def public_dict(self) -> dict[str, Any]:
        """The settings as JSON-able values, secrets left out (for the control API)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name in ("consumer_key", "mpin", "totp_secret"):
                continue
            value = getattr(self, f.name)
            out[f.name] = dict(value) if f.name == "latency" else value
        return out


def _check_text(name: str, value: object, *, secret: bool = False) -> None:
    if not isinstance(value, str) or not value.strip():
        shown = "" if secret else f"={value!r}"
        raise ValueError(f"{name}{shown} is not allowed: pass a non-blank string")


def _check_bool(name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise ValueError(f"{name}={value!r} is not allowed: pass True or False")


def _check_int(name: str, value: object, *, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name}={value!r} is not allowed: pass an integer >= {minimum}")


def _check_positive_or_none(name: str, value: object) -> None:
    if value is None:
        return
    if (
        not isinstance(value, int | float)
        or isinstance(value, bool)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"{name}={value!r} is not allowed: pass a number > 0, or None")


def _check_tick_rate(value: object) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 <= value <= 1_000_000
    ):
        raise ValueError(
            f"tick_rate={value!r} is not allowed: pass a number of walk steps per second per "
            "live instrument from 0 (prices move only when set) to 1000000"
        )


def _check_base32(secret: object) -> None:
    message = "totp_secret is not allowed: pass a base32 string (A-Z, 2-7), at least 16 chars"
    if not isinstance(secret, str) or len(secret) < 16:
        raise ValueError(message)
    try:
        base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    except (binascii.Error, ValueError):
        raise ValueError(message) from None


def _check_latency(latency: object) -> Mapping[str, float]:
    if not isinstance(latency, Mapping):
        raise ValueError(
            f"latency={latency!r} is not allowed: pass a mapping of endpoint name to seconds, "
            "e.g. KOTAK_LATENCY or {'positions': 0.05}"
        )
    merged = dict(ZERO_LATENCY)
    for name, seconds in latency.items():
        if name not in ZERO_LATENCY:
            raise ValueError(
                f"latency key {name!r} is not allowed: endpoint names are {', '.join(ENDPOINTS)}"
            )
        if (
            not isinstance(seconds, int | float)
            or isinstance(seconds, bool)
            or not math.isfinite(seconds)
            or seconds < 0
        ):
            raise ValueError(
                f"latency[{name!r}]={seconds!r} is not allowed: pass a number of seconds >= 0"
            )
        merged[name] = float(seconds)
    return MappingProxyType(merged)
