"""Sharing my server from the NPU panel, in a real browser, on JupyterHub's own shares API.

student1 starts JupyterLab, shares her server with student2 and with her
course from the panel, and revokes both; the hub's own answers say who has
access at each step. The hub is the embedded stack's, with sharing allowed by
the test's configuration (support/sharing.py) until npuhub's hub configuration
allows it itself.
"""

from __future__ import annotations

import pytest

from support.browser import VIEWPORT, sign_in_and_start
from support.sharing import SharingStack
from support.sites import make_site

pytestmark = [pytest.mark.browser, pytest.mark.integration]

#: Longer than one poll (15 s) plus the server part's cache.
POLL_TIMEOUT_MS = 45_000
ACCESS = "access:servers!server=student1/"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    stack = SharingStack(tmp_path_factory.mktemp("lab-sharing-stack"), make_site()).start()
    yield stack
    stack.stop()


def may_use_student1s_server(stack, user: str) -> bool:
    """What the hub says: does ``user`` hold access to student1's default server?"""
    r = stack.session(user).api("GET", "/user")
    r.raise_for_status()
    return ACCESS in r.json()["scopes"]


def test_share_with_a_person_and_my_course_then_revoke(stack, chromium, screenshot_dir):
    assert not may_use_student1s_server(stack, "student2")  # she signs in once: the hub knows her
    context = chromium.new_context(viewport=VIEWPORT, locale="en-US")
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        sign_in_and_start(page, stack.base_url, "student1", "cpu")
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
