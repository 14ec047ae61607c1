"""Before a server is stopped, the edits open in JupyterLab are saved, and the person is told.

The real embedded stack. Student1 types into a notebook's cell and into a text
file, with JupyterLab's autosave turned off, so only the lab extension can save
them. Then her budget is spent (an operator takes her hours away): the service
warns her running server and stops it 45 seconds later. When its next poll sees
the warning, the extension saves both and shows the notification; the cell's
text is in the ``.ipynb`` on disk before the server is stopped, and the file's
text too. (A budget stop, not an idle one: a JupyterLab tab open in a browser
keeps its server active, as it polls the server, so idle reclaim never takes
it; the save on warning is the same for both.)
"""

from __future__ import annotations

import json
import re
import time

import pytest

from support.sites import make_site
from support.stacks import EmbeddedStack
from support.browser import LAB_TIMEOUT_MS, VIEWPORT, set_settings, sign_in_and_start

pytestmark = [pytest.mark.browser, pytest.mark.integration]

GRACE = 45
TYPED = "results of run 7: loss 0.031"
TYPED_CELL = "loss_history = [0.9, 0.31, 0.031]"
#: A notebook with one empty code cell, on the server's Python kernel.
EMPTY_NOTEBOOK = {
    "cells": [{"cell_type": "code", "execution_count": None, "id": "first", "metadata": {}, "outputs": [],
               "source": ""}],
    "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
    "nbformat": 4, "nbformat_minor": 5,
}


def cell_sources(path) -> list[str]:
    """The source of each cell of the notebook at ``path``, as saved on disk."""
    return ["".join(cell["source"]) for cell in json.loads(path.read_text())["cells"]]


def test_an_open_notebook_and_file_are_saved_before_an_idle_stop(chromium, tmp_path, monkeypatch,
                                                                 screenshot_dir):
    monkeypatch.setenv("NPUHUB_SERVICE_ARGS", " ".join([
        "--NPUHubService.meter_interval=1",
        f"--NPUHubService.over_budget_grace={GRACE}",
    ]))
    stack = EmbeddedStack(tmp_path, make_site(quotas=[
        {"scope": "user", "groups": ["course-demo"], "device_hours": 10, "period": "week"}])).start()
    context = chromium.new_context(viewport=VIEWPORT, locale="en-US")
    context.set_default_timeout(15_000)
    try:
        home = stack.data_dir / "users" / "student1"
        home.mkdir(parents=True, exist_ok=True)
        notes, notebook = home / "notes.txt", home / "analysis.ipynb"
        notes.write_text("")
        notebook.write_text(json.dumps(EMPTY_NOTEBOOK))
        page = context.new_page()
        sign_in_and_start(page, stack.base_url, "student1", "npu-quarter")
        # JupyterLab's own autosave off: whatever gets saved, the extension saved
        set_settings(page, stack.base_url, "student1", "@jupyterlab/docmanager-extension:plugin",
                     {"autosave": False})
        page.goto(stack.base_url + "/user/student1/lab/tree/analysis.ipynb")
        cell = page.locator(".jp-NotebookPanel .jp-Cell .cm-content").first
        cell.wait_for(timeout=LAB_TIMEOUT_MS)
        cell.click()
        page.keyboard.type(TYPED_CELL)
        # the text file beside it, opened from the file browser (a new page would drop the cell's edit)
        listing = page.locator(".jp-DirListing-item", has_text="notes.txt")
        if not listing.is_visible():
            page.locator('.jp-SideBar [data-id="filebrowser"]').click()
        listing.dblclick()
        editor = page.locator(".jp-FileEditor .cm-content")
        editor.wait_for(timeout=LAB_TIMEOUT_MS)
        editor.click()
        page.keyboard.type(TYPED)
        assert cell_sources(notebook) == [""], "the notebook was saved before the warning"
        assert notes.read_text() == "", "the file was saved before the warning"
        # her budget is spent: the service warns her running server, and stops it GRACE seconds later
        r = stack.admin.http.post(stack.base_url + "/services/npuhub/api/v1/accounts/user:student1/adjustments",
                                  json={"device_hours": "-20", "reason": "test: spend her week"}, timeout=60)
        assert r.status_code == 201, r.text

        toast = page.locator(".Toastify__toast").filter(has_text="its budget is spent")
        toast.wait_for(timeout=(GRACE - 5) * 1000)
        assert "Your open notebooks have been saved." in toast.inner_text(), toast.inner_text()
        assert re.search(r"Your 1/4 Ascend 910B will be released at", toast.inner_text())
        # the warning may have been seen (and the toast shown) before the typing ended: the
        # next polls, one tab interval apart (15 s, plus the server part's cache), save them
        deadline = time.monotonic() + 40
        while (cell_sources(notebook), notes.read_text()) != ([TYPED_CELL], TYPED):
            assert time.monotonic() < deadline, \
                f"not saved after the warning: {cell_sources(notebook)!r}, {notes.read_text()!r}"
            time.sleep(0.5)
        server = stack.admin.user("student1")["servers"].get("")
        assert server and server["ready"], f"saved, but only once the server had stopped: {server}"
        page.wait_for_timeout(1000)  # the toast has slid in
        page.screenshot(path=screenshot_dir / "lab-npu-warning.png")

        stack.admin.wait_for_server("student1", ready=False, timeout=GRACE + 60)
        assert cell_sources(notebook) == [TYPED_CELL]
        assert notes.read_text() == TYPED
    finally:
        context.close()
        stack.stop()
