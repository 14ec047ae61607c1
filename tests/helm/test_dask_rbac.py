"""The chart's Role lets the service do exactly what its Dask runner does, in every namespace servers run in.

``npuhub.dask.runners.kubernetes.RBAC`` is the list of calls the runner makes
(tests/kubernetes/test_dask_kubernetes_runner.py records them through the API
emulator and compares); here the chart's rendered Role ``npuhub`` must grant
each of them, so a runner that needs a new verb fails here before a cluster
refuses it with 403.
"""

from __future__ import annotations

from npuhub.dask.runners.kubernetes import RBAC
from support.helm_chart import NAMESPACE


def granted(role: dict) -> set[tuple[str, str, str]]:
    return {(group, resource, verb) for rule in role.get("rules") or []
            for group in rule.get("apiGroups") or [] for resource in rule.get("resources") or []
            for verb in rule.get("verbs") or []}


def test_the_role_grants_every_call_of_the_dask_runner_in_every_server_namespace(minimal_objects, full_objects):
    for objects, expected in ((minimal_objects, {NAMESPACE}), (full_objects, {"npuhub-users", "npuhub-workshops"})):
        roles = [o for o in objects if o["kind"] == "Role" and o["metadata"]["name"] == "npuhub"]
        assert {r["metadata"].get("namespace", NAMESPACE) for r in roles} >= expected
        for role in roles:
            missing = RBAC - granted(role)
            assert not missing, f"Role npuhub in {role['metadata'].get('namespace')} lacks {sorted(missing)}"
    # and never more than what a namespace needs to create pods itself: the operator does that
    for role in (o for o in full_objects if o["kind"] == "Role" and o["metadata"]["name"] == "npuhub"):
        assert not {v for g, r, v in granted(role) if (g, r) == ("", "pods")} & {"create", "update", "patch"}
