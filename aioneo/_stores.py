"""Session stores: one login shared by every client, process and host of an account.

A client (``AsyncNeoClient`` or ``NeoClient``, ``session_store=``) reads the store before
it logs in and adopts a newer session that another client wrote there; it logs in only
under the store's login lock, and writes its new session back once. So any number of
processes sharing a store make one login per expiry event, and a restarted process
reuses the session of the day instead of logging in again. What is stored and how a
client decides is in ``aioneo._core._persist``.

Three implementations, all exported from ``aioneo``:

* :class:`MemorySessionStore` (the default): inside one process. A client given none
  gets a private one, which changes nothing; share one between clients (an async and a
  sync client, say) to share their session and TOTP steps.
* :class:`FileSessionStore`: processes on one host. A JSON file (mode 0600, replaced
  atomically) and a lock file locked with ``flock``: the kernel releases the lock when
  the holder dies, however it dies, so a killed process never wedges the others.
* :class:`RedisSessionStore`: processes on several hosts. A Redis key and a Redis lock
  (``SET NX PX``) whose lease expires by itself if the holder dies.

The rate limit: Kotak counts requests per session, so the clients that share a session
through a store also share its client-side rate limit (``aioneo._limits``): in one
process, every client of the same store object (of the same file, for
:class:`FileSessionStore`) and account shares one limiter; with a
:class:`RedisSessionStore` the schedule is kept on Redis, so every process on every
host shares it. A :class:`FileSessionStore` does not coordinate the rate between
processes (see its docstring).

Stores are synchronous on purpose. They are used once per expiry event per process,
never per request, so a thread hop costs nothing that matters: the async client runs
every call of a store other than :class:`MemorySessionStore` in a worker thread
(``asyncio.to_thread``), so a slow disk or Redis never blocks the event loop, and the
sync client calls them directly. One implementation then serves both clients, and a
store of your own is four plain methods (:class:`SessionStore`).

Secrets: no error message or ``repr`` of a store shows a token, a sid or a Redis
password; the file and the Redis key hold the trade token and sid, which is exactly
what a stolen session needs, so the file is refused unless only its owner can read it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import socket
import stat
import tempfile
import threading
import time
import urllib.parse
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from ._core._persist import StoredSession, decode, encode
from ._exceptions import SessionStoreError

if TYPE_CHECKING:
    import redis

__all__ = [
    "DEFAULT_REDIS_KEY",
    "FileSessionStore",
    "MemorySessionStore",
    "RedisSessionStore",
    "SessionStore",
    "account_key",
    "default_store",
    "lock_owner",
    "store_option",
]

#: The Redis key :class:`RedisSessionStore` uses unless told otherwise (lock: ``+ ":lock"``).
DEFAULT_REDIS_KEY = "aioneo:session"
#: A stored session is a few hundred bytes; anything far larger is not one.
MAX_STORED_BYTES = 64 * 1024


class _ForkAware(Protocol):
    def _forget_after_fork(self) -> None: ...


#: Stores that must forget their locks in a forked child (one registration for all).
_forked: weakref.WeakSet[_ForkAware] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for store in list(_forked):
        store._forget_after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)


@runtime_checkable
class SessionStore(Protocol):
    """Where clients share their newest session, and the lock that makes one of them log in.

    Four synchronous methods, each safe to call from any thread (the async client calls
    them in worker threads):

    * ``load()``: the stored session, or ``None`` if there is none. Raise
      :class:`~aioneo.SessionStoreError` (never return ``None``) for data that cannot be
      read or trusted.
    * ``save(session)``: replace the stored session, atomically: a concurrent ``load``
      sees the old or the new one, never a mix.
    * ``acquire_lock(owner, ttl)``: try once to take the login lock for ``owner`` (a
      string unique to one login attempt); never block. Return ``True`` if ``owner``
      holds it now, including when it already did (then renew its lease to ``ttl``
      seconds from now). The lock must end by itself if its holder dies: with the
      process (a kernel lock) or after ``ttl`` seconds (a lease).
    * ``release_lock(owner)``: release the lock if ``owner`` holds it; else do nothing.

    A client never holds the lock longer than its worst-case login (``ttl``), never
    across anything but its own login and the ``save`` that follows.
    """

    def load(self) -> StoredSession | None: ...

    def save(self, session: StoredSession) -> None: ...

    def acquire_lock(self, owner: str, ttl: float) -> bool: ...

    def release_lock(self, owner: str) -> None: ...


class MemorySessionStore:
    """A session store inside one process (clients given no store share one of these per
    account, login URL and transport: see :func:`default_store`).

    >>> store = MemorySessionStore()
    >>> a = AsyncNeoClient(creds, session_store=store)  # doctest: +SKIP
    >>> b = NeoClient(creds, session_store=store)       # doctest: +SKIP

    Thread-safe. The login lock is a lease of ``ttl`` seconds (monotonic clock), so a
    login whose thread or event loop died frees it after ``ttl``; a forked child starts
    with the lock free (its holder stayed in the parent). Nothing survives the process.

    Rate limit: the clients given this store object (async and sync, any threads) share
    one client-side rate limiter per account, at the lowest ``rate_limit`` any of them
    asked for, so together they keep to the per-session rate. A client given no store
    has a private one, and a limiter of its own.
    """

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._session: StoredSession | None = None
        self._owner: str | None = None
        self._until = 0.0
        _forked.add(self)

    def _forget_after_fork(self) -> None:
        # The holder (a thread or task of the parent) does not exist in the child, and
        # the mutex may have been held by another thread at the fork.
        self._mutex = threading.Lock()
        self._owner = None

    def _free_lock(self) -> None:
        """Free the lock whoever holds it: its holder is known to be gone."""
        with self._mutex:
            self._owner = None

    def __repr__(self) -> str:
        return "MemorySessionStore()"

    def load(self) -> StoredSession | None:
        with self._mutex:
            return self._session

    def save(self, session: StoredSession) -> None:
        if not isinstance(session, StoredSession):
            raise TypeError(f"session must be a StoredSession, got {type(session).__name__}")
        with self._mutex:
            self._session = session

    def acquire_lock(self, owner: str, ttl: float) -> bool:
        now = time.monotonic()
        with self._mutex:
            if self._owner is None or self._owner == owner or now >= self._until:
                self._owner = owner
                self._until = now + ttl
                return True
            return False

    def release_lock(self, owner: str) -> None:
        with self._mutex:
            if self._owner == owner:
                self._owner = None


def _mode(st: os.stat_result) -> str:
    return oct(stat.S_IMODE(st.st_mode))


class FileSessionStore:
    """A session store for processes on one host: a JSON file and a lock file next to it.

    >>> store = FileSessionStore("~/.aioneo/AB123.session.json")
    >>> neo = AsyncNeoClient(creds, session_store=store)  # doctest: +SKIP

    ``path`` holds the session as JSON, written to a temporary file in the same
    directory and moved into place (``os.replace``), mode 0600; a missing parent
    directory is created with mode 0700. ``path + ".lock"`` is the login lock: the
    client holds an exclusive ``flock`` on it for the duration of one login. The kernel
    drops that lock when the holding process exits or is killed, so a dead holder never
    wedges the others; a holder that is alive but stuck is waited for (at most the
    client's lock wait, then :class:`~aioneo.SessionStoreError`) rather than overridden,
    so two logins never overlap. Use one file per account, on a local filesystem (not
    NFS), and do not delete the lock file while clients run.

    Refused with :class:`~aioneo.SessionStoreError`, never used: a file that is not
    valid JSON or not a stored session (corrupted), that other users may read or write
    (any group or other permission bit), that belongs to another user, that is a
    symbolic link or not a regular file. The same checks apply to the lock file.
    Messages name the path and the problem, never the content.

    Thread-safe and fork-safe: a child process forgets the locks its parent held
    (without releasing them for the parent).

    Rate limit: inside one process, clients whose stores name the same file (by its
    resolved path, so two store objects for one file count as one) share one client-side
    rate limiter per account, at the lowest ``rate_limit`` any of them asked for.
    Separate processes are **not** coordinated: each keeps the rate on its own, so N
    processes on one session may together send up to N times the rate and meet the
    server's 429s (reads are retried after ``Retry-After``; an order raises
    :class:`~aioneo.RateLimitError`). A shared schedule needs an atomic
    read-modify-write per request; on a file that means taking an ``flock`` and
    rewriting the file (or mapping shared memory) on every request, in every process,
    which costs more than the requests it paces and stalls everyone behind a holder that
    is descheduled. Several processes trading on one account should use
    :class:`RedisSessionStore` (one atomic script per request), or one process that
    sends for all of them, or give each process a share of the rate (``rate_limit=``).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        if not isinstance(path, str | os.PathLike):
            raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
        self.path = Path(path).expanduser()
        if not self.path.name:
            raise ValueError(f"path={str(path)!r} is not allowed: pass a file path")
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self._where = f"session file {str(self.path)!r}"
        self._mutex = threading.Lock()
        self._held: dict[str, int] = {}
        _forked.add(self)

    def __repr__(self) -> str:
        return f"FileSessionStore({str(self.path)!r})"

    # -- checks -------------------------------------------------------------------------
    def _check(self, st: os.stat_result, what: str) -> None:
        if not stat.S_ISREG(st.st_mode):
            raise SessionStoreError(f"{what} is not a regular file; refused")
        uid = os.geteuid()
        if st.st_uid != uid:
            raise SessionStoreError(
                f"{what} belongs to user id {st.st_uid}, not to the user running this client "
                f"(id {uid}); refused: a session file must belong to the user that uses it"
            )
        if st.st_mode & 0o077:
            raise SessionStoreError(
                f"{what} has mode {_mode(st)}: other users may read or write it, and it holds "
                f"a trade session; refused. If its content is yours, run chmod 600 on it; "
                "else delete it"
            )

    def _open(self, path: Path, flags: int, what: str) -> int:
        try:
            return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except FileNotFoundError:
            raise
        except OSError as exc:
            if path.is_symlink():
                raise SessionStoreError(f"{what} is a symbolic link; refused") from None
            raise SessionStoreError(
                f"{what} cannot be opened: {exc.strerror or type(exc).__name__}"
            ) from None

    # -- SessionStore -------------------------------------------------------------------
    def load(self) -> StoredSession | None:
        """The stored session, ``None`` if the file does not exist, else refused."""
        try:
            fd = self._open(self.path, os.O_RDONLY, self._where)
        except FileNotFoundError:
            return None
        try:
            self._check(os.fstat(fd), self._where)
        except BaseException:
            os.close(fd)
            raise
        with os.fdopen(fd, "rb") as file:
            raw = file.read(MAX_STORED_BYTES + 1)
        if len(raw) > MAX_STORED_BYTES:
            raise SessionStoreError(
                f"{self._where} is larger than {MAX_STORED_BYTES} bytes: not a stored "
                "session; refused (delete it, the next login writes a new one)"
            )
        try:
            payload = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise SessionStoreError(
                f"{self._where} is not valid JSON (corrupted, or not written by aioneo); "
                "refused: delete it, the next login writes a new one"
            ) from None
        return decode(payload, where=self._where)

    def save(self, session: StoredSession) -> None:
        """Write ``session`` to a temporary file (0600), fsync it, move it into place."""
        if not isinstance(session, StoredSession):
            raise TypeError(f"session must be a StoredSession, got {type(session).__name__}")
        data = json.dumps(encode(session), separators=(",", ":")).encode()
        directory = self.path.parent
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=directory)
        except OSError as exc:
            raise SessionStoreError(
                f"{self._where} cannot be written: {exc.strerror or type(exc).__name__}"
            ) from None
        try:
            try:
                os.fchmod(fd, 0o600)
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise SessionStoreError(
                f"{self._where} cannot be written: {exc.strerror or type(exc).__name__}"
            ) from None
        try:  # make the rename durable; not every filesystem allows fsync on a directory
            dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            return
        try:
            os.fsync(dir_fd)
        except OSError:
            pass
        finally:
            os.close(dir_fd)

    def acquire_lock(self, owner: str, ttl: float) -> bool:
        """Try to ``flock`` the lock file without blocking. ``ttl`` is not needed: the
        kernel releases the lock with the holding process."""
        what = f"lock file {str(self.lock_path)!r}"
        with self._mutex:
            if owner in self._held:
                return True
            try:
                self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            except OSError as exc:
                raise SessionStoreError(
                    f"{what} cannot be created: {exc.strerror or type(exc).__name__}"
                ) from None
            try:
                fd = self._open(self.lock_path, os.O_RDWR | os.O_CREAT, what)
            except FileNotFoundError:  # the directory vanished meanwhile
                raise SessionStoreError(f"{what} cannot be created: no such directory") from None
            try:
                self._check(os.fstat(fd), what)
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            except BaseException as exc:
                os.close(fd)
                if isinstance(exc, OSError):
                    raise SessionStoreError(
                        f"{what} cannot be locked: {exc.strerror or type(exc).__name__}"
                    ) from None
                raise
            self._held[owner] = fd
            return True

    def release_lock(self, owner: str) -> None:
        with self._mutex:
            fd = self._held.pop(owner, None)
        if fd is None:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def _forget_after_fork(self) -> None:
        # The child shares the parent's open file descriptions: unlocking here would
        # release the parent's lock. Closing the child's copies leaves it held.
        self._mutex = threading.Lock()
        held, self._held = self._held, {}
        for fd in held.values():
            with contextlib.suppress(OSError):
                os.close(fd)


_ACQUIRE = """
if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('get', KEYS[1]) == ARGV[1] then
  redis.call('pexpire', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""

# The client's GCRA (aioneo._core._ratelimit) as one atomic step on the Redis server, in
# integer microseconds of the server's clock (TIME), so hosts whose clocks disagree still
# share one schedule. KEYS[1] holds the theoretical arrival time; ARGV: interval and
# tolerance in microseconds, slack in milliseconds. Returns the wait in microseconds. The
# key lives until its arrival time has passed (plus the slack): a key that expired and a
# key whose time has passed mean the same thing, so expiry never changes a decision.
# Numbers stay below 2^53 (unix microseconds are about 2^51), exact in Lua's doubles.
_RESERVE = """
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then tat = now end
local wait = tat - tolerance - now
if wait < 0 then wait = 0 end
tat = tat + interval
local ttl = math.ceil((tat - now) / 1000) + tonumber(ARGV[3])
redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', string.format('%.0f', ttl))
return wait
"""

#: Seconds a rate-limit reservation may take on Redis before the client gives up on it
#: and uses its process-local limiter (capped by the store's ``socket_timeout``).
RATE_SOCKET_TIMEOUT = 1.0
#: Milliseconds a rate-limit key outlives the last slot it handed out.
RATE_KEY_SLACK_MS = 1000


def _public_url(url: str) -> str:
    """``url`` without user name or password, for messages."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<unparsable URL>"
    if ":" in host:
        host = f"[{host}]"
    return urllib.parse.urlunsplit((parts.scheme, host + port, parts.path, "", ""))


class RedisSessionStore:
    """A session store for processes on several hosts: one Redis key and a Redis lock.

    >>> store = RedisSessionStore("redis://redis.internal:6379/0", key="aioneo:AB123")
    >>> neo = AsyncNeoClient(creds, session_store=store)  # doctest: +SKIP

    Needs the ``redis`` package (``pip install 'aioneo[redis]'``), imported when the
    store is created. ``key`` holds the session as JSON; ``key + ":lock"`` is the login
    lock, taken with ``SET NX PX`` and released by a compare-and-delete script, so only
    its holder releases it. Its lease (the holder's login time: ``login_timeout`` plus
    5 s, plus its TOTP wait when it has one) ends by itself if the holder dies, so a
    killed holder delays the others by at most that long (35 s with the defaults). A
    single Redis server (or a primary with replicas) is assumed; the lock does not claim
    to survive a failover.

    Rate limit: ``key + ":rate:" + account`` (:meth:`rate_key`) holds the account's
    client-side rate-limit schedule, shared by every client on every host that uses this
    Redis and key. Each request runs one atomic Lua script, a GCRA on the Redis server's
    own clock (``TIME``: hosts whose clocks disagree still share one schedule) that
    answers how long to wait; the key expires once its last slot has passed. N hosts
    together keep to the rate, at the cost of one Redis round trip per request (on a
    worker thread in the async client). Clients of one process given the same store
    object share one limiter, at the lowest ``rate_limit`` any of them asked for; hosts
    should use the same ``rate_limit`` (each reservation advances the shared schedule by
    its own client's interval). If Redis cannot be reached for a reservation (it is
    given ``RATE_SOCKET_TIMEOUT``, 1 s, or ``socket_timeout`` if shorter), the trading
    call goes on: requests are paced by a process-local limiter, a warning is logged once
    per outage, and Redis is tried again every few seconds; meanwhile hosts are not
    coordinated with each other. Only the rate limit falls back: a login still needs the
    store and fails with :class:`~aioneo.SessionStoreError` without it.

    Anyone who can read the key can use the session: protect Redis with a password or
    ACL and TLS (``rediss://``) when it is reachable by others. Errors from Redis become
    :class:`~aioneo.SessionStoreError`; messages show the URL without its password.
    Thread-safe (``redis.Redis`` keeps a pool) and fork-safe (the pool reconnects).
    """

    def __init__(
        self,
        url: str = "redis://localhost:6379/0",
        *,
        key: str = DEFAULT_REDIS_KEY,
        socket_timeout: float = 5.0,
    ) -> None:
        if not isinstance(url, str) or not url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(
                f"url must be a redis://, rediss:// or unix:// URL, got {_public_url(str(url))!r}"
            )
        if not isinstance(key, str) or not key:
            raise ValueError(f"key must be a non-empty str, got {key!r}")
        if not socket_timeout > 0:
            raise ValueError(f"socket_timeout must be > 0 seconds, got {socket_timeout!r}")
        try:
            import redis
        except ImportError:
            raise ImportError(
                "RedisSessionStore needs the redis package: pip install 'aioneo[redis]' "
                "(or pip install redis)"
            ) from None
        self.key = key
        self.lock_key = key + ":lock"
        self._url = _public_url(url)
        self._where = f"Redis session store {self._url} key {key!r}"
        self._errors: tuple[type[Exception], ...] = (redis.RedisError,)
        self._client: redis.Redis = redis.Redis.from_url(
            url, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout
        )
        self._acquire = self._client.register_script(_ACQUIRE)
        self._release = self._client.register_script(_RELEASE)
        # The rate limit is asked once per request, the session once per expiry event: a
        # client of its own with a short timeout, so a Redis that hangs delays a request
        # by at most RATE_SOCKET_TIMEOUT before the client falls back (aioneo._limits).
        rate_timeout = min(socket_timeout, RATE_SOCKET_TIMEOUT)
        self._rate_client: redis.Redis = redis.Redis.from_url(
            url, socket_timeout=rate_timeout, socket_connect_timeout=rate_timeout
        )
        self._rate_script = self._rate_client.register_script(_RESERVE)

    def __repr__(self) -> str:
        return f"RedisSessionStore({self._url!r}, key={self.key!r})"

    def _fail(self, action: str, exc: Exception) -> SessionStoreError:
        import redis

        # Connection, timeout and authentication errors describe the connection; other
        # errors may quote a command, and a command may carry the session: name them only.
        if isinstance(exc, redis.ConnectionError | redis.TimeoutError | redis.AuthenticationError):
            detail = f"{type(exc).__name__}: {exc}"
        else:
            detail = type(exc).__name__
        return SessionStoreError(f"{self._where}: {action} failed ({detail})")

    def load(self) -> StoredSession | None:
        try:
            raw = self._client.get(self.key)
        except self._errors as exc:
            raise self._fail("reading", exc) from None
        if raw is None:
            return None
        if not isinstance(raw, bytes) or len(raw) > MAX_STORED_BYTES:
            raise SessionStoreError(f"{self._where} does not hold a stored session; refused")
        try:
            payload = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise SessionStoreError(
                f"{self._where} is not valid JSON (corrupted, or not written by aioneo); "
                "refused: delete the key, the next login writes a new one"
            ) from None
        return decode(payload, where=self._where)

    def save(self, session: StoredSession) -> None:
        if not isinstance(session, StoredSession):
            raise TypeError(f"session must be a StoredSession, got {type(session).__name__}")
        data = json.dumps(encode(session), separators=(",", ":"))
        try:
            self._client.set(self.key, data)
        except self._errors as exc:
            raise self._fail("writing", exc) from None

    def acquire_lock(self, owner: str, ttl: float) -> bool:
        try:
            result = self._acquire(keys=[self.lock_key], args=[owner, max(1, int(ttl * 1000))])
        except self._errors as exc:
            raise self._fail("locking", exc) from None
        return bool(result)

    def release_lock(self, owner: str) -> None:
        try:
            self._release(keys=[self.lock_key], args=[owner])
        except self._errors as exc:
            raise self._fail("unlocking", exc) from None

    def rate_key(self, account: str) -> str:
        """The Redis key of ``account``'s shared rate-limit schedule: ``key + ":rate:" +
        account`` (a number of microseconds; it expires by itself)."""
        return f"{self.key}:rate:{account}"

    def _reserve_rate(self, account: str, *, interval: float, tolerance: float) -> float:
        """Reserve the next slot of ``account``'s schedule on Redis (one atomic script):
        seconds to wait before sending. Raises :class:`~aioneo.SessionStoreError`."""
        args = [max(1, round(interval * 1e6)), max(0, round(tolerance * 1e6)), RATE_KEY_SLACK_MS]
        try:
            wait = self._rate_script(keys=[self.rate_key(account)], args=args)
        except self._errors as exc:
            raise self._fail("reserving a rate-limit slot", exc) from None
        return max(0, int(wait)) / 1e6


_defaults_lock = threading.Lock()
#: Default stores of clients built without a transport, by account fingerprint and URL.
_defaults: weakref.WeakValueDictionary[tuple[str, str], MemorySessionStore] = (
    weakref.WeakValueDictionary()
)
#: The same, per transport object (clients on different transports never share).
_defaults_by_transport: weakref.WeakKeyDictionary[
    object, weakref.WeakValueDictionary[tuple[str, str], MemorySessionStore]
] = weakref.WeakKeyDictionary()


def default_store(account: str, login_url: str, transport: object | None) -> MemorySessionStore:
    """The process's shared default store for one account, login URL and transport.

    Clients built with the same credentials, the same ``login_url`` and the same
    ``transport`` (or none) and no ``session_store`` share it, so together they make one
    login, as clients given one :class:`MemorySessionStore` do. ``account`` is a digest of
    the credentials' identity (:func:`account_key`), never a secret. The store lives as
    long as a client holds it.
    """
    key = (account, login_url)
    with _defaults_lock:
        if transport is None:
            table = _defaults
        else:
            try:
                table = _defaults_by_transport.setdefault(transport, weakref.WeakValueDictionary())
            except TypeError:  # a transport that cannot be weakly referenced: no sharing
                return MemorySessionStore()
        store = table.get(key)
        if store is None:
            store = table[key] = MemorySessionStore()
        return store


def account_key(consumer_key: str, mobile_number: str, ucc: str) -> str:
    """A digest naming one account's credentials without holding any of them."""
    text = "\0".join((consumer_key, mobile_number, ucc)).encode()
    return hashlib.sha256(text).hexdigest()


def store_option(
    session_store: object, *, shared: tuple[str, str, object | None] | None = None
) -> tuple[SessionStore, bool]:
    """The store a client uses for its ``session_store=`` argument, and whether it is a
    private one. ``None`` given: the shared default store for ``shared`` (account key,
    login URL, transport; see :func:`default_store`), or without ``shared`` a fresh
    :class:`MemorySessionStore` nobody else sees (private)."""
    if session_store is None:
        if shared is not None:
            return default_store(*shared), False
        return MemorySessionStore(), True
    if not isinstance(session_store, SessionStore):
        raise TypeError(
            "session_store must be a SessionStore (MemorySessionStore, FileSessionStore, "
            "RedisSessionStore, or an object with load, save, acquire_lock and "
            f"release_lock), got {type(session_store).__name__}"
        )
    return session_store, False


def lock_owner() -> str:
    """A lock owner string unique to one login attempt: host, process, random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(8).hex()}"
