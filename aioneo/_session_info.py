"""The public, non-secret facts of a session."""

from __future__ import annotations

from dataclasses import dataclass

from ._core._session import Session

__all__ = ["SessionInfo"]


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """What a caller may know about the current session: never the token or the sid.

    ``epoch`` counts successful logins of this client (1 after the first).
    ``expires_at`` is the local unix time the session ends, when the token says.
    """

    epoch: int
    base_url: str
    data_center: str | None
    ucc: str | None
    expires_at: float | None

    @classmethod
    def of(cls, session: Session) -> SessionInfo:
        return cls(
            session.epoch, session.base_url, session.data_center, session.ucc, session.expires_at
        )
