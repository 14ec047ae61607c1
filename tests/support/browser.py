"""What the browser tests share: Debian's Chromium, window size, signing in, Lab's settings, screenshots."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from support.stacks import PASSWORD

#: Debian's Chromium, never one downloaded by `playwright install` (no browser downloads here).
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
]
#: The size of the documentation's screenshots.
VIEWPORT = {"width": 1280, "height": 800}
#: JupyterLab's first start on a slow 2-core machine.
LAB_TIMEOUT_MS = 120_000
#: `make screenshots`: write the screenshots into the documentation instead of a temporary directory.
UPDATE_SCREENSHOTS = os.environ.get("NPUHUB_UPDATE_SCREENSHOTS") == "1"
DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "_static" / "screenshots"


def has_cjk_font() -> bool:
    """Whether a Chinese font is installed (without one, Chinese text shows as boxes in screenshots)."""
    fc_list = shutil.which("fc-list")
    if not fc_list:
        return False
    found = subprocess.run([fc_list, ":lang=zh", "family"], capture_output=True, text=True)
    return bool(found.stdout.strip())


def sign_in(page, base: str, user: str) -> None:
    """Sign in on the hub's login page with a demo account."""
    page.goto(base + "/hub/login")
    page.fill("#username_input", user)
    page.fill("#password_input", PASSWORD)
    page.click("#login_submit")
    page.wait_for_url(re.compile(r"/hub/home"))


def sign_in_and_start(page, base: str, user: str, flavor: str) -> None:
    """Sign in, start the default server with ``flavor`` from the spawn page, and wait for JupyterLab."""
    sign_in(page, base, user)
    page.goto(base + "/hub/spawn")
    page.check(f"#npuhub-flavor-{flavor}")
    page.click('#spawn_form button[type="submit"]')
    page.wait_for_selector("#jp-main-dock-panel", timeout=LAB_TIMEOUT_MS)


def set_settings(page, base: str, user: str, plugin: str, values: dict) -> None:
    """Change a JupyterLab plugin's user settings through Lab's settings API, as the Settings editor does."""
    answer = page.evaluate(
        """async ([url, raw]) => {
            const xsrf = document.cookie.split('; ').find(c => c.startsWith('_xsrf='))?.slice(6) ?? '';
            const r = await fetch(url, {method: 'PUT', headers: {'X-XSRFToken': decodeURIComponent(xsrf),
                                   'Content-Type': 'application/json'}, body: JSON.stringify({raw})});
            return r.status;
        }""",
        [f"{base}/user/{user}/lab/api/settings/{plugin}", json.dumps(values)],
    )
    assert answer == 204, f"changing the settings of {plugin} answered {answer}"
