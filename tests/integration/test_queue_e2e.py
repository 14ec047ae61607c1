"""The fair queue end to end: a full pool, a student waits with her position on the spawn page, then gets in."""

from __future__ import annotations

import json
import threading
import time
from fractions import Fraction

import pytest

from support.sites import make_site
from support.stacks import EmbeddedStack, pid_alive, process_env

pytestmark = pytest.mark.integration


def progress_events(stack, user, seen: list, stop: threading.Event):
    """Read the spawn's progress stream (what the spawn page shows) into ``seen``."""
    session = stack.session(user)
    url = stack.base_url + f"/hub/api/users/{user}/server/progress"
    with session.http.get(url, stream=True, timeout=120, headers={"X-XSRFToken": session.xsrf}) as r:
        for line in r.iter_lines(chunk_size=1, decode_unicode=True):
            if stop.is_set():
                return
            if line and line.startswith("data:"):
                seen.append(json.loads(line[5:]))


def test_full_pool_queues_with_position_then_admits(tmp_path):
    stack = EmbeddedStack(tmp_path, make_site()).start()
    try:
        # labmember1 holds the only device
        assert stack.spawn("labmember1", "npu-1").status_code in (201, 202)
        holder_pid = stack.admin.wait_for_server("labmember1")["servers"][""]["state"]["pid"]

        # student1 asks for a quarter: she waits, and the spawn page says where she stands
        assert stack.spawn("student1", "npu-quarter").status_code == 202
        seen: list[dict] = []
        stop = threading.Event()
        reader = threading.Thread(target=progress_events, args=(stack, "student1", seen, stop), daemon=True)
        reader.start()
        deadline = time.monotonic() + 30
        while not any("1st in line" in e.get("message", "") for e in seen):
            assert time.monotonic() < deadline, f"no queue position in the progress: {seen}"
            time.sleep(0.5)
        waiting = next(e["message"] for e in seen if "1st in line" in e.get("message", ""))
        assert "排在第 1 位" in waiting and "Waiting for" in waiting
        server = stack.admin.user("student1")["servers"][""]
        assert server["pending"] == "spawn" and not server["ready"]

        # the holder stops: the slice goes to the first in line, and her server starts
        r = stack.admin("DELETE", "/users/labmember1/server")
        assert r.status_code in (202, 204)
        model = stack.admin.wait_for_server("student1", timeout=120)
        env = process_env(model["servers"][""]["state"]["pid"])
        assert env["NPUHUB_SHARE"] == "1/4" and env["ASCEND_VISIBLE_DEVICES"] == "0"
        assert not pid_alive(holder_pid)
        stop.set()
    finally:
        stack.stop()


def test_slices_of_servers_stopped_with_the_hub_are_released_after_restart(tmp_path, monkeypatch):
    """Ctrl-C stops the service before the servers; the restarted service gives their slices back."""
    import sqlalchemy as sa

    monkeypatch.setenv("NPUHUB_SERVICE_ARGS",
                       "--NPUHubService.reconcile_interval=1 --NPUHubService.reconcile_grace=0")
    stack = EmbeddedStack(tmp_path, make_site()).start()
    db = sa.create_engine(f"sqlite:///{stack.data_dir / 'admission.sqlite'}")

    def states():
        with db.connect() as c:
            return dict(c.execute(sa.text("SELECT user, state FROM npuhub_requests")).all())

    try:
        assert stack.spawn("student1", "npu-quarter").status_code in (201, 202)
        stack.admin.wait_for_server("student1")
        stack.stop()  # student1's server is stopped with the hub
        stack.start()
        deadline = time.monotonic() + 30
        while states().get("student1") != "released":
            assert time.monotonic() < deadline, f"the slice was never given back: {states()}"
            time.sleep(0.5)
        # the whole device is free again
        assert stack.spawn("labmember1", "npu-1").status_code in (201, 202)
        stack.admin.wait_for_server("labmember1")
    finally:
        stack.stop()
        db.dispose()


def test_an_idle_server_gives_its_slice_to_the_one_waiting(tmp_path, monkeypatch):
    """labmember1 sits idle on the only device while student1 waits: warned, then stopped; student1 starts."""
    # servers report activity every second: limits this short are above the activity lag (npuhub/activity.py)
    monkeypatch.setenv("NPUHUB_ACTIVITY_INTERVAL", "1")
    monkeypatch.setenv("NPUHUB_SERVICE_ARGS", "--NPUHubService.reconcile_interval=1 --NPUHubService.idle_limit=1 "
                                              "--NPUHubService.reclaim_grace=3")
    stack = EmbeddedStack(tmp_path, make_site()).start()
    try:
        assert stack.spawn("labmember1", "npu-1").status_code in (201, 202)
        idle_pid = stack.admin.wait_for_server("labmember1")["servers"][""]["state"]["pid"]
        # she waits; with these short limits she may already be in by the time the hub answers (201)
        assert stack.spawn("student1", "npu-quarter").status_code in (201, 202)
        model = stack.admin.wait_for_server("student1", timeout=90)
        assert process_env(model["servers"][""]["state"]["pid"])["NPUHUB_SHARE"] == "1/4"
        assert stack.admin.user("labmember1")["servers"][""]["stopped"]
        assert not pid_alive(idle_pid)
    finally:
        stack.stop()


def test_a_start_queued_when_the_hub_dies_never_holds_or_charges_a_slice(tmp_path, monkeypatch):
    """kill -9 of the hub while student1 waits: her forgotten request must not keep a slice, nor cost her."""
    import sqlalchemy as sa

    monkeypatch.setenv("NPUHUB_SERVICE_ARGS", "--NPUHubService.reconcile_interval=2 --NPUHubService.meter_interval=1")
    stack = EmbeddedStack(tmp_path, make_site()).start()
    db = sa.create_engine(f"sqlite:///{stack.data_dir / 'admission.sqlite'}")

    def request_of(user):
        with db.connect() as c:
            return c.execute(sa.text("SELECT state, reason, charged FROM npuhub_requests WHERE user = :u "
                                     "ORDER BY arrived DESC"), {"u": user}).first()

    try:
        assert stack.spawn("labmember1", "npu-1").status_code in (201, 202)
        stack.admin.wait_for_server("labmember1")
        assert stack.spawn("student1", "npu-quarter").status_code == 202
        assert request_of("student1").state == "waiting"
        stack.crash()
        stack.start()
        assert not stack.admin.user("student1")["servers"].get("", {}).get("pending")  # the hub forgot her start

        # A server kept alive across several reconciliation rounds keeps its grant.
        time.sleep(6)
        assert request_of("labmember1").state == "granted"

        # The holder stops; the slice may go to the forgotten request, but is taken back within a round or two,
        # and nothing is charged for it.
        assert stack.admin("DELETE", "/users/labmember1/server").status_code in (202, 204)
        deadline = time.monotonic() + 30
        while request_of("student1").state in ("waiting", "granted"):
            assert time.monotonic() < deadline, f"the forgotten request still holds: {request_of('student1')}"
            time.sleep(0.5)
        state, reason, charged = request_of("student1")
        assert (state, reason, charged) in {("released", "server_gone", "0"), ("cancelled", "server_gone", "0")}
        with db.connect() as c:
            net = c.execute(sa.text("SELECT kind, amount FROM npuhub_ledger WHERE request IS NOT NULL AND request IN "
                                    "(SELECT id FROM npuhub_requests WHERE user = 'student1')")).all()
        assert sum(Fraction(a) for _, a in net) == 0, net
        # the whole device is free again
        assert stack.spawn("labmember2", "npu-1").status_code in (201, 202)
        stack.admin.wait_for_server("labmember2")
    finally:
        stack.stop()
        db.dispose()
