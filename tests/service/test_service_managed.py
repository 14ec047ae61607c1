"""`npuhub up` starts the service itself (a hub-managed service) and routes /services/npuhub/ to it.

A student's own token reaches it through the proxy, and a hub killed with
SIGKILL does not leave the service behind as a second writer for the next hub.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
import requests
from support.sites import make_site
from support.stacks import EmbeddedStack, pid_alive

pytestmark = pytest.mark.integration


def service_pid(stack: EmbeddedStack) -> int:
    """The npuhub service process the stack's hub started (found by its data directory)."""
    for path in Path("/proc").iterdir():
        if not path.name.isdigit():
            continue
        try:
            cmdline = (path / "cmdline").read_bytes().split(b"\0")
            environ = (path / "environ").read_bytes()
        except OSError:
            continue
        if b"npuhub.service" in cmdline and str(stack.data_dir).encode() in environ:
            return int(path.name)
    raise AssertionError(f"no npuhub service process for {stack.data_dir}:\n{stack.log()}")


def test_embedded_stack_runs_the_service_and_takes_it_down_with_the_hub(tmp_path):
    stack = EmbeddedStack(tmp_path, make_site()).start()
    try:
        session = stack.session("student1")
        token = session.api("POST", "/users/student1/tokens", json={"note": "managed"}).json()["token"]
        api = f"{stack.base_url}/services/npuhub/api/v1"
        deadline = time.monotonic() + 20
        while True:
            r = requests.get(f"{api}/me", headers={"Authorization": f"token {token}"}, timeout=10)
            if r.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert r.status_code == 200, r.text
        assert r.json()["user"] == "student1" and r.json()["max_share"] == "1/4"
        r = requests.post(f"{api}/requests", json={"flavor": "npu-quarter"},
                          headers={"Authorization": f"token {token}"}, timeout=10)
        assert r.status_code == 201, r.text
        assert (stack.data_dir / "admission.sqlite").exists()

        pid = service_pid(stack)
        stack.crash()
        deadline = time.monotonic() + 10
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not pid_alive(pid), "the service outlived the hub that started it"
    finally:
        stack.stop()
        # a crashed hub leaves its proxy running (in a session of its own); it wrote its pid down
        proxy_pid = stack.data_dir / "proxy.pid"
        if proxy_pid.exists() and pid_alive(pid := int(proxy_pid.read_text().strip())):
            os.kill(pid, signal.SIGTERM)
