"""Turn a :class:`RequestSpec` plus credentials into the exact bytes-level request to send.

:func:`render` is pure: no I/O, no clock, no httpx. The shells build
``httpx.Request(r.method, r.url, headers=r.headers, content=r.content)`` from the result
and send it with ``client.send(...)``. (``client.build_request`` would merge the client's
default headers into these, which changes what goes on the wire.)

What comes out is what SDK 3.0.9 sends for the same call (``kotak-neo-api.md`` 2.2 and 3.2),
header names spelled and ordered as the SDK's transport emits them:

1. ``User-Agent``, then ``Accept: application/json`` (dropped when the call sets its own
   lowercase ``accept``), then ``Accept-Encoding: gzip, deflate``;
2. the credential headers for ``spec.auth``: consumer key in ``Authorization`` (raw, no
   ``Bearer``), ``sid`` (lowercase, validate only) or ``Sid``, ``Auth``, and ``neo-fin-key``
   on the two login steps only; a credential that is ``None`` is left out, as the SDK drops
   ``None`` headers;
3. ``Content-Type`` and the per-call ``accept`` (form calls set Content-Type before
   ``accept``; on JSON calls the SDK's transport appends Content-Type afterwards, so GETs
   carry one too, without a body);
4. ``X-Request-ID`` when ``request_id`` is given.

Intentional differences from the SDK, also listed in ``tests/core/test_wire_conformance.py``:

* ``User-Agent: aioneo/<version>`` instead of ``NeoSDK-Python/3.0.9``: we should not claim to
  be a program we are not, and Kotak can tell the two apart if it ever needs to.
* ``X-Request-ID`` only when the shell passes one (the SDK always sends a fresh uuid4).
* No ``X-Client-ID``: the SDK sends the first 8 characters of the consumer key there,
  which leaks part of a credential into every proxy log.

URLs: host with its trailing ``/`` removed, ``/``, then the path with its leading ``/``
removed, so a path prefix in ``baseUrl`` is kept. Trade-host calls made before a login
(``base_url`` is ``None``: only the market-data calls make sense then) go to the login host,
as in the SDK. ``params`` become the query string (``urllib.parse.urlencode``: spaces as
``+``, ``|`` as ``%7C``, the same bytes httpx produces for the SDK). Paths from the builders
are already percent-encoded and are used as they are.

Bodies: ``jdata`` becomes the single form field ``jData=<json.dumps(jdata)>``, URL-encoded
with spaces as ``+``; ``json`` becomes ``json.dumps(json)`` raw. Both keep Python's default
separators and the builders' key order.

The :class:`RenderedRequest` holds secrets (tokens, sid, consumer key; TOTP or MPIN in the
login bodies); its ``repr`` shows header names and the body size only.
"""

from __future__ import annotations

import json
import urllib.parse
from dataclasses import dataclass, field

from aioneo._core._protocol import FORM, JSON, Auth, Host, RequestSpec
from aioneo._version import __version__

__all__ = ["DEFAULT_NEO_FIN_KEY", "USER_AGENT", "RenderedRequest", "render"]

USER_AGENT = f"aioneo/{__version__}"
DEFAULT_NEO_FIN_KEY = "neotradeapi"

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True, slots=True)
class RenderedRequest:
    """One request, ready for ``httpx.Request(method, url, headers=headers, content=content)``.

    ``headers`` is a list of ``(name, value)`` pairs in wire order, names spelled as sent.
    ``content`` is ``None`` when there is no body. The ``repr`` never shows header values or
    the body: they carry credentials.
    """

    method: str
    url: str
    headers: list[tuple[str, str]] = field(repr=False)
    content: bytes | None = field(repr=False)

    def __repr__(self) -> str:
        names = ", ".join(name for name, _ in self.headers)
        size = "no body" if self.content is None else f"{len(self.content)} bytes"
        return f"RenderedRequest({self.method} {self.url}, headers=[{names}], {size})"


def _join(host: str, path: str) -> str:
    return f"{host.rstrip('/')}/{path.lstrip('/')}"


def _credentials(
    auth: Auth,
    *,
    consumer_key: str,
    neo_fin_key: str,
    view_token: str | None,
    view_sid: str | None,
    trade_token: str | None,
    trade_sid: str | None,
) -> list[tuple[str, str | None]]:
    # Names and order as in the SDK's services/*.py header dicts. SDK over docs, twice:
    # Kotak's FAQ wants neo-fin-key on every post-login call, the SDK sends it on the two
    # login steps only; Kotak's order page omits Authorization, the SDK sends it on orders.
    if auth is Auth.NONE:
        return []
    if auth is Auth.LOGIN:
        return [("Authorization", consumer_key), ("neo-fin-key", neo_fin_key)]
    if auth is Auth.VALIDATE:
        return [
            ("Authorization", consumer_key),
            ("sid", view_sid),
            ("Auth", view_token),
            ("neo-fin-key", neo_fin_key),
        ]
    if auth is Auth.CK:
        return [("Authorization", consumer_key)]
    if auth is Auth.SESSION:
        return [("Sid", trade_sid), ("Auth", trade_token)]
    if auth is Auth.SESSION_CK:
        return [("Authorization", consumer_key), ("Sid", trade_sid), ("Auth", trade_token)]
    raise ValueError(f"spec.auth {auth!r} is not an Auth member")  # pragma: no cover


def _body(spec: RequestSpec) -> bytes | None:
    if spec.jdata is not None and spec.json is not None:
        raise ValueError(f"spec {spec.op!r} has both jdata and json; a request has one body")
    if spec.method.upper() not in _BODY_METHODS:
        if spec.jdata is not None or spec.json is not None:
            raise ValueError(f"spec {spec.op!r} is a {spec.method} with a body; only POST has one")
        return None
    if spec.jdata is not None:
        if spec.content_type != FORM:
            raise ValueError(f"spec {spec.op!r}: jdata needs content_type {FORM!r}")
        return urllib.parse.urlencode({"jData": json.dumps(spec.jdata)}).encode("ascii")
    if spec.json is not None:
        if spec.content_type != JSON:
            raise ValueError(f"spec {spec.op!r}: json needs content_type {JSON!r}")
        return json.dumps(spec.json).encode("utf-8")
    return None


def render(
    spec: RequestSpec,
    *,
    login_url: str,
    base_url: str | None,
    consumer_key: str,
    neo_fin_key: str = DEFAULT_NEO_FIN_KEY,
    view_token: str | None = None,
    view_sid: str | None = None,
    trade_token: str | None = None,
    trade_sid: str | None = None,
    request_id: str | None = None,
) -> RenderedRequest:
    """Render ``spec`` with the given hosts and credentials (see the module docstring).

    ``login_url`` is the fixed login host (``https://mis.kotaksecurities.com`` in prod),
    ``base_url`` the ``baseUrl`` from validate, or ``None`` before it is known. Pure: safe to
    call from any thread or task; the same arguments always give the same result.
    """
    # SDK over docs: Kotak's FAQ says market data needs baseUrl (so a login first); the SDK
    # sends it to the login host while no baseUrl is known, and that works.
    host = login_url if spec.host is Host.LOGIN or base_url is None else base_url
    url = _join(host, spec.path)
    if spec.params:
        url = f"{url}?{urllib.parse.urlencode(list(spec.params.items()))}"

    headers: list[tuple[str, str | None]] = [("User-Agent", USER_AGENT)]
    if spec.accept is None:
        headers.append(("Accept", JSON))
    headers.append(("Accept-Encoding", "gzip, deflate"))
    headers += _credentials(
        spec.auth,
        consumer_key=consumer_key,
        neo_fin_key=neo_fin_key,
        view_token=view_token,
        view_sid=view_sid,
        trade_token=trade_token,
        trade_sid=trade_sid,
    )
    # The SDK's form calls put Content-Type in their own header dict (before "accept");
    # calls without one get application/json appended by its transport (after "accept").
    if spec.content_type == FORM:
        headers.append(("Content-Type", spec.content_type))
    if spec.accept is not None:
        headers.append(("accept", spec.accept))
    if spec.content_type != FORM:
        headers.append(("Content-Type", spec.content_type))
    if request_id is not None:
        headers.append(("X-Request-ID", request_id))

    return RenderedRequest(
        method=spec.method.upper(),
        url=url,
        headers=[(name, value) for name, value in headers if value is not None],
        content=_body(spec),
    )
