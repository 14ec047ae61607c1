"""The fair-share factor: 1 for no usage, 1/2 for exactly one's part, towards 0 beyond; the shortcut agrees."""

from __future__ import annotations

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


@given(st.dictionaries(st.sampled_from(ACCOUNTS), st.floats(0, 1e6), max_size=6),
       st.sampled_from(ACCOUNTS), st.floats(0, 30 * 86400))
def test_the_shortcut_for_an_account_without_usage_gives_the_full_computation(usage, account, later):
    fs = FairShare(weights={a: 1.0 + i for i, a in enumerate(ACCOUNTS)})
    for name, seconds in usage.items():
        fs.add(name, seconds, 0.0)
    assert fs.factor(account, later) == fs.factors({account}, later)[account]
