"""The lab extension speaks JupyterLab's language, whatever language the browser is set to.

A student's browser may be in English while she chose Chinese in JupyterLab's
Settings (or the reverse, on a borrowed machine): the status bar and the panel
follow JupyterLab's setting alone. Both parts of the text are checked: the
sentences the extension translates (Lab's language pack) and the names the
service sends in both languages (a flavor's display name, picked by the front end).
"""

from __future__ import annotations

import pytest

from support.browser import LAB_TIMEOUT_MS, VIEWPORT, set_settings, sign_in, sign_in_and_start
from support.sites import flavor, make_site
from support.stacks import EmbeddedStack

pytestmark = [pytest.mark.browser, pytest.mark.integration]

NAMES = {"zh": "四分之一卡（实验）", "en": "Quarter card (lab)"}
SITE = make_site(
    flavors=[flavor("cpu"), flavor("npu-quarter", "1/4", memory="2G", default=True, display_name=NAMES)],
    quotas=[{"scope": "user", "groups": ["course-demo"], "device_hours": 10, "period": "week"}],
)
LANGUAGE_PLUGIN = "@jupyterlab/translation-extension:plugin"
#: Longer than one poll (15 s) plus the server part's cache.
POLL_TIMEOUT_MS = 45_000


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    stack = EmbeddedStack(tmp_path_factory.mktemp("lab-language-stack"), SITE).start()
    yield stack
    stack.stop()


def open_lab_in(chromium, stack, browser_locale: str, lab_locale: str, start: bool):
    """A browser in ``browser_locale`` showing student1's Lab, Lab's language set to ``lab_locale``."""
    context = chromium.new_context(viewport=VIEWPORT, locale=browser_locale)
    context.set_default_timeout(15_000)
    page = context.new_page()
    if start:
        sign_in_and_start(page, stack.base_url, "student1", "npu-quarter")
    else:
        sign_in(page, stack.base_url, "student1")
        page.goto(stack.base_url + "/user/student1/lab")
        page.wait_for_selector("#jp-main-dock-panel", timeout=LAB_TIMEOUT_MS)
    set_settings(page, stack.base_url, "student1", LANGUAGE_PLUGIN, {"locale": lab_locale})
    page.reload()
    page.wait_for_selector("#jp-main-dock-panel", timeout=LAB_TIMEOUT_MS)
    assert page.evaluate("navigator.language") == browser_locale
    return context, page


def status_and_panel(page) -> tuple[str, str]:
    """The status bar's quota part and the panel's list of what I hold, once the first poll has answered."""
    quota = page.locator(".jp-npuhub-status .jp-npuhub-status-quota")
    quota.wait_for(timeout=POLL_TIMEOUT_MS)
    page.locator(".jp-npuhub-status").click()
    holdings = page.locator("#npuhub-lab-panel .jp-npuhub-holdings")
    holdings.wait_for()
    return quota.inner_text(), holdings.inner_text()


def test_labs_language_alone_decides(stack, chromium):
    # -- an English browser, JupyterLab set to Chinese: Chinese --------------------------------
    context, page = open_lab_in(chromium, stack, "en-US", "zh_CN", start=True)
    try:
        quota, holdings = status_and_panel(page)
        assert "剩余" in quota and "left" not in quota, quota
        assert NAMES["zh"] in holdings and NAMES["en"] not in holdings, holdings
    finally:
        context.close()

    # -- a Chinese browser, JupyterLab set to English: English ---------------------------------
    context, page = open_lab_in(chromium, stack, "zh-CN", "en", start=False)
    try:
        quota, holdings = status_and_panel(page)
        assert "h left" in quota and "剩余" not in quota, quota
        assert NAMES["en"] in holdings and NAMES["zh"] not in holdings, holdings
    finally:
        context.close()
