"""The real OpenID Connect provider of tests/idp/oidc as a subprocess, and a person signing in through it.

``OIDCProvider`` runs ``node tests/idp/oidc/server.js`` on a loopback port with
the accounts of ``ACCOUNTS``; ``authorize`` and ``sign_in`` go through the
hub's login, the provider's password form and consent form over plain HTTP,
the way a browser does.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urljoin

import requests

from support.parts import require
from support.sites import make_site
from support.processes import log_tail, stop_group, wait_until_up

IDP_DIR = Path(__file__).resolve().parents[1] / "idp" / "oidc"
CLIENT_ID = "npuhub"
CLIENT_SECRET = "test-oidc-client-secret"
SECRET_ENV = "NPUHUB_OIDC_CLIENT_SECRET"
PASSWORD = "test-idp-password"

#: Accounts at the provider: user name -> claims beyond sub and preferred_username.
ACCOUNTS: dict[str, dict] = {
    "alice": {"name": "Alice Student", "email": "alice@uni.test", "groups": ["course-demo", "all-students"]},
    "tina": {"name": "Tina Teacher", "groups": ["course-demo", "teachers", "staff"]},
    "ada": {"name": "Ada Admin", "groups": ["admins"], "org": {"groups": ["admins"]}},
    "mallory": {"name": "Mallory Outsider", "email": "mallory@uni.test", "groups": ["canteen"]},
    # Her groups sit at a nested claim, as some providers send them.
    "nora": {"name": "Nora Nested", "org": {"unit": "vision", "groups": ["lab-demo"]}},
    # Keycloak-shaped: realm roles nested in realm_access, client roles in resource_access, and groups as
    # full paths (the Group Membership mapper with "Full group path" on).
    "kim": {"name": "Kim Keycloak", "realm_access": {"roles": ["offline_access", "default-roles-uni", "teacher"]},
            "groups": ["/courses/demo", "/labs/demo", "/clubs/chess"]},
    "kai": {"name": "Kai Keycloak-admin", "resource_access": {"npuhub": {"roles": ["operator"]}},
            "groups": ["/staff/it"]},
    # her only group is a realm role, nested in realm_access
    "rei": {"name": "Rei Realm-role", "realm_access": {"roles": ["offline_access", "course-demo"]}},
}

#: auth.groups of a Keycloak realm: courses from realm roles and from /courses/..., labs from /labs/...,
#: admins from the client role "operator"; groups without a rule still count when they mean something here.
KEYCLOAK_GROUPS = {
    "sources": [
        {"claim": "realm_access.roles", "rules": [{"match": "teacher", "role": "teacher"},
                                                  {"prefix": "course-", "role": "course"}]},
        {"claim": "resource_access.npuhub.roles", "rules": [{"match": "operator", "role": "admin"}]},
        {"claim": "groups", "rules": [{"prefix": "/labs/", "role": "lab"}, {"prefix": "/courses/", "role": "course"}]},
    ],
    "admins": ["admins"],
    "allowed": ["course-demo", "lab-demo"],
}


def require_provider() -> None:
    """Skip (fail in CI) when Node.js or the provider's node_modules are missing."""
    require(shutil.which("node") is not None, "Node.js")
    require((IDP_DIR / "node_modules" / "oidc-provider").is_dir(),
            "tests/idp/oidc/node_modules (run scripts/install-test-deps.sh)")


class OIDCProvider:
    """oidc-provider on 127.0.0.1:port, with one client (npuhub) and the test accounts."""

    def __init__(self, workdir: Path, port: int, redirect_uris: list[str], accounts: dict | None = None):
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port
        self.issuer = f"http://127.0.0.1:{port}"
        self.data_file = workdir / "idp.json"
        self.log_path = workdir / "idp.log"
        self.redirect_uris = redirect_uris
        self.proc: subprocess.Popen | None = None
        self.write_accounts(ACCOUNTS if accounts is None else accounts)

    def write_accounts(self, accounts: dict) -> None:
        """(Re)write the provider's file; it reads the accounts again at every login."""
        data = {
            "clients": [{"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                         "redirect_uris": self.redirect_uris}],
            "scopes": {"groups": ["groups", "org", "realm_access", "resource_access"]},
            "users": [{"username": name, "password": PASSWORD, "claims": claims}
                      for name, claims in accounts.items()],
        }
        tmp = self.data_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        tmp.replace(self.data_file)

    def start(self, timeout: float = 20) -> "OIDCProvider":
        log = open(self.log_path, "a")
        command = ["node", str(IDP_DIR / "server.js"), str(self.data_file), str(self.port)]
        self.proc = subprocess.Popen(command, cwd=IDP_DIR, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        try:
            wait_until_up(self.proc, self.issuer + "/.well-known/openid-configuration",
                          what="the OpenID provider", timeout=timeout, log=self.log, ok=lambda r: r.ok)
        except TimeoutError:
            self.stop()
            raise
        return self

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        stop_group(self.proc)
        self.proc = None

    def log(self) -> str:
        return log_tail(self.log_path, 4000)


def _follow(http: requests.Session, r: requests.Response, stop_at: str) -> requests.Response | str:
    """Follow redirects by hand; the URL itself once it reaches ``stop_at``."""
    while r.is_redirect:
        url = urljoin(r.url, r.headers["location"])
        if url.startswith(stop_at):
            return url
        r = http.get(url, allow_redirects=False, timeout=30)
    return r


def _form_action(page: requests.Response, ending: str) -> str | None:
    found = re.search(r'action="([^"]*/%s)"' % ending, page.text)
    return urljoin(page.url, found.group(1)) if found else None


def authorize(http: requests.Session, hub_url: str, username: str, password: str = PASSWORD,
              consent: bool = True) -> str:
    """From the hub's login to the provider's redirect back: the callback URL, not yet visited.

    Fills the provider's password form and consent form when it shows them (a
    person already signed in there and who has consented sees neither).
    """
    callback = hub_url + "/hub/oauth_callback"
    step = _follow(http, http.get(hub_url + "/hub/oauth_login", allow_redirects=False, timeout=30), callback)
    for ending, data in (("login", {"username": username, "password": password}),
                         ("confirm" if consent else "abort", {})):
        if isinstance(step, str):
            return step
        action = _form_action(step, ending)
        if action is None:
            raise AssertionError(f"no {ending} form at {step.url} ({step.status_code}): {step.text[:500]}")
        step = _follow(http, http.post(action, data=data, allow_redirects=False, timeout=30), callback)
    if isinstance(step, str):
        return step
    raise AssertionError(f"the provider did not send {username} back: {step.url} {step.text[:500]}")


def sign_in(http: requests.Session, hub_url: str, username: str, **kwargs) -> requests.Response:
    """The whole sign-in; the hub's last page (its home, or the page that says why not)."""
    return http.get(authorize(http, hub_url, username, **kwargs), timeout=30)


def oidc_site(issuer: str, claim: str = "groups", groups: dict | None = None) -> dict:
    """The one-device demo site signing in through the provider at ``issuer``.

    Groups come from ``claim`` (the single-claim form), or as ``groups`` says (``auth.groups``).
    """
    return make_site(auth={
        "type": "oidc",
        "oidc": {"issuer": issuer, "client_id": CLIENT_ID, "client_secret_env": SECRET_ENV,
                 "scopes": ["openid", "profile", "email", "groups"], "username_claim": "preferred_username"},
        "groups": groups or {"claim": claim, "admins": ["admins"], "allowed": ["course-demo", "lab-demo"]},
    })
