"""The NPU panel's new parts in a real browser against the embedded stack: banner, sharing, Dask workers.

An admin announces maintenance through the service: student1's JupyterLab
shows the banner, and once she dismisses it, it stays away after a reload.
She shares her server with student2 and with her course from the panel, on
JupyterHub's own shares API, and revokes both; the hub's own answers say who
has access at each step. The Dask sidebar's "New" (dask-labextension, with
npuhub's cluster factory) makes an npuhub cluster, whose worker the panel shows.
One JupyterLab for the three (module fixture ``lab``), in this order.
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


#: Dask's "New" (no arguments) makes one worker of a quarter: room for it beside student1's CPU server.
SITE = make_site(dask={"default_flavor": "npu-quarter", "default_workers": 1})


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    stack = EmbeddedStack(tmp_path_factory.mktemp("lab-sharing-stack"), SITE).start()
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


@pytest.fixture(scope="module")
def lab(stack, chromium):
    """student1's JupyterLab on a CPU server, opened after an admin announced maintenance; one for the module's tests."""
    assert not may_use_student1s_server(stack, "student2")  # she signs in once: the hub knows her
    announce(stack, "Maintenance tonight from 22:00: save your work.", "今晚 22:00 起维护：请保存您的工作。")
    context = chromium.new_context(viewport=VIEWPORT, locale="en-US")
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        sign_in_and_start(page, stack.base_url, "student1", "cpu")
        yield page
    finally:
        context.close()


def test_the_announcement_banner_shows_and_stays_dismissed(lab, screenshot_dir):
    page = lab
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


def test_share_with_a_person_and_my_course_then_revoke(stack, lab, screenshot_dir):
    page = lab
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
    # student2 may now use the server, not pass it on: its sharing is the owner's alone
    student2 = stack.session("student2")
    token = student2.api("POST", "/users/student2/tokens", json={"note": "shared server"}).json()["token"]
    for method, kwargs in (("GET", {}), ("POST", {"json": {"user": "labmember1"}})):
        r = student2.http.request(method, f"{stack.base_url}/user/student1/npuhub-lab/shares", timeout=60,
                                  headers={"Authorization": f"token {token}"}, **kwargs)
        assert (r.status_code, r.json()["reason"]) == (403, "share_owner_only"), r.text
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


def test_the_dask_sidebars_new_makes_an_npuhub_cluster_the_panel_shows(stack, lab, screenshot_dir):
    page = lab
    page.locator('.jp-SideBar [data-id="dask-dashboard-launcher"]').click()
    new = page.locator(".dask-DaskSidebar").get_by_title("Start New Dask Cluster")
    new.wait_for(timeout=POLL_TIMEOUT_MS)
    new.click()
    # the service admitted it: one quarter worker, in the NPU panel with its dashboard
    page.locator(".jp-npuhub-status").click()  # opens the NPU panel (its sidebar tab would toggle it)
    workers = page.locator("#npuhub-lab-panel .jp-npuhub-cluster .jp-npuhub-cluster-workers")
    from playwright.sync_api import TimeoutError as PlaywrightTimeout  # here: without it, `chromium` says so

    try:
        workers.filter(has_text="1 of 1 workers running, 1/4 each").wait_for(timeout=90_000)
    except PlaywrightTimeout:  # say what the panel, the sidebar and the service saw instead
        service = stack.admin.http.get(f"{stack.base_url}/services/npuhub/api/v1/clusters",
                                       params={"user": "student1"}, timeout=30).text
        raise AssertionError(f"panel: {page.locator('#npuhub-lab-panel').inner_text()!r}\n"
                             f"dialogs: {page.locator('.jp-Dialog').all_inner_texts()!r}\n"
                             f"service: {service}\n{stack.log()}") from None
    link = page.locator("#npuhub-lab-panel .jp-npuhub-cluster a.jp-npuhub-dashboard")
    assert page.locator(".jp-npuhub-status .jp-npuhub-status-dask").inner_text() == "Dask 1/1 workers"
    page.screenshot(path=screenshot_dir / "lab-npu-dask.png")
    # the same cluster at the service: student1's, made by her server's NPUCluster()
    service = f"{stack.base_url}/services/npuhub/api/v1"
    r = stack.admin.http.get(f"{service}/clusters", params={"user": "student1"}, timeout=30)
    assert r.status_code == 200, r.text
    [cluster] = r.json()["clusters"]
    assert (cluster["flavor"], cluster["workers"]["wanted"]) == ("npu-quarter", 1)
    assert link.get_attribute("href") == cluster["dashboard_link"] == f"/services/npuhub/dask/{cluster['id']}/status"
    closed = stack.admin.http.delete(f"{service}/clusters/{cluster['id']}", timeout=60)
    assert closed.status_code == 200, closed.text
