"""Reconciliation: is an order in the book the one a ``place_order`` call meant to place?

Pure: the shell fetches the order book and hands it over with the request it sent; this
module says whether the call placed an order (and which), did not, or cannot tell.

Tags. Kotak echoes a tag (``ig``) back as ``GuiOrdId`` and rewrites it later: a modify
makes it ``<tag>-M<n>`` and a cancel ``<tag>-<unix seconds>`` (``users-and-peers.md``, v2
#33; the emulator does the same). Only those forms are taken as the tag: ``strat-10`` is
not a rewrite of ``strat-1``, and neither is ``strat-1x``. A user may choose a tag that
looks like a rewrite of another (``strat-20`` beside ``strat``), so the forms are narrowed
further by what each rewrite implies about the order:

* ``<tag>`` exactly (:attr:`TagForm.EXACT`): the order was placed with this tag;
* ``<tag>-<unix seconds>`` (:attr:`TagForm.CANCELLED`: ten digits, a time between 2020
  and 2100) counts only for an order that is cancelled. ``strat-20`` is never taken for a
  cancelled ``strat``: the exchange cancels an IOC order without rewriting its tag, so a
  cancelled ``strat-20`` may well be somebody's own;
* ``<tag>-M<n>`` (:attr:`TagForm.MODIFIED`) could be a modified ``<tag>`` or an unmodified
  order tagged ``<tag>-M<n>`` by the user; nothing in the row tells them apart.

Only an exact tag is ever taken as proof that a call placed its order: a rewritten form
(which a user's own tag may look like) makes the outcome uncertain, never "placed".

Intent. An exact-tag order counts as *this call's* order only if the book row agrees with
what the call sent: segment, trading symbol, side, product, order type, validity,
quantity, disclosed quantity, the price of a limit order and the trigger of a stop order.
An exact-tag order that differs in what the server never changes (segment, symbol, side,
product) is another order that took the tag first; since Kotak refuses a tag already used
that day (``stCode`` 5204), this call's order cannot exist under that tag. One that differs
only in what the server may round or a modify may change (price, quantity, type) is
uncertain.

Verdicts (:func:`reconcile`), and what the shell does with them:

* :attr:`Verdict.PLACED`: exactly one order matches tag and intent: it is returned as
  placed. A caller who reuses a tag for an identical order, and whose session expires at
  that moment, gets the earlier order back: the tag then acts as an idempotency key.
* :attr:`Verdict.ABSENT`: no order carries the tag in any form.
* :attr:`Verdict.NOT_OURS`: the tag is held, exactly, by an order for another instrument,
  side or product: the call's order was not placed (the server refuses the tag for it).
* :attr:`Verdict.UNCERTAIN`: something could be this call's order but cannot be proved
  (a rewritten form, several matches, a price or quantity that differs, a row missing a
  field): the outcome is unknown.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol, TypeVar

from .._exceptions import AmbiguousTagError

__all__ = [
    "OrderRow",
    "Reconciliation",
    "TagForm",
    "Verdict",
    "candidates",
    "lookup",
    "reconcile",
    "tag_form",
]

_REWRITE = re.compile(r"-(?:M(?P<modified>[0-9]{1,3})|(?P<cancelled>[0-9]{10}))")
#: A cancel's suffix is unix seconds: between 2020-01-01 and 2100-01-01.
_CANCEL_SECONDS = range(1_577_836_800, 4_102_444_800)
_MARKET_TYPES = frozenset({"MKT", "SL-M"})
_STOP_TYPES = frozenset({"SL", "SL-M"})
_CANCELLED = frozenset({"CANCELLED", "CANCELED", "CAN", "CANCEL PENDING"})


class OrderRow(Protocol):
    """The fields of :class:`aioneo.Order` that reconciliation reads."""

    @property
    def order_id(self) -> str: ...
    @property
    def tag(self) -> str | None: ...
    @property
    def status(self) -> Any: ...
    @property
    def exchange_segment(self) -> Any: ...
    @property
    def trading_symbol(self) -> str | None: ...
    @property
    def transaction_type(self) -> Any: ...
    @property
    def product(self) -> Any: ...
    @property
    def order_type(self) -> Any: ...
    @property
    def quantity(self) -> int | None: ...
    @property
    def price(self) -> Decimal | None: ...
    @property
    def trigger_price(self) -> Decimal | None: ...
    @property
    def validity(self) -> Any: ...
    @property
    def disclosed_quantity(self) -> int | None: ...


R = TypeVar("R", bound=OrderRow)


class TagForm(enum.Enum):
    EXACT = "exact"  # GuiOrdId == tag
    MODIFIED = "modified"  # GuiOrdId == tag + "-M<n>"
    CANCELLED = "cancelled"  # GuiOrdId == tag + "-<digits>"


def tag_form(tag: str, gui: str | None) -> TagForm | None:
    """How ``gui`` (a ``GuiOrdId``) relates to ``tag``: one of Kotak's forms, or ``None``."""
    if gui is None or not gui.startswith(tag):
        return None
    rest = gui[len(tag) :]
    if not rest:
        return TagForm.EXACT
    match = _REWRITE.fullmatch(rest)
    if match is None:
        return None
    if match.group("modified") is not None:
        return TagForm.MODIFIED
    return TagForm.CANCELLED if int(match.group("cancelled")) in _CANCEL_SECONDS else None


def _code(value: Any) -> str | None:
    """An enum member, a str or None as its wire code, upper-cased for comparison."""
    if value is None:
        return None
    raw = getattr(value, "value", value)
    return str(raw).strip().upper()


def _is_cancelled(order: OrderRow) -> bool:
    status = _code(order.status)
    return status in _CANCELLED


def candidates(tag: str, orders: Iterable[R]) -> list[tuple[TagForm, R]]:
    """Orders whose ``GuiOrdId`` is ``tag`` in one of Kotak's forms (module docstring).

    A ``<tag>-<digits>`` form counts only for a cancelled order. Exact matches come first.
    """
    found: list[tuple[TagForm, R]] = []
    for order in orders:
        form = tag_form(tag, order.tag)
        if form is None or (form is TagForm.CANCELLED and not _is_cancelled(order)):
            continue
        found.append((form, order))
    found.sort(key=lambda pair: pair[0] is not TagForm.EXACT)
    return found


def lookup(tag: str, orders: Iterable[R]) -> R | None:
    """``find_order``: the order carrying ``tag`` exactly, else the one order carrying it
    in a rewritten form, else ``None``; several rewritten candidates raise
    :class:`~aioneo.AmbiguousTagError` (nothing here tells which one was placed as ``tag``).
    """
    found = candidates(tag, orders)
    exact = [order for form, order in found if form is TagForm.EXACT]
    if exact:
        return exact[0]
    if len(found) == 1:
        return found[0][1]
    if not found:
        return None
    ids = tuple(order.order_id for _, order in found)
    listed = ", ".join(f"{order.order_id} ({order.tag!r})" for _, order in found)
    raise AmbiguousTagError(
        f"find_order: no order carries the tag {tag!r} exactly, and several carry it in a "
        f"rewritten form (after a modify or a cancel): {listed}; look them up by order id",
        tag=tag,
        order_ids=ids,
    )


def _decimal(text: object) -> Decimal | None:
    try:
        return Decimal(str(text))
    except (InvalidOperation, ValueError):
        return None


#: Fields the server never changes on an order: a difference proves another order.
FIXED_FIELDS = frozenset({"exchange_segment", "trading_symbol", "transaction_type", "product"})


def _number(text: object) -> int | str:
    value = str(text if text is not None else "")
    return int(value) if value.isdecimal() else value


def _differences(intent: Mapping[str, Any], order: OrderRow) -> list[str]:
    """The fields in which ``order`` disagrees with the jData ``intent`` ("?" if unknown)."""
    out: list[str] = []

    def same(name: str, want: object, have: object) -> None:
        if have is None:
            out.append(f"{name}=?")
        elif want != have:
            out.append(f"{name}={have}")

    want_type = _code(intent.get("pt"))
    same("exchange_segment", _code(intent.get("es")), _code(order.exchange_segment))
    same("trading_symbol", _code(intent.get("ts")), _code(order.trading_symbol))
    same("transaction_type", _code(intent.get("tt")), _code(order.transaction_type))
    same("product", _code(intent.get("pc")), _code(order.product))
    same("order_type", want_type, _code(order.order_type))
    same("validity", _code(intent.get("rt")), _code(order.validity))
    same("quantity", _number(intent.get("qt")), order.quantity)
    if "dq" in intent:
        same("disclosed_quantity", _number(intent.get("dq")), order.disclosed_quantity)
    if want_type not in _MARKET_TYPES:
        same("price", _decimal(intent.get("pr")), order.price)
    if want_type in _STOP_TYPES:
        same("trigger_price", _decimal(intent.get("tp")), order.trigger_price)
    return out


def _field(difference: str) -> str:
    return difference.split("=", 1)[0]


class Verdict(enum.Enum):
    PLACED = "placed"
    ABSENT = "absent"
    NOT_OURS = "not_ours"
    UNCERTAIN = "uncertain"


@dataclass(frozen=True, slots=True)
class Reconciliation:
    verdict: Verdict
    #: The order: this call's (``PLACED``), or the one holding the tag (``NOT_OURS``).
    order: OrderRow | None = None
    #: Why, in words fit for an exception message (no credentials, only order facts).
    reason: str = ""


def _describe(order: OrderRow) -> str:
    return (
        f"order {order.order_id} (tag {order.tag!r}, {_code(order.transaction_type)} "
        f"{order.quantity} {order.trading_symbol}, {_code(order.status)})"
    )


def reconcile(tag: str, intent: Mapping[str, Any], orders: Iterable[OrderRow]) -> Reconciliation:
    """Whether ``orders`` (the book) hold the order that ``intent`` (jData) placed as ``tag``."""
    found = candidates(tag, orders)
    if not found:
        return Reconciliation(Verdict.ABSENT, reason=f"no order carries the tag {tag!r}")
    matching: list[OrderRow] = []
    unproven: list[str] = []
    holders: list[tuple[OrderRow, list[str]]] = []
    for form, order in found:
        diff = _differences(intent, order)
        fixed = [d for d in diff if _field(d) in FIXED_FIELDS and not d.endswith("=?")]
        if form is not TagForm.EXACT:
            # A rewritten form proves nothing (a user's own tag may look like one); one
            # for another instrument, side or product is simply not this call's.
            if not fixed:
                unproven.append(f"{_describe(order)} may be it ({form.value} since)")
            continue
        if not diff:
            matching.append(order)
        elif fixed:
            holders.append((order, fixed))
        else:  # the server may round a price; a modify may change quantity or type
            unproven.append(f"{_describe(order)} differs in {', '.join(diff)}")
    if len(matching) == 1 and not unproven and not holders:
        return Reconciliation(Verdict.PLACED, order=matching[0])
    if matching or unproven:
        listed = "; ".join([_describe(o) for o in matching] + unproven)
        many = "several orders match" if len(matching) > 1 else "cannot tell which is this call's"
        return Reconciliation(Verdict.UNCERTAIN, reason=f"{many}: {listed}")
    if holders:
        order, diff = holders[0]
        return Reconciliation(
            Verdict.NOT_OURS,
            order=order,
            reason=(
                f"the tag {tag!r} belongs to another order, {_describe(order)}, which differs "
                f"in {', '.join(diff)}"
            ),
        )
    return Reconciliation(
        Verdict.ABSENT, reason=f"no order with the tag {tag!r} matches the request"
    )
