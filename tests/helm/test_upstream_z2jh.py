"""What npuhub hands to the z2jh chart, checked against facts recorded from z2jh itself at the pinned version.

The z2jh chart cannot be fetched here and is never copied into the repository. These facts were read
from jupyterhub/zero-to-jupyterhub-k8s at tag 4.4.0 (the version Chart.yaml pins):

- ``jupyterhub/values.schema.yaml``: the keys and types below (``Z2JH_4_4_0``);
- ``jupyterhub/files/hub/jupyterhub_config.py``: ``hub.services`` entries become ``c.JupyterHub.services``
  with ``api_token`` from the Secret key ``hub.services.<key>.apiToken``; ``hub.extraConfig`` values are
  run with ``exec(config_py)`` in the order of their keys, after ``hub.config``;
- ``jupyterhub/templates/hub/secret.yaml`` and ``_helpers-names.tpl``: with ``fullnameOverride: ""`` the
  hub's Secret and Service are named ``hub`` (port 8081), the proxy's ``proxy-public``;
- ``jupyterhub/templates/_helpers.tpl`` (``jupyterhub.matchLabels``): pods carry ``component``, ``app:
  jupyterhub`` and ``release: <release>``; KubeSpawner labels servers ``component: singleuser-server``;
- ``jupyterhub/Chart.yaml``: kubeVersion ``>=1.28.0-0``, JupyterHub 5.5.0 in its own hub image.

When the pin moves, read the new tag's files again and update these facts with it.
"""

from __future__ import annotations

from importlib import resources

import kubernetes_validate
import pytest
import yaml

from npuhub.dask.runners.base import ClusterSpec
from npuhub.dask.runners.kube_objects import owner_labels
from support.helm_chart import CHART, KUBE_VERSIONS, find

pytestmark = pytest.mark.helm

Z2JH_VERSION = "4.4.0"

#: key path -> the JSON-schema types z2jh 4.4.0's values.schema.yaml gives it; "closed" objects refuse other keys
Z2JH_4_4_0 = {
    "": {"type": "object", "closed": True,
         "keys": {"enabled", "fullnameOverride", "nameOverride", "imagePullSecret", "imagePullSecrets", "hub",
                  "proxy", "singleuser", "scheduling", "ingress", "httpRoute", "prePuller", "custom", "cull",
                  "debug", "rbac", "global"}},
    "enabled": {"type": ["boolean", "null"]},
    "fullnameOverride": {"type": ["string", "null"]},
    "hub": {"type": "object", "closed": True,
            "keys": {"revisionHistoryLimit", "config", "extraFiles", "baseUrl", "command", "args", "cookieSecret",
                     "image", "networkPolicy", "db", "labels", "initContainers", "extraEnv", "extraConfig", "fsGid",
                     "service", "pdb", "existingSecret", "nodeSelector", "tolerations", "activeServerLimit",
                     "allowNamedServers", "annotations", "authenticatePrometheus", "concurrentSpawnLimit",
                     "consecutiveFailureLimit", "podSecurityContext", "containerSecurityContext",
                     "deploymentStrategy", "extraContainers", "extraVolumeMounts", "extraVolumes", "livenessProbe",
                     "readinessProbe", "namedServerLimitPerUser", "redirectToServer", "resources", "lifecycle",
                     "services", "loadRoles", "extraPodSpec", "shutdownOnLogout", "serviceAccount", "templatePaths",
                     "templateVars"}},
    "hub.image": {"type": "object", "closed": True, "required": {"name", "tag"},
                  "keys": {"name", "tag", "pullPolicy", "pullSecrets"}},
    "hub.image.name": {"type": "string"},
    "hub.image.tag": {"type": "string"},
    # open: one entry per service name; the schema documents name, admin, command, url (string), api_token and
    # apiToken at hub.services itself, and jupyterhub_config.py hands each entry whole to JupyterHub
    "hub.services": {"type": "object", "closed": False},
    "hub.services.*": {"type": "object", "closed": False},
    "hub.services.*.url": {"type": "string"},
    # the basic (NAME: "value") or explicit (NAME: {valueFrom: ...}) notation, or a list of EnvVar objects
    "hub.extraEnv": {"type": ["object", "array"]},
    "hub.extraVolumes": {"type": "array"},
    "hub.extraVolumeMounts": {"type": "array"},
    # open object whose values jupyterhub_config.py exec()s: strings of Python
    "hub.extraConfig": {"type": "object", "closed": False, "values": "string"},
    "singleuser": {"type": "object", "closed": True,
                   "keys": {"networkPolicy", "podNameTemplate", "cpu", "memory", "image", "initContainers",
                            "profileList", "extraFiles", "extraEnv", "nodeSelector", "extraTolerations",
                            "extraNodeAffinity", "extraPodAffinity", "extraPodAntiAffinity", "cloudMetadata", "cmd",
                            "defaultUrl", "events", "extraAnnotations", "extraContainers", "extraLabels",
                            "extraPodConfig", "extraResource", "fsGid", "lifecycleHooks", "networkTools",
                            "serviceAccountName", "startTimeout", "storage", "allowPrivilegeEscalation", "uid"}},
    "singleuser.image": {"type": "object", "closed": True, "required": {"name", "tag"},
                         "keys": {"name", "tag", "pullPolicy", "pullSecrets"}},
    "singleuser.image.name": {"type": "string"},
    "singleuser.image.tag": {"type": "string"},
    "singleuser.networkPolicy": {"type": "object", "closed": True,
                                 "keys": {"enabled", "ingress", "egress", "egressAllowRules",
                                          "interNamespaceAccessLabels", "allowedIngressPorts"}},
    # a list of NetworkPolicyEgressRule objects
    "singleuser.networkPolicy.egress": {"type": "array"},
    "cull": {"type": "object", "closed": True, "required": {"enabled"},
             "keys": {"enabled", "users", "adminUsers", "removeNamedServers", "timeout", "every", "concurrency",
                      "maxAge"}},
    "cull.enabled": {"type": "boolean"},
}
#: z2jh's default singleuser egress (values.yaml egressAllowRules.privateIPs: false): servers reach no private
#: address, the npuhub service included, unless an egress rule lets them
Z2JH_SINGLEUSER_PRIVATE_IPS_DEFAULT = False
#: z2jh's default authenticator (values.yaml hub.config.JupyterHub.authenticator_class), which npuhub.z2jh replaces
Z2JH_DEFAULT_AUTHENTICATOR = "dummy"

EXTRA_CONFIG = "from npuhub.z2jh import configure_hub\nconfigure_hub(c)\n"


def jupyterhub_values() -> dict:
    return yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))["jupyterhub"]


def _json_type(value) -> str:
    return {bool: "boolean", str: "string", int: "integer", float: "number", dict: "object", list: "array",
            type(None): "null"}[type(value)]


def _fact(path: str) -> dict | None:
    if path in Z2JH_4_4_0:
        return Z2JH_4_4_0[path]
    parts = path.split(".")
    for i in range(len(parts)):  # hub.services.npuhub.url -> hub.services.*.url
        wild = ".".join(parts[:i] + ["*"] + parts[i + 1:])
        if wild in Z2JH_4_4_0 and i > 0 and Z2JH_4_4_0.get(".".join(parts[:i]), {}).get("closed") is False:
            return Z2JH_4_4_0[wild]
    return None


def check(value, path: str, problems: list[str]) -> None:
    fact = _fact(path)
    if fact is None:
        return
    types = fact["type"] if isinstance(fact["type"], list) else [fact["type"]]
    if _json_type(value) not in types and not (_json_type(value) == "integer" and "number" in types):
        problems.append(f"jupyterhub.{path}: z2jh {Z2JH_VERSION} wants {types}, values.yaml has {_json_type(value)}")
        return
    if isinstance(value, dict):
        if fact.get("closed"):
            for key in value:
                if key not in fact["keys"]:
                    problems.append(f"jupyterhub.{path + '.' if path else ''}{key}: not a key of z2jh {Z2JH_VERSION}")
        for key in fact.get("required", ()):
            if key not in value:
                problems.append(f"jupyterhub.{path}.{key}: required by z2jh {Z2JH_VERSION}")
        if fact.get("values") == "string":
            problems += [f"jupyterhub.{path}.{k}: z2jh exec()s it, it must be a string" for k, v in value.items()
                         if not isinstance(v, str)]
        for key, child in value.items():
            check(child, f"{path}.{key}" if path else key, problems)


def test_values_handed_to_z2jh_use_only_its_keys_and_types():
    problems: list[str] = []
    check(jupyterhub_values(), "", problems)
    assert problems == []


def test_the_checker_catches_a_wrong_key_type_and_missing_value():
    bad = {"hub": {"extraConfg": {}, "image": {"name": "x"}, "extraConfig": {"00": 1}, "services": {"a": {"url": 3}}},
           "singleuser": {"networkPolicy": {"egres": []}}}
    problems: list[str] = []
    check(bad, "", problems)
    assert sorted(problems) == sorted([
        "jupyterhub.hub.extraConfg: not a key of z2jh 4.4.0",
        "jupyterhub.hub.image.tag: required by z2jh 4.4.0",
        "jupyterhub.hub.extraConfig.00: z2jh exec()s it, it must be a string",
        "jupyterhub.hub.services.a.url: z2jh 4.4.0 wants ['string'], values.yaml has integer",
        "jupyterhub.singleuser.networkPolicy.egres: not a key of z2jh 4.4.0",
    ])


def test_the_hub_wiring_the_contract_names_is_what_values_yaml_hands_over():
    hub = jupyterhub_values()["hub"]
    assert jupyterhub_values()["fullnameOverride"] == ""  # so the Secret and Service are named `hub`
    assert hub["extraConfig"] == {"00-npuhub": EXTRA_CONFIG}
    assert hub["services"]["npuhub"] == {"url": "http://npuhub:10101"}
    assert hub["extraEnv"]["NPUHUB_SITE_CONFIG"] == "/etc/npuhub/npuhub.yaml"
    assert hub["extraEnv"]["NPUHUB_SERVICE_URL"] == "http://npuhub:10101"
    assert hub["extraEnv"]["NPUHUB_SERVICE_API_TOKEN"] == {
        "valueFrom": {"secretKeyRef": {"name": "hub", "key": "hub.services.npuhub.apiToken"}}}
    assert hub["extraEnv"]["NPUHUB_DATA_DIR"] == "/srv/jupyterhub"
    assert hub["extraVolumes"] == [{"name": "npuhub-site", "configMap": {"name": "npuhub-site"}}]
    assert hub["extraVolumeMounts"] == [{"name": "npuhub-site", "mountPath": "/etc/npuhub", "readOnly": True}]
    # npuhub.z2jh chooses the authenticator from the site's auth: section; nothing here may fight it
    assert "config" not in hub or "authenticator_class" not in hub["config"].get("JupyterHub", {})


def test_the_extra_config_loads_npuhubs_hub_wiring_as_z2jh_runs_it():
    """z2jh exec()s each extraConfig value with `c` in scope: the text must compile and call configure_hub(c)."""
    import ast

    tree = ast.parse(EXTRA_CONFIG)
    assert [type(n).__name__ for n in tree.body] == ["ImportFrom", "Expr"]
    assert tree.body[0].module == "npuhub.z2jh" and tree.body[0].names[0].name == "configure_hub"
    call = tree.body[1].value
    assert call.func.id == "configure_hub" and [a.id for a in call.args] == ["c"]


def test_the_fragments_handed_to_z2jh_are_valid_kubernetes():
    """extraEnv, extraVolumes/Mounts and the servers' egress rule end up in z2jh's pod and NetworkPolicy."""
    values = jupyterhub_values()
    env = [{"name": name, **({"value": v} if isinstance(v, str) else v)} for name, v in values["hub"]["extraEnv"].items()]
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "hub"},
           "spec": {"containers": [{"name": "hub", "image": "hub:1", "env": env,
                                    "volumeMounts": values["hub"]["extraVolumeMounts"]}],
                    "volumes": values["hub"]["extraVolumes"]}}
    policy = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "singleuser"},
              "spec": {"podSelector": {}, "policyTypes": ["Egress"],
                       "egress": values["singleuser"]["networkPolicy"]["egress"]}}
    for kube in KUBE_VERSIONS:
        kubernetes_validate.validate(pod, kube, strict=True)
        kubernetes_validate.validate(policy, kube, strict=True)


def test_servers_egress_rule_reaches_the_rendered_service_pods(minimal_objects):
    assert Z2JH_SINGLEUSER_PRIVATE_IPS_DEFAULT is False  # hence the rule
    rule, dask_rule = jupyterhub_values()["singleuser"]["networkPolicy"]["egress"]
    selector = rule["to"][0]["podSelector"]["matchLabels"]
    deployment = find(minimal_objects, "Deployment", "npuhub")
    assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    assert rule["ports"] == [{"port": 10101, "protocol": "TCP"}]
    # the second reaches the pods of people's Dask clusters, as the Kubernetes runner labels them
    pod_labels = owner_labels(ClusterSpec(id="c0ffee", user="alice", flavor="npu-quarter"))
    peer = dask_rule["to"][0]["podSelector"]
    assert peer["matchLabels"].items() <= pod_labels.items()
    assert all(e["key"] in pod_labels for e in peer["matchExpressions"] if e["operator"] == "Exists")


def test_the_service_uses_the_names_z2jh_gives_its_objects(minimal_objects):
    (container,) = find(minimal_objects, "Deployment", "npuhub")["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert env["JUPYTERHUB_API_URL"]["value"] == "http://hub:8081/hub/api"  # z2jh Service `hub`, port 8081
    token = env["JUPYTERHUB_API_TOKEN"]["valueFrom"]["secretKeyRef"]
    services = jupyterhub_values()["hub"]["services"]
    assert token["name"] == "hub" and token["key"] in {f"hub.services.{k}.apiToken" for k in services}
    policy = find(minimal_objects, "NetworkPolicy", "npuhub")
    hub_peer = policy["spec"]["ingress"][0]["from"][0]["podSelector"]["matchLabels"]
    assert hub_peer == {"app": "jupyterhub", "release": "npuhub", "component": "hub"}


def test_the_service_may_manage_every_dask_resource_the_operator_defines(minimal_objects):
    """The operator's CRDs, read from the installed dask-kubernetes (2026.3, the pinned operator chart's version)."""
    crds = resources.files("dask_kubernetes") / "operator" / "customresources"
    plurals = set()
    for name in ("daskcluster.yaml", "daskworkergroup.yaml", "daskautoscaler.yaml"):
        crd = yaml.safe_load((crds / name).read_text(encoding="utf-8"))
        assert crd["spec"]["group"] == "kubernetes.dask.org"
        plurals.add(crd["spec"]["names"]["plural"])
    role = find(minimal_objects, "Role", "npuhub")
    dask = next(r for r in role["rules"] if r["apiGroups"] == ["kubernetes.dask.org"])
    assert set(dask["resources"]) == plurals


def test_the_dask_operator_chart_version_is_the_installed_dask_kubernetes():
    from importlib.metadata import version

    meta = yaml.safe_load((CHART / "Chart.yaml").read_text(encoding="utf-8"))
    deps = {d["name"]: d for d in meta["dependencies"]}
    assert deps["jupyterhub"]["version"] == Z2JH_VERSION
    # the operator chart is released with dask-kubernetes under the same version (chartpress)
    assert deps["dask-kubernetes-operator"]["version"] == version("dask-kubernetes")

