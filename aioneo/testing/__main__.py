"""``python -m aioneo.testing serve``: run the emulator on loopback until stopped.

Three ways to start it; stdout carries only what a program reads, stderr the summary for
people:

* ``serve``: stdout is one JSON line, then the server runs in the foreground until
  Ctrl-C or SIGTERM (exit status 0)::

      {"url": ..., "login_url": ..., "base_url": ..., "control_url": ...,
       "market_feed_url": ..., "order_feed_url": ...,
       "consumer_key": ..., "mobile_number": ..., "ucc": ..., "mpin": ..., "totp_secret": ...}

* ``serve --env``: stdout is shell ``export`` lines for every variable
  ``python -m aioneo`` reads (``AIONEO_LOGIN_URL`` and the five credentials) plus
  ``AIONEO_EMULATOR_PID``; the server goes on in the background, like ``ssh-agent``, and
  the command returns once it accepts requests. So::

      eval "$(python -m aioneo.testing serve --env)"
      python -m aioneo login && python -m aioneo positions
      kill "$AIONEO_EMULATOR_PID"

* ``serve --env-file PATH``: as ``serve``, and the same variables are written to ``PATH``
  as a dotenv file (``NAME=value`` lines, mode 0600) once the port is bound; the file is
  removed when the server stops. Read it with ``set -a; . PATH; set +a``.

The summary on stderr names the login URL to give ``--login-url`` (the server's root
URL; the login steps' paths are added by the client). The values are the emulator's fixed
demo credentials; they open nothing real.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from aioneo._cli import LOGIN_URL_ENV
from aioneo._credentials import ENV_VARS
from aioneo.testing._app import Emulator
from aioneo.testing._config import KOTAK_LATENCY, ZERO_LATENCY, EmulatorConfig
from aioneo.testing._server import BACKENDS, EmulatorServer

__all__ = ["PID_ENV", "main"]

#: The variable ``--env`` and ``--env-file`` set to the serving process's id.
PID_ENV = "AIONEO_EMULATOR_PID"


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
        "--env",
        action="store_true",
        help=(
            "print shell export lines (AIONEO_LOGIN_URL, the five credentials, "
            f"{PID_ENV}) instead of JSON and keep serving in the background: "
            'eval "$(python -m aioneo.testing serve --env)"; stop it with '
            f'kill "${PID_ENV}"'
        ),
    )
    serve.add_argument(
        "--env-file",
        metavar="PATH",
        default=None,
        help="also write those variables to PATH as a dotenv file (removed at stop)",
    )
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
    serve.add_argument(
        "--tick-rate",
        type=float,
        default=2.0,
        help="random-walk steps per second of each live instrument; 0 keeps prices still (2)",
    )
    serve.add_argument(
        "--feed-auth-failure",
        choices=("reply", "close"),
        default="reply",
        help="a dead session's feed auth: refused in a reply, or closed with 1008 (reply)",
    )
    serve.add_argument(
        "--keep-feeds-on-expiry",
        action="store_true",
        help="an expired session's feed sockets keep streaming (default: closed with 1008)",
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


def _variables(server: EmulatorServer, pid: int) -> dict[str, str]:
    """What ``python -m aioneo`` reads, for this server, and the serving process's id."""
    creds = server.emulator.credentials.as_dict()
    return {
        LOGIN_URL_ENV: server.url,
        **{var: creds[field] for field, var in ENV_VARS.items()},
        PID_ENV: str(pid),
    }


def _write_env_file(path: Path, variables: dict[str, str]) -> None:
    """``NAME=value`` lines (shell-quoted where needed), mode 0600, replaced atomically."""
    text = "".join(f"{name}={shlex.quote(value)}\n" for name, value in variables.items())
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    try:
        with os.fdopen(fd, "w") as file:
            file.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def _running(server: EmulatorServer, *, cleanup: Callable[[], None]) -> Iterator[threading.Event]:
    """Serve in the background thread; the event is set by SIGINT or SIGTERM. The handlers
    are installed before the server starts, so a signal sent as soon as the URL is printed
    stops it cleanly."""
    stop = threading.Event()
    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in signals}
    try:
        server.start()
        yield stop
    finally:
        server.stop()
        cleanup()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


#: Seconds a stop may take before the process exits regardless (a stuck shutdown must
#: never leave a background emulator running after ``kill``).
STOP_GRACE = 10.0


def _exit_if_stuck() -> None:
    """Once a stop was asked for: end the process after ``STOP_GRACE`` seconds if the
    orderly shutdown (releasing held requests, joining the server thread) has not."""
    timer = threading.Timer(STOP_GRACE, os._exit, args=(1,))
    timer.daemon = True
    timer.start()


def _banner(server: EmulatorServer, config: EmulatorConfig, args: argparse.Namespace) -> str:
    url = server.url
    rate = "off" if config.rate_limit is None else f"{config.rate_limit:g} requests/s per session"
    ttl = "until 00:00 IST" if config.session_ttl is None else f"{config.session_ttl:g} s"
    return "\n".join(
        (
            f"Kotak Neo emulator listening on {url}",
            f"  login URL       {url}  (python -m aioneo --login-url, or {LOGIN_URL_ENV})",
            f"  baseUrl         {server.emulator.base_url}",
            f"  control API     {url}/__emulator/",
            f"  HTTP server     {server.backend}",
            f"  demo UCC        {config.ucc} (mobile {config.mobile_number})",
            f"  latency         {args.latency}",
            f"  rate limit      {rate}",
            f"  session TTL     {ttl}",
            f"  expiry status   HTTP {config.expiry_status} with code 900901",
            f"  market feed     {server.emulator.feed_urls()['market']}",
            f"  order feed      {server.emulator.feed_urls()['order']}",
            f"  tick rate       {config.tick_rate:g} steps/s per live instrument",
        )
    )


def _remover(path: Path | None) -> Callable[[], None]:
    def remove() -> None:
        if path is not None:
            with contextlib.suppress(OSError):
                path.unlink()

    return remove


def _foreground(server: EmulatorServer, config: EmulatorConfig, args: argparse.Namespace) -> int:
    env_file = Path(args.env_file).expanduser() if args.env_file else None
    with _running(server, cleanup=_remover(env_file)) as stop:
        if env_file is not None:
            try:
                _write_env_file(env_file, _variables(server, os.getpid()))
            except OSError as exc:
                print(f"error: cannot write --env-file {str(env_file)!r}: {exc}", file=sys.stderr)
                return 1
        info = {
            "url": server.url,
            "login_url": server.url,
            "base_url": server.emulator.base_url,
            "control_url": f"{server.url}/__emulator",
            "market_feed_url": server.emulator.feed_urls()["market"],
            "order_feed_url": server.emulator.feed_urls()["order"],
            **server.emulator.credentials.as_dict(),
        }
        print(json.dumps(info), flush=True)
        lines = [_banner(server, config, args)]
        if env_file is not None:
            lines.append(f"  env file        {env_file} (removed at stop)")
        lines.append("Press Ctrl-C to stop.")
        print("\n".join(lines), file=sys.stderr, flush=True)
        stop.wait()
        _exit_if_stuck()
    print("Stopped.", file=sys.stderr, flush=True)
    return 0


def _background(server: EmulatorServer, config: EmulatorConfig, args: argparse.Namespace) -> int:
    """Fork a server that outlives this command (its own session, no terminal), print
    the export lines once it accepts requests, and return."""
    env_file = Path(args.env_file).expanduser() if args.env_file else None
    banner = _banner(server, config, args)
    read_end, write_end = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the server: never returns into the caller's code
        status = 1
        try:
            os.close(read_end)
            os.setsid()
            devnull = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(devnull, fd)

            with _running(server, cleanup=_remover(env_file)) as stop:
                os.write(write_end, b"1")  # accepting requests: the parent may go
                os.close(write_end)
                stop.wait()
                _exit_if_stuck()
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    variables = _variables(server, pid)
    server.bind().close()  # the child serves on its own copy of the socket
    try:
        if env_file is not None:
            try:
                _write_env_file(env_file, variables)
            except OSError as exc:
                os.kill(pid, signal.SIGTERM)
                print(f"error: cannot write --env-file {str(env_file)!r}: {exc}", file=sys.stderr)
                return 1
        started = os.read(read_end, 1) == b"1"  # b"" when the child died first
    finally:
        os.close(read_end)
    if not started:
        print("error: the emulator server did not start", file=sys.stderr)
        return 1
    for name, value in variables.items():
        print(f"export {name}={shlex.quote(value)}")
    sys.stdout.flush()
    lines = [banner, f"  process         {pid}, in the background"]
    if env_file is not None:
        lines.append(f"  env file        {env_file} (removed at stop)")
    lines.append(f'Stop it with: kill "${PID_ENV}"')
    print("\n".join(lines), file=sys.stderr, flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the command; returns the exit status."""
    try:
        return _main(argv)
    except KeyboardInterrupt:  # Ctrl-C before the server's own handler was installed
        print("interrupted", file=sys.stderr)
        return 130


def _main(argv: Sequence[str] | None) -> int:
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
            tick_rate=args.tick_rate,
            feed_auth_failure=args.feed_auth_failure,
            feeds_close_on_expiry=not args.keep_feeds_on_expiry,
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
    if args.env:
        return _background(server, config, args)
    return _foreground(server, config, args)


if __name__ == "__main__":
    sys.exit(main())
