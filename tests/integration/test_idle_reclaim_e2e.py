"""Idle reclaim's two negative cases on the real stack: nobody waits, so an idle server stays; someone waits,
but the server is in use, so it stays. Each then shows the reclaim does happen once the reason to spare it
goes.

Short limits through NPUHUB_SERVICE_ARGS; servers report activity every 2 s (NPUHUB_ACTIVITY_INTERVAL), so the
activity lag is 2.2 s + one reconciliation (1 s) and no limit below it is used.
"""

from __future__ import annotations

import threading
import time

import pytest
import requests
import sqlalchemy as sa

from support.sites import make_site
from support.stacks import EmbeddedStack, pid_alive, process_env

pytestmark = pytest.mark.integration

#: idle limit and grace, both above the lag (3.2 s): a server idle this long after a warning is stopped
LIMIT = GRACE = 5
ARGS = (f"--NPUHubService.reconcile_interval=1 --NPUHubService.idle_limit={LIMIT} "
        f"--NPUHubService.reclaim_grace={GRACE} --NPUHubService.idle_hard_limit=3600")


def request_state(db, user: str):
    with db.connect() as c:
        return c.execute(sa.text("SELECT state, reason FROM npuhub_requests WHERE user = :u "
                                 "ORDER BY arrived DESC"), {"u": user}).first()


@pytest.fixture
def stack(tmp_path, monkeypatch):
    monkeypatch.setenv("NPUHUB_ACTIVITY_INTERVAL", "2")
    monkeypatch.setenv("NPUHUB_SERVICE_ARGS", ARGS)
    stack = EmbeddedStack(tmp_path, make_site()).start()
    stack.db = sa.create_engine(f"sqlite:///{stack.data_dir / 'admission.sqlite'}")
    try:
        yield stack
    finally:
        stack.stop()
        stack.db.dispose()


def test_an_idle_server_with_nobody_waiting_survives_many_rounds(stack):
    assert stack.spawn("labmember1", "npu-1").status_code in (201, 202)
    pid = stack.admin.wait_for_server("labmember1")["servers"][""]["state"]["pid"]
    # three times the idle limit plus the grace, one reconciliation a second: about 20 rounds judge it idle
    time.sleep(3 * (LIMIT + GRACE))
    assert pid_alive(pid) and stack.admin.user("labmember1")["servers"][""]["ready"]
    assert tuple(request_state(stack.db, "labmember1")) == ("granted", None)

    # not spared by accident: once someone waits for the device, the same idle server is reclaimed
    assert stack.spawn("student1", "npu-quarter").status_code in (201, 202)
    model = stack.admin.wait_for_server("student1", timeout=60)
    assert process_env(model["servers"][""]["state"]["pid"])["NPUHUB_SHARE"] == "1/4"
    assert tuple(request_state(stack.db, "labmember1")) == ("released", "idle_reclaimed")
    assert not pid_alive(pid)


def test_a_server_in_use_survives_while_someone_waits(stack):
    assert stack.spawn("labmember1", "npu-1").status_code in (201, 202)
    pid = stack.admin.wait_for_server("labmember1")["servers"][""]["state"]["pid"]
    answer = stack.session("labmember1").api("POST", "/users/labmember1/tokens", json={"note": "work"})
    token = answer.json()["token"]
    work = requests.Session()
    work.headers["Authorization"] = f"token {token}"
    # student1 asks meanwhile (the hub answers a start that waits only after its slow-spawn timeout, 10 s)
    asked = []
    threading.Thread(target=lambda: asked.append(stack.spawn("student1", "npu-quarter").status_code),
                     daemon=True).start()

    # she works (the Jupyter server's API, through the proxy: what JupyterLab does) every 2 s for
    # three times the idle limit plus the grace while student1 waits
    until = time.monotonic() + 3 * (LIMIT + GRACE)
    while time.monotonic() < until:
        answer = work.get(stack.base_url + "/user/labmember1/api/contents", timeout=10, allow_redirects=False)
        assert answer.status_code == 200, f"her server went away while she worked: {answer.status_code}"
        time.sleep(2)
    assert asked == [202] and request_state(stack.db, "student1").state == "waiting"
    assert pid_alive(pid) and tuple(request_state(stack.db, "labmember1")) == ("granted", None)

    # not spared by accident: once she stops working, the slice goes to the one waiting
    model = stack.admin.wait_for_server("student1", timeout=60)
    assert process_env(model["servers"][""]["state"]["pid"])["NPUHUB_SHARE"] == "1/4"
    assert tuple(request_state(stack.db, "labmember1")) == ("released", "idle_reclaimed")
