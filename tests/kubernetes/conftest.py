"""The Kubernetes tier: KubeSpawner's lifecycle against the Kubernetes API emulator on loopback (no cluster).

Fixtures: ``emulated_cluster`` (the API emulator and its emulated kubelet,
tests/support/kube_emulator.py; parametrize it indirectly with
``{"nodes": [...], "images": {...}}``) and ``support.kube_stack.KubeStack`` (`npuhub up` against it).
"""

from __future__ import annotations

import pytest

from support.kube_emulator import EmulatedCluster


@pytest.fixture
def emulated_cluster(request, tmp_path):
    options = getattr(request, "param", None) or {}
    cluster = EmulatedCluster(tmp_path / "emulated-cluster", **options).start()
    try:
        yield cluster
    finally:
        cluster.stop()
