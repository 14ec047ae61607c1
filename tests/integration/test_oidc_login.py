"""University sign-in with OpenID Connect, for real: the hub and proxy of `npuhub up` and a real provider.

The provider is oidc-provider (tests/idp/oidc, Node.js) on loopback; the site
file gives only its issuer, so every endpoint comes from discovery. Each test
signs people in over HTTP the way a browser does: hub login, the provider's
password and consent forms, back to the hub.
"""

from __future__ import annotations

import html
import re

import pytest
import requests

from support.stacks import EmbeddedStack, free_port
from support.hubclient import HubAPI, HubSession
from support.oidc_idp import (ACCOUNTS, CLIENT_ID, CLIENT_SECRET, KEYCLOAK_GROUPS, SECRET_ENV, OIDCProvider,
                              authorize, oidc_site, require_provider, sign_in)

from npuhub.auth.oidc import NOT_ALLOWED, PROVIDER_DENIED, PROVIDER_UNREACHABLE, STATE_INVALID

pytestmark = pytest.mark.integration


def start_stack(stack: EmbeddedStack) -> EmbeddedStack:
    """`npuhub up` with the client secret in its environment, as an operator would export it."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(SECRET_ENV, CLIENT_SECRET)
        return stack.start()


def page_text(r: requests.Response) -> str:
    # JupyterHub's error pages say "text/html" without a charset (the page's <meta> says utf-8).
    return html.unescape(r.content.decode("utf-8"))


def assert_explains(r: requests.Response, status: int, text) -> None:
    """The hub's error page: the expected status and both languages of the sentence, no traceback."""
    body = page_text(r)
    main = body[body.find('<div class="error"'):][:1500]
    assert r.status_code == status, f"{r.status_code} {r.url}: {main}"
    assert text.zh in body and text.en in body, main
    assert "Traceback" not in body and "500 : Internal Server Error" not in body


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A provider and a hub whose site file names only the provider's issuer; groups mapped as for Keycloak."""
    require_provider()
    workdir = tmp_path_factory.mktemp("oidc")
    idp_port = free_port()
    stack = EmbeddedStack(workdir, oidc_site(f"http://127.0.0.1:{idp_port}", groups=KEYCLOAK_GROUPS))
    idp = OIDCProvider(workdir / "idp", idp_port, [stack.base_url + "/hub/oauth_callback"]).start()
    try:
        start_stack(stack)
        yield stack, idp
    finally:
        stack.stop()
        idp.stop()


@pytest.fixture(scope="module")
def admin_api(site) -> HubAPI:
    """The REST API as ada, a member of the provider's admins group."""
    stack, _ = site
    s = HubSession(stack.base_url)
    assert sign_in(s.http, stack.base_url, "ada").url.endswith("/hub/home")
    r = s.api("POST", "/users/ada/tokens", json={"note": "oidc tests"})
    assert r.status_code == 201, r.text
    return HubAPI(stack.base_url, r.json()["token"])


def role_names(api: HubAPI, user: str) -> set[str]:
    return set(api.user(user)["roles"])


def test_endpoints_come_from_discovery(site):
    stack, idp = site
    r = requests.get(stack.base_url + "/hub/oauth_login", allow_redirects=False, timeout=30)
    assert r.status_code == 302
    assert r.headers["location"].startswith(idp.issuer + "/auth?"), r.headers["location"]
    assert f"client_id={CLIENT_ID}" in r.headers["location"]
    assert idp.issuer + "/auth" not in stack.config.read_text()  # only the issuer is configured


def test_student_signs_in_with_her_groups(site, admin_api):
    stack, _ = site
    http = requests.Session()
    r = sign_in(http, stack.base_url, "alice")
    assert r.status_code == 200 and r.url == stack.base_url + "/hub/home"
    model = admin_api.user("alice")
    # "all-students" means nothing to this hub and is dropped
    assert model["groups"] == ["course-demo"] and model["admin"] is False
    assert {"user", "npuhub-user"} <= set(model["roles"]) and "admin" not in model["roles"]
    # what the provider sent, kept (encrypted) for the admins to look at
    assert model["auth_state"]["oauth_user"]["groups"] == ["course-demo", "all-students"]


def test_teacher_gets_a_teacher_role_for_her_course(site, admin_api):
    stack, _ = site
    sign_in(requests.Session(), stack.base_url, "tina")
    model = admin_api.user("tina")
    assert sorted(model["groups"]) == ["course-demo", "teachers"] and model["admin"] is False
    assert "npuhub-teacher-course-demo" in model["roles"]


def test_admin_group_makes_a_hub_admin(site, admin_api):
    model = admin_api.user("ada")
    assert model["admin"] is True and model["groups"] == ["admins"]
    assert {"admin", "npuhub-operator"} <= set(model["roles"])


def test_keycloak_token_courses_from_realm_roles_labs_from_group_paths(site, admin_api):
    stack, _ = site
    assert sign_in(requests.Session(), stack.base_url, "kim").url.endswith("/hub/home")
    model = admin_api.user("kim")
    # /courses/demo and /labs/demo are paths, "teacher" a nested realm role; the rest is dropped (and logged)
    assert sorted(model["groups"]) == ["course-demo", "lab-demo", "teachers"] and model["admin"] is False
    assert "npuhub-teacher-course-demo" in model["roles"]
    assert model["auth_state"]["oauth_user"]["realm_access"]["roles"][-1] == "teacher"
    assert "Groups of kim: kept ['course-demo', 'lab-demo', 'teachers']; no rule kept" in stack.log_path.read_text()


def test_keycloak_client_role_makes_an_admin(site, admin_api):
    stack, _ = site
    # kai's only admin sign is resource_access.npuhub.roles: he is not locked out
    assert sign_in(requests.Session(), stack.base_url, "kai").url.endswith("/hub/home")
    model = admin_api.user("kai")
    assert model["admin"] is True and model["groups"] == ["admins"]
    assert "npuhub-operator" in model["roles"]


def test_someone_whose_only_group_is_a_nested_realm_role(site, admin_api):
    stack, _ = site
    assert sign_in(requests.Session(), stack.base_url, "rei").url.endswith("/hub/home")
    assert admin_api.user("rei")["groups"] == ["course-demo"]


def test_groups_follow_the_provider_at_every_login(site, admin_api):
    stack, idp = site
    accounts = {**ACCOUNTS, "bob": {"groups": ["course-demo"]}}
    idp.write_accounts(accounts)
    sign_in(requests.Session(), stack.base_url, "bob")
    assert admin_api.user("bob")["groups"] == ["course-demo"]

    idp.write_accounts({**accounts, "bob": {"groups": ["lab-demo", "teachers"]}})
    assert sign_in(requests.Session(), stack.base_url, "bob").url.endswith("/hub/home")
    model = admin_api.user("bob")
    assert sorted(model["groups"]) == ["lab-demo", "teachers"]
    assert "npuhub-teacher-course-demo" not in model["roles"]


def test_someone_outside_the_allowed_groups_is_refused(site, admin_api):
    stack, _ = site
    http = requests.Session()
    r = sign_in(http, stack.base_url, "mallory")
    assert_explains(r, 403, NOT_ALLOWED.format(user="mallory"))
    assert admin_api("GET", "/users/mallory").status_code == 404  # never created
    assert "mallory" not in {u["name"] for u in admin_api("GET", "/users").json()}
    # not signed in either: the hub sends her to its login page, and starts nothing
    home = http.get(stack.base_url + "/hub/home", allow_redirects=False, timeout=30)
    assert home.status_code == 302 and "/hub/login" in home.headers["location"]
    # the hub's API answers 403 to anyone without credentials (not 401: it asks for no scheme)
    assert http.post(stack.base_url + "/hub/api/users/mallory/server", timeout=30).status_code == 403


def test_a_wrong_state_is_refused_with_a_clear_page(site):
    stack, _ = site
    http = requests.Session()
    callback = authorize(http, stack.base_url, "alice")
    forged = re.sub(r"state=[^&]+", "state=eyJzdGF0ZV9pZCI6ICJmb3JnZWQifQ%3D%3D", callback)
    r = http.get(forged, timeout=30)
    assert_explains(r, 400, STATE_INVALID)
    assert 'id="npuhub-sign-in-again"' in r.text


def test_a_code_from_another_issuer_is_refused(site):
    stack, _ = site
    http = requests.Session()
    callback = authorize(http, stack.base_url, "alice")
    assert "iss=" in callback  # oidc-provider names itself in the redirect (RFC 9207)
    r = http.get(re.sub(r"iss=[^&]+", "iss=https%3A%2F%2Fevil.test", callback), timeout=30)
    assert_explains(r, 400, STATE_INVALID)


def test_a_replayed_callback_is_refused_with_a_clear_page(site):
    stack, _ = site
    http = requests.Session()
    callback = authorize(http, stack.base_url, "alice")
    assert http.get(callback, timeout=30).url.endswith("/hub/home")
    assert_explains(http.get(callback, timeout=30), 400, STATE_INVALID)
    # another browser replaying the link gets nowhere either
    assert_explains(requests.get(callback, timeout=30), 400, STATE_INVALID)


def test_declining_consent_explains_and_offers_to_retry(site):
    stack, _ = site
    r = sign_in(requests.Session(), stack.base_url, "alice", consent=False)
    assert_explains(r, 403, PROVIDER_DENIED.format(detail="access_denied"))
    assert 'id="npuhub-sign-in-again"' in r.text


def test_logout_also_ends_the_provider_session(site):
    stack, idp = site
    http = requests.Session()
    sign_in(http, stack.base_url, "alice")
    r = http.get(stack.base_url + "/hub/logout", allow_redirects=False, timeout=30)
    assert r.status_code == 302
    location = r.headers["location"]
    assert location.startswith(idp.issuer + "/session/end?") and "id_token_hint=" in location
    assert http.get(location, timeout=30).status_code == 200  # the provider's own sign-out page
    home = http.get(stack.base_url + "/hub/home", allow_redirects=False, timeout=30)
    assert home.status_code == 302 and "/hub/login" in home.headers["location"]


@pytest.fixture(scope="module")
def outage(tmp_path_factory):
    """A hub whose provider is down when the hub starts (its port is closed); groups at a nested claim."""
    require_provider()
    workdir = tmp_path_factory.mktemp("oidc-outage")
    idp_port = free_port()
    stack = EmbeddedStack(workdir, oidc_site(f"http://127.0.0.1:{idp_port}", claim="org.groups"))
    idp = OIDCProvider(workdir / "idp", idp_port, [stack.base_url + "/hub/oauth_callback"])
    try:
        start_stack(stack)
        yield stack, idp
    finally:
        stack.stop()
        idp.stop()


def test_provider_down_then_back(outage):
    stack, idp = outage
    http = requests.Session()
    # The hub started without its provider and shows its login page.
    assert http.get(stack.base_url + "/hub/login", timeout=30).status_code == 200

    r = http.get(stack.base_url + "/hub/oauth_login", timeout=30)
    assert_explains(r, 503, PROVIDER_UNREACHABLE)
    assert 'id="npuhub-sign-in-again"' in r.text
    assert stack.proc.poll() is None and requests.get(stack.base_url + "/hub/api", timeout=10).ok

    # Back again: discovery is tried anew, and nora's groups come from the nested claim org.groups.
    idp.start()
    s = HubSession(stack.base_url)
    assert sign_in(s.http, stack.base_url, "nora").url.endswith("/hub/home")
    me = s.api("GET", "/user").json()
    assert me["name"] == "nora" and me["groups"] == ["lab-demo"] and me["admin"] is False


def test_token_endpoint_down_between_the_two_redirects(outage):
    stack, idp = outage
    if not idp.running:
        idp.start()
    http = requests.Session()
    callback = authorize(http, stack.base_url, "nora")
    idp.stop()
    r = http.get(callback, timeout=30)
    assert_explains(r, 503, PROVIDER_UNREACHABLE)
    assert stack.proc.poll() is None and requests.get(stack.base_url + "/hub/api", timeout=10).ok
