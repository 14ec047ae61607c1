"""The operator's resource definitions as npuhub's tests read them, and the objects the runner builds against them.

support/dask_crd.py rebuilds each CRD from the installed dask-kubernetes
package's base and patch files; these tests pin that the rebuild is the
package's own built CRD (what its Helm chart installs), that the patch is
what makes it so, and that the strict validator refuses what the API server
would, so a passing runner test means a DaskCluster a real API server takes.
"""

from __future__ import annotations

import copy
from dataclasses import replace

import kubernetes_validate
import pytest

from npuhub.dask.runners import runner_for
from npuhub.dask.runners.base import ClusterSpec, WorkerGrant
from npuhub.dask.runners.kube_objects import cluster_name, daskcluster, worker_groups
from npuhub.dask.runners.kubernetes import KubernetesRunner
from npuhub.site_config import load_site_config
from npuhub.site_hub import SpawnerConfig
from support.dask_crd import _strip, built_crd, crd_errors, pod_specs, resolved_crd

SPEC = ClusterSpec(id="Lab-Sweep_42/ada", user="ada", flavor="npu-quarter", image="registry.test/ascend:1",
                   scheduler_launch={"cpu": 0.5, "memory": "1G"}, idle_timeout=600)


@pytest.mark.parametrize("name", ["daskcluster", "daskworkergroup"])
def test_the_rebuilt_definition_is_the_packages_built_one_and_the_patch_is_part_of_it(name):
    rebuilt = _strip(resolved_crd(name), "description")
    assert rebuilt == _strip(built_crd(name), "description")
    defaults = str(rebuilt).count("'default': 'TCP'")
    assert defaults >= 2  # the patch file's port protocol defaults: without them the rebuild would differ


def test_the_strict_validator_refuses_what_the_api_server_would():
    good = daskcluster(SPEC, "npuhub")
    assert crd_errors("daskcluster", good) == []
    for change, expected in [
        (lambda o: o["spec"].pop("scheduler"), "'scheduler' is a required property"),
        (lambda o: o["spec"]["worker"].update(replicas="2"), "is not of type 'integer'"),
        (lambda o: o["spec"]["worker"]["spec"]["containers"][0].update(gpus=1), "'gpus' was unexpected"),
        (lambda o: o["spec"]["scheduler"]["spec"]["containers"][0]["resources"]["limits"].update(cpu=1),
         "is not of type 'string'"),
        (lambda o: o["spec"].update(idleTimeout="10m"), "is not of type 'integer'"),
        (lambda o: o.update(kind="DaskJob"), "'DaskCluster' was expected"),
    ]:
        bad = copy.deepcopy(good)
        change(bad)
        errors = crd_errors("daskcluster", bad)
        assert any(expected in e for e in errors), (expected, errors)


def test_names_labels_and_templates_of_an_awkward_id_and_user():
    name = cluster_name(SPEC)
    assert name.startswith("dask-lab-sweep-42-ada-") and len(name) <= 40
    assert cluster_name(SPEC) == name and cluster_name(ClusterSpec(id="lab-sweep-42-ada", user="ada",
                                                                   flavor="f")) != name
    spec = ClusterSpec(id="7", user="Ada Lovelace <ada@uni.edu>", flavor="f", image="registry.test/ascend:1")
    workers = [WorkerGrant(f"w{i}", f"r{i}", {"cpu": 2, "memory": "4G", "env": {"NPUHUB_REQUEST_ID": f"r{i}"}})
               for i in range(3)]
    groups = worker_groups(spec, "npuhub", workers)
    assert [g["spec"]["worker"]["replicas"] for g in groups.values()] == [3]  # no placement: one group
    for obj, kind in [(daskcluster(spec, "npuhub"), "daskcluster"), *((g, "daskworkergroup") for g in groups.values())]:
        assert crd_errors(kind, obj) == []
        for where, meta, pod in pod_specs(obj):
            kubernetes_validate.validate({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x", **meta},
                                          "spec": pod}, "1.33", strict=True)
            env = {e["name"] for e in pod["containers"][0]["env"]}
            assert "NPUHUB_REQUEST_ID" not in env  # a group's template holds nothing of one grant
    scheduler = daskcluster(SPEC, "npuhub")["spec"]["scheduler"]["spec"]["containers"][0]
    assert scheduler["args"][:3] == ["dask", "scheduler", "--protocol"] and "600s" in scheduler["args"]
    assert daskcluster(SPEC, "npuhub")["spec"]["idleTimeout"] == 0  # the scheduler ends itself; the service closes
    with pytest.raises(ValueError, match="names no container image"):
        daskcluster(ClusterSpec(id="x", user="ada", flavor="cpu"), "npuhub")


def test_the_runner_follows_the_sites_spawner_type():
    site = replace(load_site_config(), spawner=SpawnerConfig("kubernetes", {"namespace": "jupyter",
                                                                            "image": "registry.test/lab:1"}))
    runner = runner_for(site, kubeconfig="/nonexistent/kubeconfig")
    assert isinstance(runner, KubernetesRunner) and runner.namespace == "jupyter"
    assert runner.image == "registry.test/lab:1"  # a flavor without an image runs the site's, as servers do
