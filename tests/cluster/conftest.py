"""The real-cluster suite: runs only against a real Kubernetes with npuhub installed, never here.

Gated by ``$KUBECONFIG`` and ``$NPUHUB_CLUSTER_HUB_URL``: without them every
test is SKIPPED with the reason "not run: no Kubernetes cluster" (never
passed, and never demanded by ``NPUHUB_REQUIRE_ALL``: no development or CI
machine of npuhub has a cluster). An operator runs it after installing
npuhub (docs/guides/operator.md, "Check a cluster"):

    KUBECONFIG=~/.kube/config \\
    NPUHUB_CLUSTER_HUB_URL=https://jupyter.example.edu \\
    NPUHUB_CLUSTER_ADMIN_TOKEN=<an admin's hub API token> \\
    NPUHUB_CLUSTER_USER=npuhub-check \\
    NPUHUB_CLUSTER_NAMESPACE=npuhub \\
    pytest tests/cluster -v

``NPUHUB_CLUSTER_USER`` is an account the suite may start and stop servers
for (made if missing; it needs no sign-in), in groups allowed the ¼ flavors
(``NPUHUB_CLUSTER_GROUPS``, comma-separated, default: none besides the hub's).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest
import requests

#: The skip reason, on purpose not ending in support.parts.MISSING: a cluster is never a required part.
NOT_RUN = ("not run: no Kubernetes cluster (set KUBECONFIG and NPUHUB_CLUSTER_HUB_URL to run the real-cluster "
           "suite against an installed npuhub; see docs/guides/operator.md)")


@dataclass
class Site:
    hub_url: str
    token: str
    user: str
    namespace: str

    def hub(self, method: str, path: str, **kwargs) -> requests.Response:
        return requests.request(method, f"{self.hub_url}/hub/api{path}", timeout=60,
                                headers={"Authorization": f"token {self.token}"}, **kwargs)

    def service(self, path: str, **params) -> dict:
        r = requests.get(f"{self.hub_url}/services/npuhub/api/v1{path}", params=params, timeout=60,
                         headers={"Authorization": f"token {self.token}"})
        r.raise_for_status()
        return r.json()


@pytest.fixture(scope="session")
def site() -> Site:
    if not os.environ.get("KUBECONFIG") or not os.environ.get("NPUHUB_CLUSTER_HUB_URL"):
        pytest.skip(NOT_RUN)
    token = os.environ.get("NPUHUB_CLUSTER_ADMIN_TOKEN", "")
    if not token:
        pytest.fail("NPUHUB_CLUSTER_ADMIN_TOKEN must hold an admin's hub API token for the real-cluster suite")
    site = Site(os.environ["NPUHUB_CLUSTER_HUB_URL"].rstrip("/"), token,
                os.environ.get("NPUHUB_CLUSTER_USER", "npuhub-check"),
                os.environ.get("NPUHUB_CLUSTER_NAMESPACE", "npuhub"))
    if site.hub("GET", f"/users/{site.user}").status_code == 404:
        site.hub("POST", f"/users/{site.user}").raise_for_status()
    for group in filter(None, os.environ.get("NPUHUB_CLUSTER_GROUPS", "").split(",")):
        site.hub("POST", f"/groups/{group}/users", json={"users": [site.user]}).raise_for_status()
    return site
