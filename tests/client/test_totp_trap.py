"""Issue 14 item 1: the TOTP-step trap, on both twins.

Two logins of one account inside one 30 s step: the emulator (like an RFC 6238 server)
refuses the second code as a replay. A refused TOTP code is retried once with the next
step's code; a second refusal is final and says the secret or the clock is wrong; a
wrong MPIN is reported as a wrong MPIN, never as a TOTP problem.

The transport moves the shared clock to the next step when the emulator refuses a code,
so the retry's wait for a fresh step is zero instead of up to 30 s.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import httpx
import pytest

from aioneo import (
    AsyncNeoClient,
    FatalLoginError,
    MemorySessionStore,
    NeoClient,
    TransientLoginError,
)
from aioneo._core._policy import connect_cause
from aioneo.testing import Emulator, StepClock

from .conftest import credentials_of
from .twins import Twin, closing, twin

__all__ = ["closing", "twin"]  # fixtures

WRONG_SECRET = "KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU"


def skip_step_on_refusal(twin: Twin) -> None:
    def rewrite(request: httpx.Request, response: httpx.Response) -> httpx.Response:
        if response.status_code == 401 and b"TOTP" in response.content:
            twin.clock.next_step()
        return httpx.Response(response.status_code, content=response.content)

    twin.transport.rewrites["tradeApiLogin"] = rewrite


async def test_a_code_another_login_used_is_retried_on_the_next_step(closing: Twin) -> None:
    twin = closing
    skip_step_on_refusal(twin)
    # a store each: as two processes would (clients of one process share a default one)
    first = twin.make(session_store=MemorySessionStore())
    second = twin.make(session_store=MemorySessionStore())
    await twin.call(first, "login")
    assert isinstance(await twin.call(second, "positions"), list)
    assert twin.emulator.counters.totp_replays_rejected == 1
    assert twin.emulator.counters.logins == 2
    assert second.stats.logins == 1


async def test_clients_of_one_process_with_the_same_credentials_make_one_login(
    closing: Twin,
) -> None:
    """Issue 14 item 1: no store given: they share the process's default store."""
    twin = closing
    first, second = twin.make(), twin.make()
    assert first._store is second._store
    other = twin.make(credentials=credentials_of(twin.emulator, ucc="OTHER1"))
    assert other._store is not first._store  # another account: a store of its own
    await twin.call(first, "login")
    assert isinstance(await twin.call(second, "positions"), list)
    assert twin.emulator.counters.logins == 1
    assert second.stats.adopted == 1
    assert twin.emulator.counters.totp_replays_rejected == 0


async def test_a_wrong_secret_fails_after_one_retry_and_says_so(closing: Twin) -> None:
    twin = closing
    skip_step_on_refusal(twin)
    neo = twin.make(credentials=credentials_of(twin.emulator, totp_secret=WRONG_SECRET))
    with pytest.raises(FatalLoginError) as caught:
        await twin.call(neo, "positions")
    assert caught.value.totp_refused
    assert "fresh 30 s step was refused as well" in str(caught.value)
    assert twin.emulator.counters.login_attempts == 2  # the first code and one retry
    with pytest.raises(FatalLoginError):  # cached: no third attempt
        await twin.call(neo, "positions")
    assert twin.emulator.counters.login_attempts == 2


async def test_a_wrong_mpin_is_never_reported_as_a_totp_problem(closing: Twin) -> None:
    twin = closing
    skip_step_on_refusal(twin)
    bad = credentials_of(twin.emulator, mpin="000000")
    first = twin.make(credentials=bad, session_store=MemorySessionStore())
    second = twin.make(credentials=bad, session_store=MemorySessionStore())
    with pytest.raises(FatalLoginError, match="MPIN"):
        await twin.call(first, "positions")
    with pytest.raises(FatalLoginError) as caught:  # same step: its code is spent
        await twin.call(second, "positions")
    assert "MPIN" in str(caught.value)
    assert not caught.value.totp_refused


async def test_a_404_on_a_login_step_says_the_url_is_wrong(closing: Twin) -> None:
    twin = closing
    neo = twin.make()
    twin.transport.replies["tradeApiLogin"] = lambda request: httpx.Response(404)
    with pytest.raises(FatalLoginError) as caught:
        await twin.call(neo, "positions")
    message = str(caught.value)
    assert "login URL is wrong" in message
    assert "tradeApiLogin" in message  # names the address that answered 404
    assert "check the credentials" not in message


def closed_port() -> int:
    with socket.socket() as probe:  # bound, never listening: connections are refused
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("kind", ["async", "sync"])
async def test_a_refused_connection_names_the_host_and_the_cause(
    kind: str, clock: StepClock
) -> None:
    """Issue 14 item 4: connection failures name the host and the cause."""
    emulator = Emulator(clock=clock)
    url = f"http://127.0.0.1:{closed_port()}"
    options: dict[str, Any] = {"login_url": url, "clock": clock, "rate_limit": None}
    if kind == "async":
        async with AsyncNeoClient(credentials_of(emulator), **options) as neo:
            with pytest.raises(TransientLoginError) as caught:
                await neo.positions()
    else:
        with (
            NeoClient(credentials_of(emulator), **options) as sync,
            pytest.raises(TransientLoginError) as caught,
        ):
            await asyncio.to_thread(sync.positions)
    assert "127.0.0.1" in str(caught.value)
    assert "refused" in str(caught.value)


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        ("[Errno -2] Name or service not known", "DNS"),
        ("[Errno 111] Connection refused", "refused"),
        ("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed", "TLS"),
        ("[Errno 101] Network is unreachable", "unreachable"),
        ("something else", None),
    ],
)
def test_connect_causes(text: str, cause: str | None) -> None:
    found = connect_cause(text)
    assert (found is None) if cause is None else (found is not None and cause in found)


@pytest.mark.timeout(15)  # waiting for its own hold would take up to 25 s
async def test_a_client_takes_over_its_own_hold_instead_of_waiting_for_it(closing: Twin) -> None:
    """After a failed login whose code may be spent, the store lock stays held for the
    siblings until the step ends; the same client's next login takes it over at once."""
    twin = closing
    store = MemorySessionStore()
    neo = twin.make(session_store=store)
    twin.emulator.inject_fault("validate", "http_503_empty", count=1)  # the TOTP was used
    with pytest.raises(TransientLoginError):
        await twin.call(neo, "positions")
    assert not store.acquire_lock("sibling", 60.0)  # kept for the siblings
    twin.clock.next_step()
    assert isinstance(await twin.call(neo, "positions"), list)
    assert twin.emulator.counters.logins == 1
    assert store.acquire_lock("sibling", 60.0)  # released after the new login
