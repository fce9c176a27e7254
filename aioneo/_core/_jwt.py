"""Read the claims of a JWT-shaped token without verifying it (we are not its audience).

Only ``exp`` and ``iat`` are used: to refuse a token that is already expired when it is
issued (scenario 14) and to know when a session will end. A token that is not JWT-shaped
(opaque) has no expiry information; that is allowed (scenario 38). A token that *looks*
like a JWT but whose payload cannot be decoded is refused.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

__all__ = ["TokenError", "token_expiry", "token_times"]


class TokenError(ValueError):
    """The token is empty, or JWT-shaped with an unreadable payload. Never holds the token."""


def _claims(token: str) -> dict[str, Any] | None:
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload.encode("ascii")))
    except (ValueError, UnicodeError, binascii.Error) as exc:
        raise TokenError("the token looks like a JWT but its payload is unreadable") from exc
    if not isinstance(claims, dict):
        raise TokenError("the token's JWT payload is not a JSON object")
    return claims


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def token_times(token: object) -> tuple[float | None, float | None]:
    """``(iat, exp)`` as unix seconds; each ``None`` when the token does not carry it."""
    if not isinstance(token, str) or not token:
        raise TokenError("the token is empty or not a string")
    claims = _claims(token)
    if claims is None:
        return None, None
    return _number(claims.get("iat")), _number(claims.get("exp"))


def token_expiry(token: object) -> float | None:
    """The ``exp`` claim as unix seconds, or ``None`` when the token carries none."""
    return token_times(token)[1]
