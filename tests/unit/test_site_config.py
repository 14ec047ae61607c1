"""The site file: the example is valid, and every mistake names its key."""

import copy
from fractions import Fraction
from pathlib import Path

import pytest
import yaml

from npuhub.cli import main
from npuhub.site_config import SiteConfigError, default_site_config_path, load_site_config, parse_site_config

ROOT = Path(__file__).parents[2]


def example():
    return yaml.safe_load(default_site_config_path().read_text())


def test_committed_example_is_the_default_and_valid():
    assert (ROOT / "npuhub.example.yaml").resolve() == default_site_config_path().resolve()
    site = load_site_config(ROOT / "npuhub.example.yaml")
    assert len(site.nodes) == 2 and all(n.devices == 8 for n in site.nodes)
    assert [f.id for f in site.catalogue.for_groups({"course-demo"})] == ["cpu", "npu-eighth", "npu-quarter"]
    assert site.limits.max_share_for({"course-demo"}) == Fraction(1, 4)
    assert site.limits.max_share_for({"course-demo", "teachers"}) == 1
    assert site.limits.max_share_for(set()) == 1


def mutate(change):
    data = copy.deepcopy(example())
    change(data)
    return data


def share_of(index, value):
    return lambda d: d["flavors"][index]["accelerator"].__setitem__("share", value)


@pytest.mark.parametrize(
    "change, key, words",
    [
        (share_of(2, "1/0"), "flavors[2].accelerator.share", "divides by zero"),
        (share_of(2, "-1/4"), "flavors[2].accelerator.share", "not a share"),
        (share_of(2, "abc"), "flavors[2].accelerator.share", "not a share"),
        (share_of(2, 0.25), "flavors[2].accelerator.share", "exact fractions"),
        (share_of(2, 16), "flavors[2].accelerator.share", "do not fit on one node"),
        (lambda d: d["flavors"][1]["accelerator"].__setitem__("model", "H100"),
         "flavors[1].accelerator.model", "no 'H100' devices"),
        (lambda d: d["flavors"][3].__setitem__("groups", ["nobody"]), "flavors[3].groups[0]", "not a group"),
        (lambda d: d["flavors"][0].__setitem__("id", "CPU Only"), "flavors[0].id", "not valid"),
        (lambda d: d["flavors"][1].__setitem__("id", "cpu"), "flavors[1].id", "earlier flavor"),
        (lambda d: d["flavors"][0].__setitem__("memory", "lots"), "flavors[0].memory", "not a size"),
        (lambda d: d["flavors"][0].__setitem__("cpu", -2), "flavors[0].cpu", "above zero"),
        (lambda d: d["flavors"][0].__setitem__("colour", "red"), "flavors[0].colour", "unknown key"),
        (lambda d: d["pool"][0].__setitem__("nodes", 0), "pool[0].nodes", "at least 1"),
        (lambda d: d["pool"][0].__setitem__("devices_per_node", "8"), "pool[0].devices_per_node", "whole number"),
        (lambda d: d["pool"][0].__setitem__("vendor", "amd"), "pool[0].vendor", "not one of"),
        (lambda d: d.__setitem__("flavours", []), "flavours", "unknown key"),
        (lambda d: d.__setitem__("flavors", []), "flavors", "no flavor"),
        (lambda d: d["limits"]["groups"].__setitem__("ghosts", {"max_share": 1}), "limits.groups.ghosts",
         "unknown key"),
        (lambda d: d["limits"].__setitem__("max_share", "1/0"), "limits.max_share", "divides by zero"),
        (lambda d: d["groups"]["course-demo"].__setitem__("kind", "club"), "groups.course-demo.kind", "not one of"),
        (lambda d: d["flavors"][0].__setitem__("image", "my image"), "flavors[0].image", "container image"),
        (lambda d: d.__setitem__("spawner", {"type": "docker"}), "spawner.type", "not one of"),
        (lambda d: (with_backends(d), d.__setitem__("spawner", {"type": "kubernetes",
                                                                "kubernetes": {"namespace": "Big NS"}})),
         "spawner.kubernetes.namespace", "not valid"),
        (lambda d: d.__setitem__("spawner", {"kubernetes": {"storage_capacity": "lots"}}),
         "spawner.kubernetes.storage_capacity", "not valid"),
        (lambda d: d.__setitem__("spawner", {"kubernetes": {"lab_storage_capacity": "lots"}}),
         "spawner.kubernetes.lab_storage_capacity", "not valid"),
        (lambda d: d.__setitem__("spawner", {"kubernetes": {"pod_start_timeout": 3}}),
         "spawner.kubernetes.pod_start_timeout", "at least 10"),
        (lambda d: d.__setitem__("spawner", {"kubernetes": {"home_mount_path": "home"}}),
         "spawner.kubernetes.home_mount_path", "absolute path"),
        (lambda d: d.__setitem__("spawner", {"kubernetes": {"privileged": True}}),
         "spawner.kubernetes.privileged", "unknown key"),
        (lambda d: d["isolation"].__setitem__("mode", "containers"), "isolation.mode", "not one of"),
        (lambda d: d["isolation"].__setitem__("user_prefix", ""), "isolation.user_prefix", "must start with"),
        (lambda d: d["isolation"].__setitem__("user_prefix", "Jupyter:"), "isolation.user_prefix", "must start with"),
        (lambda d: d["isolation"].__setitem__("allow_shared_os_user", "yes"), "isolation.allow_shared_os_user",
         "true or false"),
        (lambda d: d["isolation"].__setitem__("shared", True), "isolation.shared", "unknown key"),
    ],
)
def test_mistakes_name_the_key(change, key, words):
    with pytest.raises(SiteConfigError) as err:
        parse_site_config(mutate(change), "site.yaml")
    assert err.value.key == key
    assert words in err.value.problem
    assert str(err.value).startswith(f"site.yaml: {key}: ")


def test_not_yaml_names_the_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("pool:\n  - model: [unclosed\n")
    with pytest.raises(SiteConfigError, match=r"bad.yaml: line \d+, column \d+: not valid YAML"):
        load_site_config(bad)
    with pytest.raises(SiteConfigError, match="does not exist"):
        load_site_config(tmp_path / "missing.yaml")


def test_npuhub_up_stops_on_a_bad_file_with_the_key_and_no_traceback(tmp_path):
    bad = tmp_path / "npuhub.yaml"
    bad.write_text(yaml.safe_dump(mutate(share_of(2, "1/0"))))
    # sys.exit with a sentence: Python prints it to stderr and exits 1, without a traceback
    with pytest.raises(SystemExit) as stopped:
        main(["up", "--config", str(bad), "--data-dir", str(tmp_path / "d")])
    assert isinstance(stopped.value.code, str)
    assert "flavors[2].accelerator.share: '1/0' divides by zero" in stopped.value.code
    assert not (tmp_path / "d").exists()  # nothing started, nothing written


def test_check_config_summarises(capsys):
    assert main(["check-config"]) == 0
    out = capsys.readouterr().out
    assert "flavor npu-quarter: 1/4 x Ascend 910B" in out
    assert "isolation: each person's server as her own Unix account when npuhub runs as root" in out


def test_check_config_says_real_sign_in_on_a_shared_os_user_is_refused(tmp_path, capsys):
    site = mutate(lambda d: d.update(
        auth={"type": "cas", "cas": {"server_url": "https://cas.example.edu/cas"}},
        isolation={"mode": "shared"}))
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(site))
    assert main(["check-config", str(tmp_path / "s.yaml")]) == 0
    assert "CAS sign-in refused at start (set isolation.allow_shared_os_user: true" in capsys.readouterr().out
    site["isolation"]["allow_shared_os_user"] = True
    assert parse_site_config(site).isolation.allow_shared_os_user is True


def test_quotas_and_prices():
    site = load_site_config()
    user_rule, group_rule = site.quotas
    assert user_rule.scope == "user" and user_rule.device_hours == 10 and user_rule.cap == 20
    assert group_rule.scope == "group" and group_rule.period == "month"
    quarter = site.catalogue.resolve("npu-quarter", {"course-demo"})
    assert quarter.device_hours_per_hour == Fraction(1, 4)  # the share, unless a price is set
    data = mutate(lambda d: d["flavors"][2].__setitem__("price", "1/2"))
    assert parse_site_config(data).catalogue.resolve("npu-quarter", set()).device_hours_per_hour == Fraction(1, 2)
    for change, key, words in [
        (lambda d: d["quotas"][0].__setitem__("device_hours", 0.5), "quotas[0].device_hours", "exactly"),
        (lambda d: d["quotas"][0].__setitem__("groups", ["nobody"]), "quotas[0].groups[0]", "not a group"),
        (lambda d: d["quotas"][1].__setitem__("period", "term"), "quotas[1].period", "not one of"),
        (lambda d: d["flavors"][0].__setitem__("price", 1), "flavors[0].price", "CPU-only"),
    ]:
        with pytest.raises(SiteConfigError) as err:
            parse_site_config(mutate(change))
        assert err.value.key == key and words in err.value.problem


def with_backends(d: dict) -> None:
    """Every pool entry of the default site with a backend that gives all its flavors (HAMi on a 910B2)."""
    for entry in d["pool"]:
        entry["backend"] = {"kind": "hami-ascend", "chip": "Ascend910B2"}


def test_pods_need_a_backend_for_their_device():
    with pytest.raises(SiteConfigError, match=r"pool\[0\]\.backend: is missing: in a cluster"):
        parse_site_config(mutate(lambda d: d.__setitem__("spawner", {"type": "kubernetes"})))


def test_the_spawner_section_and_a_flavors_image():
    site = parse_site_config(mutate(lambda d: (with_backends(d), d.__setitem__("spawner", {"type": "kubernetes", "kubernetes": {
        "namespace": "npuhub", "image": "registry.example.edu/npuhub/cpu-lab:2026.1", "storage_class": "ceph-rbd",
        "storage_capacity": "20Gi", "pod_start_timeout": 900, "lab_storage_class": "cephfs",
        "lab_storage_capacity": "200Gi"}}), d["flavors"][1].__setitem__(
        "image", "registry.example.edu/npuhub/ascend-lab:2026.1"))))
    assert site.spawner.type == "kubernetes"
    assert site.spawner.kubernetes == {"namespace": "npuhub", "image": "registry.example.edu/npuhub/cpu-lab:2026.1",
                                       "storage_class": "ceph-rbd", "storage_capacity": "20Gi",
                                       "pod_start_timeout": 900.0, "lab_storage_class": "cephfs",
                                       "lab_storage_capacity": "200Gi"}
    flavors = list(site.catalogue)
    assert flavors[1].image == "registry.example.edu/npuhub/ascend-lab:2026.1" and flavors[0].image is None
    assert load_site_config(ROOT / "npuhub.example.yaml").spawner.type == "local"
