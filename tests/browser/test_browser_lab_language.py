"""JupyterLab's language: the site's default, a person's own choice, and the lab extension following it.

The site file says ``language: zh_CN``: JupyterLab opens in Chinese, even in
a browser set to English, and a person who switches to English in Settings →
Language keeps English after a reload (her user setting wins over the site's
default). The lab extension speaks JupyterLab's language, whatever language
the browser is set to: both the sentences it translates (Lab's language pack)
and the names the service sends in both languages (a flavor's display name).
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
    language="zh_CN",
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


def menu_bar(page) -> str:
    return page.locator("#jp-menu-panel").inner_text()


def test_site_language_is_the_default_and_her_own_choice_is_kept(stack, chromium):
    """A browser in English, a site in Chinese: Lab opens in Chinese; her switch to English stays."""
    context = chromium.new_context(viewport=VIEWPORT, locale="en-US")
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        sign_in_and_start(page, stack.base_url, "student2", "cpu")
        assert page.evaluate("navigator.language") == "en-US"
        page.locator("#jp-menu-panel .lm-MenuBar-itemLabel", has_text="文件").wait_for()
        assert "Kernel" not in menu_bar(page) and "内核" in menu_bar(page)

        # Settings -> Language -> English, as she would (Lab asks to reload, and reloads)
        page.locator("#jp-menu-panel .lm-MenuBar-itemLabel", has_text="设置").click()
        page.locator(".lm-Menu-itemLabel", has_text="语言").click()
        page.locator(".lm-Menu-itemLabel", has_text="English").first.click()
        with page.expect_navigation(timeout=LAB_TIMEOUT_MS):
            page.locator(".jp-Dialog-button.jp-mod-accept").click()
        page.wait_for_selector("#jp-main-dock-panel", timeout=LAB_TIMEOUT_MS)
        page.locator("#jp-menu-panel .lm-MenuBar-itemLabel", has_text="Kernel").wait_for()

        # kept: another reload, and the site's default does not come back
        page.reload()
        page.wait_for_selector("#jp-main-dock-panel", timeout=LAB_TIMEOUT_MS)
        page.locator("#jp-menu-panel .lm-MenuBar-itemLabel", has_text="Kernel").wait_for()
        assert "内核" not in menu_bar(page)
    finally:
        context.close()


def test_the_spawn_page_shows_the_browsers_language_else_the_sites(chromium):
    """npuhub's spawn page template, in a real browser: Chinese or English as the browser prefers first, else
    the site's language (a French browser at a Chinese site reads Chinese), else English."""
    from jinja2 import ChoiceLoader, DictLoader, Environment, FileSystemLoader

    from npuhub.hubconfig import TEMPLATES
    from npuhub.lab_language import page_language

    # JupyterHub's own spawn page, reduced to the blocks npuhub's template fills
    base = ('<!DOCTYPE html><html><head>{% block stylesheet %}{% endblock %}</head><body><p id="m">'
            '<span class="npuhub-t" lang="zh">排队中</span><span class="npuhub-t-sep"> / </span>'
            '<span class="npuhub-t" lang="en">Waiting</span></p></body></html>')
    env = Environment(loader=ChoiceLoader([FileSystemLoader(TEMPLATES),
                                           DictLoader({"templates/spawn_pending.html": base})]))
    cases = [("fr-FR", "zh_CN", "排队中"), ("en-US", "zh_CN", "Waiting"), ("zh-CN", "en", "排队中"),
             ("fr-FR", "en", "Waiting"), ("fr-FR", None, "Waiting")]
    for locale, site_language, shown in cases:
        html = env.get_template("spawn_pending.html").render(npuhub_language=page_language(site_language))
        context = chromium.new_context(locale=locale)
        try:
            page = context.new_page()
            page.set_content(html)
            assert page.locator("#m").inner_text() == shown, (locale, site_language)
        finally:
            context.close()
