"""Credentials: validation messages that say what is expected, and no secret in any repr."""

from __future__ import annotations

import pickle

import pyotp
import pytest

from aioneo import Credentials

GOOD = {
    "consumer_key": "ck-demo-0123456789",
    "mobile_number": "+919876543210",
    "ucc": "AB123",
    "mpin": "123456",
    "totp_secret": "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
}


def make(**changes: object) -> Credentials:
    fields: dict[str, object] = {**GOOD, **changes}
    return Credentials(**fields)  # type: ignore[arg-type]


def test_repr_and_str_show_no_secret() -> None:
    creds = make()
    for text in (repr(creds), str(creds)):
        assert GOOD["consumer_key"] not in text
        assert GOOD["mpin"] not in text
        assert GOOD["totp_secret"] not in text
        assert "9876543210" not in text
        assert "AB123" in text
        assert "3210" in text  # masked mobile keeps the last four digits


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("mobile_number", "9876543210", "country code"),
        ("mobile_number", "+9198765", "country code"),
        ("mpin", "12345", "exactly 6 digits"),
        ("mpin", "12a456", "exactly 6 digits"),
        ("ucc", "AB 12", "unique client code"),
        ("consumer_key", "  ", "consumer_key is empty"),
        ("totp_secret", "not base32!", "base32"),
        ("totp_secret", "JBSWY3DP", "too short"),
    ],
)
def test_bad_values_are_named(field: str, value: str, expected: str) -> None:
    with pytest.raises(ValueError, match=expected) as caught:
        make(**{field: value})
    if field in ("mpin", "totp_secret", "consumer_key"):
        assert value.strip() == "" or value not in str(caught.value)  # secrets are not echoed


def test_exactly_one_totp_source() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        make(totp_secret=None)
    with pytest.raises(ValueError, match="exactly one"):
        make(totp_provider=lambda: "123456")


def test_wrong_types() -> None:
    with pytest.raises(TypeError, match="mpin must be a str"):
        make(mpin=123456)
    with pytest.raises(TypeError, match="callable"):
        make(totp_secret=None, totp_provider="123456")


def test_secret_codes_are_rfc6238() -> None:
    creds = make(totp_secret="jbsw y3dp ehpk 3pxp jbsw y3dp ehpk 3pxp")  # as apps show it
    assert creds.has_secret
    totp = pyotp.TOTP(GOOD["totp_secret"])
    assert creds.totp_code(1_700_000_000) == totp.at(1_700_000_000)


def test_sixteen_character_secrets_are_accepted() -> None:
    creds = make(totp_secret="JBSWY3DPEHPK3PXP")  # 80 bits, common in authenticator set-ups
    assert len(creds.totp_code(0)) == 6


def test_provider_codes_are_checked() -> None:
    creds = make(totp_secret=None, totp_provider=lambda: "654321")
    assert not creds.has_secret
    assert creds.totp_code(0) == "654321"
    bad = make(totp_secret=None, totp_provider=lambda: "12")
    with pytest.raises(ValueError, match="6-digit"):
        bad.totp_code(0)


def test_from_env_names_missing_variables() -> None:
    with pytest.raises(ValueError, match="AIONEO_MPIN, AIONEO_TOTP_SECRET"):
        Credentials.from_env(
            {
                "AIONEO_CONSUMER_KEY": "ck",
                "AIONEO_MOBILE_NUMBER": "+919876543210",
                "AIONEO_UCC": "AB1",
            }
        )
    env = {
        "AIONEO_CONSUMER_KEY": GOOD["consumer_key"],
        "AIONEO_MOBILE_NUMBER": GOOD["mobile_number"],
        "AIONEO_UCC": GOOD["ucc"],
        "AIONEO_MPIN": GOOD["mpin"],
        "AIONEO_TOTP_SECRET": GOOD["totp_secret"],
    }
    assert Credentials.from_env(env) == make()


def test_not_picklable() -> None:
    with pytest.raises(TypeError, match="secrets"):
        pickle.dumps(make())
