"""A pod's init container script writes JupyterLab's settings with the site's language, run for real.

The script runs with this environment's python3 and JupyterLab, as it runs
with the server image's own in a pod; JupyterLab's reader of overrides reads the result.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from jupyterlab_server.settings_utils import _get_overrides

from npuhub.lab_language import LANGUAGE_PLUGIN, POD_SETTINGS_DIR, pod_parts

pytestmark = pytest.mark.integration

NEWS = "@jupyterlab/apputils-extension:notification"


def test_the_pods_init_container_script_writes_the_settings(tmp_path):
    parts = pod_parts("zh_CN", "registry.example.edu/npuhub/cpu-lab:2026.1")
    script = parts["init_container"]["command"][2].replace(POD_SETTINGS_DIR, str(tmp_path / "lab-settings"))
    env = {e["name"]: e["value"] for e in parts["init_container"]["env"]}
    # this environment's python3 and JupyterLab, as the image's own would be
    env["PATH"] = f"{Path(sys.executable).parent}:{os.environ['PATH']}"
    subprocess.run(["sh", "-c", script], env=env, check=True, timeout=60)
    overrides, error = _get_overrides(str(tmp_path / "lab-settings"))
    assert not error and overrides[LANGUAGE_PLUGIN] == {"locale": "zh_CN"}
    assert overrides[NEWS]["fetchNews"] == "false"  # npuhub's installed overrides came along
    assert parts["arg"] == f"--LabApp.app_settings_dir={POD_SETTINGS_DIR}"
