"""The emulator's two websocket feeds: SFeed market data and the order/position feed.

Both are served by the emulator's ASGI app (``websocket`` scopes), so uvicorn and the
built-in server carry them on the same port as the REST API:

* ``/apifeed``: SFeed ``native_batch`` market data (``kotak-neo-api.md`` 6.1). The first
  text frame is the JSON auth frame; ``user`` must be the UCC and ``auth`` the trade sid of
  a live session. The reply is ``{"message_code": 1119, "format": "native_batch",
  "exchanges": {name: {"value": id, "divider": n}}}``; a dead or unknown sid gets
  ``"format": "native_fallback"`` (or, with ``feed_auth_failure="close"``, a close with
  1008). Then JSON control frames subscribe, unsubscribe and snapshot instruments
  (``subscribeScrips``, ``subscribeScripsLite``, ``subscribeDepth``,
  ``subscribeFullDepth``, ``subscribeIndices``, the ``unsubscribe…`` and ``snapshot…``
  events, ``subscribeExchange``); each subscribe with ``ack_symbol`` is acknowledged at
  once with ``{"message_code": 1109, "trading_symbols": {...}}`` and followed by one
  packet per instrument. Binary frames carry batched packets (:mod:`._feedwire`).
* ``/realtime``: the order feed (6.2). The first text frame is the raw
  ``{type:cn,Authorization:<token>,Sid:<sid>,src:WEB}``; the reply is
  ``{"ak":"ok","type":"cn",...}`` and the account's current state (one ``order`` message
  per order, one ``position`` per position), then one message per order state change and
  per fill. A dead session gets ``{"ak":"nk","type":"cn","msg":"Authentication Failed"}``
  and a socket that stays open and says nothing more (what users of the real service
  report), or a close with 1008 under ``feed_auth_failure="close"``.

Errors the emulator sends for a client's mistakes (Kotak documents none; these are the
emulator's own): a text frame ``{"message_code": 1120, "stat": "Not_Ok", "msg": ...}`` on
the market feed for a frame that is not JSON, an unknown event or a missing
``inputtoken``; ``{"message_code": 1121, ...}`` for a subscribe that would pass
:data:`MAX_SUBSCRIPTIONS` (token, mode) pairs on one connection (nothing of it is
subscribed); ``{"ak":"nk","type":"error","msg":"invalid request format"}`` on the order
feed. A binary frame from a client is closed with 1003. Nothing a client sends is logged
as a traceback.

How it runs: one :class:`FeedHub` per emulator, bound to the event loop of the server
that carries its first connection. Each connection has one writer task and an outbox, so
the reader (control frames) and the ticker never write to a socket themselves and a slow
reader never stalls the others: a market connection whose outbox holds more than
:data:`MAX_OUTBOX` frames (or :data:`MAX_OUTBOX_BYTES`) loses its oldest data frames
(counted as ``frames_dropped``); control frames and order-feed messages are never dropped,
and a reader that leaves :data:`MAX_TEXT_BACKLOG` of them unread is closed with 1008
("slow consumer"). A socket that does not authenticate within :data:`AUTH_TIMEOUT` seconds
is closed with 1008. Order-feed events carry the book's event number: the state pushed at a
handshake is read together with the number of the last event it reflects, so an event
queued before the handshake is neither lost nor sent twice. The ticker task advances the
market (``TradingBook.advance``) every :func:`tick_interval` seconds and sends one packet
per changed instrument and subscribed mode. Control calls (:class:`FeedControls`) may come
from any thread: they only edit state under a lock and wake writers on the hub's loop.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import dataclasses
import json
import logging
import re
import struct
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from aioneo.testing import _feedwire as wire
from aioneo.testing._trading_market import _session_time

if TYPE_CHECKING:
    from aioneo.testing._app import Emulator, Receive, Scope, Send
    from aioneo.testing._auth import Session
    from aioneo.testing._trading_market import FeedSnapshot

__all__ = [
    "FEED_KINDS",
    "MARKET_PATH",
    "MAX_OUTBOX",
    "MAX_SUBSCRIPTIONS",
    "ORDER_PATH",
    "FeedControls",
    "FeedHub",
    "SentPacket",
]

logger = logging.getLogger("aioneo.testing")

MARKET_PATH = "/apifeed"
ORDER_PATH = "/realtime"
FEED_KINDS = ("market", "order")
#: Distinct (token, mode) pairs one market connection may hold (the SDK's own cap).
MAX_SUBSCRIPTIONS = 3000
#: Data frames queued for one market connection before the oldest are dropped.
MAX_OUTBOX = 512
#: ... and bytes of them.
MAX_OUTBOX_BYTES = 16 * 1024 * 1024
#: Unread text frames (acks, errors, order-feed messages) before a reader is closed as a
#: slow consumer (1008).
MAX_TEXT_BACKLOG = 10_000
#: Seconds a connection may stay open without a successful auth (then 1008).
AUTH_TIMEOUT = 30.0
#: Sent packets kept for tests (:meth:`FeedControls.sent`).
MAX_SENT_RECORDS = 20_000

ERR_BAD_FRAME = 1120
ERR_TOO_MANY = 1121
AUTH_REPLY = 1119
ACK = 1109

#: Close codes a control call may ask for (1005, 1006 and 1015 cannot be sent).
CLOSE_CODES = frozenset({1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013})

# mode -> (event suffix, packet level); "index" sends index packets.
MODES: dict[str, tuple[str, int]] = {
    "scrips_lite": ("ScripsLite", wire.LEVEL_MINI),
    "scrips": ("Scrips", wire.LEVEL_TOUCH),
    "depth": ("Depth", wire.LEVEL_DEPTH),
    "full_depth": ("FullDepth", wire.LEVEL_FULL_DEPTH),
    "index": ("Indices", 0),
}
_DEPTH_ROWS = {wire.LEVEL_TOUCH: 1, wire.LEVEL_DEPTH: 5, wire.LEVEL_FULL_DEPTH: 20}
_PRECISION = {100: 2, 10_000: 4, 10_000_000: 7}
_EVENTS: dict[str, tuple[str, str]] = {}
for _mode, (_suffix, _level) in MODES.items():
    _EVENTS["subscribe" + _suffix] = ("subscribe", _mode)
    _EVENTS["unsubscribe" + _suffix] = ("unsubscribe", _mode)
    _EVENTS["snapshot" + _suffix] = ("snapshot", _mode)

#: Numeric tokens of the indices (what index packets carry; subscribed by name).
INDEX_TOKENS: dict[tuple[str, str], int] = {
    ("nse_cm", "Nifty 50"): 26000,
    ("nse_cm", "Nifty Bank"): 26009,
    ("nse_cm", "Nifty IT"): 26008,
    ("bse_cm", "SENSEX"): 1,
}
_INDEX_NAMES = {(seg, str(num)): name for (seg, name), num in INDEX_TOKENS.items()}

_HANDSHAKE = re.compile(r"\{type:cn,Authorization:([^,{}]*),Sid:([^,{}]*),src:([^,{}]*)\}")


@dataclasses.dataclass(frozen=True, slots=True)
class SentPacket:
    """One packet the emulator put on a market connection (``packet`` holds its values)."""

    connection: int
    segment: str
    token: str  # as subscribed: a numeric token or an index name
    mode: str  # a MODES key, or "status" / "cas"
    packet: wire.Packet


@dataclasses.dataclass(slots=True)
class _Conn:
    id: int
    kind: str
    loop: asyncio.AbstractEventLoop
    wake: asyncio.Event
    outbox: collections.deque[tuple[str, Any]] = dataclasses.field(
        default_factory=collections.deque
    )
    data_frames: int = 0
    data_bytes: int = 0
    text_frames: int = 0
    room: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    server: tuple[str, int] | None = None
    opened: float = 0.0
    state_seq: int = 0  # order feed: book events up to this number are in the pushed state
    activations: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    session: Session | None = None
    authed: bool = False
    closing: bool = False
    subs: dict[str, set[tuple[str, str]]] = dataclasses.field(default_factory=dict)
    market_status: bool = False

    def pairs(self) -> int:
        return sum(len(s) for s in self.subs.values())


class FeedHub:
    """Both feeds of one :class:`~aioneo.testing.Emulator` (see the module docstring)."""

    def __init__(self, emulator: Emulator) -> None:
        self._emu = emulator
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._conns: dict[int, _Conn] = {}
        self._next_id = 0
        self._ticker: asyncio.Task[None] | None = None
        self._stalled: set[str] = set()
        self._refuse: dict[str, int | None] = {}  # kind -> remaining refusals (None: all)
        self._sent: collections.deque[SentPacket] = collections.deque(maxlen=MAX_SENT_RECORDS)
        self._seq = 0
        self._status: dict[str, bool] = {}
        self._counts: collections.Counter[str] = collections.Counter()
        self._bad_packets: set[tuple[str, str]] = set()
        self.controls = FeedControls(self)
        emulator._book.add_listener(self._on_book_event)

    # ------------------------------------------------------------------ ASGI entry

    async def serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        kind = "market" if path == MARKET_PATH else "order" if path == ORDER_PATH else None
        first = await receive()
        if first.get("type") != "websocket.connect":
            return
        if kind is None:
            await send({"type": "websocket.close", "code": 1008, "reason": "no feed here"})
            return
        loop = asyncio.get_running_loop()
        server = scope.get("server")
        with self._lock:
            if self._loop is None or self._loop.is_closed() or not self._conns:
                self._loop = loop
            bound = self._loop is loop
        if not bound:
            await send(
                {"type": "websocket.close", "code": 1011, "reason": "feeds served elsewhere"}
            )
            return
        with self._lock:
            self._next_id += 1
            conn = _Conn(self._next_id, kind, loop, asyncio.Event())
            conn.server = (str(server[0]), int(server[1])) if server else None
            conn.opened = loop.time()
            self._conns[conn.id] = conn
            self._counts[f"{kind}_connections"] += 1
        writer: asyncio.Task[None] | None = None
        try:
            try:
                await send({"type": "websocket.accept"})
            except Exception:  # the client went away during the handshake
                return
            writer = asyncio.create_task(self._write(conn, send))
            self._ensure_ticker()
            while True:
                message = await receive()
                mtype = message.get("type")
                if mtype == "websocket.disconnect":
                    break
                if mtype != "websocket.receive":
                    continue
                text = message.get("text")
                if text is None:
                    self._counts["bad_frames"] += 1
                    self._close(conn, 1003, "binary frames are not accepted")
                    continue
                if conn.closing:
                    continue
                try:
                    if kind == "market":
                        self._on_market_frame(conn, text)
                    else:
                        self._on_order_frame(conn, text)
                except Exception:  # an emulator bug must not kill the server
                    logger.exception("feed frame handling failed")
                    self._close(conn, 1011, "internal error")
        finally:
            self._forget(conn)
            if writer is not None:
                writer.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await writer

    async def _write(self, conn: _Conn, send: Send) -> None:
        while True:
            await conn.wake.wait()
            conn.wake.clear()
            while True:
                with self._lock:
                    if not conn.outbox:
                        break
                    kind, payload = conn.outbox.popleft()
                    if kind == "bytes":
                        conn.data_frames -= 1
                        conn.data_bytes -= len(payload)
                        if conn.data_frames < MAX_OUTBOX // 2:
                            conn.room.set()
                    elif kind == "text":
                        conn.text_frames -= 1
                if kind == "close":
                    code, reason = payload
                    with contextlib.suppress(Exception):
                        await send({"type": "websocket.close", "code": code, "reason": reason})
                    return
                try:
                    if kind == "bytes":
                        await send({"type": "websocket.send", "bytes": payload})
                        self._counts["frames_sent"] += 1
                    else:
                        await send({"type": "websocket.send", "text": payload})
                except Exception:  # the client went away: the reader sees the disconnect
                    return

    # ------------------------------------------------------------------ outbox

    def _push(self, conn: _Conn, kind: str, payload: Any) -> None:
        """Queue a frame (call with ``self._lock`` held).

        Data frames (market packets) beyond :data:`MAX_OUTBOX` frames or
        :data:`MAX_OUTBOX_BYTES` bytes push out the oldest data frames. Text frames (acks,
        errors, order-feed messages) are never dropped: a reader that leaves more than
        :data:`MAX_TEXT_BACKLOG` of them unread is closed with 1008 "slow consumer"
        instead, so no reader can grow the emulator's memory without bound.
        """
        if conn.closing:
            return
        if kind == "bytes":
            size = len(payload)
            while conn.data_frames and (
                conn.data_frames >= MAX_OUTBOX or conn.data_bytes + size > MAX_OUTBOX_BYTES
            ):
                for i, (k, old) in enumerate(conn.outbox):
                    if k == "bytes":
                        del conn.outbox[i]
                        conn.data_frames -= 1
                        conn.data_bytes -= len(old)
                        self._counts["frames_dropped"] += 1
                        break
            conn.data_frames += 1
            conn.data_bytes += size
        elif kind == "text":
            if conn.text_frames >= MAX_TEXT_BACKLOG:
                self._counts["closed_slow_consumer"] += 1
                self._close_locked(conn, 1008, f"slow consumer: {conn.text_frames} frames unread")
                return
            conn.text_frames += 1
        conn.outbox.append((kind, payload))
        self._wake(conn)

    def _wake(self, conn: _Conn, event: asyncio.Event | None = None) -> None:
        """Set ``event`` (default: the writer's wake-up) from any thread."""
        event = conn.wake if event is None else event
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is conn.loop:
            event.set()
        else:
            with contextlib.suppress(RuntimeError):  # the loop has finished
                conn.loop.call_soon_threadsafe(event.set)

    def _text(self, conn: _Conn, payload: Mapping[str, object]) -> None:
        with self._lock:
            self._push(conn, "text", json.dumps(payload, separators=(",", ":")))

    def _close(self, conn: _Conn, code: int, reason: str) -> None:
        with self._lock:
            self._close_locked(conn, code, reason)

    def _close_locked(self, conn: _Conn, code: int, reason: str) -> None:
        if conn.closing:
            return
        # Data not yet sent is dropped; control frames (an auth reply, an error) go first.
        kept = [item for item in conn.outbox if item[0] != "bytes"]
        conn.outbox.clear()
        conn.outbox.extend(kept)
        conn.data_frames = 0
        conn.data_bytes = 0
        conn.outbox.append(("close", (code, reason)))
        conn.closing = True
        self._wake(conn, conn.room)
        self._counts["closed_by_server"] += 1
        self._wake(conn)

    def _forget(self, conn: _Conn) -> None:
        with self._lock:
            self._conns.pop(conn.id, None)
            conn.closing = True
            conn.room.set()
            activations, conn.activations = conn.activations, []
            conn.subs.clear()
        book, now = self._emu._book, self._emu.clock()
        for seg, token in activations:
            book.deactivate(seg, token, now)

    # ------------------------------------------------------------------ market feed

    def _on_market_frame(self, conn: _Conn, text: str) -> None:
        try:
            frame = json.loads(text)
        except ValueError:
            frame = None
        if not isinstance(frame, dict):
            self._bad(conn, "the frame is not a JSON object")
            return
        if not conn.authed:
            self._market_auth(conn, frame)
            return
        event = frame.get("event")
        if event == "subscribeExchange":
            conn.market_status = True
            self._send_status(conn)
            return
        if event == "unsubscribeExchange":
            conn.market_status = False
            return
        if not isinstance(event, str) or event not in _EVENTS:
            allowed = ", ".join(sorted(_EVENTS))
            self._bad(conn, f"event={event!r} is not allowed: pass one of {allowed}")
            return
        action, mode = _EVENTS[event]
        parsed = _parse_tokens(frame.get("inputtoken"))
        if parsed is None:
            self._bad(conn, "inputtoken must be a string like 'nse_cm|11536,nse_cm|1594'")
            return
        tokens = list(dict.fromkeys(parsed))  # a token twice in one frame counts once
        if action == "subscribe":
            self._subscribe(conn, mode, tokens, ack=bool(frame.get("ack_symbol")))
        elif action == "unsubscribe":
            self._counts["unsubscribe_frames"] += 1
            self._unsubscribe(conn, mode, tokens)
        else:
            self._counts["snapshot_frames"] += 1
            if len(tokens) > MAX_SUBSCRIPTIONS:
                self._too_many(conn, len(tokens), "this snapshot asks for")
                return
            if frame.get("ack_symbol"):
                self._ack(conn, tokens)
            self._send_packets(conn, [(seg, tok, mode) for seg, tok in tokens])

    def _bad(self, conn: _Conn, message: str) -> None:
        self._counts["bad_frames"] += 1
        self._text(conn, {"message_code": ERR_BAD_FRAME, "stat": "Not_Ok", "msg": message})

    def _market_auth(self, conn: _Conn, frame: Mapping[str, object]) -> None:
        emu = self._emu
        user, sid = frame.get("user"), frame.get("auth")
        session = None
        if isinstance(user, str) and isinstance(sid, str):
            session = emu._feed_session_by_sid(user, sid)
        if frame.get("format") != "native_batch":
            session = None
        if session is None or self._take_refusal("market"):
            self._counts["market_auths_refused"] += 1
            if emu.config.feed_auth_failure == "close":
                self._close(conn, 1008, "authentication failed")
                return
            self._text(
                conn,
                {"message_code": AUTH_REPLY, "format": "native_fallback", "stat": "Not_Ok"},
            )
            return
        self._counts["market_auths_accepted"] += 1
        conn.session = session
        conn.authed = True
        exchanges = {
            name: {"value": exchange_id, "divider": wire.DIVIDERS[name]}
            for name, exchange_id in wire.EXCHANGE_IDS.items()
        }
        self._text(
            conn,
            {
                "message_code": AUTH_REPLY,
                "format": "native_batch",
                "stat": "Ok",
                "exchanges": exchanges,
            },
        )

    def _ack(self, conn: _Conn, tokens: Iterable[tuple[str, str]]) -> None:
        book, now = self._emu._book, self._emu.clock()
        symbols: dict[str, str] = {}
        for seg, tok in tokens:
            symbol = book.trading_symbol(seg, _book_token(seg, tok), now)
            if symbol is not None:
                symbols[f"{seg}|{tok}"] = symbol
        self._text(conn, {"message_code": ACK, "trading_symbols": symbols})

    def _too_many(self, conn: _Conn, count: int, what: str) -> None:
        self._text(
            conn,
            {
                "message_code": ERR_TOO_MANY,
                "stat": "Not_Ok",
                "msg": (
                    f"subscription limit exceeded: {what} {count} (token, mode) pairs, at most "
                    f"{MAX_SUBSCRIPTIONS} are allowed; nothing of it was done"
                ),
            },
        )

    def _subscribe(
        self, conn: _Conn, mode: str, tokens: list[tuple[str, str]], *, ack: bool
    ) -> None:
        """Subscribe what is new and known; each book activation that succeeded is kept in
        ``conn.activations``, so unsubscribe and disconnect release exactly those."""
        self._counts["subscribe_frames"] += 1
        book, now = self._emu._book, self._emu.clock()
        with self._lock:
            current = conn.subs.setdefault(mode, set())
            fresh = [pair for pair in tokens if pair not in current]
            total = conn.pairs() + len(fresh)
        if total > MAX_SUBSCRIPTIONS:
            self._too_many(conn, total, "this subscribe would hold")
            return
        known: list[tuple[str, str]] = []
        for seg, tok in fresh:
            book_token = _book_token(seg, tok)
            if book.activate(seg, book_token, now):
                known.append((seg, tok))
        with self._lock:
            current.update(known)
            conn.activations.extend((seg, _book_token(seg, tok)) for seg, tok in known)
        if ack:
            self._ack(conn, tokens)
        self._send_packets(conn, [(seg, tok, mode) for seg, tok in known])

    def _unsubscribe(self, conn: _Conn, mode: str, tokens: list[tuple[str, str]]) -> None:
        book, now = self._emu._book, self._emu.clock()
        with self._lock:
            current = conn.subs.get(mode, set())
            gone = [pair for pair in tokens if pair in current]
            current.difference_update(gone)
            released = []
            for seg, tok in gone:
                key = (seg, _book_token(seg, tok))
                if key in conn.activations:
                    conn.activations.remove(key)
                    released.append(key)
        for seg, book_token in released:
            book.deactivate(seg, book_token, now)

    # ------------------------------------------------------------------ packets

    def _packet(self, seg: str, tok: str, mode: str, now: float) -> wire.Packet | None:
        snap = self._emu._book.snapshot(seg, _book_token(seg, tok), now)
        if snap is None:
            return None
        self._seq = (self._seq + 1) & 0xFF
        return build_packet(snap, seg, tok, mode, seq=self._seq)

    def _send_packets(self, conn: _Conn, wanted: Iterable[tuple[str, str, str]]) -> None:
        now = self._emu.clock()
        out: list[bytes] = []
        records: list[SentPacket] = []
        for seg, tok, mode in wanted:
            packet = self._packet(seg, tok, mode, now)
            if packet is None:
                continue
            out.append(packet.encode())
            records.append(SentPacket(conn.id, seg, tok, mode, packet))
        self._queue_packets(conn, out, records)

    def _queue_packets(
        self, conn: _Conn, packets: list[bytes], records: Iterable[SentPacket] = ()
    ) -> None:
        """Queue packets in frames and record them for :meth:`FeedControls.sent`, unless
        the feed is stalled (then they are counted as withheld and not recorded)."""
        if not packets:
            return
        with self._lock:
            if conn.kind in self._stalled:
                self._counts["packets_withheld"] += len(packets)
                return
            self._sent.extend(records)
            self._counts["packets_sent"] += len(packets)
            for frame in wire.batch(packets):
                self._push(conn, "bytes", frame)

    def _send_status(self, conn: _Conn) -> None:
        now = self._emu.clock()
        packets: list[bytes] = []
        records: list[SentPacket] = []
        for seg in _STATUS_SEGMENTS:
            is_open = market_open(seg, now)
            packet = wire.StatusPacket(
                wire.EXCHANGE_IDS[seg],
                wire.MSG_MARKET_STATUS,
                1 if is_open else 2,
                "OPEN" if is_open else "CLOSE",
            )
            packets.append(packet.encode())
            records.append(SentPacket(conn.id, seg, "", "status", packet))
        self._queue_packets(conn, packets, records)

    # ------------------------------------------------------------------ ticker

    def _ensure_ticker(self) -> None:
        if self._ticker is None or self._ticker.done():
            self._ticker = asyncio.get_running_loop().create_task(self._tick_loop())

    async def _tick_loop(self) -> None:
        while True:
            with self._lock:
                if not self._conns:
                    self._ticker = None
                    return
            try:
                self.tick()
            except Exception:  # keep ticking; a bug shows in the log once per tick
                logger.exception("feed ticker failed")
            await asyncio.sleep(tick_interval(self._emu.config.tick_rate))

    def tick(self) -> None:
        """Advance the market to now and send what changed (the ticker's one step)."""
        emu = self._emu
        now = emu.clock()
        changed = emu._book.advance(now)
        self._check_sessions(now)
        self._check_market_status(now)
        if not changed:
            return
        changed_set = set(changed)
        with self._lock:
            conns = [c for c in self._conns.values() if c.kind == "market" and c.authed]
        cache: dict[tuple[str, str, str], tuple[bytes, wire.Packet] | None] = {}
        for conn in conns:
            out: list[bytes] = []
            records: list[SentPacket] = []
            with self._lock:
                subs = [(mode, list(pairs)) for mode, pairs in conn.subs.items()]
            for mode, pairs in subs:
                for seg, tok in pairs:
                    if (seg, _book_token(seg, tok)) not in changed_set:
                        continue
                    key = (seg, tok, mode)
                    if key not in cache:
                        cache[key] = self._built(seg, tok, mode, now)
                    built = cache[key]
                    if built is None:
                        continue
                    out.append(built[0])
                    records.append(SentPacket(conn.id, seg, tok, mode, built[1]))
            self._queue_packets(conn, out, records)

    def _built(self, seg: str, tok: str, mode: str, now: float) -> tuple[bytes, wire.Packet] | None:
        """One packet, encoded; ``None`` (logged once per instrument) if it cannot be built,
        so one bad instrument never costs the other connections their step."""
        try:
            packet = self._packet(seg, tok, mode, now)
            return None if packet is None else (packet.encode(), packet)
        except Exception:
            self._counts["packet_errors"] += 1
            if (seg, tok) not in self._bad_packets:
                self._bad_packets.add((seg, tok))
                logger.exception("the feed could not build a packet for %s|%s", seg, tok)
            return None

    def check_sessions(self) -> None:
        """Close the feeds of sessions that ended (if ``feeds_close_on_expiry``)."""
        self._check_sessions(self._emu.clock())

    def _check_sessions(self, now: float) -> None:
        with self._lock:
            for conn in list(self._conns.values()):
                late = conn.loop.time() - conn.opened > AUTH_TIMEOUT
                if late and not conn.authed and not conn.closing:
                    self._counts["closed_auth_timeout"] += 1
                    self._close_locked(conn, 1008, "no authentication within 30 s")
        if not self._emu.config.feeds_close_on_expiry:
            return
        with self._lock:
            for conn in list(self._conns.values()):
                session = conn.session
                if session is not None and not session.usable(now) and not conn.closing:
                    self._counts["closed_session_ended"] += 1
                    self._close_locked(conn, 1008, f"session {session.ended or 'expired'}")

    def _check_market_status(self, now: float) -> None:
        for seg in _STATUS_SEGMENTS:
            is_open = market_open(seg, now)
            before = self._status.get(seg)
            self._status[seg] = is_open
            if before is None or before == is_open:
                continue
            code = wire.MSG_MARKET_OPEN if is_open else wire.MSG_MARKET_CLOSE
            packet = wire.StatusPacket(wire.EXCHANGE_IDS[seg], code)
            with self._lock:
                targets = [c for c in self._conns.values() if c.market_status]
            for conn in targets:
                record = SentPacket(conn.id, seg, "", "status", packet)
                self._queue_packets(conn, [packet.encode()], [record])

    # ------------------------------------------------------------------ order feed

    def _on_order_frame(self, conn: _Conn, text: str) -> None:
        emu = self._emu
        if text.strip() in ("{type:hb}", '{"type":"hb"}'):
            self._counts["order_heartbeats"] += 1
            return
        if conn.authed:
            self._counts["bad_frames"] += 1
            self._text(conn, {"ak": "nk", "type": "error", "msg": "invalid request format"})
            return
        match = _HANDSHAKE.fullmatch(text.strip())
        if match is None:
            self._counts["bad_frames"] += 1
            self._text(conn, {"ak": "nk", "type": "cn", "msg": "invalid request format"})
            return
        token, sid, _src = match.groups()
        session = emu._feed_session_by_token(token, sid)
        if session is None or self._take_refusal("order"):
            self._counts["order_auths_refused"] += 1
            self._text(conn, {"ak": "nk", "type": "cn", "msg": "Authentication Failed"})
            if emu.config.feed_auth_failure == "close":
                self._close(conn, 1008, "authentication failed")
            return
        self._counts["order_auths_accepted"] += 1
        # The state and the number of the last book event it reflects, read together: a
        # queued event at or below that number is already in the state and is skipped.
        seq, state = emu._book.order_feed_state_at(session.ucc)
        with self._lock:
            conn.session = session
            conn.authed = True
            conn.state_seq = seq
            self._push(conn, "text", json.dumps({"ak": "ok", "type": "cn", "msg": "connected"}))
            for message in state:
                self._push_order_message(conn, message)

    def _push_order_message(self, conn: _Conn, message: Mapping[str, object]) -> None:
        """Queue one order/position message (``self._lock`` held)."""
        if conn.kind in self._stalled:
            self._counts["order_messages_withheld"] += 1
            return
        self._counts["order_feed_messages"] += 1
        self._push(conn, "text", json.dumps(message, separators=(",", ":")))

    def _on_book_event(self, ucc: str, message: dict[str, Any]) -> None:
        """Book listener: called under the book's lock, from any thread; only enqueues."""
        loop = self._loop
        if loop is None:
            return
        seq = self._emu._book.event_seq  # this event's number (read under the book's lock)
        with contextlib.suppress(RuntimeError):  # the loop has finished
            loop.call_soon_threadsafe(self._dispatch_order_event, ucc, message, seq)

    def _dispatch_order_event(self, ucc: str, message: dict[str, Any], seq: int) -> None:
        with self._lock:
            for conn in self._conns.values():
                session = conn.session
                if (
                    conn.kind == "order"
                    and conn.authed
                    and session is not None
                    and session.ucc == ucc
                    and seq > conn.state_seq
                ):
                    self._push_order_message(conn, message)

    async def _burst(
        self,
        targets: list[_Conn],
        template: bytearray,
        offset: int,
        step: int,
        packets: int,
        per_frame: int,
    ) -> None:
        base = struct.unpack_from("<I", template, offset)[0]
        moves = [base + step * (i if i <= 50 else 100 - i) for i in range(100)]
        size = len(template)
        frame = bytearray(size * per_frame)
        for i in range(per_frame):
            frame[i * size : (i + 1) * size] = template
        sent = 0
        while sent < packets:
            count = min(per_frame, packets - sent)
            for i in range(count):
                struct.pack_into("<I", frame, i * size + offset, moves[(sent + i) % 100])
            payload = bytes(frame[: count * size])
            for conn in targets:
                while conn.data_frames >= MAX_OUTBOX // 2 and not conn.closing:
                    conn.room.clear()
                    await conn.room.wait()
                with self._lock:
                    if conn.kind in self._stalled:
                        self._counts["packets_withheld"] += count
                        continue
                    self._counts["packets_sent"] += count
                    self._push(conn, "bytes", payload)
            sent += count
            await asyncio.sleep(0)

    # ------------------------------------------------------------------ faults

    def _take_refusal(self, kind: str) -> bool:
        with self._lock:
            if kind not in self._refuse:
                return False
            left = self._refuse[kind]
            if left is None:
                return True
            if left <= 1:
                del self._refuse[kind]
            else:
                self._refuse[kind] = left - 1
            return True


_STATUS_SEGMENTS = ("nse_cm", "nse_fo", "bse_cm", "bse_fo", "mcx_fo")


def market_open(seg: str, now: float) -> bool:
    """Whether ``seg``'s session (09:15-15:30 IST on weekdays; MCX 09:00-23:30) is on."""
    return _session_time(now, seg) == now


def tick_interval(tick_rate: float) -> float:
    """Seconds between ticker steps: half a walk step, between 2 ms and 50 ms."""
    if tick_rate <= 0:
        return 0.05
    return max(0.002, min(0.05, 0.5 / tick_rate))


def _parse_tokens(value: object) -> list[tuple[str, str]] | None:
    if not isinstance(value, str) or not value.strip():
        return None
    out: list[tuple[str, str]] = []
    for part in value.split(","):
        seg, sep, tok = part.strip().partition("|")
        if not sep or not seg or not tok:
            return None
        out.append((seg.strip().lower(), tok.strip()))
    return out


def _book_token(seg: str, tok: str) -> str:
    """The book's token for a subscribed one: index numbers map to their names."""
    return _INDEX_NAMES.get((seg, tok), tok)


def _pct(change: int, base: int) -> int:
    return round(change * 10_000 / base) if base else 0


def build_packet(snap: FeedSnapshot, seg: str, tok: str, mode: str, *, seq: int = 0) -> wire.Packet:
    """The packet ``mode`` sends for ``snap`` (a ``TradingBook.snapshot``), in wire integers."""
    exchange = wire.EXCHANGE_IDS[seg]
    divider = wire.DIVIDERS[seg]
    precision = _PRECISION.get(divider, 2)

    def p(paise: int) -> int:
        return wire.wire_price(paise, divider)

    change = snap.ltp - snap.close
    if mode == "index":
        name = snap.token if not snap.token.isdigit() else _INDEX_NAMES.get((seg, tok), tok)
        number = INDEX_TOKENS.get((seg, name), int(tok) if tok.isdigit() else 0)
        return wire.IndexPacket(
            exchange,
            number,
            p(snap.open),
            p(snap.close),
            p(snap.high),
            p(snap.low),
            p(snap.ltp),
            int(snap.ltt),
            p(snap.year_high),
            p(snap.year_low),
            _pct(change, snap.close),
            0.0,
            precision,
            1,
            name,
            seq,
        )
    token = int(snap.token) if str(snap.token).isdigit() else 0
    if mode == "scrips_lite":
        return wire.MiniTouchLine(
            exchange,
            token,
            int(snap.ltt),
            p(snap.ltp),
            snap.ltq,
            p(snap.close),
            _pct(change, snap.close),
            p(change),  # exact for negatives too: every divider is a multiple of 100
            snap.lot_size,
            precision,
            1,
            seq,
        )
    level = MODES[mode][1]
    buy, sell = snap.depth(_DEPTH_ROWS[level])
    return wire.MarketPicture(
        exchange,
        level,
        token,
        snap.total_buy_qty,
        snap.total_sell_qty,
        snap.volume,
        int(snap.ltt),
        int(snap.ltt),
        p(snap.open),
        p(snap.close),
        p(snap.high),
        p(snap.low),
        p(snap.ltp),
        snap.ltq,
        p(snap.avg_price),
        0,
        1,
        _pct(change, snap.close),
        snap.open_interest,
        snap.volume * snap.avg_price * divider / 100,  # rupees x divider
        p(change),  # exact for negatives too: every divider is a multiple of 100
        p(snap.upper_circuit),
        p(snap.lower_circuit),
        p(snap.year_high),
        p(snap.year_low),
        snap.lot_size,
        precision,
        1,
        tuple((q, p(pr), o) for q, pr, o in buy),
        tuple((q, p(pr), o) for q, pr, o in sell),
        0,
        seq,
    )


class FeedControls:
    """Faults and counters of the emulator's feeds: ``emulator.feeds``.

    Every method is thread-safe and returns at once: closes and stalls take effect on the
    server's event loop moments later (poll :meth:`counters` or the connection count).
    ``kind`` is ``"market"``, ``"order"`` or ``None`` (both).
    """

    def __init__(self, hub: FeedHub) -> None:
        self._hub = hub

    @staticmethod
    def _kinds(kind: str | None) -> tuple[str, ...]:
        if kind is None:
            return FEED_KINDS
        if kind not in FEED_KINDS:
            raise ValueError(f"kind={kind!r} is not allowed: pass 'market', 'order' or None")
        return (kind,)

    def drop(
        self,
        kind: str | None = None,
        *,
        code: int = 1012,
        reason: str = "",
        server: tuple[str, int] | None = None,
    ) -> int:
        """Close every open connection of ``kind`` with ``code``; returns how many.

        ``server`` (``(host, port)``): only the connections that server accepted (one
        emulator may be served by several; :meth:`EmulatorServer.stop` drops its own).
        """
        kinds = self._kinds(kind)
        if (
            isinstance(code, bool)
            or not isinstance(code, int)
            or not (code in CLOSE_CODES or 3000 <= code <= 4999)
        ):
            allowed = ", ".join(map(str, sorted(CLOSE_CODES)))
            raise ValueError(f"code={code!r} is not allowed: pass one of {allowed} or 3000-4999")
        if not isinstance(reason, str) or len(reason.encode()) > 120:
            raise ValueError("reason is not allowed: pass a string of at most 120 bytes")
        hub = self._hub
        count = 0
        with hub._lock:
            for conn in list(hub._conns.values()):
                if server is not None and conn.server != server:
                    continue
                if conn.kind in kinds and not conn.closing:
                    hub._close_locked(conn, code, reason)
                    count += 1
            hub._counts["dropped_by_control"] += count
        return count

    def stall(self, kind: str | None = None) -> None:
        """Stop sending data (packets, order messages) on ``kind``; sockets stay open.

        Auth replies and acks still go out: what a feed that "authenticated,
        acknowledged the subscription and then went quiet" does. Data not sent while
        stalled is lost, as on a dead real feed. New connections are stalled too.
        """
        with self._hub._lock:
            self._hub._stalled.update(self._kinds(kind))

    def resume(self, kind: str | None = None) -> None:
        """Undo :meth:`stall` for ``kind``."""
        with self._hub._lock:
            self._hub._stalled.difference_update(self._kinds(kind))

    def refuse_auth(self, kind: str | None = None, *, times: int | None = None) -> None:
        """Refuse the next ``times`` feed auths of ``kind`` (``None``: every one, until
        :meth:`allow_auth`), as if the session were dead."""
        if times is not None and (isinstance(times, bool) or not isinstance(times, int)):
            raise ValueError(f"times={times!r} is not allowed: pass a positive int or None")
        if times is not None and times < 1:
            raise ValueError(f"times={times!r} is not allowed: pass a positive int or None")
        with self._hub._lock:
            for k in self._kinds(kind):
                self._hub._refuse[k] = times

    def allow_auth(self, kind: str | None = None) -> None:
        """Undo :meth:`refuse_auth` for ``kind``."""
        with self._hub._lock:
            for k in self._kinds(kind):
                self._hub._refuse.pop(k, None)

    def clear(self) -> None:
        """Undo every stall and auth refusal."""
        with self._hub._lock:
            self._hub._stalled.clear()
            self._hub._refuse.clear()

    def connections(self, kind: str | None = None, *, server: tuple[str, int] | None = None) -> int:
        """How many connections of ``kind`` (accepted by ``server``, if given) are open."""
        kinds = self._kinds(kind)
        with self._hub._lock:
            return sum(
                1
                for c in self._hub._conns.values()
                if c.kind in kinds and (server is None or c.server == server)
            )

    def counters(self) -> dict[str, int]:
        """Counts since the start (or :meth:`reset_counters`): connections and auths per
        kind, subscribe/unsubscribe/snapshot frames, packets and frames sent, frames
        dropped for slow readers, order-feed messages, bad frames, server closes."""
        names = (
            "market_connections",
            "order_connections",
            "market_auths_accepted",
            "market_auths_refused",
            "order_auths_accepted",
            "order_auths_refused",
            "subscribe_frames",
            "unsubscribe_frames",
            "snapshot_frames",
            "packets_sent",
            "packets_withheld",
            "frames_sent",
            "frames_dropped",
            "order_feed_messages",
            "order_messages_withheld",
            "order_heartbeats",
            "bad_frames",
            "closed_by_server",
            "closed_session_ended",
            "closed_slow_consumer",
            "closed_auth_timeout",
            "packet_errors",
            "dropped_by_control",
        )
        with self._hub._lock:
            out = {name: self._hub._counts[name] for name in names}
            conns = self._hub._conns.values()
            out["market_connections_open"] = sum(1 for c in conns if c.kind == "market")
            out["order_connections_open"] = sum(1 for c in conns if c.kind == "order")
        return out

    def reset_counters(self) -> None:
        with self._hub._lock:
            self._hub._counts.clear()

    def sent(self, *, mode: str | None = None) -> list[SentPacket]:
        """The packets sent on market connections, oldest first (at most the last
        20,000), optionally only those of ``mode``."""
        with self._hub._lock:
            return [s for s in self._hub._sent if mode is None or s.mode == mode]

    def tick(self) -> None:
        """Run one ticker step now (tests that drive the clock by hand)."""
        hub = self._hub
        loop = hub._loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is None or running is loop or loop.is_closed() or not loop.is_running():
            hub.tick()  # no server loop to hand it to (or already on it): step here
            return
        future = asyncio.run_coroutine_threadsafe(_call(hub.tick), loop)
        with contextlib.suppress(RuntimeError, concurrent.futures.CancelledError):
            future.result(10)

    def push_market_status(self, segment: str, status_code: int) -> int:
        """Send a 105 market-status packet with ``status_code`` (1-12) for ``segment`` to
        every connection that subscribed to exchange status; returns how many."""
        _check_segment(segment)
        if isinstance(status_code, bool) or not isinstance(status_code, int):
            raise ValueError(f"status_code={status_code!r} is not allowed: pass 1 to 12")
        if not 1 <= status_code <= 12:
            raise ValueError(f"status_code={status_code!r} is not allowed: pass 1 to 12")
        packet = wire.StatusPacket(wire.EXCHANGE_IDS[segment], wire.MSG_MARKET_STATUS, status_code)
        return self._broadcast_status(segment, packet)

    def push_open_close(self, segment: str, *, is_open: bool) -> int:
        """Send a header-only market open (6511) or close (6521) packet for ``segment``
        to every connection that subscribed to exchange status; returns how many."""
        _check_segment(segment)
        code = wire.MSG_MARKET_OPEN if is_open else wire.MSG_MARKET_CLOSE
        return self._broadcast_status(segment, wire.StatusPacket(wire.EXCHANGE_IDS[segment], code))

    def _broadcast_status(self, segment: str, packet: wire.StatusPacket) -> int:
        hub = self._hub
        with hub._lock:
            targets = [c for c in hub._conns.values() if c.market_status and c.authed]
        for conn in targets:
            record = SentPacket(conn.id, segment, "", "status", packet)
            hub._queue_packets(conn, [packet.encode()], [record])
        return len(targets)

    def push_cas(
        self, segment: str, token: str, *, ref_price: int, imbalance_qty: int, at_market: int
    ) -> int:
        """Send a closing-auction (104) packet, ``ref_price`` in paise, to every connection
        subscribed to ``segment|token`` in a scrips or depth mode; returns how many."""
        _check_segment(segment)
        if not str(token).isdigit():
            raise ValueError(f"token={token!r} is not allowed: pass a numeric instrument token")
        hub = self._hub
        packet = wire.CasPacket(
            wire.EXCHANGE_IDS[segment],
            int(token),
            wire.wire_price(ref_price, wire.DIVIDERS[segment]),
            imbalance_qty,
            at_market,
        )
        with hub._lock:
            targets = [
                c
                for c in hub._conns.values()
                if any(
                    (segment, str(token)) in c.subs.get(m, ())
                    for m in ("scrips", "depth", "full_depth")
                )
            ]
        for conn in targets:
            record = SentPacket(conn.id, segment, str(token), "cas", packet)
            hub._queue_packets(conn, [packet.encode()], [record])
        return len(targets)

    def burst(
        self, segment: str, token: str, *, packets: int, mode: str = "scrips", per_frame: int = 50
    ) -> int:
        """Push ``packets`` packets of ``segment|token`` to every connection subscribed to
        it in ``mode``, as fast as the sockets take them, ``per_frame`` to a frame; returns
        how many connections get them.

        For throughput benchmarks: the packet is built once from the instrument's current
        snapshot and its LTP is rewritten in place (one tick up or down each time, within
        50 ticks), so the cost is the emulator's transport, not its market model. Burst
        packets count in ``packets_sent`` but are not kept by :meth:`sent`; they wait for
        room in each connection's outbox instead of dropping older frames.
        """
        if mode not in ("scrips", "scrips_lite", "depth", "full_depth"):
            raise ValueError(
                f"mode={mode!r} is not allowed: pass 'scrips', 'scrips_lite', 'depth' or "
                "'full_depth'"
            )
        for name, value in (("packets", packets), ("per_frame", per_frame)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r} is not allowed: pass an int >= 1")
        hub = self._hub
        loop = hub._loop
        if loop is None or loop.is_closed() or not loop.is_running():
            return 0
        now = hub._emu.clock()
        snap = hub._emu._book.snapshot(segment, _book_token(segment, token), now)
        if snap is None:
            raise ValueError(f"instrument {segment}|{token} is not known")
        template = bytearray(build_packet(snap, segment, token, mode).encode())
        with hub._lock:
            targets = [c for c in hub._conns.values() if (segment, token) in c.subs.get(mode, ())]
        if targets:
            offset = 21 if mode == "scrips_lite" else 69
            step = wire.wire_price(snap.tick, wire.DIVIDERS[segment])
            job = hub._burst(targets, template, offset, step, packets, per_frame)
            asyncio.run_coroutine_threadsafe(job, loop)
        return len(targets)


def _check_segment(segment: str) -> None:
    if segment not in wire.EXCHANGE_IDS:
        allowed = ", ".join(wire.EXCHANGE_IDS)
        raise ValueError(f"segment={segment!r} is not allowed: pass one of {allowed}")


async def _call(fn: Callable[[], None]) -> None:
    fn()
