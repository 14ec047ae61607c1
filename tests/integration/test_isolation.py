"""One machine, many people, tried as an attacker would: from a real kernel in student2's server (the hub runs as root).

Each person's server runs as her own Unix account, so code in student2's
notebook cannot read student1's files, any process environment but its own,
the hub's secrets or its databases, and student2's own token cannot act as
anyone else. A kernel that allocates past its flavor's memory is ended by the
kernel's OOM killer (cgroups), and the server keeps running.
"""

from __future__ import annotations

import json
import os
import pwd
import textwrap
from pathlib import Path

import pytest

from support.kernels import Kernel
from support.osusers import AS_ROOT, accounts_with
from support.parts import require
from support.sites import DEMO_FLAVORS, flavor, make_site
from support.stacks import PASSWORD, EmbeddedStack, process_env

pytestmark = pytest.mark.integration

SITE = make_site(flavors=[*DEMO_FLAVORS, flavor("cpu-small", cpu=1, memory="512M")])


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    require(AS_ROOT, "root (per-person Unix accounts; CI runs as root)")
    s = EmbeddedStack(tmp_path_factory.mktemp("isolation"), SITE).start()
    yield s
    prefix = s.user_prefix
    s.stop()
    assert accounts_with(prefix) == [], "the stack's accounts outlived it"


def user_token(stack, user: str) -> str:
    r = stack.session(user).api("POST", f"/users/{user}/tokens", json={"note": "isolation test"})
    r.raise_for_status()
    return r.json()["token"]


def started(stack, user: str, profile: str) -> dict:
    assert stack.spawn(user, profile).status_code in (201, 202)
    return stack.admin.wait_for_server(user)["servers"][""]


def kernel_json(kernel: Kernel, code: str) -> dict:
    outcome = kernel.run(textwrap.dedent(code))
    assert outcome.error is None and not outcome.died, outcome
    return json.loads(outcome.stdout.strip().splitlines()[-1])


TRY_READ = """
import json, os
def attempt(path):
    try:
        with open(path, "rb") as f:
            return "read:" + f.read(200).decode(errors="replace")
    except OSError as e:
        return type(e).__name__
"""


def test_a_notebook_reaches_nothing_of_anyone_else(stack):
    s1 = started(stack, "student1", "npu-quarter")
    s2 = started(stack, "student2", "cpu")
    home1 = stack.data_dir / "users" / "student1"

    # Each server runs as its owner's own account, in her own directory of mode 0700.
    for user, server in (("student1", s1), ("student2", s2)):
        account = pwd.getpwnam(stack.os_user(user))
        status = Path(f"/proc/{server['state']['pid']}/status").read_text()
        assert f"Uid:\t{account.pw_uid}\t" in status, status
        home = stack.data_dir / "users" / user
        assert home.stat().st_uid == account.pw_uid and home.stat().st_mode & 0o777 == 0o700

    k1 = Kernel(stack.base_url, "student1", user_token(stack, "student1"))
    assert kernel_json(k1, """
        import json, os
        with open("diary.txt", "w") as f:
            f.write("student1's private notes")
        print(json.dumps({"cwd": os.getcwd()}))
    """)["cwd"] == str(home1)

    hub_pid = stack.proc.pid
    secrets = {name: (stack.data_dir / name).read_text().strip()
               for name in ("crypt-key", "spawner-token", "workshops-token", "jupyterhub_cookie_secret")}
    env1 = process_env(s1["state"]["pid"])
    service_pid = next(int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()
                       and b"npuhub.service" in _cmdline(p) and _parent(p) == hub_pid)
    targets = {
        "student1's file": str(home1 / "diary.txt"),
        "the hub's environment": f"/proc/{hub_pid}/environ",
        "the service's environment": f"/proc/{service_pid}/environ",
        "student1's server's environment": f"/proc/{s1['state']['pid']}/environ",
        **{name: str(stack.data_dir / name) for name in secrets},
        "the hub's database": str(stack.data_dir / "jupyterhub.sqlite"),
        "the admission database": str(stack.data_dir / "admission.sqlite"),
        "the workshops database": str(stack.data_dir / "npuhub.sqlite"),
    }
    k2 = Kernel(stack.base_url, "student2", user_token(stack, "student2"))
    seen = kernel_json(k2, TRY_READ + textwrap.dedent(f"""
        targets = {targets!r}
        result = {{what: attempt(path) for what, path in targets.items()}}
        try:
            os.listdir({str(home1)!r})
            result["listing"] = "listed"
        except OSError as e:
            result["listing"] = type(e).__name__
        # every process environment this kernel can read, whoever's
        readable = {{}}
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{{pid}}/environ", "rb") as f:
                    readable[pid] = f.read().decode(errors="replace")
            except OSError:
                pass
        result["environments"] = readable
        # command lines are everyone's to read (ps): no secret may be in one
        lines = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{{pid}}/cmdline", "rb") as f:
                    lines.append(f.read().decode(errors="replace"))
            except OSError:
                pass
        result["cmdlines"] = lines
        result["own_token"] = os.environ["JUPYTERHUB_API_TOKEN"]
        print(json.dumps(result))
    """))
    for what in targets:
        assert seen[what] == "PermissionError", f"{what}: {seen[what]}"
    assert seen["listing"] == "PermissionError"

    # The environments it can read are its own server's and its own kernel's, and hold no one else's secret.
    own_uid = pwd.getpwnam(stack.os_user("student2")).pw_uid
    for pid in seen["environments"]:
        assert os.stat(f"/proc/{pid}").st_uid == own_uid, f"read the environment of {pid}"
    everything = "\n".join([*seen["environments"].values(), *seen["cmdlines"]])
    assert any("npuhub.service" in line for line in seen["cmdlines"])  # it did see the others' command lines
    forbidden = {**secrets, "student1's token": env1["JUPYTERHUB_API_TOKEN"], "the demo password": PASSWORD}
    for name, value in forbidden.items():
        assert value not in everything, f"{name} is within student2's reach"

    # Her own token acts as her only: not on student1's server, not on her request, not at the hub.
    token2 = seen["own_token"]
    assert token2 == process_env(s2["state"]["pid"])["JUPYTERHUB_API_TOKEN"]
    request1 = s1["state"]["npuhub"]["request"]
    acts = kernel_json(k2, f"""
        import json, urllib.request, urllib.error
        def call(method, url):
            req = urllib.request.Request(url, method=method, headers={{"Authorization": "token {token2}"}})
            try:
                with urllib.request.urlopen(req, timeout=30) as r:
                    return r.status if method != "GET" or "/hub/api/" not in url else json.load(r)
            except urllib.error.HTTPError as e:
                return e.code
        base = {stack.base_url!r}
        print(json.dumps({{
            "cancel": call("DELETE", base + "/services/npuhub/api/v1/requests/{request1}"),
            "server": call("GET", base + "/user/student1/api/contents"),
            "hub_user": call("GET", base + "/hub/api/users/student1"),
            "hub_token": call("POST", base + "/hub/api/users/student1/tokens"),
            "stop": call("DELETE", base + "/hub/api/users/student1/server"),
        }}))
    """)
    assert acts["cancel"] in (403, 404), acts
    assert acts["server"] in (403, 404), acts
    # a name is everyone's to look up (naming whom to share a server with, npuhub.sharing): JupyterHub's
    # read:users:name answers the name, the admin flag and the authenticator's user_info (none here), nothing more
    assert acts["hub_user"] in (403, 404) or acts["hub_user"] == {
        "kind": "user", "name": "student1", "admin": False, "user_info": None}, acts
    assert acts["hub_token"] in (403, 404) and acts["stop"] in (403, 404), acts
    # student1 still holds her slice, and her server still runs
    assert stack.admin.user("student1")["servers"][""]["state"]["npuhub"]["request"] == request1
    assert stack.admin.user("student1")["servers"][""]["ready"]
    for k in (k1, k2):
        k.shutdown()
    for user in ("student1", "student2"):
        stack.admin("DELETE", f"/users/{user}/server")
        stack.admin.wait_for_server(user, ready=False)


def test_a_kernel_past_its_flavors_memory_is_ended_by_the_oom_killer(stack):
    server = started(stack, "student3", "cpu-small")
    pid = server["state"]["pid"]
    memory_group, cpu_group = _groups(pid)
    assert memory_group.limit() == 512 * 1024 ** 2
    assert cpu_group.cpu_quota() == (100_000, 100_000)  # 1 CPU

    kernel = Kernel(stack.base_url, "student3", user_token(stack, "student3"))
    assert kernel.run("x = 1\nprint('fine')").stdout.strip() == "fine"
    outcome = kernel.run("hog = b'x' * (1200 * 1024 ** 2)\nprint('allocated', len(hog))")
    assert "allocated" not in outcome.stdout, outcome
    assert outcome.died, outcome
    assert memory_group.oom_kills() >= 1
    # The server itself lives on, and a new kernel works within the limit.
    assert Path(f"/proc/{pid}").exists()
    again = Kernel(stack.base_url, "student3", user_token(stack, "student3"))
    assert again.run("print(sum(range(10)))").stdout.strip() == "45"
    again.shutdown()

    stack.admin("DELETE", "/users/student3/server")
    stack.admin.wait_for_server("student3", ready=False)
    assert not memory_group.path.exists(), "the server's control group outlived it"


def test_a_person_deleted_from_the_hub_takes_her_account_and_files_along(stack):
    started(stack, "student4", "cpu")
    account = stack.os_user("student4")
    home = stack.data_dir / "users" / "student4"
    assert pwd.getpwnam(account).pw_dir == str(home) and home.is_dir()
    stack.admin("DELETE", "/users/student4/server")
    stack.admin.wait_for_server("student4", ready=False)
    assert stack.admin("DELETE", "/users/student4").status_code == 204
    with pytest.raises(KeyError):
        pwd.getpwnam(account)
    assert not home.exists()


class _Group:
    def __init__(self, path: Path, version: int):
        self.path, self.version = path, version

    def limit(self) -> int:
        return int((self.path / ("memory.max" if self.version == 2 else "memory.limit_in_bytes")).read_text())

    def cpu_quota(self) -> tuple[int, int]:
        if self.version == 2:
            quota, period = (self.path / "cpu.max").read_text().split()
            return int(quota), int(period)
        return (int((self.path / "cpu.cfs_quota_us").read_text()),
                int((self.path / "cpu.cfs_period_us").read_text()))

    def oom_kills(self) -> int:
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        for line in (self.path / name).read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return 0


def _groups(pid: int) -> tuple[_Group, _Group]:
    """The memory and cpu control groups of a process, v1 or v2."""
    lines = [line.split(":", 2) for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines()]
    v1 = {c: path for _, controllers, path in lines for c in controllers.split(",") if c}
    root = Path("/sys/fs/cgroup")
    if "memory" in v1:
        return (_Group(root / "memory" / v1["memory"].lstrip("/"), 1),
                _Group(root / "cpu" / v1["cpu"].lstrip("/"), 1))
    unified = next(path for _, controllers, path in lines if not controllers)
    group = _Group(root / unified.lstrip("/"), 2)
    return group, group


def _cmdline(proc: Path) -> bytes:
    try:
        return (proc / "cmdline").read_bytes()
    except OSError:
        return b""


def _parent(proc: Path) -> int:
    try:
        return int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return -1
