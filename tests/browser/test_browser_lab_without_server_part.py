"""A JupyterLab with the extension's front end but not its server part says so, in a sentence, not a blank.

A real JupyterLab (``python -m jupyterlab``) with the front end installed and
the server part switched off the way an operator would, in the server's user
config (``ServerApp.jpserver_extensions = {"npuhub_lab": false}``, what
``jupyter server extension disable npuhub_lab --user`` writes). The status
bar and the panel show that the server part is not installed, in JupyterLab's
language (the browser set to the other one).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys

import pytest
import requests

from support.browser import LAB_TIMEOUT_MS, VIEWPORT
from support.processes import log_tail, stop_group, wait_until_up
from support.stacks import free_port

pytestmark = [pytest.mark.browser, pytest.mark.integration]

#: JupyterLab's language, the browser's language, and the sentence.
LANGUAGES = [
    ("en", "zh-CN", "The npuhub server part is not installed on this server; ask the centre's staff."),
    ("zh_CN", "en-US", "此服务器上没有安装 npuhub 服务端组件，请联系计算中心工作人员。"),
]


@pytest.fixture(params=LANGUAGES, ids=[lab for lab, _, _ in LANGUAGES])
def lab_without_server_part(request, tmp_path):
    """JupyterLab on a free loopback port with npuhub_lab's server part disabled, in one language.

    Yields its URL, its token, the browser's locale to use and the sentence to expect.
    """
    lab_locale, browser_locale, sentence = request.param
    config = tmp_path / "config"
    language = config / "lab" / "user-settings" / "@jupyterlab" / "translation-extension"
    language.mkdir(parents=True)
    (language / "plugin.jupyterlab-settings").write_text(json.dumps({"locale": lab_locale}))
    (config / "jupyter_server_config.json").write_text(json.dumps({
        "ServerApp": {"jpserver_extensions": {"npuhub_lab": False}},
        "LabApp": {"news_url": None, "check_for_updates_class": "jupyterlab.NeverCheckForUpdate"},
    }))
    port, token = free_port(), secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTERHUB_", "NPUHUB_"))}
    env.update(JUPYTER_CONFIG_DIR=str(config), JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"))
    log = tmp_path / "lab.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1",
             f"--ServerApp.port={port}", f"--IdentityProvider.token={token}",
             f"--ServerApp.root_dir={tmp_path}"],
            cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(proc, f"{base}/api/status?token={token}", what="JupyterLab", timeout=60,
                      log=lambda: log_tail(log), interval=0.2)
        yield base, token, browser_locale, sentence
    finally:
        stop_group(proc)


def test_the_status_bar_and_the_panel_say_the_server_part_is_missing(chromium, lab_without_server_part):
    base, token, browser_locale, sentence = lab_without_server_part
    # the server part is really off: its route is unknown to this server
    assert requests.get(f"{base}/npuhub-lab/status?token={token}", timeout=10).status_code == 404
    context = chromium.new_context(viewport=VIEWPORT, locale=browser_locale)
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        page.goto(f"{base}/lab?token={token}")
        page.wait_for_selector("#jp-main-dock-panel", timeout=LAB_TIMEOUT_MS)
        problem = page.locator(".jp-npuhub-status .jp-npuhub-status-problem")
        problem.wait_for(timeout=30_000)
        assert problem.inner_text() == sentence
        page.locator(".jp-npuhub-status").click()
        panel_problem = page.locator("#npuhub-lab-panel .jp-npuhub-problem")
        panel_problem.wait_for()
        assert sentence in panel_problem.inner_text(), panel_problem.inner_text()
    finally:
        context.close()
