"""``instruments()`` and ``search_scrip()`` of both clients over a real loopback emulator.

Counts, never timings: how many scrip-master files the emulator served (its recorded
requests), how many logins it issued, which table came back. Each test gets its own cache
directory and starts with an empty in-process memo.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import shutil
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from aioneo import (
    AsyncNeoClient,
    ClientClosedError,
    Credentials,
    Instrument,
    InstrumentFileError,
    InstrumentTable,
    NeoClient,
    StatusError,
    TransportError,
    _instruments,
)
from aioneo._core._scrip import trading_day
from aioneo._instruments import scrip_url
from aioneo.testing import Emulator, EmulatorConfig, EmulatorServer

from .conftest import GateTransport

ctx = multiprocessing.get_context("spawn")


@pytest.fixture(autouse=True)
def _fresh_memo() -> Iterator[None]:
    _instruments.forget_memo()
    yield
    _instruments.forget_memo()


@pytest.fixture
def emulator() -> Emulator:
    return Emulator(EmulatorConfig(rate_limit=None, totp_replay_rejection=False))


@pytest.fixture
def server(emulator: Emulator) -> Iterator[EmulatorServer]:
    with EmulatorServer(emulator) as running:
        yield running


def creds(emulator: Emulator) -> Credentials:
    return Credentials(**emulator.credentials.as_dict())


def downloads(emulator: Emulator, segment: str | None = None) -> int:
    return sum(
        1
        for r in emulator.requests
        if r.endpoint == "scrip_file" and (segment is None or segment in r.path)
    )


def files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def today_file(cache: Path, segment: str) -> Path:
    import time

    return cache / f"{segment}_{trading_day(time.time()).isoformat()}.csv"


async def test_concurrent_loaders_share_one_download_and_one_table(
    emulator: Emulator, server: EmulatorServer, tmp_path: Path
) -> None:
    async with AsyncNeoClient(creds(emulator), login_url=server.url, rate_limit=None) as neo:
        tables = await asyncio.gather(
            *(neo.instruments("NSE", cache_dir=tmp_path) for _ in range(10))
        )
        assert all(t is tables[0] for t in tables)
        assert isinstance(tables[0], InstrumentTable)
        assert downloads(emulator) == 1
        assert today_file(tmp_path, "nse_cm").exists()
        assert [name for name in files(tmp_path) if name.endswith(".part")] == []
        again = await neo.instruments("nse_cm", cache_dir=tmp_path)
        assert again is tables[0]
        assert downloads(emulator) == 1
        refreshed = await neo.instruments("nse_cm", cache_dir=tmp_path, refresh=True)
        assert refreshed is not tables[0]
        assert downloads(emulator) == 2
    # Another client (memo emptied, as in a new process): the kept file, no login at all.
    _instruments.forget_memo()
    logins = emulator.counters.logins
    async with AsyncNeoClient(creds(emulator), login_url=server.url, rate_limit=None) as other:
        kept = await other.instruments("nse_cm", cache_dir=tmp_path)
    assert len(kept) == len(tables[0])
    assert downloads(emulator) == 2
    assert emulator.counters.logins == logins


async def test_two_clients_of_one_process_download_once(
    emulator: Emulator, server: EmulatorServer, tmp_path: Path
) -> None:
    emulator.configure(latency={"scrip_file": 0.3})  # both arrive during the download
    stale = tmp_path / ".nse_cm_2020-01-01.csv.1.1.part"  # left by a killed loader
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_text("pSymbol\n")
    async with (
        AsyncNeoClient(creds(emulator), login_url=server.url, rate_limit=None) as one,
        AsyncNeoClient(creds(emulator), login_url=server.url, rate_limit=None) as two,
    ):
        first, second = await asyncio.gather(
            one.instruments("nse_cm", cache_dir=tmp_path),
            two.instruments("nse_cm", cache_dir=tmp_path),
        )
    assert downloads(emulator) == 1  # the file lock: the second found the first's file
    assert len(first) == len(second)
    assert files(tmp_path) == ["nse_cm.lock", today_file(tmp_path, "nse_cm").name]


async def test_a_cancelled_caller_does_not_cancel_the_shared_load(
    emulator: Emulator, server: EmulatorServer, tmp_path: Path
) -> None:
    async with AsyncNeoClient(creds(emulator), login_url=server.url, rate_limit=None) as neo:
        with emulator.hold("scrip_file") as hold:
            first = asyncio.ensure_future(neo.instruments("nse_cm", cache_dir=tmp_path))
            second = asyncio.ensure_future(neo.instruments("nse_cm", cache_dir=tmp_path))
            assert await asyncio.to_thread(hold.wait_until_waiting, 1)
            first.cancel()
            with pytest.raises(asyncio.CancelledError):
                await first
            hold.release()
            table = await second
        assert table.get("ITC-EQ") is not None
        assert downloads(emulator) == 1
        assert await neo.instruments("nse_cm", cache_dir=tmp_path) is table


def test_sync_threads_share_one_download(
    emulator: Emulator, server: EmulatorServer, tmp_path: Path
) -> None:
    with NeoClient(creds(emulator), login_url=server.url, rate_limit=None) as neo:
        results: list[InstrumentTable] = []
        barrier = threading.Barrier(8)

        def load() -> None:
            barrier.wait()
            results.append(neo.instruments("nse_cm", cache_dir=tmp_path))

        threads = [threading.Thread(target=load) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(results) == 8
        assert all(r is results[0] for r in results)
        assert downloads(emulator) == 1
        found = neo.search_scrip("nse_cm", "ITC")
        assert found[0].trading_symbol == "ITC-EQ"
        assert downloads(emulator) == 1


@pytest.mark.parametrize(
    ("mode", "reason"),
    [("header_only", "header and no rows"), ("truncated", "fields, the header has 78")],
)
async def test_a_bad_file_is_refused_and_never_cached(
    emulator: Emulator, server: EmulatorServer, tmp_path: Path, mode: str, reason: str
) -> None:
    emulator.set_scrip_file(mode, segment="nse_cm")
    async with AsyncNeoClient(creds(emulator), login_url=server.url, rate_limit=None) as neo:
        with pytest.raises(InstrumentFileError, match=reason) as caught:
            await neo.instruments("nse_cm", cache_dir=tmp_path)
        assert caught.value.segment == "nse_cm"
        assert "no earlier good file" in str(caught.value)
        assert not today_file(tmp_path, "nse_cm").exists()
        assert files(tmp_path) == ["nse_cm.lock"]
        emulator.set_scrip_file("full")
        table = await neo.instruments("nse_cm", cache_dir=tmp_path)
        assert table.get("ITC-EQ") is not None
        assert downloads(emulator) == 2


async def test_a_bad_file_falls_back_to_the_last_good_one_with_a_warning(
    emulator: Emulator,
    server: EmulatorServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with AsyncNeoClient(creds(emulator), login_url=server.url, rate_limit=None) as neo:
        good = await neo.instruments("nse_cm", cache_dir=tmp_path)
        assert good.source_date is not None
        yesterday = good.source_date - timedelta(days=1)
        shutil.move(today_file(tmp_path, "nse_cm"), tmp_path / f"nse_cm_{yesterday}.csv")
        _instruments.forget_memo()
        emulator.set_scrip_file("header_only")
        with caplog.at_level(logging.WARNING, logger="aioneo"):
            fallback = await neo.instruments("nse_cm", cache_dir=tmp_path)
        assert fallback.source_date == yesterday
        assert len(fallback) == len(good)
        warning = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warning) == 1
        assert "header and no rows" in warning[0]
        assert f"using the file of {yesterday}" in warning[0]
        # The fallback is not memoised: the next call tries today's file again.
        emulator.set_scrip_file("full")
        fresh = await neo.instruments("nse_cm", cache_dir=tmp_path)
        assert fresh.source_date == good.source_date
        assert downloads(emulator) == 3


async def test_a_failed_download_falls_back_or_raises(
    emulator: Emulator, server: EmulatorServer, tmp_path: Path
) -> None:
    async with AsyncNeoClient(creds(emulator), login_url=server.url, rate_limit=None) as neo:
        emulator.inject_fault("scrip_file", "drop")
        with pytest.raises(TransportError, match="downloading the bse_cm scrip master failed"):
            await neo.instruments("bse_cm", cache_dir=tmp_path)
        emulator.inject_fault("scrip_file", "http_500")
        with pytest.raises(StatusError, match="bse_cm scrip master: HTTP 500") as status:
            await neo.instruments("bse_cm", cache_dir=tmp_path)
        assert status.value.status_code == 500
        assert files(tmp_path) == ["bse_cm.lock"]
        assert (await neo.instruments("bse_cm", cache_dir=tmp_path)).get("RELIANCE") is not None


def test_a_failed_download_with_an_earlier_file_uses_it(
    emulator: Emulator, server: EmulatorServer, tmp_path: Path
) -> None:
    with NeoClient(creds(emulator), login_url=server.url, rate_limit=None) as neo:
        good = neo.instruments("bse_cm", cache_dir=tmp_path)
        assert good.source_date is not None
        earlier = good.source_date - timedelta(days=2)
        shutil.move(today_file(tmp_path, "bse_cm"), tmp_path / f"bse_cm_{earlier}.csv")
        _instruments.forget_memo()
        emulator.inject_fault("scrip_file", "http_500")
        fallback = neo.instruments("bse_cm", cache_dir=tmp_path)
        assert fallback.source_date == earlier
        paths = neo.scrip_master()
        with pytest.raises(InstrumentFileError, match="no nse_com file"):
            scrip_url(paths, "nse_com")


def test_the_cache_directory_comes_from_the_environment(
    emulator: Emulator,
    server: EmulatorServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AIONEO_INSTRUMENTS_DIR", str(tmp_path / "env"))
    with NeoClient(creds(emulator), login_url=server.url, rate_limit=None) as neo:
        neo.instruments("mcx_fo")
    assert today_file(tmp_path / "env", "mcx_fo").exists()
    monkeypatch.delenv("AIONEO_INSTRUMENTS_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert _instruments.default_cache_dir() == tmp_path / "xdg" / "aioneo" / "instruments"


def test_bad_arguments_are_named(emulator: Emulator, server: EmulatorServer) -> None:
    with NeoClient(creds(emulator), login_url=server.url, rate_limit=None) as neo:
        with pytest.raises(ValueError, match="segment 'nse_xx' is not a scrip-master segment"):
            neo.instruments("nse_xx")
        with pytest.raises(TypeError, match="cache_dir must be a str or path"):
            neo.instruments("nse_cm", cache_dir=3)  # type: ignore[arg-type]


# --- Instruments everywhere ----------------------------------------------------------------


async def test_an_instrument_goes_to_quotes_orders_and_margins(
    emulator: Emulator, server: EmulatorServer, tmp_path: Path
) -> None:
    async with AsyncNeoClient(creds(emulator), login_url=server.url, rate_limit=None) as neo:
        cash = await neo.instruments("nse_cm", cache_dir=tmp_path)
        fo = await neo.instruments("nse_fo", cache_dir=tmp_path)
        itc = cash.search("ITC")[0]
        expiry = fo.expiries("NIFTY", kind="options")[0]
        call = fo.option("NIFTY", expiry, 24500, "CE")
        assert call is not None
        nifty = cash.get("Nifty 50")
        assert nifty is not None
        quotes = await neo.quotes([itc, call, nifty], missing="raise")
        assert [q.exchange_token for q in quotes] == ["1660", call.token, "Nifty 50"]
        placed = await neo.place_order(
            trading_symbol=call,
            product="NRML",
            price="0",
            order_type="MKT",
            quantity=call.lot_size,
            validity="DAY",
            transaction_type="B",
        )
        sent = [r.jdata() for r in emulator.requests if r.endpoint == "place_order"]
        assert (sent[-1]["ts"], sent[-1]["es"]) == (call.trading_symbol, "nse_fo")
        assert (await neo.find_order(placed.tag or "")) is not None
        margin = await neo.margin_required(
            instrument_token=itc,
            price="0",
            order_type="MKT",
            product="CNC",
            quantity=1,
            transaction_type="B",
        )
        assert margin.required_margin > 0
        checked = [r.jdata() for r in emulator.requests if r.endpoint == "margin"]
        assert (checked[-1]["tok"], checked[-1]["exSeg"]) == ("1660", "nse_cm")
        with pytest.raises(ValueError, match="exchange_segment 'nse_cm' is not the segment"):
            await neo.place_order(
                exchange_segment="nse_cm",
                trading_symbol=call,
                product="NRML",
                price="0",
                order_type="MKT",
                quantity=75,
                validity="DAY",
                transaction_type="B",
            )
        with pytest.raises(ValueError, match="exchange_segment is required when trading_symbol"):
            await neo.place_order(
                trading_symbol="ITC-EQ",
                product="CNC",
                price="0",
                order_type="MKT",
                quantity=1,
                validity="DAY",
                transaction_type="B",
            )
        with pytest.raises(ValueError, match="exchange_segment is required when instrument_token"):
            await neo.margin_required(
                instrument_token="1660",
                price="0",
                order_type="MKT",
                product="CNC",
                quantity=1,
                transaction_type="B",
            )
        found = await neo.search_scrip(
            "NFO", "NIFTY", expiry=expiry.strftime("%d%b%Y"), option_type="CE", strike_price="24500"
        )
        assert found == [call]
        assert all(isinstance(i, Instrument) for i in found)


# --- across processes ------------------------------------------------------------------------


def _process_loader(
    login_url: str, credentials: dict[str, str], cache: str, queue: Any, barrier: Any
) -> None:
    try:
        neo = NeoClient(Credentials(**credentials), login_url=login_url, rate_limit=None)
        barrier.wait(30)
        table = neo.instruments("nse_cm", cache_dir=cache)
        neo.close()
        queue.put(("ok", len(table)))
    except BaseException as exc:  # reported to the parent, which fails the test
        queue.put(("error", repr(exc)))


def test_processes_on_one_host_download_the_file_once(emulator: Emulator, tmp_path: Path) -> None:
    # Each download takes a while, so every process arrives while the first downloads.
    emulator.configure(latency={"scrip_file": 0.5})
    processes = 4
    with EmulatorServer(emulator) as server:
        queue = ctx.Queue()
        barrier = ctx.Barrier(processes)
        workers = [
            ctx.Process(
                target=_process_loader,
                args=(server.url, emulator.credentials.as_dict(), str(tmp_path), queue, barrier),
            )
            for _ in range(processes)
        ]
        for w in workers:
            w.start()
        results = [queue.get(timeout=50) for _ in workers]
        for w in workers:
            w.join(10)
    assert [r[0] for r in results] == ["ok"] * processes, results
    assert len({r[1] for r in results}) == 1
    assert downloads(emulator, "nse_cm") == 1
    assert emulator.counters.logins == 1  # only the process that downloaded logged in


async def test_a_closed_client_is_refused(
    emulator: Emulator, server: EmulatorServer, tmp_path: Path
) -> None:
    neo = AsyncNeoClient(creds(emulator), login_url=server.url, rate_limit=None)
    await neo.aclose()
    with pytest.raises(ClientClosedError):
        await neo.instruments("nse_cm", cache_dir=tmp_path)
    sync = NeoClient(creds(emulator), login_url=server.url, rate_limit=None)
    sync.close()
    with pytest.raises(ClientClosedError):
        await asyncio.to_thread(sync.instruments, "nse_cm", cache_dir=tmp_path)
    with pytest.raises(RuntimeError, match=r"NeoClient.instruments\(\) was called from"):
        sync.instruments("nse_cm", cache_dir=tmp_path)  # in the event loop's thread
    assert downloads(emulator) == 0


async def test_a_segment_the_file_paths_do_not_list_is_named(
    emulator: Emulator, server: EmulatorServer, tmp_path: Path
) -> None:
    async with AsyncNeoClient(creds(emulator), login_url=server.url, rate_limit=None) as neo:
        with pytest.raises(InstrumentFileError, match="file paths have no cde_fo file") as err:
            await neo.instruments("cde_fo", cache_dir=tmp_path)
    assert "nse_fo.csv" in str(err.value)  # the files that are there are named
    assert err.value.segment == "cde_fo"
    assert downloads(emulator) == 0


async def test_a_body_that_cannot_be_decoded_is_a_bad_file(tmp_path: Path) -> None:
    emulator = Emulator(EmulatorConfig(rate_limit=None))
    transport = GateTransport(emulator.transport())
    transport.replies["/nse_cm-v1.csv"] = lambda request: httpx.Response(
        200, headers={"content-encoding": "gzip"}, content=b"not gzip at all"
    )
    async with AsyncNeoClient(creds(emulator), transport=transport, rate_limit=None) as neo:
        with pytest.raises(InstrumentFileError, match="could not be decoded: DecodingError"):
            await neo.instruments("nse_cm", cache_dir=tmp_path)
    assert files(tmp_path) == ["nse_cm.lock"]
