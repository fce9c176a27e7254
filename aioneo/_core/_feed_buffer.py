"""The bounded buffer between a feed's socket reader and its consumer. Pure data structure.

The reader never waits for the consumer (a reader that waits lets the server's send buffer
fill and the exchange's ticks age in the kernel; one that does not wait and does not bound
its queue grows without limit, the SDK's A.10 item 1). So the buffer has a ``capacity`` and
an ``overflow`` policy for when it is full:

* ``"conflate"`` (the market feed's default): a new item whose key, (instrument, mode), is
  already waiting replaces the newest waiting item of that key, in place, so the consumer
  gets the latest value without losing its place in line; the merge is counted
  (``conflated``). Items without a key (feed events, market status) and keys not waiting
  are appended, up to twice the capacity; past that the oldest item is dropped (counted in
  ``dropped``), so memory stays bounded even if more instruments than ``capacity`` tick
  while the consumer sleeps. With the default capacity (10,000) and the 3,000-pair
  subscription cap that ceiling is never reached.
* ``"drop_oldest"``: the oldest waiting item makes room (counted in ``dropped``).
* ``"error"``: the item is refused and the buffer fails: the consumer first gets everything
  that was waiting, then :class:`~aioneo.FeedOverflowError`.

The order feed uses ``"error"`` always (:meth:`FeedBuffer.never_drop`): an order update is
never conflated or dropped; a consumer that falls ``capacity`` updates behind gets an
exception rather than a silent loss.

Below capacity nothing is merged or dropped: a consumer that keeps up sees every item.
Not thread-safe by itself: the shell holds its lock (sync) or owns it on its loop (async)
around each call.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from typing import Any, Final, Generic, Literal, TypeVar

from .._exceptions import FeedOverflowError
from ._feed_decode import CasChange, IndexTick, Tick

__all__ = [
    "DEFAULT_CAPACITY",
    "OVERFLOW_POLICIES",
    "FeedBuffer",
    "Overflow",
    "check_overflow",
    "conflation_key",
]

Overflow = Literal["conflate", "drop_oldest", "error"]
OVERFLOW_POLICIES: Final[tuple[Overflow, ...]] = ("conflate", "drop_oldest", "error")
#: Items a market feed buffers before its overflow policy applies. 5,000: more than the
#: 3,000 (instrument, mode) pairs one connection may hold, so conflation still keeps one
#: latest item per pair, while a consumer that falls behind holds about 6 MiB of ticks
#: (``benchmarks/feeds_e2e.py --parts slow``: +6.0 MiB over 60 s at 5,000, +12.2 MiB at
#: 10,000, against a 10 MiB target).
DEFAULT_CAPACITY: Final = 5_000

T = TypeVar("T")


def check_overflow(overflow: object) -> Overflow:
    if isinstance(overflow, str) and overflow in OVERFLOW_POLICIES:
        return overflow
    allowed = ", ".join(repr(p) for p in OVERFLOW_POLICIES)
    raise ValueError(f"overflow={overflow!r} is not allowed: use one of {allowed}")


def conflation_key(item: object) -> Hashable | None:
    """(instrument, mode) of a market item, in wire terms; ``None``: never conflated."""
    if isinstance(item, Tick):
        values = item._v
        return (values[2], values[7], values[3])  # exchange id, token, level (1..16)
    if isinstance(item, IndexTick):
        values = item._v
        return ("index", values[2], values[7])  # its level byte means nothing
    if isinstance(item, CasChange):
        return ("cas", item.exchange_segment, item.instrument_token)
    return None


class FeedBuffer(Generic[T]):
    """A bounded FIFO with an overflow policy (see the module docstring)."""

    __slots__ = (
        "_index",
        "_queue",
        "capacity",
        "conflated",
        "dropped",
        "error",
        "high_water",
        "overflow",
        "pushed",
        "what",
    )

    def __init__(
        self, *, capacity: int = DEFAULT_CAPACITY, overflow: str = "conflate", what: str = "items"
    ) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int):
            raise TypeError(f"capacity must be an int, got {capacity!r}")
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity!r}")
        self.capacity = capacity
        self.overflow: Overflow = check_overflow(overflow)
        self.what = what
        self._queue: deque[Any] = deque()
        #: Key -> the newest waiting [key, item] of that key, while boxed (else None).
        self._index: dict[Hashable, list[Any]] | None = None
        self.pushed = 0
        self.conflated = 0
        self.dropped = 0
        self.high_water = 0
        #: Set once the ``"error"`` policy refused an item; raised after the backlog.
        self.error: FeedOverflowError | None = None

    @classmethod
    def never_drop(cls, *, capacity: int, what: str = "order updates") -> FeedBuffer[T]:
        """The order feed's buffer: nothing conflated or dropped, an error past capacity."""
        return cls(capacity=capacity, overflow="error", what=what)

    def __len__(self) -> int:
        return len(self._queue)

    # The queue holds the items themselves until a conflating buffer first overflows;
    # then it is "boxed" once (each item in a [key, item] list, indexed by key, so a
    # newer item can replace a waiting one in place) until the consumer has drained it.
    # A consumer that keeps up never pays for keys or the index.

    def push(self, item: T) -> bool:
        """Add ``item``; ``False`` if it was refused (the ``"error"`` policy failed)."""
        if self.error is not None:
            return False
        queue = self._queue
        index = self._index
        if len(queue) >= self.capacity:
            if self.overflow == "conflate":
                if index is None:
                    index = self._box()
                    queue = self._queue
                key = conflation_key(item)
                if key is not None:
                    entry = index.get(key)
                    if entry is not None:
                        entry[1] = item
                        self.conflated += 1
                        self.pushed += 1
                        return True
                if len(queue) >= 2 * self.capacity:
                    self._drop_oldest()
            elif self.overflow == "drop_oldest":
                self._drop_oldest()
            else:
                self.error = FeedOverflowError(
                    f"the consumer fell {len(queue)} {self.what} behind (capacity {self.capacity}"
                    f"); nothing is dropped with overflow={self.overflow!r}, so the feed stops "
                    "here. Read faster, raise capacity, or choose overflow='conflate' (market "
                    "feed only)",
                    capacity=self.capacity,
                    policy=self.overflow,
                )
                return False
        if index is None:
            queue.append(item)
        else:
            key = conflation_key(item)
            entry = [key, item]
            queue.append(entry)
            if key is not None:
                index[key] = entry
        self.pushed += 1
        if len(queue) > self.high_water:
            self.high_water = len(queue)
        return True

    def _box(self) -> dict[Hashable, list[Any]]:
        index: dict[Hashable, list[Any]] = {}
        boxed: deque[Any] = deque()
        for item in self._queue:
            key = conflation_key(item)
            entry = [key, item]
            boxed.append(entry)
            if key is not None:
                index[key] = entry  # the newest waiting item of each key
        self._queue = boxed
        self._index = index
        return index

    def _unbox(self, entry: list[Any]) -> Any:
        index = self._index
        assert index is not None
        key = entry[0]
        if key is not None and index.get(key) is entry:
            del index[key]
        if not self._queue:
            self._index = None  # drained: back to a plain queue
        return entry[1]

    def _drop_oldest(self) -> None:
        entry = self._queue.popleft()
        if self._index is not None:
            self._unbox(entry)
        self.dropped += 1

    def pop(self) -> T | None:
        """The oldest item, or ``None`` when empty. Raises the overflow error (once the
        backlog is read) if the ``"error"`` policy failed."""
        queue = self._queue
        if not queue:
            if self.error is not None:
                raise self.error
            return None
        entry = queue.popleft()
        if self._index is None:
            item: T = entry
            return item
        boxed: T = self._unbox(entry)
        return boxed

    def clear(self) -> None:
        self._queue.clear()
        self._index = None
