"""Reads that found nothing for part of what was asked: which part, and what to do about it.

Kotak does not fail these reads. ``quotes`` leaves an instrument it does not know out of
its answer (an array of the others, HTTP 200), and ``order_history`` of an order number
the account does not have answers "No Data" (``stCode`` 5203), which the client reads as
an empty history, as for every list. So by default (``missing="ignore"``) ``quotes``
returns fewer quotes than instruments and ``order_history`` returns ``[]``; with
``missing="raise"`` both raise :class:`~aioneo.NotFoundError` naming what is missing.

Which instrument a quote answers is read from the quote itself (``exchange`` and
``exchange_token``), because the answer keeps the order asked but not the positions of
the instruments left out. Both sides are compared ignoring case and surrounding spaces
(index tokens are names such as ``Nifty 50``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Literal, Protocol

from .._exceptions import NotFoundError
from ._requests import InstrumentLike, _neo_symbol

__all__ = [
    "MISSING_MODES",
    "MissingMode",
    "check_missing",
    "missing_instruments",
    "no_history",
    "no_quotes",
]

#: ``missing=`` values: ``"ignore"`` (the default: return what came back) or ``"raise"``.
MissingMode = Literal["ignore", "raise"]
MISSING_MODES: tuple[str, ...] = ("ignore", "raise")


class _QuoteLike(Protocol):
    @property
    def exchange_segment(self) -> str | None: ...

    @property
    def exchange_token(self) -> str | None: ...


def check_missing(missing: object) -> bool:
    """Refuse a bad ``missing=``; return whether missing items raise."""
    if not isinstance(missing, str) or missing not in MISSING_MODES:
        raise ValueError(
            f"missing {missing!r} is not allowed; use 'ignore' (return what was found) or "
            "'raise' (NotFoundError naming what was not)"
        )
    return missing == "raise"


def _key(segment: str | None, token: str | None) -> tuple[str, str] | None:
    if segment is None or token is None:
        return None
    return str(segment).strip().casefold(), token.strip().casefold()


def missing_instruments(
    instrument_tokens: Sequence[InstrumentLike], quotes: Iterable[_QuoteLike]
) -> tuple[str, ...]:
    """The instruments (``"seg|token"``, once each, in the order asked) no quote is for."""
    answered = {_key(q.exchange_segment, q.exchange_token) for q in quotes}
    out: list[str] = []
    for index, item in enumerate(instrument_tokens):
        segment, token = _neo_symbol(index, item)
        name = f"{segment}|{token}"
        if _key(segment, token) not in answered and name not in out:
            out.append(name)
    return tuple(out)


def no_quotes(missing: tuple[str, ...], *, asked: int, found: Sequence[Any]) -> NotFoundError:
    """The error for ``quotes(..., missing="raise")`` when ``missing`` is not empty."""
    names = ", ".join(missing)
    return NotFoundError(
        f"no quote for {len(missing)} of {asked} instrument(s): {names} (Kotak leaves "
        "instruments it does not know out of its answer: check each segment and token "
        "against the scrip master)",
        endpoint="quotes",
        status_code=200,  # the answer was a plain array, without them
        missing=missing,
        found=tuple(found),
    )


def no_history(order_id: str) -> NotFoundError:
    """The error for ``order_history(..., missing="raise")`` when the history is empty."""
    return NotFoundError(
        f"no order {order_id!r}: Kotak has no history for it (every order has at least one "
        "state), so this account has no order with that number",
        endpoint="order_history",
        missing=(order_id,),
    )
