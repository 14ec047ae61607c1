"""Fixtures of the helm tier: the chart's values files, their renders, and the chart without its dependencies."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from support.helm_chart import CHART, render, values_file


@pytest.fixture(scope="session")
def minimal_values() -> dict:
    return values_file("minimal")


@pytest.fixture(scope="session")
def full_values() -> dict:
    return values_file("full")


@pytest.fixture(scope="session")
def minimal_objects(minimal_values) -> list[dict]:
    return render(minimal_values)


@pytest.fixture(scope="session")
def full_objects(full_values) -> list[dict]:
    return render(full_values)


@pytest.fixture(scope="session")
def chart_without_dependencies(tmp_path_factory) -> Path:
    """A copy of the chart whose Chart.yaml lists no dependency (they cannot be fetched here)."""
    target = tmp_path_factory.mktemp("chart") / "npuhub"
    shutil.copytree(CHART, target, ignore=shutil.ignore_patterns("charts", "Chart.lock"))
    meta = yaml.safe_load((target / "Chart.yaml").read_text(encoding="utf-8"))
    assert {d["name"] for d in meta.pop("dependencies")} == {"jupyterhub", "dask-kubernetes-operator"}
    (target / "Chart.yaml").write_text(yaml.safe_dump(meta, sort_keys=False), encoding="utf-8")
    return target
