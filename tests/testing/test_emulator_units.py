"""The emulator's pure parts: settings, tokens, sessions, TOTP checks, rate limiter, routes."""

from __future__ import annotations

import base64
import json
import random

import pyotp
import pytest

from aioneo.testing import ENDPOINTS, KOTAK_LATENCY, DemoCredentials, EmulatorConfig, Fault
from aioneo.testing._auth import SessionStore, TotpCheck, TotpVerifier, next_ist_midnight
from aioneo.testing._ratelimit import RateLimiter
from aioneo.testing._routes import Guard, resolve

SECRET = EmulatorConfig().totp_secret
T0 = 1_767_000_000.0  # a fixed instant: 2025-12-29 09:20 UTC


def _unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _claims(token: str) -> dict[str, object]:
    header, payload, signature = token.split(".")
    assert json.loads(_unb64(header)) == {"alg": "RS256", "typ": "JWT"}
    assert len(_unb64(signature)) == 256
    claims: dict[str, object] = json.loads(_unb64(payload))
    return claims


# ---------------------------------------------------------------- settings


def test_config_defaults_match_the_contract() -> None:
    config = EmulatorConfig()
    assert config.expiry_status == 401
    assert config.totp_replay_rejection is True
    assert config.single_session is False
    assert config.login_error_style == "4xx"
    assert config.rate_limit == 10.0
    assert config.max_quotes == 50
    assert config.trade_prefix == "/gw/e21"
    assert set(config.latency) == set(ENDPOINTS)
    assert set(config.latency.values()) == {0.0}


def test_config_repr_and_public_dict_hide_secrets() -> None:
    config = EmulatorConfig()
    for secret in (config.consumer_key, config.mpin, config.totp_secret):
        assert secret not in repr(config)
        assert secret not in json.dumps(config.public_dict())
    creds = DemoCredentials("ck-secret", "+911234567890", "U1", "654321", SECRET)
    assert "ck-secret" not in repr(creds)
    assert "654321" not in repr(creds)
    assert SECRET not in repr(creds)
    assert creds.as_dict()["mpin"] == "654321"


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"expiry_status": 500}, "expiry_status=500"),
        ({"expiry_status": True}, "expiry_status=True"),
        ({"login_error_style": "html"}, "login_error_style='html'"),
        ({"rate_limit": 0}, "rate_limit=0"),
        ({"rate_limit": float("inf")}, "rate_limit=inf"),
        ({"session_ttl": -1}, "session_ttl=-1"),
        ({"totp_skew_steps": -1}, "totp_skew_steps=-1"),
        ({"totp_replay_rejection": 1}, "totp_replay_rejection=1"),
        ({"single_session": "yes"}, "single_session='yes'"),
        ({"trade_prefix": "gw/"}, "trade_prefix='gw/'"),
        ({"trade_prefix": "/__emulator"}, "reserved"),
        ({"base_url": "ftp://x"}, "base_url='ftp://x'"),
        ({"mobile_number": "9999"}, "mobile_number='9999'"),
        ({"mpin": "12"}, "mpin is not allowed"),
        ({"totp_secret": "not base32!!!!!!!!"}, "totp_secret is not allowed"),
        ({"latency": {"nope": 1}}, "latency key 'nope'"),
        ({"latency": {"login": -1}}, "latency['login']=-1"),
        ({"max_quotes": 0}, "max_quotes=0"),
        ({"consumer_key": " "}, "consumer_key is not allowed"),
    ],
)
def test_config_rejects_bad_values_naming_field_and_value(
    changes: dict[str, object], fragment: str
) -> None:
    with pytest.raises(ValueError, match=r"not allowed|reserved") as info:
        EmulatorConfig(**changes)  # type: ignore[arg-type]
    assert fragment in str(info.value)


def test_config_secret_errors_do_not_echo_the_value() -> None:
    with pytest.raises(ValueError, match="mpin is not allowed") as info:
        EmulatorConfig(mpin="12345x")
    assert "12345x" not in str(info.value)


def test_replace_rejects_unknown_names_and_lists_allowed_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown emulator setting.*'bogus'.*allowed are"):
        EmulatorConfig().replace(bogus=1)


def test_partial_latency_is_filled_with_zeros() -> None:
    config = EmulatorConfig(latency={"positions": 0.25})
    assert config.latency["positions"] == 0.25
    assert config.latency["login"] == 0.0
    assert KOTAK_LATENCY["login"] == 0.367
    assert KOTAK_LATENCY["validate"] == 0.134
    assert KOTAK_LATENCY["quotes"] == 0.289


def test_fault_kinds_are_the_contract_strings() -> None:
    assert {f.value for f in Fault} == {
        "http_500",
        "http_502_html",
        "http_503_empty",
        "http_504",
        "http_424",
        "http_429",
        "drop",
        "hang",
        "accept_then_drop",
    }


# ---------------------------------------------------------------- sessions and tokens


def test_next_ist_midnight() -> None:
    # 2025-12-29 09:20 UTC is 14:50 IST; the next IST midnight is 2025-12-29 18:30 UTC.
    assert next_ist_midnight(T0) == 1_767_033_000
    assert next_ist_midnight(1_767_033_000) == 1_767_033_000 + 86_400


def test_tokens_are_jwt_shaped_with_the_documented_claims() -> None:
    store = SessionStore(random.Random(0))
    view = store.issue("View", ucc="U1", now=T0, ttl=None, client_ip=None)
    trade = store.issue("Trade", ucc="U1", now=T0, ttl=60, client_ip=None)
    v, t = _claims(view.token), _claims(trade.token)
    assert v["scope"] == ["View"]
    assert t["scope"] == ["Trade"]
    assert v["exp"] == 1_767_033_000  # next 00:00 IST
    assert t["exp"] == T0 + 60
    for claims in (v, t):
        assert claims["iss"] == "login-service"
        assert claims["iat"] == T0
        assert claims["ucc"] == "U1"
        assert {"jti", "sub"} <= set(claims)
    assert v["jti"] != t["jti"]
    assert v["sub"] == t["sub"]
    assert view.sid != trade.sid
    assert view.token not in repr(view)
    assert view.sid not in repr(view)


def test_lookup_needs_kind_token_and_sid_together_and_honours_expiry() -> None:
    store = SessionStore(random.Random(0))
    view = store.issue("View", ucc="U1", now=T0, ttl=10, client_ip=None)
    trade = store.issue("Trade", ucc="U1", now=T0, ttl=10, client_ip=None)
    assert store.lookup(trade.token, trade.sid, kind="Trade", now=T0) is trade
    assert store.lookup(trade.token, view.sid, kind="Trade", now=T0) is None
    assert store.lookup(trade.token, None, kind="Trade", now=T0) is None
    assert store.lookup(view.token, view.sid, kind="Trade", now=T0) is None
    assert store.lookup(trade.token, trade.sid, kind="View", now=T0) is None
    assert store.lookup(trade.token, trade.sid, kind="Trade", now=T0 + 9.9) is trade
    assert store.lookup(trade.token, trade.sid, kind="Trade", now=T0 + 10) is None


def test_end_selects_by_ucc_and_kind_and_keeps_the_given_session() -> None:
    store = SessionStore(random.Random(0))
    a1 = store.issue("Trade", ucc="A", now=T0, ttl=None, client_ip=None)
    a2 = store.issue("Trade", ucc="A", now=T0, ttl=None, client_ip=None)
    av = store.issue("View", ucc="A", now=T0, ttl=None, client_ip=None)
    b1 = store.issue("Trade", ucc="B", now=T0, ttl=None, client_ip=None)
    assert store.end("revoked", ucc="A", kinds=("Trade",), now=T0, keep=a2) == 1
    assert a1.ended == "revoked"
    assert a2.ended is None
    assert av.ended is None
    assert b1.ended is None
    assert store.end("expired", now=T0) == 3
    assert store.active(T0) == 0
    assert len(store.prune(T0)) == 4


def test_same_seed_gives_the_same_tokens() -> None:
    one = SessionStore(random.Random(7)).issue("View", ucc="U", now=T0, ttl=None, client_ip=None)
    two = SessionStore(random.Random(7)).issue("View", ucc="U", now=T0, ttl=None, client_ip=None)
    assert (one.token, one.sid) == (two.token, two.sid)


# ---------------------------------------------------------------- TOTP


def _check(
    verifier: TotpVerifier, code: str, now: float, skew: int = 1, replay: bool = True
) -> TotpCheck:
    return verifier.check(
        code, secret=SECRET, ucc="U1", now=now, skew_steps=skew, reject_replay=replay
    )


def test_totp_accepts_codes_inside_the_skew_window_only() -> None:
    totp = pyotp.TOTP(SECRET)
    verifier = TotpVerifier()
    step = int(T0 // 30)
    assert _check(verifier, totp.at(T0), T0).step == step
    assert _check(verifier, totp.at(T0 - 30), T0).step == step - 1
    assert _check(verifier, totp.at(T0 + 30), T0).step == step + 1
    assert _check(verifier, totp.at(T0 - 60), T0).outcome == "invalid"
    assert _check(verifier, totp.at(T0 - 30), T0, skew=0).outcome == "invalid"
    assert _check(verifier, totp.at(T0 - 60), T0, skew=2).outcome == "ok"
    assert _check(verifier, "12345", T0).outcome == "invalid"
    assert _check(verifier, "abcdef", T0).outcome == "invalid"


def test_totp_replay_is_refused_per_step_unless_switched_off() -> None:
    totp = pyotp.TOTP(SECRET)
    verifier = TotpVerifier()
    code = totp.at(T0)
    first = _check(verifier, code, T0)
    assert first.outcome == "ok"
    assert first.step is not None
    verifier.mark_used("U1", first.step, now=T0, skew_steps=1)
    assert _check(verifier, code, T0 + 1).outcome == "replayed"
    assert _check(verifier, code, T0 + 1, replay=False).outcome == "ok"
    assert _check(verifier, totp.at(T0 + 30), T0 + 30).outcome == "ok"
    other = verifier.check(code, secret=SECRET, ucc="U2", now=T0, skew_steps=1, reject_replay=True)
    assert other.outcome == "ok"


# ---------------------------------------------------------------- rate limiter


def test_token_bucket_allows_a_burst_then_refills_at_the_rate() -> None:
    limiter = RateLimiter(10.0)
    results = [limiter.take("s", T0).allowed for _ in range(11)]
    assert results == [True] * 10 + [False]
    refused = limiter.take("s", T0)
    assert not refused.allowed
    assert dict(refused.headers()) == {
        b"retry-after": b"1",
        b"x-ratelimit-limit": b"10",
        b"x-ratelimit-remaining": b"0",
        b"x-ratelimit-reset": b"1",
    }
    assert limiter.take("other", T0).allowed
    assert limiter.take("s", T0 + 0.1).allowed
    assert not limiter.take("s", T0 + 0.1).allowed
    assert [limiter.take("s", T0 + 1.1).allowed for _ in range(11)] == [True] * 10 + [False]


def test_slow_rates_report_retry_after_in_whole_seconds() -> None:
    limiter = RateLimiter(0.5)
    assert limiter.take("s", T0).allowed
    refused = limiter.take("s", T0)
    assert refused.retry_after == pytest.approx(2.0)
    assert dict(refused.headers())[b"retry-after"] == b"2"


def test_no_rate_means_no_limit() -> None:
    limiter = RateLimiter(None)
    assert all(limiter.take("s", T0).allowed for _ in range(1000))


# ---------------------------------------------------------------- routes


@pytest.mark.parametrize(
    ("path", "endpoint", "guard"),
    [
        ("/login/1.0/tradeApiLogin", "login", Guard.LOGIN),
        ("/login/1.0/tradeApiValidate", "validate", Guard.VIEW),
        ("/login/1.0/get-client-ip", "client_ip", Guard.SESSION_CK),
        ("/5config/config", "config", Guard.NONE),
        ("/gw/e21/quick/order/rule/ms/place", "place_order", Guard.SESSION_CK),
        ("/gw/e21/quick/order/vr/modify", "modify_order", Guard.SESSION_CK),
        ("/gw/e21/quick/order/cancel", "cancel_order", Guard.SESSION_CK),
        ("/gw/e21/quick/user/orders", "order_book", Guard.SESSION),
        ("/gw/e21/quick/user/orders/250101000000001", "order_detail", Guard.SESSION),
        ("/gw/e21/quick/order/history", "order_history", Guard.SESSION),
        ("/gw/e21/quick/user/trades", "trades", Guard.SESSION),
        ("/gw/e21/portfolio/v2/positions", "positions", Guard.SESSION),
        ("/gw/e21/portfolio/v1/holdings", "holdings", Guard.SESSION),
        ("/gw/e21/quick/user/limits", "limits", Guard.SESSION),
        ("/gw/e21/quick/user/check-margin", "margin", Guard.SESSION),
        ("/gw/e21/apim/login/2.0/logout", "logout", Guard.SESSION),
        ("/gw/e21/script-details/1.0/masterscrip/file-paths", "scrip_master", Guard.CK),
        ("/script-details/1.0/masterscrip/file-paths", "scrip_master", Guard.CK),
        ("/gw/e21/market-data/1.0/watchlist/expiries", "expiries", Guard.CK),
        ("/market-data/1.0/watchlist/option-chain", "option_chain", Guard.CK),
        ("/market-data/1.0/historical/details", "historical", Guard.CK),
    ],
)
def test_every_documented_path_resolves(path: str, endpoint: str, guard: Guard) -> None:
    route = resolve(path, "/gw/e21")
    assert route is not None
    assert (route.endpoint, route.guard) == (endpoint, guard)


def test_path_parameters_and_unserved_paths() -> None:
    quotes = resolve("/script-details/1.0/quotes/neosymbol/nse_cm|1333,nse_cm|Nifty 50/ltp", "/x")
    assert quotes is not None
    assert quotes.params == {"symbols": "nse_cm|1333,nse_cm|Nifty 50", "quote_type": "ltp"}
    detail = resolve("/x/quick/user/orders/123", "/x")
    assert detail is not None
    assert detail.params == {"order_no": "123"}
    assert resolve("/quick/user/orders", "/x") is None  # trading paths need the prefix
    assert resolve("/x/login/1.0/tradeApiLogin", "/x") is None
    assert resolve("/x/quick/user/orders/1/2", "/x") is None
    assert resolve("/script-details/1.0/quotes/neosymbol/nse_cm|1333", "/x") is None
    scrip = resolve("/wso2-scripmaster/v1/prod/2026-01-02/transformed-v1/nse_cm-v1.csv", "/x")
    assert scrip is not None
    assert (scrip.endpoint, scrip.params) == ("scrip_file", {"segment": "nse_cm"})
    no_prefix = resolve("/quick/user/orders", "")
    assert no_prefix is not None
    assert no_prefix.endpoint == "order_book"
