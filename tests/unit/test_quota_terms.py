"""Budgets per academic term are not built: the site file says so plainly instead of a bare "not one of"."""

from __future__ import annotations

import pytest

from npuhub.site_config import SiteConfigError, parse_site_config
from support.sites import make_site

TERM_RULE = {"scope": "user", "groups": ["course-demo"], "device_hours": 40, "period": "term"}


def test_a_rule_per_term_is_refused_with_the_reason_and_the_alternative():
    with pytest.raises(SiteConfigError) as err:
        parse_site_config(make_site(quotas=[TERM_RULE]))
    assert err.value.key == "quotas[0].period"
    problem = err.value.problem
    assert "not one of" in problem and "day, week, month" in problem.replace("'", "")
    # why not, and what to do instead: where the operator reads more
    assert "per academic term are not supported" in problem and "npuhub quota adjust" in problem
    assert "site-file reference" in problem and "month" in problem


def test_a_list_of_terms_is_not_a_setting():
    with pytest.raises(SiteConfigError) as err:
        parse_site_config(make_site(terms=[{"starts": "2026-09-01", "ends": "2027-01-31"}]))
    assert err.value.key in ("", "terms") and "terms" in str(err.value)
