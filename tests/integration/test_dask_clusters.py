"""Dask clusters from a student's real kernel (`npuhub up`, real ``distributed``): admitted, private, cleaned up.

student1 makes a cluster from her notebook, computes on it, asks for more
workers than her limit lets her hold (refused with a sentence), and closes it:
its slices are free again. Nobody else can list it, see it, connect to its
scheduler or open its dashboard (403). A stopped notebook server takes its
clusters with it. As root (os-users isolation), the workers run as her own
Unix account, with her slice's devices in their environment.
"""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import re
import textwrap
import time

import pytest
from tornado.httpclient import HTTPClientError

from support.kernels import Kernel
from support.osusers import AS_ROOT
from support.sites import make_site
from support.stacks import EmbeddedStack

pytestmark = pytest.mark.integration

# Two devices; students may hold up to 3/4 of one (a CPU-only notebook and up to three quarter workers).
SITE = make_site(devices_per_node=2,
                 limits={"max_share": 1, "groups": {"course-demo": {"max_share": "3/4"}}},
                 dask={"default_flavor": "npu-quarter", "default_workers": 2, "max_workers": 8})


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    # reconciliation every 2 s, so that a stopped server's clusters go within seconds
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NPUHUB_SERVICE_ARGS", "--NPUHubService.reconcile_interval=2")
        s = EmbeddedStack(tmp_path_factory.mktemp("dask"), SITE).start()
    yield s
    s.stop()
    assert not _cluster_processes(s), "a Dask process outlived `npuhub up`"


def _cluster_processes(stack) -> list[int]:
    """The stack's Dask schedulers and workers: processes working in a cluster directory under its data dir
    (other stacks on this machine may run clusters of their own)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cwd = os.readlink(f"/proc/{entry}/cwd")
            except OSError:
                continue
            if cwd.startswith(f"{stack.data_dir}/dask-clusters/dc-"):
                found.append(int(entry))
    return found


def user_token(stack, user: str) -> str:
    r = stack.session(user).api("POST", f"/users/{user}/tokens", json={"note": "dask test"})
    r.raise_for_status()
    return r.json()["token"]


def service(stack, token: str, method: str, path: str, **kw):
    import requests

    return requests.request(method, f"{stack.base_url}/services/npuhub/api/v1{path}",
                            headers={"Authorization": f"token {token}"}, timeout=30, **kw)


def run_json(kernel: Kernel, code: str, timeout: float = 120) -> dict:
    outcome = kernel.run(textwrap.dedent(code), timeout)
    assert outcome.error is None and not outcome.died, outcome
    return json.loads(outcome.stdout.strip().splitlines()[-1])


async def first_ws_message(url: str, cookies, token: str) -> str:
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    cookie = "; ".join(f"{c.name}={c.value}" for c in cookies)
    conn = await websocket_connect(HTTPRequest(url, headers={"Cookie": cookie}, request_timeout=30),
                                   subprotocols=["bokeh", token])
    try:
        return str(await asyncio.wait_for(conn.read_message(), 30))
    finally:
        conn.close()


def wait_for(fn, timeout=30.0, what="a condition"):
    deadline = time.monotonic() + timeout
    while not (value := fn()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)
    return value


MAKE_AND_COMPUTE = """
import json, os
from distributed import Client
import npuhub.dask

cluster = npuhub.dask.cluster(workers=2)
client = Client(cluster)
client.wait_for_workers(2, timeout=90)
total = sum(client.gather(client.map(lambda x: x * x, range(10))))
env = client.run(lambda: (os.getuid(), os.environ.get("ASCEND_VISIBLE_DEVICES"), os.environ.get("NPUHUB_SHARE")))
try:
    cluster.scale(4)  # 4 quarters: past her 3/4
    refused = None
except npuhub.dask.NPUHubDaskError as e:
    refused = {"reason": e.reason, "message": e.message}
print(json.dumps({"id": cluster.id, "total": total, "env": sorted(env.values()), "refused": refused,
                  "repr": repr(cluster), "link": cluster.dashboard_link, "listed": npuhub.dask.list_clusters()}))
"""


def test_a_student_computes_on_her_cluster_and_nobody_else_reaches_it(stack):
    stack.spawn("student1", "cpu")
    stack.spawn("student2", "cpu")
    stack.admin.wait_for_server("student1")
    stack.admin.wait_for_server("student2")
    token1, token2 = user_token(stack, "student1"), user_token(stack, "student2")
    kernel = Kernel(stack.base_url, "student1", token1)
    try:
        made = run_json(kernel, MAKE_AND_COMPUTE)
        cid = made["id"]
        assert made["total"] == 285
        uid = pwd.getpwnam(stack.os_user("student1")).pw_uid if AS_ROOT else os.getuid()
        assert {e[0] for e in made["env"]} == {uid}  # her own account
        assert {e[2] for e in made["env"]} == {"1/4"} and all(e[1] in ("0", "1") for e in made["env"])
        assert made["refused"]["reason"] == "share_limit" and made["refused"]["message"]["zh"]
        assert "all 2 workers running" in made["repr"]
        assert made["link"] == f"/services/npuhub/dask/{cid}/status"
        assert [c["id"] for c in made["listed"]] == [cid]
        me = service(stack, token1, "GET", "/me").json()
        assert len([h for h in me["holdings"] if h.get("cluster") == cid]) == 3  # scheduler and two workers

        # her dashboard through the hub; another person's browser gets 403 in both languages
        owner = stack.session("student1")
        page = owner.http.get(stack.base_url + made["link"], timeout=60)
        assert page.status_code == 200 and "bokeh" in page.text.lower(), page.status_code
        other = stack.session("student2")
        denied = other.http.get(stack.base_url + made["link"], timeout=60)
        assert denied.status_code == 403 and "someone else" in denied.text and "另一个人" in denied.text
        # bokeh's websocket through the hub: the owner's is answered by the scheduler's dashboard, another's is 403
        token = re.search(r'"token":"([^"]+)"', page.text).group(1)
        ws_url = stack.base_url.replace("http", "ws", 1) + made["link"] + "/ws"
        assert '"msgtype": "ACK"' in asyncio.run(first_ws_message(ws_url, owner.http.cookies, token))
        with pytest.raises(HTTPClientError) as refused:
            asyncio.run(first_ws_message(ws_url, other.http.cookies, token))
        assert refused.value.code == 403
        # nor can she list it, see it, or get its scheduler's address or certificate
        assert service(stack, token2, "GET", "/clusters").json()["clusters"] == []
        seen = service(stack, token2, "GET", f"/clusters/{cid}")
        assert seen.status_code == 403 and "scheduler_address" not in seen.text
        address = service(stack, token1, "GET", f"/clusters/{cid}").json()["scheduler_address"]
        other_kernel = Kernel(stack.base_url, "student2", token2)
        try:
            tried = run_json(other_kernel, f"""
                import json, npuhub.dask
                from distributed import Client
                from distributed.security import Security
                out = {{}}
                try:
                    npuhub.dask.connect({cid!r})
                except npuhub.dask.NPUHubDaskError as e:
                    out["connect"] = e.reason
                try:
                    Client({address!r}, security=Security.temporary(), timeout=5)
                    out["scheduler"] = "connected"
                except Exception as e:
                    out["scheduler"] = type(e).__name__
                print(json.dumps(out))
            """)
        finally:
            other_kernel.shutdown()
        assert tried["connect"] == "cluster_not_yours" and tried["scheduler"] != "connected"

        # after a kernel restart she connects again, then closes it: its slices are free
        closed = run_json(kernel, f"""
            import json, npuhub.dask
            from distributed import Client
            again = npuhub.dask.connect({cid!r})
            with Client(again) as c:
                n = c.submit(lambda: 41 + 1).result()
            again.close()
            print(json.dumps({{"n": n, "state": again.refresh()["state"]}}))
        """)
        assert closed == {"n": 42, "state": "closed"}
    finally:
        kernel.shutdown()
    pool = service(stack, token1, "GET", "/pool").json()
    assert pool["models"][0]["held"] == "0"
    assert not [h for h in service(stack, token1, "GET", "/me").json()["holdings"] if h.get("cluster")]
    assert not _cluster_processes(stack)


def test_a_stopped_server_takes_its_clusters_with_it(stack):
    stack.admin.wait_for_server("student1")
    token = user_token(stack, "student1")
    kernel = Kernel(stack.base_url, "student1", token)
    try:
        made = run_json(kernel, """
            import json, npuhub.dask
            cluster = npuhub.dask.NPUCluster()  # dask-labextension's "New": the site's defaults (2 workers)
            print(json.dumps({"id": cluster.id, "wanted": cluster.refresh()["workers"]["wanted"]}))
        """)
        assert made["wanted"] == 2
    finally:
        kernel.shutdown()
    cid = made["id"]
    assert service(stack, token, "GET", f"/clusters/{cid}").json()["state"] in ("starting", "running")
    r = stack.admin("DELETE", "/users/student1/server")
    assert r.status_code in (202, 204), r.text
    stack.admin.wait_for_server("student1", ready=False)
    view = wait_for(lambda: (v := service(stack, token, "GET", f"/clusters/{cid}").json())["state"] == "closed"
                    and v, timeout=30, what="the cluster to close")
    assert view["reason"] == "server_stopped" and "notebook server" in view["message"]["en"]
    assert service(stack, token, "GET", "/pool").json()["models"][0]["held"] == "0"
    wait_for(lambda: not _cluster_processes(stack), timeout=15, what="the cluster's processes to end")
