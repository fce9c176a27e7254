"""Login credentials, validated on construction, never shown.

``repr`` and ``str`` show the UCC and a masked mobile number only: no consumer key, MPIN,
TOTP secret or code, so a ``Credentials`` object can be logged or put in an exception
without leaking anything.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Callable, Mapping

import pyotp

__all__ = ["ENV_VARS", "Credentials"]

#: Environment variables read by :meth:`Credentials.from_env`, by field.
ENV_VARS: Mapping[str, str] = {
    "consumer_key": "AIONEO_CONSUMER_KEY",
    "mobile_number": "AIONEO_MOBILE_NUMBER",
    "ucc": "AIONEO_UCC",
    "mpin": "AIONEO_MPIN",
    "totp_secret": "AIONEO_TOTP_SECRET",
}

_MOBILE = re.compile(r"^\+91[6-9]\d{9}$")
_MPIN = re.compile(r"^\d{6}$")
_UCC = re.compile(r"^[A-Za-z0-9]{1,20}$")
_CODE = re.compile(r"^\d{6}$")
#: The shortest setup key accepted, in bytes: 80 bits, the 16-character keys many
#: authenticator set-ups still issue (pyotp >= 2.10 asks for 112 bits by default).
_MIN_SECRET_BYTES = 10


class _TOTP(pyotp.TOTP):
    min_secret_length_bits = _MIN_SECRET_BYTES * 8


def _normalise_secret(secret: str) -> str:
    cleaned = secret.replace(" ", "").replace("-", "").upper()
    padded = cleaned + "=" * (-len(cleaned) % 8)
    try:
        raw = base64.b32decode(padded, casefold=True)
    except (binascii.Error, ValueError):
        raise ValueError(
            "totp_secret must be the base32 setup key shown at TOTP registration "
            "(letters A-Z and digits 2-7); the value given is not valid base32"
        ) from None
    if len(raw) < _MIN_SECRET_BYTES:
        raise ValueError(
            "totp_secret is too short: a TOTP setup key holds at least 16 base32 characters"
        )
    return cleaned


class Credentials:
    """What a login needs: consumer key, mobile number, UCC, MPIN and a TOTP source.

    Give exactly one TOTP source: ``totp_secret`` (the base32 setup key; codes are then
    computed for the exact 30 s step the client chooses) or ``totp_provider`` (a callable
    returning the current 6-digit code, for secrets kept elsewhere; the client still waits
    for a fresh step between logins, but cannot choose the step itself).

    >>> Credentials.from_env()  # doctest: +SKIP
    Credentials(ucc='AB123', mobile_number='+91******3210')

    Immutable; safe to share between threads and clients.
    """

    __slots__ = ("_consumer_key", "_mobile_number", "_mpin", "_totp", "_totp_provider", "_ucc")

    def __init__(
        self,
        consumer_key: str,
        mobile_number: str,
        ucc: str,
        mpin: str,
        totp_secret: str | None = None,
        totp_provider: Callable[[], str] | None = None,
    ) -> None:
        for name, value in (
            ("consumer_key", consumer_key),
            ("mobile_number", mobile_number),
            ("ucc", ucc),
            ("mpin", mpin),
        ):
            if not isinstance(value, str):
                raise TypeError(f"{name} must be a str, got {type(value).__name__}")
        consumer_key = consumer_key.strip()
        if not consumer_key:
            raise ValueError(
                "consumer_key is empty: copy the token from NEO app/web > Trade API > your app"
            )
        if any(ch.isspace() for ch in consumer_key):
            raise ValueError("consumer_key must not contain whitespace")
        mobile_number = mobile_number.strip()
        if not _MOBILE.match(mobile_number):
            shown = mobile_number if len(mobile_number) <= 4 else f"...{mobile_number[-4:]}"
            raise ValueError(
                f"mobile_number {shown!r} is not valid: expected the country code and ten "
                "digits, like '+919876543210'"
            )
        ucc = ucc.strip()
        if not _UCC.match(ucc):
            raise ValueError(
                f"ucc {ucc!r} is not valid: expected your unique client code, 1 to 20 letters "
                "or digits (NEO app > Profile)"
            )
        if not _MPIN.match(mpin):
            raise ValueError(f"mpin must be exactly 6 digits, got {len(mpin)} characters")
        if (totp_secret is None) == (totp_provider is None):
            raise ValueError("give exactly one of totp_secret (base32 key) or totp_provider")
        totp: _TOTP | None = None
        if totp_secret is not None:
            if not isinstance(totp_secret, str):
                raise TypeError(f"totp_secret must be a str, got {type(totp_secret).__name__}")
            totp = _TOTP(_normalise_secret(totp_secret))
        if totp_provider is not None and not callable(totp_provider):
            raise TypeError("totp_provider must be a callable returning a 6-digit code")
        self._consumer_key = consumer_key
        self._mobile_number = mobile_number
        self._ucc = ucc
        self._mpin = mpin
        self._totp = totp
        self._totp_provider = totp_provider

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Credentials:
        """Read ``AIONEO_CONSUMER_KEY``, ``AIONEO_MOBILE_NUMBER``, ``AIONEO_UCC``,
        ``AIONEO_MPIN`` and ``AIONEO_TOTP_SECRET``; a missing one is named in the error."""
        env = os.environ if environ is None else environ
        missing = [var for var in ENV_VARS.values() if not env.get(var, "").strip()]
        if missing:
            raise ValueError("missing environment variables: " + ", ".join(missing))
        return cls(
            consumer_key=env[ENV_VARS["consumer_key"]],
            mobile_number=env[ENV_VARS["mobile_number"]],
            ucc=env[ENV_VARS["ucc"]],
            mpin=env[ENV_VARS["mpin"]],
            totp_secret=env[ENV_VARS["totp_secret"]],
        )

    # Public read access to the non-secret fields only.
    @property
    def ucc(self) -> str:
        return self._ucc

    @property
    def mobile_number(self) -> str:
        return self._mobile_number

    @property
    def masked_mobile(self) -> str:
        return self._mobile_number[:3] + "*" * 6 + self._mobile_number[-4:]

    @property
    def has_secret(self) -> bool:
        """True when codes can be computed for a chosen step (``totp_secret`` given)."""
        return self._totp is not None

    def totp_code(self, at: float) -> str:
        """The 6-digit code for unix time ``at`` (from the secret, or the provider)."""
        if self._totp is not None:
            return self._totp.at(int(at))
        assert self._totp_provider is not None
        code = self._totp_provider()
        if not isinstance(code, str) or not _CODE.match(code):
            raise ValueError("totp_provider must return the 6-digit code as a str")
        return code

    # Secret accessors for the shells only (private by convention).
    def _secret_fields(self) -> tuple[str, str]:
        return self._consumer_key, self._mpin

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Credentials):
            return NotImplemented
        return (
            self._consumer_key == other._consumer_key
            and self._mobile_number == other._mobile_number
            and self._ucc == other._ucc
            and self._mpin == other._mpin
            and self._totp_provider is other._totp_provider
            and (self._totp.secret if self._totp else None)
            == (other._totp.secret if other._totp else None)
        )

    def __hash__(self) -> int:
        return hash((self._ucc, self._mobile_number))

    def __repr__(self) -> str:
        return f"Credentials(ucc={self._ucc!r}, mobile_number={self.masked_mobile!r})"

    __str__ = __repr__

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("Credentials cannot be pickled: it holds secrets")
