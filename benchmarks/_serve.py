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
  so asyncio does not set ``TCP_NODELAY`` on accepted connections by itself.

The first line on stdout is one JSON object: ``url``, ``pid`` and the demo credentials.
Stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys

from aioneo.testing import Emulator, EmulatorConfig, EmulatorServer
from aioneo.testing._config import ENDPOINTS

LOGIN_LATENCY = 0.37
VALIDATE_LATENCY = 0.13


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
    server = EmulatorServer(emulator, port=args.port)
    server.bind().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    info = {"url": server.url, "pid": os.getpid(), **emulator.credentials.as_dict()}
    print(json.dumps(info), flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
