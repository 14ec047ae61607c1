"""Lab sharing in the embedded stack, as root (each person her own Unix account): a real hub, real servers, real kernels.

- A shared server (JupyterHub's shares API, called with the owner's server
  token as the lab extension's server part does) is reachable by the invitee
  only, and no longer once the share is revoked; that token manages the shares
  of its own server only.
- A lab's folder is read and written by its members from their kernels, and a
  member of another lab cannot even list it.
"""

from __future__ import annotations

import grp
import json
import os
import textwrap
import time

import pytest
import requests

from npuhub.labs import unix_group_name
from support.kernels import Kernel
from support.osusers import AS_ROOT, accounts_with
from support.parts import require
from support.sites import DEMO_GROUPS, make_site
from support.stacks import EmbeddedStack, process_env

pytestmark = pytest.mark.integration

SITE = make_site(groups={**DEMO_GROUPS, "lab-vision": {"kind": "lab"}})
#: the servers of this module: two members of lab-demo, one of lab-vision
PEOPLE = ("labmember1", "labmember2", "vision1")
#: what the last test needs of the first (the revoked invitee's open session)
REVOKED: dict = {}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    require(AS_ROOT, "root (per-person Unix accounts; CI runs as root)")
    s = EmbeddedStack(tmp_path_factory.mktemp("labshare"), SITE).start()
    try:
        for user in PEOPLE:  # all three start side by side
            assert s.spawn(user, "cpu").status_code in (201, 202)
        for user in PEOPLE:
            s.admin.wait_for_server(user)
        yield s
    finally:
        prefix = s.user_prefix
        s.stop()
    assert accounts_with(prefix) == [], "the stack's accounts outlived it"
    assert [g.gr_name for g in grp.getgrall() if g.gr_name.startswith(prefix)] == [], "lab groups outlived it"


def token_of(stack, user: str) -> str:
    r = stack.session(user).api("POST", f"/users/{user}/tokens", json={"note": "lab sharing test"})
    r.raise_for_status()
    return r.json()["token"]


def server_token(stack, user: str) -> str:
    pid = stack.admin.user(user)["servers"][""]["state"]["pid"]
    return process_env(pid)["JUPYTERHUB_API_TOKEN"]


def call(stack, method: str, path: str, token: str, **kwargs) -> requests.Response:
    return requests.request(method, stack.base_url + path, headers={"Authorization": f"token {token}"},
                            timeout=30, **kwargs)


def opens_lab(session, stack, owner: str) -> int:
    """A person's browser opening ``owner``'s JupyterLab (through the hub's OAuth); the final status."""
    return session.http.get(f"{stack.base_url}/user/{owner}/lab", timeout=60).status_code


def test_a_shared_server_is_the_invitees_only_until_revoked(stack):
    owner = server_token(stack, "labmember1")
    # the owner's server token: shares of this one server, nothing of her other servers or of anyone else's
    scopes = set(call(stack, "GET", "/hub/api/user", owner).json()["scopes"])
    assert "shares!server=labmember1/" in scopes and "read:shares!server=labmember1/" in scopes, scopes
    assert not {"shares", "shares!user", "shares!user=labmember1", "admin:users", "servers"} & scopes, scopes
    assert call(stack, "POST", "/hub/api/shares/labmember2/", owner, json={"user": "vision1"}).status_code in (403, 404)
    assert call(stack, "GET", "/hub/api/shares/labmember2/", owner).status_code in (403, 404)
    assert call(stack, "POST", "/hub/api/shares/labmember1/other", owner,
                json={"user": "vision1"}).status_code in (403, 404)
    # nor a wider grant than reaching the server (starting, stopping it)
    wider = call(stack, "POST", "/hub/api/shares/labmember1/", owner,
                 json={"user": "vision1", "scopes": ["servers!server=labmember1/"]})
    assert wider.status_code == 403, wider.text

    # before: the invitee cannot reach it (the server remembers that answer for 10 s: a new token afterwards)
    assert call(stack, "GET", "/user/labmember1/api/contents", token_of(stack, "vision1")).status_code == 403
    r = call(stack, "POST", "/hub/api/shares/labmember1/", owner, json={"user": "vision1"})
    assert r.status_code == 200, r.text
    assert r.json()["scopes"] == ["access:servers!server=labmember1/"]
    listed = call(stack, "GET", "/hub/api/shares/labmember1/", owner).json()["items"]
    assert [(s["user"] or {}).get("name") for s in listed] == ["vision1"]

    # the invitee reaches that server (API and browser); a third person does not
    invitee, third = token_of(stack, "vision1"), token_of(stack, "labmember2")
    assert call(stack, "GET", "/user/labmember1/api/contents", invitee).status_code == 200
    assert call(stack, "GET", "/user/labmember1/api/contents", third).status_code == 403
    browser_invitee, browser_third = stack.session("vision1"), stack.session("labmember2")
    assert opens_lab(browser_invitee, stack, "labmember1") == 200
    assert opens_lab(browser_third, stack, "labmember1") == 403
    # and only reaches it: not the owner's hub account, not stopping it
    assert call(stack, "DELETE", "/hub/api/users/labmember1/server", invitee).status_code in (403, 404)
    assert call(stack, "POST", "/hub/api/users/labmember1/tokens", invitee).status_code in (403, 404)

    # revoked: a new token or a new browser is refused at once
    r = call(stack, "PATCH", "/hub/api/shares/labmember1/", owner, json={"user": "vision1"})
    assert r.status_code == 200 and r.json() == {}, r.text
    REVOKED.update(at=time.monotonic(), token=invitee, browser=browser_invitee)
    assert call(stack, "GET", "/hub/api/shares/labmember1/", owner).json()["items"] == []
    assert call(stack, "GET", "/user/labmember1/api/contents", token_of(stack, "vision1")).status_code == 403
    assert opens_lab(stack.session("vision1"), stack, "labmember1") == 403
    assert stack.admin.user("labmember1")["servers"][""]["ready"]


def kernel_json(kernel: Kernel, code: str) -> dict:
    outcome = kernel.run(TRY + textwrap.dedent(code))
    assert outcome.error is None and not outcome.died, outcome
    return json.loads(outcome.stdout.strip().splitlines()[-1])


TRY = """
import json, os
def attempt(action):
    try:
        return action()
    except OSError as e:
        return type(e).__name__
def read(path):
    with open(path) as f:
        return f.read()
def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return "written"
"""


def test_a_lab_folder_is_its_members_alone(stack):
    labs = stack.data_dir / "labs"
    demo, vision = labs / "lab-demo", labs / "lab-vision"
    group = grp.getgrnam(unix_group_name("lab-demo", stack.user_prefix))
    assert set(group.gr_mem) == {stack.os_user("labmember1"), stack.os_user("labmember2")}
    assert grp.getgrnam(unix_group_name("lab-vision", stack.user_prefix)).gr_mem == [stack.os_user("vision1")]
    st = demo.stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (0, group.gr_gid, 0o2770)

    k1 = Kernel(stack.base_url, "labmember1", token_of(stack, "labmember1"))
    mine = kernel_json(k1, """
        print(json.dumps({
            "write": attempt(lambda: write("labs/lab-demo/plan.txt", "lab-demo's plan")),
            "read": attempt(lambda: read("labs/lab-demo/plan.txt")),
            "links": sorted(os.listdir("labs")),
            "target": os.path.realpath("labs/lab-demo"),
        }))
    """)
    assert mine == {"write": "written", "read": "lab-demo's plan", "links": ["lab-demo"], "target": str(demo)}
    made = demo / "plan.txt"
    assert made.stat().st_gid == group.gr_gid  # the set-group-ID directory: the lab's file, not hers alone

    k2 = Kernel(stack.base_url, "labmember2", token_of(stack, "labmember2"))
    theirs = kernel_json(k2, f"""
        print(json.dumps({{
            "read": attempt(lambda: read("labs/lab-demo/plan.txt")),
            "write": attempt(lambda: write("labs/lab-demo/notes.txt", "labmember2 too")),
            "other lab": attempt(lambda: os.listdir({str(vision)!r})),
        }}))
    """)
    assert theirs == {"read": "lab-demo's plan", "write": "written", "other lab": "PermissionError"}

    kv = Kernel(stack.base_url, "vision1", token_of(stack, "vision1"))
    outsider = kernel_json(kv, f"""
        print(json.dumps({{
            "read": attempt(lambda: read({str(made)!r})),
            "list": attempt(lambda: os.listdir({str(demo)!r})),
            "write": attempt(lambda: write({str(demo / 'intruder.txt')!r}, "x")),
            "all labs": attempt(lambda: os.listdir({str(labs)!r})),
            "own": attempt(lambda: write("labs/lab-vision/mine.txt", "vision's")),
            "links": sorted(os.listdir("labs")),
        }}))
    """)
    assert outsider == {"read": "PermissionError", "list": "PermissionError", "write": "PermissionError",
                        "all labs": "PermissionError", "own": "written", "links": ["lab-vision"]}
    for k in (k1, k2, kv):
        k.shutdown()


def test_a_revoked_invitees_open_session_ends_within_the_servers_cache(stack):
    # the server checks a token at the hub at most every 10 s (HubOAuth.cache_max_age, npuhub's singleuser config)
    time.sleep(max(0.0, REVOKED["at"] + 11 - time.monotonic()))
    assert call(stack, "GET", "/user/labmember1/api/contents", REVOKED["token"]).status_code == 403
    assert opens_lab(REVOKED["browser"], stack, "labmember1") == 403
