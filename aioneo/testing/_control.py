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
==========  ===================================  ==========================================
"""

from __future__ import annotations

import json
import urllib.parse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aioneo.testing._app import Emulator, Hold

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
