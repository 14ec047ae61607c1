"""The site file's pool.kubernetes, and a Kubernetes Node (a dict as the API serves it) read as the pool's NodeSpec."""

from __future__ import annotations

import pytest
import yaml

from npuhub.cli import main
from npuhub.inventory.config import DeviceModel, resolve_resource
from npuhub.inventory.nodes import node_spec
from npuhub.pool import NodeSpec
from npuhub.site_config import SiteConfigError, parse_site_config
from support.kube_emulator_nodes import node_object
from support.sites import KUBE_LABEL, KUBE_RESOURCE, MODEL, flavor, kube_pool, make_site

SITE = parse_site_config(make_site(pool=kube_pool()))
MODELS = SITE.kubernetes.models
RESOURCES = {MODEL: KUBE_RESOURCE}
LABELS = {KUBE_LABEL: "ascend-910b"}


def test_a_cluster_pool_declares_its_models_with_no_node_listed():
    assert SITE.nodes == () and SITE.pool_models == {MODEL: "ascend"}
    assert SITE.kubernetes.label_selector() == f"{KUBE_LABEL} in (ascend-910b)"


@pytest.mark.parametrize("change, key, words", [
    ({"models": []}, "pool.kubernetes.models", "lists no device model"),
    ({"models": [{"model": "X", "node_selector": {"a": "b"}}]}, "pool.kubernetes.models[0].resource", "is required"),
    ({"models": [{"model": "X", "node_selector": {}, "resource": "a.io/x"}]}, "pool.kubernetes.models[0].node_selector",
     "at least one label"),
    ({"models": [{"model": "X", "node_selector": {"a": 8}, "resource": "a.io/x"}]},
     "pool.kubernetes.models[0].node_selector.a", "quote it"),
    ({"models": [{"model": "X", "node_selector": {"a": "b"}, "resource": "not a resource"}]},
     "pool.kubernetes.models[0].resource", "extended resource"),
    ({"models": [{"model": "X", "node_selector": {"a": "b"}, "resource": "a.io/x"}], "resync_seconds": 1},
     "pool.kubernetes.resync_seconds", "at least 10"),
    ({"models": [{"model": "X", "node_selector": {"a": "b"}, "resource": "a.io/x", "colour": "red"}]},
     "pool.kubernetes.models[0].colour", "unknown key"),
])
def test_mistakes_in_pool_kubernetes_name_the_key(change, key, words):
    with pytest.raises(SiteConfigError) as err:
        parse_site_config(make_site(pool={"kubernetes": change}, flavors=[flavor("cpu")]), "site.yaml")
    assert err.value.key == key and words in err.value.problem


def test_flavors_are_checked_against_the_declared_models():
    with pytest.raises(SiteConfigError, match="16 devices do not fit on one node"):
        parse_site_config(make_site(pool=kube_pool(), flavors=[flavor("big", 16)]))
    with pytest.raises(SiteConfigError, match="the pool has no 'A100' devices"):
        parse_site_config(make_site(pool=kube_pool(), flavors=[flavor("gpu", 1, model="A100")]))


def test_a_node_of_the_model_counts_its_allocatable_devices():
    node = node_object("n1", 8, LABELS | {"other": "x"}, KUBE_RESOURCE)
    assert node_spec(node, MODELS, RESOURCES) == NodeSpec("n1", MODEL, 8, "ascend", True)


@pytest.mark.parametrize("change, expected", [
    (lambda n: n["spec"].update(unschedulable=True), NodeSpec("n1", MODEL, 2, "ascend", False)),
    (lambda n: n["status"].update(conditions=[{"type": "Ready", "status": "Unknown"}]),
     NodeSpec("n1", MODEL, 2, "ascend", False)),
    (lambda n: n["status"]["allocatable"].pop(KUBE_RESOURCE), NodeSpec("n1", MODEL, 0, "ascend", True)),
    (lambda n: n["status"]["allocatable"].update({KUBE_RESOURCE: "2Ki"}), NodeSpec("n1", MODEL, 0, "ascend", True)),
    (lambda n: n["metadata"]["labels"].clear(), None),
    (lambda n: n["metadata"].pop("name"), None),
])
def test_cordoned_not_ready_malformed_and_foreign_nodes(change, expected):
    node = node_object("n1", 2, LABELS, KUBE_RESOURCE)
    change(node)
    assert node_spec(node, MODELS, RESOURCES) == expected


def test_the_resource_comes_from_the_site_file_or_the_backend():
    named = DeviceModel("M", "ascend", {"a": "b"}, resource="huawei.com/Ascend910")
    assert resolve_resource(named) == "huawei.com/Ascend910"
    by_backend = DeviceModel("M", "ascend", {"a": "b"}, backend={"kind": "ascend-device-plugin"})
    assert resolve_resource(by_backend, lambda model: f"huawei.com/{model}") == "huawei.com/M"
    with pytest.raises(ValueError, match="no resource to count its devices by"):
        resolve_resource(by_backend, lambda model: None)


def test_a_backend_that_counts_whole_devices_stands_for_the_resource_and_one_that_does_not_is_refused():
    pool = kube_pool(model="Ascend 910")
    del pool["kubernetes"]["models"][0]["resource"]
    pool["kubernetes"]["models"][0]["backend"] = "ascend-device-plugin"  # the short form: the kind alone
    site = parse_site_config(make_site(pool=pool, flavors=[flavor("npu-1", "1", model="Ascend 910")]))
    assert site.backends["Ascend 910"].device_resource() == "huawei.com/Ascend910"
    assert site.kubernetes.models[0].backend == {"kind": "ascend-device-plugin"}
    pool["kubernetes"]["models"][0]["backend"] = {"kind": "hami-ascend", "chip": "Ascend910B3"}
    with pytest.raises(SiteConfigError, match=r"pool\.kubernetes\.models\[0\]\.resource: is required: the "
                                              "hami-ascend backend does not say"):
        parse_site_config(make_site(pool=pool, flavors=[flavor("npu-1", "1", model="Ascend 910")]))


def test_check_config_describes_a_cluster_pool_and_npuhub_up_refuses_it(tmp_path, capsys):
    site = tmp_path / "cluster.yaml"
    site.write_text(yaml.safe_dump(make_site(pool=kube_pool())))
    assert main(["check-config", str(site)]) == 0
    assert (f"pool: {MODEL} (ascend) from the cluster's nodes labelled {KUBE_LABEL}=ascend-910b, counting "
            f"{KUBE_RESOURCE}") in capsys.readouterr().out
    with pytest.raises(SystemExit) as stopped:
        main(["up", "--config", str(site), "--data-dir", str(tmp_path / "d")])
    assert "pool.kubernetes is for a cluster deployment" in stopped.value.code
    assert not (tmp_path / "d").exists()
