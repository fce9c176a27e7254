"""Helpers shared by the emulator's tests: a fake clock and raw-HTTP login steps."""

from __future__ import annotations

import dataclasses
import json

import httpx

from aioneo.testing import Emulator

#: 2025-12-29 09:50:00 IST, a Monday inside market hours.
T0 = 1_766_982_000.0


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: float = T0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclasses.dataclass(frozen=True)
class TradeSession:
    token: str
    sid: str
    base_url: str


def login_request(
    emu: Emulator, *, content: bytes | str | None = None, **fields: object
) -> httpx.Request:
    """A TOTP login with the demo credentials; ``fields`` override body fields."""
    creds = emu.credentials
    body: dict[str, object] = {
        "mobileNumber": creds.mobile_number,
        "ucc": creds.ucc,
        "totp": emu.totp(),
    }
    body.update(fields)
    return httpx.Request(
        "POST",
        emu.login_url + "/login/1.0/tradeApiLogin",
        headers={
            "Authorization": creds.consumer_key,
            "neo-fin-key": "neotradeapi",
            "Content-Type": "application/json",
        },
        content=json.dumps(body) if content is None else content,
    )


def validate_request(
    emu: Emulator, view: dict[str, str], *, mpin: str | None = None, content: str | None = None
) -> httpx.Request:
    """An MPIN validate for the view session ``view`` (the ``data`` of a login answer)."""
    creds = emu.credentials
    return httpx.Request(
        "POST",
        emu.login_url + "/login/1.0/tradeApiValidate",
        headers={
            "Authorization": creds.consumer_key,
            "sid": view["sid"],
            "Auth": view["token"],
            "neo-fin-key": "neotradeapi",
        },
        content=json.dumps({"mpin": creds.mpin if mpin is None else mpin})
        if content is None
        else content,
    )


async def login(http: httpx.AsyncClient, emu: Emulator) -> TradeSession:
    """Both login steps; fails the test unless both succeed."""
    first = await http.send(login_request(emu))
    assert first.status_code == 200, first.text
    view = first.json()["data"]
    second = await http.send(validate_request(emu, view))
    assert second.status_code == 200, second.text
    data = second.json()["data"]
    return TradeSession(token=data["token"], sid=data["sid"], base_url=data["baseUrl"])


def session_headers(session: TradeSession, emu: Emulator | None = None) -> dict[str, str]:
    """``Sid`` and ``Auth``, plus the consumer key when ``emu`` is given (orders)."""
    headers = {"Sid": session.sid, "Auth": session.token}
    if emu is not None:
        headers["Authorization"] = emu.credentials.consumer_key
    return headers


def jdata(payload: object) -> dict[str, str]:
    """The form the SDK sends: one field ``jData`` with Python's default JSON separators."""
    return {"jData": json.dumps(payload)}


def order(tag: str | None = "t-1", **changes: str) -> dict[str, object]:
    """A marketable place-order jData, keys in the SDK's order."""
    body: dict[str, object] = {
        "am": "NO",
        "dq": "0",
        "es": "nse_cm",
        "mp": "0",
        "pc": "CNC",
        "pr": "0",
        "pt": "MKT",
        "qt": "1",
        "rt": "DAY",
        "tp": "0",
        "ts": "TCS-EQ",
        "tt": "B",
        "ig": tag,
        "os": "NEOTRADEAPI",
    }
    body.update(changes)
    return body
