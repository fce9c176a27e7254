"""The wanted-subscription set: edits in or out of a connection, the SDK's frames, the cap."""

from __future__ import annotations

import json

import pytest

from aioneo import SubscriptionError
from aioneo._core._feed_subs import MODES, Subscriptions, check_mode

feed_client = pytest.importorskip("neo_api_client.websocket.feed.client")
feed_models = pytest.importorskip("neo_api_client.websocket.feed.models")

#: aioneo's modes and the SDK's intents for the same subscription.
INTENTS = {
    "ltp": "scrips_lite",
    "quote": "scrips",
    "depth": "depth",
    "full_depth": "full_depth",
    "index": "index",
}


class _Capture:
    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send(self, text: str) -> None:
        self.sent.append(text)


def _sdk() -> tuple[object, _Capture]:
    ws = feed_client.SFeedWebSocket(ucc="U", sid="S")
    capture = _Capture()
    ws._ws = capture
    return ws, capture


def _tokens(items: list[str]) -> list[object]:
    return [feed_models.WsToken(*item.split("|", 1)) for item in items]


@pytest.mark.parametrize("mode", MODES)
async def test_frames_are_the_sdks_byte_for_byte(mode: str) -> None:
    items = ["nse_cm|11536", "nse_fo|44498"] if mode != "index" else ["nse_cm|Nifty 50"]
    ws, capture = _sdk()
    intent = INTENTS[mode]
    await ws._send_subscribe(feed_client._SUBSCRIBE_EVENTS[intent], _tokens(items))
    await ws._send_unsubscribe(feed_client._UNSUBSCRIBE_EVENTS[intent], _tokens(items))
    subs = Subscriptions()
    added = subs.subscribe(items, mode=mode)
    removed = subs.unsubscribe(items, mode=mode)
    assert [added.frame, removed.frame] == capture.sent
    assert json.loads(capture.sent[0])["ack_symbol"] is True
    assert "ack_symbol" not in json.loads(capture.sent[1])


async def test_market_status_frames_are_the_sdks() -> None:
    ws, capture = _sdk()
    ws._connected = True
    ws._ws.closed = False  # type: ignore[attr-defined]
    await ws.subscribe_exchange()
    await ws.unsubscribe_exchange()
    subs = Subscriptions()
    assert [subs.set_market_status(True), subs.set_market_status(False)] == capture.sent
    assert subs.set_market_status(False) is None  # already off: nothing to send


def test_edits_while_disconnected_are_what_the_next_connection_is_told() -> None:
    subs = Subscriptions()
    subs.subscribe(
        ["nse_cm|11536", {"exchange_segment": "nse_cm", "instrument_token": 1594}], mode="quote"
    )
    subs.subscribe(["nse_cm|Nifty 50"], mode="index")
    subs.subscribe(["nse_fo|44498"], mode="depth")
    subs.subscribe(["nse_cm|2885"], mode="ltp")
    subs.unsubscribe(["nse_fo|44498"], mode="depth")
    subs.set_market_status(True)
    frames = [json.loads(frame) for frame in subs.connect_frames()]
    assert frames == [
        {"event": "subscribeScripsLite", "inputtoken": "nse_cm|2885", "ack_symbol": True},
        {"event": "subscribeScrips", "inputtoken": "nse_cm|11536,nse_cm|1594", "ack_symbol": True},
        {"event": "subscribeIndices", "inputtoken": "nse_cm|Nifty 50", "ack_symbol": True},
        {"event": "subscribeExchange"},
    ]
    assert len(subs) == 4
    assert ("nse_cm|1594", "quote") in subs
    assert ("nse_cm|1594", "ltp") not in subs
    assert subs.wanted("quote") == ("nse_cm|11536", "nse_cm|1594")


def test_only_new_instruments_are_sent_and_only_held_ones_removed() -> None:
    subs = Subscriptions()
    first = subs.subscribe(["nse_cm|1", "nse_cm|2"], mode="quote")
    assert first.instruments == ("nse_cm|1", "nse_cm|2")
    again = subs.subscribe(["nse_cm|2", "nse_cm|3", "nse_cm|3"], mode="quote")
    assert again.instruments == ("nse_cm|3",)
    assert again.frame is not None
    assert json.loads(again.frame)["inputtoken"] == "nse_cm|3"
    same = subs.subscribe(["nse_cm|1"], mode="quote")
    assert same.frame is None
    assert same.instruments == ()
    other_mode = subs.subscribe(["nse_cm|1"], mode="depth")  # a pair per mode
    assert other_mode.instruments == ("nse_cm|1",)
    gone = subs.unsubscribe(["nse_cm|1", "nse_cm|9"], mode="quote")
    assert gone.instruments == ("nse_cm|1",)
    assert subs.unsubscribe(["nse_cm|9"], mode="quote").frame is None
    assert len(subs) == 3
    assert Subscriptions().connect_frames() == []


def test_the_cap_counts_pairs_and_refuses_the_whole_request_naming_the_count() -> None:
    subs = Subscriptions()
    subs.subscribe([f"nse_cm|{i}" for i in range(2999)], mode="quote")
    subs.subscribe(["nse_cm|0"], mode="quote")  # held already: not counted twice
    with pytest.raises(SubscriptionError) as info:
        subs.subscribe(["nse_cm|5000", "nse_cm|5001"], mode="ltp")
    error = info.value
    assert error.count == 3001
    assert error.limit == 3000
    assert "3001 subscriptions" in str(error)
    assert "max_subscriptions" in str(error)
    assert len(subs) == 2999  # nothing of the refused request was added
    assert ("nse_cm|5000", "ltp") not in subs
    subs.subscribe(["nse_cm|5000"], mode="ltp")
    assert len(subs) == 3000
    small = Subscriptions(max_subscriptions=2)
    with pytest.raises(SubscriptionError, match="3 subscriptions"):
        small.subscribe(["nse_cm|1", "nse_cm|2", "nse_cm|3"], mode="index")


@pytest.mark.parametrize("mode", ["LTP", "scrips", "", None, 4])
def test_a_bad_mode_is_named_with_the_modes_allowed(mode: object) -> None:
    with pytest.raises(ValueError, match=r"mode=.* is not allowed: use one of 'ltp', 'quote'"):
        check_mode(mode)
    with pytest.raises(ValueError, match="is not allowed"):
        Subscriptions().subscribe(["nse_cm|1"], mode=mode)  # type: ignore[arg-type]


def test_bad_instruments_are_named() -> None:
    subs = Subscriptions()
    with pytest.raises(TypeError, match="instruments must be a list"):
        subs.subscribe("nse_cm|1", mode="quote")
    with pytest.raises(ValueError, match="must not be empty"):
        subs.subscribe([], mode="quote")
    with pytest.raises(ValueError, match=r"instruments\[1\] 'nse_cm' is not 'segment\|token'"):
        subs.subscribe(["nse_cm|1", "nse_cm"], mode="quote")
    with pytest.raises(ValueError, match="exchange_segment"):
        subs.subscribe(["xyz|1"], mode="quote")
    assert len(subs) == 0


@pytest.mark.parametrize("bad", [0, -1, True, "3000"])
def test_a_bad_cap_is_refused(bad: object) -> None:
    with pytest.raises((TypeError, ValueError), match="max_subscriptions"):
        Subscriptions(max_subscriptions=bad)  # type: ignore[arg-type]
