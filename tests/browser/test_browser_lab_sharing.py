"""The NPU panel's sharing and the announcement banner, in a real browser against the embedded stack.

An admin announces maintenance through the service: student1's JupyterLab
shows the banner, and once she dismisses it, it stays away after a reload.
She shares her server with student2 and with her course from the panel, on
JupyterHub's own shares API, and revokes both; the hub's own answers say who
has access at each step.
"""

from __future__ import annotations

import datetime as dt

import pytest

from support.browser import LAB_TIMEOUT_MS, VIEWPORT, sign_in_and_start
from support.sites import make_site
from support.stacks import EmbeddedStack

pytestmark = [pytest.mark.browser, pytest.mark.integration]

#: Longer than one poll (15 s) plus the server part's cache.
POLL_TIMEOUT_MS = 45_000
ACCESS = "access:servers!server=student1/"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    stack = EmbeddedStack(tmp_path_factory.mktemp("lab-sharing-stack"), make_site()).start()
    yield stack
    stack.stop()


def may_use_student1s_server(stack, user: str) -> bool:
    """What the hub says: does ``user`` hold access to student1's default server?"""
    r = stack.session(user).api("GET", "/user")
    r.raise_for_status()
    return ACCESS in r.json()["scopes"]


def announce(stack, en: str, zh: str) -> dict:
    """An admin's announcement for everyone, for the next hour, through the service's API."""
    ends = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    r = stack.admin.http.post(f"{stack.base_url}/services/npuhub/api/v1/announcements", timeout=30,
                              json={"text": {"zh": zh, "en": en}, "ends": ends, "scope": "all"})
    assert r.status_code == 201, r.text
    return r.json()


def test_banner_then_share_with_a_person_and_my_course_then_revoke(stack, chromium, screenshot_dir):
    assert not may_use_student1s_server(stack, "student2")  # she signs in once: the hub knows her
    announce(stack, "Maintenance tonight from 22:00: save your work.", "今晚 22:00 起维护：请保存您的工作。")
    context = chromium.new_context(viewport=VIEWPORT, locale="en-US")
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        sign_in_and_start(page, stack.base_url, "student1", "cpu")

        # the banner: shown with the first status, dismissed, and still away after a reload
        banner = page.locator("#npuhub-lab-announcements .jp-npuhub-announcement")
        banner.wait_for(timeout=POLL_TIMEOUT_MS)
        assert banner.locator(".jp-npuhub-announcement-text").inner_text() == \
            "Maintenance tonight from 22:00: save your work."
        page.screenshot(path=screenshot_dir / "lab-announcement.png")
        banner.locator(".jp-npuhub-announcement-dismiss").click()
        banner.wait_for(state="detached")
        page.reload()
        page.wait_for_selector("#jp-main-dock-panel", timeout=LAB_TIMEOUT_MS)
        # the first status has come (it has my server's slice): the banner would be there by now
        page.locator(".jp-npuhub-status-slice").wait_for(timeout=POLL_TIMEOUT_MS)
        assert page.locator("#npuhub-lab-announcements .jp-npuhub-announcement").count() == 0
        page.locator(".jp-npuhub-status").click(timeout=POLL_TIMEOUT_MS)
        sharing = page.locator("#npuhub-lab-panel .jp-npuhub-sharing")
        sharing.locator(".jp-npuhub-share-none").wait_for(timeout=POLL_TIMEOUT_MS)

        # a name the hub does not know: its refusal, in words
        sharing.locator(".jp-npuhub-share-user").fill("nobody-by-that-name")
        sharing.locator(".jp-npuhub-share-user-button").click()
        error = sharing.locator(".jp-npuhub-share-error")
        error.wait_for()
        assert "There is no user named 'nobody-by-that-name'" in error.inner_text()

        # student2 by name, then her course: both listed, and the hub gives her access
        sharing.locator(".jp-npuhub-share-user").fill("student2")
        sharing.locator(".jp-npuhub-share-user-button").click()
        sharing.locator(".jp-npuhub-share-kind-user", has_text="student2").wait_for()
        assert may_use_student1s_server(stack, "student2")
        assert not may_use_student1s_server(stack, "labmember1")
        sharing.locator(".jp-npuhub-share-group").select_option("course-demo")
        sharing.locator(".jp-npuhub-share-group-button").click()
        sharing.locator(".jp-npuhub-share-kind-group", has_text="course-demo").wait_for()
        assert sharing.locator(".jp-npuhub-share-error").count() == 0
        page.screenshot(path=screenshot_dir / "lab-npu-sharing.png")

        # revoking both: the list empties and the hub takes her access back
        for kind in ("user", "group"):
            item = sharing.locator(f".jp-npuhub-share-kind-{kind}")
            item.locator(".jp-npuhub-revoke").click()
            item.wait_for(state="detached")
        sharing.locator(".jp-npuhub-share-none").wait_for()
        assert not may_use_student1s_server(stack, "student2")
    finally:
        context.close()
