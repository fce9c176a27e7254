"""Endpoint builders: one pure function per Kotak Neo call, returning a :class:`RequestSpec`.

Every builder checks its input **before** anything is sent and raises ``TypeError`` (wrong
type) or ``ValueError`` (wrong value) whose message names the field, the value and what is
allowed. A builder that returns has produced exactly the request the official SDK
``kotakneoapi`` 3.0.9 sends for the same call (same path, jData keys in the same order,
same defaults, ``None`` where the SDK sends ``null``); ``tests/core/test_wire_conformance.py``
runs both and compares the bytes.

Where the SDK and Kotak's own documentation disagree (``kotak-neo-api.md`` section 9) these
builders follow the SDK, because the SDK is what is known to work against the live service;
each such place carries a ``# SDK over docs`` comment.

Deliberate differences from the SDK (all stricter, never a different request for valid
input, except where noted):

* Only the exact canonical codes are accepted, everywhere. The SDK also accepts ``"Buy"`` /
  ``"Sell"`` for the side and then sends them unmapped, which Kotak does not understand.
* ``float`` prices and quantities are refused with a ``TypeError``: a float cannot hold most
  prices exactly (``0.1 + 0.2``). Pass ``Decimal("101.05")``, ``"101.05"`` or an ``int``.
  (The SDK refuses non-``str`` values altogether.)
* ``place_order`` always sends a tag: when the caller gives none it generates one
  (``"aioneo-"`` + 12 lowercase hex characters, see :func:`new_tag`), where the SDK sends
  ``"ig": null``. The tag is what lets a client find out whether an order whose response
  was lost exists (design.md, "Replay policy").
* Stop-loss orders (``SL``, ``SL-M``) need a trigger price above 0; L/SL need a price above 0
  (the SDK checks only the latter). ``margin_required`` applies the same price rule.
* ``limits`` takes ``segment``/``exchange``/``product`` (Kotak's documented filters); the SDK
  always sends ``"ALL"``, which stays the default.
* ``quotes`` splits more than 50 instruments into several requests (Kotak's per-call cap);
  the SDK sends one request and lets the server refuse it.
* ``logout`` builds the server-side logout the SDK keeps as dead code; the SDK's
  ``logout()`` sends nothing at all.

Builders are pure: they read no clock and no global state. The only randomness, the
generated order tag, comes from the ``entropy`` argument (default :func:`secrets.token_bytes`).
They are safe to call from any thread or task at the same time.
"""

from __future__ import annotations

import re
import secrets
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from aioneo._core._protocol import FORM, JSON, Auth, Host, Kind, RequestSpec
from aioneo._core._scrip import Instrument, wire_instrument

__all__ = [
    "AMO_VALUES",
    "EXCHANGE_SEGMENTS",
    "EXPIRY_EXCHANGES",
    "HISTORICAL_INTERVALS",
    "INSTRUMENT_TYPES",
    "LIMITS_EXCHANGES",
    "LIMITS_PRODUCTS",
    "LIMITS_SEGMENTS",
    "ORDER_SOURCE",
    "ORDER_TYPES",
    "PRODUCTS",
    "QUOTES_MAX_INSTRUMENTS",
    "QUOTE_SEGMENTS",
    "QUOTE_TYPES",
    "TAG_MAX_LENGTH",
    "TAG_PREFIX",
    "TRANSACTION_TYPES",
    "VALIDITIES",
    "cancel_order",
    "expiries",
    "historical_data",
    "holdings",
    "limits",
    "logout",
    "margin_required",
    "modify_order",
    "new_tag",
    "option_chain",
    "order_history",
    "order_report",
    "place_order",
    "positions",
    "quotes",
    "scrip_master",
    "totp_login",
    "totp_validate",
    "trade_report",
    "whatsmyip",
]

# --- Allowed values (exact codes only; no aliases) ------------------------------------------

EXCHANGE_SEGMENTS: tuple[str, ...] = ("nse_cm", "bse_cm", "nse_fo", "bse_fo", "mcx_fo")
"""Segments accepted by place order and check-margin. (Kotak's docs also list ``cde_fo``;
SDK 3.0.9 rejects it, and so do we: SDK over docs.)"""

PRODUCTS: tuple[str, ...] = ("CNC", "NRML", "MIS", "MTF")
"""Products accepted by place order and check-margin (Kotak's CO/BO are rejected, as in the SDK)."""

ORDER_TYPES: tuple[str, ...] = ("L", "MKT", "SL", "SL-M")
VALIDITIES: tuple[str, ...] = ("DAY", "IOC")
MCX_VALIDITIES: tuple[str, ...] = ("DAY",)
TRANSACTION_TYPES: tuple[str, ...] = ("B", "S")
AMO_VALUES: tuple[str, ...] = ("NO", "YES")

LIMITS_SEGMENTS: tuple[str, ...] = ("ALL", "CASH", "CUR", "FO")
LIMITS_EXCHANGES: tuple[str, ...] = ("ALL", "NSE", "BSE")
LIMITS_PRODUCTS: tuple[str, ...] = ("ALL", "NRML", "CNC", "MIS")

QUOTE_SEGMENTS: tuple[str, ...] = (
    "nse_cm",
    "bse_cm",
    "nse_fo",
    "bse_fo",
    "mcx_fo",
    "cde_fo",
    "nse_com",
)
QUOTE_TYPES: tuple[str, ...] = (
    "all",
    "ltp",
    "ohlc",
    "oi",
    "52w",
    "circuit_limits",
    "scrip_details",
    "market_depth",
)
QUOTES_MAX_INSTRUMENTS = 50
"""Kotak serves at most 50 instruments per quotes call; :func:`quotes` splits longer lists."""

EXPIRY_EXCHANGES: tuple[str, ...] = ("nse_fo", "bse_fo", "mcx_fo")
INSTRUMENT_TYPES: tuple[str, ...] = ("option", "fut")
HISTORICAL_INTERVALS: tuple[str, ...] = (
    "1min",
    "3min",
    "5min",
    "10min",
    "15min",
    "30min",
    "60min",
    "D",
    "W",
)
HISTORICAL_UNAVAILABLE_SEGMENTS: tuple[str, ...] = ("mcx_fo", "nse_com")
_HISTORICAL_SEGMENTS = tuple(s for s in QUOTE_SEGMENTS if s not in HISTORICAL_UNAVAILABLE_SEGMENTS)

ORDER_SOURCE = "NEOTRADEAPI"
"""The SDK's ``os`` value on place and modify."""

MARKET_PROTECTION = "0"
"""The SDK always sends ``mp: "0"`` and offers no way to change it; neither do we."""

TAG_PREFIX = "aioneo-"
TAG_MAX_LENGTH = 20
"""Kotak does not document the tag's limits. 20 characters from ``[A-Za-z0-9_-]`` is a
conservative choice: every tag seen echoed back as ``GuiOrdId`` fits it, and Kotak appends
``-<epoch>`` to the tag on cancel, so a short tag leaves room for that."""

_TAG_RE = re.compile(r"[A-Za-z0-9_-]+")
_PRICE_RE = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_INT_RE = re.compile(r"[0-9]+")
_ORDER_ID_RE = re.compile(r"[A-Za-z0-9]{1,40}")
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_MOBILE_RE = re.compile(r"\+[0-9]{8,15}")
_UCC_RE = re.compile(r"[A-Za-z0-9]{1,20}")
_SIX_DIGITS_RE = re.compile(r"[0-9]{6}")

# Paths, as in the SDK's PROD_URL table (the UAT table is not supported).
_PATH_LOGIN = "login/1.0/tradeApiLogin"
_PATH_VALIDATE = "login/1.0/tradeApiValidate"
_PATH_CLIENT_IP = "login/1.0/get-client-ip"
_PATH_LOGOUT = "apim/login/2.0/logout"
_PATH_PLACE = "quick/order/rule/ms/place"
_PATH_MODIFY = "quick/order/vr/modify"
_PATH_CANCEL = "quick/order/cancel"
_PATH_ORDERS = "quick/user/orders"
_PATH_HISTORY = "quick/order/history"
_PATH_TRADES = "quick/user/trades"
# SDK over docs: Kotak's docs, the Postman collection and SDK 3.0.1 use quick/user/positions.
_PATH_POSITIONS = "portfolio/v2/positions"
_PATH_HOLDINGS = "portfolio/v1/holdings"
_PATH_LIMITS = "quick/user/limits"
_PATH_MARGIN = "quick/user/check-margin"
_PATH_SCRIP_MASTER = "script-details/1.0/masterscrip/file-paths"
_PATH_QUOTES = "script-details/1.0/quotes/neosymbol/{neo_symbols}/{quote_type}"
_PATH_EXPIRIES = "market-data/1.0/watchlist/expiries"
_PATH_OPTION_CHAIN = "market-data/1.0/watchlist/option-chain"
_PATH_HISTORICAL = "market-data/1.0/historical/details"

PriceLike = int | Decimal | str
"""A price: ``int``, ``Decimal`` or a plain decimal string such as ``"101.05"``; never float."""

QuantityLike = int | Decimal | str
"""A quantity: a whole number as ``int``, integral ``Decimal`` or digit string."""

InstrumentLike = Mapping[str, Any] | str | Instrument
"""``{"instrument_token": "1333", "exchange_segment": "nse_cm"}`` (the SDK's form),
``"nse_cm|1333"`` or an :class:`~aioneo.Instrument` from an instrument table."""


def _segment_and(
    exchange_segment: str | None, value: object, *, field: str, wanted: str
) -> tuple[str | None, object]:
    """``(segment, value)`` with ``value`` an Instrument replaced by its ``wanted`` field.

    An Instrument brings its segment: ``exchange_segment`` may then be left out, and if it
    is given it must be the instrument's. A plain value needs ``exchange_segment``.
    """
    if isinstance(value, Instrument):
        if exchange_segment is not None and exchange_segment != value.segment:
            raise ValueError(
                f"exchange_segment {exchange_segment!r} is not the segment of {field} "
                f"{value.trading_symbol!r} ({value.segment!r}); leave exchange_segment out"
            )
        return value.segment, getattr(value, wanted)
    if exchange_segment is None:
        raise ValueError(
            f"exchange_segment is required when {field} is not an aioneo.Instrument; "
            f"pass e.g. exchange_segment='nse_cm'"
        )
    return exchange_segment, value


class _Secret(dict[str, Any]):
    """A JSON body holding a secret (TOTP code, MPIN): its ``repr`` masks every value.

    ``RequestSpec`` is a plain dataclass whose ``repr`` shows its fields; this keeps the login
    bodies out of logs and tracebacks while ``json.dumps`` still sees the real values.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "{" + ", ".join(f"{key!r}: '***'" for key in self) + "}"


# --- Validation helpers ---------------------------------------------------------------------


def _allowed(values: Iterable[str]) -> str:
    return ", ".join(repr(v) for v in values)


def _plain(value: str) -> str:
    """The text of ``value`` as a plain ``str`` (a ``StrEnum`` member gives its value)."""
    return str.__str__(value)


def _choice(field: str, value: object, allowed: Sequence[str], *, note: str = "") -> str:
    if not isinstance(value, str):
        raise TypeError(
            f"{field} must be a str, one of {_allowed(allowed)}; got {type(value).__name__} "
            f"{value!r}"
        )
    if value not in allowed:
        raise ValueError(
            f"{field} {value!r} is not allowed; use one of {_allowed(allowed)}{note} "
            "(exact codes, no aliases)"
        )
    return _plain(value)


def _text(field: str, value: object, *, example: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{field} must be a str such as {example!r}; got {type(value).__name__}")
    if not value.strip():
        raise ValueError(f"{field} must not be blank; got {value!r}, expected e.g. {example!r}")
    if value != value.strip() or any(ord(ch) < 32 for ch in value):
        raise ValueError(
            f"{field} {value!r} has surrounding whitespace or control characters; "
            f"pass it exactly, e.g. {example!r}"
        )
    return _plain(value)


def _price(field: str, value: object, *, example: str = "101.05") -> tuple[str, Decimal]:
    """Return the wire text and the value of a non-negative price."""
    if isinstance(value, float):
        raise TypeError(
            f"{field} must be an int, Decimal or str, not float {value!r}: a float cannot hold "
            f"most prices exactly. Pass Decimal({str(value)!r}) or {str(value)!r}"
        )
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        raise TypeError(
            f"{field} must be an int, Decimal or str such as {example!r}; got "
            f"{type(value).__name__} {value!r}"
        )
    if isinstance(value, int):
        amount = Decimal(value)
        text = str(value)
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{field} must be a finite number such as {example!r}; got {value!r}")
        amount = value
        text = format(value.copy_abs() if value == 0 else value, "f")
    else:
        if not _PRICE_RE.fullmatch(value):
            raise ValueError(
                f"{field} {value!r} is not a plain non-negative decimal; use digits with an "
                f"optional fractional part, e.g. {example!r} (no sign, exponent or spaces)"
            )
        amount = Decimal(value)
        text = _plain(value)
    if amount < 0:
        raise ValueError(f"{field} must be 0 or more; got {value!r}")
    return text, amount


def _quantity(field: str, value: object, *, minimum: int = 1, example: str = "10") -> str:
    """Return the wire text of a whole number >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        raise TypeError(
            f"{field} must be an int, integral Decimal or digit str such as {example!r}; got "
            f"{type(value).__name__} {value!r}"
        )
    if isinstance(value, int):
        number = value
    elif isinstance(value, Decimal):
        if not value.is_finite() or value != value.to_integral_value():
            raise ValueError(f"{field} must be a whole number such as {example!r}; got {value!r}")
        number = int(value)
    else:
        if not _INT_RE.fullmatch(value):
            if re.fullmatch(r"\s*-\s*[0-9]+\s*", value):  # a negative whole number
                relation = "a positive whole number" if minimum == 1 else f">= {minimum}"
                raise ValueError(f"{field} must be {relation}; got {value!r}")
            raise ValueError(
                f"{field} {value!r} is not a whole number; use digits only, e.g. {example!r}"
            )
        number = int(value)
    if number < minimum:
        relation = "a positive whole number" if minimum == 1 else f"a whole number >= {minimum}"
        raise ValueError(f"{field} must be {relation}; got {value!r}")
    return str(number)


def _order_id(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise TypeError(
            f"order_id must be a str such as '250122000624384'; got {type(value).__name__} "
            f"{value!r}"
        )
    text = str(value) if isinstance(value, int) else _plain(value)
    if not _ORDER_ID_RE.fullmatch(text):
        raise ValueError(
            f"order_id {value!r} is not an order number; use the nOrdNo Kotak returned, "
            "e.g. '250122000624384' (1 to 40 letters or digits)"
        )
    return text


def _tag(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"tag must be a str such as 'strat1-0042'; got {type(value).__name__}")
    if not value.strip():
        raise ValueError(f"tag must not be blank; got {value!r}")
    if len(value) > TAG_MAX_LENGTH or not _TAG_RE.fullmatch(value):
        raise ValueError(
            f"tag {value!r} is not allowed; use 1 to {TAG_MAX_LENGTH} characters from "
            "A-Z, a-z, 0-9, '-' and '_'"
        )
    return _plain(value)


def _iso_date(field: str, value: object) -> str:
    if isinstance(value, datetime):
        raise TypeError(f"{field} must be a date or 'YYYY-MM-DD' str; got datetime {value!r}")
    if isinstance(value, date):
        return value.isoformat()
    if not isinstance(value, str):
        raise TypeError(
            f"{field} must be a date or 'YYYY-MM-DD' str; got {type(value).__name__} {value!r}"
        )
    try:
        if not _DATE_RE.fullmatch(value):
            raise ValueError(value)
        date.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"{field} {value!r} is not a date; use 'YYYY-MM-DD', e.g. '2026-06-25'"
        ) from None
    return _plain(value)


def new_tag(entropy: Callable[[int], bytes] = secrets.token_bytes) -> str:
    """Return a fresh order tag: ``"aioneo-"`` followed by 12 lowercase hex characters.

    19 characters, 48 random bits from ``entropy(6)``. Kotak refuses a tag reused on the
    same day (``stCode`` 5204), so the tag doubles as an idempotency key for one order
    intent. Pass a seeded ``entropy`` in tests; the default is :func:`secrets.token_bytes`.
    """
    raw = entropy(6)
    if not isinstance(raw, bytes) or len(raw) != 6:
        raise ValueError(f"entropy(6) must return 6 bytes; got {raw!r}")
    return TAG_PREFIX + raw.hex()


# --- Login ----------------------------------------------------------------------------------


def totp_login(*, mobile_number: str, ucc: str, totp: str) -> RequestSpec:
    """Step 1 of the login: ``POST {login host}/login/1.0/tradeApiLogin`` with a JSON body.

    Headers: consumer key and ``neo-fin-key``. The body is
    ``{"mobileNumber": ..., "ucc": ..., "totp": ...}``. Messages about a bad ``mobile_number``
    or ``totp`` never repeat the value.
    """
    if not isinstance(mobile_number, str) or not _MOBILE_RE.fullmatch(mobile_number):
        raise ValueError(
            "mobile_number must be '+' then the country code and number, digits only, "
            "e.g. '+919876543210' (value not shown)"
        )
    if not isinstance(ucc, str) or not _UCC_RE.fullmatch(ucc):
        raise ValueError(
            f"ucc {ucc!r} is not a client code; use 1 to 20 letters or digits as shown in the "
            "NEO profile, e.g. 'AB1C2'"
        )
    if not isinstance(totp, str) or not _SIX_DIGITS_RE.fullmatch(totp):
        raise ValueError("totp must be the 6-digit code as a str, e.g. '123456' (value not shown)")
    body = _Secret(mobileNumber=_plain(mobile_number), ucc=_plain(ucc), totp=_plain(totp))
    return RequestSpec(
        op="totp_login",
        method="POST",
        path=_PATH_LOGIN,
        host=Host.LOGIN,
        auth=Auth.LOGIN,
        kind=Kind.LOGIN,
        content_type=JSON,
        accept=None,
        json=body,
    )


def totp_validate(mpin: str) -> RequestSpec:
    """Step 2 of the login: ``POST {login host}/login/1.0/tradeApiValidate``, body ``{"mpin"}``.

    Headers: consumer key, ``sid`` (lowercase, as the SDK writes it) = view sid,
    ``Auth`` = view token, ``neo-fin-key``. The message about a bad ``mpin`` never repeats it.
    """
    if not isinstance(mpin, str) or not _SIX_DIGITS_RE.fullmatch(mpin):
        raise ValueError("mpin must be the 6-digit MPIN as a str, e.g. '123456' (value not shown)")
    return RequestSpec(
        op="totp_validate",
        method="POST",
        path=_PATH_VALIDATE,
        host=Host.LOGIN,
        auth=Auth.VALIDATE,
        kind=Kind.LOGIN,
        # The SDK sets no Content-Type here; its transport adds application/json.
        # SDK over docs: the docs say no Content-Type is sent.
        content_type=JSON,
        accept=None,
        json=_Secret(mpin=_plain(mpin)),
    )


def logout() -> RequestSpec:
    """Server-side logout: ``POST {baseUrl}/apim/login/2.0/logout`` with no body.

    Not wire-equivalent to anything the SDK sends: ``NeoAPI.logout()`` only forgets the tokens
    locally. The path, ``Sid``/``Auth``, ``accept`` and the form Content-Type come from the
    SDK's unused ``LogoutAPI``; that code sends ``Authorization: Bearer <access token>``, a
    token 3.0.9 never has, so we send the consumer key raw, as every live call does.
    ``Kind.LOGIN``: a "session expired" answer must not start a relogin just to log out.
    """
    return RequestSpec(
        op="logout",
        method="POST",
        path=_PATH_LOGOUT,
        auth=Auth.SESSION_CK,
        kind=Kind.LOGIN,
        content_type=FORM,
        accept=JSON,
    )


def whatsmyip() -> RequestSpec:
    """``GET {login host}/login/1.0/get-client-ip``: the IP Kotak sees (static-IP checks)."""
    return RequestSpec(
        op="whatsmyip",
        method="GET",
        path=_PATH_CLIENT_IP,
        host=Host.LOGIN,
        auth=Auth.SESSION_CK,
        accept=JSON,
    )


# --- Orders ---------------------------------------------------------------------------------


def _check_prices(
    order_type: str, price: Decimal, trigger: Decimal | None, *, price_text: object
) -> None:
    if order_type in ("L", "SL") and price <= 0:
        raise ValueError(
            f"price must be above 0 for order_type {order_type!r}; got {price_text!r} "
            "(only MKT and SL-M may use price 0)"
        )
    if order_type in ("SL", "SL-M") and (trigger is None or trigger <= 0):
        raise ValueError(
            f"trigger_price must be above 0 for order_type {order_type!r}; got "
            f"{None if trigger is None else str(trigger)!r}"
        )


def place_order(
    *,
    exchange_segment: str | None = None,
    product: str,
    price: PriceLike,
    order_type: str,
    quantity: QuantityLike,
    validity: str,
    trading_symbol: str | Instrument,
    transaction_type: str,
    amo: str = "NO",
    disclosed_quantity: QuantityLike = "0",
    trigger_price: PriceLike = "0",
    tag: str | None = None,
    entropy: Callable[[int], bytes] = secrets.token_bytes,
) -> RequestSpec:
    """Place an order: ``POST {baseUrl}/quick/order/rule/ms/place``, form ``jData``.

    Keyword names and defaults are the SDK's ``NeoAPI.place_order``. jData keys, in the
    order sent: ``am, dq, es, mp, pc, pr, pt, qt, rt, tp, ts, tt, ig, os`` with ``mp`` always
    ``"0"`` and ``os`` always ``"NEOTRADEAPI"``.

    SDK over docs: Kotak's page also lists ``pf`` and the bracket-order fields
    (``sot, slt, slv, sov, tlt, tsv``), ``cde_fo`` and CO/BO; SDK 3.0.9 sends none of them, so
    neither do we (there is no ``market_protection`` or ``pf`` keyword).

    When ``tag`` is ``None`` a new one is generated from ``entropy`` (:func:`new_tag`). Build
    the spec **once per order intent** and resend that same spec if a replay is ever allowed:
    building again would make a new tag and so, possibly, a second order.

    ``trading_symbol`` may be an :class:`~aioneo.Instrument`: its trading symbol is sent and
    its segment is the ``exchange_segment`` (which may then be left out).
    """
    seg_value, symbol_value = _segment_and(
        exchange_segment, trading_symbol, field="trading_symbol", wanted="trading_symbol"
    )
    segment = _choice("exchange_segment", seg_value, EXCHANGE_SEGMENTS)
    product_code = _choice("product", product, PRODUCTS)
    kind = _choice("order_type", order_type, ORDER_TYPES)
    price_text, price_value = _price("price", price)
    quantity_text = _quantity("quantity", quantity)
    allowed_validity = MCX_VALIDITIES if segment == "mcx_fo" else VALIDITIES
    validity_code = _choice(
        "validity",
        validity,
        allowed_validity,
        note=f" for exchange_segment {segment!r}",
    )
    symbol = _text("trading_symbol", symbol_value, example="ITBEES-EQ")
    side = _choice("transaction_type", transaction_type, TRANSACTION_TYPES, note=" (buy, sell)")
    amo_flag = _choice("amo", amo, AMO_VALUES)
    disclosed = _quantity("disclosed_quantity", disclosed_quantity, minimum=0, example="0")
    trigger_text, trigger_value = _price("trigger_price", trigger_price)
    _check_prices(kind, price_value, trigger_value, price_text=price)
    order_tag = new_tag(entropy) if tag is None else _tag(tag)
    jdata = {
        "am": amo_flag,
        "dq": disclosed,
        "es": segment,
        "mp": MARKET_PROTECTION,
        "pc": product_code,
        "pr": price_text,
        "pt": kind,
        "qt": quantity_text,
        "rt": validity_code,
        "tp": trigger_text,
        "ts": symbol,
        "tt": side,
        "ig": order_tag,
        "os": ORDER_SOURCE,
    }
    return RequestSpec(
        op="place_order",
        method="POST",
        path=_PATH_PLACE,
        auth=Auth.SESSION_CK,
        kind=Kind.ORDER,
        # SDK over docs: the SDK docs say application/json; the SDK sends a form.
        content_type=FORM,
        accept=None,
        jdata=jdata,
        tag=order_tag,
    )


def modify_order(
    *,
    order_id: str,
    price: PriceLike,
    order_type: str,
    quantity: QuantityLike,
    validity: str,
    trigger_price: PriceLike = "0",
    disclosed_quantity: QuantityLike = "0",
    amo: str = "NO",
) -> RequestSpec:
    """Modify an open order: ``POST {baseUrl}/quick/order/vr/modify``, form ``jData``.

    Keyword names and defaults are the SDK's ``NeoAPI.modify_order``. jData keys, in order:
    ``mp, dq, vd, pr, pt, am, tp, qt, no, os``: validity goes as ``vd`` and the order number
    as ``no``; no segment, product, symbol or side is sent, so validity is checked against
    DAY/IOC (Kotak will refuse IOC on an MCX order itself). The response carries no tag, and
    Kotak rewrites ``GuiOrdId`` on modify, so the spec's ``tag`` is ``None``.
    """
    number = _order_id(order_id)
    kind = _choice("order_type", order_type, ORDER_TYPES)
    price_text, price_value = _price("price", price)
    quantity_text = _quantity("quantity", quantity)
    validity_code = _choice("validity", validity, VALIDITIES)
    trigger_text, trigger_value = _price("trigger_price", trigger_price)
    disclosed = _quantity("disclosed_quantity", disclosed_quantity, minimum=0, example="0")
    amo_flag = _choice("amo", amo, AMO_VALUES)
    _check_prices(kind, price_value, trigger_value, price_text=price)
    jdata = {
        "mp": MARKET_PROTECTION,
        "dq": disclosed,
        "vd": validity_code,
        "pr": price_text,
        "pt": kind,
        "am": amo_flag,
        "tp": trigger_text,
        "qt": quantity_text,
        "no": number,
        "os": ORDER_SOURCE,
    }
    return RequestSpec(
        op="modify_order",
        method="POST",
        path=_PATH_MODIFY,
        auth=Auth.SESSION_CK,
        kind=Kind.ORDER,
        content_type=FORM,
        accept=None,
        jdata=jdata,
    )


def cancel_order(order_id: str, *, amo: str = "NO", isVerify: bool = False) -> RequestSpec:
    """Cancel an order: ``POST {baseUrl}/quick/order/cancel``, jData ``{"on": ..., "am": ...}``.

    ``isVerify`` is the SDK's keyword, kept so calls written for the SDK still work; like the
    SDK, it has no effect (the exchange decides whether the order can still be cancelled).
    """
    if not isinstance(isVerify, bool):
        raise TypeError(f"isVerify must be a bool; got {type(isVerify).__name__} {isVerify!r}")
    number = _order_id(order_id)
    amo_flag = _choice("amo", amo, AMO_VALUES)
    return RequestSpec(
        op="cancel_order",
        method="POST",
        path=_PATH_CANCEL,
        auth=Auth.SESSION_CK,
        kind=Kind.ORDER,
        content_type=FORM,
        accept=None,
        jdata={"on": number, "am": amo_flag},
    )


# --- Reports --------------------------------------------------------------------------------


def order_report(order_id: str | None = None) -> RequestSpec:
    """The order book, ``GET {baseUrl}/quick/user/orders``; one order with ``order_id``.

    With ``order_id`` the path is ``quick/user/orders/<order_id>`` (letters and digits only,
    so nothing needs escaping). The SDK treats ``""`` like ``None``; we refuse it.
    """
    path = _PATH_ORDERS if order_id is None else f"{_PATH_ORDERS}/{_order_id(order_id)}"
    return RequestSpec(op="order_report", method="GET", path=path, accept=JSON)


def order_history(order_id: str) -> RequestSpec:
    """Every state of one order, newest first: ``POST {baseUrl}/quick/order/history``.

    jData ``{"nOrdNo": order_id}``. A read, although it is a POST.
    """
    return RequestSpec(
        op="order_history",
        method="POST",
        path=_PATH_HISTORY,
        content_type=FORM,
        accept=None,
        jdata={"nOrdNo": _order_id(order_id)},
    )


def trade_report() -> RequestSpec:
    """The trade book (fills): ``GET {baseUrl}/quick/user/trades``."""
    return RequestSpec(op="trade_report", method="GET", path=_PATH_TRADES, accept=JSON)


# --- Portfolio ------------------------------------------------------------------------------


def positions() -> RequestSpec:
    """Today's positions: ``GET {baseUrl}/portfolio/v2/positions``."""
    return RequestSpec(op="positions", method="GET", path=_PATH_POSITIONS, accept=JSON)


def holdings() -> RequestSpec:
    """Demat holdings: ``GET {baseUrl}/portfolio/v1/holdings``, ``accept: */*`` as the SDK."""
    return RequestSpec(
        op="holdings",
        method="GET",
        path=_PATH_HOLDINGS,
        content_type=FORM,
        accept="*/*",
    )


def limits(*, segment: str = "ALL", exchange: str = "ALL", product: str = "ALL") -> RequestSpec:
    """Funds and margins: ``POST {baseUrl}/quick/user/limits``, jData ``seg, exch, prod``.

    The SDK always sends ``"ALL"`` for all three (our defaults, so a default call is
    wire-equivalent). The filters and their allowed values are Kotak's documented ones.
    """
    seg = _choice("segment", segment, LIMITS_SEGMENTS)
    exch = _choice("exchange", exchange, LIMITS_EXCHANGES)
    prod = _choice("product", product, LIMITS_PRODUCTS)
    return RequestSpec(
        op="limits",
        method="POST",
        path=_PATH_LIMITS,
        content_type=FORM,
        accept=None,
        jdata={"seg": seg, "exch": exch, "prod": prod},
    )


def _optional_text(field: str, value: object) -> str | None:
    return None if value is None else _text(field, value, example="A")


def _optional_price(field: str, value: object) -> str | None:
    return None if value is None else _price(field, value)[0]


def margin_required(
    *,
    exchange_segment: str | None = None,
    price: PriceLike,
    order_type: str,
    product: str,
    quantity: QuantityLike,
    instrument_token: str | int | Instrument,
    transaction_type: str,
    trigger_price: PriceLike | None = None,
    broker_name: str = "KOTAK",
    branch_id: str = "ONLINE",
    stop_loss_type: str | None = None,
    stop_loss_value: PriceLike | None = None,
    square_off_type: str | None = None,
    square_off_value: PriceLike | None = None,
    trailing_stop_loss: str | None = None,
    trailing_sl_value: PriceLike | None = None,
    validity: str | None = None,
    trading_symbol: str | None = None,
    amo: str | None = None,
    disclosed_quantity: QuantityLike | None = None,
    tag: str | None = None,
) -> RequestSpec:
    """Margin needed for an order: ``POST {baseUrl}/quick/user/check-margin``, form ``jData``.

    Keyword names and defaults are the SDK's ``NeoAPI.margin_required``. jData keys, in
    order: ``exSeg, prc, prcTp, prod, qty, tok, trnsTp, trgPrc, brkName, brnchId, slAbsOrTks,
    slVal, sqrOffAbsOrTks, sqrOffVal, trailSL, tSLTks``; optional values left ``None`` are
    sent as ``null``, as the SDK does.

    The keywords :func:`place_order` has and the SDK's ``margin_required`` has not
    (``validity``, ``trading_symbol``, ``amo``, ``disclosed_quantity``, ``tag``) are accepted
    too, so an order's keywords can be reused as they are; they are checked as
    :func:`place_order` checks them and not sent (check-margin has no field for them, and
    names the instrument by ``instrument_token`` alone). Every other keyword is spelled the
    same in both, so no value can be given twice under two names.

    ``instrument_token`` may be an :class:`~aioneo.Instrument`: its token is sent and its
    segment is the ``exchange_segment`` (which may then be left out).
    """
    seg_value, token_value = _segment_and(
        exchange_segment, instrument_token, field="instrument_token", wanted="token"
    )
    segment = _choice("exchange_segment", seg_value, EXCHANGE_SEGMENTS)
    if validity is not None:
        _choice(
            "validity",
            validity,
            MCX_VALIDITIES if segment == "mcx_fo" else VALIDITIES,
            note=f" for exchange_segment {segment!r}",
        )
    if trading_symbol is not None:
        _text("trading_symbol", trading_symbol, example="ITBEES-EQ")
    if amo is not None:
        _choice("amo", amo, AMO_VALUES)
    if disclosed_quantity is not None:
        _quantity("disclosed_quantity", disclosed_quantity, minimum=0, example="0")
    if tag is not None:
        _tag(tag)
    price_text, price_value = _price("price", price)
    kind = _choice("order_type", order_type, ORDER_TYPES)
    product_code = _choice("product", product, PRODUCTS)
    quantity_text = _quantity("quantity", quantity)
    token = _quantity("instrument_token", token_value, example="11536")
    side = _choice("transaction_type", transaction_type, TRANSACTION_TYPES, note=" (buy, sell)")
    if kind in ("L", "SL") and price_value <= 0:
        raise ValueError(
            f"price must be above 0 for order_type {kind!r}; got {price!r} "
            "(only MKT and SL-M may use price 0)"
        )
    jdata = {
        "exSeg": segment,
        "prc": price_text,
        "prcTp": kind,
        "prod": product_code,
        "qty": quantity_text,
        "tok": token,
        "trnsTp": side,
        "trgPrc": _optional_price("trigger_price", trigger_price),
        "brkName": _text("broker_name", broker_name, example="KOTAK"),
        "brnchId": _text("branch_id", branch_id, example="ONLINE"),
        "slAbsOrTks": _optional_text("stop_loss_type", stop_loss_type),
        "slVal": _optional_price("stop_loss_value", stop_loss_value),
        "sqrOffAbsOrTks": _optional_text("square_off_type", square_off_type),
        "sqrOffVal": _optional_price("square_off_value", square_off_value),
        "trailSL": _optional_text("trailing_stop_loss", trailing_stop_loss),
        "tSLTks": _optional_price("trailing_sl_value", trailing_sl_value),
    }
    return RequestSpec(
        op="margin_required",
        method="POST",
        path=_PATH_MARGIN,
        content_type=FORM,
        accept=None,
        jdata=jdata,
    )


# --- Market data (consumer key only) --------------------------------------------------------


def scrip_master() -> RequestSpec:
    """Scrip-master file URLs: ``GET {baseUrl}/script-details/1.0/masterscrip/file-paths``.

    The SDK's ``scrip_master(exchange_segment)`` makes this same request and picks one URL
    client-side; see ``ScripMasterPaths.for_segment`` in ``aioneo._models``.
    """
    return RequestSpec(
        op="scrip_master",
        method="GET",
        path=_PATH_SCRIP_MASTER,
        auth=Auth.CK,
        content_type=FORM,
        accept=None,
    )


def _neo_symbol(index: int, item: object) -> tuple[str, str]:
    field = f"instrument_tokens[{index}]"
    segment: object
    token: object
    if isinstance(item, Instrument):
        segment, token = wire_instrument(item, field=field)
    elif isinstance(item, str):
        segment, sep, token = item.partition("|")
        if not sep:
            raise ValueError(f"{field} {item!r} is not 'segment|token', e.g. 'nse_cm|1333'")
    elif isinstance(item, Mapping):
        segment = item.get("exchange_segment")
        token = item.get("instrument_token")
        if segment is None or token is None:
            raise ValueError(
                f"{field} {item!r} needs 'exchange_segment' and 'instrument_token', e.g. "
                "{'instrument_token': '1333', 'exchange_segment': 'nse_cm'}"
            )
        if isinstance(token, int) and not isinstance(token, bool):
            token = str(token)
    else:
        raise TypeError(
            f"{field} must be a mapping such as {{'instrument_token': '1333', "
            f"'exchange_segment': 'nse_cm'}}, a str 'nse_cm|1333' or an aioneo.Instrument; "
            f"got {type(item).__name__}"
        )
    segment_code = _choice(f"{field} exchange_segment", segment, QUOTE_SEGMENTS)
    token_text = _text(f"{field} instrument_token", token, example="1333")
    if "|" in token_text or "," in token_text:
        raise ValueError(
            f"{field} instrument_token {token_text!r} must not contain '|' or ','; use the "
            "token or index name alone, e.g. '1333' or 'Nifty 50'"
        )
    return segment_code, token_text


def _chunks(items: Sequence[tuple[str, str]], size: int) -> Iterator[Sequence[tuple[str, str]]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def quotes(
    instrument_tokens: Sequence[InstrumentLike], *, quote_type: str = "all"
) -> list[RequestSpec]:
    """Quotes: ``GET {baseUrl}/script-details/1.0/quotes/neosymbol/<seg>|<tok>,.../<type>``.

    Returns one spec per chunk of at most 50 instruments (:data:`QUOTES_MAX_INSTRUMENTS`),
    instruments in the order given; concatenating the responses keeps that order. In the
    path, ``|`` and ``,`` stay literal and every other reserved character is percent-encoded
    (``nse_cm|Nifty 50`` becomes ``nse_cm|Nifty%2050``), as the SDK does. Index quotes use
    the index name as the token.
    """
    if isinstance(instrument_tokens, str | bytes) or not isinstance(instrument_tokens, Sequence):
        raise TypeError(
            "instrument_tokens must be a list such as "
            "[{'instrument_token': '1333', 'exchange_segment': 'nse_cm'}]; got "
            f"{type(instrument_tokens).__name__}"
        )
    if not instrument_tokens:
        raise ValueError("instrument_tokens must not be empty; pass at least one instrument")
    kind = _choice("quote_type", quote_type, QUOTE_TYPES)
    pairs = [_neo_symbol(i, item) for i, item in enumerate(instrument_tokens)]
    specs = []
    for chunk in _chunks(pairs, QUOTES_MAX_INSTRUMENTS):
        joined = ",".join(f"{segment}|{token}" for segment, token in chunk)
        encoded = urllib.parse.quote(joined, safe="|,")
        specs.append(
            RequestSpec(
                op="quotes",
                method="GET",
                path=_PATH_QUOTES.format(neo_symbols=encoded, quote_type=kind),
                auth=Auth.CK,
                content_type=FORM,
                accept=None,
            )
        )
    return specs


def expiries(*, exchange: str, underlying: str, instrument_type: str | None = None) -> RequestSpec:
    """Expiry dates: ``GET {baseUrl}/market-data/1.0/watchlist/expiries``.

    Query ``exchange, underlying[, instrument_type]`` (in that order, as the SDK).
    """
    params = {
        "exchange": _choice("exchange", exchange, EXPIRY_EXCHANGES),
        "underlying": _text("underlying", underlying, example="RELIANCE"),
    }
    if instrument_type is not None:
        params["instrument_type"] = _choice("instrument_type", instrument_type, INSTRUMENT_TYPES)
    return RequestSpec(
        op="expiries",
        method="GET",
        path=_PATH_EXPIRIES,
        auth=Auth.CK,
        content_type=FORM,
        accept=None,
        params=params,
    )


def option_chain(
    *,
    exchange: str,
    underlying: str,
    expiry: str | date | None = None,
    instrument_type: str | None = None,
    count: int | None = None,
) -> RequestSpec:
    """Option (or futures) chain: ``GET {baseUrl}/market-data/1.0/watchlist/option-chain``.

    Query ``exchange, underlying[, expiry][, instrument_type][, count]``. ``count`` must be a
    positive multiple of 10 (Kotak answers 400 otherwise; its default is 40).
    """
    params = {
        "exchange": _choice("exchange", exchange, EXPIRY_EXCHANGES),
        "underlying": _text("underlying", underlying, example="NIFTY"),
    }
    if expiry is not None:
        params["expiry"] = _iso_date("expiry", expiry)
    if instrument_type is not None:
        params["instrument_type"] = _choice("instrument_type", instrument_type, INSTRUMENT_TYPES)
    if count is not None:
        if isinstance(count, bool) or not isinstance(count, int):
            raise TypeError(
                f"count must be an int such as 40; got {type(count).__name__} {count!r}"
            )
        if count <= 0 or count % 10:
            raise ValueError(f"count must be a positive multiple of 10 such as 40; got {count!r}")
        params["count"] = str(count)
    return RequestSpec(
        op="option_chain",
        method="GET",
        path=_PATH_OPTION_CHAIN,
        auth=Auth.CK,
        content_type=FORM,
        accept=None,
        params=params,
    )


def historical_data(
    *, neosymbol: str, interval: str, from_date: str | date, to_date: str | date
) -> RequestSpec:
    """Candles: ``GET {baseUrl}/market-data/1.0/historical/details``.

    Query ``neosymbol, interval, fromdate, todate`` (the wire names are lowercase, as the
    SDK sends them). ``neosymbol`` is ``"<segment>|<token>"``; not available for ``mcx_fo`` or
    ``nse_com``. The per-interval maximum range (30/60/90/180 days) is left to the server,
    which documents the limits but not whether the end date counts.
    """
    if not isinstance(neosymbol, str):
        raise TypeError(f"neosymbol must be a str such as 'nse_cm|1333'; got {neosymbol!r}")
    segment, sep, token = neosymbol.partition("|")
    if not sep or not token.strip() or "|" in token:
        raise ValueError(f"neosymbol {neosymbol!r} is not 'segment|token', e.g. 'nse_cm|1333'")
    if segment in HISTORICAL_UNAVAILABLE_SEGMENTS:
        raise ValueError(
            f"neosymbol {neosymbol!r}: historical data is not available for segment "
            f"{segment!r}; use one of {_allowed(_HISTORICAL_SEGMENTS)}"
        )
    _choice("neosymbol segment", segment, QUOTE_SEGMENTS)
    _text("neosymbol", neosymbol, example="nse_cm|1333")
    interval_code = _choice("interval", interval, HISTORICAL_INTERVALS)
    start = _iso_date("from_date", from_date)
    end = _iso_date("to_date", to_date)
    if start > end:
        raise ValueError(f"from_date {start!r} is after to_date {end!r}; swap them")
    return RequestSpec(
        op="historical_data",
        method="GET",
        path=_PATH_HISTORICAL,
        auth=Auth.CK,
        content_type=FORM,
        accept=None,
        params={
            "neosymbol": _plain(neosymbol),
            "interval": interval_code,
            "fromdate": start,
            "todate": end,
        },
    )
