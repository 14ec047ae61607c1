"""Sign-in through a real CAS server (django-cas-server) into the real hub and proxy, over HTTP.

A person goes /hub/login -> the CAS login form -> /hub/cas/callback -> the hub,
the way a browser does; the tests read what she would see and what the hub's
admin API then says about her.
"""

from __future__ import annotations

import html
import importlib.util
import re
from urllib.parse import parse_qs, quote, urljoin, urlsplit

import pytest
import requests

from support.parts import require
from support.sites import make_site
from support.stacks import EmbeddedStack, free_port
from support.hubclient import HubAPI, HubSession
from idp.cas.seed import PASSWORD, USERS
from idp.cas.server import CASServer, submit_login_form
from npuhub.auth.cas import (
    CAS_UNREACHABLE,
    CASAuthenticator,
    NOT_IN_ALLOWED_GROUPS,
    SIGNED_OUT,
    STATE_COOKIE,
    STATE_MISMATCH,
    TICKET_INVALID,
    TICKET_REPLAYED,
)
from npuhub.groups import GroupMapping

pytestmark = pytest.mark.integration

def cas_site(cas_url: str) -> dict:
    return make_site(auth={
        "type": "cas",
        "cas": {"server_url": cas_url, "protocol": 3, "username_attribute": "", "logout": True},
        # the directory's DNs by rules; plain names (course-demo, lab-leads, ...) still count
        "groups": {"claim": "memberOf", "rules": LDAP_RULES, "admins": ["admins"], "lab_leads": ["lab-leads"],
                   "allowed": ["course-demo", "lab-demo"]},
    })


LDAP_RULES = [{"match": "cn={name},ou=courses,dc=uni,dc=edu", "role": "course"},
              {"match": "cn={name},ou=labs,dc=uni,dc=edu", "role": "lab"},
              {"match": "cn=jsjzx,ou=staff,dc=uni,dc=edu", "role": "admin"}]


@pytest.fixture(scope="module")
def cas(tmp_path_factory):
    require(importlib.util.find_spec("cas_server") is not None,
            "django-cas-server (pip install -e '.[test]')")
    server = CASServer(tmp_path_factory.mktemp("cas"), free_port()).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def stack(cas, tmp_path_factory):
    stack = EmbeddedStack(tmp_path_factory.mktemp("cas-stack"), cas_site(cas.url)).start()
    yield stack
    stack.stop()


def follow(http: requests.Session, url: str, **kwargs) -> list[requests.Response]:
    """GET ``url`` and every redirect after it, like a browser; the chain of answers."""
    chain = []
    for _ in range(15):
        r = http.get(url, allow_redirects=False, timeout=30, **kwargs)
        chain.append(r)
        if r.status_code not in (301, 302, 303, 307, 308):
            return chain
        url = urljoin(url, r.headers["location"])
    raise AssertionError(f"too many redirects: {[c.url for c in chain]}")


class Person:
    """One browser: cookies for the hub and for the CAS server."""

    def __init__(self, stack: EmbeddedStack, cas: CASServer):
        self.stack = stack
        self.cas = cas
        self.http = requests.Session()
        self.callback_url = ""  # where the CAS server last sent her back to the hub, ticket included
        self.after_callback: list[requests.Response] = []

    def sign_in(self, username: str, next_path: str | None = None) -> requests.Response:
        """From the hub's login page through the CAS form; the last page she sees."""
        query = f"?next={quote(next_path, safe='')}" if next_path else ""
        chain = follow(self.http, self.stack.base_url + "/hub/login" + query)
        assert [urlsplit(r.url).path for r in chain] == ["/hub/login", "/hub/cas/login", "/cas/login"]
        form = chain[-1]
        assert form.status_code == 200 and form.url.startswith(self.cas.url + "/login?service=")
        answer = submit_login_form(self.http, form, username, PASSWORD)
        assert answer.status_code == 302, answer.text[:2000]
        self.callback_url = answer.headers["location"]
        assert urlsplit(self.callback_url).path == "/hub/cas/callback" and "ticket=ST-" in self.callback_url
        assert "state=" in self.callback_url  # the login state came back with the ticket
        self.state_cookie = self.http.cookies.get(STATE_COOKIE)
        self.after_callback = follow(self.http, self.callback_url)
        return self.after_callback[-1]

    def hub_user(self) -> dict | None:
        r = self.http.get(self.stack.base_url + "/hub/api/user", timeout=30)
        return r.json() if r.status_code == 200 else None


@pytest.fixture
def person(stack, cas):
    return Person(stack, cas)


@pytest.fixture(scope="module")
def admin_api(stack, cas) -> HubAPI:
    """carol (CAS group `admins`) signs in and makes an API token, as an admin would."""
    carol = Person(stack, cas)
    assert carol.sign_in("carol").status_code == 200
    session = HubSession(stack.base_url)
    session.http = carol.http
    r = session.api("POST", "/users/carol/tokens", json={"note": "cas tests"})
    assert r.status_code == 201, r.text
    return HubAPI(stack.base_url, r.json()["token"])


def page_says(response: requests.Response, text) -> bool:
    """Does the page show both sentences? (JupyterHub's error pages name no charset: they are UTF-8.)"""
    page = html.unescape(response.content.decode("utf-8"))
    return text.zh in page and text.en in page


def test_sign_in_through_cas_maps_groups_roles_and_admin(stack, cas, person, admin_api):
    page = person.sign_in("alice", next_path="/hub/token")
    assert page.status_code == 200 and page.url == stack.base_url + "/hub/token"
    assert person.hub_user()["name"] == "alice"

    alice = admin_api.user("alice")
    assert alice["groups"] == ["course-demo"] and alice["admin"] is False
    assert set(alice["roles"]) == {"user", "npuhub-user"}
    assert alice["auth_state"]["cas_attributes"]["memberOf"] == ["course-demo"]
    assert alice["auth_state"]["cas_attributes"]["mail"] == ["alice@example.edu"]

    Person(stack, cas).sign_in("bob")
    bob = admin_api.user("bob")
    assert sorted(bob["groups"]) == sorted(USERS["bob"]) == ["lab-demo", "lab-leads"] and bob["admin"] is False
    assert "npuhub-lab-lead-lab-demo" in bob["roles"]

    carol = admin_api.user("carol")
    assert carol["admin"] is True and carol["groups"] == ["admins"]
    assert {"admin", "npuhub-operator"} <= set(carol["roles"])


@pytest.mark.parametrize("next_path, lands_on", [("/hub/token?from=cas", "/hub/token?from=cas"),
                                                 (None, "/hub/home")])
def test_no_ticket_in_any_url_after_the_callback(stack, person, next_path, lands_on):
    person.sign_in("alice", next_path=next_path)
    callback = person.after_callback[0]
    assert callback.status_code == 302 and callback.headers["location"] == lands_on
    for r in person.after_callback[1:]:
        assert "ticket" not in r.url, r.url
    assert person.after_callback[-1].url == stack.base_url + lands_on
    # the hub never wrote the ticket into a page or a cookie either
    ticket = parse_qs(urlsplit(person.callback_url).query)["ticket"][0]
    assert all(ticket not in r.text for r in person.after_callback)
    assert all(ticket not in (c.value or "") for c in person.http.cookies)


def test_next_cannot_leave_the_hub(stack, cas):
    """A portal link crafted with ``next=//evil.example`` signs her in, and keeps her on the hub."""
    browser = requests.Session()
    service = stack.base_url + "/hub/cas/callback?next=" + quote("//evil.example/steal", safe="")
    form = browser.get(cas.url + "/login", params={"service": service}, timeout=30)
    answer = submit_login_form(browser, form, "alice", PASSWORD)
    # no login state in that link: the hub starts a sign-in of this browser's own (the portal knows her)
    chain = follow(browser, answer.headers["location"])
    assert [urlsplit(r.url).path for r in chain] == [
        "/hub/cas/callback", "/hub/cas/login", "/cas/login", "/hub/cas/callback", "/hub/home"]
    assert chain[-1].url == stack.base_url + "/hub/home" and chain[-1].status_code == 200
    assert chain[3].headers["location"] == "/hub/home"


def test_someone_outside_the_allowed_groups_is_refused(stack, person, admin_api):
    page = person.sign_in("mallory")
    assert page.status_code == 403 and urlsplit(page.url).path == "/hub/cas/callback"
    assert page_says(page, NOT_IN_ALLOWED_GROUPS.format(user="mallory", allowed="course-demo, lab-demo"))
    assert "Traceback" not in page.text
    assert person.hub_user() is None
    assert admin_api("GET", "/users/mallory").status_code == 404  # no hub user was created


def test_a_replayed_ticket_is_refused(stack, cas, person):
    assert person.sign_in("alice").status_code == 200
    thief = Person(stack, cas)
    # another browser with the address alone: not its sign-in
    page = follow(thief.http, person.callback_url)[-1]
    assert page.status_code == 403 and page_says(page, STATE_MISMATCH)
    # with her login-state cookie too: the ticket has been used
    thief.http.cookies.set(STATE_COOKIE, person.state_cookie)
    page = follow(thief.http, person.callback_url)[-1]
    assert page.status_code == 403 and page_says(page, TICKET_REPLAYED)
    assert thief.hub_user() is None


def test_login_csrf_a_ticket_of_another_browser_is_refused(stack, cas, admin_api):
    """The attacker starts a sign-in as herself and sends the callback link to a victim: refused."""
    attacker = requests.Session()
    chain = follow(attacker, stack.base_url + "/hub/cas/login")
    answer = submit_login_form(attacker, chain[-1], "bob", PASSWORD)
    link = answer.headers["location"]
    assert "state=" in link and "ticket=ST-" in link

    fresh = requests.Session()
    busy = requests.Session()  # she has started a sign-in of her own in another tab
    follow(busy, stack.base_url + "/hub/cas/login")
    assert busy.cookies.get(STATE_COOKIE)
    for victim in (fresh, busy):
        page = follow(victim, link)[-1]
        assert page.status_code == 403 and page_says(page, STATE_MISMATCH)
        assert "Traceback" not in page.text
        assert victim.get(stack.base_url + "/hub/api/user", timeout=30).status_code == 403  # not signed in as bob


def test_a_portal_link_without_state_still_signs_in(stack, cas):
    """The portal's own application list links to the callback with a ticket and no state."""
    browser = requests.Session()
    form = browser.get(cas.url + "/login", params={"service": stack.base_url + "/hub/cas/callback"}, timeout=30)
    link = submit_login_form(browser, form, "alice", PASSWORD).headers["location"]
    assert "state=" not in link
    chain = follow(browser, link)
    assert chain[-1].url == stack.base_url + "/hub/home" and chain[-1].status_code == 200
    assert browser.get(stack.base_url + "/hub/api/user", timeout=30).json()["name"] == "alice"


def test_ldap_dns_in_member_of(stack, cas, admin_api):
    assert Person(stack, cas).sign_in("dora").status_code == 200
    dora = admin_api.user("dora")
    assert sorted(dora["groups"]) == ["course-demo", "lab-demo"] and dora["admin"] is False
    # upper-case DN of the admins' group: a hub admin
    assert Person(stack, cas).sign_in("dave").status_code == 200
    dave = admin_api.user("dave")
    assert dave["admin"] is True and dave["groups"] == ["admins"]
    assert "Groups of dora: kept ['course-demo', 'lab-demo']; no rule kept memberOf=" in stack.log_path.read_text()


@pytest.mark.parametrize("forged", ["http://other-app.example/hub/cas/callback",
                                    "http://127.0.0.1:{port}/hub/cas/callback"])
def test_a_ticket_for_another_service_is_refused(stack, cas, forged):
    """A ticket the portal issued for another service, presented with that service's Host."""
    attacker = requests.Session()
    # a login state of the attacker's own, so that the ticket itself is what is judged
    started = follow(attacker, stack.base_url + "/hub/cas/login")[-1]
    state = parse_qs(urlsplit(parse_qs(urlsplit(started.url).query)["service"][0]).query)["state"][0]
    service = forged.format(port=free_port())
    form = attacker.get(cas.url + "/login", params={"service": service}, timeout=30)
    answer = submit_login_form(attacker, form, "alice", PASSWORD)
    location = answer.headers["location"]
    assert answer.status_code == 302 and location.startswith(service) and "ticket=ST-" in location
    ticket = parse_qs(urlsplit(location).query)["ticket"][0]

    # (the state cookie by hand: a cookie jar picks cookies by the Host header)
    cookie = f"{STATE_COOKIE}={attacker.cookies.get(STATE_COOKIE)}"
    r = attacker.get(stack.base_url + "/hub/cas/callback", params={"ticket": ticket, "state": state},
                     allow_redirects=False, headers={"Host": urlsplit(service).netloc, "Cookie": cookie}, timeout=30)
    assert r.status_code == 403 and page_says(r, TICKET_INVALID)
    assert not any(c.name.startswith("jupyterhub-hub-login") for c in attacker.cookies)


def test_logout_ends_the_cas_session(stack, cas, person):
    person.sign_in("bob")
    # while signed in at CAS, the portal lets her back into the hub without the form
    again = follow(person.http, stack.base_url + "/hub/cas/login")
    assert [r.status_code for r in again] == [302, 302, 302, 200] and again[-1].url == stack.base_url + "/hub/home"

    chain = follow(person.http, stack.base_url + "/hub/logout")
    assert [urlsplit(r.url).path for r in chain] == ["/hub/logout", "/cas/logout", "/hub/cas/logged-out"]
    assert chain[-1].status_code == 200 and page_says(chain[-1], SIGNED_OUT)
    assert person.hub_user() is None
    # the CAS session is gone: the portal asks for the password again
    form = person.http.get(cas.url + "/login", params={"service": stack.base_url + "/hub/cas/callback"},
                           allow_redirects=False, timeout=30)
    assert form.status_code == 200 and 'name="password"' in form.text


def test_cas_server_unreachable(stack, cas, person):
    started = follow(person.http, stack.base_url + "/hub/cas/login")[-1]  # a login state of her own
    service = parse_qs(urlsplit(started.url).query)["service"][0]
    cas.stop()
    try:
        page = follow(person.http, service + "&ticket=ST-1-abcdefghijklmnop")[-1]
    finally:
        cas.start()
    assert page.status_code == 502 and page_says(page, CAS_UNREACHABLE)
    assert "Traceback" not in page.text and person.hub_user() is None
    # reloading the page once the server is back asks it again (the login state still holds): it judges the ticket
    page = follow(person.http, service + "&ticket=ST-1-abcdefghijklmnop")[-1]
    assert page.status_code == 403 and page_says(page, TICKET_INVALID)
    # back up: sign-in works again
    assert person.sign_in("alice").status_code == 200


@pytest.mark.parametrize("protocol", [2, 3])
async def test_the_authenticator_reads_the_real_servers_answers(cas, protocol):
    """CAS 2 (/serviceValidate) and CAS 3 (/p3/serviceValidate) answers of django-cas-server, as they come."""
    callback = f"http://127.0.0.1:{free_port()}/hub/cas/callback"
    auth = CASAuthenticator(cas_server_url=cas.url, cas_protocol=protocol, callback_url=callback,
                            group_mapping=GroupMapping(claim="memberOf", allowed=frozenset({"lab-demo"})))
    browser = requests.Session()
    form = browser.get(cas.url + "/login", params={"service": callback + "?next=%2Fhub%2Fhome"}, timeout=30)
    ticket = parse_qs(urlsplit(submit_login_form(browser, form, "bob", PASSWORD).headers["location"]).query)
    model = await auth.get_authenticated_user(None, {"ticket": ticket["ticket"][0], "next": "/hub/home"})
    assert model["name"] == "bob" and sorted(model["groups"]) == ["lab-demo", "lab-leads"]
    assert model["auth_state"]["cas_attributes"]["displayName"] == ["Bob"]


def test_the_hub_logged_no_traceback(stack):
    log = stack.log_path.read_text(errors="replace")
    assert "Traceback" not in log and " 500 " not in log, log[-4000:]
    assert re.search(r"User logged in: alice", log)
