"""What the browser tests share: Debian's Chromium, the window size and the documentation's screenshots."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

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
