"""A Redis server for the store tests: CI's, or a private one, or a clear skip.

``AIONEO_TEST_REDIS_URL`` set (``.ci/run`` starts a ``redis-server`` on a loopback port
and exports it): that server is used, and a test fails rather than skips if it cannot
be reached. Unset: a private ``redis-server`` is started on a Unix socket in a temporary
directory for the test session when the binary is on ``PATH``; without it, the Redis
tests are skipped with the reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ENV = "AIONEO_TEST_REDIS_URL"


def _ping(url: str, *, until: float) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
    try:
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > until:
                    raise
                time.sleep(0.02)
    finally:
        client.close()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a running Redis server (see the module docstring)."""
    pytest.importorskip("redis", reason="the redis package is not installed (pip install redis)")
    url = os.environ.get(ENV)
    if url:
        _ping(url, until=time.monotonic() + 5.0)
        yield url
        return
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip(
            f"no redis-server on PATH and {ENV} is not set: install redis-server "
            "(apt-get install redis-server) to run the RedisSessionStore tests"
        )
    directory = Path(tmp_path_factory.mktemp("redis"))
    sock = directory / "redis.sock"
    process = subprocess.Popen(
        [
            binary,
            "--port",
            "0",
            "--unixsocket",
            str(sock),
            "--unixsocketperm",
            "700",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(directory),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"unix://{sock}"
    try:
        _ping(url, until=time.monotonic() + 10.0)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:  # pragma: no cover
            process.kill()
            process.wait()


@pytest.fixture
def redis_key() -> str:
    """A key no other test uses."""
    return f"aioneo-test:{uuid.uuid4().hex}"
