"""Workshop codes end to end on the real embedded stack: a teacher makes a code, guests join, it ends."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests

from support.kernels import run_in_kernel
from support.sites import DEMO_FLAVORS, flavor, make_site
from support.stacks import EmbeddedStack, pid_alive, process_env
from support.hubclient import HubAPI, HubSession
from npuhub.hubconfig import CLEANUP_INTERVAL_ENV

pytestmark = pytest.mark.integration

#: The clean-up runs every second here (30 s by default), so "within about a minute" takes a few seconds.
CLEANUP_SECONDS = 1
#: The demo flavors and an eighth of a card, for a workshop that holds its guests to it.
SITE = make_site(flavors=DEMO_FLAVORS + [flavor("npu-eighth", "1/8", memory="2G")])


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with pytest.MonkeyPatch.context() as env:
        env.setenv(CLEANUP_INTERVAL_ENV, str(CLEANUP_SECONDS))
        s = EmbeddedStack(tmp_path_factory.mktemp("workshops"), SITE).start()
    yield s
    s.stop()


def utf8(session: HubSession) -> HubSession:
    """Read pages as UTF-8, as page.html's <meta> says; the Content-Type does not, so requests guesses."""
    session.http.hooks["response"].append(lambda r, *args, **kwargs: setattr(r, "encoding", "utf-8"))
    return session


def signed_in(stack, user: str) -> HubSession:
    return utf8(stack.session(user))


def hidden_xsrf(html: str) -> str:
    return re.search(r'name="_xsrf" value="([^"]+)"', html).group(1)


def in_a_while(**delta) -> str:
    return (datetime.now(timezone.utc) + timedelta(**delta)).isoformat()


def make_code(teacher: HubSession, **fields):
    """The teacher's form, as her browser sends it; the response is 303 to the code's page on success."""
    page = teacher.http.get(teacher.url("/hub/workshops"), timeout=30)
    data = {"group": "course-demo", "starts_at": "", "ends_at": in_a_while(hours=1), "flavor": "",
            "max_guests": "", "_xsrf": hidden_xsrf(page.text) if page.status_code == 200 else teacher.xsrf}
    data.update(fields)
    return teacher.http.post(teacher.url("/hub/workshops"), data=data, allow_redirects=False, timeout=30)


def new_code(teacher: HubSession, **fields) -> str:
    r = make_code(teacher, **fields)
    assert r.status_code == 303, r.text[:2000]
    return r.headers["location"].rsplit("/", 1)[1]


def join(stack, code: str, name: str):
    """A guest's browser: the sign-in page, then the form. Returns (session, response)."""
    guest = utf8(HubSession(stack.base_url))
    page = guest.http.get(guest.url("/hub/join"), params={"code": code}, timeout=30)
    assert page.status_code == 200
    r = guest.http.post(guest.url("/hub/join"), timeout=30, allow_redirects=False,
                        data={"workshop_code": code, "display_name": name, "_xsrf": hidden_xsrf(page.text)})
    return guest, r


def whoami(session: HubSession) -> str:
    r = session.api("GET", "/user")
    r.raise_for_status()
    return r.json()["name"]


def refused(response, status: int, reason: str, *words: str) -> None:
    assert response.status_code == status, response.text[:2000]
    assert f'data-reason="{reason}"' in response.text
    for word in words:
        assert word in response.text, word
    assert "Traceback" not in response.text


def wait_until(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout:.0f} s"
        time.sleep(0.3)


def account_exists(stack, name: str) -> bool:
    r = stack.admin("GET", f"/users/{name}")
    assert r.status_code in (200, 404), r.text
    return r.status_code == 200


def test_a_teacher_makes_a_code_and_thirty_guests_join(stack):
    anonymous = utf8(HubSession(stack.base_url))
    login = anonymous.http.get(anonymous.url("/hub/login"), timeout=30).text
    assert "有工作坊邀请码？" in login and "Have a workshop code?" in login and 'href="/hub/join"' in login

    teacher = signed_in(stack, "teacher1")
    page = teacher.http.get(teacher.url("/hub/workshops"), timeout=30)
    assert page.status_code == 200
    assert "工作坊邀请码" in page.text and 'href="/hub/workshops"' in page.text  # the page, and the nav link
    assert '<option value="course-demo"' in page.text and '<option value="lab-demo"' not in page.text
    code = new_code(teacher, flavor="cpu", max_guests="30")
    assert re.fullmatch(r"[A-HJKMNP-Z2-9]{8}", code)
    shown = teacher.http.get(teacher.url(f"/hub/workshops/{code}"), timeout=30).text
    assert f"{code[:4]}-{code[4:]}" in shown and "/hub/join?code=" in shown

    # Thirty people at once, some with the same name: thirty distinct accounts.
    names = ["Li Lei"] * 3 + ["张三"] * 3 + [f"Guest {i}" for i in range(24)]
    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        joined = list(pool.map(lambda name: join(stack, code, name), names))
    elapsed = time.monotonic() - started
    assert all(r.status_code == 302 for _, r in joined), [r.status_code for _, r in joined]
    accounts = [whoami(s) for s, _ in joined]
    assert len(set(accounts)) == 30 and all(a.startswith("guest-") for a in accounts)
    assert not any(code.lower() in a for a in accounts)  # the code never shows in a server's URL
    assert len([a for a in accounts if re.fullmatch(r"guest-li-lei-[a-z2-9]{4}", a)]) == 3
    assert len([a for a in accounts if re.fullmatch(r"guest-[a-z2-9]{6}", a)]) == 3  # 张三
    for name in accounts[:5]:
        model = stack.admin.user(name)
        # the third group holds her to the workshop's flavor at the npuhub service
        assert sorted(model["groups"]) == ["course-demo", "workshop-flavor-cpu", "workshop-guests"]
        assert sorted(model["roles"]) == ["npuhub-user", "user"] and model["admin"] is False
    assert elapsed < 20, f"30 sign-ins took {elapsed:.1f} s"
    again = joined[0][0].http.get(stack.base_url + "/hub/join", allow_redirects=False, timeout=30)
    assert again.status_code == 302  # signed in already: no second account by mistake

    _, late = join(stack, code, "Number 31")
    refused(late, 403, "workshop_full", "工作坊已满", "The workshop is full (30 guests at most)")
    listing = teacher.http.get(teacher.url("/hub/workshops"), timeout=30).text
    assert re.search(rf'data-code="{code}".*?30 / 30', listing, re.S)
    unbounded = new_code(teacher)  # "most guests" left empty: the default limit, not any number
    listing = teacher.http.get(teacher.url("/hub/workshops"), timeout=30).text
    assert re.search(rf'data-code="{unbounded}".*?0 / 60', listing, re.S)


def test_only_teachers_make_codes_and_only_for_their_courses(stack):
    student = signed_in(stack, "student1")
    page = student.http.get(student.url("/hub/workshops"), timeout=30)
    assert page.status_code == 403
    assert "只有老师可以管理工作坊邀请码" in page.text and "Only teachers can manage workshop codes" in page.text
    assert "Traceback" not in page.text
    home = student.http.get(student.url("/hub/home"), timeout=30).text
    assert 'href="/hub/workshops"' not in home  # no nav link for students
    assert make_code(student).status_code == 403

    teacher = signed_in(stack, "teacher1")
    r = make_code(teacher, group="lab-demo")
    refused(r, 403, "not_teacher_of_group", "您不是“lab-demo”的老师", "You do not teach &#39;lab-demo&#39;")
    refused(make_code(teacher, flavor="npu-1"), 400, "flavor_not_allowed", "npu-1")
    refused(make_code(teacher, ends_at=in_a_while(hours=-1)), 400, "window_past", "结束时间已经过去")
    refused(make_code(teacher, max_guests="0"), 400, "max_guests_invalid")

    # A code of a lab she does not lead: she can neither see nor revoke it.
    lab_code = new_code(signed_in(stack, "admin"), group="lab-demo")
    assert teacher.http.get(teacher.url(f"/hub/workshops/{lab_code}"), timeout=30).status_code == 403
    r = teacher.http.post(teacher.url(f"/hub/workshops/{lab_code}/revoke"), data={"_xsrf": teacher.xsrf},
                          allow_redirects=False, timeout=30)
    assert r.status_code == 403
    _, guest = join(stack, lab_code, "still welcome")
    assert guest.status_code == 302

    _, r = join(stack, "ZZZZ-ZZZZ", "someone")
    refused(r, 404, "code_unknown", "邀请码“ZZZZ-ZZZZ”不存在", "There is no workshop code")
    for name, reason in (("   ", "name_empty"), ("x" * 41, "name_too_long")):
        _, r = join(stack, lab_code, name)
        refused(r, 400, reason)


def test_a_code_ends_on_time_and_its_guests_are_removed(stack):
    teacher = signed_in(stack, "teacher1")
    ends = datetime.now(timezone.utc) + timedelta(seconds=4)
    code = new_code(teacher, ends_at=ends.isoformat())
    guests = [whoami(join(stack, code, name)[0]) for name in ("Early", "Bird")]
    assert all(account_exists(stack, g) for g in guests)

    time.sleep(max(0.0, (ends - datetime.now(timezone.utc)).total_seconds() + 0.2))
    _, late = join(stack, code, "Late")
    refused(late, 403, "code_expired", "邀请码已过期", "This workshop code has expired")
    wait_until(lambda: not any(account_exists(stack, g) for g in guests), 10 + 2 * CLEANUP_SECONDS,
               "removing the guests of an expired code")
    page = teacher.http.get(teacher.url(f"/hub/workshops/{code}"), timeout=30).text
    assert 'data-state="ended"' in page and page.count("已删除 / removed") == 2


def test_a_guest_runs_only_the_workshop_flavor_until_the_code_is_revoked(stack):
    teacher = signed_in(stack, "teacher1")
    code = new_code(teacher, flavor="cpu")
    guest, r = join(stack, code, "Han Meimei")
    assert r.status_code == 302
    name = whoami(guest)

    form = guest.spawn_form().text
    assert form.count('name="profile"') == 1 and 'value="cpu"' in form
    r = guest.post_spawn({"profile": "npu-quarter"}, name)
    assert r.status_code == 403 and "Flavors you may use: cpu" in r.text
    r = guest.api("POST", f"/users/{name}/server", json={"profile": "npu-quarter"})
    assert r.status_code == 403, r.text
    assert guest.post_spawn({"profile": "cpu"}, name).status_code == 302
    # A student's server runs beside it and must survive the clean-up.
    assert stack.spawn("student1", "cpu").status_code in (201, 202)
    guest_pid = stack.admin.wait_for_server(name)["servers"][""]["state"]["pid"]
    assert process_env(guest_pid)["NPUHUB_FLAVOR"] == "cpu"
    student_pid = stack.admin.wait_for_server("student1")["servers"][""]["state"]["pid"]

    shown = teacher.http.get(teacher.url(f"/hub/workshops/{code}"), timeout=30)
    r = teacher.http.post(teacher.url(f"/hub/workshops/{code}/revoke"), allow_redirects=False, timeout=30,
                          data={"_xsrf": hidden_xsrf(shown.text)})
    assert r.status_code == 303
    _, late = join(stack, code, "Too late")
    refused(late, 403, "code_revoked", "老师已撤销这个邀请码", "The teacher has revoked this workshop code")

    wait_until(lambda: not account_exists(stack, name), 15 + 2 * CLEANUP_SECONDS,
               "removing a revoked code's guest")
    assert not pid_alive(guest_pid)
    home = guest.http.get(guest.url("/hub/home"), allow_redirects=False, timeout=30)
    assert home.status_code == 302 and "/hub/login" in home.headers["location"]  # signed out
    assert pid_alive(student_pid) and stack.admin.user("student1")["servers"][""]["ready"]
    r = stack.admin("DELETE", "/users/student1/server")
    assert r.status_code in (202, 204)
    stack.admin.wait_for_server("student1", ready=False)


def service_requests(stack, user: str) -> list[dict]:
    """The user's requests at the npuhub service, as an admin reads them through the hub's proxy."""
    r = stack.admin.http.get(stack.base_url + "/services/npuhub/api/v1/requests", params={"user": user},
                             timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["requests"]


def test_revoking_stops_a_queued_start_and_a_named_server_then_removes_the_guests(stack):
    """Issue 10 item 6 and issue 17: neither a start waiting in the queue nor a named server keeps a guest."""
    log_before = stack.log_path.stat().st_size
    teacher = signed_in(stack, "teacher1")
    code = new_code(teacher)
    waiting_guest, busy_guest = (join(stack, code, name)[0] for name in ("Queued", "Named"))
    waiting, busy = whoami(waiting_guest), whoami(busy_guest)
    assert stack.spawn("labmember1", "npu-1").status_code in (201, 202)  # the whole pool
    try:
        stack.admin.wait_for_server("labmember1")
        r = waiting_guest.api("POST", f"/users/{waiting}/server", json={"profile": "npu-quarter"})
        assert r.status_code == 202, r.text
        wait_until(lambda: [q["state"] for q in service_requests(stack, waiting)] == ["waiting"], 30,
                   "the guest's start waiting in the queue")
        r = busy_guest.api("POST", f"/users/{busy}/servers/notes", json={"profile": "cpu"})
        assert r.status_code in (201, 202), r.text
        wait_until(lambda: (stack.admin.user(busy)["servers"].get("notes") or {}).get("ready"), 60,
                   "the guest's named server starting")
        busy_pid = stack.admin.user(busy)["servers"]["notes"]["state"]["pid"]

        shown = teacher.http.get(teacher.url(f"/hub/workshops/{code}"), timeout=30)
        started = time.monotonic()
        r = teacher.http.post(teacher.url(f"/hub/workshops/{code}/revoke"), allow_redirects=False, timeout=30,
                              data={"_xsrf": hidden_xsrf(shown.text)})
        assert r.status_code == 303 and time.monotonic() - started < 5  # answered at once

        wait_until(lambda: not account_exists(stack, waiting) and not account_exists(stack, busy),
                   20 + 2 * CLEANUP_SECONDS, "removing the guests of a revoked code")
        assert not pid_alive(busy_pid)
        assert service_requests(stack, waiting) and all(
            q["state"] in ("cancelled", "released") for q in service_requests(stack, waiting))
        page = teacher.http.get(teacher.url(f"/hub/workshops/{code}"), timeout=30).text
        assert page.count("已删除 / removed") == 2 and "being removed" not in page
        with open(stack.log_path, errors="replace") as f:
            f.seek(log_before)
            log = f.read()
        assert "Traceback" not in log and "is active and cannot be deleted" not in log, log[-6000:]
        assert not re.search(r"\b500 (GET|POST|DELETE) ", log), log[-6000:]
    finally:
        r = stack.admin("DELETE", "/users/labmember1/server")
        assert r.status_code in (202, 204)
        stack.admin.wait_for_server("labmember1", ready=False)


def test_the_clean_up_can_remove_guests_and_nobody_else(stack):
    token = (stack.data_dir / "workshops-token").read_text().strip()
    service = HubAPI(stack.base_url, token)
    for person in ("student2", "teacher1", "admin"):
        stack.session(person)
        assert service("DELETE", f"/users/{person}").status_code in (403, 404)
        assert account_exists(stack, person)
    assert service("GET", "/users").status_code == 403  # it cannot even list people

    code = new_code(signed_in(stack, "teacher1"))
    name = whoami(join(stack, code, "Removable")[0])
    assert service("DELETE", f"/users/{name}").status_code == 204


def test_a_burst_of_wrong_codes_is_slowed_down_and_the_right_code_works_afterwards(stack):
    code = new_code(signed_in(stack, "teacher1"))
    guesser = utf8(HubSession(stack.base_url))
    xsrf = hidden_xsrf(guesser.http.get(guesser.url("/hub/join"), timeout=30).text)

    def attempt(typed: str):
        return guesser.http.post(guesser.url("/hub/join"), allow_redirects=False, timeout=30,
                                 data={"workshop_code": typed, "display_name": "Guesser", "_xsrf": xsrf})

    answers = []
    for n in range(16):
        answers.append(attempt(f"ZZZZ-ZZ{'ABCDEFGHJKMNPQRS'[n]}Z"))
        if answers[-1].status_code != 404:
            break
    assert [r.status_code for r in answers[:9]] == [404] * 9  # a few mistakes cost nothing
    held = answers[-1]
    refused(held, 429, "join_throttled", "输入错误的邀请码次数过多", "Too many wrong codes")
    assert held.headers.get("X-Content-Type-Options") == "nosniff"
    wait = int(held.headers["Retry-After"])
    assert 1 <= wait <= 300 and f"try again in {wait} s" in held.text
    time.sleep(wait + 0.2)
    r = attempt(code)
    assert r.status_code == 302, r.text[:2000]


#: What a guest's notebook runs: the server's own token, and asking the service for a quarter card with it.
KERNEL_CODE = """
import json, os, urllib.error, urllib.request
token = os.environ["JUPYTERHUB_API_TOKEN"]

def call(method, url, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={
        "Authorization": "token " + token, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")

api = os.environ["NPUHUB_URL"] + "api/v1"
print(json.dumps({"token": token, "whoami": call("GET", os.environ["JUPYTERHUB_API_URL"] + "/user"),
                  "quarter": call("POST", api + "/requests", {"flavor": "npu-quarter", "server": "kernel"}),
                  "menu": call("GET", api + "/flavors"), "me": call("GET", api + "/me")}))
"""


def test_a_guest_held_to_an_eighth_gets_nothing_more_and_nothing_outlives_her_workshop(stack):
    """Issue 17: from a guest's kernel, the service refuses her a quarter card; when her workshop ends, her
    default and named servers stop, her account goes within the minute, and every token she had is refused."""
    teacher = signed_in(stack, "teacher1")
    ends = datetime.now(timezone.utc) + timedelta(seconds=50)
    code = new_code(teacher, flavor="npu-eighth", ends_at=ends.isoformat())
    guest, r = join(stack, code, "Held to an eighth")
    assert r.status_code == 302
    name = whoami(guest)
    r = guest.api("POST", f"/users/{name}/tokens", json={"note": "my own"})  # as the guest did
    assert r.status_code == 201, r.text
    own_token = r.json()["token"]

    form = guest.spawn_form().text
    assert form.count('name="profile"') == 1 and 'value="npu-eighth"' in form
    assert guest.post_spawn({"profile": "npu-eighth"}, name).status_code == 302
    r = guest.api("POST", f"/users/{name}/servers/notes", json={"profile": "npu-eighth"})
    assert r.status_code in (201, 202), r.text
    wait_until(lambda: all((stack.admin.user(name)["servers"].get(s) or {}).get("ready") for s in ("", "notes")),
               40, "the guest's default and named servers starting")
    servers = stack.admin.user(name)["servers"]
    pids = [servers[s]["state"]["pid"] for s in ("", "notes")]

    seen = json.loads(run_in_kernel(stack.base_url, name, own_token, KERNEL_CODE).strip().splitlines()[-1])
    server_token = seen["token"]
    assert seen["whoami"][0] == 200 and seen["whoami"][1]["name"] == name
    status, refusal = seen["quarter"]
    assert status == 403 and refusal["reason"] == "flavor_not_allowed", refusal
    assert "This workshop allows only npu-eighth" in refusal["message"]["en"]
    assert "这个工作坊只允许使用规格 npu-eighth" in refusal["message"]["zh"]
    assert [f["id"] for f in seen["menu"][1]["flavors"]] == ["npu-eighth"]
    assert [f["id"] for f in seen["me"][1]["flavors"]] == ["npu-eighth"]
    assert sorted(h["server"] for h in seen["me"][1]["holdings"]) == ["", "notes"]  # the refusal took nothing
    assert all(h["flavor"] == "npu-eighth" for h in seen["me"][1]["holdings"])

    assert datetime.now(timezone.utc) < ends, "the servers took too long to start: the workshop ended first"
    time.sleep(max(0.0, (ends - datetime.now(timezone.utc)).total_seconds()))
    wait_until(lambda: not account_exists(stack, name), 60, "removing the guest within a minute of the end")
    assert (datetime.now(timezone.utc) - ends).total_seconds() < 60
    assert not any(pid_alive(pid) for pid in pids), "a server of the guest outlived her account"
    assert [q["state"] for q in service_requests(stack, name)] == ["released", "released"]

    service = stack.base_url + "/services/npuhub/api/v1"
    for token in (server_token, own_token):
        auth = {"Authorization": f"token {token}"}
        r = requests.get(stack.base_url + "/hub/api/user", headers=auth, timeout=30)
        assert r.status_code == 403, (r.status_code, r.text[:300])
        r = requests.post(service + "/requests", json={"flavor": "npu-eighth"}, headers=auth, timeout=30)
        assert r.status_code == 401 and r.json()["reason"] == "not_signed_in", (r.status_code, r.text[:300])
        r = requests.post(stack.base_url + f"/hub/api/users/{name}/server", headers=auth, timeout=30)
        assert r.status_code in (403, 404), (r.status_code, r.text[:300])
    home = guest.http.get(guest.url("/hub/home"), allow_redirects=False, timeout=30)
    assert home.status_code == 302 and "/hub/login" in home.headers["location"]  # her browser is signed out


def test_hub_and_workshop_pages_forbid_content_sniffing(stack):
    teacher = signed_in(stack, "teacher1")
    code = new_code(teacher)
    for page in ("/hub/login", "/hub/join", "/hub/home", "/hub/workshops", f"/hub/workshops/{code}",
                 "/hub/api/user"):
        r = teacher.http.get(teacher.url(page), timeout=30)
        assert r.status_code == 200 and r.headers.get("X-Content-Type-Options") == "nosniff", page
    # error pages too: a page that is not there, a workshop she cannot see, a refused guest
    for page, status in (("/hub/no-such-page", 404), ("/hub/workshops/ZZZZZZZZ", 404)):
        r = teacher.http.get(teacher.url(page), timeout=30)
        assert r.status_code == status and r.headers.get("X-Content-Type-Options") == "nosniff", page
    _, r = join(stack, "ZZZZ-ZZZZ", "someone")
    assert r.status_code == 404 and r.headers.get("X-Content-Type-Options") == "nosniff"


def test_non_guests_are_untouched(stack):
    """Run last: after every clean-up above, the demo accounts are all still there."""
    users = {u["name"]: u for u in stack.admin("GET", "/users").json()}
    for person in ("student1", "student2", "teacher1", "admin"):
        assert person in users
    assert sorted(users["teacher1"]["groups"]) == ["course-demo", "teachers"]
    assert not any("workshop-guests" in u["groups"] for n, u in users.items() if not n.startswith("guest-"))


#: The small site, with a name for the quarter flavor that only the site file (and so the service) knows.
NAMED_SITE = make_site()
NAMED_SITE["flavors"] = [dict(f, display_name={"zh": "四分之一张卡", "en": "A quarter of a card"})
                         if f["id"] == "npu-quarter" else f for f in NAMED_SITE["flavors"]]


def service_pid(stack) -> int:
    """The npuhub service the hub started for ``stack`` (it runs in the stack's data directory)."""
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            if b"npuhub.service" in cmdline and (proc / "cwd").resolve() == stack.data_dir.resolve():
                return int(proc.name)
        except (OSError, ValueError):
            continue
    raise AssertionError("no npuhub service process for this stack")


def test_the_hub_takes_the_flavors_from_the_service_never_from_the_site_file(tmp_path):
    """Issue 9: only the service reads the site file, at its start. Garbage on disk afterwards changes nothing
    the teacher sees; the service gone is a sentence in both languages, and the codes stay usable."""
    stack = EmbeddedStack(tmp_path, NAMED_SITE).start()
    site = stack.config.read_text()
    try:
        stack.config.write_text("flavors: [this is {not a site file\n")
        teacher = signed_in(stack, "teacher1")
        page = teacher.http.get(teacher.url("/hub/workshops"), timeout=30)
        assert page.status_code == 200, page.text[:2000]
        select = page.text.split('name="flavor"')[1].split("</select>")[0]
        offered = re.findall(r'<option value="([^"]+)"', select)
        assert offered == ["cpu", "npu-quarter"]  # course-demo's menu, as the service read it at its start
        assert "四分之一张卡 / A quarter of a card" in page.text
        refused(make_code(teacher, flavor="npu-half"), 400, "flavor_not_allowed",
                "Flavors of &#39;course-demo&#39;: cpu, npu-quarter")
        code = new_code(teacher, flavor="npu-quarter")
        shown = teacher.http.get(teacher.url(f"/hub/workshops/{code}"), timeout=30)
        assert shown.status_code == 200 and "四分之一张卡 / A quarter of a card" in shown.text

        # The hub starts it again at its next poll, and that start stops at the garbage: it stays down.
        os.kill(service_pid(stack), signal.SIGKILL)
        log_before = stack.log_path.stat().st_size
        listing = teacher.http.get(teacher.url("/hub/workshops"), timeout=30)
        refused(listing, 503, "service_unreachable", "暂时无法连接资源调度服务",
                "The npuhub scheduling service cannot be reached right now; please try again in a minute.")
        assert f'data-code="{code}"' in listing.text and "npu-quarter" in listing.text  # by id, still listed
        refused(make_code(teacher, flavor="cpu"), 503, "service_unreachable", "try again in a minute")
        assert new_code(teacher)  # a code for any flavor of the course needs no menu
        shown = teacher.http.get(teacher.url(f"/hub/workshops/{code}"), timeout=30)
        assert shown.status_code == 200 and 'data-reason="service_unreachable"' in shown.text
        assert f"{code[:4]}-{code[4:]}" in shown.text  # still on the projector
        with open(stack.log_path, errors="replace") as f:
            f.seek(log_before)
            log = f.read()
        assert "Traceback" not in log and not re.search(r"\b500 (GET|POST) ", log), log[-6000:]
    finally:
        stack.config.write_text(site)
        stack.stop()


def test_the_page_takes_a_roster_file_materials_and_a_budget(stack):
    teacher = signed_in(stack, "teacher1")
    page = teacher.http.get(teacher.url("/hub/workshops"), timeout=30)
    fields = {"group": "course-demo", "starts_at": "", "ends_at": in_a_while(hours=1), "flavor": "",
              "max_guests": "", "roster": "student7", "reserve": "", "budget_hours": "7.5",
              "materials_repo": "https://git.example.edu/ai101/notebooks", "materials_branch": "week-2",
              "materials_path": "", "_xsrf": hidden_xsrf(page.text)}
    r = teacher.http.post(teacher.url("/hub/workshops"), data=fields, allow_redirects=False, timeout=30,
                          files={"roster_file": ("ai101.csv", "学号,姓名\nstudent8,李四\nstudent9,王五\n", "text/csv")})
    assert r.status_code == 303, r.text[:2000]
    shown = teacher.http.get(teacher.url(r.headers["location"]), timeout=30).text
    assert "/ Roster</span>: 3" in shown and "7.5 设备时 / device-hours" in shown
    assert "git-pull?repo=https%3A%2F%2Fgit.example.edu%2Fai101%2Fnotebooks&amp;branch=week-2" in shown
    assert shown.count('<tr data-user="student') == 3 and 'data-state="not_signed_in"' in shown
    # a count to reserve without a flavor is refused on the page, in both languages
    fields.update(reserve="5", _xsrf=hidden_xsrf(page.text))
    refused(teacher.http.post(teacher.url("/hub/workshops"), data=fields, timeout=30), 400, "reserve_invalid",
            "需要选择一个规格", "with a flavor chosen")
