"""The instrument day cache both shells share: files on disk, a lock per segment, a memo.

``AsyncNeoClient.instruments`` and ``NeoClient.instruments`` (same names, same behaviour)
call :func:`load_async` / :func:`load_sync` here. What happens, in order:

1. **Memo.** A table parsed in this process for the same cache directory, segment and IST
   trading day is returned at once (no I/O). The memo keeps the day's table of each segment
   for the life of the process (an ``nse_fo`` table of 100,000 rows is about 70 MiB): the
   price of answering every later call in microseconds.
2. **Disk.** ``<cache>/<segment>_<YYYY-MM-DD>.csv`` (IST date of the client's clock) is
   parsed if it is there. The cache directory is ``cache_dir`` if given, else
   ``$AIONEO_INSTRUMENTS_DIR``, else ``$XDG_CACHE_HOME/aioneo/instruments``, else
   ``~/.cache/aioneo/instruments``.
3. **Download**, under an exclusive ``fcntl`` lock on ``<cache>/<segment>.lock`` so that
   processes on one host never download the same file at once: whoever gets the lock
   second finds the file the first wrote and parses it instead. The lock is polled (every
   50 ms, at most :data:`LOCK_WAIT` seconds) rather than blocked on, so a waiting
   coroutine stays cancellable and never holds a worker thread. The file-paths API gives
   the URL; the body is streamed to ``.<name>.<pid>.part`` in the same directory, parsed,
   and only a file that parses is moved into place (``os.replace``: atomic; readers see
   the old file or the new one, never half of one).
4. **A bad file** (header only, cut off, a garbled row) or a failed download is never
   cached: the newest earlier good file of the segment is used instead, with a warning on
   the ``aioneo`` logger naming what was wrong; without one,
   :class:`~aioneo.InstrumentFileError` (or the transport error) is raised. The next call
   tries the download again (nothing negative is memoised).

The day is the IST calendar date of the client's clock, not an exchange calendar: the first
call of a day (a weekend's too) downloads whatever file Kotak lists then, and that file is
the day's until ``refresh=True``, even if Kotak publishes another later that day (its URL
carries a date folder; aioneo does not compare it). A token is never trusted across days:
each day has its own file and table.

Parsing runs off the event loop in anyio's worker threads, at most :data:`PARSE_THREADS`
at once per event loop (``anyio.to_thread.run_sync(..., limiter=...)``): a 100,000-row file
takes about a CPU second, during which the loop keeps serving. The sync twin parses in the
calling thread. Concurrent loaders in one client share one load (the async twin through one
shielded task per key, so a cancelled caller does not cancel it for the others; the sync
twin through one leader thread per key); separate clients in one process are kept to one
download by the file lock, and share the memo once it is filled.

Files of earlier days are kept (the fallback needs them) up to :data:`KEEP_DAYS` per
segment; older ones, and ``.part`` files a killed loader left behind, are deleted after each
successful download. The async twin does the few metadata calls (``stat``, ``mkdir``,
opening the lock file) on the event loop, as they take microseconds on a local disk; every
read, write and parse of a file runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import secrets
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import anyio
import anyio.to_thread
import httpx

from ._core._policy import Failure
from ._core._scrip import (
    InstrumentTable,
    ScripFileError,
    cache_file_name,
    earlier_cache_files,
    parse_scrip,
)
from ._exceptions import (
    ConnectError,
    InstrumentFileError,
    NeoError,
    RequestTimeoutError,
    StatusError,
    TransportError,
)
from ._models import ScripMasterPaths
from ._shell import failure_of

__all__ = [
    "ENV_CACHE_DIR",
    "KEEP_DAYS",
    "LOCK_WAIT",
    "PARSE_THREADS",
    "AsyncFlights",
    "CacheKey",
    "SyncFlights",
    "cache_key",
    "default_cache_dir",
    "download_failed",
    "download_garbled",
    "download_refused",
    "load_async",
    "load_sync",
    "scrip_url",
]

logger = logging.getLogger("aioneo")

ENV_CACHE_DIR = "AIONEO_INSTRUMENTS_DIR"
#: Seconds a loader waits for another process's download before giving up.
LOCK_WAIT = 120.0
_LOCK_POLL = 0.05
#: Parses running at once per event loop (each holds one anyio worker thread).
PARSE_THREADS = 2
#: Earlier days' files kept per segment as fallbacks.
KEEP_DAYS = 3

_memo_lock = threading.Lock()
_memo: dict[CacheKey, InstrumentTable] = {}
_limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = (
    weakref.WeakKeyDictionary()
)


def default_cache_dir(environ: dict[str, str] | None = None) -> Path:
    """Where the day files live when no ``cache_dir`` is given (see the module docstring)."""
    env = os.environ if environ is None else environ
    chosen = env.get(ENV_CACHE_DIR)
    if chosen:
        return Path(chosen).expanduser()
    base = env.get("XDG_CACHE_HOME")
    root = Path(base).expanduser() if base else Path.home() / ".cache"
    return root / "aioneo" / "instruments"


@dataclass(frozen=True, slots=True)
class CacheKey:
    """One segment's file of one IST trading day in one cache directory."""

    directory: Path
    segment: str
    day: date

    @property
    def path(self) -> Path:
        return self.directory / cache_file_name(self.segment, self.day)


def cache_key(segment: str, day: date, cache_dir: str | os.PathLike[str] | None) -> CacheKey:
    if cache_dir is not None and not isinstance(cache_dir, str | os.PathLike):
        raise TypeError(f"cache_dir must be a str or path, got {type(cache_dir).__name__}")
    directory = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    return CacheKey(directory.resolve(), segment, day)


def _remember(key: CacheKey, table: InstrumentTable) -> InstrumentTable:
    with _memo_lock:
        for old in [k for k in _memo if k.segment == key.segment and k.directory == key.directory]:
            if old.day != key.day:
                del _memo[old]
        _memo[key] = table
    return table


def _memoised(key: CacheKey) -> InstrumentTable | None:
    with _memo_lock:
        return _memo.get(key)


def forget_memo() -> None:
    """Drop every table parsed in this process (tests, and a user who wants a fresh parse)."""
    with _memo_lock:
        _memo.clear()


def _parse_path(path: Path, segment: str, day: date | None) -> InstrumentTable:
    with open(path, encoding="utf-8", errors="replace", newline="") as handle:
        return parse_scrip(handle, segment, source_date=day)


def _mtime(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return None


def _earlier_files(key: CacheKey) -> list[tuple[date, Path]]:
    """Files of earlier days for the segment, newest first (the order is decided in
    ``_core._scrip.earlier_cache_files``)."""
    try:
        names = os.listdir(key.directory)
    except FileNotFoundError:
        return []
    return [
        (day, key.directory / name)
        for day, name in earlier_cache_files(names, key.segment, key.day)
    ]


def _prune(key: CacheKey) -> None:
    for _, path in _earlier_files(key)[KEEP_DAYS:]:
        with contextlib.suppress(OSError):
            path.unlink()


def _fallback(key: CacheKey, problem: str) -> InstrumentTable | None:
    """The newest earlier good file, parsed, with a warning; ``None`` if there is none."""
    for day, path in _earlier_files(key):
        try:
            table = _parse_path(path, key.segment, day)
        except (ScripFileError, OSError):
            continue
        logger.warning(
            "the %s scrip master of %s is not usable (%s); using the file of %s",
            key.segment,
            key.day.isoformat(),
            problem,
            day.isoformat(),
        )
        return table
    return None


def _part_path(key: CacheKey) -> Path:
    return key.directory / f".{key.path.name}.{os.getpid()}.{secrets.token_hex(4)}.part"


def _install(key: CacheKey, part: Path) -> InstrumentTable:
    """Parse the downloaded ``part``; if good, move it into place atomically."""
    try:
        table = _parse_path(part, key.segment, key.day)
    except BaseException:
        with contextlib.suppress(OSError):
            part.unlink()
        raise
    os.replace(part, key.path)
    _prune(key)
    _drop_stale_parts(key)
    return table


def _drop_stale_parts(key: CacheKey) -> None:
    """Delete ``.part`` files of the segment left by a loader that died mid-download.

    Called under the segment's lock: whoever wrote another ``.part`` of the segment no
    longer holds it, so that file will never be finished.
    """
    prefix = f".{key.segment}_"
    with contextlib.suppress(OSError):
        for name in os.listdir(key.directory):
            if name.startswith(prefix) and name.endswith(".part"):
                with contextlib.suppress(OSError):
                    (key.directory / name).unlink()


class _FileLock:
    """An exclusive lock on ``<dir>/<segment>.lock`` between processes (``fcntl.flock``)."""

    def __init__(self, key: CacheKey) -> None:
        self._path = key.directory / f"{key.segment}.lock"
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            _lock_fd(fd)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)  # closing the descriptor releases the lock


def _lock_fd(fd: int) -> None:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined,unused-ignore]
        except OSError as exc:
            raise BlockingIOError(str(exc)) from exc
        return
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _lock_timeout(key: CacheKey) -> InstrumentFileError:
    return InstrumentFileError(
        f"another process has held {key.directory / (key.segment + '.lock')} for more than "
        f"{LOCK_WAIT:.0f} s while downloading the {key.segment} scrip master",
        segment=key.segment,
    )


def _refused(key: CacheKey, exc: ScripFileError) -> InstrumentFileError:
    return InstrumentFileError(
        f"the {key.segment} scrip master of {key.day.isoformat()} was refused: {exc}; no "
        f"earlier good file in {key.directory}",
        segment=key.segment,
    )


def scrip_url(paths: ScripMasterPaths, segment: str) -> str:
    """The file of ``segment`` among today's file paths, or ``InstrumentFileError``."""
    url = paths.for_segment(segment)
    if url is None:
        names = ", ".join(p.rsplit("/", 1)[-1] for p in paths.file_paths) or "none"
        raise InstrumentFileError(
            f"today's scrip-master file paths have no {segment} file (files: {names})",
            segment=segment,
        )
    return url


def download_failed(segment: str, exc: httpx.TransportError) -> TransportError:
    """A failed download as aioneo's error (httpx's kind read by ``_shell.failure_of``)."""
    failure = failure_of(exc)
    message = f"downloading the {segment} scrip master failed: {failure.value}"
    if failure in (Failure.CONNECT, Failure.CONNECT_TIMEOUT):
        return ConnectError(message, endpoint="instruments")
    if failure in (Failure.READ_TIMEOUT, Failure.WRITE_TIMEOUT, Failure.POOL_TIMEOUT):
        return RequestTimeoutError(message, endpoint="instruments")
    return TransportError(message, endpoint="instruments")


def download_garbled(segment: str, exc: httpx.HTTPError) -> InstrumentFileError:
    """A body httpx could not decode (a broken gzip stream, ...): a bad file."""
    return InstrumentFileError(
        f"the {segment} scrip master could not be decoded: {type(exc).__name__}",
        segment=segment,
    )


def download_refused(segment: str, status: int) -> StatusError:
    return StatusError(
        f"downloading the {segment} scrip master: HTTP {status}",
        endpoint="instruments",
        status_code=status,
    )


# --- async ---------------------------------------------------------------------------------


def _parse_limiter() -> anyio.CapacityLimiter:
    loop = asyncio.get_running_loop()
    limiter = _limiters.get(loop)
    if limiter is None:
        limiter = _limiters[loop] = anyio.CapacityLimiter(PARSE_THREADS)
    return limiter


async def _in_thread(call: Callable[[], InstrumentTable]) -> InstrumentTable:
    return await anyio.to_thread.run_sync(call, limiter=_parse_limiter())


class AsyncFlights:
    """One load per key at a time for one async client (see the module docstring)."""

    def __init__(self) -> None:
        self._tasks: dict[CacheKey, asyncio.Task[InstrumentTable]] = {}

    async def run(
        self, key: CacheKey, load: Callable[[], Awaitable[InstrumentTable]]
    ) -> InstrumentTable:
        task = self._tasks.get(key)
        if task is None or task.get_loop() is not asyncio.get_running_loop():

            async def wrapped() -> InstrumentTable:
                return await load()

            task = asyncio.ensure_future(wrapped())
            self._tasks[key] = task
            task.add_done_callback(functools.partial(self._forget, key))
        return await asyncio.shield(task)

    def _forget(self, key: CacheKey, task: asyncio.Task[InstrumentTable]) -> None:
        if self._tasks.get(key) is task:
            del self._tasks[key]
        if not task.cancelled():
            task.exception()  # retrieved: no "never retrieved" warning when all waiters left


async def load_async(
    key: CacheKey,
    *,
    refresh: bool,
    url_of: Callable[[], Awaitable[str]],
    download: Callable[[str, Path], Awaitable[None]],
) -> InstrumentTable:
    """Steps 1-4 of the module docstring, for the async client."""
    if not refresh:
        table = _memoised(key)
        if table is not None:
            return table
    key.directory.mkdir(parents=True, exist_ok=True)
    seen = _mtime(key.path)
    if seen is not None and not refresh:
        try:
            return _remember(
                key, await _in_thread(lambda: _parse_path(key.path, key.segment, key.day))
            )
        except ScripFileError:
            seen = None  # a damaged cache file: download again
    lock = _FileLock(key)
    deadline = time.monotonic() + LOCK_WAIT
    while not lock.try_acquire():
        if time.monotonic() > deadline:
            raise _lock_timeout(key)
        await asyncio.sleep(_LOCK_POLL)
    try:
        now_seen = _mtime(key.path)
        if now_seen is not None and now_seen != seen:  # another process just wrote it
            with contextlib.suppress(ScripFileError):
                return _remember(
                    key, await _in_thread(lambda: _parse_path(key.path, key.segment, key.day))
                )
        part = _part_path(key)
        try:
            url = await url_of()
            await download(url, part)
            table = await _in_thread(lambda: _install(key, part))
        except ScripFileError as exc:
            fallback = await _in_thread_or_none(key, str(exc))
            if fallback is None:
                raise _refused(key, exc) from None
            return fallback
        except NeoError as exc:
            with contextlib.suppress(OSError):
                part.unlink()
            fallback = await _in_thread_or_none(key, f"the download failed: {exc}")
            if fallback is None:
                raise
            return fallback
        finally:
            with contextlib.suppress(OSError):
                part.unlink()
        return _remember(key, table)
    finally:
        lock.release()


async def _in_thread_or_none(key: CacheKey, problem: str) -> InstrumentTable | None:
    return await anyio.to_thread.run_sync(lambda: _fallback(key, problem), limiter=_parse_limiter())


# --- sync ----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Flight:
    done: threading.Event
    table: InstrumentTable | None = None
    error: BaseException | None = None


class SyncFlights:
    """One load per key at a time for one sync client: one leader thread, the rest wait."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # guards the dict only, never held across I/O
        self._flights: dict[CacheKey, _Flight] = {}

    def run(self, key: CacheKey, load: Callable[[], InstrumentTable]) -> InstrumentTable:
        with self._lock:
            flight = self._flights.get(key)
            leader = flight is None
            if flight is None:
                flight = self._flights[key] = _Flight(threading.Event())
        if not leader:
            flight.done.wait()
            if flight.error is not None:
                raise flight.error
            assert flight.table is not None
            return flight.table
        try:
            flight.table = load()
            return flight.table
        except BaseException as exc:
            flight.error = exc
            raise
        finally:
            with self._lock:
                del self._flights[key]
            flight.done.set()


@contextlib.contextmanager
def _held(key: CacheKey) -> Iterator[None]:
    lock = _FileLock(key)
    deadline = time.monotonic() + LOCK_WAIT
    while not lock.try_acquire():
        if time.monotonic() > deadline:
            raise _lock_timeout(key)
        time.sleep(_LOCK_POLL)
    try:
        yield
    finally:
        lock.release()


def load_sync(
    key: CacheKey,
    *,
    refresh: bool,
    url_of: Callable[[], str],
    download: Callable[[str, Path], None],
) -> InstrumentTable:
    """Steps 1-4 of the module docstring, for the sync client (parsing in this thread)."""
    if not refresh:
        table = _memoised(key)
        if table is not None:
            return table
    key.directory.mkdir(parents=True, exist_ok=True)
    seen = _mtime(key.path)
    if seen is not None and not refresh:
        try:
            return _remember(key, _parse_path(key.path, key.segment, key.day))
        except ScripFileError:
            seen = None
    with _held(key):
        now_seen = _mtime(key.path)
        if now_seen is not None and now_seen != seen:
            with contextlib.suppress(ScripFileError):
                return _remember(key, _parse_path(key.path, key.segment, key.day))
        part = _part_path(key)
        try:
            download(url_of(), part)
            table = _install(key, part)
        except ScripFileError as exc:
            fallback = _fallback(key, str(exc))
            if fallback is None:
                raise _refused(key, exc) from None
            return fallback
        except NeoError as exc:
            fallback = _fallback(key, f"the download failed: {exc}")
            if fallback is None:
                raise
            return fallback
        finally:
            with contextlib.suppress(OSError):
                part.unlink()
        return _remember(key, table)
