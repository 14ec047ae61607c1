"""The fair-share factor: 1 for no usage, 1/2 for exactly one's part, towards 0 beyond; the shortcut agrees."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from npuhub.admission.fairshare import FairShare

ACCOUNTS = [f"group:g{i}" for i in range(6)]


def test_factor_is_one_half_for_exactly_ones_part():
    fs = FairShare(weights={"group:a": 1.0, "group:b": 3.0})
    fs.add("group:a", 100.0, 0.0)
    fs.add("group:b", 300.0, 0.0)
    assert fs.factor("group:a", 0.0) == fs.factor("group:b", 0.0) == 0.5
    assert fs.factor("group:new", 0.0) == 1.0


WEIGHTS = {a: 1.0 + i for i, a in enumerate(ACCOUNTS)}
#: Usage of some of the accounts, and one account of the rest (it has used nothing).
USAGE_AND_A_NEWCOMER = st.dictionaries(st.sampled_from(ACCOUNTS[1:]), st.floats(0, 1e6), max_size=5).flatmap(
    lambda usage: st.tuples(st.just(usage), st.sampled_from([a for a in ACCOUNTS if a not in usage])))


def with_usage(usage: dict[str, float]) -> FairShare:
    fs = FairShare(weights=WEIGHTS)
    for name, seconds in usage.items():
        fs.add(name, seconds, 0.0)
    return fs


@given(USAGE_AND_A_NEWCOMER, st.floats(0, 30 * 86400))
def test_the_shortcut_for_an_account_without_usage_gives_the_full_computation(usage_and_newcomer, later):
    usage, newcomer = usage_and_newcomer
    fs = with_usage(usage)
    # factor() takes its shortcut for the newcomer; factors() totals everyone's usage
    assert fs.factor(newcomer, later) == fs.factors({newcomer}, later)[newcomer] == 1.0


@given(st.dictionaries(st.sampled_from(ACCOUNTS), st.floats(1, 1e6), min_size=1, max_size=6), st.data())
def test_the_factor_is_two_to_the_minus_usage_share_over_weight_share(usage, data):
    account = data.draw(st.sampled_from(sorted(usage)))
    fs = with_usage(usage)
    # the formula of the docstring, over every account with usage (no time passes: nothing decays)
    usage_share = usage[account] / sum(usage.values())
    weight_share = WEIGHTS[account] / sum(WEIGHTS[a] for a in usage)
    assert math.isclose(fs.factor(account, 0.0), 2 ** -(usage_share / weight_share), rel_tol=1e-9)
