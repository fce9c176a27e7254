"""The benchmark's emulator process: ``python benchmarks/_serve.py --latency 0.02``.

What ``python -m aioneo.testing serve`` does, with the benchmark's settings fixed at start:

* latency: login 370 ms and validate 130 ms (Kotak documents about 367 and 134 ms), every
  other endpoint ``--latency`` seconds (20 ms by default);
* no server-side rate limit (the clients' limiters are off too: the benchmark measures the
  clients, not Kotak's 10 requests/s);
* a TOTP window of ``--totp-skew-steps`` steps either side of now, because each benchmark
  worker runs its own clock ahead of real time by a few 30 s steps (a relogin needs a
  step that no earlier login used; the emulator still rejects a replayed step);
* a session lifetime of two hours, so a session never ends at 00:00 IST mid-run;
* ``TCP_NODELAY`` on the listening socket (accepted sockets inherit it). Without it every
  response waits about 40 ms for the client's delayed ACK, because the server writes
  headers and body separately and ``EmulatorServer`` creates its socket with protocol 0,
  so asyncio does not set ``TCP_NODELAY`` on accepted connections by itself;
* an idle keep-alive timeout of ``KEEP_ALIVE`` (600 s) instead of uvicorn's 5 s. httpx
  drops a connection idle for 5 s itself (``keepalive_expiry``), so with both at 5 s the
  server can close a connection at the moment a client sends a request on it: the request
  then fails with "Server disconnected without sending a response". Under load the gap
  between a worker's first login and its storm login is about 5 s, and a login that meets
  that race fails (``TransientLoginError``), so every caller of that storm fails and the
  next calls are refused during the login cooldown. With the server's timeout far above
  the clients', only the clients close idle connections, and a closed one is never reused.

The first line on stdout is one JSON object: ``url``, ``pid`` and the demo credentials.
``keep_alive`` in it is the idle timeout the server applies (``None`` for the built-in
server, which has none). Stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sys
import threading
from typing import Any

from aioneo.testing import Emulator, EmulatorConfig, EmulatorServer
from aioneo.testing._config import ENDPOINTS

LOGIN_LATENCY = 0.37
VALIDATE_LATENCY = 0.13
#: Seconds uvicorn keeps an idle connection open: longer than any gap within a worker
#: (``run.WORKER_TIMEOUT``), far longer than httpx's own 5 s ``keepalive_expiry``.
KEEP_ALIVE = 600


class BenchmarkServer(EmulatorServer):
    """``EmulatorServer`` with uvicorn's idle keep-alive timeout raised to ``KEEP_ALIVE``
    (the built-in server has no idle timeout: nothing to change)."""

    def _make_server(self) -> Any:
        server = super()._make_server()
        config = getattr(server, "config", None)
        if config is not None and hasattr(config, "timeout_keep_alive"):
            config.timeout_keep_alive = KEEP_ALIVE
        return server

    @property
    def keep_alive(self) -> float | None:
        """The idle timeout the running server applies (None: none, or not known)."""
        config = getattr(self._server, "config", None)
        value = getattr(config, "timeout_keep_alive", None)
        return float(value) if value is not None else None


def latency_profile(request_latency: float) -> dict[str, float]:
    """Seconds per endpoint: the documented login latency, ``request_latency`` elsewhere."""
    return {
        **dict.fromkeys(ENDPOINTS, request_latency),
        "login": LOGIN_LATENCY,
        "validate": VALIDATE_LATENCY,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.02, help="seconds per request")
    parser.add_argument("--totp-skew-steps", type=int, default=400)
    args = parser.parse_args()
    config = EmulatorConfig(
        rate_limit=None,
        latency=latency_profile(args.latency),
        totp_skew_steps=args.totp_skew_steps,
        session_ttl=7200.0,
        max_recorded=0,
    )
    emulator = Emulator(config)
    server = BenchmarkServer(emulator, port=args.port)
    server.bind().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    # What EmulatorServer.serve_forever does, with the first line printed once the server
    # runs, so that it can say which idle timeout it applies.
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    server.start()
    try:
        info = {
            "url": server.url,
            "pid": os.getpid(),
            "backend": server.backend,
            "keep_alive": server.keep_alive,
            **emulator.credentials.as_dict(),
        }
        print(json.dumps(info), flush=True)
        stop.wait()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
