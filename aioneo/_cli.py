"""``python -m aioneo``: the demo, and the commands of a trading day.

::

    python -m aioneo demo [--json]                 relogin storm against the built-in emulator
    python -m aioneo login                         log in (or reuse the kept session)
    python -m aioneo positions | orders | trades | holdings | limits | whatsmyip
    python -m aioneo quotes SYMBOL...              SYMBOL as seg|token (nse_cm|11536)
    python -m aioneo watch INSTRUMENT... [--mode quote] [--json]   the live market feed
    python -m aioneo search TEXT [--segment nse_cm] instruments matching TEXT, best first
    python -m aioneo chain UNDERLYING [--expiry YYYY-MM-DD]   an option chain from the file
    python -m aioneo order-history ORDER_ID        every state of one order, newest first
    python -m aioneo place --trading-symbol ... --transaction-type ... --quantity ...
    python -m aioneo modify ORDER_ID --order-type ... --quantity ... [--price ...]
    python -m aioneo cancel ORDER_ID

The account commands read the credentials from ``AIONEO_CONSUMER_KEY``,
``AIONEO_MOBILE_NUMBER``, ``AIONEO_UCC``, ``AIONEO_MPIN`` and ``AIONEO_TOTP_SECRET``, and
the login host from ``--login-url`` or ``AIONEO_LOGIN_URL`` (``python -m aioneo.testing
serve --env`` prints all six for the emulator).

``search`` and ``chain`` read the day's scrip master through ``instruments()`` (kept in
``$XDG_CACHE_HOME/aioneo/instruments``, or ``--cache-dir``): the first of the day downloads
it (and logs in for its URL), the others read the kept file without a login.

The session is kept between commands in a private file per account (a
:class:`~aioneo.FileSessionStore`): ``$XDG_CACHE_HOME/aioneo/sessions/<UCC>.json``, else
``~/.cache/aioneo/sessions/<UCC>.json``; for another login host than Kotak's the name is
``<UCC>@<host>_<port>.json``, so an emulator's session never meets Kotak's. The file is
mode 0600 and its directory 0700. ``--session-file PATH`` (or ``AIONEO_SESSION_FILE``)
chooses the file, ``--no-session-file`` keeps nothing. So ``login`` then ``positions``
make one login: a second login inside one 30 s TOTP step may be refused by the server.

The ``aioneo`` logger goes to stderr at INFO (``-v``: DEBUG, with tracebacks), one line
per record: logins, waits for a fresh TOTP step, retries. Without ``-v`` two records are
left out: a failed login's warning (the command prints that error itself) and the session
adopted from the session file (every command after ``login`` does that). stdout holds only
the result. Nothing printed or logged ever holds a token, sid, MPIN, TOTP code, secret or
consumer key.

``place``, ``modify`` and ``cancel`` check their input before anything is sent and, for a
login host that is not loopback (a live account), ask for confirmation on stderr and read
the answer from stdin, unless ``--yes``. Against the emulator (a loopback login host) they
do not ask.

Exit status: 0 success; 1 the API or the network said no, or nothing was found for an
instrument or order asked for (every one is named), or an order was not confirmed; 2 bad
usage, input or credentials (the message names the field, the value and what is
allowed); 130 interrupted (Ctrl-C: one line, no traceback, connections closed).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import decimal
import enum
import ipaddress
import json
import logging
import os
import re
import stat
import sys
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ._async_client import AsyncNeoClient
from ._core import _requests as requests
from ._core._scrip import ChainStrike, Instrument, canonical_segment
from ._credentials import ENV_VARS, Credentials
from ._exceptions import NeoError
from ._models import (
    IST,
    ClientIp,
    Holding,
    Limits,
    Order,
    OrderHistoryEntry,
    OrderResult,
    Position,
    Quote,
    Trade,
)
from ._session_info import SessionInfo
from ._shell import DEFAULT_LOGIN_URL
from ._stores import FileSessionStore

__all__ = [
    "LOGIN_URL_ENV",
    "SESSION_FILE_ENV",
    "default_session_path",
    "is_loopback_url",
    "main",
    "render_table",
    "to_jsonable",
]

#: The login host the account commands use when ``--login-url`` is not given.
LOGIN_URL_ENV = "AIONEO_LOGIN_URL"
#: The session file the account commands use when ``--session-file`` is not given.
SESSION_FILE_ENV = "AIONEO_SESSION_FILE"
#: Exit status after Ctrl-C (128 + SIGINT), as shells report it.
EXIT_INTERRUPTED = 130

Table = tuple[Sequence[str], Sequence[Sequence[str]]]
_ORDER_COMMANDS = ("place", "modify", "cancel")


# --- output ---------------------------------------------------------------------------------


def _iso(value: dt.datetime) -> str:
    """ISO 8601 in IST; a naive time is taken to be IST already (Kotak's clock)."""
    aware = value.replace(tzinfo=IST) if value.tzinfo is None else value.astimezone(IST)
    return aware.isoformat()


def to_jsonable(value: object) -> Any:
    """Models as plain JSON values: dataclass fields (not ``raw``), decimals as strings
    (exact), times in ISO 8601 IST, dates in ISO 8601, enums by value."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: to_jsonable(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if f.name != "raw"
        }
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        return _iso(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [to_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    return value


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, dt.datetime):
        aware = value.replace(tzinfo=IST) if value.tzinfo is None else value.astimezone(IST)
        return aware.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def render_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table: first column left-aligned, the others right-aligned."""
    if not rows:
        return "(none)"
    widths = [max(len(str(r[i])) for r in (header, *rows)) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        cells = [str(row[0]).ljust(widths[0])]
        cells += [str(c).rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
        return "  ".join(cells).rstrip()

    return "\n".join([line(header), "  ".join("-" * w for w in widths), *map(line, rows)])


def _positions_table(positions: list[Position]) -> Table:
    header = ("symbol", "segment", "product", "net qty", "buy qty", "sell qty", "ltp")
    rows = [
        (
            _cell(p.trading_symbol or p.symbol or p.instrument_token),
            _cell(p.exchange_segment),
            _cell(p.product),
            str(p.net_quantity),
            str(p.total_buy_quantity),
            str(p.total_sell_quantity),
            _cell(p.ltp),
        )
        for p in positions
    ]
    return header, rows


def _orders_table(orders: list[Order]) -> Table:
    header = ("order id", "status", "symbol", "side", "type", "qty", "filled", "price", "tag")
    rows = [
        (
            o.order_id,
            _cell(o.status),
            _cell(o.trading_symbol),
            _cell(o.transaction_type),
            _cell(o.order_type),
            _cell(o.quantity),
            _cell(o.filled_quantity),
            _cell(o.price),
            _cell(o.tag),
        )
        for o in orders
    ]
    return header, rows


def _history_table(entries: list[OrderHistoryEntry]) -> Table:
    header = ("updated", "status", "type", "qty", "filled", "price", "avg price", "reason")
    rows = [
        (
            _cell(e.updated_at or e.exchange_time),
            _cell(e.status),
            _cell(e.order_type),
            _cell(e.quantity),
            _cell(e.filled_quantity),
            _cell(e.price),
            _cell(e.average_price),
            _cell(e.rejection_reason),
        )
        for e in entries
    ]
    return header, rows


def _trades_table(trades: list[Trade]) -> Table:
    header = ("order id", "fill id", "symbol", "side", "qty", "avg price", "filled at", "tag")
    rows = [
        (
            t.order_id,
            _cell(t.fill_id),
            _cell(t.trading_symbol),
            _cell(t.transaction_type),
            _cell(t.filled_quantity),
            _cell(t.average_price),
            _cell(t.fill_time),
            _cell(t.tag),
        )
        for t in trades
    ]
    return header, rows


def _holdings_table(holdings: list[Holding]) -> Table:
    header = ("symbol", "segment", "qty", "sellable", "avg price", "close", "market value")
    rows = [
        (
            _cell(h.display_symbol or h.symbol),
            _cell(h.exchange_segment),
            _cell(h.quantity),
            _cell(h.sellable_quantity),
            _cell(h.average_price),
            _cell(h.closing_price),
            _cell(h.market_value),
        )
        for h in holdings
    ]
    return header, rows


def _limits_table(limits: Limits) -> Table:
    rows = [
        ("category", _cell(limits.category)),
        ("net (available to trade)", _cell(limits.net)),
        ("collateral value", _cell(limits.collateral_value)),
        ("margin used", _cell(limits.margin_used)),
        ("adhoc margin", _cell(limits.adhoc_margin)),
        ("notional cash", _cell(limits.notional_cash)),
        ("realized MTM", _cell(limits.realized_mtm)),
        ("unrealized MTM", _cell(limits.unrealized_mtm)),
        ("board lot limit", _cell(limits.board_lot_limit)),
        ("as of", _cell(limits.timestamp)),
    ]
    return ("limit", "value"), rows


def _quotes_table(quotes: list[Quote]) -> Table:
    header = ("symbol", "segment", "token", "ltp", "change %", "volume", "updated")
    rows = [
        (
            _cell(q.display_symbol),
            _cell(q.exchange_segment),
            _cell(q.exchange_token),
            _cell(q.ltp),
            _cell(q.change_percent),
            _cell(q.volume),
            _cell(q.last_update),
        )
        for q in quotes
    ]
    return header, rows


def _ip_table(ip: ClientIp) -> Table:
    return ("ip", "server time"), [(ip.ip, _cell(ip.time))]


def _instruments_table(found: list[Instrument]) -> Table:
    header = ("trading symbol", "token", "segment", "series", "type", "expiry", "strike", "lot")
    rows = [
        (
            i.trading_symbol,
            i.token,
            i.segment,
            i.series or "-",
            i.option_type or i.instrument_type or "-",
            _cell(i.expiry),
            _cell(i.strike),
            str(i.lot_size),
        )
        for i in found
    ]
    return header, rows


def _chain_table(chain: list[ChainStrike]) -> Table:
    header = ("call symbol", "call token", "strike", "put token", "put symbol")
    rows = [
        (
            _cell(c.call.trading_symbol if c.call else None),
            _cell(c.call.token if c.call else None),
            str(c.strike),
            _cell(c.put.token if c.put else None),
            _cell(c.put.trading_symbol if c.put else None),
        )
        for c in chain
    ]
    return header, rows


_TABLES: dict[str, Callable[[Any], Table]] = {
    "search": _instruments_table,
    "chain": _chain_table,
    "positions": _positions_table,
    "orders": _orders_table,
    "order-history": _history_table,
    "trades": _trades_table,
    "holdings": _holdings_table,
    "limits": _limits_table,
    "quotes": _quotes_table,
    "whatsmyip": _ip_table,
}


# --- where the session is kept ----------------------------------------------------------------


def _cache_dir(environ: Mapping[str, str]) -> Path:
    """``$XDG_CACHE_HOME`` when it is an absolute path (the XDG rule), else ``~/.cache``."""
    xdg = environ.get("XDG_CACHE_HOME", "")
    if xdg and os.path.isabs(xdg):
        return Path(xdg)
    home = environ.get("HOME")
    return (Path(home) if home else Path.home()) / ".cache"


def _host_label(login_url: str) -> str:
    parts = urllib.parse.urlsplit(login_url)
    label = parts.hostname or "unknown"
    if parts.port is not None:
        label += f"_{parts.port}"
    return re.sub(r"[^A-Za-z0-9.-]", "_", label)


def default_session_path(
    ucc: str, login_url: str, environ: Mapping[str, str] | None = None
) -> Path:
    """The file the CLI keeps ``ucc``'s session in when none is chosen.

    ``<cache>/aioneo/sessions/<ucc>.json`` for Kotak's login host, and
    ``<ucc>@<host>_<port>.json`` for any other (an emulator's session is not Kotak's, and
    one emulator's base URL is not the next one's); ``<cache>`` is ``$XDG_CACHE_HOME``, else
    ``~/.cache``.
    """
    env = os.environ if environ is None else environ
    name = ucc if login_url.rstrip("/") == DEFAULT_LOGIN_URL else f"{ucc}@{_host_label(login_url)}"
    return _cache_dir(env) / "aioneo" / "sessions" / f"{name}.json"


def _make_private_dirs(directory: Path) -> None:
    """Create ``directory`` and its missing parents with mode 0700; make an existing
    ``directory`` of ours private if other users may enter it."""
    missing = [d for d in (directory, *directory.parents) if not d.exists()]
    for path in reversed(missing):
        path.mkdir(mode=0o700, exist_ok=True)
    st = directory.stat()
    if st.st_uid == os.geteuid() and stat.S_IMODE(st.st_mode) & 0o077:
        directory.chmod(0o700)


def _session_file(args: argparse.Namespace, ucc: str) -> Path | None:
    """The session file of this run, ``None`` with ``--no-session-file``; creates the
    default file's directory (mode 0700)."""
    if args.no_session_file:
        return None
    chosen = args.session_file or os.environ.get(SESSION_FILE_ENV, "").strip()
    if chosen:
        return Path(chosen).expanduser()
    path = default_session_path(ucc, args.login_url)
    _make_private_dirs(path.parent)
    return path


# --- input --------------------------------------------------------------------------------


def is_loopback_url(url: str) -> bool:
    """Whether ``url``'s host is this machine (``localhost``, 127.0.0.0/8, ``::1``)."""
    host = (urllib.parse.urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _login_url(text: str) -> str:
    parts = urllib.parse.urlsplit(text.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(
            f"login URL {text!r} (--login-url or ${LOGIN_URL_ENV}) is not allowed: pass an "
            f"http:// or https:// URL, e.g. {DEFAULT_LOGIN_URL} or the emulator's "
            "http://127.0.0.1:PORT"
        )
    return text.strip().rstrip("/")


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not allowed: pass seconds > 0")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not allowed: pass an integer >= 1")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m aioneo",
        description=(
            "aioneo: asyncio-first Kotak Neo Trade API client. Start with "
            "'python -m aioneo demo'. Account commands read AIONEO_CONSUMER_KEY, "
            "AIONEO_MOBILE_NUMBER, AIONEO_UCC, AIONEO_MPIN and AIONEO_TOTP_SECRET, and "
            "AIONEO_LOGIN_URL if set."
        ),
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    output = argparse.ArgumentParser(add_help=False)
    output.add_argument("--json", action="store_true", help="print JSON instead of a table")

    account = argparse.ArgumentParser(add_help=False, parents=[output])
    account.add_argument(
        "--login-url",
        type=_login_url,
        default=os.environ.get(LOGIN_URL_ENV, "").strip() or DEFAULT_LOGIN_URL,
        help=(
            f"login host (default ${LOGIN_URL_ENV}, else {DEFAULT_LOGIN_URL}); e.g. the "
            "emulator's URL"
        ),
    )
    account.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="log at DEBUG, with tracebacks (default: INFO, one line per record, on stderr)",
    )
    account.add_argument(
        "--session-file",
        default=None,
        metavar="PATH",
        help=(
            f"keep the session in this file (default ${SESSION_FILE_ENV}, else "
            "$XDG_CACHE_HOME or ~/.cache, then aioneo/sessions/<UCC>.json), mode 0600, so "
            "the next command reuses it instead of logging in again. It holds the trade "
            "token: keep it private"
        ),
    )
    account.add_argument(
        "--no-session-file",
        action="store_true",
        help="keep no session: every command logs in (two logins in one 30 s TOTP step "
        "may be refused)",
    )
    account.add_argument(
        "--timeout",
        type=_positive,
        default=10.0,
        help="seconds for each network step of a request (10)",
    )

    demo = commands.add_parser(
        "demo",
        parents=[output],
        help="relogin storm against the built-in emulator (1,000 coroutines, 64 threads)",
    )
    demo.add_argument("--callers", type=_count, default=1000, help="coroutines (1000)")
    demo.add_argument("--threads", type=_count, default=64, help="threads (64)")

    commands.add_parser(
        "login", parents=[account], help="log in, or reuse the kept session; data center, URL"
    )
    commands.add_parser("positions", parents=[account], help="open positions of the day")
    commands.add_parser("orders", parents=[account], help="the order book")
    history = commands.add_parser(
        "order-history", parents=[account], help="every state of one order, newest first"
    )
    history.add_argument("order_id", metavar="ORDER_ID", help="the order number (nOrdNo)")
    commands.add_parser("trades", parents=[account], help="the day's fills")
    commands.add_parser("holdings", parents=[account], help="demat holdings")
    limits = commands.add_parser("limits", parents=[account], help="funds and margins")
    limits.add_argument("--segment", default="ALL", help="ALL, CASH, CUR or FO (ALL)")
    limits.add_argument("--exchange", default="ALL", help="ALL, NSE or BSE (ALL)")
    limits.add_argument("--product", default="ALL", help="ALL, NRML, CNC or MIS (ALL)")
    quotes = commands.add_parser("quotes", parents=[account], help="quotes for instruments")
    quotes.add_argument(
        "symbols", nargs="+", metavar="SYMBOL", help="instrument as seg|token, e.g. nse_cm|11536"
    )
    commands.add_parser("whatsmyip", parents=[account], help="the IP address Kotak sees")
    from ._cli_watch import add_watch_parser  # imports this module: not at the top

    add_watch_parser(commands, account)
    scrip = argparse.ArgumentParser(add_help=False)
    scrip.add_argument(
        "--cache-dir",
        default=None,
        metavar="DIR",
        help="where the day's scrip-master files are kept (default $AIONEO_INSTRUMENTS_DIR, "
        "else $XDG_CACHE_HOME or ~/.cache, then aioneo/instruments)",
    )
    search = commands.add_parser(
        "search", parents=[account, scrip], help="instruments matching TEXT, best first"
    )
    search.add_argument("text", metavar="TEXT", help="a trading symbol, symbol or name: ITC")
    search.add_argument("--segment", default="nse_cm", help="scrip-master segment (nse_cm)")
    search.add_argument("--limit", type=_count, default=20, help="rows at most (20)")
    chain = commands.add_parser(
        "chain", parents=[account, scrip], help="the option chain of UNDERLYING from the file"
    )
    chain.add_argument("underlying", metavar="UNDERLYING", help="e.g. NIFTY")
    chain.add_argument(
        "--expiry",
        type=dt.date.fromisoformat,
        default=None,
        help="YYYY-MM-DD (default: the nearest option expiry)",
    )
    chain.add_argument("--segment", default="nse_fo", help="nse_fo, bse_fo or mcx_fo (nse_fo)")

    confirm = argparse.ArgumentParser(add_help=False)
    confirm.add_argument(
        "--yes",
        action="store_true",
        help="send without asking (a live login host asks for confirmation otherwise)",
    )
    place = commands.add_parser(
        "place", parents=[account, confirm], help="place an order (the place_order arguments)"
    )
    place.add_argument("--trading-symbol", required=True, help="e.g. TCS-EQ")
    place.add_argument("--transaction-type", required=True, help="B (buy) or S (sell)")
    place.add_argument("--quantity", required=True, help="whole number of shares or units")
    place.add_argument("--product", required=True, help="CNC, NRML, MIS or MTF")
    place.add_argument("--order-type", required=True, help="L, MKT, SL or SL-M")
    place.add_argument("--price", default="0", help="limit price; 0 for MKT and SL-M (0)")
    place.add_argument(
        "--exchange-segment",
        default="nse_cm",
        help="nse_cm, bse_cm, nse_fo, bse_fo or mcx_fo (nse_cm)",
    )
    place.add_argument("--validity", default="DAY", help="DAY or IOC (DAY)")
    place.add_argument("--trigger-price", default="0", help="for SL and SL-M (0)")
    place.add_argument("--disclosed-quantity", default="0", help="(0)")
    place.add_argument("--amo", default="NO", help="YES for an after-market order (NO)")
    place.add_argument("--tag", default=None, help="your tag (default: a generated one)")

    modify = commands.add_parser("modify", parents=[account, confirm], help="modify an open order")
    modify.add_argument("order_id", metavar="ORDER_ID", help="the order number (nOrdNo)")
    modify.add_argument("--order-type", required=True, help="L, MKT, SL or SL-M")
    modify.add_argument("--quantity", required=True, help="the new total quantity")
    modify.add_argument("--price", default="0", help="limit price; 0 for MKT and SL-M (0)")
    modify.add_argument("--validity", default="DAY", help="DAY or IOC (DAY)")
    modify.add_argument("--trigger-price", default="0", help="for SL and SL-M (0)")
    modify.add_argument("--disclosed-quantity", default="0", help="(0)")
    modify.add_argument("--amo", default="NO", help="YES for an after-market order (NO)")

    cancel = commands.add_parser("cancel", parents=[account, confirm], help="cancel an order")
    cancel.add_argument("order_id", metavar="ORDER_ID", help="the order number (nOrdNo)")
    cancel.add_argument("--amo", default="NO", help="YES for an after-market order (NO)")
    return parser


def _check_input(args: argparse.Namespace) -> str | None:
    """Build the request of commands with input, so that a bad value fails before any
    network (``ValueError``/``TypeError`` naming the field, the value and what is
    allowed). Returns what an order command will do, in words, for the confirmation."""
    command: str = args.command
    if command in ("search", "chain"):
        canonical_segment(args.segment, field="--segment")
        text = args.text if command == "search" else args.underlying
        if not text.strip():
            raise ValueError(f"{'TEXT' if command == 'search' else 'UNDERLYING'} must not be blank")
    elif command == "quotes":
        requests.quotes(list(args.symbols))
    elif command == "watch":
        from ._core._feed_subs import Subscriptions

        Subscriptions().subscribe(list(args.symbols), mode=args.mode)
    elif command == "order-history":
        requests.order_history(args.order_id)
    elif command == "limits":
        requests.limits(segment=args.segment, exchange=args.exchange, product=args.product)
    elif command == "place":
        spec = requests.place_order(**_place_kwargs(args))
        args.tag = spec.tag  # the tag shown is the tag sent
        side = {"B": "buy", "S": "sell"}.get(args.transaction_type, args.transaction_type)
        at = "at market" if args.order_type in ("MKT", "SL-M") else f"at {args.price}"
        trigger = f", trigger {args.trigger_price}" if args.order_type in ("SL", "SL-M") else ""
        return (
            f"place: {side} {args.quantity} {args.trading_symbol} ({args.exchange_segment}, "
            f"{args.product}, {args.order_type} {at}{trigger}, {args.validity}"
            f"{', AMO' if args.amo == 'YES' else ''}), tag {args.tag}"
        )
    elif command == "modify":
        requests.modify_order(**_modify_kwargs(args))
        at = "at market" if args.order_type in ("MKT", "SL-M") else f"at {args.price}"
        return (
            f"modify order {args.order_id}: {args.order_type} {args.quantity} {at}, {args.validity}"
        )
    elif command == "cancel":
        requests.cancel_order(args.order_id, amo=args.amo)
        return f"cancel order {args.order_id}"
    return None


def _place_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "exchange_segment": args.exchange_segment,
        "product": args.product,
        "price": args.price,
        "order_type": args.order_type,
        "quantity": args.quantity,
        "validity": args.validity,
        "trading_symbol": args.trading_symbol,
        "transaction_type": args.transaction_type,
        "amo": args.amo,
        "disclosed_quantity": args.disclosed_quantity,
        "trigger_price": args.trigger_price,
        "tag": args.tag,
    }


def _modify_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "order_id": args.order_id,
        "price": args.price,
        "order_type": args.order_type,
        "quantity": args.quantity,
        "validity": args.validity,
        "trigger_price": args.trigger_price,
        "disclosed_quantity": args.disclosed_quantity,
        "amo": args.amo,
    }


def _confirmed(what: str, *, login_url: str, ucc: str) -> bool:
    """Ask on stderr, read one line from stdin; only ``y`` or ``yes`` sends."""
    print(f"{what}\n  to {login_url} for account {ucc}: send it? [y/N] ", end="", file=sys.stderr)
    sys.stderr.flush()
    answer = sys.stdin.readline()
    if not answer.endswith("\n") or not sys.stdin.isatty():
        print(file=sys.stderr)  # end the prompt's line: a pipe or EOF echoes nothing
    return answer.strip().lower() in ("y", "yes")


# --- logging ------------------------------------------------------------------------------


class _Concise(logging.Formatter):
    """``aioneo: <message>``; ``aioneo: warning: <message>`` above INFO; tracebacks only
    when verbose."""

    def __init__(self, *, verbose: bool) -> None:
        super().__init__()
        self._verbose = verbose

    def format(self, record: logging.LogRecord) -> str:
        level = "" if record.levelno <= logging.INFO else f"{record.levelname.lower()}: "
        text = f"aioneo: {level}{record.getMessage()}"
        if self._verbose and record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def _worth_a_line(record: logging.LogRecord) -> bool:
    """Without ``-v``: not the failed login (the command prints its error itself), and not
    the session adopted from the session file (every command after ``login`` does that)."""
    if record.msg == "login failed: %s":
        return False
    first = record.args[0] if isinstance(record.args, tuple) and record.args else None
    return not (isinstance(first, str) and first.startswith("adopted the session"))


def _configure_logging(verbose: bool) -> Callable[[], None]:
    """Send the ``aioneo`` logger to stderr; returns the undo (``main`` may run again)."""
    logger = logging.getLogger("aioneo")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Concise(verbose=verbose))
    if not verbose:
        handler.addFilter(_worth_a_line)
    before = (logger.level, logger.propagate)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False

    def undo() -> None:
        logger.removeHandler(handler)
        logger.setLevel(before[0])
        logger.propagate = before[1]

    return undo


# --- running ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class _Login:
    info: SessionInfo
    adopted: bool


async def _run_account(
    args: argparse.Namespace, credentials: Credentials, session_file: Path | None
) -> object:
    store = FileSessionStore(session_file) if session_file is not None else None
    from ._cli_watch import config_url_of, run_watch  # imports this module: not at the top

    async with AsyncNeoClient(
        credentials,
        login_url=args.login_url,
        timeout=args.timeout,
        session_store=store,
        config_url=config_url_of(args),
    ) as neo:
        command: str = args.command
        if command == "watch":
            return await run_watch(neo, args)
        if command == "login":
            info = await neo.login()
            return _Login(info, adopted=neo.stats.adopted > 0)
        actions: dict[str, Callable[[], Awaitable[object]]] = {
            "positions": neo.positions,
            "orders": neo.order_report,
            "order-history": lambda: neo.order_history(args.order_id),
            "trades": neo.trade_report,
            "holdings": neo.holdings,
            "limits": lambda: neo.limits(args.segment, args.exchange, args.product),
            "whatsmyip": neo.whatsmyip,
            "quotes": lambda: neo.quotes(list(args.symbols)),
            "place": lambda: neo.place_order(**_place_kwargs(args)),
            "modify": lambda: neo.modify_order(**_modify_kwargs(args)),
            "cancel": lambda: neo.cancel_order(args.order_id, amo=args.amo),
            "search": lambda: _search(neo, args),
            "chain": lambda: _chain(neo, args),
        }
        return await actions[command]()


async def _search(neo: AsyncNeoClient, args: argparse.Namespace) -> list[Instrument]:
    table = await neo.instruments(args.segment, cache_dir=args.cache_dir)
    return table.search(args.text, limit=args.limit)


async def _chain(neo: AsyncNeoClient, args: argparse.Namespace) -> list[ChainStrike]:
    table = await neo.instruments(args.segment, cache_dir=args.cache_dir)
    expiries = table.expiries(args.underlying, kind="options")
    if not expiries:
        raise ValueError(
            f"UNDERLYING {args.underlying!r} has no options in the {table.segment} scrip "
            "master (see 'python -m aioneo search')"
        )
    expiry = args.expiry or expiries[0]
    if expiry not in expiries:
        shown = ", ".join(d.isoformat() for d in expiries[:8])
        raise ValueError(
            f"--expiry {expiry.isoformat()} is not an expiry of {args.underlying.upper()}; "
            f"its expiries are {shown}"
        )
    return table.option_chain(args.underlying, expiry)


def _missing_quotes(asked: Sequence[str], quotes: Sequence[Quote]) -> list[str]:
    """The instruments asked for that no quote came back for, in the order asked.

    Kotak leaves unknown instruments out of its answer; a quote is matched by segment and
    token (index names without regard to case). When every instrument got a row, none is
    missing, whatever the server spelled.
    """
    wanted = list(dict.fromkeys(asked))
    if len(quotes) >= len(wanted):
        return []
    got = {
        (str(q.exchange_segment.value).casefold(), q.exchange_token.strip().casefold())
        for q in quotes
        if q.exchange_segment is not None and q.exchange_token is not None
    }
    missing = []
    for symbol in wanted:
        segment, _, token = symbol.partition("|")
        if (segment.strip().casefold(), token.strip().casefold()) not in got:
            missing.append(symbol)
    return missing


def _not_found(args: argparse.Namespace, result: object) -> str | None:
    """The error for a command that found nothing for something it was asked for."""
    if args.command == "quotes":
        assert isinstance(result, list)
        missing = _missing_quotes(args.symbols, result)
        if missing:
            unique = len(dict.fromkeys(args.symbols))
            return (
                f"no quote for {len(missing)} of {unique} instrument(s): "
                f"{', '.join(missing)} (not a known segment|token?)"
            )
    if args.command == "search" and not result:
        return f"no instrument in {args.segment} matches {args.text!r}"
    if args.command == "order-history" and not result:
        return (
            f"no order {args.order_id!r} found: the order book has no such order number "
            "(see 'python -m aioneo orders')"
        )
    return None


def _print_result(args: argparse.Namespace, result: Any, *, session_file: Path | None) -> None:
    command: str = args.command
    if command == "watch":
        return  # printed while it ran
    if command == "login":
        login: _Login = result
        info = login.info
        if args.json:
            doc = {
                "ucc": info.ucc,
                "data_center": info.data_center,
                "base_url": info.base_url,
                "epoch": info.epoch,
                "expires_at": None
                if info.expires_at is None
                else _iso(dt.datetime.fromtimestamp(info.expires_at, IST)),
                "login_url": args.login_url,
                "session_file": None if session_file is None else str(session_file),
                "reused": login.adopted,
            }
            print(json.dumps(doc, indent=2))
            return
        if login.adopted:
            print(f"reused the session kept for {args.login_url} (no login)")
        else:
            print(f"logged in at {args.login_url}")
        expires = (
            "-"
            if info.expires_at is None
            else _cell(dt.datetime.fromtimestamp(info.expires_at, IST)) + " IST"
        )
        print(f"  UCC           {info.ucc or '-'}")
        print(f"  data center   {info.data_center or '-'}")
        print(f"  base URL      {info.base_url}")
        print(f"  expires       {expires}")
        print(f"  session file  {session_file if session_file is not None else '(none)'}")
        return
    if args.json:
        print(json.dumps(to_jsonable(result), indent=2))
        return
    if command in _ORDER_COMMANDS:
        order: OrderResult = result
        done = {"place": "accepted", "modify": "change accepted", "cancel": "cancel accepted"}
        tag = f" (tag {order.tag})" if order.tag else ""
        print(
            f"order {order.order_id}: {done[command]}{tag}; follow it with "
            f"'python -m aioneo order-history {order.order_id}'"
        )
        return
    header, rows = _TABLES[command](result)
    print(render_table(header, rows))


def _account_command(args: argparse.Namespace) -> int:
    try:
        credentials = Credentials.from_env()
    except (ValueError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        print(
            f"The account commands need {', '.join(ENV_VARS.values())} (see the README, "
            "'Credentials'); 'python -m aioneo demo' needs none.",
            file=sys.stderr,
        )
        return 2
    try:
        what = _check_input(args)
    except (ValueError, TypeError) as exc:  # a bad SYMBOL, price, product, order id, ...
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        session_file = _session_file(args, credentials.ucc)
    except OSError as exc:
        where = exc.filename or "the session directory"
        print(
            f"error: cannot create {where}: {exc.strerror or type(exc).__name__}; pass "
            "--session-file PATH or --no-session-file",
            file=sys.stderr,
        )
        return 1
    if (
        what is not None
        and not args.yes
        and not is_loopback_url(args.login_url)
        and not _confirmed(what, login_url=args.login_url, ucc=credentials.ucc)
    ):
        print("not sent: not confirmed (answer y, or pass --yes)", file=sys.stderr)
        return 1
    undo = _configure_logging(args.verbose)
    try:
        result = asyncio.run(_run_account(args, credentials, session_file))
    except ValueError as exc:  # input the client refused after all
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except NeoError as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        undo()
    _print_result(args, result, session_file=session_file)
    problem = _not_found(args, result)
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, run the command, return the exit status (130 after Ctrl-C)."""
    args: argparse.Namespace | None = None
    try:
        args = _parser().parse_args(argv)
        if args.command == "demo":
            from ._demo import main as demo_main

            return demo_main(callers=args.callers, threads=args.threads, as_json=args.json)
        return _account_command(args)
    except KeyboardInterrupt:
        # asyncio.run has cancelled the command and the client has closed its
        # connections by now (the threads' clients too, in the demo).
        print("interrupted", file=sys.stderr)
        if args is not None and args.command in ("place", "modify", "cancel"):
            # The request may have reached the server before the interrupt: never let a
            # user believe nothing happened (and place the same order again).
            tag = getattr(args, "tag", None)
            what = f"tag {tag}" if tag else f"order {getattr(args, 'order_id', '?')}"
            print(
                f"warning: the {args.command} request may have reached the server ({what}): "
                "its outcome is unknown; check with `python -m aioneo orders` before sending "
                "it again",
                file=sys.stderr,
            )
        return EXIT_INTERRUPTED
