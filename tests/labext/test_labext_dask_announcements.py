"""What the status adds beside my slice: my Dask clusters and the announcements meant for me, from the real service.

The service is the real one (its embedded Dask runner starts real ``distributed``
processes) behind the service tests' hub. The browser gets what the panel shows
of a cluster, never its scheduler's address or TLS key.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from support.lab_stack import LabService, npuhub_token, status_of
from support.service_stack import PREFIX

pytestmark = pytest.mark.integration


@pytest.fixture
def lab_service(service_hub, tmp_path):
    """A fresh service on the hub's site with ``isolation.mode: shared`` (these people have no Unix accounts:
    the clusters' processes run as the service's user, as in tests/service/test_service_clusters.py)."""
    site = yaml.safe_load(Path(service_hub.config).read_text())
    site["isolation"] = {**(site.get("isolation") or {}), "mode": "shared"}
    path = tmp_path / "site-shared.yaml"
    path.write_text(yaml.safe_dump(site))
    svc = LabService(service_hub, f"sqlite:///{tmp_path / 'admission.sqlite'}", tmp_path / "service",
                     site=path).start()
    yield svc
    svc.stop()


@pytest.fixture
def lab_options(service_hub, lab_service):
    """labmember1's server (the lab may hold two devices: room for a cluster)."""
    return {"service_url": f"{lab_service.url}{PREFIX}", "api_token": npuhub_token(service_hub, "labmember1")}


def poll(run, jp_fetch) -> dict:
    return status_of(run(jp_fetch("npuhub-lab", "status", raise_error=False)))


def test_announcements_meant_for_me(run, jp_fetch, lab_service):
    assert poll(run, jp_fetch)["announcements"] == []
    ends = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    admin = lab_service.client("admin")
    mine = admin.post("/announcements", {"text": {"zh": "今晚维护", "en": "Maintenance tonight"}, "ends": ends,
                                         "scope": "all"})
    assert mine.status_code == 201, mine.text
    other = admin.post("/announcements", {"text": "AI101 only", "ends": ends, "scope": "group:course-ai"})
    assert other.status_code == 201, other.text
    shown = poll(run, jp_fetch)["announcements"]
    assert [(a["id"], a["text"]) for a in shown] == [(mine.json()["id"], {"zh": "今晚维护", "en": "Maintenance tonight"})]
    assert admin.delete(f"/announcements/{mine.json()['id']}").status_code == 204
    assert poll(run, jp_fetch)["announcements"] == []


def test_my_dask_workers_with_their_share_sentence_and_dashboard(run, jp_fetch, lab_service):
    lab = lab_service.client("labmember1")
    r = lab.post("/clusters", {"flavor": "npu-quarter", "workers": 2, "name": "sweep"})
    assert r.status_code in (201, 202), r.text
    cluster_id = r.json()["id"]
    try:
        status = poll(run, jp_fetch)
        [cluster] = status["clusters"]
        assert (cluster["id"], cluster["name"], cluster["share"]) == (cluster_id, "sweep", "1/4")
        assert cluster["workers"]["wanted"] == 2 and cluster["message"]["en"] and cluster["message"]["zh"]
        assert cluster["dashboard_link"] == f"{PREFIX}dask/{cluster_id}/status"
        assert "scheduler_address" not in cluster and "tls" not in cluster  # the browser needs neither
        assert "tls" in lab.get(f"/clusters/{cluster_id}").json()  # the owner's own token is given them
        # its scheduler and workers are among her holdings, marked with the cluster
        held = [h for h in status["me"]["holdings"] if h.get("cluster") == cluster_id]
        assert sorted(h["share"] for h in held) == ["0", "1/4", "1/4"], held
    finally:
        assert lab.delete(f"/clusters/{cluster_id}").status_code == 200
    status = poll(run, jp_fetch)
    assert status["clusters"] == [] and not [h for h in status["me"]["holdings"] if h.get("cluster")]
