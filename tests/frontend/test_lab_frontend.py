"""The JupyterLab extension's front end: its Jest suite passes, and every message has its zh_CN translation."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from support.parts import require
from support.stacks import BIN

EXTENSION = Path(__file__).resolve().parents[2] / "extensions" / "npuhub-lab"


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "CI": "true"}
    return subprocess.run(args, cwd=EXTENSION, env=env, capture_output=True, text=True, timeout=timeout)


def test_jest_suite_passes():
    """The widgets' states, the polling, the notifications and the save-before-stop logic (src/__tests__)."""
    require(shutil.which("node") is not None, "Node.js (node), for the extension's Jest tests")
    jlpm = str(BIN / "jlpm")
    if not (EXTENSION / "node_modules" / ".bin" / "jest").exists():
        # bootstrap.sh installs them when it builds the extension; a bare checkout installs them here.
        installed = _run([jlpm, "install", "--immutable"], timeout=600)
        assert installed.returncode == 0, f"jlpm install failed:\n{installed.stdout}\n{installed.stderr}"
    result = _run([jlpm, "test", "--ci"], timeout=300)
    assert result.returncode == 0, f"Jest failed:\n{result.stdout}\n{result.stderr}"
    ran = re.search(r"^Tests:\s+(\d+) passed", result.stderr, re.M)
    assert ran and int(ran.group(1)) > 0, f"Jest ran no test:\n{result.stderr}"


def test_every_message_has_a_chinese_translation_and_the_json_is_current():
    """scripts/i18n.py check: no message of src/ lacks a zh_CN msgstr, and the shipped JSON matches the .po."""
    result = subprocess.run([sys.executable, str(EXTENSION / "scripts" / "i18n.py"), "check"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
