"""Shares are exact fractions: parsing, refusals, printing."""

from fractions import Fraction

import pytest
from hypothesis import given, strategies as st

from npuhub.shares import ShareError, format_share, parse_share, share_label


@pytest.mark.parametrize(
    "text, expected",
    [("1/4", Fraction(1, 4)), (" 1 / 8 ", Fraction(1, 8)), ("2/4", Fraction(1, 2)), ("1", Fraction(1)),
     ("2", Fraction(2)), (2, Fraction(2)), ("4/2", Fraction(2)), (Fraction(3, 8), Fraction(3, 8))],
)
def test_valid_shares(text, expected):
    assert parse_share(text) == expected


@pytest.mark.parametrize(
    "bad, words",
    [("1/0", "divides by zero"), ("-1/4", "not a share"), ("abc", "not a share"), (0.25, "decimal"),
     ("0", "zero"), (0, "zero"), (-1, "negative"), ("3/2", "whole number"), (True, "not a share"),
     (None, "not a share"), ("", "not a share"), ("1/4/2", "not a share"), ([1], "not a share")],
)
def test_invalid_shares_say_what_is_wrong(bad, words):
    with pytest.raises(ShareError, match=words):
        parse_share(bad)


#: Every valid share: a fraction of one device, or whole devices (more than one device is never a fraction).
VALID_SHARES = st.fractions(min_value=Fraction(1, 1000), max_value=1) | st.integers(1, 64).map(Fraction)


@given(VALID_SHARES)
def test_format_round_trips(share):
    assert parse_share(format_share(share)) == share


def test_labels_for_people():
    assert share_label(Fraction(1, 4)) == "¼"
    assert share_label(Fraction(1, 3)) == "1/3"
    assert share_label(Fraction(2)) == "2"
