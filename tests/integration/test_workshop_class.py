"""A whole class in a workshop, end to end on the real embedded stack: a hub, the npuhub service, real spawns.

A teacher makes a workshop through the hub's API: course-demo, a roster of
the 40 demo students (a CSV), a window, 40 eighths of a card reserved from
its start, materials in a git repository (served by ``git daemon`` on
loopback), a budget. The pool holds exactly 40 eighths, so whoever comes
first would take what the class needs: three lab members (outside the
course) ask for the same flavor first and must wait, while all 40 students
start at once on the reservation. Two guests join a short workshop of the
same course with its code and start servers; when its window ends (while the
class starts), their servers and accounts are removed. The class's own window
is an hour: the test does not wait for it.

Forty JupyterLab servers do not fit on two cores: every start goes through
the hub, the spawner and the service as in production, but 38 students get
a light single-user server (``support/light_singleuser.py``, see
``workshop_hub_config.py``) that answers the hub and redirects its root to
the server's default URL as Jupyter Server does; two get real JupyterLab,
in which nbgitpuller pulls the materials into the home directory.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from unittest import mock
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from npuhub.hubconfig import CLEANUP_INTERVAL_ENV
from support.hubclient import HubAPI, HubSession
from support.osusers import reachable_dir
from support.parts import require
from support.sites import DEMO_FLAVORS, flavor, make_site, pool_of
from support.stacks import BIN, PASSWORD, EmbeddedStack, free_port

pytestmark = pytest.mark.integration

HUB_CONFIG = Path(__file__).with_name("workshop_hub_config.py")
STUDENTS = [f"student{i}" for i in range(1, 41)]
OUTSIDERS = ["labmember1", "labmember2", "labmember3"]
#: Real JupyterLab for these; a light server for the other 38.
FULL = STUDENTS[:2]
#: The class's window: far longer than 43 starts take, even on two busy cores (the test does not wait for its end).
WINDOW = 3600
#: The guests' workshop's window: it ends while the class starts, and its guests are removed.
GUEST_WINDOW = 20
#: Five cards of eight eighths: exactly what the workshop reserves.
SITE = make_site(pool=[pool_of(1, 5)],
                 flavors=DEMO_FLAVORS + [flavor("npu-eighth", "1/8", memory="1G")])


class ClassHub(EmbeddedStack):
    """The embedded stack's hub with a test configuration file (light servers for most people)."""

    def command(self) -> list[str]:
        from npuhub.embedded.hub import NODE_PROXY

        return [str(BIN / "jupyterhub"), "-f", str(HUB_CONFIG), "--ip=127.0.0.1", f"--port={self.port}",
                f"--JupyterHub.hub_port={self.hub_port}",
                f"--ConfigurableHTTPProxy.api_url=http://127.0.0.1:{self.api_port}",
                f"--ConfigurableHTTPProxy.command={NODE_PROXY}"]

    def start(self, timeout: float = 60) -> "ClassHub":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {"NPUHUB_MODE": "embedded", "NPUHUB_DATA_DIR": str(self.data_dir),
               "NPUHUB_SITE_CONFIG": str(self.config), "NPUHUB_TEST_FULL_SERVERS": ",".join(FULL),
               CLEANUP_INTERVAL_ENV: "1"}
        with mock.patch.dict(os.environ, env):
            return super().start(timeout)

    def home(self, user: str) -> Path:
        from npuhub.spawners.local import safe_dirname

        return self.data_dir / "users" / safe_dirname(user)


@pytest.fixture(scope="module")
def materials():
    """A git repository served read-only by ``git daemon`` on loopback: git://127.0.0.1:<port>/ai101."""
    require(shutil.which("git") is not None, "git (the workshop's materials are a git repository)")
    base = reachable_dir("npuhub-git-")
    work = base / "work"
    work.mkdir()
    git = ["git", "-c", "user.name=Teacher", "-c", "user.email=t@example.edu", "-c", "init.defaultBranch=main"]
    subprocess.run([*git, "init", "-q", str(work)], check=True)
    (work / "lesson1.ipynb").write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4,
                                                    "nbformat_minor": 5}))
    (work / "README.md").write_text("# AI 101\n")
    subprocess.run([*git, "-C", str(work), "add", "."], check=True)
    subprocess.run([*git, "-C", str(work), "commit", "-q", "-m", "lesson 1"], check=True)
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(base / "ai101")], check=True)
    port = free_port()
    daemon = subprocess.Popen(["git", "daemon", "--export-all", f"--base-path={base}", "--reuseaddr",
                               "--listen=127.0.0.1", f"--port={port}", str(base)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"git://127.0.0.1:{port}/ai101"
    deadline = time.monotonic() + 10
    while subprocess.run(["git", "ls-remote", url], capture_output=True).returncode != 0:
        assert time.monotonic() < deadline, "git daemon did not start"
        time.sleep(0.1)
    yield url
    daemon.terminate()
    daemon.wait(10)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    s = ClassHub(tmp_path_factory.mktemp("workshop-class"), SITE).start()
    yield s
    s.stop()


def token_of(stack, user: str) -> HubAPI:
    r = stack.session(user).api("POST", f"/users/{user}/tokens", json={"note": "workshop test"})
    r.raise_for_status()
    return HubAPI(stack.base_url, r.json()["token"])


def requests_of(stack, user: str) -> list[dict]:
    r = stack.admin.http.get(stack.base_url + "/services/npuhub/api/v1/requests", params={"user": user},
                             timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["requests"]


def npuhub_cli(stack, token: HubAPI, *args: str) -> str:
    """The ``npuhub`` command as a teacher runs it (her token in $NPUHUB_TOKEN); its output."""
    env = {k: v for k, v in os.environ.items() if k not in ("NPUHUB_URL", "NPUHUB_TOKEN", "JUPYTERHUB_API_TOKEN")}
    env.update(NPUHUB_URL=stack.base_url, NPUHUB_TOKEN=token.http.headers["Authorization"].split()[1],
               LC_ALL="C.UTF-8")
    done = subprocess.run([sys.executable, "-m", "npuhub.cli", *args], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and done.stderr == "", (done.returncode, done.stdout, done.stderr)
    return done.stdout


def newest_requests(stack) -> dict[str, dict]:
    """Each person's newest request at the service (one call: an admin sees everyone's, newest first)."""
    r = stack.admin.http.get(stack.base_url + "/services/npuhub/api/v1/requests", params={"limit": 1000},
                             timeout=30)
    assert r.status_code == 200, r.text
    newest: dict[str, dict] = {}
    for request in r.json()["requests"]:
        newest.setdefault(request["user"], request)
    return newest


def at(moment: str) -> datetime:
    return datetime.fromisoformat(moment.replace("Z", "+00:00"))


def wait_until(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout:.0f} s"
        time.sleep(0.3)
    return value


def test_a_class_of_forty_starts_on_its_reservation_with_its_materials(stack, materials):
    began = time.monotonic()
    teacher, admin = token_of(stack, "teacher1"), stack.admin
    ends = datetime.now(timezone.utc) + timedelta(seconds=WINDOW)
    roster_csv = "学号,姓名\n" + "\n".join(f"{s},Student {s[7:]}" for s in STUDENTS) + "\n"
    r = teacher("POST", "/npuhub/workshops", json={
        "group": "course-demo", "ends_at": ends.isoformat(), "flavor": "npu-eighth", "reserve": 40,
        "roster": roster_csv, "materials_repo": materials, "materials_branch": "main", "budget_hours": "20",
        "max_guests": 2})
    assert r.status_code == 201, r.text
    workshop = r.json()
    code, rid = workshop["code"], workshop["reservation_id"]
    assert workshop["roster"] == 40 and workshop["reserved_count"] == 40 and rid
    link = urlsplit(workshop["materials"]["link"])
    assert link.path == "/hub/user-redirect/git-pull"
    assert parse_qs(link.query) == {"repo": [materials], "branch": ["main"], "urlpath": ["lab/tree/ai101"]}

    # refusals in both languages, nothing made
    bad = teacher("POST", "/npuhub/workshops", json={"group": "course-demo", "ends_at": ends.isoformat(),
                                                          "roster": "student1\nnot an id!"})
    assert bad.status_code == 400 and bad.json()["reason"] == "roster_invalid", bad.text
    assert bad.json()["message"]["zh"] and bad.json()["message"]["en"]
    assert teacher("POST", "/npuhub/workshops", json={"group": "lab-demo", "ends_at": ends.isoformat()}
                   ).status_code == 403
    # an admin's workshop of another group is not the teacher's to see
    other = admin("POST", "/npuhub/workshops", json={"group": "lab-demo", "ends_at": ends.isoformat()})
    assert other.status_code == 201, other.text
    assert [w["code"] for w in teacher("GET", "/npuhub/workshops").json()["workshops"]] == [code]
    assert teacher("GET", f"/npuhub/workshops/{other.json()['code']}").status_code == 403
    assert {code, other.json()["code"]} <= {w["code"] for w in admin("GET", "/npuhub/workshops").json()
                                             ["workshops"]}

    # a short workshop of the same course for two guests (CPU only), from the command line: it ends while
    # the class starts
    out = npuhub_cli(stack, teacher, "workshop", "create", "--group", "course-demo", "--flavor", "cpu",
                     "--max-guests", "2",
                     "--end", (datetime.now(timezone.utc) + timedelta(seconds=GUEST_WINDOW)).isoformat())
    guest_code, guests = out.split()[1], []
    assert out.startswith(f"Workshop {guest_code} for course-demo, ") and "0 on the roster" in out, out
    for name in ("Ana Guest", "李 来宾"):
        guest = HubSession(stack.base_url)
        guest.http.get(guest.url("/hub/join"), params={"code": guest_code}, timeout=30)
        xsrf = guest.http.cookies.get("_xsrf", path="/hub/") or guest.http.cookies.get("_xsrf")
        r = guest.http.post(guest.url("/hub/join"), allow_redirects=False, timeout=30,
                            data={"workshop_code": guest_code, "display_name": name, "_xsrf": xsrf})
        assert r.status_code == 302, r.text[:500]
        who = guest.api("GET", "/user").json()["name"]
        assert admin("POST", f"/users/{who}/server", json={"profile": "cpu"}).status_code in (201, 202)
        guests.append(who)
    for who in guests:
        admin.wait_for_server(who, timeout=60)

    # three people outside the course ask first for the flavor the class needs: the pool is all reserved
    for user in OUTSIDERS:
        assert stack.spawn(user, "npu-eighth").status_code in (201, 202)
    wait_until(lambda: all(requests_of(stack, u) and requests_of(stack, u)[0]["state"] == "waiting"
                           for u in OUTSIDERS), 30, "the outsiders' requests waiting")

    # forty students sign in (each through the login form) and start at once
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda u: stack.spawn(u, "npu-eighth"), STUDENTS))
    assert all(a.status_code in (201, 202) for a in answers), [a.text for a in answers if a.status_code >= 300]
    with ThreadPoolExecutor(8) as pool:
        admin_token = admin.http.headers["Authorization"].split()[1]
        list(pool.map(lambda u: HubAPI(stack.base_url, admin_token).wait_for_server(u, timeout=300), STUDENTS))
    assert datetime.now(timezone.utc) < ends, "the class did not start within the window"
    print(f"40 servers ready {time.monotonic() - began:.0f} s after the workshop was made")

    # each on the reservation, granted on arrival (no wait); the outsiders still wait: none took a reserved slice
    newest = newest_requests(stack)
    for user in STUDENTS:
        request = newest[user]
        assert request["state"] == "granted" and request["reservation"] == rid, request
        assert request["flavor"] == "npu-eighth"
        assert (at(request["granted_at"]) - at(request["arrived"])).total_seconds() < 1.0, request
    for user in OUTSIDERS:
        assert newest[user]["state"] == "waiting", newest[user]

    # the materials: every server opens on nbgitpuller's link; in the real ones it puts the files in place
    def opens_on(user: str) -> str:
        # a session of its own per thread (a requests.Session is not thread-safe)
        r = requests.get(f"{stack.base_url}/user/{user}/", allow_redirects=False, timeout=30,
                         headers={"Authorization": admin.http.headers["Authorization"]})
        assert r.status_code == 302, (user, r.status_code)
        return r.headers["location"]

    with ThreadPoolExecutor(8) as pool:
        locations = list(pool.map(opens_on, STUDENTS))
    for user, location in zip(STUDENTS, locations):
        parts = urlsplit(location)
        assert parts.path == f"/user/{user}/git-pull", location
        assert parse_qs(parts.query)["repo"] == [materials]
    for user in FULL:
        # what the link's page does in the browser: nbgitpuller's event stream, until it says finished
        r = admin.http.get(f"{stack.base_url}/user/{user}/git-pull/api", timeout=60,
                           params={"repo": materials, "branch": "main"})
        assert r.status_code == 200 and '"phase": "finished"' in r.text, r.text[-2000:]
        assert (stack.home(user) / "ai101" / "lesson1.ipynb").is_file()
        assert (stack.home(user) / "ai101" / "README.md").read_text() == "# AI 101\n"

    # the teacher's view: the roster and the guests, each with a state and usage
    view = teacher("GET", f"/npuhub/workshops/{code}").json()
    states = {p["name"]: p["state"] for p in view["participants"]}
    assert set(states) == set(STUDENTS)
    assert all(states[s] in ("running", "idle") for s in STUDENTS), view["summary"]
    assert view["summary"]["budget_device_hours"] == 20.0
    assert all(p["on_reservation"] for p in view["participants"] if p["name"] in STUDENTS)
    page = HubSession(stack.base_url)
    page.login("teacher1", PASSWORD)
    html = page.http.get(page.url(f"/hub/workshops/{code}"), timeout=30).content.decode()
    assert html.count('<tr data-user="student') == 40 and "运行中" in html and "running" in html

    print(f"checks done {time.monotonic() - began:.0f} s after the workshop was made")
    shown = npuhub_cli(stack, teacher, "workshop", "show", code)
    assert shown.startswith(f"Workshop {code} for course-demo, ") and "40 participants" in shown, shown
    assert shown.count("\nstudent") == 40
    # the guests' window has ended meanwhile: their servers and accounts are gone, their workshop's page says so
    wait_until(lambda: all(admin("GET", f"/users/{g}").status_code == 404 for g in guests), 30,
               "the guests' removal")
    short = teacher("GET", f"/npuhub/workshops/{guest_code}").json()
    assert short["state"] == "ended" and {p["state"] for p in short["participants"]} == {"removed"}
    # university accounts stay: the students keep their accounts (and servers) after a workshop
    assert admin("GET", "/users/student1").status_code == 200
