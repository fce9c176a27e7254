"""AsyncNeoClient and NeoClient are twins: same public names, signatures and docstrings.

Compared through ``inspect.signature(..., eval_str=True)``: parameter names, kinds,
defaults and annotations, and the return annotation with ``Awaitable``/``Coroutine``
unwrapped (an ``async def`` already reports its result type). The only renames are
``aclose``/``close`` and the context-manager dunders; the only type allowed to differ is
the transport (``httpx.AsyncBaseTransport`` / ``httpx.BaseTransport``). Adding a public
method to one client and not the other fails :func:`test_same_public_names`.

:func:`test_every_endpoint_answers_alike_against_one_server` then drives both clients
through every endpoint against one loopback emulator and compares what they return.
"""

from __future__ import annotations

import asyncio
import collections.abc
import datetime as dt
import functools
import inspect
import operator
import types
import typing
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from aioneo import (
    AsyncNeoClient,
    BusinessError,
    Credentials,
    MarketFeed,
    NeoClient,
    OrderFeed,
    SyncMarketFeed,
    SyncOrderFeed,
)
from aioneo.testing import Emulator, EmulatorConfig, EmulatorServer

#: async name -> sync name, where they differ.
RENAMED = {"aclose": "close", "__aenter__": "__enter__", "__aexit__": "__exit__"}
#: Dunders that are part of the public surface.
DUNDERS = {"__init__", "__aenter__", "__aexit__", "__enter__", "__exit__"}
#: async type -> sync type, where the twins must differ.
TWIN_TYPES: dict[Any, Any] = {
    httpx.AsyncBaseTransport: httpx.BaseTransport,
    AsyncNeoClient: NeoClient,
    MarketFeed: SyncMarketFeed,
    OrderFeed: SyncOrderFeed,
}
#: The feeds' async -> sync names, where they differ (the iteration protocols).
FEED_RENAMED = {**RENAMED, "__aiter__": "__iter__", "__anext__": "__next__"}
FEED_DUNDERS = {"__init__", "__aenter__", "__aexit__", "__aiter__", "__anext__"}
FEEDS = [(MarketFeed, SyncMarketFeed), (OrderFeed, SyncOrderFeed)]


def public_names(cls: type) -> set[str]:
    return {
        name
        for name in dir(cls)
        if (not name.startswith("_") or name in DUNDERS)
        and (name in vars(cls) or not name.startswith("__"))
    }


def sync_name(name: str) -> str:
    return RENAMED.get(name, name)


def pairs() -> list[str]:
    return sorted(public_names(AsyncNeoClient))


def normalise(annotation: Any) -> Any:
    """Replace async-only types by their sync twins, and unwrap awaitables."""
    if isinstance(annotation, list):  # the parameter list of a Callable
        return [normalise(a) for a in annotation]
    origin = typing.get_origin(annotation)
    if origin in (collections.abc.Awaitable, collections.abc.Coroutine):
        return normalise(typing.get_args(annotation)[-1])
    args = typing.get_args(annotation)
    if origin is not None and args:
        new_args = tuple(normalise(a) for a in args)
        if origin in (typing.Union, types.UnionType):
            return functools.reduce(operator.or_, new_args)
        if origin is collections.abc.Callable:
            return collections.abc.Callable[new_args[0], new_args[1]]
        return origin[new_args]
    for async_type, sync_type in TWIN_TYPES.items():
        if annotation is async_type:
            return sync_type
    return annotation


def described(function: Callable[..., Any]) -> tuple[Any, ...]:
    signature = inspect.signature(function, eval_str=True)
    params = tuple(
        (p.name, p.kind, p.default, normalise(p.annotation)) for p in signature.parameters.values()
    )
    return params, normalise(signature.return_annotation)


def test_same_public_names() -> None:
    async_names = {sync_name(n) for n in public_names(AsyncNeoClient)}
    sync_names = public_names(NeoClient)
    assert async_names == sync_names, (
        f"only in AsyncNeoClient: {sorted(async_names - sync_names)}; "
        f"only in NeoClient: {sorted(sync_names - async_names)}"
    )


def test_the_comparison_sees_every_endpoint() -> None:
    names = public_names(AsyncNeoClient)
    assert {"__init__", "aclose", "login", "positions", "stats", "session"} <= names
    assert not {n for n in names if n.startswith("_") and n not in DUNDERS}


@pytest.mark.parametrize("name", pairs())
def test_same_signature_and_docstring(name: str) -> None:
    async_attr = inspect.getattr_static(AsyncNeoClient, name)
    sync_attr = inspect.getattr_static(NeoClient, sync_name(name))
    assert type(async_attr) is type(sync_attr), f"{name}: one is a {type(async_attr).__name__}"
    if isinstance(async_attr, property):
        assert isinstance(sync_attr, property)
        assert (async_attr.fset is None) == (sync_attr.fset is None), f"{name}: setter"
        assert async_attr.fget is not None
        assert sync_attr.fget is not None
        async_fn, sync_fn = async_attr.fget, sync_attr.fget
    else:
        async_fn, sync_fn = async_attr, sync_attr
    assert callable(async_fn)
    assert callable(sync_fn)
    assert not inspect.iscoroutinefunction(sync_fn), f"NeoClient.{sync_name(name)} is async"
    assert described(async_fn) == described(sync_fn), name
    assert inspect.getdoc(async_fn) == inspect.getdoc(sync_fn), f"{name}: docstrings differ"


def test_blocking_twins_of_coroutines() -> None:
    """Every coroutine of the async client is a plain method of the sync one."""
    for name in pairs():
        attr = inspect.getattr_static(AsyncNeoClient, name)
        if inspect.iscoroutinefunction(attr):
            twin = inspect.getattr_static(NeoClient, sync_name(name))
            assert inspect.isfunction(twin)
            assert not inspect.iscoroutinefunction(twin)


def test_normalise_unwraps_awaitables_and_twin_types() -> None:
    assert normalise(collections.abc.Awaitable[int]) is int
    assert normalise(collections.abc.Coroutine[Any, Any, list[str]]) == list[str]
    assert normalise(httpx.AsyncBaseTransport | None) == (httpx.BaseTransport | None)
    assert described(AsyncNeoClient.__init__) != described(AsyncNeoClient.login)


def feed_names(cls: type) -> set[str]:
    """Public names of a feed class, inherited ones included (the base is private)."""
    return {n for n in dir(cls) if not n.startswith("_") or n in FEED_DUNDERS}


@pytest.mark.parametrize(("async_cls", "sync_cls"), FEEDS, ids=["market", "order"])
def test_the_feeds_are_twins(async_cls: type, sync_cls: type) -> None:
    """MarketFeed / SyncMarketFeed and OrderFeed / SyncOrderFeed: the same names,
    signatures and docstrings; coroutines of one are plain methods of the other."""
    async_names = feed_names(async_cls)
    sync_names = {n for n in dir(sync_cls) if not n.startswith("_")} | {
        n
        for n in ("__init__", "__enter__", "__exit__", "__iter__", "__next__")
        if n in dir(sync_cls)
    }
    assert {FEED_RENAMED.get(n, n) for n in async_names} == sync_names
    assert {"close", "stats", "closed", "connected"} <= async_names
    for name in sorted(async_names):
        twin = FEED_RENAMED.get(name, name)
        a = inspect.getattr_static(async_cls, name, None)
        if a is None:  # inherited from the private base
            a = next(vars(k)[name] for k in async_cls.__mro__ if name in vars(k))
        b = next(vars(k)[twin] for k in sync_cls.__mro__ if twin in vars(k))
        if isinstance(a, property):
            assert isinstance(b, property), name
            assert a.fget is not None
            assert b.fget is not None
            a, b = a.fget, b.fget
        if name in ("__aiter__", "__anext__", "__aenter__", "__aexit__"):
            continue  # the protocols' types differ by nature (AsyncIterator / Iterator)
        assert not inspect.iscoroutinefunction(b), f"{sync_cls.__name__}.{twin} is async"
        if name == "__init__":  # ``client`` is annotated under TYPE_CHECKING only
            params = [
                [(p.name, p.kind, p.default) for p in inspect.signature(f).parameters.values()]
                for f in (a, b)
            ]
            assert params[0] == params[1], name
            continue
        assert described(a) == described(b), name
        assert inspect.getdoc(a) == inspect.getdoc(b), f"{name}: docstrings differ"


def test_the_clients_return_twin_feeds() -> None:
    for name, (async_cls, sync_cls) in zip(("market_feed", "order_feed"), FEEDS, strict=True):
        assert (
            inspect.signature(getattr(AsyncNeoClient, name), eval_str=True).return_annotation
            is async_cls
        )
        assert (
            inspect.signature(getattr(NeoClient, name), eval_str=True).return_annotation is sync_cls
        )


# -- behaviour: both clients, one loopback server, the same calls -------------------------

CALLS: dict[str, tuple[str, tuple[Any, ...], dict[str, Any]]] = {
    "order_report": ("order_report", (), {}),
    "trade_report": ("trade_report", (), {}),
    "positions": ("positions", (), {}),
    "holdings": ("holdings", (), {}),
    "limits": ("limits", (), {}),
    "margin_required": (
        "margin_required",
        (),
        {
            "exchange_segment": "nse_cm",
            "price": "41.20",
            "order_type": "L",
            "product": "CNC",
            "quantity": 1,
            "instrument_token": "19084",
            "transaction_type": "B",
        },
    ),
    "scrip_master": ("scrip_master", (), {}),
    "quotes": ("quotes", (["nse_cm|11536", "nse_cm|2885"],), {}),
    "expiries": ("expiries", (), {"exchange": "nse_fo", "underlying": "NIFTY"}),
    "option_chain": ("option_chain", (), {"exchange": "nse_fo", "underlying": "NIFTY"}),
    "historical_data": (
        "historical_data",
        (),
        {
            "neosymbol": "nse_cm|11536",
            "interval": "D",
            "from_date": dt.date(2026, 10, 1),
            "to_date": dt.date(2026, 10, 30),
        },
    ),
    "whatsmyip": ("whatsmyip", (), {}),
}
ORDER = {
    "exchange_segment": "nse_cm",
    "product": "CNC",
    "price": "1.00",
    "order_type": "L",
    "quantity": 1,
    "validity": "DAY",
    "trading_symbol": "ITBEES-EQ",
    "transaction_type": "B",
}


def shape(value: Any) -> Any:
    """The type of a result, and of its items for a list."""
    if isinstance(value, list):
        return ("list", sorted({type(item).__name__ for item in value}))
    return type(value).__name__


async def test_every_endpoint_answers_alike_against_one_server() -> None:
    emulator = Emulator(EmulatorConfig(rate_limit=None, totp_replay_rejection=False))
    with EmulatorServer(emulator) as server:
        creds = Credentials(**emulator.credentials.as_dict())
        neo = NeoClient(creds, login_url=server.url, rate_limit=None)
        async with AsyncNeoClient(creds, login_url=server.url, rate_limit=None) as aneo:
            try:
                for name, (method, args, kwargs) in CALLS.items():
                    want = await getattr(aneo, method)(*args, **kwargs)
                    got = await asyncio.to_thread(getattr(neo, method), *args, **kwargs)
                    assert shape(got) == shape(want), name
                    if name in ("limits", "expiries", "scrip_master"):
                        assert got == want, name
                # an order's whole life through the sync client, found again by its tag
                placed = await asyncio.to_thread(lambda: neo.place_order(tag="twin-1", **ORDER))
                order_id = placed.order_id
                modified = await asyncio.to_thread(
                    lambda: neo.modify_order(
                        order_id=order_id, price="1.05", order_type="L", quantity=2, validity="DAY"
                    )
                )
                assert modified.order_id == order_id
                assert await asyncio.to_thread(neo.order_history, order_id)
                found = await asyncio.to_thread(neo.find_order, "twin-1")
                assert found is not None
                assert found.order_id == order_id
                assert (await aneo.find_order("twin-1")) == found
                cancelled = await asyncio.to_thread(neo.cancel_order, order_id)
                assert cancelled.order_id == order_id
                with pytest.raises(BusinessError):  # the same refusal as the async twin
                    await asyncio.to_thread(lambda: neo.place_order(tag="twin-1", **ORDER))
                await asyncio.to_thread(neo.logout)
                await asyncio.to_thread(neo.logout)  # idempotent: nothing sent
                assert emulator.counters.requests["logout"] == 1
            finally:
                neo.close()


def test_neither_twin_imports_the_other() -> None:
    """What both shells share lives in ``aioneo._shell``: a twin never imports its twin."""
    import ast
    from pathlib import Path

    package = Path(__file__).resolve().parents[2] / "aioneo"
    for name, twin in (("_async_client", "_sync_client"), ("_sync_client", "_async_client")):
        tree = ast.parse((package / f"{name}.py").read_text())
        imported = {
            node.module
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module is not None
        }
        assert twin not in imported, f"{name}.py imports {twin}"
