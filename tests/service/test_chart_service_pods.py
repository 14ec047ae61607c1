"""The chart's service pods, run as processes: the rendered Deployment's own command, environment and probes.

Kubernetes cannot run here, so each replica of the Deployment `npuhub` is started as the kubelet would start
its container: the rendered command and environment, the Secrets' values filled in (the hub's token for
``hub.services.npuhub.apiToken``, a real PostgreSQL database for the URL), and the cluster's addresses
mapped to loopback (``http://hub:8081`` to the test hub, port 10101 to a free port). The site file is the
rendered ConfigMap. What this shows: the init container's check passes, two replicas on one database make
one leader (ready: its readiness probe's path answers 200) and one standby (503), the hub reaches the
leader with the token the chart hands it, and the standby takes over when the leader is killed.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests
import yaml

from support.helm_chart import find, render, values_file
from support.processes import log_tail, wait_until_up
from support.stacks import free_port

pytestmark = pytest.mark.integration


def rendered_pod(site: dict) -> tuple[dict, dict]:
    values = values_file("minimal")
    values["site"] = site
    objects = render(values)
    deployment = find(objects, "Deployment", "npuhub")
    return deployment, find(objects, "ConfigMap", "npuhub-site")


class Replica:
    def __init__(self, container: dict, env: dict[str, str], port: int, workdir: Path):
        self.port = port
        self.log_path = workdir / f"replica-{port}.log"
        command = [sys.executable if c == "python" else c for c in container["command"]]
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(command, cwd=workdir, env={**os.environ, **env,
                                                                     "JUPYTERHUB_SERVICE_URL": f"http://127.0.0.1:{port}"},
                                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def probe(self, path: str) -> int | None:
        try:
            return requests.get(f"http://127.0.0.1:{self.port}{path}", timeout=2).status_code
        except requests.RequestException:
            return None

    def wait(self, path: str, status: int, timeout: float = 30) -> None:
        wait_until_up(self.proc, f"http://127.0.0.1:{self.port}{path}", what=f"the replica on {self.port}",
                      timeout=timeout, log=lambda: log_tail(self.log_path, 6000), ok=lambda r: r.status_code == status)

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


def test_two_replicas_of_the_rendered_deployment_make_one_leader_the_hub_reaches(service_hub, postgres_url,
                                                                                tmp_path):
    site = yaml.safe_load(Path(service_hub.config).read_text(encoding="utf-8"))
    deployment, configmap = rendered_pod(site)
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    site_file = tmp_path / "npuhub.yaml"
    site_file.write_text(configmap["data"]["npuhub.yaml"], encoding="utf-8")

    # the init container: `npuhub check-config /etc/npuhub/npuhub.yaml`, on the mounted ConfigMap
    (init,) = pod["initContainers"]
    assert init["command"][:2] == ["npuhub", "check-config"]
    check = subprocess.run([sys.executable, "-m", "npuhub.cli", *init["command"][1:-1], str(site_file)],
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stderr

    secrets_by_ref = {
        ("hub", "hub.services.npuhub.apiToken"): service_hub.service_token,
        ("npuhub-db-url", "url"): postgres_url,
        ("npuhub-service", "cookie-secret"): secrets.token_hex(32),
    }
    env: dict[str, str] = {}
    for item in container["env"]:
        if "valueFrom" in item:
            ref = item["valueFrom"]["secretKeyRef"]
            env[item["name"]] = secrets_by_ref[(ref["name"], ref["key"])]
        else:
            env[item["name"]] = item["value"]
    # the cluster's names, mapped to this machine
    assert env["JUPYTERHUB_API_URL"] == "http://hub:8081/hub/api"
    env["JUPYTERHUB_API_URL"] = f"http://127.0.0.1:{service_hub.hub_port}/hub/api"
    assert env["NPUHUB_SITE_CONFIG"] == "/etc/npuhub/npuhub.yaml"
    env["NPUHUB_SITE_CONFIG"] = str(site_file)
    ready_path = container["readinessProbe"]["httpGet"]["path"]

    first = Replica(container, env, service_hub.service_port, tmp_path)
    second = None
    try:
        first.wait(ready_path, 200)
        second = Replica(container, env, free_port(), tmp_path)
        second.wait(ready_path, 503)  # the standby: alive, not ready, so the Service sends it nothing
        assert first.probe(ready_path) == 200

        # the hub routes to the leader and vouches for a person's token with the token the chart gave it
        token = service_hub.token("student1")
        r = requests.get(f"{service_hub.service_base}/me", headers={"Authorization": f"token {token}"}, timeout=30)
        assert r.status_code == 200, r.text
        assert r.json()["user"] == "student1"

        # kill -9: the leader's database session ends, its advisory lock with it, and the standby leads
        first.kill()
        second.wait(ready_path, 200, timeout=30)
    finally:
        first.stop()
        if second is not None:
            second.stop()
