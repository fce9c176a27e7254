"""The classification table of aioneo._core._classify, row by row."""

from __future__ import annotations

import json

import pytest

from aioneo import TransientLoginError
from aioneo._core._classify import LoginOutcome, Outcome, classify, classify_login
from aioneo._core._policy import login_error, totp_code_refused

ENVELOPE = {
    "code": "900901",
    "message": "Invalid Credentials",
    "description": (
        "Invalid JWT token. Make sure you have provided the correct security credentials"
    ),
}


def j(obj: object) -> bytes:
    return json.dumps(obj).encode()


@pytest.mark.parametrize(
    ("status", "body", "headers", "outcome", "st_code"),
    [
        # row 1: the gateway envelope, whatever the status
        (401, j(ENVELOPE), {}, Outcome.SESSION_EXPIRED, 900901),
        (200, j(ENVELOPE), {}, Outcome.SESSION_EXPIRED, 900901),
        (403, j(ENVELOPE), {}, Outcome.SESSION_EXPIRED, 900901),
        (
            401,
            j({"code": "900902", "message": "Missing Credentials"}),
            {},
            Outcome.SESSION_EXPIRED,
            900902,
        ),
        (200, j({"code": 900901}), {}, Outcome.SESSION_EXPIRED, 900901),
        # row 2: plain 401, any body
        (401, b"", {}, Outcome.SESSION_EXPIRED, None),
        (401, b"<html>401</html>", {}, Outcome.SESSION_EXPIRED, None),
        # row 3: 403 "invalid session"
        (
            403,
            j({"message": "Invalid session, please re-login to continue"}),
            {},
            Outcome.SESSION_EXPIRED,
            None,
        ),
        # row 4: stCode 100022
        (
            200,
            j(
                {
                    "stCode": 100022,
                    "errMsg": "Invalid session token",
                    "stat": "error in neo-login-check-api",
                }
            ),
            {},
            Outcome.SESSION_EXPIRED,
            100022,
        ),
        # row 5: not fixable by login
        (
            200,
            j({"stCode": 100008, "errMsg": "unauthorized", "stat": "Not_Ok"}),
            {},
            Outcome.NOT_FIXABLE,
            100008,
        ),
        (200, j({"stCode": "1037", "errMsg": "session ip do"}), {}, Outcome.NOT_FIXABLE, 1037),
        (200, j({"stCode": 1017}), {}, Outcome.NOT_FIXABLE, 1017),
        (200, j({"stCode": 100021}), {}, Outcome.NOT_FIXABLE, 100021),
        # row 6: rate limited
        (
            429,
            j({"message": "Too many requests"}),
            {"retry-after": "2"},
            Outcome.RATE_LIMITED,
            None,
        ),
        # row 7: server errors
        (500, b"", {}, Outcome.SERVER_ERROR, None),
        (502, b"<html>Bad gateway</html>", {}, Outcome.SERVER_ERROR, None),
        (503, b"", {}, Outcome.SERVER_ERROR, None),
        (504, j({"message": "Gateway timeout"}), {}, Outcome.SERVER_ERROR, None),
        (424, j({"message": "dependency"}), {}, Outcome.SERVER_ERROR, None),
        # row 8: other 4xx
        (
            400,
            j({"status": "ERROR", "fault": {"code": 400, "message": "Invalid interval"}}),
            {},
            Outcome.CLIENT_ERROR,
            None,
        ),
        (403, j({"message": "Forbidden"}), {}, Outcome.CLIENT_ERROR, None),
        (404, b"", {}, Outcome.CLIENT_ERROR, None),
        # row 9: undecodable 2xx
        (200, b"<html>oops</html>", {}, Outcome.UNDECODABLE, None),
        (200, b"", {}, Outcome.UNDECODABLE, None),
        # row 10: business errors in a 2xx body
        (
            200,
            j(
                {
                    "stCode": 1021,
                    "errMsg": "order is completed",
                    "stat": "please provide valid order number",
                }
            ),
            {},
            Outcome.BUSINESS_ERROR,
            1021,
        ),
        (
            200,
            j({"stCode": "1009", "errMsg": "Invalid Quantity"}),
            {},
            Outcome.BUSINESS_ERROR,
            1009,
        ),
        (200, j({"stat": "Not_Ok", "emsg": "x"}), {}, Outcome.BUSINESS_ERROR, None),
        (
            200,
            j({"status": "ERROR", "fault": {"code": 400, "message": "bad"}}),
            {},
            Outcome.BUSINESS_ERROR,
            400,
        ),
        (
            200,
            j({"error": [{"code": "400", "message": "Missing required field 'Mpin'"}]}),
            {},
            Outcome.BUSINESS_ERROR,
            400,
        ),
        # row 11: success shapes
        (200, j({"stat": "Ok", "stCode": 200, "data": []}), {}, Outcome.SUCCESS, 200),
        (200, j({"stat": "ok", "stCode": 200, "data": []}), {}, Outcome.SUCCESS, 200),
        (
            200,
            j({"data": [{"ip": "1.2.3.4"}], "stCode": 1000, "status": "success"}),
            {},
            Outcome.SUCCESS,
            1000,
        ),
        (200, j([{"exchange_token": "2885"}]), {}, Outcome.SUCCESS, None),
        (200, j({"data": []}), {}, Outcome.SUCCESS, None),
    ],
)
def test_classify_rows(
    status: int, body: bytes, headers: dict[str, str], outcome: Outcome, st_code: int | None
) -> None:
    result = classify(status, body, headers)
    assert result.outcome is outcome
    assert result.st_code == st_code
    assert result.status_code == status


def test_retry_after_is_parsed_and_bounded() -> None:
    assert classify(429, b"{}", {"retry-after": "2.5"}).retry_after == 2.5
    assert classify(429, b"{}", {"retry-after": "soon"}).retry_after is None
    assert classify(429, b"{}", {"retry-after": "-1"}).retry_after is None
    assert classify(429, b"{}", {"retry-after": "999999"}).retry_after == 3600.0
    assert classify(429, b"{}", {}).retry_after is None


def test_only_session_rejections_are_pre_execution() -> None:
    assert classify(401, j(ENVELOPE)).pre_execution
    assert classify(200, j({"stCode": 100022})).pre_execution
    for status in (500, 502, 503, 504, 429, 400):
        assert not classify(status, b"").pre_execution
    assert not classify(200, b"garbage").pre_execution


def test_server_message_is_kept() -> None:
    result = classify(200, j({"stCode": 1021, "errMsg": "order is completed"}))
    assert result.message == "order is completed"


GOOD_LOGIN = {"data": {"token": "t.t.t", "sid": "s", "ucc": "AB1"}}


@pytest.mark.parametrize(
    ("status", "body", "outcome"),
    [
        (200, j(GOOD_LOGIN), LoginOutcome.SUCCESS),
        (201, j(GOOD_LOGIN), LoginOutcome.SUCCESS),
        # wrong credentials, both shapes Kotak may use
        (
            200,
            j({"stCode": 10001, "errMsg": "Invalid TOTP", "status": "failure"}),
            LoginOutcome.FATAL,
        ),
        (401, j({"stCode": 10002, "errMsg": "Invalid MPIN"}), LoginOutcome.FATAL),
        (
            400,
            j({"error": [{"code": "400", "message": "Missing required field 'Ucc'"}]}),
            LoginOutcome.FATAL,
        ),
        (403, b"", LoginOutcome.FATAL),
        (422, b"", LoginOutcome.FATAL),
        # a 900901 on a login step is the consumer key refused: fatal, never "expired"
        (401, j(ENVELOPE), LoginOutcome.FATAL),
        (200, j(ENVELOPE), LoginOutcome.FATAL),
        # data without a token
        (200, j({"data": {"sid": "s"}}), LoginOutcome.FATAL),
        (200, j({"data": {"token": "", "sid": "s"}}), LoginOutcome.FATAL),
        # transient
        (500, b"", LoginOutcome.TRANSIENT),
        (502, b"<html/>", LoginOutcome.TRANSIENT),
        (503, b"", LoginOutcome.TRANSIENT),
        (504, b"", LoginOutcome.TRANSIENT),
        (424, j({"message": "Dependency error"}), LoginOutcome.TRANSIENT),
        (429, b"{}", LoginOutcome.TRANSIENT),
        (408, b"", LoginOutcome.TRANSIENT),
        (200, b"<html>proxy</html>", LoginOutcome.TRANSIENT),
    ],
)
def test_classify_login_rows(status: int, body: bytes, outcome: LoginOutcome) -> None:
    assert classify_login(status, body).outcome is outcome


def test_classify_login_requires_base_url_on_validate() -> None:
    result = classify_login(200, j(GOOD_LOGIN), require=("token", "sid", "baseUrl"))
    assert result.outcome is LoginOutcome.FATAL
    assert "baseUrl" in result.message
    ok = {"data": {"token": "a", "sid": "b", "baseUrl": "https://e21.kotaksecurities.com"}}
    assert classify_login(200, j(ok), require=("token", "sid", "baseUrl")).data is not None


def test_classify_login_retry_after() -> None:
    assert classify_login(429, b"{}", {"retry-after": "7"}).retry_after == 7.0


@pytest.mark.parametrize("status", [200, 401, 403])
def test_900901_on_the_mpin_step_is_transient_on_the_totp_step_fatal(status: int) -> None:
    """Issue 10 item 2: a refused view token is fixed by a fresh login, never fatal."""
    body = json.dumps({"code": "900901", "message": "Invalid Credentials"}).encode()
    validate = classify_login(status, body, require=("token", "sid", "baseUrl"), step="validate")
    assert validate.outcome is LoginOutcome.TRANSIENT
    assert classify_login(status, body, step="login").outcome is LoginOutcome.FATAL
    error = login_error("validate", validate)
    assert isinstance(error, TransientLoginError)
    assert "between the two login steps" in str(error)
    # a wrong MPIN stays fatal
    wrong = json.dumps({"stCode": 10012, "errMsg": "Invalid MPIN"}).encode()
    assert classify_login(400, wrong, step="validate").outcome is LoginOutcome.FATAL


@pytest.mark.parametrize(
    ("status", "refused"), [(400, True), (401, True), (429, False), (500, False), (502, False)]
)
def test_only_a_definite_refusal_proves_a_totp_code_unused(status: int, refused: bool) -> None:
    """Issue 10 item 10: a 5xx or 429 may come after the code was consumed."""
    body = json.dumps({"stCode": 10011, "errMsg": "Invalid TOTP"}).encode()
    error = login_error("login", classify_login(status, body, step="login"))
    assert totp_code_refused(error) is refused
