"""Which groups are labs, and the names their Unix groups and volumes get."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from npuhub.groups import GroupMapping
from npuhub.labs import MAX_UNIX_NAME, lab_groups, unix_group_name, volume_name
from npuhub.spawners.osusers import system_name


def test_labs_are_the_groups_the_mapping_calls_labs():
    assert lab_groups(["course-ai", "lab-b", "lab-a", "lab-leads", "admins"]) == ["lab-a", "lab-b"]
    assert lab_groups(["group-x", "lab-a"], GroupMapping(lab_prefix="group-")) == ["group-x"]


def test_unix_group_names():
    assert unix_group_name("lab-vision") == "jupyter-lab.lab-vision"
    assert unix_group_name("lab-vision", "t1a2b3c-") == "t1a2b3c-lab.lab-vision"
    odd = unix_group_name("lab-视觉")
    assert re.fullmatch(r"jupyter-lab\.lab-_\.[0-9a-f]{10}", odd), odd
    assert unix_group_name("lab-" + "x" * 40) != unix_group_name("lab-" + "x" * 41)


@given(st.text(min_size=1, max_size=60), st.sampled_from(["jupyter-", "t1a2b3c-", "a" * 19 + "-"]))
def test_a_lab_group_is_a_valid_unix_name_and_never_an_accounts_own_group(lab, prefix):
    name = unix_group_name(lab, prefix)
    assert len(name) <= MAX_UNIX_NAME and re.fullmatch(r"[a-z0-9_.-]+", name), name
    # an account's own group has the account's name: it never begins with "<prefix>lab." and has at most one "."
    user = system_name(lab, prefix)
    assert user != name


@given(st.text(min_size=1, max_size=300))
def test_volume_names_are_dns_labels(lab):
    name = volume_name(lab)
    assert len(name) <= 63 and re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?", name), name
