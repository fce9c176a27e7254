"""``python -m aioneo.testing serve``: run the emulator on loopback until stopped.

The first line on stdout is one JSON object that scripts can read::

    {"url": ..., "login_url": ..., "base_url": ..., "control_url": ...,
     "consumer_key": ..., "mobile_number": ..., "ucc": ..., "mpin": ..., "totp_secret": ...}

then a human-readable summary. The values are the emulator's fixed demo credentials; they
open nothing real. Stop with Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from aioneo.testing._app import Emulator
from aioneo.testing._config import KOTAK_LATENCY, ZERO_LATENCY, EmulatorConfig
from aioneo.testing._server import BACKENDS, EmulatorServer

__all__ = ["main"]


def _rate(text: str) -> float | None:
    if text.lower() in ("off", "none", "0"):
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--rate-limit {text!r} is not allowed: pass requests per second, or 'off'"
        ) from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m aioneo.testing", description="The aioneo Kotak Neo emulator."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the emulator on loopback until stopped")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    serve.add_argument("--port", type=int, default=0, help="port; 0 picks a free one (0)")
    serve.add_argument(
        "--latency",
        choices=("zero", "kotak"),
        default="zero",
        help="per-endpoint latency profile: none, or Kotak's documented averages (zero)",
    )
    serve.add_argument(
        "--rate-limit", type=_rate, default=10.0, help="requests/s per session, or 'off' (10)"
    )
    serve.add_argument(
        "--session-ttl",
        type=float,
        default=None,
        help="session lifetime in seconds (default: until 00:00 IST)",
    )
    serve.add_argument("--expiry-status", type=int, choices=(401, 403, 200), default=401)
    serve.add_argument("--trade-prefix", default="/gw/e21", help="path prefix of baseUrl")
    serve.add_argument("--login-error-style", choices=("4xx", "200"), default="4xx")
    serve.add_argument("--totp-skew-steps", type=int, default=1)
    serve.add_argument(
        "--no-totp-replay-rejection",
        action="store_true",
        help="accept a TOTP step that a successful login already used",
    )
    serve.add_argument(
        "--single-session",
        action="store_true",
        help="a new validate revokes the UCC's older trade sessions",
    )
    serve.add_argument("--seed", type=int, default=0, help="seed for tokens and order numbers")
    serve.add_argument("--log-level", default="warning", help="uvicorn log level (warning)")
    serve.add_argument(
        "--server",
        choices=BACKENDS,
        default="auto",
        help="HTTP server: uvicorn, the built-in h11 server, or auto (uvicorn if installed)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the command; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        config = EmulatorConfig(
            trade_prefix=args.trade_prefix,
            session_ttl=args.session_ttl,
            expiry_status=args.expiry_status,
            totp_skew_steps=args.totp_skew_steps,
            totp_replay_rejection=not args.no_totp_replay_rejection,
            single_session=args.single_session,
            login_error_style=args.login_error_style,
            rate_limit=args.rate_limit,
            latency=KOTAK_LATENCY if args.latency == "kotak" else ZERO_LATENCY,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    emulator = Emulator(config, seed=args.seed)
    server = EmulatorServer(
        emulator, host=args.host, port=args.port, log_level=args.log_level, backend=args.server
    )
    try:
        server.bind()
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    url = server.url
    info = {
        "url": url,
        "login_url": url,
        "base_url": emulator.base_url,
        "control_url": f"{url}/__emulator",
        **emulator.credentials.as_dict(),
    }
    rate = "off" if config.rate_limit is None else f"{config.rate_limit:g} requests/s per session"
    ttl = "until 00:00 IST" if config.session_ttl is None else f"{config.session_ttl:g} s"
    print(json.dumps(info), flush=True)
    print(
        "\n".join(
            (
                f"Kotak Neo emulator listening on {url}",
                f"  login host      {url}/login/1.0/tradeApiLogin",
                f"  baseUrl         {emulator.base_url}",
                f"  control API     {url}/__emulator/",
                f"  HTTP server     {server.backend}",
                f"  demo UCC        {config.ucc} (mobile {config.mobile_number})",
                f"  latency         {args.latency}",
                f"  rate limit      {rate}",
                f"  session TTL     {ttl}",
                f"  expiry status   HTTP {config.expiry_status} with code 900901",
                "Press Ctrl-C to stop.",
            )
        ),
        flush=True,
    )
    server.serve_forever()
    print("Stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
