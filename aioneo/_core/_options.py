"""The checks both clients make on their constructor options, in one place.

``AsyncNeoClient`` and ``NeoClient`` take the same keywords; a bad value raises the same
``TypeError``/``ValueError``, naming the option, the value and what is allowed, from
either twin.
"""

from __future__ import annotations

from .._credentials import Credentials

__all__ = ["check_client_options"]


def check_client_options(
    credentials: object,
    *,
    login_url: str,
    timeout: float | None,
    login_timeout: float,
    max_connections: int,
) -> str:
    """Refuse bad options; return ``login_url`` without a trailing slash."""
    if not isinstance(credentials, Credentials):
        raise TypeError(f"credentials must be aioneo.Credentials, got {type(credentials).__name__}")
    if not isinstance(login_url, str) or not login_url.startswith(("http://", "https://")):
        raise ValueError(f"login_url must start with http:// or https://, got {login_url!r}")
    if timeout is not None and not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds or None, got {timeout!r}")
    if not login_timeout > 0:
        raise ValueError(
            f"login_timeout must be a positive number of seconds, got {login_timeout!r}"
        )
    if isinstance(max_connections, bool) or not isinstance(max_connections, int):
        raise ValueError(f"max_connections must be an int >= 1, got {max_connections!r}")
    if max_connections < 1:
        raise ValueError(f"max_connections must be an int >= 1, got {max_connections!r}")
    return login_url.rstrip("/")
