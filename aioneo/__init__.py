"""aioneo: an asyncio-first Kotak Neo Trade API client with single-flight relogin."""

from ._async_client import AsyncNeoClient
from ._core._session import SessionStats
from ._credentials import Credentials
from ._exceptions import (
    AccessDeniedError,
    APIError,
    BusinessError,
    ClientClosedError,
    ConnectError,
    FatalLoginError,
    InvalidResponseError,
    LoginError,
    NeoError,
    OrderOutcomeUnknown,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    SessionError,
    SessionExpiredError,
    StatusError,
    TransientLoginError,
    TransportError,
)
from ._session_info import SessionInfo
from ._version import __version__

__all__ = [
    "APIError",
    "AccessDeniedError",
    "AsyncNeoClient",
    "BusinessError",
    "ClientClosedError",
    "ConnectError",
    "Credentials",
    "FatalLoginError",
    "InvalidResponseError",
    "LoginError",
    "NeoError",
    "OrderOutcomeUnknown",
    "RateLimitError",
    "RequestTimeoutError",
    "ServerError",
    "SessionError",
    "SessionExpiredError",
    "SessionInfo",
    "SessionStats",
    "StatusError",
    "TransientLoginError",
    "TransportError",
    "__version__",
]
