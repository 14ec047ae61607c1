"""Before an idle server is stopped, the edits open in JupyterLab are saved, and the person is told.

The real embedded stack with an idle hard limit of one second: the service warns
student1's fresh server at once and stops it 90 seconds later (room for a slow
first start of JupyterLab). In between she types into an open file with JupyterLab's autosave turned off, so only the lab
extension can save it: when its next poll sees the warning, it saves the file and
shows the notification; then the server is stopped and the text is on disk.
"""

from __future__ import annotations

import re
import time

import pytest

from support.sites import make_site
from support.stacks import EmbeddedStack
from support.browser import LAB_TIMEOUT_MS, VIEWPORT, set_settings, sign_in_and_start

pytestmark = [pytest.mark.browser, pytest.mark.integration]

GRACE = 90
TYPED = "results of run 7: loss 0.031"


def test_open_edits_are_saved_before_an_idle_stop(chromium, tmp_path, monkeypatch, screenshot_dir):
    monkeypatch.setenv("NPUHUB_SERVICE_ARGS", " ".join([
        "--NPUHubService.reconcile_interval=1",
        "--NPUHubService.idle_hard_limit=1",
        f"--NPUHubService.reclaim_grace={GRACE}",
    ]))
    stack = EmbeddedStack(tmp_path, make_site()).start()
    context = chromium.new_context(viewport=VIEWPORT, locale="en-US")
    context.set_default_timeout(15_000)
    try:
        notes = stack.data_dir / "users" / "student1" / "notes.txt"
        notes.parent.mkdir(parents=True, exist_ok=True)
        notes.write_text("")
        page = context.new_page()
        sign_in_and_start(page, stack.base_url, "student1", "npu-quarter")
        # JupyterLab's own autosave off: whatever gets saved, the extension saved
        set_settings(page, stack.base_url, "student1", "@jupyterlab/docmanager-extension:plugin",
                     {"autosave": False})
        page.goto(stack.base_url + "/user/student1/lab/tree/notes.txt")
        editor = page.locator(".jp-FileEditor .cm-content")
        editor.wait_for(timeout=LAB_TIMEOUT_MS)
        editor.click()
        page.keyboard.type(TYPED)
        assert notes.read_text() == "", "the file was saved before the warning"

        toast = page.locator(".Toastify__toast").filter(has_text="will be released")
        toast.wait_for(timeout=(GRACE - 5) * 1000)
        assert "Your open notebooks have been saved." in toast.inner_text(), toast.inner_text()
        assert re.search(r"Your 1/4 Ascend 910B will be released at", toast.inner_text())
        # the warning may have been seen (and the toast shown) before the typing ended: the
        # next polls, one tab interval apart (15 s, plus the server part's cache), save it
        deadline = time.monotonic() + 40
        while notes.read_text() != TYPED:
            assert time.monotonic() < deadline, f"not saved after the warning: {notes.read_text()!r}"
            time.sleep(0.5)
        page.wait_for_timeout(1000)  # the toast has slid in
        page.screenshot(path=screenshot_dir / "lab-npu-warning.png")

        stack.admin.wait_for_server("student1", ready=False, timeout=GRACE + 60)
        assert notes.read_text() == TYPED
    finally:
        context.close()
        stack.stop()
