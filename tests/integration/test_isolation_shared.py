"""`npuhub up` without root: it says, in both languages, that every server runs as one OS user, and lets
no real person sign in (OpenID Connect) unless the site file accepts that; the demo accounts keep working.

The stack runs as a throwaway unprivileged Unix user made for the test.
"""

from __future__ import annotations

import pwd
import secrets
import subprocess

import pytest
import requests

from npuhub.i18n import MESSAGES
from support.oidc_idp import CLIENT_SECRET, SECRET_ENV, oidc_site
from support.osusers import AS_ROOT
from support.parts import require
from support.sites import make_site
from support.stacks import EmbeddedStack

pytestmark = pytest.mark.integration

WARNING = MESSAGES["isolation_shared"]
REFUSAL = MESSAGES["isolation_shared_refused"]


@pytest.fixture(scope="module")
def runner():
    """An unprivileged Unix user to run the stack as, removed afterwards."""
    require(AS_ROOT, "root (to make an unprivileged user to run the stack as; CI runs as root)")
    name = f"t{secrets.token_hex(3)}-run"
    subprocess.run(["useradd", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin",
                    name], check=True)
    yield name
    subprocess.run(["userdel", "--force", name], check=False)


def said_in_both_languages(log: str, text, **values) -> bool:
    filled = text.format(**values)
    return filled.zh in log and filled.en in log


def test_real_sign_in_is_refused_on_a_shared_os_user_unless_the_site_accepts_it(runner, tmp_path, monkeypatch):
    monkeypatch.setenv(SECRET_ENV, CLIENT_SECRET)
    refused = EmbeddedStack(tmp_path / "refused", oidc_site("http://127.0.0.1:9"), run_as=runner)
    (tmp_path / "refused").mkdir()
    with pytest.raises(RuntimeError, match="exited with"):
        refused.start(timeout=60)
    log = refused.log_path.read_text()
    assert said_in_both_languages(log, WARNING, user=runner), log
    assert said_in_both_languages(log, REFUSAL, auth="OIDC"), log
    assert "Traceback" not in log

    site = oidc_site("http://127.0.0.1:9") | {"isolation": {"allow_shared_os_user": True}}
    (tmp_path / "accepted").mkdir()
    accepted = EmbeddedStack(tmp_path / "accepted", site, run_as=runner)
    try:
        accepted.start(timeout=90)
        log = accepted.log_path.read_text()
        assert said_in_both_languages(log, WARNING, user=runner), log
        assert REFUSAL.en.split(":")[0] not in log
        assert requests.get(accepted.base_url + "/hub/login", timeout=30).status_code in (200, 302)
    finally:
        accepted.stop()


def test_demo_accounts_keep_working_without_root_and_guests_are_not_let_in(runner, tmp_path):
    stack = EmbeddedStack(tmp_path, make_site(), run_as=runner)
    try:
        stack.start(timeout=90)
        log = stack.log_path.read_text()
        assert said_in_both_languages(log, WARNING, user=runner), log
        assert said_in_both_languages(log, MESSAGES["isolation_guests_off"]), log
        # no workshop codes while everyone's server can read everyone's files
        assert requests.get(stack.base_url + "/hub/join", timeout=30).status_code == 404
        assert stack.spawn("student1", "cpu").status_code in (201, 202)
        server = stack.admin.wait_for_server("student1")["servers"][""]
        status = open(f"/proc/{server['state']['pid']}/status").read()
        assert f"Uid:\t{pwd.getpwnam(runner).pw_uid}\t" in status  # the one OS user, as the warning said
        # its data directory is closed to everyone else
        assert stack.data_dir.stat().st_mode & 0o077 == 0
    finally:
        stack.stop()
