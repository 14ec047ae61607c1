"""A Kubernetes API emulator on loopback, and an emulated kubelet: no cluster can run on these machines.

This is an API simulation, not a cluster: kmock's ``KubernetesEmulator`` (an
in-memory object store behind Kubernetes' REST paths) with the small fixes
KubeSpawner needs (see TESTING-HERE.md, "Kubernetes without a cluster"):

- ``?watch=True`` (what kubernetes_asyncio sends) is a watch, like ``true``;
- created objects get ``metadata.namespace/uid/resourceVersion/creationTimestamp``
  and, for pods, ``status.phase: Pending``; every change a new resourceVersion;
- ``labelSelector`` (equality, inequality, existence, ``in``/``notin``) and ``fieldSelector`` on
  lists and watches, and a watch ends after ``timeoutSeconds``;
- PUT replaces an object (409 when its ``resourceVersion`` is stale);
- a namespace's ``ResourceQuota`` with ``spec.hard.pods`` refuses pods over it
  (403 "exceeded quota"), the one admission rule emulated;
- pods are deleted gracefully: ``deletionTimestamp`` first, gone once the
  kubelet has stopped their container.

``EmulatedKubelet`` plays the scheduler and the kubelet of a few emulated
nodes (labels, taints): it places pods (node selector, required node
affinity, tolerations) or marks them Unschedulable with the scheduler's
usual message; "pulls" images from a small catalogue; and runs each pod's
container as a REAL process: ``jupyterhub-singleuser`` (JupyterLab) bound to
a loopback address of its own (127.x.y.z, the pod's IP) on the pod's
``notebook-port``, so the hub's proxy reaches a real server. Other images in
the catalogue exit with a given code, or never finish downloading; an image
not in it fails to pull (ErrImagePull, then ImagePullBackOff). ``RUNS`` images
(and a ``dask ...`` command in the lab image) run a stand-in process that keeps
running. Each pod's volume claims are directories under the emulator's work
directory.

The dask-kubernetes operator's ``daskclusters`` and ``daskworkergroups`` are
served like any resource (create, get, list, watch, merge-patch, delete), and
``EmulatedCluster(..., dask_operator=True)`` runs an emulated operator beside
the kubelet (kube_emulator_dask.py) that makes their pods.

There is no real scheduling, no admission beyond the quota above, no garbage
collection, no resourceVersion resumption: it checks how npuhub uses the API,
not how a cluster behaves.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import os
import random
import re
import signal
import socket
import sys
import threading
import uuid
from dataclasses import dataclass, field
from importlib import resources as package_files
from pathlib import Path

import aiohttp
import aiohttp.web
import attrs
import requests
import yaml
from kmock import KubernetesEmulator, Server
from kmock._internal import enums
from kmock._internal.k8s import KubernetesError

__all__ = ["KubeAPIEmulator", "EmulatedKubelet", "EmulatedCluster", "EmulatedNode", "write_kubeconfig",
           "LAB", "SLOW_PULL", "RUNS", "exits_with"]

#: Image behaviours in the emulated registry.
LAB = "lab"                 # runs jupyterhub-singleuser
SLOW_PULL = "slow-pull"     # the download never finishes
RUNS = "runs"               # a container that keeps running (a stand-in process, no server in it)


def exits_with(code: int) -> str:
    """An image whose container exits with ``code`` as soon as it starts."""
    return f"exit:{code}"


#: What every emulated cluster knows about.
RESOURCES = ("v1/pods", "v1/events", "v1/persistentvolumeclaims", "v1/resourcequotas", "v1/nodes",
             "v1/namespaces", "v1/services", "v1/secrets", "coordination.k8s.io/v1/leases",
             # the dask-kubernetes operator's custom resources (its CRDs installed; see kube_emulator_dask.py)
             "kubernetes.dask.org/v1/daskclusters", "kubernetes.dask.org/v1/daskworkergroups",
             "networking.k8s.io/v1/networkpolicies")
FINALIZER = "emulator.npuhub.test/kubelet"


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _path(obj: dict, dotted: str):
    value = obj
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _label_terms(selector: str) -> list[str]:
    """A label selector's terms: split at the commas outside ``in (...)``/``notin (...)``."""
    terms, depth, current = [], 0, ""
    for char in selector:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            terms.append(current.strip())
            current = ""
        else:
            current += char
    terms.append(current.strip())
    return [t for t in terms if t]


def _selected(params, obj: dict) -> bool:
    """Whether ``obj`` matches the request's ``labelSelector`` and ``fieldSelector``."""
    labels = _path(obj, "metadata.labels") or {}
    for term in _label_terms(params.get("labelSelector") or ""):
        if (found := re.fullmatch(r"(\S+)\s+(in|notin)\s+\((.*)\)", term)) is not None:  # set-based
            key, op, values = found.group(1), found.group(2), {v.strip() for v in found.group(3).split(",")}
            if (labels.get(key) in values) != (op == "in"):
                return False
        elif "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key.strip()) == value.strip():
                return False
        elif "=" in term:
            key, value = term.replace("==", "=").split("=", 1)
            if labels.get(key.strip()) != value.strip():
                return False
        elif term.startswith("!"):
            if term[1:].strip() in labels:
                return False
        elif term not in labels:
            return False
    for term in filter(None, (params.get("fieldSelector") or "").split(",")):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if str(_path(obj, key.strip())) == value.strip():
                return False
        else:
            key, value = term.replace("==", "=").split("=", 1)
            if str(_path(obj, key.strip()) or "") != value.strip():
                return False
    return True


@attrs.define(kw_only=True)
class KubeAPIEmulator(KubernetesEmulator):
    """kmock's emulator with what KubeSpawner and npuhub's tests need (the module's docstring lists it)."""

    _versions: itertools.count = attrs.field(factory=lambda: itertools.count(1), init=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        for name in RESOURCES:
            self.resources[name] = {}

    def next_version(self) -> str:
        return str(next(self._versions))

    async def __call__(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        if raw_request.method == "GET" and raw_request.query.get("watch", "").lower() in ("true", "1"):
            raw_request = raw_request.clone(rel_url=raw_request.rel_url.update_query(watch="true"))
        return await super().__call__(raw_request)

    async def _handle(self, request):
        if request.resource is not None and request.method == enums.method.PUT and request.name:
            return await self._replace(request)
        if request.resource is not None and request.action == enums.action.CREATE and isinstance(request.data, dict):
            await self._admit(request)
            meta = request.data.setdefault("metadata", {})
            meta["namespace"] = request.namespace or meta.get("namespace")
            meta.setdefault("uid", str(uuid.uuid4()))
            meta["resourceVersion"] = self.next_version()
            meta.setdefault("creationTimestamp", _now())
            if request.resource.plural == "pods":
                meta.setdefault("finalizers", []).append(FINALIZER)
                request.data.setdefault("status", {}).setdefault("phase", "Pending")
            elif request.resource.plural == "persistentvolumeclaims":
                request.data.setdefault("status", {}).setdefault("phase", "Bound")
        elif request.resource is not None and request.action == enums.action.UPDATE and isinstance(request.data, dict):
            request.data.setdefault("metadata", {})["resourceVersion"] = self.next_version()
        return await super()._handle(request)

    async def _admit(self, request) -> None:
        """The one admission rule emulated: a namespace's ResourceQuota on the number of pods."""
        if request.resource.plural != "pods":
            return
        namespace = request.namespace or (request.data.get("metadata") or {}).get("namespace")
        async with self._lock:
            quotas = [obj.raw for (res, ns, _), obj in self.objects.items()
                      if res.plural == "resourcequotas" and ns == namespace and not obj.deleted]
            pods = sum(1 for (res, ns, _), obj in self.objects.items()
                       if res.plural == "pods" and ns == namespace and not obj.deleted)
        for quota in quotas:
            limit = ((quota.get("spec") or {}).get("hard") or {}).get("pods")
            if limit is not None and pods + 1 > int(limit):
                name = (request.data.get("metadata") or {}).get("name")
                raise KubernetesError(
                    status=403, reason="Forbidden",
                    message=f'pods "{name}" is forbidden: exceeded quota: {quota["metadata"]["name"]}, '
                            f"requested: pods=1, used: pods={pods}, limited: pods={limit}")

    async def _replace(self, request) -> aiohttp.web.StreamResponse:
        key = (request.resource, request.namespace, request.name)
        async with self._lock:
            if key not in self.objects or self.objects[key].deleted:
                return aiohttp.web.json_response(_status(404, "NotFound", f"{request.name} not found"), status=404)
            current = self.objects[key].raw
            given = (request.data.get("metadata") or {}).get("resourceVersion")
            if given and given != current["metadata"].get("resourceVersion"):
                return aiohttp.web.json_response(
                    _status(409, "Conflict", "the object has been modified; please apply your changes to the "
                                             "latest version and try again"), status=409)
            data = dict(request.data)
            meta = data["metadata"] = {**current["metadata"], **(data.get("metadata") or {})}
            meta["resourceVersion"] = self.next_version()
            self.objects[key].create(data)
            raw = self.objects[key].raw
            await self._buses[request.resource].put({"type": "MODIFIED", "object": raw})
        return aiohttp.web.json_response(raw)

    async def _serve_list(self, request):
        result = await super()._serve_list(request)
        result["items"] = [item for item in result["items"] if _selected(request.params, item)]
        result["metadata"]["resourceVersion"] = self.next_version()
        return result

    async def _serve_watch(self, request):
        timeout = float(request.params.get("timeoutSeconds") or 0) or None
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        events = super()._serve_watch(request)
        try:
            while True:
                remaining = None if deadline is None else max(0.0, deadline - loop.time())
                try:
                    item = await asyncio.wait_for(anext(events), remaining)
                except (StopAsyncIteration, TimeoutError):
                    return
                if not isinstance(item, dict) or _selected(request.params, item.get("object") or {}):
                    yield item
        finally:
            await events.aclose()


def _status(code: int, reason: str, text: str) -> dict:
    return {"apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure", "code": code,
            "reason": reason, "message": text}


@dataclass
class EmulatedNode:
    """A node of the emulated cluster: its name, labels and taints (``[{"key", "value", "effect"}]``)."""

    name: str
    labels: dict = field(default_factory=dict)
    taints: list = field(default_factory=list)


def _tolerates(tolerations: list, taint: dict) -> bool:
    for t in tolerations or []:
        if t.get("effect") and t["effect"] != taint.get("effect"):
            continue
        if t.get("operator") == "Exists" and (not t.get("key") or t["key"] == taint["key"]):
            return True
        if t.get("key") == taint["key"] and t.get("value") == taint.get("value"):
            return True
    return False


def _matches_affinity(spec: dict, node: EmulatedNode) -> bool:
    terms = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
             .get("requiredDuringSchedulingIgnoredDuringExecution") or {}).get("nodeSelectorTerms") or []
    if not terms:
        return True
    labels = {**node.labels, "kubernetes.io/hostname": node.name}
    for term in terms:
        ok = True
        for expr in term.get("matchExpressions") or []:
            value = labels.get(expr["key"])
            op = expr["operator"]
            ok &= (op == "In" and value in expr.get("values", [])) or (op == "NotIn" and value not in expr.get(
                "values", [])) or (op == "Exists" and value is not None) or (op == "DoesNotExist" and value is None)
        if ok:
            return True
    return False


@dataclass
class _PodRun:
    """What the kubelet did for one pod."""

    uid: str
    reported: set = field(default_factory=set)
    pull_started: float | None = None
    process: asyncio.subprocess.Process | None = None
    ip: str | None = None
    log: Path | None = None


class EmulatedKubelet:
    """The emulated scheduler and kubelet: places pods, pulls images from a catalogue, runs real containers."""

    def __init__(self, api_url: str, workdir: Path, nodes: list[EmulatedNode], images: dict[str, str],
                 pull_seconds: float = 1.0, interval: float = 0.2):
        self.api_url = api_url.rstrip("/")
        self.workdir = workdir
        self.nodes = nodes
        self.images = images
        self.pull_seconds = pull_seconds
        self.interval = interval
        self.runs: dict[str, _PodRun] = {}
        self.http: aiohttp.ClientSession | None = None

    async def run(self, stopping: asyncio.Event) -> None:
        self.http = aiohttp.ClientSession()
        try:
            while not stopping.is_set():
                try:
                    await self.step()
                except Exception as e:  # keep playing the kubelet; the tests see what went wrong in the log
                    print(f"emulated kubelet: {e!r}", file=sys.stderr)
                await asyncio.sleep(self.interval)
        finally:
            for run in self.runs.values():
                await self._kill(run)
            await self.http.close()

    async def step(self) -> None:
        async with self.http.get(f"{self.api_url}/api/v1/pods") as r:
            pods = (await r.json())["items"]
        seen = set()
        for pod in pods:
            uid = pod["metadata"]["uid"]
            seen.add(uid)
            run = self.runs.setdefault(uid, _PodRun(uid))
            await self._step_pod(pod, run)
        for uid in set(self.runs) - seen:
            await self._kill(self.runs.pop(uid))

    # -- one pod ---------------------------------------------------------------------------------------
    async def _step_pod(self, pod: dict, run: _PodRun) -> None:
        meta, spec, status = pod["metadata"], pod["spec"], pod.get("status") or {}
        if meta.get("deletionTimestamp"):
            await self._kill(run)
            await self._patch(pod, {"metadata": {"finalizers": [f for f in meta.get("finalizers", [])
                                                                if f != FINALIZER]}})
            return
        if status.get("phase") in ("Failed", "Succeeded"):
            return
        if not spec.get("nodeName"):
            await self._schedule(pod, run)
            return
        container = spec["containers"][0]
        image = container["image"]
        kind = self.images.get(image)
        if "pulling" not in run.reported:
            run.reported.add("pulling")
            run.pull_started = asyncio.get_running_loop().time()
            await self._event(pod, "Pulling", f'Pulling image "{image}"')
            return
        if kind is None:
            if "pull-failed" not in run.reported:
                run.reported.add("pull-failed")
                await self._event(pod, "Failed", f'Failed to pull image "{image}": rpc error: code = NotFound '
                                                 f'desc = failed to pull and unpack image "{image}": not found',
                                  "Warning")
                await self._container_status(pod, {"state": {"waiting": {"reason": "ErrImagePull",
                                                                          "message": "not found"}}})
            elif "backoff" not in run.reported:
                run.reported.add("backoff")
                await self._container_status(pod, {"state": {"waiting": {
                    "reason": "ImagePullBackOff", "message": f'Back-off pulling image "{image}"'}}})
            return
        if kind == SLOW_PULL or asyncio.get_running_loop().time() - run.pull_started < self.pull_seconds:
            return
        if run.process is None and "started" not in run.reported:
            run.reported.add("started")
            await self._event(pod, "Pulled", f'Successfully pulled image "{image}"')
            await self._event(pod, "Created", "Created container notebook")
            await self._start(pod, run, kind)
            await self._event(pod, "Started", "Started container notebook")
            try:  # a container that exits at once is reported as exited, not first as running
                await asyncio.wait_for(asyncio.shield(run.process.wait()), 0.5)
                return
            except TimeoutError:
                pass
            await self._patch(pod, {"status": {
                "phase": "Running", "podIP": run.ip, "podIPs": [{"ip": run.ip}], "hostIP": "127.0.0.1",
                "startTime": _now(),
                "conditions": [{"type": t, "status": "True", "lastTransitionTime": _now()}
                               for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")],
                "containerStatuses": [self._container(image, ready=True,
                                                      state={"running": {"startedAt": _now()}})]}})
            return
        if run.process is not None and run.process.returncode is not None and "exited" not in run.reported:
            run.reported.add("exited")
            code = run.process.returncode
            code = 128 - code if code < 0 else code  # killed by a signal, as a container runtime reports it
            terminated = {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                          "finishedAt": _now()}
            if spec.get("restartPolicy", "Always") != "Never" and code != 0:
                await self._event(pod, "BackOff", "Back-off restarting failed container notebook", "Warning")
                await self._patch(pod, {"status": {"containerStatuses": [self._container(
                    image, ready=False, restart_count=1, state={"waiting": {"reason": "CrashLoopBackOff"}},
                    last={"terminated": terminated})]}})
            else:
                await self._patch(pod, {"status": {"phase": "Succeeded" if code == 0 else "Failed",
                                                   "containerStatuses": [self._container(
                                                       image, ready=False, state={"terminated": terminated})]}})

    async def _schedule(self, pod: dict, run: _PodRun) -> None:
        spec = pod["spec"]
        selector = spec.get("nodeSelector") or {}
        reasons = []
        for node in self.nodes:
            labels = {**node.labels, "kubernetes.io/hostname": node.name}
            if any(labels.get(k) != v for k, v in selector.items()) or not _matches_affinity(spec, node):
                reasons.append("didn't match Pod's node affinity/selector")
                continue
            untolerated = [t for t in node.taints if t.get("effect") in ("NoSchedule", "NoExecute")
                           and not _tolerates(spec.get("tolerations"), t)]
            if untolerated:
                t = untolerated[0]
                reasons.append(f"had untolerated taint {{{t['key']}: {t.get('value', '')}}}")
                continue
            await self._patch(pod, {"spec": {"nodeName": node.name}, "status": {"conditions": [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": _now()}]}})
            await self._event(pod, "Scheduled", f"Successfully assigned {pod['metadata']['namespace']}/"
                                                f"{pod['metadata']['name']} to {node.name}", source="default-scheduler")
            return
        counts: dict[str, int] = {}
        for reason in reasons:
            counts[reason] = counts.get(reason, 0) + 1
        text = f"0/{len(self.nodes)} nodes are available: " + ", ".join(
            f"{n} node(s) {reason}" for reason, n in sorted(counts.items())) + "."
        if "unschedulable" not in run.reported:
            run.reported.add("unschedulable")
            await self._patch(pod, {"status": {"conditions": [{
                "type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": text,
                "lastTransitionTime": _now()}]}})
            await self._event(pod, "FailedScheduling", text, "Warning", source="default-scheduler")

    async def _start(self, pod: dict, run: _PodRun, kind: str) -> None:
        container = pod["spec"]["containers"][0]
        ports = [p["containerPort"] for p in container.get("ports", []) if p.get("name") == "notebook-port"]
        run.ip = _free_loopback_ip(ports[0] if ports else 0)
        env = {e["name"]: e.get("value", "") for e in container.get("env") or []}
        # the container's own network namespace: 0.0.0.0 inside the pod is the pod's IP outside
        if "JUPYTERHUB_SERVICE_URL" in env:
            env["JUPYTERHUB_SERVICE_URL"] = env["JUPYTERHUB_SERVICE_URL"].replace("0.0.0.0", run.ip)
        name = pod["metadata"]["name"]
        home = self._volume_dir(pod)
        run.log = self.workdir / "logs" / f"{name}-{run.uid[:8]}.log"
        run.log.parent.mkdir(parents=True, exist_ok=True)
        env.update(PATH=os.environ.get("PATH", ""), HOME=str(home),
                   JUPYTER_CONFIG_PATH=str(package_files.files("npuhub") / "data" / "singleuser"))
        if kind == LAB and (container.get("args") or [""])[0] == "dask":
            kind = RUNS  # a Dask scheduler or worker in the lab image (the dask-kubernetes runner's pods)
        if kind == LAB:
            args = container.get("args") or container.get("command") or ["jupyterhub-singleuser"]
            cmd = [sys.executable, "-m", "jupyterhub.singleuser", *args[1:]]
        elif kind == RUNS:
            cmd = [sys.executable, "-c", "import time; time.sleep(10 ** 6)"]
        else:
            code = int(kind.split(":", 1)[1])
            cmd = [sys.executable, "-c", f"import sys; print('exiting with {code}'); sys.exit({code})"]
        with open(run.log, "ab") as log:
            run.process = await asyncio.create_subprocess_exec(*cmd, cwd=home, env=env, stdout=log,
                                                               stderr=asyncio.subprocess.STDOUT,
                                                               start_new_session=True)

    def _volume_dir(self, pod: dict) -> Path:
        """The pod's first volume claim, as a directory (what the claim's volume would hold)."""
        for volume in pod["spec"].get("volumes") or []:
            claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
            if claim:
                path = self.workdir / "volumes" / pod["metadata"]["namespace"] / claim
                path.mkdir(parents=True, exist_ok=True)
                return path
        path = self.workdir / "emptydir" / pod["metadata"]["uid"]
        path.mkdir(parents=True, exist_ok=True)
        return path

    async def _kill(self, run: _PodRun) -> None:
        process = run.process
        if process is None or process.returncode is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
        except ProcessLookupError:
            pass

    def crash(self, pod_name: str) -> None:
        """The container dies (SIGKILL), as an out-of-memory kill would do it."""
        for run in self.runs.values():
            if run.process is not None and run.log is not None and run.log.name.startswith(pod_name + "-"):
                os.killpg(run.process.pid, signal.SIGKILL)

    # -- the API, as a kubelet calls it --------------------------------------------------------------
    @staticmethod
    def _container(image: str, *, ready: bool, state: dict, restart_count: int = 0, last: dict | None = None):
        return {"name": "notebook", "image": image, "imageID": f"emulated-registry/{image}@sha256:0",
                "ready": ready, "started": ready, "restartCount": restart_count, "state": state,
                "lastState": last or {}, "containerID": "emulated://notebook"}

    async def _container_status(self, pod: dict, fields: dict) -> None:
        image = pod["spec"]["containers"][0]["image"]
        await self._patch(pod, {"status": {"containerStatuses": [
            {"name": "notebook", "image": image, "imageID": "", "ready": False, "restartCount": 0, **fields}]}})

    async def _patch(self, pod: dict, changes: dict) -> None:
        meta = pod["metadata"]
        url = f"{self.api_url}/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}"
        async with self.http.patch(url, json=changes,
                                   headers={"Content-Type": "application/merge-patch+json"}) as r:
            if r.status >= 400 and r.status != 404:
                raise RuntimeError(f"PATCH {url}: {r.status} {await r.text()}")

    async def _event(self, pod: dict, reason: str, text: str, kind: str = "Normal",
                     source: str = "kubelet") -> None:
        meta = pod["metadata"]
        now = _now()
        event = {"apiVersion": "v1", "kind": "Event",
                 "metadata": {"name": f"{meta['name']}.{uuid.uuid4().hex[:12]}", "namespace": meta["namespace"]},
                 "involvedObject": {"kind": "Pod", "name": meta["name"], "namespace": meta["namespace"],
                                    "uid": meta["uid"], "apiVersion": "v1"},
                 "reason": reason, "message": text, "type": kind, "count": 1, "firstTimestamp": now,
                 "lastTimestamp": now, "eventTime": None, "source": {"component": source}}
        async with self.http.post(f"{self.api_url}/api/v1/namespaces/{meta['namespace']}/events", json=event) as r:
            r.raise_for_status()


def _free_loopback_ip(port: int) -> str:
    """A loopback address (127.x.y.z, all of 127/8 is loopback on Linux) whose ``port`` is free."""
    for _ in range(100):
        ip = f"127.{random.randint(1, 254)}.{random.randint(0, 254)}.{random.randint(1, 254)}"
        with socket.socket() as s:
            try:
                s.bind((ip, port))
            except OSError:
                continue
        return ip
    raise RuntimeError("no free loopback address")


def write_kubeconfig(path: Path, server: str, namespace: str = "default") -> Path:
    """A kubeconfig naming ``server`` (plain HTTP, a dummy token) as the current context."""
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": "emulator", "cluster": {"server": server}}],
        "users": [{"name": "emulator", "user": {"token": "emulator"}}],
        "contexts": [{"name": "emulator", "context": {"cluster": "emulator", "user": "emulator",
                                                      "namespace": namespace}}],
        "current-context": "emulator",
    }))
    return path


class EmulatedCluster:
    """The API emulator and the emulated kubelet on their own event loop (a thread), for sync tests."""

    def __init__(self, workdir: Path, *, nodes: list[EmulatedNode] | None = None, images: dict[str, str] | None = None,
                 namespace: str = "npuhub", pull_seconds: float = 1.0, dask_operator: bool = False):
        self.workdir = workdir
        self.dask_operator = dask_operator
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.namespace = namespace
        self.nodes = nodes if nodes is not None else [EmulatedNode("emulated-node-1")]
        self.images = dict(images or {})
        self.pull_seconds = pull_seconds
        self.loop = asyncio.new_event_loop()
        self.thread: threading.Thread | None = None
        self.url = ""
        self.kubelet: EmulatedKubelet | None = None
        self.emulator: KubeAPIEmulator | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None

    def start(self) -> "EmulatedCluster":
        self.thread = threading.Thread(target=self._run, name="kube-api-emulator", daemon=True)
        self.thread.start()
        if not self._ready.wait(30):
            raise TimeoutError("the Kubernetes API emulator did not start")
        if self._failure:
            raise self._failure
        self.kubeconfig = write_kubeconfig(self.workdir / "kubeconfig", self.url, self.namespace)
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._serve())
        except BaseException as e:  # reported by start()
            self._failure = e
            self._ready.set()

    async def _serve(self) -> None:
        self._stopping = asyncio.Event()
        self.emulator = KubeAPIEmulator()
        async with self.emulator, Server(self.emulator) as server:
            self.url = str(server.url).rstrip("/")
            self.kubelet = EmulatedKubelet(self.url, self.workdir, self.nodes, self.images, self.pull_seconds)
            self._ready.set()
            if not self.dask_operator:
                await self.kubelet.run(self._stopping)
                return
            from .kube_emulator_dask import EmulatedDaskOperator

            await asyncio.gather(self.kubelet.run(self._stopping),
                                 EmulatedDaskOperator(self.url).run(self._stopping))

    def stop(self) -> None:
        if self._stopping is not None and self.thread is not None and self.thread.is_alive():
            self.loop.call_soon_threadsafe(self._stopping.set)
            self.thread.join(30)

    # -- what a test (or an operator with kubectl) would look at -------------------------------------
    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        return requests.request(method, self.url + path, timeout=30, **kwargs)

    def pods(self) -> list[dict]:
        return self.api("GET", f"/api/v1/namespaces/{self.namespace}/pods").json()["items"]

    def pod(self, name: str) -> dict | None:
        r = self.api("GET", f"/api/v1/namespaces/{self.namespace}/pods/{name}")
        return r.json() if r.status_code == 200 else None

    def claims(self) -> list[dict]:
        return self.api("GET", f"/api/v1/namespaces/{self.namespace}/persistentvolumeclaims").json()["items"]

    def create(self, plural: str, body: dict) -> dict:
        r = self.api("POST", f"/api/v1/namespaces/{self.namespace}/{plural}", json=body)
        r.raise_for_status()
        return r.json()

    def delete(self, plural: str, name: str) -> None:
        self.api("DELETE", f"/api/v1/namespaces/{self.namespace}/{plural}/{name}")

    def crash(self, pod_name: str) -> None:
        """Kill a running pod's container, as an out-of-memory kill would."""
        self.loop.call_soon_threadsafe(self.kubelet.crash, pod_name)

    def container_log(self, pod_name: str) -> str:
        logs = sorted((self.workdir / "logs").glob(f"{pod_name}-*.log"))
        return "\n".join(p.read_text(errors="replace")[-4000:] for p in logs)

    def as_json(self) -> str:
        return json.dumps(self.pods(), indent=1)[-6000:]
