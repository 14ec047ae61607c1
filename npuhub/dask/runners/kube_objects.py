"""What a person's Dask cluster is made of in Kubernetes: the dask-kubernetes operator's objects, as plain JSON.

Pure data, no I/O (the runner, ``kubernetes.py``, sends them). One cluster is:

- a ``DaskCluster`` (``kubernetes.dask.org/v1``) named ``dask-<cluster id>``:
  the scheduler's pod and Service, and the operator's own default worker group
  kept at 0 replicas;
- one ``DaskWorkerGroup`` per *placement* of its workers, each with as many
  replicas as admitted workers share that placement.

Why groups: every worker of a cluster has the same flavor, so the same share,
image, CPU, memory and accelerator resources. What can differ between two
admitted workers is where the pool counted their slice: a backend that pins
placements (``pin_node``, the default) puts ``kubernetes.io/hostname: <node>``
in the grant's pod fragment. The operator removes *some* worker of a group when
its replicas go down, so a group must only hold interchangeable workers: the
workers whose pod templates are equal share a group (one group in the common
case: all slices on one node, or no pinning). The grant-specific variables of
``launch.env`` (request id, device indices) are left out of the template: in a
cluster the device plugin picks the device, npuhub's indices are bookkeeping.

Every pod: the flavor's image, the grant's CPU and memory (limit = request) and
accelerator resources, node selector, affinity, tolerations, scheduler, host
paths; labels naming the person and the cluster; no service-account token;
a non-root security context (uid 1000, gid 100, as the singleuser images'
``jovyan``), no privilege escalation, no capabilities.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import re
from typing import Any

from .base import ClusterSpec, WorkerGrant
from .embedded import DASHBOARD_PREFIX

__all__ = ["GROUP", "VERSION", "CLUSTERS", "WORKER_GROUPS", "cluster_name", "owner_labels", "daskcluster",
           "network_policy", "tls_secret", "tls_of_secret", "SERVICE_LABELS", "OPERATOR_LABELS",
           "worker_groups", "scheduler_address", "dashboard_url", "LABEL_CLUSTER", "LABEL_USER", "LABEL_MANAGED",
           "PER_GRANT_ENV"]

GROUP = "kubernetes.dask.org"
VERSION = "v1"
CLUSTERS = "daskclusters"
WORKER_GROUPS = "daskworkergroups"

LABEL_MANAGED = "app.kubernetes.io/managed-by"
LABEL_USER = "npuhub.io/user"
LABEL_CLUSTER = "npuhub.io/dask-cluster"
LABEL_GROUP = "npuhub.io/placement"
ANNOTATION_USER = "npuhub.io/user"
ANNOTATION_REQUESTS = "npuhub.io/requests"

#: the npuhub service's pods (the chart's labels): they proxy the dashboard to its owner
SERVICE_LABELS = {"app.kubernetes.io/name": "npuhub", "app.kubernetes.io/component": "service"}

#: the dask-kubernetes operator's pods (its chart's selector labels): it asks schedulers to retire workers
OPERATOR_LABELS = {"app.kubernetes.io/name": "dask-kubernetes-operator"}
#: where the cluster's TLS material (its Secret) is mounted in its pods
TLS_DIR = "/etc/dask-tls"

#: launch.env variables that differ from one worker's grant to the next (not part of a group's template)
PER_GRANT_ENV = ("NPUHUB_REQUEST_ID", "NPUHUB_GRANT_ID", "NPUHUB_SLICES")

SCHEDULER_PORT = 8786
DASHBOARD_PORT = 8787
WORKER_DASHBOARD_PORT = 8788
#: the singleuser images' user (jovyan) and group (users)
RUN_AS_USER = 1000
RUN_AS_GROUP = 100
#: the longest cluster name: the operator allows 53 (63 less "-scheduler"); its groups add "-<8 hex>"
MAX_NAME = 40

_LABEL_VALUE_OK = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")


def _digest(text: str, n: int = 8) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def label_value(text: str) -> str:
    """``text`` as a label value: itself when valid, else its safe characters and a short hash (unique)."""
    if _LABEL_VALUE_OK.match(text):
        return text
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-_.")[:50].strip("-_.")
    return f"{safe}-{_digest(text)}" if safe else _digest(text)


def cluster_name(spec: ClusterSpec) -> str:
    """The DaskCluster's name: ``dask-<id>`` as a DNS label, short enough for the operator's derived names."""
    slug = re.sub(r"[^a-z0-9-]+", "-", spec.id.lower()).strip("-")
    if slug == spec.id and len(slug) <= MAX_NAME - 5:
        return f"dask-{slug}"
    short = slug[:MAX_NAME - 14].strip("-")
    return f"dask-{short}-{_digest(spec.id)}" if short else f"dask-{_digest(spec.id)}"


def owner_labels(spec: ClusterSpec) -> dict[str, str]:
    """The labels every object and pod of the cluster carries: who owns it, which cluster."""
    return {LABEL_MANAGED: "npuhub", LABEL_USER: label_value(spec.user), LABEL_CLUSTER: label_value(spec.id)}


def scheduler_address(name: str, namespace: str) -> str:
    return f"tls://{name}-scheduler.{namespace}.svc.cluster.local:{SCHEDULER_PORT}"


def dashboard_url(name: str, namespace: str, cluster_id: str) -> str:
    """The scheduler's dashboard, under the path the service proxies it at (as the embedded runner's)."""
    return (f"http://{name}-scheduler.{namespace}.svc.cluster.local:{DASHBOARD_PORT}"
            f"{DASHBOARD_PREFIX.format(id=cluster_id)}")


def _quantity_cpu(cpu: Any) -> str:
    value = float(cpu)
    return str(int(value)) if value == int(value) else f"{math.ceil(value * 1000)}m"


def _env_list(env: dict[str, str]) -> list[dict]:
    return [{"name": str(k), "value": str(v)} for k, v in sorted(env.items())]


def _pod(role: str, image: str, args: list[str], launch: dict, env: dict[str, str], ports: list[dict],
         tls_secret_name: str, probe: dict | None = None) -> tuple[dict, dict]:
    """(pod metadata additions, pod spec) for one role (``scheduler`` or ``worker``) started on ``launch``."""
    kube = launch.get("kubernetes") or {}
    resources: dict[str, dict[str, str]] = {"limits": {}, "requests": {}}
    if launch.get("cpu") is not None:
        resources["limits"]["cpu"] = resources["requests"]["cpu"] = _quantity_cpu(launch["cpu"])
    if launch.get("memory"):
        resources["limits"]["memory"] = resources["requests"]["memory"] = str(launch["memory"])
    accel = kube.get("resources") or {}
    resources["limits"].update({k: str(v) for k, v in (accel.get("limits") or {}).items()})
    resources["requests"].update({k: str(v) for k, v in (accel.get("requests") or {}).items()})
    container = {
        "name": role,
        "image": image,
        "args": args,
        "env": _env_list({**env, **{str(k): str(v) for k, v in (kube.get("env") or {}).items()}}),
        "ports": ports,
        "resources": {k: v for k, v in resources.items() if v},
        "securityContext": {"allowPrivilegeEscalation": False, "runAsNonRoot": True,
                            "capabilities": {"drop": ["ALL"]}},
    }
    if probe:
        container["readinessProbe"] = probe
    container["volumeMounts"] = [*copy.deepcopy(kube.get("volumeMounts") or []),
                                 {"name": "dask-tls", "mountPath": TLS_DIR, "readOnly": True}]
    spec: dict[str, Any] = {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {"runAsNonRoot": True, "runAsUser": RUN_AS_USER, "runAsGroup": RUN_AS_GROUP,
                            "fsGroup": RUN_AS_GROUP, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [container],
    }
    for key in ("nodeSelector", "affinity", "tolerations", "schedulerName"):
        if kube.get(key):
            spec[key] = copy.deepcopy(kube[key])
    spec["volumes"] = [*copy.deepcopy(kube.get("volumes") or []),
                       {"name": "dask-tls", "secret": {"secretName": tls_secret_name, "defaultMode": 0o440}}]
    meta = {"labels": dict(kube.get("labels") or {}), "annotations": dict(kube.get("annotations") or {})}
    return meta, spec


def _image(spec: ClusterSpec, launch: dict) -> str:
    image = launch.get("image") or spec.image
    if not image:
        raise ValueError(f"the flavor {spec.flavor!r} names no container image for its Dask pods")
    return image


def _tls_args() -> list[str]:
    """Every connection of the cluster is TLS with its own certificate (its Secret): no client without it gets in."""
    return ["--tls-ca-file", f"{TLS_DIR}/cert.pem", "--tls-cert", f"{TLS_DIR}/cert.pem",
            "--tls-key", f"{TLS_DIR}/key.pem"]


def _worker_template(spec: ClusterSpec, launch: dict, namespace: str) -> dict:
    """A worker group's ``worker`` part (``metadata``, ``spec``; no replicas) for a worker started on ``launch``."""
    env = {k: v for k, v in (launch.get("env") or {}).items() if k not in PER_GRANT_ENV}
    cpu = float(launch.get("cpu") or 1)
    name = cluster_name(spec)
    args = ["dask", "worker", scheduler_address(name, namespace), "--name", "$(DASK_WORKER_NAME)",
            "--nthreads", str(max(1, math.floor(cpu))), "--dashboard-address", f":{WORKER_DASHBOARD_PORT}",
            *_tls_args()]
    if launch.get("memory"):
        args += ["--memory-limit", str(launch["memory"])]
    meta, pod = _pod("worker", _image(spec, launch), args, launch, env,
                     [{"name": "http-dashboard", "containerPort": WORKER_DASHBOARD_PORT, "protocol": "TCP"}],
                     f"{name}-tls")
    meta["labels"] = {**meta["labels"], **owner_labels(spec)}
    meta["annotations"] = {**meta["annotations"], ANNOTATION_USER: spec.user}
    return {"metadata": meta, "spec": pod}


def daskcluster(spec: ClusterSpec, namespace: str) -> dict:
    """The ``DaskCluster``: the scheduler (its own admitted request's launch) and a 0-replica default group."""
    name = cluster_name(spec)
    launch = spec.scheduler_launch or {}
    prefix = DASHBOARD_PREFIX.format(id=spec.id)
    probe = {"httpGet": {"path": f"{prefix}/health", "port": "http-dashboard"}, "initialDelaySeconds": 2,
             "periodSeconds": 5, "timeoutSeconds": 3}
    env = {k: v for k, v in (launch.get("env") or {}).items() if k not in PER_GRANT_ENV}
    # the scheduler ends itself after idle_timeout without work; the runner sees it restarted and the service
    # closes the cluster (releasing its slices), as with the embedded runner (the operator's own idleTimeout
    # cannot reach a TLS scheduler)
    idle = ["--idle-timeout", f"{int(spec.idle_timeout)}s"] if spec.idle_timeout else []
    args = ["dask", "scheduler", "--protocol", "tls", "--port", str(SCHEDULER_PORT),
            "--dashboard-address", f":{DASHBOARD_PORT}", "--dashboard-prefix", prefix, *idle, *_tls_args()]
    meta, pod = _pod("scheduler", _image(spec, launch), args, launch, env,
                     [{"name": "tcp-comm", "containerPort": SCHEDULER_PORT, "protocol": "TCP"},
                      {"name": "http-dashboard", "containerPort": DASHBOARD_PORT, "protocol": "TCP"}],
                     f"{name}-tls", probe)
    labels = owner_labels(spec)
    meta["labels"] = {**meta["labels"], **labels}
    meta["annotations"] = {**meta["annotations"], ANNOTATION_USER: spec.user}
    default_worker = _worker_template(spec, {k: v for k, v in launch.items() if k != "kubernetes"}, namespace)
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "DaskCluster",
        "metadata": {"name": name, "namespace": namespace, "labels": labels,
                     "annotations": {ANNOTATION_USER: spec.user}},
        "spec": {
            "idleTimeout": 0,
            "scheduler": {
                "metadata": meta,
                "spec": pod,
                "service": {
                    "type": "ClusterIP",
                    "selector": {"dask.org/cluster-name": name, "dask.org/component": "scheduler"},
                    "ports": [{"name": "tcp-comm", "protocol": "TCP", "port": SCHEDULER_PORT,
                               "targetPort": "tcp-comm"},
                              {"name": "http-dashboard", "protocol": "TCP", "port": DASHBOARD_PORT,
                               "targetPort": "http-dashboard"}],
                },
            },
            # the operator's default group never runs a worker: npuhub's workers are in placement groups
            "worker": {"replicas": 0, **default_worker},
        },
    }


def worker_groups(spec: ClusterSpec, namespace: str, workers: list[WorkerGrant]) -> dict[str, dict]:
    """The ``DaskWorkerGroup`` objects that run exactly ``workers``: name -> object (see the module's docstring)."""
    name = cluster_name(spec)
    groups: dict[str, tuple[dict, list[str]]] = {}
    for worker in workers:
        template = _worker_template(spec, worker.launch, namespace)
        key = _digest(json.dumps(template, sort_keys=True))
        groups.setdefault(key, (template, []))[1].append(worker.request_id)
    out = {}
    for key, (template, requests) in sorted(groups.items()):
        group_name = f"{name}-{key}"
        template["metadata"]["labels"][LABEL_GROUP] = key
        out[group_name] = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "DaskWorkerGroup",
            "metadata": {"name": group_name, "namespace": namespace,
                         "labels": {**owner_labels(spec), LABEL_GROUP: key, "dask.org/cluster-name": name},
                         "annotations": {ANNOTATION_USER: spec.user, ANNOTATION_REQUESTS: ",".join(sorted(requests))}},
            "spec": {"cluster": name, "worker": {"replicas": len(requests), **template}},
        }
    return out


def network_policy(spec: ClusterSpec, namespace: str) -> dict:
    """Who may connect to the cluster's pods: its own scheduler and workers, its owner's servers, the service.

    Dask's scheduler runs whatever code a client sends; TLS with the cluster's own
    certificate keeps other clients out, and this keeps other pods from even
    connecting. The operator's pods may connect (it asks the scheduler to retire
    workers when a group shrinks).
    The owner's servers are the pods ``KubeNPUSpawner`` labels ``npuhub.io/user``
    with her name and KubeSpawner ``component: singleuser-server``. (Outgoing
    connections from servers to Dask pods are the chart's singleuser egress rule.)
    """
    labels = owner_labels(spec)
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": cluster_name(spec), "namespace": namespace, "labels": labels,
                     "annotations": {ANNOTATION_USER: spec.user}},
        "spec": {
            "podSelector": {"matchLabels": {LABEL_CLUSTER: labels[LABEL_CLUSTER]}},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [
                {"podSelector": {"matchLabels": {LABEL_CLUSTER: labels[LABEL_CLUSTER]}}},
                {"podSelector": {"matchLabels": {LABEL_USER: labels[LABEL_USER],
                                                 "component": "singleuser-server"}}},
                {"namespaceSelector": {}, "podSelector": {"matchLabels": dict(SERVICE_LABELS)}},
                {"namespaceSelector": {}, "podSelector": {"matchLabels": dict(OPERATOR_LABELS)}},
            ]}],
        },
    }


def tls_secret(spec: ClusterSpec, namespace: str, tls: dict[str, str]) -> dict:
    """The Secret ``<name>-tls`` holding the cluster's certificate and key, mounted read-only in its pods."""
    name = cluster_name(spec)
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": f"{name}-tls", "namespace": namespace, "labels": owner_labels(spec),
                         "annotations": {ANNOTATION_USER: spec.user}},
            "stringData": {"cert.pem": tls["cert"], "key.pem": tls["key"]}}


def tls_of_secret(secret: dict) -> dict[str, str] | None:
    """The ``{"ca", "cert", "key"}`` PEMs a Secret from ``tls_secret`` holds (as the API serves it), or None."""
    import base64

    given = dict(secret.get("stringData") or {})
    for key, value in (secret.get("data") or {}).items():
        given.setdefault(key, base64.b64decode(value).decode())
    if not given.get("cert.pem") or not given.get("key.pem"):
        return None
    return {"ca": given["cert.pem"], "cert": given["cert.pem"], "key": given["key.pem"]}
