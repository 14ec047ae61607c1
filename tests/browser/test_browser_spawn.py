"""A student's whole visit, in a real browser: sign in, pick ¼ NPU, use JupyterLab, stop.

Drives Debian's Chromium (/usr/bin/chromium) with Playwright against the real
embedded stack (`npuhub up`, default site). With NPUHUB_UPDATE_SCREENSHOTS=1
(`make screenshots`) it also writes the documentation's screenshots into
docs/_static/screenshots/; otherwise they go to a temporary directory.
"""

from __future__ import annotations

import re
import time

import pytest

from support.browser import LAB_TIMEOUT_MS, VIEWPORT
from support.stacks import PASSWORD, EmbeddedStack, pid_alive, process_env

pytestmark = [pytest.mark.browser, pytest.mark.integration]

#: What a course-demo student may pick in the default site (npuhub.example.yaml), in menu order.
STUDENT_FLAVORS = ["cpu", "npu-eighth", "npu-quarter"]
NOT_FOR_STUDENTS = ["npu-half", "npu-1", "npu-2"]
CODE = 'import os; print(os.environ["ASCEND_VISIBLE_DEVICES"], os.environ["NPUHUB_SHARE"])'


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """The embedded stack with the default site, as `make up` runs it."""
    stack = EmbeddedStack(tmp_path_factory.mktemp("browser-stack")).start()
    yield stack
    stack.stop()


@pytest.fixture
def page(chromium, stack, request):
    """A fresh browser tab; when the test fails, a screenshot of it next to the hub's log."""
    context = chromium.new_context(viewport=VIEWPORT, locale="en-US")
    context.set_default_timeout(15_000)
    page = context.new_page()
    failed_before = request.session.testsfailed
    yield page
    if request.session.testsfailed > failed_before:
        shot = stack.workdir / f"failure-{request.node.name}.png"
        page.screenshot(path=shot)
        print(f"\nthe page at failure: {shot} ({page.url}); the hub's log: {stack.log_path}")
    context.close()


def test_student_starts_a_quarter_npu_and_uses_it(page, stack, screenshot_dir):
    base = stack.base_url

    # -- sign in ---------------------------------------------------------------
    page.goto(base + "/hub/login")
    page.fill("#username_input", "student1")
    page.fill("#password_input", PASSWORD)
    page.screenshot(path=screenshot_dir / "login.png")
    page.click("#login_submit")
    page.wait_for_url(re.compile(r"/hub/home"))

    # -- the spawn page: the flavors of a course-demo student, ¼ preselected ----
    page.goto(base + "/hub/spawn")
    radios = page.locator('input[name="profile"]')
    radios.first.wait_for()
    offered = radios.evaluate_all("els => els.map(e => e.value)")
    assert offered == STUDENT_FLAVORS, f"student1 is offered {offered}"
    for flavor in NOT_FOR_STUDENTS:
        assert page.locator(f"#npuhub-flavor-{flavor}").count() == 0, f"{flavor} is offered to a student"
    assert page.is_checked("#npuhub-flavor-npu-quarter"), "the site's default flavor is not preselected"
    quarter = page.locator('label[for="npuhub-flavor-npu-quarter"]')
    assert "¼ Ascend 910B" in quarter.inner_text()
    page.check("#npuhub-flavor-npu-quarter")
    page.screenshot(path=screenshot_dir / "spawn-page.png")

    # -- start, and JupyterLab opens ------------------------------------------
    page.click('#spawn_form button[type="submit"]')
    page.wait_for_selector("#jp-main-dock-panel", timeout=LAB_TIMEOUT_MS)
    assert "/user/student1/lab" in page.url

    model = stack.admin.user("student1")
    server = model["servers"][""]
    assert server["ready"] and server["user_options"] == {"profile": "npu-quarter"}

    # -- the server knows its slice: run Python in a console -------------------
    page.locator('.jp-LauncherCard[data-category="Console"]').first.click(timeout=LAB_TIMEOUT_MS)
    # the banner is written once the kernel has answered: it is ready for input
    page.locator(".jp-CodeConsole-banner").filter(has_text="Python").wait_for(timeout=60_000)
    prompt = page.locator(".jp-CodeConsole-input .cm-content")
    prompt.click()
    page.keyboard.type(CODE)
    assert prompt.inner_text().strip() == CODE
    page.keyboard.press("Shift+Enter")
    output = page.locator(".jp-CodeConsole-content .jp-OutputArea-output").first
    output.wait_for(timeout=60_000)
    printed = output.inner_text().strip()
    assert re.fullmatch(r"\d+ 1/4", printed), f"the console printed {printed!r}"
    [pid] = stack.server_pids()
    env = process_env(pid)
    assert printed == f'{env["ASCEND_VISIBLE_DEVICES"]} 1/4' and env["NPUHUB_FLAVOR"] == "npu-quarter"
    # npuhub's settings overrides turn off JupyterLab's news question and update checks.
    assert page.locator(".Toastify__toast").filter(has_text="Jupyter news").count() == 0
    page.screenshot(path=screenshot_dir / "lab.png")

    # -- stop from the hub control panel: the server is gone ---------------------
    page.goto(base + "/hub/home")
    page.click("#stop")
    stack.admin.wait_for_server("student1", ready=False, timeout=60)
    deadline = time.monotonic() + 10
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not pid_alive(pid), "student1's JupyterLab still runs after Stop My Server"
