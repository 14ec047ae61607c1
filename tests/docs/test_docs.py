"""The documentation builds offline with zero warnings, and its generated references match the code."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"

# A remote script, stylesheet, font or image would break reading the docs offline.
REMOTE_ASSET = re.compile(r"<(?:script|link|img|source)\b[^>]*\b(?:src|href)=\"(?:https?:)?//", re.I)


@pytest.fixture(scope="module")
def html(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("docs")
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(out / "doctrees"), str(DOCS), str(out / "html")],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, f"sphinx-build failed:\n{result.stdout}\n{result.stderr}"
    return out / "html"


@pytest.mark.docs
def test_docs_build_without_warnings_or_remote_assets(html):
    pages = sorted(html.rglob("*.html"))
    assert {p.relative_to(html).as_posix() for p in pages} >= {
        "index.html", "quickstart.html", "concepts.html",
        "guides/student.html", "guides/teacher.html", "guides/operator.html", "guides/sso-oidc.html",
        "reference/site-file.html", "reference/config.html", "reference/cli.html",
    }
    for page in pages:
        assert not REMOTE_ASSET.search(page.read_text(encoding="utf-8")), f"{page.name} loads a remote asset"


@pytest.mark.docs
def test_generated_references_follow_the_code(html):
    cli = (html / "reference" / "cli.html").read_text(encoding="utf-8")
    for text in ("npuhub up", "npuhub check-config", "--proxy-api-port", "--data-dir",
                 # nested subcommands of the admin command line, each with its own help
                 "npuhub quota adjust", "npuhub reserve create", "npuhub queue cancel", "--reason TEXT"):
        assert text in cli
    config = (html / "reference" / "config.html").read_text(encoding="utf-8")
    for text in ("c.LocalNPUSpawner.work_root", "c.LocalNPUSpawner.isolation", "c.LocalNPUSpawner.os_user_prefix",
                 "c.LocalNPUSpawner.cgroup_v2_parent", "c.NPUSpawnerMixin.admission_url",
                 "c.DemoAuthenticator.students", "c.NPUHubOIDCAuthenticator.issuer",
                 "c.WorkshopCodesMixin.db_url", "c.WorkshopCodesMixin.admission_url",
                 "c.WatchedKubeSpawner.pod_start_timeout", "c.WatchedKubeSpawner.unschedulable_grace"):
        assert text in config
    # Only npuhub's own traits: JupyterHub's inherited ones are documented by JupyterHub.
    assert "c.LocalNPUSpawner.cmd" not in config and "c.WatchedKubeSpawner.image" not in config
