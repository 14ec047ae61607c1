"""The admin command line (``npuhub quota``, ``reserve``, ``queue``, ``pool``) as people run it.

Each test runs the real ``npuhub`` command in a subprocess against the real hub
and the real service (``service_stack``), with the person's own hub token in
``$NPUHUB_TOKEN``, and reads what a person would read: stdout, stderr and the
exit status.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
import threading
import time

import pytest
from support.stacks import free_port

pytestmark = pytest.mark.integration

#: Variables that would otherwise leak from the developer's shell into the command under test.
CONNECTION_VARIABLES = ("NPUHUB_URL", "NPUHUB_TOKEN", "JUPYTERHUB_API_TOKEN", "NPUHUB_RESTART_WAIT",
                        "LC_ALL", "LC_MESSAGES", "LANG")


def npuhub(*args: str, url: str | None = None, token: str | None = None,
           **env_vars: str) -> subprocess.CompletedProcess:
    """The command in an English locale (``--lang zh`` for Chinese), with ``env_vars`` added to the environment."""
    env = {k: v for k, v in os.environ.items() if k not in CONNECTION_VARIABLES}
    env.update({"LC_ALL": "C.UTF-8", **env_vars})
    if url:
        env["NPUHUB_URL"] = url
    if token:
        env["NPUHUB_TOKEN"] = token
    return subprocess.run([sys.executable, "-m", "npuhub.cli", *args], check=False, env=env, capture_output=True,
                          text=True, timeout=30)


def as_user(svc, user: str, *args: str) -> subprocess.CompletedProcess:
    """``npuhub ARGS`` run by ``user``: the hub's address and her token in the environment."""
    return npuhub(*args, url=svc.hub.base_url, token=svc.hub.token(user))


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert result.stderr == ""
    return result.stdout


def refused(result: subprocess.CompletedProcess) -> str:
    """A refusal: status 1, a sentence on stderr (never a traceback), nothing on stdout."""
    assert result.returncode == 1, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert result.stderr.startswith("npuhub: ")
    return result.stderr


def row(output: str, *needles: str) -> str:
    """The one line of a table that holds every needle."""
    lines = [line for line in output.splitlines() if all(n in line for n in needles)]
    assert len(lines) == 1, f"{needles} in:\n{output}"
    return lines[0]


def test_admin_adjusts_a_budget_and_reads_the_ledger(start_service):
    svc = start_service()
    # the first change opens the account with its daily device-hour, then adds two
    out = ok(as_user(svc, "admin", "quota", "adjust", "user:student3", "+2", "--reason", "tests: course project"))
    assert out.startswith("user:student3: +2 device-hours, 1 -> 3 (ledger entry ")
    # a negative fraction is written as it is, and a bare name is a person's account
    out = ok(as_user(svc, "admin", "quota", "adjust", "student3", "-1/2", "--reason", "tests: returned"))
    assert "-1/2 (-0.5) device-hours, 3 -> 5/2 (2.5)" in out and "by admin: tests: returned" in out

    ledger = ok(as_user(svc, "admin", "quota", "ledger", "user:student3", "--limit", "2"))
    lines = ledger.splitlines()
    assert lines[0].split() == ["ENTRY", "WHEN", "KIND", "AMOUNT", "BEFORE", "AFTER", "BY", "WHY"]
    newest = row(ledger, "tests: returned")
    assert re.search(r"\((now|\d+ s ago)\)\s+adjust\s+-1/2 \(-0\.5\)\s+3\s+5/2 \(2\.5\)\s+admin\s+tests: returned$", newest)
    assert lines.index(newest) == 1 and "tests: course project" in lines[2] and len(lines) == 5  # limit 2
    # the columns line up
    assert lines[1].index("adjust") == lines[2].index("adjust") == lines[0].index("KIND")

    entries = json.loads(ok(as_user(svc, "admin", "quota", "ledger", "user:student3", "--json")))["entries"]
    assert [(e["kind"], e["amount"]["exact"], e["after"]["exact"]) for e in entries] == [
        ("adjust", "-1/2", "5/2"), ("adjust", "2", "3"), ("grant", "1", "1")]

    # she sees her balance, and when it renews, in her local time
    mine = ok(as_user(svc, "student3", "quota", "show"))
    assert re.search(r"^user:student3\s+5/2 \(2\.5\)\s+1\s+1\s+day\s+\d{4}-\d\d-\d\d \d\d:\d\d .*\(in ", mine, re.MULTILINE)
    assert json.loads(ok(as_user(svc, "student3", "quota", "show", "--json")))["user"] == "student3"

    # only operators adjust: the service's sentence in both languages, the scope and where the token came from
    err = refused(as_user(svc, "student3", "quota", "adjust", "user:student3", "5", "--reason", "please"))
    assert "You are not allowed to do this (it needs custom:npuhub:operate)" in err
    assert "The token from $NPUHUB_TOKEN does not carry that scope" in err
    in_chinese = as_user(svc, "student3", "quota", "adjust", "student3", "5", "--reason", "r", "--lang", "zh")
    assert "您没有权限" in refused(in_chinese)
    # nor may she read someone else's ledger
    assert "custom:npuhub:operate" in refused(as_user(svc, "student4", "quota", "ledger", "student3"))
    # a token the hub does not know
    err = refused(npuhub("quota", "show", "--url", svc.hub.base_url, "--token", "not-a-token"))
    assert "Please sign in first" in err and "does not accept the token from --token" in err


def test_teacher_reserves_for_her_course_and_not_for_another(start_service):
    svc = start_service()
    ends = (dt.datetime.now() + dt.timedelta(hours=2)).replace(microsecond=0).isoformat()  # local time, no zone
    window = ["--flavor", "npu-quarter", "--count", "2", "--start", "now", "--end", ends]

    out = ok(as_user(svc, "teacher1", "reserve", "create", "--group", "course-demo", *window, "--hold", "5"))
    assert out.startswith("Reserved 2 x npu-quarter for course-demo, ")
    assert "lent to others 5 min after the start" in out
    rid = re.search(r"reservation (\S+)\.$", out, re.MULTILINE).group(1)

    listing = ok(as_user(svc, "teacher1", "reserve", "list"))
    line = row(listing, rid)
    assert re.search(r"course-demo\s+npu-quarter\s+2\s+\d{4}-\d\d-\d\d \d\d:\d\d(-| to ).* \(ends in 2 h\)\s+active\s+2\s+0\s+"
                     r"teacher1$", line), listing
    # her course's students see it too; another course does not
    assert rid in ok(as_user(svc, "student2", "reserve", "list"))
    assert json.loads(ok(as_user(svc, "aistudent1", "reserve", "list", "--json"))) == {"reservations": []}

    # another group's reservation is not hers to make, nor hers to end
    err = refused(as_user(svc, "teacher1", "reserve", "create", "--group", "course-ai", *window))
    assert "You are not allowed to do this (it needs custom:npuhub:teach!group=course-ai)" in err
    err = refused(as_user(svc, "teacher2", "reserve", "cancel", rid))
    assert "custom:npuhub:teach!group=course-demo" in err

    assert ok(as_user(svc, "teacher1", "reserve", "cancel", rid)) == f"Reservation {rid} ended; the slices it held are free.\n"
    assert ok(as_user(svc, "teacher1", "reserve", "list")) == "No reservations you may see.\n"
    assert f"There is no reservation {rid}." in refused(as_user(svc, "teacher1", "reserve", "cancel", rid))


def test_queue_shows_the_waiting_request_with_its_position(start_service):
    svc = start_service()
    granted = [svc.client(f"student{i}").post("/requests", {"flavor": "npu-quarter"}) for i in range(1, 9)]
    assert [r.status_code for r in granted] == [201] * 8
    r = svc.client("student9").post("/requests", {"flavor": "npu-quarter"})
    assert r.status_code == 202, r.text
    waiting = r.json()

    hers = ok(as_user(svc, "student9", "queue"))
    assert hers.splitlines()[0].split() == ["#", "WHO", "FLAVOR", "MODEL", "WAITED", "ESTIMATED", "START", "REQUEST"]
    line = row(hers, waiting["id"])
    assert re.match(r"1\s+student9 \(you\)\s+npu-quarter\s+Ascend 910B\s+\d+ s\s+[-\d ]*\d\d:\d\d \(in about \d+ (s|min|h)\b",
                    line), hers
    # another student sees the place, not the name nor the id
    other = ok(as_user(svc, "student1", "queue"))
    assert "(someone)" in other and "student9" not in other and waiting["id"] not in other
    # staff see everything; --model filters, --json is the API's answer
    assert waiting["id"] in ok(as_user(svc, "admin", "queue", "--model", "Ascend 910B"))
    assert ok(as_user(svc, "admin", "queue", "--model", "Other")) == "No one is waiting for Other.\n"
    data = json.loads(ok(as_user(svc, "admin", "queue", "--json")))
    assert data["length"] == 1 and data["queue"][0]["user"] == "student9" and data["queue"][0]["position"] == 1

    pool = ok(as_user(svc, "admin", "pool"))
    assert re.search(r"^Ascend 910B\s+\S+\s+2\s+2\s+0\s+0\s+1$", pool, re.MULTILINE), pool
    assert len(re.findall(r"Ascend 910B\s+schedulable\s+[01]\s+1\s+0\s+\[########\]$", pool, re.MULTILINE)) == 2
    assert json.loads(ok(as_user(svc, "student1", "pool", "--json")))["models"][0]["free"] == "0"

    # she cannot withdraw someone else's place; her teacher can; a running session is not touched
    assert "You are not allowed" in refused(as_user(svc, "student1", "queue", "cancel", waiting["id"]))
    out = ok(as_user(svc, "teacher1", "queue", "cancel", waiting["id"]))
    assert out == f"Request {waiting['id']} of student9 (npu-quarter) left the queue.\n"
    assert "No one is waiting." in ok(as_user(svc, "student9", "queue"))
    err = refused(as_user(svc, "admin", "queue", "cancel", granted[0].json()["id"]))
    assert "is not waiting: it holds 1/4 Ascend 910B" in err


def test_unreachable_service_or_missing_token_is_said_plainly(start_service):
    port = free_port()
    err = refused(npuhub("pool", "--url", f"http://127.0.0.1:{port}", "--token", "t"))
    assert err.startswith(f"npuhub: cannot reach the npuhub service at http://127.0.0.1:{port}: connection refused")
    # the hub is up but the service is not: its proxy answers in its place, as while the hub restarts it
    svc = start_service()
    svc.kill()
    started = time.monotonic()
    err = refused(npuhub("queue", url=svc.hub.base_url, token=svc.hub.token("admin"), NPUHUB_RESTART_WAIT="2"))
    assert err.startswith("npuhub: The npuhub service is restarting; trying again…\n") and "html" not in err.lower()
    assert err.endswith("It did not come back within 2 s. Try again later; if it persists, tell the centre's "
                        "staff.\n")
    assert 1.5 < time.monotonic() - started < 20
    # no token anywhere
    err = refused(npuhub("quota", "show", url=svc.hub.base_url))
    assert "no API token" in err and f"{svc.hub.base_url}/hub/token" in err


def test_a_restart_of_the_service_is_waited_out(start_service):
    """The hub's real proxy answers for the killed service; the command waits, then shows the answer."""
    svc = start_service()
    svc.kill()
    env = {k: v for k, v in os.environ.items() if k not in CONNECTION_VARIABLES}
    env.update(LC_ALL="C.UTF-8", NPUHUB_URL=svc.hub.base_url, NPUHUB_TOKEN=svc.hub.token("admin"))
    waiting = subprocess.Popen([sys.executable, "-m", "npuhub.cli", "pool"], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    stuck = threading.Timer(60, waiting.kill)  # a command that never says anything fails, not hangs
    stuck.start()
    try:
        said = waiting.stderr.readline()  # it has met the proxy's page, and waits
        assert waiting.poll() is None, said
        svc.start()  # as the hub would restart it
        out, err = waiting.communicate(timeout=40)
        err = said + err
    finally:
        stuck.cancel()
        if waiting.poll() is None:
            waiting.kill()
    assert waiting.returncode == 0, err
    assert err == "npuhub: The npuhub service is restarting; trying again…\n"
    assert out.startswith("MODEL") and "Ascend 910B" in out
