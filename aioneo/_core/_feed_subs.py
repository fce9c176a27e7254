"""The market feed's wanted subscriptions: the truth every connection is told. Pure.

The set of (instrument, mode) pairs a user asked for, plus whether market-status messages
are wanted, lives here, not in any connection. ``subscribe`` / ``unsubscribe`` edit it
whether or not a socket is open (the SDK raises ``NotConnectedError`` during a gap and
forgets the request, ``feeds-and-instruments.md`` A.10 item 5); each edit returns the one
frame to send *if* a connection is live, and :meth:`Subscriptions.connect_frames` gives
what a new connection must be told: one frame per mode with every instrument of that mode,
in a fixed mode order, then ``subscribeExchange`` if market status is on.

Modes and the SDK's events (``kotak-neo-api.md`` 6.1):

=============  ======================  =========================  ======
mode           subscribe event         unsubscribe event          level
=============  ======================  =========================  ======
``ltp``        ``subscribeScripsLite`` ``unsubscribeScripsLite``  1
``quote``      ``subscribeScrips``     ``unsubscribeScrips``      4
``depth``      ``subscribeDepth``      ``unsubscribeDepth``       8
``full_depth`` ``subscribeFullDepth``  ``unsubscribeFullDepth``   16
``index``      ``subscribeIndices``    ``unsubscribeIndices``     (7207)
=============  ======================  =========================  ======

Instruments are given as for ``quotes()``: ``"nse_cm|11536"`` or
``{"exchange_segment": "nse_cm", "instrument_token": "11536"}``; an index by name
(``"nse_cm|Nifty 50"``). The cap (``max_subscriptions``, 3000 as the SDK) counts distinct
(instrument, mode) pairs across all modes; a request that would pass it is refused whole,
before anything is sent, with :class:`~aioneo.SubscriptionError` naming the count.
Frames are byte for byte the SDK's (``json.dumps``; subscribe frames carry
``"ack_symbol": true``, unsubscribe frames do not).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal

from .._exceptions import SubscriptionError
from ._requests import InstrumentLike, _neo_symbol

__all__ = [
    "DEFAULT_MAX_SUBSCRIPTIONS",
    "MODES",
    "Mode",
    "SubscriptionChange",
    "Subscriptions",
    "check_mode",
]

Mode = Literal["ltp", "quote", "depth", "full_depth", "index"]
#: The modes, in the order a new connection is told them.
MODES: Final[tuple[Mode, ...]] = ("ltp", "quote", "depth", "full_depth", "index")
#: The SDK's cap on distinct (instrument, mode) pairs.
DEFAULT_MAX_SUBSCRIPTIONS: Final = 3000

_SUBSCRIBE: Final[Mapping[str, str]] = {
    "ltp": "subscribeScripsLite",
    "quote": "subscribeScrips",
    "depth": "subscribeDepth",
    "full_depth": "subscribeFullDepth",
    "index": "subscribeIndices",
}
_UNSUBSCRIBE: Final[Mapping[str, str]] = {mode: "un" + event for mode, event in _SUBSCRIBE.items()}
SUBSCRIBE_EXCHANGE: Final = json.dumps({"event": "subscribeExchange"})
UNSUBSCRIBE_EXCHANGE: Final = json.dumps({"event": "unsubscribeExchange"})


def check_mode(mode: object) -> Mode:
    """``mode`` itself, or a ``ValueError`` naming it and the modes allowed."""
    if isinstance(mode, str) and mode in _SUBSCRIBE:
        return mode  # type: ignore[return-value]
    allowed = ", ".join(repr(m) for m in MODES)
    raise ValueError(f"mode={mode!r} is not allowed: use one of {allowed}")


def _instruments(instruments: Sequence[InstrumentLike]) -> list[str]:
    if isinstance(instruments, str | bytes) or not isinstance(instruments, Sequence):
        raise TypeError(
            "instruments must be a list such as ['nse_cm|11536'] or "
            "[{'exchange_segment': 'nse_cm', 'instrument_token': '11536'}]; got "
            f"{type(instruments).__name__}"
        )
    if not instruments:
        raise ValueError("instruments must not be empty; pass at least one instrument")
    out: list[str] = []
    seen: set[str] = set()
    for i, item in enumerate(instruments):
        try:
            segment, token = _neo_symbol(i, item)
        except (TypeError, ValueError) as exc:  # name the argument as it is called here
            text = str(exc).replace("instrument_tokens[", "instruments[", 1)
            raise type(exc)(text) from None
        key = f"{segment}|{token}"
        if key not in seen:
            seen.add(key)
            out.append(key)
    return out


def _frame(event: str, instruments: Iterable[str], *, ack: bool) -> str:
    body: dict[str, object] = {"event": event, "inputtoken": ",".join(instruments)}
    if ack:
        body["ack_symbol"] = True
    return json.dumps(body)


@dataclass(frozen=True, slots=True)
class SubscriptionChange:
    """What one ``subscribe`` / ``unsubscribe`` changed. ``frame`` is the text to send on
    a live connection (``None`` when nothing changed: every instrument was already in, or
    already out); ``instruments`` the ones it changed, in the order given."""

    mode: Mode
    instruments: tuple[str, ...]
    frame: str | None


class Subscriptions:
    """The wanted set. Not thread-safe by itself: a shell guards it (or owns it on one
    event loop)."""

    def __init__(self, *, max_subscriptions: int = DEFAULT_MAX_SUBSCRIPTIONS) -> None:
        if isinstance(max_subscriptions, bool) or not isinstance(max_subscriptions, int):
            raise TypeError(f"max_subscriptions must be an int, got {max_subscriptions!r}")
        if max_subscriptions < 1:
            raise ValueError(f"max_subscriptions must be >= 1, got {max_subscriptions!r}")
        self.max_subscriptions = max_subscriptions
        self._wanted: dict[Mode, dict[str, None]] = {mode: {} for mode in MODES}
        self.market_status = False

    def __len__(self) -> int:
        """Distinct (instrument, mode) pairs wanted."""
        return sum(len(instruments) for instruments in self._wanted.values())

    def __contains__(self, pair: object) -> bool:
        if not isinstance(pair, tuple) or len(pair) != 2:
            return False
        instrument, mode = pair
        wanted = self._wanted.get(mode)
        return wanted is not None and instrument in wanted

    def wanted(self, mode: str) -> tuple[str, ...]:
        """The instruments wanted in ``mode``, in the order first asked for."""
        return tuple(self._wanted[check_mode(mode)])

    def subscribe(self, instruments: Sequence[InstrumentLike], *, mode: str) -> SubscriptionChange:
        """Add to the wanted set; the frame carries only the instruments that are new."""
        checked = check_mode(mode)
        keys = _instruments(instruments)
        wanted = self._wanted[checked]
        new = [key for key in keys if key not in wanted]
        count = len(self) + len(new)
        if count > self.max_subscriptions:
            raise SubscriptionError(
                f"subscribing {len(new)} new instrument(s) in mode {checked!r} would make "
                f"{count} subscriptions; the limit (max_subscriptions) is "
                f"{self.max_subscriptions}, and {len(self)} are held now. Unsubscribe some "
                "first, or pass a larger max_subscriptions if your account allows it",
                count=count,
                limit=self.max_subscriptions,
            )
        for key in new:
            wanted[key] = None
        frame = _frame(_SUBSCRIBE[checked], new, ack=True) if new else None
        return SubscriptionChange(checked, tuple(new), frame)

    def unsubscribe(
        self, instruments: Sequence[InstrumentLike], *, mode: str
    ) -> SubscriptionChange:
        """Remove from the wanted set; instruments not held are ignored."""
        checked = check_mode(mode)
        keys = _instruments(instruments)
        wanted = self._wanted[checked]
        gone = [key for key in keys if key in wanted]
        for key in gone:
            del wanted[key]
        frame = _frame(_UNSUBSCRIBE[checked], gone, ack=False) if gone else None
        return SubscriptionChange(checked, tuple(gone), frame)

    def set_market_status(self, on: bool) -> str | None:
        """Turn market-status messages on or off; the frame to send if that changed."""
        if on == self.market_status:
            return None
        self.market_status = on
        return SUBSCRIBE_EXCHANGE if on else UNSUBSCRIBE_EXCHANGE

    def connect_frames(self) -> list[str]:
        """What a new connection is told: one frame per mode held, then market status."""
        frames = [
            _frame(_SUBSCRIBE[mode], instruments, ack=True)
            for mode, instruments in self._wanted.items()
            if instruments
        ]
        if self.market_status:
            frames.append(SUBSCRIBE_EXCHANGE)
        return frames
