"""SIGKILL of the service while it commits groups of changes, on SQLite and PostgreSQL: no answered change is lost.

Twenty-four students fire requests and ends as fast as the service answers
(no pauses), so that changes arrive together and are committed in groups
(the service's ``npuhub_commit_group_changes`` histogram proves groups of more
than one formed before the kill). The service is killed with SIGKILL in the
middle of that stream, then started again on the same database; the students
retry through the outage with the same request ids. Afterwards every
acknowledged request is in the database at least as far along as its student
was told, no device was ever over-full, the ledger chains, and the API agrees
with the database.
"""

from __future__ import annotations

import random
import re
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from invariants import Heard, read_history
from storms import STUDENTS, Tally, check, report, seed_for

from support.service_stack import Patient

pytestmark = pytest.mark.integration

ENDED = ("released", "cancelled", "refused")


def groups_committed(metrics_text: str) -> tuple[float, float]:
    """(groups, changes in them) from the service's Prometheus text."""
    count = re.search(r"^npuhub_commit_group_changes_count (\S+)$", metrics_text, re.M)
    total = re.search(r"^npuhub_commit_group_changes_sum (\S+)$", metrics_text, re.M)
    return float(count.group(1)), float(total.group(1))


def test_kill_9_in_the_middle_of_group_commits_loses_no_answered_change(db_url, start_service, request):
    seed = seed_for()
    rng = random.Random(seed)
    services = [start_service(db_url)]
    heard = Heard()
    stop = threading.Event()
    deadline = time.monotonic() + 120

    def student(name: str) -> int:
        call = Patient(services[-1].client(name), deadline)
        rounds = 0
        while not stop.is_set() or rounds < 3:
            call.client = services[-1].client(name)  # the service of the moment (after a restart, the new one)
            rid = str(uuid.uuid4())
            r = call("POST", "/requests", json={"flavor": "npu-quarter", "id": rid})
            assert r.status_code in (200, 201, 202), r.text
            heard.tell(rid, name, r.json()["state"])
            r = call("DELETE", f"/requests/{rid}")
            assert r.status_code == 200 and r.json()["state"] in ENDED, r.text
            heard.tell(rid, name, r.json()["state"])
            rounds += 1
        return call.outages

    admin = services[0].client("admin")
    with ThreadPoolExecutor(len(STUDENTS)) as pool:
        futures = [pool.submit(student, name) for name in STUDENTS]
        time.sleep(rng.uniform(1.5, 3.0))
        groups, changes = groups_committed(admin.http.get(admin.base.rsplit("/api/v1", 1)[0] + "/metrics",
                                                          timeout=30).text)
        services[-1].kill()
        died = [time.time()]  # after the kill: every grant of the dead process came before it
        time.sleep(rng.uniform(0.0, 0.5))
        services.append(start_service(db_url))
        time.sleep(1.0)
        stop.set()
        outages = sum(f.result() for f in futures)
    assert changes > groups, f"no group of more than one change formed before the kill ({groups} groups)"
    assert outages > 0, "the kill went unnoticed: it did not happen in the middle of the stream"
    last = services[-1]
    found = check(db_url, last.hub, heard, last.client("admin"), served=lambda req: False,
                  accrual_interval=0.5, died=died)
    summary = report(request, f"kill -9 during group commits ({db_url.split(':')[0]}, {int(changes)} changes "
                              f"in {int(groups)} groups before it)", seed, Tally(storms=1, kills=1,
                                                                              checked=len(heard)), found)
    assert sum(len(v) for v in found.values()) == 0, summary
    assert last.client("admin").get("/pool").json()["models"][0]["held"] == "0"
    history = read_history(db_url)
    assert all(history.requests[rid].state.final for rid in heard.owner)
    assert "Traceback" not in "".join(s.log(tail=10**8) for s in services)
