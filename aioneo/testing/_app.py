"""The Kotak Neo emulator: one ASGI application plus its in-process control surface.

Why plain ASGI and not a framework: the emulator has about twenty fixed paths, all
answered with JSON, and needs low-level control no framework makes easier (closing the
connection without an answer, hanging until the client gives up, exact status and header
choices). Plain ASGI keeps the runtime dependencies at ``httpx`` and ``pyotp`` and the
request path short enough to benchmark clients without the emulator being the bottleneck.

How one request is served (the order matters for tests):

1. the control API (``/__emulator/...``) is answered at once, bypassing everything below;
2. the path is resolved to an endpoint name; the request is counted;
3. active holds on the endpoint are waited for (:meth:`Emulator.hold`);
4. the endpoint's configured latency is slept;
5. a queued fault, if any, is applied (:meth:`Emulator.inject_fault`);
6. credentials are checked (consumer key, session token and sid: the 900901/900902
   gateway envelope on failure);
7. the rate limit of the session (or consumer key) is applied: 429 with ``Retry-After``
   and ``X-RateLimit-*``;
8. the body is decoded (raw JSON for login steps, the ``jData`` form field for orders,
   history, limits and margin) and the endpoint answers: login steps here, the trading
   and market-data domain in :class:`~aioneo.testing._trading.TradingBook`;
9. the request, with its status, is recorded.

Concurrency: the app runs on an asyncio event loop (uvicorn's, or the test's with
``httpx.ASGITransport``). State lives behind one ``threading.Lock`` that is never held
across an ``await``, so control calls from other threads (a test driving a loopback
server) are safe at any time. Holds and hangs are woken across threads with
``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import datetime
import json
import logging
import math
import random
import threading
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import httpx
import pyotp

from aioneo.testing._auth import IST_OFFSET, TRADE, VIEW, Session, SessionStore, TotpVerifier
from aioneo.testing._clock import StepClock
from aioneo.testing._config import ENDPOINTS, DemoCredentials, EmulatorConfig, Fault
from aioneo.testing._control import handle_control
from aioneo.testing._feeds import MARKET_PATH, ORDER_PATH, FeedControls, FeedHub
from aioneo.testing._ratelimit import RateLimiter
from aioneo.testing._routes import CONTROL_PREFIX, SCRIP_FILES, Guard, Route, resolve
from aioneo.testing._scrip_files import SCRIP_MODES, shape
from aioneo.testing._trading import FeedSnapshot, TradingBook, rupees_to_paise
from aioneo.testing._trading_market import SEGMENTS

if TYPE_CHECKING:
    from aioneo.testing._sync_transport import EmulatorSyncTransport

__all__ = [
    "ConnectionDropped",
    "Counters",
    "Emulator",
    "EmulatorTransport",
    "Hold",
    "RecordedRequest",
]

logger = logging.getLogger("aioneo.testing")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

IN_PROCESS_LOGIN_URL = "http://login.neo.test"
IN_PROCESS_TRADE_ORIGIN = "http://gw.neo.test"

MAX_BODY = 1 << 20

# The trading book lists scrip-master files under this origin; the app swaps in its own.
_SCRIP_PLACEHOLDER = "http://scrip.neo.invalid/" + SCRIP_FILES

#: Bodies that need a ``jData`` form field.
JDATA_ENDPOINTS = frozenset(
    {"place_order", "modify_order", "cancel_order", "order_history", "limits", "margin"}
)
ORDER_ENDPOINTS = frozenset({"place_order", "modify_order", "cancel_order"})

# Login error codes. Kotak does not document them; these are the emulator's own.
ST_INVALID_TOTP = 10002
ST_TOTP_REPLAYED = 10003
ST_INVALID_MPIN = 10004
ST_INVALID_UCC = 10005
ST_INVALID_MOBILE = 10006

GATEWAY_INVALID = {
    "code": "900901",
    "message": "Invalid Credentials",
    "description": (
        "Invalid JWT token. Make sure you have provided the correct security credentials"
    ),
}
GATEWAY_MISSING = {
    "code": "900902",
    "message": "Missing Credentials",
    "description": (
        "Invalid Credentials. Make sure your API invocation call has a header: "
        "'Auth : <token>' and 'Sid : <sid>'"
    ),
}


class ConnectionDropped(httpx.RemoteProtocolError):
    """Raised by the app to close the connection without an answer.

    In-process, :class:`EmulatorTransport` turns it into the exception httpx raises
    for the same event on a real socket: ``httpx.RemoteProtocolError("Server disconnected
    without sending a response.")``. A plain ``httpx.ASGITransport`` lets it through as is
    (it is a ``RemoteProtocolError`` too). On loopback the server closes the socket.
    """

    def __init__(self) -> None:
        super().__init__("Server disconnected without sending a response.")


@dataclasses.dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request the emulator saw, and the status it answered (0: no answer).

    ``headers`` (lower-case names) and ``body`` are kept verbatim, so they hold the
    emulator's own tokens and the demo credentials; ``repr`` leaves both out.
    """

    endpoint: str
    method: str
    path: str
    query: str
    host: str
    headers: Mapping[str, str] = dataclasses.field(repr=False)
    body: bytes = dataclasses.field(repr=False)
    status: int
    at: float

    def jdata(self) -> Any:
        """The decoded ``jData`` form field, or ``None`` if there is none or it is not JSON."""
        fields = urllib.parse.parse_qs(self.body.decode("utf-8", "replace"))
        try:
            return json.loads(fields["jData"][-1])
        except (KeyError, ValueError):
            return None

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form (for the HTTP control API); the body as UTF-8 text."""
        return {
            "endpoint": self.endpoint,
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "host": self.host,
            "headers": dict(self.headers),
            "body": self.body.decode("utf-8", "replace"),
            "status": self.status,
            "at": self.at,
        }


@dataclasses.dataclass(frozen=True, slots=True)
class Counters:
    """A snapshot of the emulator's counters since start or :meth:`Emulator.reset_counters`.

    ``login_attempts``: ``tradeApiLogin`` requests seen, any outcome. ``logins``:
    successful validates (trade sessions issued). ``login_failures``: login or validate
    requests answered with an error by the emulator's own checks (injected faults are not
    counted). ``totp_replays_rejected``: logins refused for reusing a TOTP step.
    ``rate_limited``: 429s sent by the rate limiter (not by an injected fault).
    ``requests``: every request seen, per endpoint name (``"unknown"`` for unserved
    paths). ``orders_by_tag``: orders the order system accepted, per ``ig`` tag.
    ``internal_errors``: requests the emulator failed on (a bug: always 0 in tests).
    """

    login_attempts: int = 0
    logins: int = 0
    login_failures: int = 0
    totp_replays_rejected: int = 0
    rate_limited: int = 0
    requests: Mapping[str, int] = dataclasses.field(default_factory=dict)
    orders_by_tag: Mapping[str, int] = dataclasses.field(default_factory=dict)
    internal_errors: int = 0

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        out = dataclasses.asdict(self)
        out["requests"] = dict(self.requests)
        out["orders_by_tag"] = dict(self.orders_by_tag)
        return out


class _Waker:
    """An asyncio event that any thread can set."""

    __slots__ = ("_event", "_loop")

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._event = asyncio.Event()

    def wake(self) -> None:
        # A closed loop has nobody waiting any more.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._event.set)

    async def wait(self) -> None:
        await self._event.wait()


class Hold:
    """Requests to one endpoint wait here, before anything else happens, until released.

    Made by :meth:`Emulator.hold`. ``release()`` is idempotent and safe from any thread;
    the held requests then go on normally (latency, faults, credential checks and the
    answer happen after the release). Usable as a context manager that releases on exit::

        with emu.hold("login") as hold:
            ...  # start requests
            hold.wait_until_waiting(3)
    """

    def __init__(self, endpoint: str, on_release: Callable[[Hold], None]) -> None:
        self.endpoint = endpoint
        self._on_release = on_release
        self._cond = threading.Condition()
        self._released = False
        self._waiters: set[_Waker] = set()
        self._observers: set[_Waker] = set()

    def __repr__(self) -> str:
        return (
            f"Hold(endpoint={self.endpoint!r}, waiting={self.waiting}, released={self._released})"
        )

    @property
    def waiting(self) -> int:
        """How many requests are blocked on this hold right now."""
        with self._cond:
            return len(self._waiters)

    @property
    def released(self) -> bool:
        return self._released

    def release(self) -> None:
        """Let every held request (and every later one) through."""
        with self._cond:
            if self._released:
                return
            self._released = True
            waiters = list(self._waiters)
            self._cond.notify_all()
        for waker in waiters:
            waker.wake()
        self._on_release(self)

    def wait_until_waiting(self, count: int, *, timeout: float = 10.0) -> bool:
        """Block this thread until at least ``count`` requests are held; ``False`` on timeout.

        For loopback servers (the requests run on the server's thread). In-process, use
        :meth:`until_waiting` from the event loop instead.
        """
        with self._cond:
            return self._cond.wait_for(lambda: len(self._waiters) >= count, timeout)

    async def until_waiting(self, count: int) -> None:
        """Wait (in the event loop) until at least ``count`` requests are held.

        For in-process use; bound it with ``asyncio.timeout`` if it might never happen.
        """
        while True:
            with self._cond:
                if len(self._waiters) >= count:
                    return
                observer = _Waker()
                self._observers.add(observer)
            try:
                await observer.wait()
            finally:
                with self._cond:
                    self._observers.discard(observer)

    def _changed(self) -> None:
        """Tell synchronous and asynchronous watchers that ``waiting`` changed (lock held)."""
        self._cond.notify_all()
        for observer in self._observers:
            observer.wake()

    async def _wait(self) -> None:
        with self._cond:
            if self._released:
                return
            waker = _Waker()
            self._waiters.add(waker)
            self._changed()
        try:
            await waker.wait()
        finally:
            with self._cond:
                self._waiters.discard(waker)
                self._changed()

    def __enter__(self) -> Hold:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


@dataclasses.dataclass(slots=True)
class _QueuedFault:
    kind: Fault
    remaining: int
    delay: float | None


@dataclasses.dataclass(slots=True)
class _Request:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    host: str
    client_ip: str | None

    def header(self, name: str) -> str | None:
        return self.headers.get(name)


@dataclasses.dataclass(slots=True)
class _Response:
    status: int
    body: bytes
    headers: list[tuple[bytes, bytes]] = dataclasses.field(default_factory=list)
    content_type: bytes = b"application/json"


def _json(status: int, payload: object, headers: Iterable[tuple[bytes, bytes]] = ()) -> _Response:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return _Response(status, body, list(headers))


class Emulator:
    """A fake Kotak Neo server: login host, trading host and a control API in one ASGI app.

    In-process, for async tests::

        emu = Emulator()
        async with httpx.AsyncClient(transport=emu.transport()) as http:
            ...  # send requests to emu.login_url and emu.base_url

    On loopback, see :class:`~aioneo.testing.EmulatorServer`. Credentials for clients are
    in :attr:`credentials`; :meth:`totp` gives the current code.

    ``clock`` (unix seconds, default ``time.time``) drives TOTP checks, token ``iat`` and
    ``exp``, expiry decisions, the rate limiter and the trading domain's timestamps; a
    test can pass a fake one: a :class:`~aioneo.testing.StepClock` shared with the client,
    with ``auto_step=True``, leaves each TOTP step a login used, so relogins never wait for
    a fresh step. ``seed`` makes tokens, sids and order numbers reproducible.

    What a request gets when something is wrong (before the endpoint itself answers):

    ==========================================  ==============================================
    consumer key missing / wrong                401 ``{"code": "900902" / "900901", ...}``
    token missing                               ``expiry_status``, ``900902`` envelope
    token unknown, expired, revoked, wrong sid  ``expiry_status``, ``900901`` envelope
    over the rate limit                         429 ``{"code": "900800", ...}``, ``Retry-After``
    login body not JSON, field missing/blank    400 ``{"error": [{"code": "400", ...}]}``
    wrong UCC, mobile, TOTP (or replay), MPIN   ``login_error_style``: ``{"stCode", "errMsg",
                                                "status": "failure"}``
    ``jData`` missing, not JSON, not an object  400 ``{"stCode": 5202, "errMsg", "stat"}``
    unknown path / wrong method                 404 / 405
    ==========================================  ==============================================

    Login error ``stCode`` values (Kotak documents none): 10002 invalid TOTP, 10003 TOTP
    step already used, 10004 invalid MPIN, 10005 invalid UCC, 10006 invalid mobile number.

    Thread safety: every method may be called from any thread while the app serves
    requests on its event loop.
    """

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        clock: Callable[[], float] | None = None,
        seed: int = 0,
    ) -> None:
        if config is not None and not isinstance(config, EmulatorConfig):
            raise TypeError(f"config={config!r} is not allowed: pass an EmulatorConfig or None")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed={seed!r} is not allowed: pass an int")
        self._config = config or EmulatorConfig()
        self._clock = clock or time.time
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._sessions = SessionStore(self._rng)
        self._totp = TotpVerifier()
        self._limiter = RateLimiter(self._config.rate_limit)
        self._book = TradingBook(
            seed=seed,
            max_quotes=self._config.max_quotes,
            scrip_base_url=_SCRIP_PLACEHOLDER,
            tick_rate=self._config.tick_rate,
        )
        self._faults: dict[str, collections.deque[_QueuedFault]] = {}
        self._scrip_modes: dict[str, str] = {}  # segment ("*": every one) -> SCRIP_MODES
        self._holds: dict[str, list[Hold]] = {}
        self._hangs: set[_Waker] = set()
        self._records: collections.deque[RecordedRequest] = collections.deque(
            maxlen=self._config.max_recorded
        )
        self._counts: dict[str, int] = dict.fromkeys(
            (
                "login_attempts",
                "logins",
                "login_failures",
                "totp_replays_rejected",
                "rate_limited",
                "internal_errors",
            ),
            0,
        )
        self._requests: collections.Counter[str] = collections.Counter()
        self._tag_baseline: dict[str, int] = {}
        self._served_url: str | None = None
        self._logins_since_prune = 0
        self._control_holds: dict[int, Hold] = {}
        # Latency and fault delays sleep through this, so tests can observe them.
        self._sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
        self._feeds = FeedHub(self)

    def __repr__(self) -> str:
        return f"Emulator(login_url={self.login_url!r}, base_url={self.base_url!r})"

    # ----------------------------------------------------------------- properties

    @property
    def app(self) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
        """The ASGI application (``async (scope, receive, send) -> None``)."""
        return self.__call__

    @property
    def feeds(self) -> FeedControls:
        """Faults and counters of the two websocket feeds (served on loopback only)."""
        return self._feeds.controls

    def feed_urls(self) -> dict[str, str]:
        """The feed URLs (``market``, ``order``) clients are pointed at, as ``ws://``.

        Only while served on loopback (:class:`~aioneo.testing.EmulatorServer`); the
        in-process transport carries no websockets.
        """
        origin = self._served_url
        if origin is None:
            raise RuntimeError("the feeds are served on loopback only: use EmulatorServer")
        ws = "ws" + origin.removeprefix("http")
        return {"market": ws + MARKET_PATH, "order": ws + ORDER_PATH}

    @property
    def clock(self) -> Callable[[], float]:
        """The clock the emulator runs on; give clients the same one (``clock=``)."""
        return self._clock

    @property
    def config(self) -> EmulatorConfig:
        """The current settings (change them with :meth:`configure`)."""
        return self._config

    @property
    def credentials(self) -> DemoCredentials:
        """The credentials login and validate accept."""
        c = self._config
        return DemoCredentials(
            consumer_key=c.consumer_key,
            mobile_number=c.mobile_number,
            ucc=c.ucc,
            mpin=c.mpin,
            totp_secret=c.totp_secret,
        )

    @property
    def login_url(self) -> str:
        """Where login, validate and get-client-ip are served."""
        return self._served_url or IN_PROCESS_LOGIN_URL

    @property
    def base_url(self) -> str:
        """The ``baseUrl`` validate returns: the trading host, path prefix included."""
        if self._config.base_url is not None:
            return self._config.base_url
        origin = self._served_url or IN_PROCESS_TRADE_ORIGIN
        return origin + self._config.trade_prefix

    def totp(self, at: float | None = None) -> str:
        """The TOTP code for the demo secret at ``at`` (default: the emulator's clock)."""
        when = self._clock() if at is None else at
        return pyotp.TOTP(self._config.totp_secret).at(math.floor(when))

    def transport(self) -> EmulatorTransport:
        """A new in-process transport for ``httpx.AsyncClient`` (an :class:`EmulatorTransport`)."""
        return EmulatorTransport(app=self.app)

    def sync_transport(self) -> EmulatorSyncTransport:
        """A new in-process transport for ``NeoClient`` and ``httpx.Client``.

        An :class:`~aioneo.testing.EmulatorSyncTransport`: it serves this emulator on a
        private event loop in a daemon thread (no socket); close it (or the client) to stop
        that thread. For other processes, or the official SDK's fixed hosts, use
        :class:`~aioneo.testing.EmulatorServer` and its ``transport()``.
        """
        from aioneo.testing._sync_transport import EmulatorSyncTransport

        return EmulatorSyncTransport(self)

    # ------------------------------------------------------------------- control

    def configure(self, **changes: Any) -> EmulatorConfig:
        """Change settings at runtime; returns the new config.

        Unknown names or bad values raise ``ValueError`` and change nothing. A new
        ``rate_limit`` starts every bucket afresh; a new ``max_recorded`` keeps the newest
        records. Requests already past a step keep the settings they saw.
        """
        with self._lock:
            new = self._config.replace(**changes)
            if new.rate_limit != self._config.rate_limit:
                self._limiter = RateLimiter(new.rate_limit)
            if new.max_quotes != self._config.max_quotes:
                self._book.max_quotes = new.max_quotes
            if new.tick_rate != self._config.tick_rate:
                self._book.set_tick_rate(new.tick_rate, self._clock())
            if new.max_recorded != self._config.max_recorded:
                self._records = collections.deque(self._records, maxlen=new.max_recorded)
            self._config = new
            return new

    def expire_sessions(self, ucc: str | None = None) -> int:
        """Expire every usable view and trade session of ``ucc`` (default: everyone's).

        Requests with those tokens get the 900901 envelope from now on. Returns how many
        sessions were expired.
        """
        with self._lock:
            count = self._sessions.end("expired", ucc=ucc, now=self._clock())
        self._feeds.check_sessions()
        return count

    def revoke_sessions(self, ucc: str | None = None) -> int:
        """Revoke sessions as a consumer-key reset would; same wire effect as expiry."""
        with self._lock:
            count = self._sessions.end("revoked", ucc=ucc, now=self._clock())
        self._feeds.check_sessions()
        return count

    def inject_fault(
        self,
        endpoint: str,
        kind: Fault | str,
        *,
        count: int = 1,
        delay: float | None = None,
    ) -> None:
        """Make the next ``count`` requests to ``endpoint`` fail as ``kind`` says.

        ``delay`` seconds are slept before the fault strikes (after the endpoint's
        latency). Faults queue per endpoint, first in first out. See :class:`Fault`.
        """
        self._check_endpoint(endpoint)
        try:
            fault = Fault(kind)
        except ValueError:
            allowed = ", ".join(f.value for f in Fault)
            raise ValueError(f"kind={kind!r} is not allowed: pass one of {allowed}") from None
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"count={count!r} is not allowed: pass an integer >= 1")
        if delay is not None and (
            isinstance(delay, bool)
            or not isinstance(delay, int | float)
            or not math.isfinite(delay)
            or delay < 0
        ):
            raise ValueError(f"delay={delay!r} is not allowed: pass seconds >= 0, or None")
        with self._lock:
            self._faults.setdefault(endpoint, collections.deque()).append(
                _QueuedFault(fault, count, None if delay is None else float(delay))
            )

    def set_scrip_file(self, mode: str, *, segment: str | None = None) -> None:
        """Serve the scrip-master file of ``segment`` (``None``: every segment) as ``mode``.

        ``"full"`` (the default), ``"header_only"`` (the header line alone, as Kotak
        published on 2026-04-05) or ``"truncated"`` (cut in the middle of a row halfway
        through the file, with a correct ``Content-Length``). ``"full"`` for ``None`` clears
        every per-segment switch too.
        """
        if mode not in SCRIP_MODES:
            raise ValueError(f"mode={mode!r} is not allowed: pass one of {', '.join(SCRIP_MODES)}")
        if segment is not None and segment not in SEGMENTS:
            raise ValueError(
                f"segment={segment!r} is not allowed: pass one of {', '.join(SEGMENTS)} or None"
            )
        with self._lock:
            if segment is None:
                self._scrip_modes.clear()
                if mode != "full":
                    self._scrip_modes["*"] = mode
            else:
                self._scrip_modes[segment] = mode

    def clear_faults(self) -> None:
        """Forget queued faults and end hung requests (their connections are closed)."""
        with self._lock:
            self._faults.clear()
            hangs = list(self._hangs)
        for waker in hangs:
            waker.wake()

    def hold(self, endpoint: str) -> Hold:
        """Hold requests to ``endpoint`` until the returned :class:`Hold` is released."""
        self._check_endpoint(endpoint)
        hold = Hold(endpoint, self._forget_hold)
        with self._lock:
            self._holds.setdefault(endpoint, []).append(hold)
        return hold

    def release_all(self) -> None:
        """Release every hold and end every hung request (used when a server stops)."""
        with self._lock:
            holds = [h for hs in self._holds.values() for h in hs]
        for hold in holds:
            hold.release()
        self.clear_faults()

    @property
    def counters(self) -> Counters:
        """A snapshot of the counters (see :class:`Counters`)."""
        with self._lock:
            tags = {
                tag: n - self._tag_baseline.get(tag, 0)
                for tag, n in self._book.orders_by_tag().items()
                if n - self._tag_baseline.get(tag, 0) > 0
            }
            return Counters(
                requests=dict(self._requests),
                orders_by_tag=tags,
                **self._counts,
            )

    @property
    def requests(self) -> list[RecordedRequest]:
        """The recorded requests, oldest first (at most ``config.max_recorded``)."""
        with self._lock:
            return list(self._records)

    def reset_counters(self) -> None:
        """Zero every counter and forget the recorded requests (orders stay in the book)."""
        with self._lock:
            for name in self._counts:
                self._counts[name] = 0
            self._requests.clear()
            self._records.clear()
            self._tag_baseline = dict(self._book.orders_by_tag())

    @property
    def orders(self) -> list[dict[str, Any]]:
        """The order book rows of every account, as the order-book endpoint shows them."""
        with self._lock:
            return [dict(row) for row in self._book.order_rows(now=self._clock())]

    # ------------------------------------------------------- the moving market (tests)

    def set_price(self, instrument: str, price: Decimal | str | int | float) -> None:
        """Move ``instrument`` to ``price`` rupees now; its random walk goes on from there.

        ``instrument``: ``"nse_cm|11536"``, ``"nse_cm|TCS-EQ"``, a trading symbol
        (``"TCS-EQ"``) or an index name (``"Nifty 50"``). ``price``: rupees, at most two
        decimals, a multiple of the instrument's tick and within its circuit limits.
        Resting orders the new price crosses fill at once, at that price; REST quotes,
        positions and the feeds show it from now on. The instrument stays live (walks at
        ``tick_rate``; set ``configure(tick_rate=0)`` to keep the price still). Bad input
        raises ``ValueError`` naming the field, the value and what is allowed.
        """
        now = self._clock()
        seg, token = self._book.resolve(instrument, now)
        self._book.set_price(seg, token, rupees_to_paise(price), now)

    def push_tick(
        self, instrument: str, price: Decimal | str | int | float, *, qty: int | None = None
    ) -> None:
        """An exact trade print: ``qty`` units (default one lot) of ``instrument`` at ``price``.

        Like :meth:`set_price`, and the market feed's next packet for the instrument
        carries exactly this LTP, last traded quantity and time (until the walk's next
        step, ``1 / tick_rate`` seconds later; never, with ``tick_rate=0``).
        """
        now = self._clock()
        seg, token = self._book.resolve(instrument, now)
        self._book.push_tick(seg, token, rupees_to_paise(price), now, qty=qty)

    def market_snapshot(self, instrument: str) -> FeedSnapshot:
        """What the market feed would send for ``instrument`` now (integer paise)."""
        now = self._clock()
        seg, token = self._book.resolve(instrument, now)
        snap = self._book.snapshot(seg, token, now)
        if snap is None:  # pragma: no cover - resolve() found it a moment ago
            raise ValueError(f"instrument={instrument!r} is not known")
        return snap

    def _check_endpoint(self, endpoint: str) -> None:
        if endpoint not in ENDPOINTS:
            raise ValueError(
                f"endpoint={endpoint!r} is not allowed: pass one of {', '.join(ENDPOINTS)}"
            )

    def _forget_hold(self, hold: Hold) -> None:
        with self._lock:
            holds = self._holds.get(hold.endpoint, [])
            if hold in holds:
                holds.remove(hold)

    def _set_served_url(self, url: str | None) -> None:
        self._served_url = url

    # ----------------------------------------------------------------------- ASGI

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await _lifespan(receive, send)
            return
        if kind == "websocket":
            await self._feeds.serve(scope, receive, send)
            return
        if kind != "http":
            return
        headers: dict[str, str] = {}
        for name, value in scope.get("headers", ()):
            headers.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
        client = scope.get("client")
        body = await _read_body(receive)
        if body is None:  # the client went away before sending its body
            return
        request = _Request(
            method=scope["method"],
            path=scope["path"],
            query=scope.get("query_string", b"").decode("latin-1"),
            headers=headers,
            body=body,
            host=headers.get("host", ""),
            client_ip=client[0] if client else None,
        )
        if request.path == CONTROL_PREFIX or request.path.startswith(CONTROL_PREFIX + "/"):
            status, payload = handle_control(
                self, request.method, request.path, request.query, body
            )
            await _send(send, _json(status, payload))
            return
        if len(body) > MAX_BODY:
            await _send(
                send,
                _json(413, {"stat": "Not_Ok", "stCode": 413, "errMsg": "Request body too large"}),
            )
            return
        await self._serve(request, receive, send)

    async def _serve(self, request: _Request, receive: Receive, send: Send) -> None:
        route = resolve(request.path, self._config.trade_prefix)
        endpoint = route.endpoint if route is not None else "unknown"
        with self._lock:
            self._requests[endpoint] += 1
            if endpoint == "login":
                self._counts["login_attempts"] += 1
        recorded = False
        try:
            response = await self._answer(request, route, receive)
            # Record before answering: a client that got its answer finds it recorded.
            self._record(request, endpoint, response.status)
            recorded = True
            await _send(send, response)
        finally:
            if not recorded:  # dropped, hung or cancelled: no answer
                self._record(request, endpoint, 0)

    async def _answer(self, request: _Request, route: Route | None, receive: Receive) -> _Response:
        if route is None:
            return _json(
                404,
                {
                    "code": "404",
                    "type": "Status report",
                    "message": "Not Found",
                    "description": f"No resource is served at {request.method} {request.path}",
                },
            )
        if request.method != route.method:
            return _json(
                405,
                {
                    "code": "405",
                    "type": "Status report",
                    "message": "Method Not Allowed",
                    "description": f"{route.endpoint} accepts {route.method} only",
                },
                [(b"allow", route.method.encode())],
            )
        endpoint = route.endpoint
        with self._lock:
            holds = list(self._holds.get(endpoint, ()))
        for hold in holds:
            await hold._wait()
        latency = self._config.latency.get(endpoint, 0.0)
        if latency:
            await self._sleep(latency)
        fault = self._take_fault(endpoint)
        if fault is not None:
            if fault.delay:
                await self._sleep(fault.delay)
            if fault.kind is Fault.HANG:
                await self._hang(receive)
                raise ConnectionDropped
            if fault.kind is Fault.DROP:
                raise ConnectionDropped
            if fault.kind is not Fault.ACCEPT_THEN_DROP:
                return _fault_response(fault.kind)
        try:
            response = self._handle(request, route)
        except Exception:
            # A bug in the emulator: answer like Kotak's "Internal Error" rather than with a
            # traceback, and say so in the log (no request data: it holds credentials).
            logger.exception("emulator failed on %s", endpoint)
            with self._lock:
                self._counts["internal_errors"] += 1
            response = _json(500, {"stCode": 1005, "errMsg": "Internal Error", "stat": "Not_Ok"})
        if fault is not None and fault.kind is Fault.ACCEPT_THEN_DROP:
            raise ConnectionDropped
        return response

    def _take_fault(self, endpoint: str) -> _QueuedFault | None:
        with self._lock:
            queue = self._faults.get(endpoint)
            if not queue:
                return None
            head = queue[0]
            head.remaining -= 1
            if head.remaining <= 0:
                queue.popleft()
            return head

    async def _hang(self, receive: Receive) -> None:
        """Wait until the client disconnects or :meth:`clear_faults` ends the hang."""
        waker = _Waker()
        with self._lock:
            self._hangs.add(waker)

        async def disconnected() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass

        tasks = {
            asyncio.ensure_future(disconnected()),
            asyncio.ensure_future(waker.wait()),
        }
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            with self._lock:
                self._hangs.discard(waker)

    def _record(self, request: _Request, endpoint: str, status: int) -> None:
        record = RecordedRequest(
            endpoint=endpoint,
            method=request.method,
            path=request.path,
            query=request.query,
            host=request.host,
            headers=request.headers,
            body=request.body,
            status=status,
            at=self._clock(),
        )
        with self._lock:
            self._records.append(record)

    # ------------------------------------------------------------------ handlers

    def _handle(self, request: _Request, route: Route) -> _Response:
        """Credential checks, rate limit and the endpoint itself, all under the lock."""
        with self._lock:
            config = self._config
            now = self._clock()
            guard = route.guard
            consumer_key = request.header("authorization")
            if guard in (Guard.CK, Guard.LOGIN, Guard.VIEW, Guard.SESSION_CK) and (
                not consumer_key or consumer_key != config.consumer_key
            ):
                if guard in (Guard.LOGIN, Guard.VIEW):
                    self._counts["login_failures"] += 1
                return _json(401, GATEWAY_INVALID if consumer_key else GATEWAY_MISSING)
            session: Session | None = None
            if guard in (Guard.VIEW, Guard.SESSION, Guard.SESSION_CK):
                token = request.header("auth")
                if not token:
                    if guard is Guard.VIEW:
                        self._counts["login_failures"] += 1
                    return _json(config.expiry_status, GATEWAY_MISSING)
                kind = VIEW if guard is Guard.VIEW else TRADE
                session = self._sessions.lookup(token, request.header("sid"), kind=kind, now=now)
                if session is None:
                    if guard is Guard.VIEW:
                        self._counts["login_failures"] += 1
                    return _json(config.expiry_status, GATEWAY_INVALID)
            if guard is not Guard.NONE:
                key = f"sid:{session.sid}" if session is not None else f"ck:{consumer_key}"
                decision = self._limiter.take(key, now)
                if not decision.allowed:
                    self._counts["rate_limited"] += 1
                    return _json(429, _throttled_body(decision.limit), decision.headers())
            endpoint = route.endpoint
            if endpoint == "login":
                return self._login(request, config, now)
            if endpoint == "validate":
                assert session is not None
                return self._validate(request, session, config, now)
            if endpoint == "config":
                return _json(200, {"data": {"configs": self._feed_configs(config)}})
            if endpoint == "scrip_file":
                segment = route.params["segment"]
                csv = self._book.scrip_csv(segment, now=now)
                if csv is None:
                    return _json(404, {"code": "404", "message": "Not Found"})
                mode = self._scrip_modes.get(segment) or self._scrip_modes.get("*", "full")
                return _Response(200, shape(csv, mode).encode(), content_type=b"text/csv")
            if endpoint == "client_ip":
                return _json(
                    200,
                    {
                        "data": [{"ip": request.client_ip or "", "time": _ist_time(now)}],
                        "stCode": 1000,
                        "status": "success",
                    },
                )
            if endpoint == "logout":
                assert session is not None
                session.ended = "logged_out"
                return _json(
                    200,
                    {
                        "stat": "Ok",
                        "stCode": 200,
                        "message": "You have been successfully logged out",
                    },
                )
            return self._trading(request, route, session, config, now)

    def _trading(
        self,
        request: _Request,
        route: Route,
        session: Session | None,
        config: EmulatorConfig,
        now: float,
    ) -> _Response:
        endpoint = route.endpoint
        data: Mapping[str, object] | None = None
        if endpoint in JDATA_ENDPOINTS:
            decoded = _decode_jdata(request.body)
            if isinstance(decoded, _Response):
                return decoded
            data = decoded
        query = dict(urllib.parse.parse_qsl(request.query, keep_blank_values=True))
        ucc = session.ucc if session is not None else config.ucc
        status, payload = self._book.handle(
            endpoint, ucc=ucc, now=now, data=data, path=route.params, query=query
        )
        if status == 500 and isinstance(payload, dict) and payload.get("stCode") == 1005:
            logger.error("the trading book failed on %s: %s", endpoint, payload.get("errMsg"))
            self._counts["internal_errors"] += 1
        if endpoint == "scrip_master" and status == 200:
            payload = _rehome_scrip_paths(payload, _origin(self.base_url))
        return _json(status, payload)

    def _login_error(
        self, config: EmulatorConfig, st_code: int, message: str, status: int
    ) -> _Response:
        self._counts["login_failures"] += 1
        body = {"stCode": st_code, "errMsg": message, "status": "failure"}
        return _json(200 if config.login_error_style == "200" else status, body)

    def _login(self, request: _Request, config: EmulatorConfig, now: float) -> _Response:
        fields = _login_fields(
            request.body, (("mobileNumber", "MobileNumber"), ("ucc", "Ucc"), ("totp", "Totp"))
        )
        if isinstance(fields, _Response):
            self._counts["login_failures"] += 1
            return fields
        mobile, ucc, code = fields
        if ucc != config.ucc:
            return self._login_error(config, ST_INVALID_UCC, "Invalid UCC", 400)
        if mobile != config.mobile_number:
            return self._login_error(config, ST_INVALID_MOBILE, "Invalid mobile number", 400)
        check = self._totp.check(
            code,
            secret=config.totp_secret,
            ucc=ucc,
            now=now,
            skew_steps=config.totp_skew_steps,
            reject_replay=config.totp_replay_rejection,
        )
        if check.outcome == "replayed":
            self._counts["totp_replays_rejected"] += 1
            return self._login_error(config, ST_TOTP_REPLAYED, "Invalid TOTP", 401)
        if check.outcome != "ok" or check.step is None:
            return self._login_error(config, ST_INVALID_TOTP, "Invalid TOTP", 401)
        self._totp.mark_used(ucc, check.step, now=now, skew_steps=config.totp_skew_steps)
        if isinstance(self._clock, StepClock):
            self._clock.step_used(check.step)  # auto_step: the next login needs no wait
        self._prune(now)
        session = self._sessions.issue(
            VIEW, ucc=ucc, now=now, ttl=config.session_ttl, client_ip=request.client_ip
        )
        return _json(200, {"data": _profile(session, config, kind="View")})

    def _validate(
        self, request: _Request, view: Session, config: EmulatorConfig, now: float
    ) -> _Response:
        fields = _login_fields(request.body, (("mpin", "Mpin"),))
        if isinstance(fields, _Response):
            self._counts["login_failures"] += 1
            return fields
        (mpin,) = fields
        if mpin != config.mpin:
            return self._login_error(config, ST_INVALID_MPIN, "Invalid MPIN", 401)
        session = self._sessions.issue(
            TRADE, ucc=view.ucc, now=now, ttl=config.session_ttl, client_ip=request.client_ip
        )
        if config.single_session:
            self._sessions.end("revoked", ucc=view.ucc, kinds=(TRADE,), now=now, keep=session)
        self._counts["logins"] += 1
        data = _profile(session, config, kind="Trade")
        data["baseUrl"] = self.base_url
        if config.advertise_feeds in ("both", "validate") and self._served_url is not None:
            data["feedUrl"] = self._served_url + MARKET_PATH
            data["rtUrl"] = self._served_url + ORDER_PATH
        return _json(200, {"data": data})

    def _feed_configs(self, config: EmulatorConfig) -> dict[str, str]:
        """The config service's ``configs`` (``kotak-neo-api.md`` 1.4): the data
        center's broadcast source and its endpoints, as ``http://`` URLs as Kotak's are
        (``https://`` there; clients rewrite the scheme to ``ws``/``wss``)."""
        if config.advertise_feeds not in ("both", "config") or self._served_url is None:
            return {}
        dc, source = config.data_center, config.broadcast_source
        return {
            f"{dc}_broadcast_source": source,
            f"{dc}_{source}_broadcast_endpoint": self._served_url + MARKET_PATH,
            f"{dc}_{source}_interactive_endpoint": self._served_url + ORDER_PATH,
        }

    def _feed_session_by_sid(self, ucc: str, sid: str) -> Session | None:
        """The live trade session of ``ucc`` holding ``sid`` (market-feed auth)."""
        with self._lock:
            return self._sessions.lookup_sid(sid, ucc=ucc, kind=TRADE, now=self._clock())

    def _feed_session_by_token(self, token: str, sid: str) -> Session | None:
        """The live trade session holding ``token`` and ``sid`` (order-feed auth)."""
        with self._lock:
            return self._sessions.lookup(token, sid, kind=TRADE, now=self._clock())

    def _prune(self, now: float) -> None:
        """Every 256 logins, forget dead sessions and their rate-limit buckets."""
        self._logins_since_prune += 1
        if self._logins_since_prune < 256:
            return
        self._logins_since_prune = 0
        for session in self._sessions.prune(now):
            self._limiter.forget(f"sid:{session.sid}")


class EmulatorTransport(httpx.ASGITransport):
    """``httpx.ASGITransport`` for the emulator that behaves like a socket would.

    Two differences from the plain transport, so that in-process tests see what loopback
    tests see: a request the emulator drops raises ``httpx.RemoteProtocolError`` with the
    request attached, and the request's read timeout (``httpx`` ``timeout=``) applies to
    the whole exchange, raising ``httpx.ReadTimeout`` (a plain ``ASGITransport`` ignores
    timeouts, so a ``hang`` fault would wait forever). Bound to no loop; safe to reuse.
    """

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeout = request.extensions.get("timeout", {}).get("read")
        try:
            if timeout is None:
                return await super().handle_async_request(request)
            async with asyncio.timeout(timeout):
                return await super().handle_async_request(request)
        except TimeoutError:
            raise httpx.ReadTimeout("Timed out waiting for the emulator", request=request) from None
        except ConnectionDropped:
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            ) from None


# ------------------------------------------------------------------------ helpers


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size <= MAX_BODY + 1:
            chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _send(send: Send, response: _Response) -> None:
    headers = [
        (b"content-type", response.content_type),
        (b"content-length", str(len(response.body)).encode()),
        *response.headers,
    ]
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})


def _ist_time(now: float) -> str:
    ist = datetime.timezone(datetime.timedelta(seconds=IST_OFFSET))
    return datetime.datetime.fromtimestamp(now, ist).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _throttled_body(limit: float) -> dict[str, str]:
    shown = int(limit) if float(limit).is_integer() else limit
    return {
        "code": "900800",
        "message": "Message throttled out",
        "description": f"You have exceeded your quota of {shown} requests per second",
    }


def _fault_response(kind: Fault) -> _Response:
    if kind is Fault.HTTP_500:
        return _json(500, {"stCode": 1005, "errMsg": "Internal Error", "stat": "Not_Ok"})
    if kind is Fault.HTTP_502_HTML:
        html = (
            b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
            b"<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n"
        )
        return _Response(502, html, content_type=b"text/html")
    if kind is Fault.HTTP_503_EMPTY:
        return _Response(503, b"", content_type=b"text/plain")
    if kind is Fault.HTTP_504:
        return _json(504, {"message": "Gateway timeout, trade API is unreachable"})
    if kind is Fault.HTTP_424:
        return _json(424, {"stCode": 424, "errMsg": "Dependency error", "stat": "Not_Ok"})
    if kind is Fault.HTTP_429:
        return _json(429, _throttled_body(10), [(b"retry-after", b"1")])
    raise AssertionError(kind)  # pragma: no cover - the other kinds have no body


def _bad_request(message: str) -> _Response:
    return _json(400, {"error": [{"code": "400", "message": message}]})


def _login_fields(body: bytes, names: tuple[tuple[str, str], ...]) -> tuple[str, ...] | _Response:
    """The string fields ``names`` (wire name, name in messages) of a raw JSON body."""
    try:
        payload = json.loads(body) if body.strip() else None
    except ValueError:
        return _bad_request("Request body is not valid JSON: send a JSON object")
    if not isinstance(payload, dict):
        wanted = ", ".join(wire for wire, _ in names)
        return _bad_request(f"Request body must be a JSON object with {wanted}")
    values = []
    for wire, shown in names:
        value = payload.get(wire)
        if value is None or (isinstance(value, str) and not value.strip()):
            return _bad_request(f"Missing required field '{shown}'")
        if not isinstance(value, str):
            return _bad_request(
                f"Invalid field '{shown}': expected a string, got {type(value).__name__}"
            )
        values.append(value)
    return tuple(values)


def _decode_jdata(body: bytes) -> Mapping[str, object] | _Response:
    def error(message: str) -> _Response:
        # The trading book's shape for a bad jData (stCode 5202, HTTP 400).
        return _json(
            400, {"stCode": 5202, "errMsg": f"Invalid Request: {message}", "stat": "Not_Ok"}
        )

    try:
        fields = urllib.parse.parse_qs(body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        return error("Request body is not UTF-8 form data: send jData=<JSON object>")
    raw = fields.get("jData")
    if not raw:
        return error("Missing form field 'jData': send jData=<JSON object>")
    try:
        data = json.loads(raw[-1])
    except ValueError:
        return error("Invalid 'jData': not valid JSON")
    if not isinstance(data, dict):
        return error(f"Invalid 'jData': expected a JSON object, got {type(data).__name__}")
    return data


def _origin(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _rehome_scrip_paths(payload: object, origin: str) -> object:
    """Point the scrip-master file URLs at the emulator, which serves the CSVs itself."""
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), dict):
        return payload
    old = _SCRIP_PLACEHOLDER.rpartition("/" + SCRIP_FILES)[0]

    def fix(value: object) -> object:
        if isinstance(value, str) and value.startswith(old):
            return origin + value[len(old) :]
        return value

    data = payload["data"]
    rehomed = {key: fix(value) for key, value in data.items()}
    if isinstance(data.get("filesPaths"), list):
        rehomed["filesPaths"] = [fix(path) for path in data["filesPaths"]]
    return {**payload, "data": rehomed}


def _profile(session: Session, config: EmulatorConfig, *, kind: str) -> dict[str, Any]:
    """The ``data`` object of a successful login or validate (section 2.3)."""
    return {
        "token": session.token,
        "sid": session.sid,
        "rid": session.rid,
        "hsServerId": "",
        "isUserPwdExpired": False,
        "ucc": session.ucc,
        "greetingName": "DEMO",
        "isTrialAccount": False,
        "dataCenter": config.data_center,
        "searchAPIKey": "",
        "derivativesRiskDisclosure": False,
        "mfAccess": 1,
        "dataCenterMap": None,
        "dormancyStatus": "A",
        "asbaStatus": "",
        "clientType": "RI",
        "isNRI": False,
        "kId": "ABCDE1234F",
        "kType": kind,
        "status": "success",
        "incRange": 0,
        "incUpdFlag": "",
        "clientGroup": "",
        "kraStatus": "",
        "rcFlag": "",
    }
