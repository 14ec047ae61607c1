"""`npuhub up` with the Kubernetes spawner against the Kubernetes API emulator: a real hub, a real service.

The hub (`npuhub up`, the embedded stack's configuration, demo sign-in) runs
KubeNPUSpawner because the site file says ``spawner.type: kubernetes``; its
``$KUBECONFIG`` names the emulator (tests/support/kube_emulator.py), whose
emulated kubelet runs each pod's container as a real ``jupyterhub-singleuser``
process on the pod's own loopback address. The npuhub service is the real
one, started by the hub. Only the Kubernetes API is emulated.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from unittest import mock

import requests

from support.kube_emulator import EmulatedCluster
from support.sites import flavor, make_site, pool_of
from support.stacks import EmbeddedStack

#: The emulated registry's images (tests/support/kube_emulator.py says what each does).
LAB_IMAGE = "registry.test/npuhub/lab:1"
CRASHING_IMAGE = "registry.test/npuhub/crashes:1"
SLOW_IMAGE = "registry.test/npuhub/huge:1"
MISSING_IMAGE = "registry.test/npuhub/no-such-image:1"

#: How long a pod may take to start in these tests (seconds), and how long "cannot be placed" is waited out.
POD_START_TIMEOUT = 20
UNSCHEDULABLE_GRACE = 2


#: The pool's one node (``node-0``) as the emulated cluster has it: the Ascend device plugin's grants pin
#: their pods to the node the slice was placed on (``kubernetes.io/hostname``).
NODE = "node-0"


def kube_site(**more) -> dict:
    """One node with one Ascend 910B behind the Ascend device plugin (32 AI cores, static vNPU templates),
    flavors with the emulated registry's images."""
    return make_site(
        pool=[pool_of(1, 1, backend={"kind": "ascend-device-plugin", "ai_cores": 32})],
        flavors=[
            flavor("cpu", image=LAB_IMAGE),
            flavor("npu-quarter", "1/4", memory="2G", default=True),  # the site's default image
            flavor("npu-1", 1, memory="2G", groups=["lab-demo", "admins"], image=LAB_IMAGE),
            flavor("npu-crashing", "1/4", image=CRASHING_IMAGE),
            flavor("npu-huge-image", "1/4", image=SLOW_IMAGE),
            flavor("npu-missing-image", "1/4", image=MISSING_IMAGE),
        ],
        spawner={"type": "kubernetes", "kubernetes": {
            "namespace": "npuhub", "image": LAB_IMAGE, "storage_class": "emulated", "storage_capacity": "1Gi",
            "pod_start_timeout": POD_START_TIMEOUT, "unschedulable_grace": UNSCHEDULABLE_GRACE}},
        **more,
    )


class KubeStack(EmbeddedStack):
    """`npuhub up` whose hub creates pods through the Kubernetes API emulator."""

    def __init__(self, workdir: Path, cluster: EmulatedCluster, site: dict | None = None):
        super().__init__(workdir, site or kube_site())
        self.cluster = cluster

    def start(self, timeout: float = 60) -> "KubeStack":
        env = {"KUBECONFIG": str(self.cluster.kubeconfig)}
        # the service (its Dask clusters) talks to the same emulated cluster as the hub's spawner; the hub gives
        # the services it starts only their own environment, so it is told on its command line
        args = os.environ.get("NPUHUB_SERVICE_ARGS", "")
        if "kubeconfig" not in args:
            env["NPUHUB_SERVICE_ARGS"] = f"{args} --NPUHubService.kubeconfig={self.cluster.kubeconfig}".strip()
        with mock.patch.dict(os.environ, env):
            return super().start(timeout)

    def service(self, path: str, **params) -> dict:
        """The npuhub service's API through the proxy, read as the admin."""
        r = self.admin.http.get(self.base_url + "/services/npuhub/api/v1" + path, params=params, timeout=30)
        assert r.status_code == 200, r.text
        return r.json()

    def held(self) -> str:
        """How much of the Ascend 910B pool is held, as the service counts it ("0", "1/4", ...)."""
        return self.service("/pool")["models"][0]["held"]

    def requests_of(self, user: str) -> list[dict]:
        """``user``'s waiting and granted requests at the service."""
        return [r for r in self.service("/requests", user=user)["requests"] if r["state"] in ("waiting", "granted")]


def wait_until(check, timeout: float, what: str, log=lambda: ""):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}\n{log()}")
        time.sleep(0.3)


def lab_reachable(stack: KubeStack, user: str) -> requests.Response:
    return stack.session(user).http.get(stack.base_url + f"/user/{user}/lab", timeout=60)
