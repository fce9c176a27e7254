"""A synchronous in-process transport for the emulator, for ``NeoClient`` and ``httpx.Client``.

The emulator is an ASGI application, so it runs on an event loop. :class:`EmulatorSyncTransport`
gives it one of its own: a private loop in one daemon thread, started by the first request.
Each calling thread hands its request to that loop (``asyncio.run_coroutine_threadsafe``)
and blocks until the answer is complete; requests from many threads are served
concurrently, as on loopback, but without a socket or a port. Timeouts, dropped
connections and hangs behave as with :class:`~aioneo.testing.EmulatorTransport`, which
does the work inside the loop.

``close()`` (``httpx.Client.close()``, ``NeoClient.close()``) cancels the requests still
being served, so each blocked caller returns at once with ``httpx.ReadError``, then stops
the loop and joins its thread. A closed transport starts a new loop on its next request.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from typing import TYPE_CHECKING

import httpx

from aioneo.testing._app import EmulatorTransport

if TYPE_CHECKING:
    from aioneo.testing._app import Emulator

__all__ = ["EmulatorSyncTransport"]

#: Seconds ``close()`` waits for the loop to cancel what it serves and stop.
_CLOSE_TIMEOUT = 5.0


class EmulatorSyncTransport(httpx.BaseTransport):
    """``httpx.BaseTransport`` serving one :class:`~aioneo.testing.Emulator` in process.

    >>> emu = Emulator()  # doctest: +SKIP
    >>> with NeoClient(creds, login_url=emu.login_url, transport=emu.sync_transport()) as neo:
    ...     neo.positions()

    Thread-safe: share it between threads and clients. The emulator's event loop runs in
    a daemon thread named ``aioneo-emulator-sync`` while the transport is open.
    """

    def __init__(self, emulator: Emulator) -> None:
        self._inner = EmulatorTransport(app=emulator.app)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pending: set[concurrent.futures.Future[httpx.Response]] = set()

    def __repr__(self) -> str:
        state = "open" if self._thread is not None else "idle"
        return f"<EmulatorSyncTransport {state}>"

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        # Called with self._lock held.
        if self._loop is None:
            loop = asyncio.new_event_loop()
            thread = threading.Thread(
                target=_serve, args=(loop,), name="aioneo-emulator-sync", daemon=True
            )
            thread.start()
            self._loop, self._thread = loop, thread
        return self._loop

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()  # the body as bytes, readable from the loop's side too
        with self._lock:
            future = asyncio.run_coroutine_threadsafe(self._exchange(request), self._running_loop())
            self._pending.add(future)
        try:
            return future.result()
        except concurrent.futures.CancelledError:
            raise httpx.ReadError(
                "the emulator transport was closed during the request", request=request
            ) from None
        finally:
            with self._lock:
                self._pending.discard(future)

    async def _exchange(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        try:
            body = b"".join([part async for part in response.aiter_raw()])
        finally:
            await response.aclose()
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            content=body,
            extensions=response.extensions,
        )

    def close(self) -> None:
        """Cancel the requests in flight (their callers get ``httpx.ReadError``), stop the
        loop and join its thread. Idempotent."""
        with self._lock:
            loop, thread = self._loop, self._thread
            pending = list(self._pending)
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        for future in pending:
            future.cancel()  # cancels the task on the loop; the caller wakes now
        stopping = asyncio.run_coroutine_threadsafe(_cancel_all(), loop)
        try:
            stopping.result(_CLOSE_TIMEOUT)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(_CLOSE_TIMEOUT)
            if not thread.is_alive():
                loop.close()


def _serve(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    loop.run_forever()


async def _cancel_all() -> None:
    """Cancel every task of the running loop but this one, and wait for them to end."""
    current = asyncio.current_task()
    tasks = [task for task in asyncio.all_tasks() if task is not current]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
