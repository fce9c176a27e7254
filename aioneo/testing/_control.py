"""The emulator's control API over HTTP, under ``/__emulator/`` (no Kotak path uses it).

Each route calls the in-process method of the same name on :class:`Emulator`, so the two
surfaces cannot drift apart. Bodies are JSON objects; answers are JSON; a bad value gets
HTTP 400 ``{"error": "<what is wrong and what is allowed>"}``.

==========  ===================================  ==========================================
Method      Path (under ``/__emulator``)         Does
==========  ===================================  ==========================================
GET         ``/``                                lists these routes
GET         ``/credentials``                     demo credentials, ``login_url``, ``base_url``
GET / POST  ``/config``                          read / change switches (``configure``)
POST        ``/sessions/expire``                 ``{"ucc": null}`` -> ``{"ended": n}``
POST        ``/sessions/revoke``                 same, as a revocation
POST        ``/faults``                          ``{"endpoint", "kind", "count"?, "delay"?}``
DELETE      ``/faults``                          clear faults, end hung requests
POST        ``/scrip-files``                     ``{"mode", "segment"?}``: serve the scrip
                                                 master whole, header-only or truncated
POST        ``/holds``                           ``{"endpoint"}`` -> ``{"id", ...}``
GET         ``/holds/{id}``                      ``{"id", "endpoint", "waiting", "released"}``
POST        ``/holds/{id}/release``              release it
GET         ``/counters``                        counters snapshot
POST        ``/counters/reset``                  zero counters, forget recorded requests
GET         ``/requests?endpoint=&limit=``       recorded requests, oldest first
GET         ``/orders``                          order book rows of every account
GET         ``/feeds``                           feed counters, open connections, URLs
POST        ``/feeds/drop``                      ``{"kind"?, "code"?, "reason"?}`` -> ``{"closed"}``
POST        ``/feeds/stall``                     ``{"kind"?}``: sockets open, no data
POST        ``/feeds/resume``                    ``{"kind"?}``: undo a stall
POST        ``/feeds/refuse-auth``               ``{"kind"?, "times"?}``: refuse feed auths
POST        ``/feeds/allow-auth``                ``{"kind"?}``: undo refuse-auth
POST        ``/feeds/market-status``             ``{"segment", "status_code"}`` (105 packet)
POST        ``/feeds/burst``                     ``{"segment", "token", "packets", "mode"?,
                                                 "per_frame"?}``: a packet burst (benchmarks)
POST        ``/feeds/counters/reset``            zero the feed counters
GET         ``/market``                          ``tick_rate`` and the live instruments
GET         ``/market/snapshot?instrument=``     what the market feed sends for it now
POST        ``/market/price``                    ``{"instrument", "price"}`` (``set_price``)
POST        ``/market/tick``                     ``{"instrument", "price", "qty"?}``
==========  ===================================  ==========================================

Market routes take ``instrument`` as ``"nse_cm|11536"``, ``"nse_cm|TCS-EQ"``, a trading
symbol or an index name, and ``price`` in rupees as a string or number (``"3450.05"``);
snapshots are in integer paise. ``tick_rate`` is changed through ``/config``.
"""

from __future__ import annotations

import dataclasses
import json
import urllib.parse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aioneo.testing._app import Emulator, Hold
    from aioneo.testing._trading import FeedSnapshot

__all__ = ["ROUTES", "handle_control"]

ROUTES = [
    "GET /__emulator/credentials",
    "GET /__emulator/config",
    "POST /__emulator/config",
    "POST /__emulator/sessions/expire",
    "POST /__emulator/sessions/revoke",
    "POST /__emulator/faults",
    "DELETE /__emulator/faults",
    "POST /__emulator/scrip-files",
    "POST /__emulator/holds",
    "GET /__emulator/holds/{id}",
    "POST /__emulator/holds/{id}/release",
    "GET /__emulator/counters",
    "POST /__emulator/counters/reset",
    "GET /__emulator/requests",
    "GET /__emulator/orders",
    "GET /__emulator/feeds",
    "POST /__emulator/feeds/drop",
    "POST /__emulator/feeds/stall",
    "POST /__emulator/feeds/resume",
    "POST /__emulator/feeds/refuse-auth",
    "POST /__emulator/feeds/allow-auth",
    "POST /__emulator/feeds/market-status",
    "POST /__emulator/feeds/burst",
    "POST /__emulator/feeds/counters/reset",
    "GET /__emulator/market",
    "GET /__emulator/market/snapshot",
    "POST /__emulator/market/price",
    "POST /__emulator/market/tick",
]


class _BadRequest(Exception):
    pass


def _body(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        return {}
    try:
        payload = json.loads(raw)
    except ValueError:
        raise _BadRequest("the request body is not valid JSON: send a JSON object") from None
    if not isinstance(payload, dict):
        raise _BadRequest(f"the request body must be a JSON object, got {type(payload).__name__}")
    return payload


def _hold_view(hold_id: int, hold: Hold) -> dict[str, Any]:
    return {
        "id": hold_id,
        "endpoint": hold.endpoint,
        "waiting": hold.waiting,
        "released": hold.released,
    }


def _only(payload: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(payload) - allowed)
    if unknown:
        raise _BadRequest(
            f"unknown field(s) {', '.join(map(repr, unknown))}: allowed are "
            f"{', '.join(sorted(allowed)) or 'none'}"
        )


def handle_control(
    emu: Emulator, method: str, path: str, query: str, raw_body: bytes
) -> tuple[int, Any]:
    """Answer one control request: ``(HTTP status, JSON-able payload)``."""
    parts = [p for p in path.split("/") if p][1:]  # drop "__emulator"
    route = "/".join(parts)
    try:
        return _dispatch(emu, method, route, parts, query, raw_body)
    except (_BadRequest, ValueError, TypeError) as exc:
        return 400, {"error": str(exc)}


def _dispatch(
    emu: Emulator, method: str, route: str, parts: list[str], query: str, raw_body: bytes
) -> tuple[int, Any]:
    def wrong_method(*allowed: str) -> tuple[int, Any]:
        return 405, {"error": f"{method} is not allowed here: use {' or '.join(allowed)}"}

    if route == "":
        return 200, {"routes": ROUTES}
    if route == "credentials":
        if method != "GET":
            return wrong_method("GET")
        return 200, {
            **emu.credentials.as_dict(),
            "login_url": emu.login_url,
            "base_url": emu.base_url,
        }
    if route == "config":
        if method == "GET":
            return 200, emu.config.public_dict()
        if method == "POST":
            return 200, emu.configure(**_body(raw_body)).public_dict()
        return wrong_method("GET", "POST")
    if route in ("sessions/expire", "sessions/revoke"):
        if method != "POST":
            return wrong_method("POST")
        payload = _body(raw_body)
        _only(payload, {"ucc"})
        ucc = payload.get("ucc")
        if ucc is not None and not isinstance(ucc, str):
            raise _BadRequest(f"ucc={ucc!r} is not allowed: pass a string or null")
        ended = emu.expire_sessions(ucc) if route.endswith("expire") else emu.revoke_sessions(ucc)
        return 200, {"ended": ended}
    if route == "faults":
        if method == "POST":
            payload = _body(raw_body)
            _only(payload, {"endpoint", "kind", "count", "delay"})
            if "endpoint" not in payload or "kind" not in payload:
                raise _BadRequest("send a JSON object with 'endpoint' and 'kind'")
            emu.inject_fault(
                payload["endpoint"],
                payload["kind"],
                count=payload.get("count", 1),
                delay=payload.get("delay"),
            )
            return 200, {"queued": True}
        if method == "DELETE":
            emu.clear_faults()
            return 200, {"cleared": True}
        return wrong_method("POST", "DELETE")
    if route == "scrip-files":
        if method != "POST":
            return wrong_method("POST")
        payload = _body(raw_body)
        _only(payload, {"mode", "segment"})
        if "mode" not in payload:
            raise _BadRequest("send a JSON object with 'mode' (and 'segment', or null for all)")
        emu.set_scrip_file(payload["mode"], segment=payload.get("segment"))
        return 200, {"mode": payload["mode"], "segment": payload.get("segment")}
    if parts and parts[0] == "holds":
        return _holds(emu, method, parts[1:], raw_body)
    if route == "counters":
        if method != "GET":
            return wrong_method("GET")
        return 200, emu.counters.as_dict()
    if route == "counters/reset":
        if method != "POST":
            return wrong_method("POST")
        emu.reset_counters()
        return 200, {"reset": True}
    if route == "requests":
        if method != "GET":
            return wrong_method("GET")
        params = dict(urllib.parse.parse_qsl(query))
        records = emu.requests
        if "endpoint" in params:
            records = [r for r in records if r.endpoint == params["endpoint"]]
        if "limit" in params:
            try:
                limit = int(params["limit"])
            except ValueError:
                raise _BadRequest(
                    f"limit={params['limit']!r} is not allowed: pass an integer >= 0"
                ) from None
            records = records[-limit:] if limit > 0 else []
        return 200, [r.as_dict() for r in records]
    if parts and parts[0] == "feeds":
        return _feeds(emu, method, "/".join(parts[1:]), raw_body)
    if parts and parts[0] == "market":
        return _market(emu, method, parts[1:], query, raw_body)
    if route == "orders":
        if method != "GET":
            return wrong_method("GET")
        return 200, emu.orders
    return 404, {"error": f"no control route {method} /__emulator/{route}", "routes": ROUTES}


def _holds(emu: Emulator, method: str, rest: list[str], raw_body: bytes) -> tuple[int, Any]:
    holds = emu._control_holds
    if not rest:
        if method != "POST":
            return 405, {"error": f"{method} is not allowed here: use POST"}
        payload = _body(raw_body)
        _only(payload, {"endpoint"})
        if "endpoint" not in payload:
            raise _BadRequest("send a JSON object with 'endpoint'")
        hold = emu.hold(payload["endpoint"])
        hold_id = max(holds, default=0) + 1
        holds[hold_id] = hold
        return 200, _hold_view(hold_id, hold)
    try:
        hold_id = int(rest[0])
        hold = holds[hold_id]
    except (ValueError, KeyError):
        return 404, {"error": f"no hold with id {rest[0]!r}"}
    if len(rest) == 1 and method == "GET":
        return 200, _hold_view(hold_id, hold)
    if rest[1:] == ["release"] and method == "POST":
        hold.release()
        return 200, _hold_view(hold_id, hold)
    return 404, {"error": "use GET /__emulator/holds/{id} or POST /__emulator/holds/{id}/release"}


def _feeds(emu: Emulator, method: str, rest: str, raw_body: bytes) -> tuple[int, Any]:
    """The ``/feeds`` routes: each calls the ``emu.feeds`` method of the same name."""
    feeds = emu.feeds
    if rest == "":
        if method != "GET":
            return 405, {"error": f"{method} is not allowed here: use GET"}
        try:
            urls: dict[str, str] | None = emu.feed_urls()
        except RuntimeError:
            urls = None
        return 200, {"counters": feeds.counters(), "urls": urls}
    if method != "POST":
        return 405, {"error": f"{method} is not allowed here: use POST"}
    payload = _body(raw_body)
    if rest == "drop":
        _only(payload, {"kind", "code", "reason"})
        closed = feeds.drop(
            payload.get("kind"), code=payload.get("code", 1012), reason=payload.get("reason", "")
        )
        return 200, {"closed": closed}
    if rest in ("stall", "resume", "allow-auth"):
        _only(payload, {"kind"})
        {"stall": feeds.stall, "resume": feeds.resume, "allow-auth": feeds.allow_auth}[rest](
            payload.get("kind")
        )
        return 200, {"ok": True}
    if rest == "refuse-auth":
        _only(payload, {"kind", "times"})
        feeds.refuse_auth(payload.get("kind"), times=payload.get("times"))
        return 200, {"ok": True}
    if rest == "market-status":
        _only(payload, {"segment", "status_code"})
        if "segment" not in payload or "status_code" not in payload:
            raise _BadRequest("send a JSON object with 'segment' and 'status_code'")
        sent = feeds.push_market_status(payload["segment"], payload["status_code"])
        return 200, {"connections": sent}
    if rest == "burst":
        _only(payload, {"segment", "token", "packets", "mode", "per_frame"})
        if not {"segment", "token", "packets"} <= set(payload):
            raise _BadRequest("send a JSON object with 'segment', 'token' and 'packets'")
        targets = feeds.burst(
            payload["segment"],
            str(payload["token"]),
            packets=payload["packets"],
            mode=payload.get("mode", "scrips"),
            per_frame=payload.get("per_frame", 50),
        )
        return 200, {"connections": targets}
    if rest == "counters/reset":
        _only(payload, set())
        feeds.reset_counters()
        return 200, {"reset": True}
    return 404, {"error": f"no control route {method} /__emulator/feeds/{rest}", "routes": ROUTES}


# --- the moving market (issue 11 item 4): prices, ticks, snapshots ------------------------


def _market(
    emu: Emulator, method: str, rest: list[str], query: str, raw_body: bytes
) -> tuple[int, Any]:
    route = "/".join(rest)
    if route in ("", "snapshot"):
        if method != "GET":
            return 405, {"error": f"{method} is not allowed here: use GET"}
        if route == "":
            live = emu._book.live_instruments()
            return 200, {
                "tick_rate": emu.config.tick_rate,
                "live": [f"{seg}|{token}" for seg, token in live],
            }
        params = dict(urllib.parse.parse_qsl(query))
        if "instrument" not in params:
            raise _BadRequest("pass ?instrument=seg|token (or a trading symbol)")
        return 200, _snapshot_view(emu.market_snapshot(params["instrument"]))
    if route in ("price", "tick"):
        if method != "POST":
            return 405, {"error": f"{method} is not allowed here: use POST"}
        payload = _body(raw_body)
        _only(payload, {"instrument", "price"} | ({"qty"} if route == "tick" else set()))
        if "instrument" not in payload or "price" not in payload:
            raise _BadRequest("send a JSON object with 'instrument' and 'price' (rupees)")
        instrument, price = payload["instrument"], payload["price"]
        if route == "price":
            emu.set_price(instrument, price)
        else:
            emu.push_tick(instrument, price, qty=payload.get("qty"))
        return 200, _snapshot_view(emu.market_snapshot(instrument))
    return 404, {"error": f"no control route {method} /__emulator/market/{route}", "routes": ROUTES}


def _snapshot_view(snap: FeedSnapshot) -> dict[str, Any]:
    view: dict[str, Any] = dataclasses.asdict(snap)
    buy, sell = snap.depth(5)
    view["depth"] = {"buy": [list(r) for r in buy], "sell": [list(r) for r in sell]}
    return view
