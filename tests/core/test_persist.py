"""What a session store holds and the adopt-or-login decisions, without a store."""

from __future__ import annotations

import pytest

from aioneo import SessionStoreError, StoredSession
from aioneo._core._persist import (
    LEASE_MARGIN,
    decode,
    encode,
    failed_login_hold,
    login_lease,
    longest_lease,
    record_of,
    session_of,
    should_adopt,
)
from aioneo._core._session import new_session

from .test_session import jwt

TOKEN = "header.payload-SECRET-TOKEN.signature"
SID = "sid-SECRET-0001"


def stored(**changes: object) -> StoredSession:
    fields: dict[str, object] = {
        "generation": 3,
        "account": "AB123",
        "token": TOKEN,
        "sid": SID,
        "base_url": "https://gw.example/e21",
        "issued_at": 1000.0,
        "expires_at": 4600.0,
        "data_center": "E21",
        "ucc": "AB123",
        "totp_step": 33,
    }
    fields.update(changes)
    return StoredSession(**fields)  # type: ignore[arg-type]


def test_round_trip_and_repr_hides_secrets() -> None:
    record = stored()
    assert decode(encode(record), where="w") == record
    with_feeds = stored(feed_url="wss://f.example/apifeed", rt_url="wss://r.example/realtime")
    assert decode(encode(with_feeds), where="w") == with_feeds
    older = {k: v for k, v in encode(record).items() if k not in ("feed_url", "rt_url")}
    assert decode(older, where="w") == record  # a record written before they were kept
    assert TOKEN not in repr(record)
    assert SID not in repr(record)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"generation": "3"}, "generation"),
        ({"generation": True}, "generation"),
        ({"token": 5}, "token"),
        ({"token": ""}, "token"),
        ({"issued_at": None}, "issued_at"),
        ({"expires_at": float("nan")}, "expires_at"),
        ({"totp_step": 1.5}, "totp_step"),
        ({"account": None}, "account"),
    ],
)
def test_decode_names_the_bad_field_never_a_value(change: dict[str, object], field: str) -> None:
    payload = {**encode(stored()), **change}
    with pytest.raises(SessionStoreError, match=repr(field)) as info:
        decode(payload, where="session file 'x'")
    message = str(info.value)
    assert "session file 'x'" in message
    assert TOKEN not in message
    assert SID not in message


def test_decode_refuses_other_shapes() -> None:
    for payload in ([], "text", {"format": 99}, {**encode(stored()), "generation": 0}):
        with pytest.raises(SessionStoreError, match="refused"):
            decode(payload, where="w")


def test_adopt_only_a_newer_unexpired_session_of_the_same_account() -> None:
    record = stored(generation=3, expires_at=4600.0)
    assert should_adopt(record, generation=2, account="AB123", now=2000.0)
    # the session that just failed is never taken back
    assert not should_adopt(record, generation=3, account="AB123", now=2000.0)
    assert not should_adopt(record, generation=4, account="AB123", now=2000.0)
    assert not should_adopt(record, generation=0, account="AB123", now=4596.0)  # ends in 4 s
    assert should_adopt(stored(expires_at=None), generation=0, account="AB123", now=1e12)
    assert not should_adopt(None, generation=0, account="AB123", now=0.0)
    with pytest.raises(SessionStoreError, match="account 'AB123'"):
        should_adopt(record, generation=0, account="ZZ999", now=2000.0)
    with pytest.raises(SessionStoreError):  # even when it is older: never overwrite it silently
        should_adopt(record, generation=9, account="ZZ999", now=2000.0)


def test_session_of_and_record_of_carry_the_generation() -> None:
    adopted = session_of(stored(), epoch=7)
    assert (adopted.epoch, adopted.generation, adopted.token) == (7, 3, TOKEN)
    assert adopted.expires_at == 4600.0
    assert adopted.issued_at == 1000.0
    fresh = new_session(
        token=jwt(iat=10, exp=70), sid="s", base_url="http://gw/", epoch=1, now=10, generation=4
    )
    record = record_of(fresh, account="AB123", totp_step=12)
    assert (record.generation, record.totp_step, record.account) == (4, 12, "AB123")
    assert record.expires_at == 70.0
    assert record.base_url == "http://gw"


def test_lease_covers_the_longest_login() -> None:
    assert login_lease(30.0) == 30.0 + LEASE_MARGIN
    assert login_lease(30.0, totp_wait=12.0) == 12.0 + 30.0 + LEASE_MARGIN
    assert longest_lease(30.0) == 31.0 + 30.0 + LEASE_MARGIN


def test_failed_login_keeps_the_lock_only_while_its_code_could_be_replayed() -> None:
    assert failed_login_hold(95.0, 3, code_may_be_used=True) == 25.0  # step 3 ends at 120
    assert failed_login_hold(95.0, 3, code_may_be_used=False) == 0.0
    assert failed_login_hold(125.0, 3, code_may_be_used=True) == 0.0
    assert failed_login_hold(95.0, None, code_may_be_used=True) == 0.0
