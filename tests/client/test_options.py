"""Both clients refuse the same bad constructor options with the same messages."""

from __future__ import annotations

from typing import Any

import pytest

from aioneo import AsyncNeoClient, Credentials, NeoClient

CREDS = Credentials(
    "ck-demo", "+919876543210", "AB123", "123456", totp_secret="JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
)


@pytest.mark.parametrize("client", [AsyncNeoClient, NeoClient])
@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"login_url": "mis.kotaksecurities.com"}, ValueError, "login_url must start"),
        ({"timeout": 0}, ValueError, "timeout must be a positive"),
        ({"login_timeout": -1}, ValueError, "login_timeout must be a positive"),
        ({"max_connections": 0}, ValueError, "max_connections must be an int >= 1"),
        ({"max_connections": True}, ValueError, "max_connections must be an int >= 1"),
        ({"rate_limit": 0}, ValueError, "rate_limit"),
    ],
)
def test_bad_options(
    client: Any, options: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        client(CREDS, **options)


@pytest.mark.parametrize("client", [AsyncNeoClient, NeoClient])
def test_credentials_must_be_credentials(client: Any) -> None:
    with pytest.raises(TypeError, match=r"aioneo\.Credentials"):
        client({"consumer_key": "x"})
