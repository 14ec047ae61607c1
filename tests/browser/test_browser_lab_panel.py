"""The lab extension in a real browser: my slice and quota in the status bar, my place in the queue in the panel.

Drives Debian's Chromium with Playwright against the real embedded stack
(`npuhub up`, a one-device pool with a weekly quota for the course), with the
extension installed the way `make up` installs it. With
NPUHUB_UPDATE_SCREENSHOTS=1 (`make screenshots`) it retakes the documentation's
screenshots of the status bar and the panel, in English and in Chinese.
"""

from __future__ import annotations

import re
import time

import pytest

from support.sites import make_site
from support.stacks import EmbeddedStack
from support.browser import LAB_TIMEOUT_MS, VIEWPORT, set_settings, sign_in, sign_in_and_start

pytestmark = [pytest.mark.browser, pytest.mark.integration]

#: The one-device pool, and ten device-hours a week for each student of the course.
SITE = make_site(quotas=[{"scope": "user", "groups": ["course-demo"], "device_hours": 10, "period": "week"}])
#: Longer than one poll (15 s) plus the server part's cache.
POLL_TIMEOUT_MS = 45_000


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    stack = EmbeddedStack(tmp_path_factory.mktemp("lab-panel-stack"), SITE).start()
    yield stack
    stack.stop()


@pytest.fixture
def browser_context(chromium):
    contexts = []

    def new(locale: str = "en-US"):
        context = chromium.new_context(viewport=VIEWPORT, locale=locale)
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context

    yield new
    for context in contexts:
        context.close()


def test_status_bar_and_panel_show_slice_quota_and_queue(stack, browser_context, screenshot_dir):
    base = stack.base_url

    # -- student1 holds ¼ NPU: the status bar says so, with her week's quota -----------------
    page = browser_context().new_page()
    sign_in_and_start(page, base, "student1", "npu-quarter")
    status = page.locator(".jp-npuhub-status")
    status.locator(".jp-npuhub-status-slice").filter(has_text="1/4 Ascend 910B").wait_for(timeout=POLL_TIMEOUT_MS)
    quota = status.locator(".jp-npuhub-status-quota")
    assert re.search(r"\d+(\.\d)? h left", quota.inner_text()), quota.inner_text()
    assert "jp-npuhub-warn" not in (quota.get_attribute("class") or "")

    status.click()
    panel = page.locator("#npuhub-lab-panel")
    panel.wait_for()
    holdings = panel.locator(".jp-npuhub-holdings")
    from playwright.sync_api import TimeoutError as PlaywrightTimeout  # here: without it, `chromium` says so

    try:
        holdings.wait_for()
    except PlaywrightTimeout:  # seen once under heavy load: say what the panel showed instead
        raise AssertionError(f"the panel shows no holdings: {panel.inner_text()!r}\n{stack.log()}") from None
    assert "Ascend 910B" in holdings.inner_text()
    assert panel.locator(".jp-npuhub-quota-account").count() >= 1
    assert "Ascend 910B" in panel.locator(".jp-npuhub-pool").inner_text()
    page.screenshot(path=screenshot_dir / "lab-npu-panel.png")

    # -- the pool fills up: ¼ (student1) + ½ (labmember1) + ¼ (student3) -------------------------
    assert stack.spawn("labmember1", "npu-half").status_code in (201, 202)
    assert stack.spawn("student3", "npu-quarter").status_code in (201, 202)
    stack.admin.wait_for_server("labmember1")
    stack.admin.wait_for_server("student3")

    # -- student2 works on CPU and asks for ¼ NPU on a second server: she is queued -------------
    page2 = browser_context().new_page()
    sign_in_and_start(page2, base, "student2", "cpu")
    r = stack.admin("POST", "/users/student2/servers/npu", json={"profile": "npu-quarter"})
    assert r.status_code == 202, r.text
    status2 = page2.locator(".jp-npuhub-status")
    status2.locator(".jp-npuhub-status-queue").filter(has_text="queued: 1st").wait_for(timeout=POLL_TIMEOUT_MS)
    status2.click()
    waiting = page2.locator("#npuhub-lab-panel .jp-npuhub-waiting")
    waiting.wait_for()
    assert "1st" in waiting.inner_text(), waiting.inner_text()
    page2.screenshot(path=screenshot_dir / "lab-npu-queued.png")

    # -- the same in Chinese: her browser in Chinese, JupyterLab's language set to Chinese -------
    set_settings(page2, base, "student2", "@jupyterlab/translation-extension:plugin", {"locale": "zh_CN"})
    page_zh = browser_context("zh-CN").new_page()
    sign_in(page_zh, base, "student2")
    page_zh.goto(base + "/user/student2/lab")
    page_zh.wait_for_selector("#jp-main-dock-panel", timeout=LAB_TIMEOUT_MS)
    queue_zh = page_zh.locator(".jp-npuhub-status .jp-npuhub-status-queue")
    queue_zh.wait_for(timeout=POLL_TIMEOUT_MS)
    assert "第 1" in queue_zh.inner_text(), queue_zh.inner_text()
    page_zh.locator(".jp-npuhub-status").click()
    page_zh.locator("#npuhub-lab-panel .jp-npuhub-waiting").wait_for()
    assert "排队" in page_zh.locator("#npuhub-lab-panel").inner_text()
    page_zh.screenshot(path=screenshot_dir / "lab-npu-queued-zh.png")
    page_zh.close()
    page2.reload()
    page2.wait_for_selector("#jp-main-dock-panel", timeout=LAB_TIMEOUT_MS)
    page2.locator(".jp-npuhub-status").click()

    # -- she gives up her place from the panel: the request leaves the queue ---------------------
    page2.locator("#npuhub-lab-panel .jp-npuhub-cancel").first.click()
    page2.locator("#npuhub-lab-panel .jp-npuhub-waiting").wait_for(state="detached", timeout=POLL_TIMEOUT_MS)
    # the hub's start of that server, waiting in the queue, ends too (the spawner sees the request end)
    deadline = time.monotonic() + 60
    while (server := stack.admin.user("student2")["servers"].get("npu")) and server.get("pending"):
        assert time.monotonic() < deadline, f"the cancelled server still starts: {server}"
        time.sleep(0.5)
    assert not (server or {}).get("ready"), server
