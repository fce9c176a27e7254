"""``_core._missing``: which instruments got no quote, and the errors that name them."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from aioneo import NotFoundError
from aioneo._core._missing import (
    check_missing,
    missing_instruments,
    no_history,
    no_quotes,
)


@dataclass(frozen=True)
class Q:
    exchange_segment: str | None
    exchange_token: str | None


def test_each_instrument_is_matched_by_segment_and_token() -> None:
    asked = ["nse_cm|11536", "bse_cm|500325", {"exchange_segment": "nse_fo", "instrument_token": 1}]
    answered = [Q("nse_cm", "11536"), Q("nse_fo", "1")]
    assert missing_instruments(asked, answered) == ("bse_cm|500325",)


def test_matching_ignores_case_and_spaces() -> None:
    assert missing_instruments(["nse_cm|Nifty 50"], [Q("NSE_CM", " NIFTY 50 ")]) == ()


def test_a_segment_is_part_of_the_identity() -> None:
    assert missing_instruments(["bse_cm|11536"], [Q("nse_cm", "11536")]) == ("bse_cm|11536",)


def test_a_missing_instrument_asked_twice_is_named_once() -> None:
    asked = ["nse_cm|1", "nse_cm|2", "nse_cm|1"]
    assert missing_instruments(asked, []) == ("nse_cm|1", "nse_cm|2")


def test_a_quote_without_its_identity_answers_nothing() -> None:
    assert missing_instruments(["nse_cm|1"], [Q(None, "1"), Q("nse_cm", None)]) == ("nse_cm|1",)


@pytest.mark.parametrize("value", ["strict", "", None, True, "RAISE"])
def test_only_ignore_and_raise_are_allowed(value: object) -> None:
    with pytest.raises(ValueError, match=r"missing .* is not allowed; use 'ignore' .* or 'raise'"):
        check_missing(value)


def test_check_missing_says_whether_to_raise() -> None:
    assert check_missing("raise") is True
    assert check_missing("ignore") is False


def test_the_errors_name_what_is_missing() -> None:
    found = [Q("nse_cm", "11536")]
    error = no_quotes(("nse_cm|1",), asked=2, found=found)
    assert isinstance(error, NotFoundError)
    assert error.missing == ("nse_cm|1",)
    assert error.found == (found[0],)
    assert error.status_code == 200
    assert str(error).startswith("no quote for 1 of 2 instrument(s): nse_cm|1 ")
    history = no_history("2601")
    assert history.missing == ("2601",)
    assert history.endpoint == "order_history"
