"""The embedded stack end to end: real hub, proxy and JupyterLab servers holding simulated slices."""

from __future__ import annotations

import os
import signal
import time

import pytest

from support.sites import make_site
from support.stacks import EmbeddedStack, pid_alive, process_env

pytestmark = pytest.mark.integration


def held_grant(stack, user):
    """The npuhub request the hub keeps for ``user``'s default server (its slice, while granted)."""
    server = stack.admin.user(user)["servers"].get("")
    return ((server or {}).get("state") or {}).get("npuhub", {}).get("request")


def assert_refused(response, status, *words):
    assert response.status_code == status, response.text
    message = response.json()["message"]
    for word in words:
        assert word in message, message
    return message


def stop(stack, user):
    r = stack.admin("DELETE", f"/users/{user}/server")
    assert r.status_code in (202, 204), r.text
    stack.admin.wait_for_server(user, ready=False)


def test_student_gets_a_quarter_npu_and_gives_it_back(one_device_stack):
    stack = one_device_stack
    student = stack.session("student1")

    form = student.spawn_form()
    assert form.status_code == 200
    assert 'value="npu-quarter"' in form.text and 'value="cpu"' in form.text
    assert 'value="npu-half"' not in form.text and 'value="npu-1"' not in form.text  # not for her groups
    assert "¼ Ascend 910B" in form.text

    r = student.post_spawn({"profile": "npu-quarter"}, "student1")
    assert r.status_code == 302 and "/spawn-pending/" in r.headers["location"]
    model = stack.admin.wait_for_server("student1")
    assert model["servers"][""]["user_options"] == {"profile": "npu-quarter"}
    pid = model["servers"][""]["state"]["pid"]
    env = process_env(pid)
    assert env["ASCEND_VISIBLE_DEVICES"] == "0"
    assert env["NPUHUB_FLAVOR"] == "npu-quarter"
    assert env["NPUHUB_SHARE"] == "1/4"
    assert env["NPUHUB_SLICES"] == "0:1/4"
    assert env["NPUHUB_DEVICE_MODEL"] == "Ascend 910B"

    # The real JupyterLab answers through the proxy, after the OAuth hand-off.
    lab = student.http.get(stack.base_url + "/user/student1/lab", timeout=60)
    assert lab.status_code == 200 and "JupyterLab" in lab.text

    # While she holds 1/4, the whole device is not to be had: labmember1 waits in the queue.
    assert stack.spawn("labmember1", "npu-1").status_code == 202
    assert stack.admin.user("labmember1")["servers"][""]["pending"] == "spawn"

    stop(stack, "student1")
    assert not pid_alive(pid)
    assert held_grant(stack, "student1") is None

    # The slice is free again: the whole device goes to the one waiting for it.
    stack.admin.wait_for_server("labmember1")
    assert process_env(stack.admin.user("labmember1")["servers"][""]["state"]["pid"])["NPUHUB_SHARE"] == "1"
    stop(stack, "labmember1")


def test_bad_input_is_refused_clearly_and_holds_nothing(one_device_stack):
    stack = one_device_stack
    assert_refused(stack.spawn("student1", "npu-99"), 400, "There is no flavor called 'npu-99'", "没有名为")
    assert_refused(stack.spawn("student1", "npu-1"), 403, "may not use the flavor 'npu-1'", "cpu, npu-quarter")
    assert_refused(stack.spawn("student1", ["npu-quarter"]), 400, "no flavor called")
    r = stack.admin("POST", "/users/student1/server", json={"profile": "npu-quarter", "image": "evil"})
    assert_refused(r, 400, "unknown option(s): image")
    r = stack.admin("POST", "/users/student1/server", json=["npu-quarter"])
    assert r.status_code == 400 and "Traceback" not in r.text

    # A tampered spawn form: the page comes back with the reason, no server starts.
    student = stack.session("student2")
    for fields, status, words in [
        ({"profile": "npu-1"}, 403, "may not use the flavor"),
        ({"profile": "<script>x</script>"}, 400, "no flavor called"),
        ({}, 400, "Please pick a flavor"),
        ({"profile": ["npu-quarter", "cpu"]}, 400, "Please pick a flavor"),
    ]:
        r = student.post_spawn(fields, "student2")
        assert r.status_code == status, r.text[:500]
        assert words in r.text and "<script>x</script>" not in r.text
        assert 'name="profile"' in r.text  # the form is shown again to pick from

    for user in ("student1", "student2"):
        server = stack.admin.user(user)["servers"].get("", {})
        assert not server.get("ready") and not server.get("pending")
        assert held_grant(stack, user) is None
    # Nothing leaked: the whole device is still free.
    assert stack.spawn("labmember2", "npu-1").status_code in (201, 202)
    stack.admin.wait_for_server("labmember2")
    stop(stack, "labmember2")


def test_a_dead_server_gives_its_slice_back(one_device_stack):
    stack = one_device_stack
    assert stack.spawn("labmember3", "npu-1").status_code in (201, 202)
    pid = stack.admin.wait_for_server("labmember3")["servers"][""]["state"]["pid"]
    os.kill(pid, signal.SIGKILL)
    # The hub polls servers every 10 s; the slice is released when it notices.
    deadline = time.monotonic() + 40
    while held_grant(stack, "labmember3") is not None or not stack.admin.user("labmember3")["servers"][""]["stopped"]:
        assert time.monotonic() < deadline, "the hub never noticed the dead server"
        time.sleep(1)
    assert stack.spawn("labmember1", "npu-1").status_code in (201, 202)
    stack.admin.wait_for_server("labmember1")
    stop(stack, "labmember1")


def test_hub_crash_and_restart_keep_the_grant_once(tmp_path):
    stack = EmbeddedStack(tmp_path, make_site()).start()
    try:
        assert stack.spawn("student1", "npu-quarter").status_code in (201, 202)
        before = stack.admin.wait_for_server("student1")["servers"][""]["state"]
        stack.crash()
        assert pid_alive(before["pid"])  # the server outlives the hub

        stack.start()
        after = stack.admin.wait_for_server("student1")["servers"][""]["state"]
        assert after == before  # same process, same grant
        student = stack.session("student1")
        lab = student.http.get(stack.base_url + "/user/student1/lab", timeout=60)
        assert lab.status_code == 200 and "JupyterLab" in lab.text
        # signed in to her server now (its OAuth cookie), its API answers her: the same process, reachable
        status = student.http.get(stack.base_url + "/user/student1/api/status", timeout=30)
        assert status.status_code == 200 and "last_activity" in status.json(), status.text

        # Not forgotten: the whole device is still taken by her quarter, so a whole device waits ...
        assert stack.spawn("labmember1", "npu-1").status_code == 202
        # ... and not counted twice: a half and another quarter fill the device exactly (1/4 + 1/2 + 1/4 = 1),
        # which they could not if her quarter were held twice.
        assert stack.spawn("teacher1", "npu-half").status_code in (201, 202)
        teacher_pid = stack.admin.wait_for_server("teacher1")["servers"][""]["state"]["pid"]
        assert stack.spawn("student2", "npu-quarter").status_code in (201, 202)
        student2_pid = stack.admin.wait_for_server("student2")["servers"][""]["state"]["pid"]
        assert stack.admin.user("labmember1")["servers"][""]["pending"] == "spawn"
    finally:
        running = stack.proc and stack.proc.poll() is None
        pids = stack.server_pids() if running else []
        # read while the hub runs: a clean stop removes the file with the proxy
        proxy_pid_file = stack.data_dir / "proxy.pid"
        proxy_pid = int(proxy_pid_file.read_text().strip()) if running and proxy_pid_file.exists() else None
        stack.stop()
    # Ctrl-C leaves nothing behind: servers and proxy are gone.
    assert before["pid"] in pids and teacher_pid in pids and student2_pid in pids
    for pid in pids:
        assert not pid_alive(pid), f"server process {pid} outlived the hub"
    assert proxy_pid is not None, "the running hub wrote no proxy.pid"
    assert not pid_alive(proxy_pid), f"the proxy ({proxy_pid}) outlived the hub"


def test_roles_carry_npuhub_scopes_by_group(one_device_stack):
    """Sign-in hands out roles: everyone uses npuhub, the teacher teaches her course only."""
    stack = one_device_stack
    teacher = stack.session("teacher1").api("GET", "/user").json()
    student = stack.session("student3").api("GET", "/user").json()
    assert "custom:npuhub:teach!group=course-demo" in teacher["scopes"]
    assert "custom:npuhub:use" in teacher["scopes"] and "custom:npuhub:use" in student["scopes"]
    assert not any(s.startswith("custom:npuhub:teach") for s in student["scopes"])


#: Run in a real kernel of a server: what dask-labextension's "New" would build its cluster with.
DASK_SIDEBAR_CONFIG = """
import json, os, dask
import dask_labextension.config  # what the server extension loads: its defaults under the site's files
print(json.dumps({"factory": dask.config.get("labextension.factory"), "root": os.environ.get("DASK_ROOT_CONFIG")}))
"""


def test_the_dask_sidebar_in_a_real_server_is_configured_for_npuhub_clusters(one_device_stack):
    """dask-labextension in a real server of the stack: its server part answers, and the factory its "New" calls
    is npuhub's (npuhub/data/singleuser/dask, through DASK_ROOT_CONFIG)."""
    import json

    from support.kernels import run_in_kernel

    stack = one_device_stack
    assert stack.spawn("student3", "cpu").status_code in (201, 202)
    student = stack.session("student3")
    token = student.api("POST", "/users/student3/tokens", json={"note": "dask sidebar test"}).json()["token"]
    try:
        stack.admin.wait_for_server("student3")
        r = student.http.get(f"{stack.base_url}/user/student3/dask/clusters",
                             headers={"Authorization": f"token {token}"}, timeout=60)
        assert r.status_code == 200 and r.json() == [], r.text
        seen = json.loads(run_in_kernel(stack.base_url, "student3", token, DASK_SIDEBAR_CONFIG))
        assert seen["factory"] == {"module": "npuhub.dask", "class": "NPUCluster", "args": [], "kwargs": {}}, seen
        assert seen["root"].endswith("singleuser/dask")
    finally:
        stop(stack, "student3")


def test_the_dask_sidebars_new_button_makes_an_npuhub_cluster_under_her_quota(one_device_stack):
    """The sidebar's "New" (``PUT /dask/clusters``, what its button sends) in a real server: NPUCluster() with no
    arguments, i.e. the site's defaults (2 workers of her default flavor, a quarter each; a teacher may hold a
    whole device), admitted by the service; the sidebar's close closes it there."""
    stack = one_device_stack
    assert stack.spawn("teacher1", "cpu").status_code in (201, 202)
    teacher = stack.session("teacher1")
    token = teacher.api("POST", "/users/teacher1/tokens", json={"note": "dask sidebar test"}).json()["token"]
    sidebar = f"{stack.base_url}/user/teacher1/dask/clusters"
    headers = {"Authorization": f"token {token}"}
    service = f"{stack.base_url}/services/npuhub/api/v1/clusters"
    try:
        stack.admin.wait_for_server("teacher1")
        r = teacher.http.put(sidebar, headers=headers, timeout=180)
        assert r.status_code == 200, r.text
        model = r.json()
        mine = teacher.http.get(service, headers=headers, timeout=30).json()
        clusters = mine["clusters"] if isinstance(mine, dict) else mine
        assert [c["user"] for c in clusters] == ["teacher1"], mine
        cluster = clusters[0]
        assert cluster["state"] in ("starting", "running") and cluster["workers"]["wanted"] == 2, cluster
        assert model["dashboard_link"].endswith(f"/services/npuhub/dask/{cluster['id']}/status"), model

        r = teacher.http.delete(f"{sidebar}/{model['id']}", headers=headers, timeout=60)
        assert r.status_code in (200, 204), r.text
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            state = teacher.http.get(f"{service}/{cluster['id']}", headers=headers, timeout=30).json()["state"]
            if state == "closed":
                break
            time.sleep(0.5)
        assert state == "closed"
    finally:
        stop(stack, "teacher1")
