"""Dask clusters at the service: admitted like notebooks, partial grants, owner only, and a restart of the service.

Real parts: the hub (who each token is), the service process with its embedded
runner (real ``distributed`` scheduler and worker processes), SQLite.
The pool: one node with two devices (8 quarter slices); labmember1 may hold 2 devices, admin 1.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest


def wait_for(fn, timeout=30.0, interval=0.2, what="a condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what} (last: {value!r})")
        time.sleep(interval)


def processes_of(cluster_id: str) -> list[int]:
    """Pids of the cluster's scheduler and workers: the processes working in its directory."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if cwd.endswith(f"/dask-clusters/{cluster_id}"):
            found.append(int(entry.name))
    return found


def compute(view: dict, security=None) -> int:
    from distributed import Client
    from distributed.security import Security

    tls = view["tls"]
    security = security or Security(tls_ca_file=tls["ca"], tls_client_cert=tls["cert"], tls_client_key=tls["key"],
                                    require_encryption=True)
    with Client(view["scheduler_address"], security=security, timeout=20) as client:
        return sum(client.gather(client.map(lambda x: x * x, range(10))))


@pytest.fixture
def shared_site(service_hub, tmp_path):
    """The hub's site with ``isolation.mode: shared``: these people have no Unix accounts (no server ever ran),
    so the clusters' processes run as the service's user (tests/integration runs them as each person's)."""
    import yaml

    site = yaml.safe_load(Path(service_hub.config).read_text())
    site["isolation"] = {**(site.get("isolation") or {}), "mode": "shared"}
    path = tmp_path / "site-shared.yaml"
    path.write_text(yaml.safe_dump(site))
    return path


def test_partial_grant_waits_in_the_queue_and_only_the_owner_sees_it(start_service, shared_site):
    service = start_service(site=shared_site)
    lab, other, admin = service.client("labmember1"), service.client("student1"), service.client("admin")

    # admin holds one whole device: one device (4 quarters) is left for the cluster's 6 workers
    held = admin.post("/requests", {"flavor": "npu-1"})
    assert held.status_code == 201, held.text

    r = lab.post("/clusters", {"flavor": "npu-quarter", "workers": 6, "name": "sweep"})
    assert r.status_code == 202, r.text
    view = r.json()
    cid = view["id"]
    assert view["workers"]["wanted"] == 6 and view["workers"]["running"] == 4 and view["workers"]["waiting"] == 2
    assert view["workers"]["position"] == 1
    assert "4 of 6 workers running, 2 waiting: 1st in line" in view["message"]["en"]
    assert "6 个 worker 中 4 个正在运行，2 个在等待" in view["message"]["zh"]
    assert view["share"] == "1/4" and view["dashboard_link"] == f"/services/npuhub/dask/{cid}/status"
    assert len(view["requests"]) == 7  # the scheduler and six workers

    # the scheduler is CPU only: share 0, charged nothing; each worker is an ordinary request of hers
    scheduler = lab.get(f"/requests/{cid}-s").json()
    assert scheduler["share"] == "0" and scheduler["state"] == "granted" and scheduler["cluster"] == cid
    assert scheduler["server"] == f"dask:{cid}"
    me = lab.get("/me").json()
    assert sum(1 for h in me["holdings"] if h.get("cluster") == cid) == 5  # scheduler + 4 workers
    # a cluster's request is not ended on its own (its cluster would only ask again)
    refused = lab.delete(f"/requests/{view['requests'][1]}")
    assert refused.status_code == 409 and refused.json()["reason"] == "cluster_request"

    # past her limit (2 devices): refused with a sentence, nothing more asked for
    too_many = lab("PATCH", f"/clusters/{cid}", json={"workers": 9})
    assert too_many.status_code == 409 and too_many.json()["reason"] == "share_limit", too_many.text
    assert "at most 2 device" in too_many.json()["message"]["en"]

    # the scheduler answers its owner, over TLS, once it runs; workers join
    view = wait_for(lambda: (v := lab.get(f"/clusters/{cid}").json())["scheduler_address"] and v,
                    what="the scheduler")
    assert view["scheduler_address"].startswith("tls://127.0.0.1:")
    assert compute(view) == 285

    # nobody else sees it: not listed, 403 by id or name, no address; an operator lists it without one
    assert cid not in [c["id"] for c in other.get("/clusters").json()["clusters"]]
    for path in (f"/clusters/{cid}", "/clusters/sweep"):
        denied = other.get(path)
        assert denied.status_code in (403, 404), denied.text
    denied = other.get(f"/clusters/{cid}")
    assert denied.status_code == 403 and "someone else" in denied.json()["message"]["en"]
    assert other("PATCH", f"/clusters/{cid}", json={"workers": 1}).status_code == 403
    assert other.delete(f"/clusters/{cid}").status_code == 403
    listed = {c["id"]: c for c in admin.get("/clusters", params={"all": "true"}).json()["clusters"]}
    assert listed[cid]["scheduler_address"] is None and listed[cid]["tls"] is None
    # another certificate (another person's own temporary one) gets nowhere with the scheduler
    from distributed.security import Security

    with pytest.raises(Exception):
        compute(view, Security.temporary())

    # the device comes free: the two waiting workers are admitted and started
    assert admin.delete(f"/requests/{held.json()['id']}").status_code == 200
    view = wait_for(lambda: (v := lab.get(f"/clusters/{cid}").json())["workers"]["running"] == 6 and v,
                    what="six workers")
    assert "all 6 workers running" in view["message"]["en"]
    wait_for(lambda: lab.get(f"/clusters/{cid}").json()["workers"]["ready"] == 6, timeout=40,
             what="six workers joined")

    # scaled down: two workers stopped, then their slices released
    r = lab("PATCH", f"/clusters/{cid}", json={"workers": 4})
    assert r.status_code == 200, r.text
    wait_for(lambda: lab.get(f"/clusters/{cid}").json()["workers"]["running"] == 4, what="four workers")
    wait_for(lambda: len(processes_of(cid)) == 5, what="five processes")

    closed = lab.delete(f"/clusters/{cid}")
    assert closed.status_code == 200 and closed.json()["state"] == "closed"
    assert "you closed it" in closed.json()["message"]["en"]
    assert lab.delete(f"/clusters/{cid}").json()["state"] == "closed"  # idempotent
    assert processes_of(cid) == []
    pool = lab.get("/pool").json()
    assert pool["models"][0]["held"] == "0"
    assert not [h for h in lab.get("/me").json()["holdings"] if h.get("cluster")]
    assert lab.get(f"/requests/{cid}-s").json()["state"] == "released"


def test_refusals_are_sentences_and_a_spent_budget_closes_the_cluster(start_service, shared_site):
    service = start_service(site=shared_site, grace=1.0)
    student = service.client("student1")
    r = student.post("/clusters", {"flavor": "npu-quarter", "workers": 2})  # her limit is a quarter
    assert r.status_code == 409 and r.json()["reason"] == "share_limit"
    assert r.json()["message"]["zh"] and r.json()["message"]["en"]
    r = student.post("/clusters", {"flavor": "npu-1", "workers": 1})
    assert r.status_code == 403 and r.json()["reason"] == "flavor_not_allowed"
    r = student.post("/clusters", {"workers": 1000})
    assert r.status_code == 400 and r.json()["reason"] == "cluster_too_large"
    r = student.post("/clusters", {"workers": -1})
    assert r.status_code == 400
    assert student.get("/me").json()["holdings"] == []
    assert student.get("/clusters").json()["clusters"] == []

    # her one quarter as a worker; then her budget is spent: warned, then the whole cluster is closed
    r = student.post("/clusters", {"workers": 1})
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    taken = service.client("admin").post("/accounts/user:student1/adjustments",
                                         {"device_hours": "-5", "reason": "test: spend the budget"})
    assert taken.status_code == 201, taken.text
    view = wait_for(lambda: (v := student.get(f"/clusters/{cid}").json())["state"] == "closed" and v,
                    what="the cluster closed for the spent budget")
    assert view["reason"] == "budget_spent" and "budget is spent" in view["message"]["en"]
    assert student.get("/me").json()["holdings"] == [] and processes_of(cid) == []


def labextension_new(service, monkeypatch) -> str:
    """dask-labextension's "New" with npuhub's factory (``NPUCluster()``, asynchronous), then a scale to 2."""
    import asyncio

    import dask

    monkeypatch.setenv("NPUHUB_URL", service.hub.base_url + "/services/npuhub/")
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", service.hub.token("labmember1"))
    factory = {"module": "npuhub.dask", "class": "NPUCluster", "args": [], "kwargs": {}}

    async def new() -> str:
        # imported with a loop running: the module makes its cluster manager (and asks for the loop) on import
        from dask_labextension.manager import make_cluster

        cluster, adaptive = await make_cluster({"workers": 2})
        assert adaptive is None and cluster.refresh()["workers"]["wanted"] == 2
        await cluster.scale(2)
        return cluster.id

    with dask.config.set({"labextension.factory": factory}):
        return asyncio.run(new())


def test_a_restart_of_the_service_closes_its_clusters_once(start_service, shared_site, tmp_path, monkeypatch):
    db = f"sqlite:///{tmp_path / 'restart.sqlite'}"
    service = start_service(db, site=shared_site)
    lab = service.client("labmember1")
    cid = labextension_new(service, monkeypatch)
    r = lab.get(f"/clusters/{cid}")
    assert r.status_code == 200 and r.json()["flavor"] == "npu-quarter", r.text  # the site's default flavor
    wait_for(lambda: len(processes_of(cid)) == 3, what="the cluster's processes")

    service.kill()  # kill -9: the processes die with it (PR_SET_PDEATHSIG)
    wait_for(lambda: processes_of(cid) == [], timeout=15, what="the processes to die with the service")

    service = start_service(db, site=shared_site)
    lab = service.client("labmember1")
    view = wait_for(lambda: (v := lab.get(f"/clusters/{cid}").json())["state"] == "closed" and v,
                    what="the cluster closed")
    assert view["reason"] == "service_stopped" and "npuhub service" in view["message"]["en"]
    assert lab.get("/pool").json()["models"][0]["held"] == "0"
    assert lab.get("/me").json()["holdings"] == []
    assert {lab.get(f"/requests/{rid}").json()["state"] for rid in r.json()["requests"]} == {"released"}
    assert lab.get("/clusters").json()["clusters"] == []  # no longer listed as open
