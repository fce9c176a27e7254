"""The feeds' control plane: auth frames and replies, the order-feed handshake, close codes.

Frames are compared byte for byte with what the official SDK builds; auth replies are fed
to the SDK's own ``_authenticate`` on a fake socket and the dividers compared.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from aioneo._core._feed_protocol import (
    MAX_AUTH_FRAMES,
    AuthOutcome,
    CloseKind,
    SFeedAuthWait,
    close_kind,
    handshake_status_kind,
    order_feed_handshake,
    parse_order_feed_ack,
    parse_sfeed_auth_reply,
    parse_sfeed_control,
    sfeed_auth_frame,
)
from aioneo._core._order_feed import parse_order_feed

feed_client = pytest.importorskip("neo_api_client.websocket.feed.client")
order_client = pytest.importorskip("neo_api_client.websocket.orderfeed.client")


def test_auth_frame_is_the_sdks_byte_for_byte(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(feed_client.time, "time", lambda: 1_764_650_000.123)
    ws = feed_client.SFeedWebSocket(ucc="AB1234", sid="sid-123", access_token="tok")
    theirs = json.dumps(ws._build_auth_frame())
    ours = sfeed_auth_frame(user="AB1234", sid="sid-123", now_ms=1_764_650_000_123)
    assert ours == theirs
    assert json.loads(ours)["auth"] == "sid-123"  # the sid, not the token


class _FakeSocket:
    def __init__(self, frames: list[str | bytes]) -> None:
        self.frames = list(frames)
        self.sent: list[str] = []

    async def send(self, text: str) -> None:
        self.sent.append(text)

    async def recv(self) -> str | bytes:
        return self.frames.pop(0)


async def _sdk_dividers(reply: dict[str, Any]) -> dict[int, int]:
    ws = feed_client.SFeedWebSocket(ucc="U", sid="S")
    ws._ws = _FakeSocket([b"\x00" * 9, json.dumps(reply)])
    await ws._authenticate()
    return dict(ws.dividers)


REPLIES = [
    {"message_code": 1117, "exchanges": {"nse_cm": {"value": 1, "divider": 100}}},
    {
        "message_code": 1119,
        "format": "native_batch",
        "exchanges": {
            "nse_cm": {"value": 1, "divider": 100},
            "cde_fo": {"value": 3, "divider": 10_000_000},
            "mcx_fo": {"divider": 100},  # no value: the name's id
            "bse_cm": {"value": 5},  # no divider: 100
            "junk": "not an object",
        },
    },
    {"message_code": 1117},
]


@pytest.mark.parametrize("reply", REPLIES)
async def test_auth_reply_dividers_agree_with_the_sdk(reply: dict[str, Any]) -> None:
    result = parse_sfeed_auth_reply(reply)
    assert result.outcome is AuthOutcome.ACCEPTED
    assert dict(result.dividers) == await _sdk_dividers(reply)


def test_a_divider_that_is_not_a_positive_whole_number_is_left_out() -> None:
    reply = {
        "message_code": 1117,
        "exchanges": {
            "nse_cm": {"value": 1, "divider": 0},
            "nse_fo": {"value": 2, "divider": "100"},
            "cde_fo": {"value": 3, "divider": 1e7},
            "bse_cm": {"value": 5, "divider": True},
            "bse_fo": {"value": 6, "divider": 2.5},
            "x": {"value": 999, "divider": 100},
        },
    }
    assert dict(parse_sfeed_auth_reply(reply).dividers) == {2: 100, 3: 10_000_000}


def test_native_fallback_is_a_refused_session() -> None:
    result = parse_sfeed_auth_reply({"message_code": 1117, "format": "native_fallback"})
    assert result.outcome is AuthOutcome.REFUSED
    assert "native_fallback" in result.reason


async def test_the_sdk_also_refuses_native_fallback() -> None:
    with pytest.raises(feed_client.AuthenticationError, match="native_fallback"):
        await _sdk_dividers({"message_code": 1117, "format": "native_fallback"})


@pytest.mark.parametrize("reply", [{"message_code": 1109}, {"status": "ok"}, {}])
def test_another_first_text_frame_is_a_protocol_failure(reply: dict[str, Any]) -> None:
    result = parse_sfeed_auth_reply(reply)
    assert result.outcome is AuthOutcome.FAILED
    assert not result.dividers


def test_auth_wait_skips_binary_frames_and_gives_up_after_ten() -> None:
    wait = SFeedAuthWait()
    for _ in range(MAX_AUTH_FRAMES - 1):
        assert wait.feed(b"\x01\x02") is None
    result = wait.feed(b"\x01\x02")
    assert result is not None
    assert result.outcome is AuthOutcome.FAILED
    assert "10 frames" in result.reason

    wait = SFeedAuthWait()
    assert wait.feed(b"data") is None
    reply = wait.feed(json.dumps({"message_code": 1119, "exchanges": {}}))
    assert reply is not None
    assert reply.outcome is AuthOutcome.ACCEPTED
    assert wait.frames == 2


@pytest.mark.parametrize("text", ["not json", "[1, 2]", '"text"'])
def test_auth_wait_fails_on_an_unreadable_text_frame(text: str) -> None:
    result = SFeedAuthWait().feed(text)
    assert result is not None
    assert result.outcome is AuthOutcome.FAILED


def test_control_frames() -> None:
    ack = parse_sfeed_control(
        json.dumps(
            {
                "message_code": 1109,
                "trading_symbols": {"nse_cm|2885": "RELIANCE-EQ", "nse_cm|Nifty 50": "NIFTY", 1: 2},
            }
        )
    )
    assert ack.message_code == 1109
    assert dict(ack.trading_symbols) == {"nse_cm|2885": "RELIANCE-EQ", "nse_cm|Nifty 50": "NIFTY"}
    other = parse_sfeed_control('{"message_code": 2000, "trading_symbols": {"a": "b"}}')
    assert other.message_code == 2000
    assert not other.trading_symbols
    for garbage in ("{", "[]", '{"message_code": "1109"}', '{"message_code": true}'):
        frame = parse_sfeed_control(garbage)
        assert frame.message_code is None
        assert not frame.trading_symbols


def test_order_feed_handshake_is_the_sdks() -> None:
    ws = order_client.OrderFeedWebSocket(base_url=None, auth="tok.en-1", sid="sid-2", url="wss://h")
    ours = order_feed_handshake(token="tok.en-1", sid="sid-2")
    assert ours == ws._build_auth_payload()
    assert ours == "{type:cn,Authorization:tok.en-1,Sid:sid-2,src:WEB}"


@pytest.mark.parametrize("bad", ["", "a,b", "x}y", "line\nbreak"])
def test_a_credential_that_would_break_a_frame_is_refused_without_showing_it(bad: str) -> None:
    with pytest.raises(ValueError, match="token must be a non-empty string") as info:
        order_feed_handshake(token=bad, sid="sid")
    if bad:
        assert bad not in str(info.value)
    with pytest.raises(ValueError, match="sid must be"):
        sfeed_auth_frame(user="U", sid=bad, now_ms=0)


def test_order_feed_acks() -> None:
    ok = parse_order_feed_ack({"ak": "ok", "type": "cn", "task": "cn"})
    assert ok is not None
    assert ok.outcome is AuthOutcome.ACCEPTED
    refused = parse_order_feed_ack({"ak": "nk", "type": "cn", "msg": "Authentication Failed"})
    assert refused is not None
    assert refused.outcome is AuthOutcome.REFUSED
    assert refused.reason == "Authentication Failed"
    odd = parse_order_feed_ack({"type": "cn", "ak": "maybe"})
    assert odd is not None
    assert odd.outcome is AuthOutcome.FAILED
    assert parse_order_feed_ack({"type": "order", "data": {}}) is None


def test_the_sdk_swallows_authentication_failed_and_aioneo_does_not() -> None:
    text = '{"ak":"nk","type":"cn","msg":"Authentication Failed"}'
    sdk = order_client.OrderFeedWebSocket(base_url=None, auth="t", sid="s", url="wss://h")
    assert sdk._parse_message(text) is None  # dropped with the ok acks: a mute feed
    ours = parse_order_feed(text)
    assert not isinstance(ours, type(None))
    assert getattr(ours, "outcome", None) is AuthOutcome.REFUSED


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (1008, CloseKind.AUTH),
        (4001, CloseKind.AUTH),
        (4003, CloseKind.AUTH),
        (4401, CloseKind.AUTH),
        (4403, CloseKind.AUTH),
        (None, CloseKind.DROP),
        (1000, CloseKind.DROP),
        (1001, CloseKind.DROP),
        (1006, CloseKind.DROP),
        (1011, CloseKind.DROP),
        (1012, CloseKind.DROP),
        (4000, CloseKind.DROP),
    ],
)
def test_close_codes(code: int | None, kind: CloseKind) -> None:
    assert close_kind(code) is kind


def test_close_codes_and_statuses_can_be_chosen() -> None:
    assert close_kind(4999, auth_codes=frozenset({4999})) is CloseKind.AUTH
    assert close_kind(1008, auth_codes=frozenset()) is CloseKind.DROP
    assert handshake_status_kind(401) is CloseKind.AUTH
    assert handshake_status_kind(403) is CloseKind.AUTH
    assert handshake_status_kind(500) is CloseKind.DROP
    assert handshake_status_kind(429) is CloseKind.DROP
    assert handshake_status_kind(500, auth_statuses=frozenset({500})) is CloseKind.AUTH
