"""The lab extension's server part in real servers started by ``npuhub up``, with each server's own token.

The spawner gives every server ``$NPUHUB_URL`` and a token carrying the npuhub
scopes its owner holds: a student's can use npuhub, a teacher's also teaches
her course (and only hers), an admin's uses it but never operates it.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import requests
from support.parts import require
from support.sites import make_site
from support.stacks import EmbeddedStack, process_env

pytestmark = pytest.mark.integration

SERVERS = {"student1": "npu-quarter", "teacher1": "cpu", "admin": "cpu"}


def extension_installed() -> bool:
    """Whether the servers' Python has npuhub_lab (scripts/bootstrap.sh installs it)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([sys.executable, "-c", "import npuhub_lab"], env=env, cwd="/",
                          capture_output=True, check=False).returncode == 0


@pytest.fixture(scope="module")
def lab_hub(tmp_path_factory):
    """The embedded stack with a server for a student (holding a quarter), a teacher and an admin."""
    require(extension_installed(), "npuhub_lab in the servers' Python (scripts/bootstrap.sh installs it)")
    stack = EmbeddedStack(tmp_path_factory.mktemp("labext-stack"), make_site()).start()
    try:
        for user, flavor in SERVERS.items():
            assert stack.spawn(user, flavor).status_code in (201, 202)
        for user in SERVERS:
            stack.admin.wait_for_server(user)
        yield stack
    finally:
        stack.stop()


def server_env(stack, user: str) -> dict[str, str]:
    return process_env(stack.admin.user(user)["servers"][""]["state"]["pid"])


def as_server(stack, user: str, path: str) -> requests.Response:
    """Call the service the way the server part does: ``$NPUHUB_URL`` with the server's own token."""
    env = server_env(stack, user)
    return requests.get(f"{env['NPUHUB_URL']}api/v1/{path}", timeout=30,
                        headers={"Authorization": f"token {env['JUPYTERHUB_API_TOKEN']}"})


def token_scopes(stack, user: str) -> set[str]:
    token = server_env(stack, user)["JUPYTERHUB_API_TOKEN"]
    r = requests.get(f"{stack.base_url}/hub/api/user", headers={"Authorization": f"token {token}"},
                     timeout=30)
    r.raise_for_status()
    return set(r.json()["scopes"])


def test_a_students_lab_shows_her_slice(lab_hub):
    env = server_env(lab_hub, "student1")
    url = env["NPUHUB_URL"]
    assert url.startswith("http://127.0.0.1:") and url.endswith("/services/npuhub/")
    student = lab_hub.session("student1")
    assert student.http.get(lab_hub.base_url + "/user/student1/lab", timeout=60).status_code == 200
    r = student.http.get(lab_hub.base_url + "/user/student1/npuhub-lab/status", timeout=30)
    assert r.status_code == 200, r.text
    status = r.json()
    assert status["available"] is True, status["error"]
    assert status["server_name"] == "" and status["me"]["user"] == "student1"
    holding = status["me"]["holdings"][0]
    assert (holding["flavor"], holding["server"]) == ("npu-quarter", "")
    assert holding["grant"]["model"] == "Ascend 910B"
    assert env["JUPYTERHUB_API_TOKEN"] not in r.text


def test_server_tokens_carry_what_their_owner_holds(lab_hub):
    student, teacher, admin = (token_scopes(lab_hub, u) for u in ("student1", "teacher1", "admin"))
    assert "custom:npuhub:use" in student and not any(s.startswith("custom:npuhub:teach") for s in student)
    assert "custom:npuhub:teach!group=course-demo" in teacher and "custom:npuhub:teach" not in teacher
    assert "custom:npuhub:use" in admin
    assert not any(s.startswith(("custom:npuhub:teach", "custom:npuhub:operate")) for s in admin)
    for scopes in (student, teacher, admin):  # JupyterHub's own server scopes are kept
        assert any(s.startswith("users:activity!user") for s in scopes)
        assert any(s.startswith("access:servers!server") for s in scopes)

    r = as_server(lab_hub, "student1", "me")
    assert r.status_code == 200 and r.json()["user"] == "student1"
    # The teacher's server sees her course's requests (student1's quarter, and her own CPU server's: every
    # server, CPU ones too, is a request at the service); the admin's server, which does not operate, sees
    # only the admin's own (her CPU server's).
    def users(user):
        r = as_server(lab_hub, user, "requests")
        assert r.status_code == 200, r.text
        return {req["user"] for req in r.json()["requests"]}

    assert users("teacher1") == {"student1", "teacher1"}
    assert users("student1") == {"student1"}
    assert users("admin") == {"admin"}
