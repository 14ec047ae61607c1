"""Workshop codes as rules: readable codes, tidy names, unique account names, time windows, refusals."""

from __future__ import annotations

import re

from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from itertools import islice
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from npuhub.service.models import menu_view
from npuhub.site_config import load_site_config
from npuhub.workshops.policy import (
    ALPHABET,
    Workshop,
    WorkshopError,
    check_flavor,
    check_window,
    clean_display_name,
    format_code,
    format_time,
    guest_usernames,
    is_code,
    new_code,
    normalize_code,
    parse_max_guests,
    parse_time,
    slug,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc)  # 09:00 in Shanghai


@contextmanager
def refused(reason: str):
    with pytest.raises(WorkshopError) as info:
        yield info
    assert info.value.reason == reason, info.value.reason


def test_codes_use_no_letters_people_confuse():
    assert not set("0O1IL") & set(ALPHABET)
    codes = {new_code() for _ in range(200)}
    assert len(codes) == 200
    assert all(is_code(c) and len(c) == 8 for c in codes)


def test_a_code_reads_in_two_groups_and_is_typed_back_in_any_form():
    assert format_code("ABCD2345") == "ABCD-2345"
    for typed in ("ABCD-2345", "abcd 2345", " abcd-2345 ", "ab cd·23_45"):
        assert normalize_code(typed) == "ABCD2345"
    assert not is_code(normalize_code("ABCD-O345"))  # O is not in the alphabet
    assert not is_code("ABCD234")


@given(st.text(alphabet=ALPHABET, min_size=8, max_size=8))
def test_formatting_and_normalizing_round_trip(code):
    assert normalize_code(format_code(code)) == code


def test_display_names_are_tidied_and_bounded():
    assert clean_display_name("  张三  ") == "张三"
    assert clean_display_name("Zoë\u0000  Li\n") == "Zoë Li"
    assert clean_display_name("x" * 40) == "x" * 40
    with refused("name_empty"):
        clean_display_name(" \t\u200b ")
    with refused("name_too_long") as info:
        clean_display_name("x" * 41)
    assert "40" in info.value.text.zh and "at most 40 characters" in info.value.text.en


def test_guest_account_names():
    assert slug("Zoë Li") == "zoe-li"
    assert slug("张三") == ""
    # The code is not in the name: account names show in every URL of the guest's server.
    names = list(islice(guest_usernames("Zoë Li"), 50))
    assert all(re.fullmatch(r"guest-zoe-li-[a-hjkmnp-z2-9]{4}", n) for n in names), names
    assert len(set(names)) > 45  # a fresh random tag per candidate
    assert all(re.fullmatch(r"guest-[a-hjkmnp-z2-9]{6}", n) for n in islice(guest_usernames("张三"), 5))
    assert len(next(guest_usernames("a" * 40))) <= len("guest--") + 24 + 4
    tags = iter("abcd")
    assert next(guest_usernames("Li Lei", choice=lambda alphabet: next(tags))) == "guest-li-lei-abcd"


def test_times_are_read_in_the_hub_time_zone_unless_they_say_otherwise():
    assert parse_time("2026-03-02T09:00", SHANGHAI) == T0
    assert parse_time("2026-03-02 09:00", SHANGHAI) == T0
    assert parse_time("2026-03-02T01:00:00+00:00", SHANGHAI) == T0
    assert format_time(T0, SHANGHAI) == "2026-03-02 09:00"
    assert format_time(T0 + timedelta(seconds=5), SHANGHAI) == "2026-03-02 09:00:05"
    with refused("time_invalid"):
        parse_time("next tuesday", SHANGHAI)


def test_windows():
    check_window(T0, T0 + timedelta(hours=3), now=T0, max_hours=168)
    with refused("window_empty"):
        check_window(T0 + timedelta(hours=2), T0 + timedelta(hours=1), now=T0, max_hours=168)
    with refused("window_past"):  # the more useful of the two when both hold
        check_window(T0, T0 - timedelta(hours=1), now=T0, max_hours=168)
    with refused("window_past"):
        check_window(T0 - timedelta(hours=2), T0 - timedelta(hours=1), now=T0, max_hours=168)
    with refused("window_too_long"):
        check_window(T0, T0 + timedelta(hours=169), now=T0, max_hours=168)


def test_max_guests_and_flavor_of_the_form():
    assert parse_max_guests("", 500) is None
    assert parse_max_guests("", 500, default=60) == 60  # a code admits a bounded number of guests unless told
    assert parse_max_guests(" 30 ", 500, default=60) == 30
    for bad in ("0", "-1", "501", "3.5", "many"):
        with refused("max_guests_invalid"):
            parse_max_guests(bad, 500)
    # the group's menu as the npuhub service answers it; the policy never sees the site file
    menu = menu_view(load_site_config().catalogue, ["course-demo"])["flavors"]
    assert check_flavor(menu, "", "course-demo") is None
    assert check_flavor(menu, "npu-quarter", "course-demo") == "npu-quarter"
    for not_on_the_menu in ("npu-1", "npu-99"):  # a lab's flavor, and one the site does not list
        with refused("flavor_not_allowed") as info:
            check_flavor(menu, not_on_the_menu, "course-demo")
        text = info.value.text
        assert f"'{not_on_the_menu}'" in text.en and "course-demo" in text.en and "npu-quarter" in text.en
        assert f"“{not_on_the_menu}”" in text.zh and "course-demo" in text.zh
    with refused("flavor_not_allowed") as info:
        check_flavor([], "cpu", "course-x")  # a group with no flavor at all
    assert info.value.text.en.endswith(": -.")


def test_why_a_guest_is_refused():
    w = Workshop("ABCD2345", "course-demo", T0, T0 + timedelta(hours=2), "teacher1", T0, max_guests=2)
    assert w.refusal(T0) is None and w.state(T0) == "open"
    assert w.refusal(T0 - timedelta(seconds=1)).reason == "code_not_started"
    expired = w.refusal(T0 + timedelta(hours=2), SHANGHAI)
    assert expired.reason == "code_expired" and "11:00" in expired.text.zh and "expired" in expired.text.en
    full = Workshop(**{**w.__dict__, "guests": 2}).refusal(T0)
    assert full.reason == "workshop_full" and "2" in full.text.en
    revoked = Workshop(**{**w.__dict__, "revoked_at": T0})
    assert revoked.refusal(T0).reason == "code_revoked"  # revocation wins over everything
    assert revoked.over(T0) and w.over(T0 + timedelta(hours=2)) and not w.over(T0)
    for error in (expired, full, revoked.refusal(T0)):
        assert error.status == 403 and error.text.zh and error.text.en != error.text.zh
