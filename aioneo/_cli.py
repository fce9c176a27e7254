"""``python -m aioneo``: the demo, and a few read-only commands for real accounts.

::

    python -m aioneo demo [--json]              relogin storm against the built-in emulator
    python -m aioneo login [--json]             log in; print data center and base URL
    python -m aioneo positions [--json]         open positions of the day
    python -m aioneo orders [--json]            the order book
    python -m aioneo quotes SYMBOL... [--json]  quotes, SYMBOL as seg|token (nse_cm|11536)
    python -m aioneo whatsmyip [--json]         the IP address Kotak sees

The account commands read the credentials from ``AIONEO_CONSUMER_KEY``,
``AIONEO_MOBILE_NUMBER``, ``AIONEO_UCC``, ``AIONEO_MPIN`` and ``AIONEO_TOTP_SECRET``;
``--login-url`` points them elsewhere (the emulator, ``python -m aioneo.testing serve``).
Each command is one process and one login. Nothing printed ever holds a token, sid, MPIN,
TOTP code, secret or consumer key.

Exit status: 0 success; 1 the API or the network said no (the message says what); 2 bad
usage or missing/invalid credentials (the message names the variables).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import decimal
import enum
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from ._async_client import AsyncNeoClient
from ._credentials import ENV_VARS, Credentials
from ._exceptions import NeoError
from ._models import ClientIp, Order, Position, Quote
from ._shell import DEFAULT_LOGIN_URL
from ._stores import FileSessionStore

__all__ = ["main"]

Table = tuple[Sequence[str], Sequence[Sequence[str]]]


def to_jsonable(value: object) -> Any:
    """Models as plain JSON values: dataclass fields (not ``raw``), decimals as strings
    (exact), datetimes in ISO 8601, enums by value."""
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
    if isinstance(value, dt.datetime | dt.date):
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
        return value.strftime("%Y-%m-%d %H:%M:%S")
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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m aioneo",
        description=(
            "aioneo: asyncio-first Kotak Neo Trade API client. Start with "
            "'python -m aioneo demo'. Account commands read AIONEO_CONSUMER_KEY, "
            "AIONEO_MOBILE_NUMBER, AIONEO_UCC, AIONEO_MPIN and AIONEO_TOTP_SECRET."
        ),
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    output = argparse.ArgumentParser(add_help=False)
    output.add_argument("--json", action="store_true", help="print JSON instead of a table")

    account = argparse.ArgumentParser(add_help=False, parents=[output])
    account.add_argument(
        "--login-url",
        default=DEFAULT_LOGIN_URL,
        help=f"login host (default {DEFAULT_LOGIN_URL}; e.g. the emulator's URL)",
    )
    account.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="log what the client does (logins, TOTP waits, retries) to stderr",
    )
    account.add_argument(
        "--session-file",
        default=os.environ.get("AIONEO_SESSION_FILE") or None,
        metavar="PATH",
        help=(
            "keep the session in this file (mode 0600; default $AIONEO_SESSION_FILE, else "
            "none) so later commands reuse it instead of logging in again: two logins in "
            "one 30 s TOTP step can be refused. The file holds the trade token: keep it private"
        ),
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

    commands.add_parser("login", parents=[account], help="log in; print data center, base URL")
    commands.add_parser("positions", parents=[account], help="open positions of the day")
    commands.add_parser("orders", parents=[account], help="the order book")
    quotes = commands.add_parser("quotes", parents=[account], help="quotes for instruments")
    quotes.add_argument(
        "symbols", nargs="+", metavar="SYMBOL", help="instrument as seg|token, e.g. nse_cm|11536"
    )
    commands.add_parser("whatsmyip", parents=[account], help="the IP address Kotak sees")
    return parser


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


async def _run_account(args: argparse.Namespace, credentials: Credentials) -> object:
    store = FileSessionStore(args.session_file) if args.session_file else None
    async with AsyncNeoClient(
        credentials, login_url=args.login_url, timeout=args.timeout, session_store=store
    ) as neo:
        command: str = args.command
        if command == "login":
            return await neo.login()
        actions: dict[str, Callable[[], Awaitable[object]]] = {
            "positions": neo.positions,
            "orders": neo.order_report,
            "whatsmyip": neo.whatsmyip,
            "quotes": lambda: neo.quotes(list(args.symbols)),
        }
        return await actions[command]()


def _print_result(command: str, result: Any, *, as_json: bool, login_url: str) -> None:
    if as_json:
        print(json.dumps(to_jsonable(result), indent=2))
        return
    if command == "login":
        print(f"logged in at {login_url}")
        print(f"  UCC          {result.ucc or '-'}")
        print(f"  data center  {result.data_center or '-'}")
        print(f"  base URL     {result.base_url}")
        return
    tables: dict[str, Callable[[Any], Table]] = {
        "positions": _positions_table,
        "orders": _orders_table,
        "quotes": _quotes_table,
        "whatsmyip": _ip_table,
    }
    header, rows = tables[command](result)
    print(render_table(header, rows))


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, run the command, return the exit status."""
    args = _parser().parse_args(argv)
    if args.command == "demo":
        from ._demo import main as demo_main

        return demo_main(callers=args.callers, threads=args.threads, as_json=args.json)
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
    # The client logs failures as warnings; the command prints the error itself.
    logging.basicConfig(format="aioneo: %(message)s", stream=sys.stderr)
    logging.getLogger("aioneo").setLevel(logging.INFO if args.verbose else logging.ERROR)
    try:
        result = asyncio.run(_run_account(args, credentials))
    except ValueError as exc:  # a bad SYMBOL, a bad --login-url
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except NeoError as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    _print_result(args.command, result, as_json=args.json, login_url=args.login_url)
    return 0
