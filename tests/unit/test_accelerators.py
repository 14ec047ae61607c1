"""Each accelerator backend's mapping, exactly, for several shares; each refusal's sentence; each bad option's key."""

from fractions import Fraction

import pytest

from npuhub.accelerators import BUILTIN, BackendConfigError, ShareInexpressible, make_backend

ASCEND_PATHS = {
    "volumes": [{"name": "ascend-driver", "hostPath": {"path": "/usr/local/Ascend/driver", "type": "Directory"}},
                {"name": "npu-smi", "hostPath": {"path": "/usr/local/bin/npu-smi", "type": "File"}}],
    "volumeMounts": [{"name": "ascend-driver", "mountPath": "/usr/local/Ascend/driver", "readOnly": True},
                     {"name": "npu-smi", "mountPath": "/usr/local/bin/npu-smi", "readOnly": True}],
}
NONE = {"volumes": [], "volumeMounts": []}
HAMI = {"hami.io/node-scheduler-policy": "binpack", "hami.io/gpu-scheduler-policy": "binpack"}


def fragment(spec: dict, model: str | None, share, node: str | None = "node-0") -> dict:
    return make_backend(spec, model).fragment(Fraction(share), node)


def expected(limits: dict, *, node: str | None = "node-0", selector=None, annotations=None, labels=None, env=None,
             paths=ASCEND_PATHS, scheduler=None) -> dict:
    out = {
        "resources": {"limits": limits, "requests": dict(limits)},
        "nodeSelector": {**(selector or {}), **({"kubernetes.io/hostname": node} if node else {})},
        "tolerations": [],
        "annotations": annotations or {},
        "labels": labels or {},
        "env": env or {},
        **paths,
    }
    if scheduler:
        out["schedulerName"] = scheduler
    return out


def refusal(spec: dict, model: str | None, share) -> ShareInexpressible:
    with pytest.raises(ShareInexpressible) as caught:
        fragment(spec, model, share)
    assert caught.value.reason == "share_inexpressible"
    assert caught.value.text.zh and caught.value.text.en and caught.value.text.zh != caught.value.text.en
    return caught.value


# -- Ascend device plugin ---------------------------------------------------------------------------
ADP_910 = {"kind": "ascend-device-plugin", "ai_cores": 32}


@pytest.mark.parametrize("share, limits", [
    ("1/16", {"huawei.com/Ascend910-2c": "1"}),
    ("1/8", {"huawei.com/Ascend910-4c": "1"}),
    ("1/4", {"huawei.com/Ascend910-8c": "1"}),
    ("1/2", {"huawei.com/Ascend910-16c": "1"}),
    (1, {"huawei.com/Ascend910": "1"}),
    (4, {"huawei.com/Ascend910": "4"}),
])
def test_ascend_device_plugin_on_a_32_core_card(share, limits):
    assert fragment(ADP_910, "Ascend 910", share) == expected(limits)


@pytest.mark.parametrize("share, limits", [
    ("1/15", {"huawei.com/Ascend910-2c": "1"}),
    ("2/15", {"huawei.com/Ascend910-4c": "1"}),
    ("4/15", {"huawei.com/Ascend910-8c": "1"}),
    ("8/15", {"huawei.com/Ascend910-16c": "1"}),
])
def test_ascend_device_plugin_on_a_30_core_card(share, limits):
    assert fragment({**ADP_910, "ai_cores": 30}, "Ascend 910", share) == expected(limits)


@pytest.mark.parametrize("share, templates, limits", [
    ("1/8", {}, {"huawei.com/Ascend310P-1c": "1"}),
    ("1/4", {}, {"huawei.com/Ascend310P-2c": "1"}),
    ("1/2", {}, {"huawei.com/Ascend310P-4c": "1"}),
    ("1/4", {"1/4": "2c.1cpu"}, {"huawei.com/Ascend310P-2c.1cpu": "1"}),
    ("1/2", {"1/2": "4c.3cpu"}, {"huawei.com/Ascend310P-4c.3cpu": "1"}),
    ("1/2", {"1/2": "4c.3cpu.ndvpp"}, {"huawei.com/Ascend310P-4c.3cpu.ndvpp": "1"}),
    ("1/2", {"1/2": "4c.4cpu.dvpp"}, {"huawei.com/Ascend310P-4c.4cpu.dvpp": "1"}),
    (2, {}, {"huawei.com/Ascend310P": "2"}),
])
def test_ascend_device_plugin_on_310p_with_its_cpu_variants(share, templates, limits):
    spec = {"kind": "ascend-device-plugin", "templates": templates}
    assert fragment(spec, "Atlas 300I Pro (310P)", share) == expected(limits)


def test_ascend_device_plugin_site_options_join_the_fragment():
    spec = {**ADP_910, "node_selector": {"accelerator": "huawei-Ascend910"},
            "tolerations": [{"key": "huawei.com/Ascend910", "operator": "Exists", "effect": "NoSchedule"}],
            "labels": {"team": "npu"}, "annotations": {"example.edu/owner": "centre"}, "env": {"HCCL_CONNECT_TIMEOUT": 1200},
            "host_paths": [{"path": "/usr/local/dcmi", "type": "Directory"}]}
    assert fragment(spec, "Ascend 910", "1/4") == {
        "resources": {"limits": {"huawei.com/Ascend910-8c": "1"}, "requests": {"huawei.com/Ascend910-8c": "1"}},
        "nodeSelector": {"accelerator": "huawei-Ascend910", "kubernetes.io/hostname": "node-0"},
        "tolerations": [{"key": "huawei.com/Ascend910", "operator": "Exists", "effect": "NoSchedule"}],
        "annotations": {"example.edu/owner": "centre"},
        "labels": {"team": "npu"},
        "env": {"HCCL_CONNECT_TIMEOUT": "1200"},
        "volumes": [{"name": "usr-local-dcmi", "hostPath": {"path": "/usr/local/dcmi", "type": "Directory"}}],
        "volumeMounts": [{"name": "usr-local-dcmi", "mountPath": "/usr/local/dcmi", "readOnly": True}],
    }


def test_node_pinning_and_affinity_and_a_volcano_queue():
    spec = {**ADP_910, "pin_node": False, "host_paths": [], "volcano_queue": "course-ml",
            "node_affinity": [{"matchExpressions": [{"key": "host-arch", "operator": "In", "values": ["huawei-arm"]}]}]}
    assert fragment(spec, "Ascend 910", 1) == {
        "resources": {"limits": {"huawei.com/Ascend910": "1"}, "requests": {"huawei.com/Ascend910": "1"}},
        "nodeSelector": {}, "tolerations": [], "annotations": {"scheduling.volcano.sh/queue-name": "course-ml"},
        "labels": {}, "env": {}, "volumes": [], "volumeMounts": [],
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "host-arch", "operator": "In", "values": ["huawei-arm"]}]}]}}},
        "schedulerName": "volcano",
    }


@pytest.mark.parametrize("spec, model, share, words", [
    (ADP_910, "Ascend 910", "1/3", ["32 AI cores", "1/16, 1/8, 1/4, 1/2", "1/3 of a card is not one of them"]),
    ({**ADP_910, "ai_cores": 30}, "Ascend 910", "1/4", ["30 AI cores", "1/15, 2/15, 4/15, 8/15"]),
    ({"kind": "ascend-device-plugin"}, "Ascend 910B", "1/4", ["30 or 32 AI cores", "set ai_cores"]),
    ({"kind": "ascend-device-plugin", "ai_cores": 20}, "Ascend 910B", "1/4", ["30 or 32 AI cores"]),
    ({"kind": "ascend-device-plugin"}, "Atlas 200 (310)", "1/2", ["no vNPU templates", "whole devices only"]),
    ({"kind": "ascend-device-plugin"}, "310P", "1/16", ["1/8, 1/4, 1/2", "1/16 of a card"]),
    ({"kind": "ascend-device-plugin", "templates": {"1/4": "4c.3cpu"}}, "310P", "1/4",
     ["Template 4c.3cpu takes 4 of the card's 8 AI cores", "not 1/4"]),
])
def test_ascend_device_plugin_refusals(spec, model, share, words):
    refused = refusal(spec, model, share)
    for word in words:
        assert word in refused.text.en
    assert refused.extra == {"backend": "ascend-device-plugin", "model": model, "share": share}


# -- HAMi on Ascend ----------------------------------------------------------------------------------
@pytest.mark.parametrize("chip, share, limits", [
    ("Ascend910B3", "1/4", {"huawei.com/Ascend910B3": "1", "huawei.com/Ascend910B3-memory": "16384"}),
    ("Ascend910B3", "1/2", {"huawei.com/Ascend910B3": "1", "huawei.com/Ascend910B3-memory": "32768"}),
    ("Ascend910B3", 1, {"huawei.com/Ascend910B3": "1", "huawei.com/Ascend910B3-memory": "65536"}),
    ("Ascend910B3", 2, {"huawei.com/Ascend910B3": "2"}),
    ("Ascend910B2", "1/8", {"huawei.com/Ascend910B2": "1", "huawei.com/Ascend910B2-memory": "8192"}),
    ("Ascend910B4", "1/4", {"huawei.com/Ascend910B4": "1", "huawei.com/Ascend910B4-memory": "8192"}),
    ("Ascend910A", "4/15", {"huawei.com/Ascend910A": "1", "huawei.com/Ascend910A-memory": "8738"}),
    ("Ascend310P", "1/8", {"huawei.com/Ascend310P": "1", "huawei.com/Ascend310P-memory": "3072"}),
    ("Ascend310P", 1, {"huawei.com/Ascend310P": "1", "huawei.com/Ascend310P-memory": "21527"}),  # allocatable
])
def test_hami_ascend(chip, share, limits):
    got = fragment({"kind": "hami-ascend", "chip": chip}, "Ascend", share, node="npu-3")
    assert got == expected(limits, node="npu-3", annotations=HAMI, scheduler="hami-scheduler")


def test_hami_ascend_custom_chip_and_spread():
    spec = {"kind": "hami-ascend", "chip": "Ascend910B9", "memory_mib": 65536, "ai_cores": 24, "policy": "spread",
            "host_paths": [], "templates": [{"memory": 21845, "aiCore": 8}]}
    assert fragment(spec, "910B9", "1/3") == expected(
        {"huawei.com/Ascend910B9": "1", "huawei.com/Ascend910B9-memory": "21845"}, paths=NONE,
        annotations={"hami.io/node-scheduler-policy": "spread", "hami.io/gpu-scheduler-policy": "spread"},
        scheduler="hami-scheduler")


def test_hami_ascend_refuses_to_round_a_share_up_and_what_no_template_holds():
    rounded = refusal({"kind": "hami-ascend", "chip": "Ascend910B3"}, "Ascend 910B3", "1/8")
    assert rounded.text.en == (
        "HAMi cuts Ascend 910B3 (Ascend910B3) by templates into 1/4, 1/2 of a card only; 1/8 would be rounded "
        "up to 1/4, so the pool would promise slices the card does not have. Make the flavor's share 1/4.")
    assert "向上取整为 1/4 卡" in rounded.text.zh
    too_big = refusal({"kind": "hami-ascend", "chip": "Ascend910B3"}, "Ascend 910B3", "3/4")
    assert too_big.text.en == ("HAMi cuts Ascend 910B3 (Ascend910B3) by templates into 1/4, 1/2 of a card, or "
                               "whole cards; 3/4 of a card cannot be given.")


# -- Volcano dynamic vNPU ---------------------------------------------------------------------------
VOLCANO_LABELS = {"ring-controller.atlas": "ascend-310P", "vnpu-dvpp": "null", "vnpu-level": "low"}


@pytest.mark.parametrize("share, cores", [("1/8", "1"), ("1/4", "2"), ("1/2", "4"), (1, "8"), (3, "24")])
def test_volcano_vnpu(share, cores):
    assert fragment({"kind": "volcano-vnpu"}, "Atlas 300I Pro", share) == expected(
        {"huawei.com/npu-core": cores}, labels=VOLCANO_LABELS, scheduler="volcano")


def test_volcano_vnpu_options_and_queue():
    spec = {"kind": "volcano-vnpu", "dvpp": "yes", "level": "high", "host_arch": "huawei-arm", "volcano_queue": "q1"}
    assert fragment(spec, "Atlas 300I Pro", "1/4") == expected(
        {"huawei.com/npu-core": "2"}, selector={"host-arch": "huawei-arm"},
        labels={"ring-controller.atlas": "ascend-310P", "vnpu-dvpp": "yes", "vnpu-level": "high"},
        annotations={"scheduling.volcano.sh/queue-name": "q1"}, scheduler="volcano")


@pytest.mark.parametrize("share", ["1/16", "3/8", "3/4"])
def test_volcano_vnpu_refusals(share):
    refused = refusal({"kind": "volcano-vnpu"}, "Atlas 300I Pro", share)
    assert refused.text.en == ("Volcano's dynamic vNPU cuts 1, 2 or 4 of an 8-core Atlas 300I Pro card's AI cores "
                               f"(1/8, 1/4 or 1/2 of a card), or whole cards; {share} of a card cannot be given.")


# -- NVIDIA ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("share", [1, 2, 8])
def test_nvidia_whole_gpus(share):
    spec = {"kind": "nvidia-device-plugin", "product": "NVIDIA-A100-SXM4-80GB"}
    assert fragment(spec, "A100", share, node="gpu-1") == expected(
        {"nvidia.com/gpu": str(share)}, node="gpu-1", selector={"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"},
        paths=NONE)


def test_nvidia_whole_gpus_refuse_fractions():
    refused = refusal({"kind": "nvidia-device-plugin"}, "A100", "1/2")
    assert refused.text.en == ("NVIDIA's device plugin gives A100 as whole GPUs only; 1/2 of one needs the "
                               "nvidia-mig, nvidia-time-slicing or hami-nvidia backend.")


@pytest.mark.parametrize("gpu, share, limits", [
    ("A100-80GB", "1/7", {"nvidia.com/mig-1g.10gb": "1"}),
    ("A100-80GB", "3/7", {"nvidia.com/mig-3g.40gb": "1"}),
    ("A100-80GB", "4/7", {"nvidia.com/mig-4g.40gb": "1"}),
    ("A100-80GB", 2, {"nvidia.com/mig-7g.80gb": "2"}),
    ("A100-40GB", "2/7", {"nvidia.com/mig-2g.10gb": "1"}),
    ("A30-24GB", "1/4", {"nvidia.com/mig-1g.6gb": "1"}),
    ("A30-24GB", "1/2", {"nvidia.com/mig-2g.12gb": "1"}),
])
def test_nvidia_mig(gpu, share, limits):
    assert fragment({"kind": "nvidia-mig", "gpu": gpu}, "A100", share) == expected(limits, paths=NONE)


def test_nvidia_mig_profiles_of_the_site():
    spec = {"kind": "nvidia-mig", "profiles": {"1/7": "1g.18gb", "1": "7g.141gb"}}
    assert fragment(spec, "H200", "1/7") == expected({"nvidia.com/mig-1g.18gb": "1"}, paths=NONE)


def test_nvidia_mig_refuses_a_share_that_is_no_profile():
    refused = refusal({"kind": "nvidia-mig", "gpu": "A100-80GB"}, "A100 80GB", "1/4")
    assert refused.text.en == ("MIG cuts each A100 80GB into these instances only: 1/7 (1g.10gb), 2/7 (2g.20gb), "
                               "3/7 (3g.40gb), 4/7 (4g.40gb), 1 (7g.80gb); 1/4 of a GPU is not one of them.")


def test_nvidia_time_slicing():
    spec = {"kind": "nvidia-time-slicing", "replicas": 4}
    assert fragment(spec, "T4", "1/4") == expected({"nvidia.com/gpu.shared": "1"}, paths=NONE)
    assert fragment({**spec, "resource": "nvidia.com/gpu"}, "T4", "1/4") == expected({"nvidia.com/gpu": "1"},
                                                                                    paths=NONE)


@pytest.mark.parametrize("share", ["1/2", "1/8", 1])
def test_nvidia_time_slicing_refuses_all_but_one_replica(share):
    refused = refusal({"kind": "nvidia-time-slicing", "replicas": 4}, "T4", share)
    assert refused.text.en.startswith("Time-slicing shares each T4 between 4 replicas, so it gives 1/4 of a GPU only")


@pytest.mark.parametrize("spec, share, limits", [
    ({}, "1/4", {"nvidia.com/gpu": "1", "nvidia.com/gpumem-percentage": "25", "nvidia.com/gpucores": "25"}),
    ({}, "1/8", {"nvidia.com/gpu": "1", "nvidia.com/gpumem-percentage": "12", "nvidia.com/gpucores": "12"}),
    ({"memory_mib": 81920}, "1/8", {"nvidia.com/gpu": "1", "nvidia.com/gpumem": "10240", "nvidia.com/gpucores": "12"}),
    ({"memory_mib": 24576, "limit_cores": False}, "1/3", {"nvidia.com/gpu": "1", "nvidia.com/gpumem": "8192"}),
    ({}, 2, {"nvidia.com/gpu": "2", "nvidia.com/gpumem-percentage": "100", "nvidia.com/gpucores": "100"}),
])
def test_hami_nvidia(spec, share, limits):
    assert fragment({"kind": "hami-nvidia", **spec}, "A100", share) == expected(
        limits, annotations=HAMI, paths=NONE, scheduler="hami-scheduler")


def test_hami_nvidia_gpu_type_and_its_refusal():
    got = fragment({"kind": "hami-nvidia", "gpu_type": "NVIDIA A100-SXM4-80GB"}, "A100", "1/2")
    assert got["annotations"] == {**HAMI, "nvidia.com/use-gputype": "NVIDIA A100-SXM4-80GB"}
    refused = refusal({"kind": "hami-nvidia"}, "A100", "1/128")
    assert refused.text.en == ("HAMi limits compute and memory in whole per cent; 1/128 of one A100 is less "
                               "than 1 % and cannot be given.")


# -- CPU only ------------------------------------------------------------------------------------------
def test_cpu_only():
    spec = {"kind": "cpu-only", "node_selector": {"node-role.example.edu/cpu": "true"}}
    assert fragment(spec, None, 0, node=None) == expected(
        {}, node=None, selector={"node-role.example.edu/cpu": "true"}, env={"NVIDIA_VISIBLE_DEVICES": "void"},
        paths=NONE)
    refused = refusal({"kind": "cpu-only"}, None, "1/4")
    assert refused.text.en == "The CPU-only backend gives no accelerator; 1/4 of one CPU needs an accelerator backend."


# -- options ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("spec, model, key, words", [
    ({"kind": "ascend-npu"}, "910", "kind", "not a backend"),
    ({"kind": "ascend-device-plugin", "chips": "Ascend910"}, "910", "chips", "not an option"),
    ({"kind": "ascend-device-plugin"}, "Kunpeng", "chip", "cannot tell the chip"),
    ({"kind": "ascend-device-plugin", "chip": "Ascend920"}, "910", "chip", "not one of"),
    ({"kind": "ascend-device-plugin", "ai_cores": 0}, "910", "ai_cores", "at least 1"),
    ({"kind": "ascend-device-plugin", "templates": {"1/4": "8c"}}, "310P", "templates.1/4", "not a Ascend310P template"),
    ({"kind": "ascend-device-plugin", "host_paths": [{"path": "relative"}]}, "910", "host_paths[0].path", "absolute"),
    ({"kind": "ascend-device-plugin", "host_paths": [{"path": "/x", "type": "DirectoryOrCreate"}]}, "910",
     "host_paths[0].type", "never created"),
    ({"kind": "hami-ascend"}, "910B3", "chip", "is required"),
    ({"kind": "hami-ascend", "chip": "Ascend999"}, "910B3", "chip", "built-in list"),
    ({"kind": "volcano-vnpu", "level": "medium"}, "310P", "level", "not one of"),
    ({"kind": "nvidia-mig"}, "A100", "gpu", "is required"),
    ({"kind": "nvidia-mig", "profiles": {"1/7": "1g.10gb"}}, "A100", "profiles", "whole-GPU profile"),
    ({"kind": "nvidia-mig", "profiles": {"1/7": "small", "1": "7g.80gb"}}, "A100", "profiles.1/7", "not a MIG profile"),
    ({"kind": "nvidia-time-slicing"}, "T4", "replicas", "is required"),
    ({"kind": "nvidia-time-slicing", "replicas": 4, "resource": "gpu shared"}, "T4", "resource", "extended resource"),
    ({"kind": "hami-nvidia", "memory_mib": "80G"}, "A100", "memory_mib", "whole number"),
    ({"kind": "cpu-only", "tolerations": [{"key": "a", "operator": "Maybe"}]}, None, "tolerations[0].operator",
     "Equal or Exists"),
    ({"kind": "cpu-only", "tolerations": [{"key": "a", "colour": "red"}]}, None, "tolerations[0].colour", "unknown"),
    ({"kind": "cpu-only", "node_selector": {"bad key!": "x"}}, None, "node_selector.bad key!", "not a valid label"),
    ({"kind": "cpu-only", "labels": {"team": "not a value"}}, None, "labels.team", "not a valid label value"),
    ({"kind": "cpu-only", "env": {"1BAD": "x"}}, None, "env.1BAD", "environment variable"),
    ({"kind": "cpu-only", "pin_node": "yes"}, None, "pin_node", "true or false"),
    ({"kind": "cpu-only", "volcano_queue": "q", "scheduler_name": "hami-scheduler"}, None, "scheduler_name",
     "volcano scheduler"),
    ({"kind": "cpu-only", "node_affinity": {"key": "a"}}, None, "node_affinity", "node selector terms"),
])
def test_bad_options_name_their_key(spec, model, key, words):
    with pytest.raises(BackendConfigError) as caught:
        make_backend(spec, model)
    assert caught.value.key == key
    assert words in caught.value.problem


def test_every_builtin_backend_states_its_vendor_and_documentation():
    for kind, cls in BUILTIN.items():
        assert cls.kind == kind
        assert cls.documentation.startswith("https://")
        assert cls.__doc__ and cls.__module__.startswith("npuhub.accelerators.")


@pytest.mark.parametrize("spec, key", [
    ({"kind": "ascend-device-plugin", "templates": {0.25: "2c"}}, "templates.0.25"),
    ({"kind": "nvidia-mig", "profiles": {"1/0": "1g.10gb", 1: "7g.80gb"}}, "profiles.1/0"),
    ({"kind": "nvidia-mig", "profiles": {"3/2": "1g.10gb", 1: "7g.80gb"}}, "profiles.3/2"),
])
def test_shares_in_options_are_exact_like_everywhere_else(spec, key):
    with pytest.raises(BackendConfigError) as caught:
        make_backend(spec, "310P")
    assert caught.value.key == key


def test_node_affinity_requirements_are_checked():
    with pytest.raises(BackendConfigError) as caught:
        make_backend({"kind": "cpu-only", "node_affinity": [
            {"matchExpressions": [{"key": "zone", "operator": "Within", "values": ["a"]}]}]}, None)
    assert caught.value.key == "node_affinity[0].matchExpressions[0]"
