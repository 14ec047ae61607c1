"""The images' pinned requirements resolve: pip's own resolver, in a clean virtual environment, against PyPI.

One empty virtual environment (no pip of its own: the test environment's pip
drives it with ``--python``) and one ``pip install --dry-run --ignore-installed
--report`` per set, run side by side:

- each image's ``requirements.txt`` with every dependency (a list that only
  includes another adds nothing and is resolved with it: the CUDA image's is
  the CPU image's, the Ascend image's holds it);
- the device frameworks (``requirements-npu.txt``, ``requirements-mindspore.txt``,
  ``requirements-torch.txt``) in one run with ``--no-deps``: that a wheel
  exists for Python 3.11 on Linux at each pin. Their dependencies are not
  resolved here: PyPI's x86-64 torch depends on gigabytes of CUDA wheels the
  images take from PyTorch's own index instead, torch_npu's and MindSpore's
  from the CANN base.

Without PyPI (no network) the test is skipped with that reason; under
``NPUHUB_REQUIRE_ALL=1`` (CI) it fails instead.
"""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from packaging.utils import canonicalize_name

from support.images import IMAGES, pins, requirement_files, version
from support.parts import require

PIP = [sys.executable, "-m", "pip"]
#: The files resolved without their dependencies (see above).
FRAMEWORKS = ("requirements-npu.txt", "requirements-mindspore.txt", "requirements-torch.txt")


def pypi_reachable() -> bool:
    try:
        return requests.get("https://pypi.org/simple/pip/", timeout=10).status_code == 200
    except requests.RequestException:
        return False


def resolve(python: Path, files: list[Path], no_deps: bool) -> tuple[subprocess.CompletedProcess, dict]:
    cmd = [*PIP, "--python", str(python), "install", "--dry-run", "--ignore-installed", "--quiet",
           "--report", "-", *(["--no-deps"] if no_deps else [])]
    for path in files:
        cmd += ["-r", str(path)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    report = json.loads(r.stdout) if r.returncode == 0 and r.stdout.strip() else {}
    return r, {canonicalize_name(i["metadata"]["name"]): i["metadata"]["version"] for i in report.get("install", [])}


def test_every_pinned_requirement_resolves_in_a_clean_virtual_environment(tmp_path):
    require(pypi_reachable(), "PyPI (https://pypi.org, for resolving the images' pins)")
    venv = tmp_path / "clean"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"

    lists = [p for p in requirement_files() if p.name == "requirements.txt"]
    # a list whose pins another list holds too is resolved with that one
    covered = {p for p in lists for q in lists if p != q and set(pins(p).items()) <= set(pins(q).items())
               and (set(pins(p).items()) != set(pins(q).items()) or str(p) > str(q))}
    runs = [([p], False) for p in lists if p not in covered]
    runs.append(([p for p in requirement_files() if p.name in FRAMEWORKS], True))
    assert len(runs) >= 3 and all(files for files, _ in runs)

    with ThreadPoolExecutor(len(runs)) as pool:
        results = list(pool.map(lambda run: (run, resolve(python, *run)), runs))
    for (files, _), (r, resolved) in results:
        named = ", ".join(str(p.relative_to(IMAGES)) for p in files)
        assert r.returncode == 0, f"{named} does not resolve:\n{r.stderr[-3000:]}"
        for path in files:
            for name, req in pins(path).items():
                assert resolved.get(name) == version(req), f"{path}: {req} resolved to {resolved.get(name)}"
