"""Fixtures of the browser tier: a headless Chromium driven by Playwright, and where screenshots go."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.browser import CHROMIUM, CHROMIUM_ARGS, DOCS_SCREENSHOTS, UPDATE_SCREENSHOTS, has_cjk_font
from support.parts import require


@pytest.fixture(scope="module")
def chromium():
    """A headless Chromium driven by Playwright, for the browser tests."""
    require(CHROMIUM.exists(), "Debian's chromium (/usr/bin/chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require(False, "the playwright Python package")
    pw = sync_playwright().start()
    try:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
    finally:
        pw.stop()


@pytest.fixture(scope="module")
def screenshot_dir(tmp_path_factory) -> Path:
    """docs/_static/screenshots when updating them, else a temporary directory (the git tree stays clean)."""
    if UPDATE_SCREENSHOTS:
        if not has_cjk_font():
            pytest.fail("the documentation's screenshots need a Chinese font, or the Chinese text shows as "
                        "boxes: apt-get install --no-install-recommends fonts-noto-cjk")
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return DOCS_SCREENSHOTS
    return tmp_path_factory.mktemp("screenshots")
