"""Helpers for thread-based scenario tests: a gating sync transport and thread runners.

:class:`SyncGateTransport` is the threading twin of ``conftest.GateTransport``: it wraps a
real ``httpx.HTTPTransport`` (talking to an ``EmulatorServer`` on loopback) and can hold
chosen requests *before* they leave the client, rewrite answers, fail requests, and count
how many requests of each endpoint are on the wire at once. A held request ignores every
timeout, as a misbehaving transport would.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

Rewrite = Callable[[httpx.Request, httpx.Response], httpx.Response]


def wait_for(predicate: Callable[[], bool], *, timeout: float = 10.0, what: str = "") -> None:
    """Block until ``predicate()`` is true; fail the test after ``timeout`` seconds.

    The timeout only stops a broken test from hanging: the assertion is the predicate.
    """
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        time.sleep(0.001)


class SyncGate:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._open = False
        self.waiting = 0
        self.passed = 0

    def release(self) -> None:
        with self._cond:
            self._open = True
            self._cond.notify_all()

    def until_waiting(self, n: int, *, timeout: float = 30.0) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: self.waiting >= n, timeout):
                raise AssertionError(f"only {self.waiting} of {n} requests reached the gate")

    def pass_through(self) -> None:
        with self._cond:
            self.waiting += 1
            self._cond.notify_all()
            try:
                self._cond.wait_for(lambda: self._open)
            finally:
                self.waiting -= 1
                self.passed += 1
                self._cond.notify_all()


class SyncGateTransport(httpx.BaseTransport):
    """Wraps a sync transport: gates by path fragment, rewrites answers, counts concurrency."""

    def __init__(self, inner: httpx.BaseTransport | None = None) -> None:
        self.inner = inner or httpx.HTTPTransport(
            limits=httpx.Limits(max_connections=1000, max_keepalive_connections=1000)
        )
        self.gates: dict[str, SyncGate] = {}
        self.rewrites: dict[str, Rewrite] = {}
        self.failures: dict[str, Callable[[httpx.Request], None]] = {}
        #: Answer instead of the server (nothing is forwarded) when the callable returns one.
        self.replies: dict[str, Callable[[httpx.Request], httpx.Response | None]] = {}
        self.in_flight: dict[str, int] = {}
        self.max_in_flight: dict[str, int] = {}
        self.sent: list[httpx.Request] = []
        self._lock = threading.Lock()
        self.closed = False

    def gate(self, fragment: str) -> SyncGate:
        gate = self.gates[fragment] = SyncGate()
        return gate

    def ungate(self, fragment: str) -> None:
        gate = self.gates.pop(fragment, None)
        if gate is not None:
            gate.release()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        for key, gate in list(self.gates.items()):
            if key in path:
                gate.pass_through()
        if self.closed:
            # A request held at a gate while its client closed: a real pool is closed by
            # then and refuses it. Forwarding it would open a socket nobody closes.
            raise httpx.ConnectError("the transport is closed", request=request)
        for key, fail in list(self.failures.items()):
            if key in path:
                fail(request)
        for key, reply in list(self.replies.items()):
            answer = reply(request) if key in path else None
            if answer is not None:
                return answer
        name = path.rsplit("/", 1)[-1]
        with self._lock:
            self.in_flight[name] = self.in_flight.get(name, 0) + 1
            self.max_in_flight[name] = max(self.max_in_flight.get(name, 0), self.in_flight[name])
            self.sent.append(request)
        try:
            response = self.inner.handle_request(request)
        finally:
            with self._lock:
                self.in_flight[name] -= 1
        for key, rewrite in list(self.rewrites.items()):
            if key in path:
                response.read()
                response.close()  # hand the connection back before replacing the answer
                response = rewrite(request, response)
        return response

    def close(self) -> None:
        self.closed = True
        self.inner.close()


class Threads:
    """Start ``n`` threads running ``fn``; collect each one's result or exception."""

    def __init__(self, n: int, fn: Callable[[], Any], *, name: str = "caller") -> None:
        self.results: list[Any] = [None] * n
        self.done = [False] * n

        def run(i: int) -> None:
            try:
                self.results[i] = fn()
            except BaseException as exc:
                self.results[i] = exc
            self.done[i] = True

        self.threads = [
            threading.Thread(target=run, args=(i,), name=f"{name}-{i}", daemon=True)
            for i in range(n)
        ]
        for thread in self.threads:
            thread.start()

    def join(self, timeout: float = 30.0) -> list[Any]:
        """Join all threads within ``timeout`` seconds in total; fail if any is still alive."""
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        alive = [t.name for t in self.threads if t.is_alive()]
        assert not alive, f"{len(alive)} threads still running after {timeout} s: {alive[:5]}"
        return self.results

    @property
    def finished(self) -> int:
        return sum(self.done)


def run_threads(n: int, fn: Callable[[], Any], *, timeout: float = 30.0) -> list[Any]:
    return Threads(n, fn).join(timeout)


class CountingSemaphore:
    """Stands in for the client's slot semaphore to tell how many threads queue on it."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._lock = threading.Lock()
        self.waiting = 0

    def __enter__(self) -> CountingSemaphore:
        with self._lock:
            self.waiting += 1
        try:
            self._inner.__enter__()
        finally:
            with self._lock:
                self.waiting -= 1
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._inner.__exit__(*exc_info)
