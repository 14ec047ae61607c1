"""Every flavor × backend becomes a valid pod; a flavor a backend cannot give stops start-up with its sentence.

Pods are built by KubeSpawner's own ``make_pod`` from the launch view the
service sends (``tests/support/pods.py``) and validated offline against the
official Kubernetes schemas, strictly, at the oldest and newest versions
``kubernetes-validate`` ships. No cluster is involved.
"""

import sys
import textwrap
from fractions import Fraction

import kubernetes_validate
import pytest
from kubernetes_validate.utils import all_versions, latest_version

from npuhub.accelerators import BUILTIN, check_flavors
from npuhub.cli import main
from npuhub.launch import launch_view
from npuhub.pool import Pool
from npuhub.site_config import SiteConfigError, parse_site_config
from support.pods import pod_manifest
from support.sites import flavor, make_site, pool_of, write_site

OLDEST, NEWEST = all_versions()[0], latest_version()

CPU = flavor("cpu", cpu=2, memory="4G")
ASCEND_TOLERATION = [{"key": "huawei.com/Ascend910", "operator": "Exists", "effect": "NoSchedule"}]

#: one site per backend: its model, vendor, backend options, and the flavors it can give
SITES = {
    "ascend-device-plugin": ("Ascend 910", "ascend", {"ai_cores": 32, "tolerations": ASCEND_TOLERATION},
                             ["1/16", "1/8", "1/4", "1/2", 1, 2]),
    "ascend-device-plugin-310p": ("Atlas 300I Pro (310P)", "ascend",
                                  {"kind": "ascend-device-plugin", "templates": {"1/2": "4c.3cpu.ndvpp"}},
                                  ["1/8", "1/4", "1/2", 1]),
    "hami-ascend": ("Ascend 910B3", "ascend", {"chip": "Ascend910B3", "volcano_queue": "students"},
                    ["1/4", "1/2", 1, 2]),
    "volcano-vnpu": ("Atlas 300I Pro", "ascend", {"host_arch": "huawei-arm", "volcano_queue": "course"},
                     ["1/8", "1/4", "1/2", 1, 2]),
    "nvidia-device-plugin": ("A100", "nvidia", {"product": "NVIDIA-A100-SXM4-80GB"}, [1, 2]),
    "nvidia-mig": ("A100 80GB", "nvidia", {"gpu": "A100-80GB"}, ["1/7", "2/7", "3/7", "4/7", 1, 2]),
    "nvidia-time-slicing": ("T4", "nvidia", {"replicas": 4}, ["1/4"]),
    "hami-nvidia": ("A100", "nvidia", {"memory_mib": 81920, "gpu_type": "NVIDIA A100-SXM4-80GB",
                                       "node_affinity": [{"matchExpressions": [
                                           {"key": "nvidia.com/gpu.present", "operator": "In", "values": ["true"]}]}]},
                    ["1/8", "1/4", "1/2", 1, 2]),
}


def site_for(name: str) -> dict:
    model, vendor, options, shares = SITES[name]
    backend = {"kind": options.get("kind", name), **{k: v for k, v in options.items() if k != "kind"}}
    flavors = [CPU] + [flavor(f"f{i}", share, model=model, cpu=4, memory="16G") for i, share in enumerate(shares)]
    return make_site(pool=[pool_of(2, 8, model=model, vendor=vendor, backend=backend)], flavors=flavors,
                     cpu_backend={"kind": "cpu-only", "node_selector": {"node-role.example.edu/cpu": "true"},
                                  "tolerations": [{"key": "example.edu/cpu-only", "operator": "Exists"}]})


def manifests(name: str):
    site = parse_site_config(site_for(name))
    pool = Pool(site.nodes)
    for f in site.catalogue:
        grant = pool.place(f"user-{f.id}", f.device_model, f.share) if f.has_accelerator else None
        vendor = pool.vendor_of(grant.model) if grant else None
        backend = site.backends[grant.model if grant else None]
        yield f, grant, pod_manifest(launch_view(f, grant, vendor, f"req-{f.id}", backend))


def test_every_builtin_backend_has_a_site_here():
    assert {options.get("kind", name) for name, (_, _, options, _) in SITES.items()} | {"cpu-only"} == set(BUILTIN)


@pytest.mark.parametrize("version", [OLDEST, NEWEST])
@pytest.mark.parametrize("name", sorted(SITES))
def test_every_flavor_on_every_backend_is_a_valid_pod(name, version):
    count = 0
    for f, grant, manifest in manifests(name):
        kubernetes_validate.validate(manifest, version, strict=True)
        spec = manifest["spec"]
        container = spec["containers"][0]
        if grant is None:  # CPU only: no accelerator asked, none handed out by a GPU runtime
            assert set(container["resources"]["limits"]) == {"cpu", "memory"}
            assert {"name": "NVIDIA_VISIBLE_DEVICES", "value": "void"} in container["env"]
            assert spec["nodeSelector"] == {"node-role.example.edu/cpu": "true"}
        else:  # pinned to the node the pool placed it on; never privileged; vendor paths read-only
            assert spec["nodeSelector"]["kubernetes.io/hostname"] == grant.node
            assert container["resources"]["limits"].keys() > {"cpu", "memory"}
            assert container["resources"]["requests"] == container["resources"]["limits"]
            assert not container.get("securityContext", {}).get("privileged")
            assert all(m["readOnly"] for m in container.get("volumeMounts", []))
            assert not any(e["name"] in ("ASCEND_VISIBLE_DEVICES", "CUDA_VISIBLE_DEVICES") for e in container["env"])
        count += 1
    assert count == len(SITES[name][3]) + 1


def test_a_pod_fragment_is_exactly_what_the_launch_view_carries():
    site = parse_site_config(site_for("hami-ascend"))
    grant = Pool(site.nodes).place("student1", "Ascend 910B3", Fraction(1, 4))
    quarter = site.catalogue.get("f0")
    view = launch_view(quarter, grant, "ascend", "req-1", site.backends["Ascend 910B3"])
    assert view["kubernetes"] == {
        "resources": {"limits": {"huawei.com/Ascend910B3": "1", "huawei.com/Ascend910B3-memory": "16384"},
                      "requests": {"huawei.com/Ascend910B3": "1", "huawei.com/Ascend910B3-memory": "16384"}},
        "nodeSelector": {"kubernetes.io/hostname": grant.node},
        "tolerations": [],
        "annotations": {"hami.io/node-scheduler-policy": "binpack", "hami.io/gpu-scheduler-policy": "binpack",
                        "scheduling.volcano.sh/queue-name": "students"},
        "labels": {},
        "env": {},
        "volumes": [{"name": "ascend-driver", "hostPath": {"path": "/usr/local/Ascend/driver", "type": "Directory"}},
                    {"name": "npu-smi", "hostPath": {"path": "/usr/local/bin/npu-smi", "type": "File"}}],
        "volumeMounts": [{"name": "ascend-driver", "mountPath": "/usr/local/Ascend/driver", "readOnly": True},
                         {"name": "npu-smi", "mountPath": "/usr/local/bin/npu-smi", "readOnly": True}],
        "schedulerName": "volcano",
    }
    assert view["cpu"] == 4 and view["memory"] == "16G"
    assert "ASCEND_VISIBLE_DEVICES" not in view["env"]  # the device plugin picks the card


def test_the_embedded_site_has_no_backend_and_launches_as_before():
    site = parse_site_config(make_site())
    assert site.backends == {}
    grant = Pool(site.nodes).place("student1", "Ascend 910B", Fraction(1, 4))
    view = launch_view(site.catalogue.get("npu-quarter"), grant, "ascend", "req-1", None)
    assert "kubernetes" not in view and view["env"]["ASCEND_VISIBLE_DEVICES"] == "0"


# -- the start-up check ------------------------------------------------------------------------------
def mig_site_with_a_quarter() -> dict:
    site = site_for("nvidia-mig")
    site["flavors"].append(flavor("gpu-quarter", "1/4", model="A100 80GB"))
    return site


def test_an_inexpressible_flavor_stops_loading_with_the_flavor_the_model_and_the_sentence():
    with pytest.raises(SiteConfigError) as err:
        parse_site_config(mig_site_with_a_quarter())
    assert err.value.key == "flavors[7]"
    assert err.value.problem == (
        "cannot start: flavor 'gpu-quarter' (A100 80GB, backend nvidia-mig): MIG cuts each A100 80GB into these "
        "instances only: 1/7 (1g.10gb), 2/7 (2g.20gb), 3/7 (3g.40gb), 4/7 (4g.40gb), 1 (7g.80gb); 1/4 of a GPU is "
        "not one of them. / MIG 只能把一张 A100 80GB 切成这些实例：1/7 (1g.10gb), 2/7 (2g.20gb), 3/7 (3g.40gb), "
        "4/7 (4g.40gb), 1 (7g.80gb)；1/4 卡不是其中之一。")


def test_check_flavors_lists_every_inexpressible_flavor():
    site = parse_site_config(site_for("volcano-vnpu"))
    flavors = list(site.catalogue) + [parse_site_config(make_site(
        pool=[pool_of(model="Atlas 300I Pro")], flavors=[flavor(i, s, model="Atlas 300I Pro")
                                                         for i, s in (("a", "1/16"), ("b", "3/4"))])).catalogue.get(x)
        for x in ("a", "b")]
    problems = check_flavors(flavors, site.backends)
    assert [(p.flavor, p.model, p.kind) for p in problems] == [("a", "Atlas 300I Pro", "volcano-vnpu"),
                                                             ("b", "Atlas 300I Pro", "volcano-vnpu")]
    assert problems[1].refusal.body()["message"]["zh"].startswith("Volcano 动态虚拟 NPU")


def test_the_service_refuses_to_start_and_check_config_says_why(tmp_path, capfd):
    from npuhub.service.app import NPUHubService

    path = write_site(tmp_path / "site.yaml", mig_site_with_a_quarter())
    with pytest.raises(SystemExit) as stopped:
        main(["check-config", str(path)])
    assert "flavors[7]: cannot start: flavor 'gpu-quarter' (A100 80GB, backend nvidia-mig): MIG cuts" \
        in str(stopped.value.code)
    service = NPUHubService(site_config_file=str(path), db_url=f"sqlite:///{tmp_path / 'db.sqlite'}")
    capfd.readouterr()
    with pytest.raises(SystemExit) as failed:
        service.initialize([])
    assert failed.value.code == 1
    logged = capfd.readouterr().err
    assert "FATAL" in logged and "'gpu-quarter' (A100 80GB, backend nvidia-mig)" in logged
    assert "1/4 of a GPU is not one of them" in logged and "1/4 卡不是其中之一" in logged


def test_check_config_shows_each_backend_and_what_each_flavor_asks_for(tmp_path, capsys):
    assert main(["check-config", str(write_site(tmp_path / "site.yaml", site_for("ascend-device-plugin")))]) == 0
    out = capsys.readouterr().out
    assert "backend of Ascend 910: ascend-device-plugin (huawei.com/Ascend910, vNPU templates of 32 AI cores)" in out
    assert "backend of CPU-only servers: cpu-only" in out
    assert "flavor f2: 1/4 x Ascend 910, 4 CPU, 16G; for everyone; pod asks for huawei.com/Ascend910-8c: 1" in out
    assert "flavor cpu: CPU only, 2 CPU, 4G; for everyone; pod asks for no accelerator" in out


@pytest.mark.parametrize("change, key, words", [
    (lambda s: s["pool"][0]["backend"].__setitem__("kind", "nvidia-mig"), "pool[0].backend.kind",
     "nvidia backend, but the 'Ascend 910' devices are ascend"),
    (lambda s: s["pool"][0]["backend"].__setitem__("ai_core", 32), "pool[0].backend.ai_core", "not an option"),
    (lambda s: s["pool"].append(pool_of(model="Ascend 910", node_prefix="more", backend={"kind": "hami-ascend"})),
     "pool[1].backend", "every 'Ascend 910' pool entry must name the same backend"),
    (lambda s: s["pool"].append(pool_of(model="T4", vendor="nvidia", node_prefix="gpu")), "pool[1].backend",
     "is missing: in a cluster every pool entry names its backend ('T4' has none)"),
    (lambda s: s["pool"].append(pool_of(model="Ascend 910", node_prefix="more")), "pool[1].backend",
     "is missing"),
    (lambda s: s.__setitem__("cpu_backend", {"kind": "cpu-only", "env": []}), "cpu_backend.env", "mapping"),
    (lambda s: s.__setitem__("cpu_backend", "cpu-only"), "cpu_backend", "must be a mapping"),
])
def test_backend_mistakes_name_their_key_in_the_site_file(change, key, words):
    site = site_for("ascend-device-plugin")
    change(site)
    with pytest.raises(SiteConfigError) as err:
        parse_site_config(site)
    assert err.value.key == key and words in err.value.problem


# -- a site's own backend, from the npuhub.accelerators entry-point group ------------------------------
def test_a_site_adds_its_own_backend_through_the_entry_point_group(tmp_path, monkeypatch):
    (tmp_path / "centre_npu.py").write_text(textwrap.dedent('''
        from npuhub.accelerators import Backend, Expression

        class CentreNPU(Backend):
            """The centre's in-house plugin: whole cards only."""
            kind = "centre-npu"
            vendor = "ascend"
            documentation = "https://npu.example.edu/plugin"

            def configure(self, options):
                self.resource = options.string("resource", "example.edu/npu")

            def express(self, share):
                if share < 1:
                    raise self.refuse("{model} 只能整卡使用。", "{model} comes in whole cards only.", share)
                return Expression(limits={self.resource: str(int(share))})
    '''))
    dist = tmp_path / "centre_npu-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: centre-npu\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[npuhub.accelerators]\ncentre-npu = centre_npu:CentreNPU\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "centre_npu", raising=False)

    site = make_site(pool=[pool_of(model="In-house NPU", backend={"kind": "centre-npu", "resource": "example.edu/npu"})],
                     flavors=[CPU, flavor("one", 1, model="In-house NPU")])
    loaded = parse_site_config(site)
    assert loaded.backends["In-house NPU"].express(Fraction(1)).limits == {"example.edu/npu": "1"}
    site["flavors"].append(flavor("half", "1/2", model="In-house NPU"))
    with pytest.raises(SiteConfigError) as err:
        parse_site_config(site)
    assert "In-house NPU comes in whole cards only." in err.value.problem
    (dist / "entry_points.txt").write_text("[npuhub.accelerators]\ncentre-npu = centre_npu:Missing\n")
    with pytest.raises(SiteConfigError) as err:
        parse_site_config(make_site(pool=[pool_of(model="In-house NPU", backend={"kind": "centre-npu"})],
                                    flavors=[CPU]))
    assert err.value.key == "pool[0].backend.kind" and "could not be loaded (AttributeError" in err.value.problem


# -- what the service sends ----------------------------------------------------------------------------
def test_the_service_sends_the_fragment_with_a_granted_request_as_its_openapi_schema_says():
    import fastjsonschema

    from npuhub.admission.core import Admission
    from npuhub.service.models import request_view
    from npuhub.service.openapi import SCHEMAS

    site = parse_site_config(site_for("volcano-vnpu"))
    adm = Admission(site, lambda: 1_000_000.0)
    quarter = adm.submit("student1", [], "f1", request_id="r-quarter")
    cpu = adm.submit("student2", [], "cpu", request_id="r-cpu")
    check = fastjsonschema.compile({"$ref": "#/components/schemas/Request", "components": {"schemas": SCHEMAS}})
    for decision, limits in ((quarter, {"huawei.com/npu-core": "2"}), (cpu, {})):
        view = request_view(adm.requests[decision.request], now=1_000_000.0, adm=adm)
        check(view)
        assert view["launch"]["kubernetes"]["resources"]["limits"] == limits
    assert view["launch"]["kubernetes"]["env"] == {"NVIDIA_VISIBLE_DEVICES": "void"}


def test_pyproject_registers_every_builtin_backend_as_an_entry_point():
    import tomllib
    from pathlib import Path

    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())["project"]
    points = project["entry-points"]["npuhub.accelerators"]
    assert {kind: f"{cls.__module__}:{cls.__name__}" for kind, cls in BUILTIN.items()} == points


def test_the_examples_commented_backend_gives_every_example_flavor():
    import yaml

    from npuhub.site_config import default_site_config_path

    text = default_site_config_path().read_text()
    line = next(ln for ln in text.splitlines() if ln.strip().startswith("# backend:"))
    data = yaml.safe_load(text)
    data["pool"][0]["backend"] = yaml.safe_load(line.strip()[2:])["backend"]
    site = parse_site_config(data)
    assert sorted(site.backends, key=str) == ["Ascend 910B", None]
    for f in site.catalogue:
        for version in (OLDEST, NEWEST):
            grant = Pool(site.nodes).place("someone", f.device_model, f.share) if f.has_accelerator else None
            backend = site.backends[f.device_model if f.has_accelerator else None]
            kubernetes_validate.validate(pod_manifest(launch_view(f, grant, "ascend", "r", backend)), version,
                                         strict=True)
