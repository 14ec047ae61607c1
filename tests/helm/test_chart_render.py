"""The chart linted in strict mode and rendered by Helm's engine; every object valid at the oldest and newest Kubernetes.

Rendered with the dependencies off (they cannot be fetched here): these are npuhub's own objects. The
ServiceMonitor is a custom resource (the Prometheus Operator's): no official schema covers it, so its
shape is checked against the Service it scrapes instead.
"""

from __future__ import annotations

import copy

import kubernetes_validate
import pytest
import yaml

from support.helm_chart import CHART, KUBE_VERSIONS, NAMESPACE, RELEASE, find, helm, render, values_file

pytestmark = pytest.mark.helm

CUSTOM_RESOURCES = {("monitoring.coreos.com/v1", "ServiceMonitor")}


def errors_of(report: dict) -> list[str]:
    return [m["error"] for m in report["messages"] if m["severity"] >= 2]


def test_lint_strict_passes_with_the_dependencies_switched_off(chart_without_dependencies, minimal_values,
                                                              full_values):
    for values in (minimal_values, full_values):
        for kube in KUBE_VERSIONS:
            report = helm().lint(str(chart_without_dependencies), values, strict=True, kube_version=f"v{kube}.0")
            assert errors_of(report) == [], report


def test_lint_of_the_real_chart_finds_only_the_dependencies_it_cannot_fetch_here(minimal_values):
    report = helm().lint(str(CHART), minimal_values, strict=True)
    assert errors_of(report) == ["chart directory is missing these dependencies: jupyterhub,dask-kubernetes-operator"]


def test_a_client_side_install_keeps_the_hooks_out_of_the_release(chart_without_dependencies, minimal_values):
    """Helm's install path (dry run, no cluster): the hooks run on their own, not as part of the release."""
    release = helm().Config(storage_driver="memory").install(str(chart_without_dependencies), RELEASE,
                                                              minimal_values, dry_run="client", namespace=NAMESPACE)
    assert release["status"] == "pending-install"
    manifest = [d for d in yaml.safe_load_all(release["manifest"]) if d]
    names = {(d["kind"], d["metadata"]["name"]) for d in manifest}
    assert ("Deployment", "npuhub") in names and ("ConfigMap", "npuhub-site") in names
    assert ("Job", "npuhub-migrate") not in names


def test_the_oldest_kubernetes_tested_is_the_one_chart_yaml_declares():
    # helm lint does not hold kubeVersion against --kube-version; the declared floor and the tested one agree
    meta = yaml.safe_load((CHART / "Chart.yaml").read_text(encoding="utf-8"))
    assert meta["kubeVersion"] == f">={KUBE_VERSIONS[0]}.0-0"
    assert meta["apiVersion"] == "v2"
    deps = {d["name"]: d for d in meta["dependencies"]}
    assert deps["jupyterhub"]["condition"] == "jupyterhub.enabled"
    assert deps["dask-kubernetes-operator"]["condition"] == "dask-kubernetes-operator.enabled"
    assert not (CHART / "charts").exists() and not (CHART / "Chart.lock").exists(), "never vendor the subcharts"


@pytest.mark.parametrize("which", ["minimal", "full", "url"])
def test_every_rendered_object_is_valid_at_the_oldest_and_newest_kubernetes(which, minimal_objects, full_objects,
                                                                            minimal_values):
    if which == "url":  # the third way to name the database, which neither file can hold beside the others
        values = copy.deepcopy(minimal_values)
        values["database"] = {"url": "postgresql+psycopg://npuhub:pw@db.example.edu:5432/npuhub"}
        objects = render(values)
    else:
        objects = minimal_objects if which == "minimal" else full_objects
    assert objects
    checked = 0
    for obj in objects:
        manifest = {k: v for k, v in obj.items() if k != "_template"}
        if (manifest["apiVersion"], manifest["kind"]) in CUSTOM_RESOURCES:
            continue
        for kube in KUBE_VERSIONS:
            try:
                kubernetes_validate.validate(manifest, kube, strict=True)
            except kubernetes_validate.ValidationError as e:
                pytest.fail(f"{obj['_template']}: {manifest['kind']}/{manifest['metadata']['name']} is not valid "
                            f"at Kubernetes {kube}: {e.message} at {list(e.path)}")
        checked += 1
    assert checked >= 12


def test_each_template_holds_one_kind_and_lives_in_its_component_folder():
    kinds: dict[str, set[str]] = {}
    for obj in render(_every_object_values()):
        kinds.setdefault(obj["_template"], set()).add(obj["kind"])
    for template, found in kinds.items():
        assert len(found) == 1, f"{template} renders {found}"
        folder = template.split("/")[2]
        assert folder in {"service", "hub", "database", "migrations", "networkpolicies", "monitoring", "site"}, template
    templates = {p.relative_to(CHART / "templates").parts[0] for p in (CHART / "templates").rglob("*.yaml")}
    assert templates == {"service", "hub", "database", "migrations", "networkpolicies", "monitoring", "site"}


def _every_object_values() -> dict:
    values = values_file("full")
    values["service"]["cookieSecret"] = {"existingSecret": ""}
    return values


def test_the_service_deployment_follows_the_contract(minimal_objects):
    deployment = find(minimal_objects, "Deployment", "npuhub")
    assert deployment["spec"]["replicas"] == 2
    # only the leader is ever ready: a rolling update's new pod (a standby) would never be, and stall it
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "npuhub"
    (container,) = pod["containers"]
    assert container["image"] == "registry.example.edu/npuhub/hub:0.1.0"
    assert container["command"][:3] == ["python", "-m", "npuhub.service"]
    env = {e["name"]: e for e in container["env"]}
    assert env["NPUHUB_SITE_CONFIG"]["value"] == "/etc/npuhub/npuhub.yaml"
    assert env["NPUHUB_DB_URL"]["valueFrom"]["secretKeyRef"] == {"name": "npuhub-db-url", "key": "url"}
    assert env["JUPYTERHUB_API_URL"]["value"] == "http://hub:8081/hub/api"
    assert env["JUPYTERHUB_API_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": "hub",
                                                                        "key": "hub.services.npuhub.apiToken"}
    assert env["JUPYTERHUB_SERVICE_PREFIX"]["value"] == "/services/npuhub/"
    assert env["JUPYTERHUB_SERVICE_URL"]["value"] == "http://0.0.0.0:10101"
    assert env["NPUHUB_SERVICE_COOKIE_SECRET"]["valueFrom"]["secretKeyRef"]["name"] == "npuhub-service"
    assert container["readinessProbe"]["httpGet"]["path"] == "/services/npuhub/health"
    # a standby is alive but not ready: liveness must not ask /health
    assert "httpGet" not in container["livenessProbe"]
    (init,) = pod["initContainers"]
    assert init["command"] == ["npuhub", "check-config", "/etc/npuhub/npuhub.yaml"]
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    site_volume = next(v for v in pod["volumes"] if v["name"] == mounts["/etc/npuhub"]["name"])
    assert site_volume["configMap"]["name"] == "npuhub-site"

    service = find(minimal_objects, "Service", "npuhub")
    assert service["spec"]["ports"] == [{"name": "http", "port": 10101, "targetPort": "http", "protocol": "TCP"}]
    assert service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()


def test_image_pull_secrets_reach_every_npuhub_pod(full_objects):
    pods = [o["spec"]["template"]["spec"] for o in full_objects if o["kind"] in ("Deployment", "Job")]
    assert len(pods) == 2
    for pod in pods:
        assert pod["imagePullSecrets"] == [{"name": "registry-example-edu"}]


def test_the_optional_parts_can_be_switched_off(full_values):
    values = copy.deepcopy(full_values)
    values.update(rbac={"create": False}, networkPolicy={"enabled": False}, migrations={"enabled": False},
                  dashboards={"enabled": False}, metrics={"serviceMonitor": {"enabled": False}})
    values["service"]["checkSite"] = False
    objects = render(values)
    kinds = {o["kind"] for o in objects}
    assert not kinds & {"ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding", "NetworkPolicy",
                        "Job", "ServiceMonitor"}
    assert not [o for o in objects if o["metadata"]["name"] == "npuhub-dashboard"]
    pod = find(objects, "Deployment", "npuhub")["spec"]["template"]["spec"]
    assert "initContainers" not in pod and pod["serviceAccountName"] == "npuhub"


def test_the_site_configmap_holds_the_values_site_file(minimal_objects, minimal_values):
    configmap = find(minimal_objects, "ConfigMap", "npuhub-site")
    assert yaml.safe_load(configmap["data"]["npuhub.yaml"]) == minimal_values["site"]


def test_the_service_reads_nodes_cluster_wide_and_manages_dask_clusters_in_user_namespaces(full_objects):
    cluster_role = find(full_objects, "ClusterRole", f"npuhub-{NAMESPACE}")
    assert cluster_role["rules"] == [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "watch"]}]
    binding = find(full_objects, "ClusterRoleBinding", f"npuhub-{NAMESPACE}")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "npuhub", "namespace": NAMESPACE}]
    for namespace in ("npuhub-users", "npuhub-workshops"):
        role = find(full_objects, "Role", "npuhub", namespace)
        dask = next(r for r in role["rules"] if r["apiGroups"] == ["kubernetes.dask.org"])
        assert "daskclusters" in dask["resources"]
        assert {"create", "get", "list", "watch", "patch", "delete"} <= set(dask["verbs"])
        rolebinding = find(full_objects, "RoleBinding", "npuhub", namespace)
        assert rolebinding["subjects"][0]["namespace"] == NAMESPACE


def test_the_hub_may_start_servers_in_user_namespaces_other_than_its_own(full_objects, minimal_objects):
    for namespace in ("npuhub-users", "npuhub-workshops"):
        role = find(full_objects, "Role", "npuhub-hub", namespace)
        assert {"pods", "persistentvolumeclaims"} <= set(role["rules"][0]["resources"])
        binding = find(full_objects, "RoleBinding", "npuhub-hub", namespace)
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "hub", "namespace": NAMESPACE}]
    # servers in the release's own namespace: z2jh's own Role covers them
    assert not [o for o in minimal_objects if o["metadata"]["name"] == "npuhub-hub"]


def test_user_namespace_defaults_to_the_site_files_spawner_namespace_then_the_releases(minimal_values):
    values = copy.deepcopy(minimal_values)
    def roles(values):
        return [o["metadata"]["namespace"] for o in render(values) if o["kind"] == "Role"
                and o["metadata"]["name"] == "npuhub"]

    assert roles(values) == [NAMESPACE]
    values["site"]["spawner"]["kubernetes"] = {"namespace": "people"}
    assert roles(values) == ["people"]


def test_network_policies_let_only_the_hub_the_proxy_and_servers_reach_the_service(full_objects):
    policy = find(full_objects, "NetworkPolicy", "npuhub")
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    (rule,) = policy["spec"]["ingress"]
    assert rule["ports"] == [{"port": "http", "protocol": "TCP"}]
    peers = rule["from"]
    components = [p["podSelector"]["matchLabels"].get("component") for p in peers if "podSelector" in p]
    assert components[:2] == ["hub", "proxy"]
    assert peers[0]["podSelector"]["matchLabels"]["release"] == "npuhub"
    servers = [p for p in peers if p.get("podSelector", {}).get("matchLabels") == {"component": "singleuser-server"}]
    assert [p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for p in servers] == \
        ["npuhub-users", "npuhub-workshops"]
    assert peers[-1]["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "monitoring"}
    database = find(full_objects, "NetworkPolicy", "npuhub-postgres")
    sources = [p["podSelector"]["matchLabels"]["app.kubernetes.io/component"] for p in database["spec"]["ingress"][0]["from"]]
    assert sources == ["service", "migrations"]


def test_migrations_run_as_a_hook_before_install_and_upgrade(minimal_objects, full_objects):
    from npuhub.cli import build_parser

    job = find(minimal_objects, "Job", "npuhub-migrate")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["npuhub", "migrate"]
    assert build_parser().parse_args(container["command"][1:]).func.__name__ == "cmd_migrate"
    # the bundled database does not exist before the first install: upgrades only
    assert find(full_objects, "Job", "npuhub-migrate")["metadata"]["annotations"]["helm.sh/hook"] == "pre-upgrade"
    secret = find(full_objects, "Secret", "npuhub-db")
    assert secret["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert int(secret["metadata"]["annotations"]["helm.sh/hook-weight"]) < int(
        job["metadata"]["annotations"]["helm.sh/hook-weight"])


def test_the_bundled_database_url_and_password_agree(full_objects):
    import base64

    secret = find(full_objects, "Secret", "npuhub-db")
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert data["url"] == f"postgresql+psycopg://npuhub:{data['password']}@npuhub-postgres:5432/npuhub"
    assert len(data["password"]) == 32
    statefulset = find(full_objects, "StatefulSet", "npuhub-postgres")
    env = {e["name"]: e for e in statefulset["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["POSTGRES_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "npuhub-db", "key": "password"}


def test_the_service_monitor_scrapes_the_services_metrics_port(full_objects):
    monitor = find(full_objects, "ServiceMonitor", "npuhub")
    service = find(full_objects, "Service", "npuhub")
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["path"] == "/services/npuhub/metrics"
    assert endpoint["authorization"] == {"type": "Bearer",
                                         "credentials": {"name": "npuhub-metrics-token", "key": "token"}}


def test_the_dashboard_configmap_carries_the_grafana_sidecar_label(full_objects):
    import json

    configmap = find(full_objects, "ConfigMap", "npuhub-dashboard")
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(configmap["data"]["npuhub.json"])["uid"] == "npuhub-overview"
