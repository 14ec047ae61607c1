"""CAS sign-in without a server: the protocol's answers and URLs, safe redirects, replays, refusals."""

from __future__ import annotations

import pytest
from tornado import web
from traitlets import TraitError

from npuhub.auth import cas_protocol as protocol
from npuhub.auth.cas import (
    CAS_UNREACHABLE,
    NOT_IN_ALLOWED_GROUPS,
    TICKET_INVALID,
    TICKET_REPLAYED,
    CASAuthenticator,
)
from npuhub.groups import GroupMapping

CALLBACK = "https://jupyter.example.edu/hub/cas/callback"
SERVER = "https://cas.example.edu/cas"


def success(user: str, **attributes: list[str]) -> bytes:
    """A CAS 3 answer written the way django-cas-server writes it: both attribute forms."""
    block = "".join(f"<cas:{k}>{v}</cas:{k}>" for k, vs in attributes.items() for v in vs)
    pairs = "".join(f'<cas:attribute name="{k}" value="{v}"/>' for k, vs in attributes.items() for v in vs)
    return (f'<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas"><cas:authenticationSuccess>'
            f"<cas:user>{user}</cas:user><cas:attributes>{block}</cas:attributes>{pairs}"
            f"</cas:authenticationSuccess></cas:serviceResponse>").encode()


FAILURE = b"""<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas">
  <cas:authenticationFailure code="INVALID_SERVICE">
    Ticket ST-1 was not issued for this service
  </cas:authenticationFailure>
</cas:serviceResponse>"""


# -- the validation answer ------------------------------------------------------------------------

def test_cas3_attributes_are_lists_and_not_doubled():
    answer = protocol.parse_validation(success("2023001", memberOf=["course-demo", "lab-demo"], mail=["a@x"]))
    assert answer == protocol.CASValidation("2023001", {"memberOf": ["course-demo", "lab-demo"], "mail": ["a@x"]})


def test_cas2_forms_without_an_attributes_block():
    plain = b"""<serviceResponse xmlns="http://www.yale.edu/tp/cas"><authenticationSuccess>
        <user> 2023002 </user><memberOf>lab-demo</memberOf><proxyGrantingTicket>PGTIOU-1</proxyGrantingTicket>
        </authenticationSuccess></serviceResponse>"""
    assert protocol.parse_validation(plain) == protocol.CASValidation("2023002", {"memberOf": ["lab-demo"]})
    pairs = b"""<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas"><cas:authenticationSuccess>
        <cas:user>u</cas:user><cas:attribute name="memberOf" value="a"/><cas:attribute name="memberOf" value="b"/>
        </cas:authenticationSuccess></cas:serviceResponse>"""
    assert protocol.parse_validation(pairs).attributes == {"memberOf": ["a", "b"]}
    bare = b"""<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas"><cas:authenticationSuccess>
        <cas:user>u</cas:user></cas:authenticationSuccess></cas:serviceResponse>"""
    assert protocol.parse_validation(bare) == protocol.CASValidation("u", {})


def test_refusals_and_answers_that_are_not_cas():
    with pytest.raises(protocol.CASRefusal) as refused:
        protocol.parse_validation(FAILURE)
    assert refused.value.code == "INVALID_SERVICE" and "not issued" in refused.value.detail
    for body in (b"<html><body>502 Bad Gateway</body></html>", b"not xml at all", b"",
                 b'<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas"/>',
                 success("")):
        with pytest.raises(protocol.CASAnswerError):
            protocol.parse_validation(body)


def test_entity_expansion_is_refused():
    bomb = b"""<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>
        <serviceResponse><authenticationSuccess><user>&b;</user></authenticationSuccess></serviceResponse>"""
    with pytest.raises(protocol.CASAnswerError):
        protocol.parse_validation(bomb)


# -- URLs -------------------------------------------------------------------------------------------

def test_service_url_round_trip_keeps_only_next():
    assert protocol.service_url(CALLBACK) == CALLBACK
    service = protocol.service_url(CALLBACK, "/hub/spawn?profile=npu-1&x=#top")
    assert service == CALLBACK + "?next=%2Fhub%2Fspawn%3Fprofile%3Dnpu-1%26x%3D%23top"
    assert protocol.login_url(SERVER, service) == (
        SERVER + "/login?service=https%3A%2F%2Fjupyter.example.edu%2Fhub%2Fcas%2Fcallback"
        "%3Fnext%3D%252Fhub%252Fspawn%253Fprofile%253Dnpu-1%2526x%253D%2523top")
    assert protocol.validate_url(SERVER, 3, CALLBACK, "ST-1").startswith(SERVER + "/p3/serviceValidate?service=")
    assert protocol.validate_url(SERVER, 2, CALLBACK, "ST-1").endswith("/serviceValidate?service="
                                                                       "https%3A%2F%2Fjupyter.example.edu%2Fhub%2Fcas"
                                                                       "%2Fcallback&ticket=ST-1")
    assert protocol.logged_out_url(CALLBACK) == "https://jupyter.example.edu/hub/cas/logged-out"
    assert protocol.logout_url(SERVER, "https://h/x") == SERVER + "/logout?service=https%3A%2F%2Fh%2Fx"


@pytest.mark.parametrize("value, safe", [
    ("/hub/spawn?profile=cpu", True),
    ("/user/alice/lab/tree/a%20b.ipynb", True),
    ("", False),
    ("hub/home", False),
    ("//evil.example/x", False),
    ("///evil.example", False),
    ("/\\evil.example", False),
    ("https://evil.example/hub/", False),
    ("javascript:alert(1)", False),
    ("/hub/\r\nSet-Cookie: x=1", False),
    ("/\t/evil.example", False),
])
def test_safe_next_path(value, safe):
    assert protocol.safe_next_path(value) == (value if safe else "")


def test_ticket_shape():
    assert protocol.plausible_ticket("ST-12-a1B2c3-cas01.example.edu")
    for bad in ("", "ST 1", "ST-1<script>", "x" * 2000, "ST-1&service=x"):
        assert not protocol.plausible_ticket(bad)


def test_ticket_memory_forgets_old_tickets_and_stays_bounded():
    now = [0.0]
    memory = protocol.TicketMemory(seconds=60, max_entries=3, clock=lambda: now[0])
    assert memory.first_use("ST-1") and not memory.first_use("ST-1")
    now[0] = 59
    assert not memory.first_use("ST-1")
    now[0] = 61
    assert memory.first_use("ST-1")  # long past any ticket's life at the server
    for t in ("ST-2", "ST-3", "ST-4"):
        assert memory.first_use(t)
    assert len(memory) == 3 and memory.first_use("ST-1")  # the oldest made room
    memory.forget("ST-4")
    assert memory.first_use("ST-4")


# -- the authenticator ------------------------------------------------------------------------------

MAPPING = GroupMapping(claim="memberOf", allowed=frozenset({"course-demo", "lab-demo"}),
                       admins=frozenset({"admins"}), lab_leads=frozenset({"lab-leads"}))


class FakeCAS:
    """Stands in for the server's validation endpoint: records URLs, answers from a table."""

    def __init__(self, answers: dict[str, bytes]):
        self.answers = answers
        self.urls: list[str] = []

    async def __call__(self, url: str) -> bytes:
        self.urls.append(url)
        ticket = url.rsplit("ticket=", 1)[1]
        answer = self.answers[ticket]
        if isinstance(answer, Exception):
            raise answer
        return answer


@pytest.fixture
def auth():
    authenticator = CASAuthenticator(cas_server_url=SERVER + "/", callback_url=CALLBACK, group_mapping=MAPPING)
    authenticator.fetch_validation = FakeCAS({
        "ST-alice": success("Alice", memberOf=["course-demo"], uid=["a2023"]),
        "ST-bob": success("bob", memberOf=["lab-demo", "lab-leads", "unrelated-list"]),
        "ST-carol": success("carol", memberOf=["admins"]),
        "ST-mallory": success("mallory", memberOf=["staff-only"]),
        "ST-refused": FAILURE,
        "ST-down": ConnectionRefusedError(111, "Connection refused"),
        "ST-html": b"<html>maintenance</html>",
    })
    return authenticator


def refused_with(error: pytest.ExceptionInfo, status: int, text):
    assert isinstance(error.value, web.HTTPError) and error.value.status_code == status
    message = error.value.jupyterhub_message
    assert text.zh in message and text.en in message
    assert text.zh in error.value.jupyterhub_html_message.replace("&#x27;", "'")
    return message


async def test_a_student_signs_in_with_groups_roles_and_auth_state(auth):
    model = await auth.get_authenticated_user(None, {"ticket": "ST-alice", "next": "/hub/spawn"})
    assert model["name"] == "alice" and model["groups"] == ["course-demo"] and model["admin"] is False
    assert {r["name"] for r in model["roles"]} == {"user", "npuhub-user"}
    assert model["auth_state"] == {"cas_user": "Alice",
                                   "cas_attributes": {"memberOf": ["course-demo"], "uid": ["a2023"]}}
    # validated against the configured callback (with the same next), CAS 3 by default
    assert auth.fetch_validation.urls == [protocol.validate_url(
        SERVER, 3, protocol.service_url(CALLBACK, "/hub/spawn"), "ST-alice")]


async def test_lab_lead_and_admin(auth):
    bob = await auth.get_authenticated_user(None, {"ticket": "ST-bob"})
    assert bob["groups"] == ["lab-demo", "lab-leads"] and not bob["admin"]
    assert "npuhub-lab-lead-lab-demo" in {r["name"] for r in bob["roles"]}
    carol = await auth.get_authenticated_user(None, {"ticket": "ST-carol"})
    assert carol["admin"] is True and {"admin", "npuhub-operator"} <= {r["name"] for r in carol["roles"]}


async def test_username_attribute_and_its_absence(auth):
    auth.username_attribute = "uid"
    assert (await auth.get_authenticated_user(None, {"ticket": "ST-alice"}))["name"] == "a2023"
    with pytest.raises(web.HTTPError) as error:
        await auth.get_authenticated_user(None, {"ticket": "ST-bob"})
    assert error.value.status_code == 502 and "'uid'" in error.value.jupyterhub_message


async def test_outside_the_allowed_groups_is_refused_in_both_languages(auth):
    with pytest.raises(web.HTTPError) as error:
        await auth.get_authenticated_user(None, {"ticket": "ST-mallory"})
    message = refused_with(error, 403, NOT_IN_ALLOWED_GROUPS.format(user="mallory", allowed="course-demo, lab-demo"))
    assert "mallory" in message


async def test_a_ticket_opens_the_hub_once_even_if_the_server_would_accept_it_again(auth):
    assert await auth.get_authenticated_user(None, {"ticket": "ST-alice"})
    with pytest.raises(web.HTTPError) as error:
        await auth.get_authenticated_user(None, {"ticket": "ST-alice"})
    refused_with(error, 403, TICKET_REPLAYED)
    assert len(auth.fetch_validation.urls) == 1  # the replay never reached the server


async def test_server_refusal_and_unreachable_server(auth):
    with pytest.raises(web.HTTPError) as error:
        await auth.get_authenticated_user(None, {"ticket": "ST-refused"})
    refused_with(error, 403, TICKET_INVALID)
    for ticket in ("ST-down", "ST-html"):
        with pytest.raises(web.HTTPError) as error:
            await auth.get_authenticated_user(None, {"ticket": ticket})
        refused_with(error, 502, CAS_UNREACHABLE)
    # the server never judged ST-down: once it is back, the same ticket may be tried
    auth.fetch_validation.answers["ST-down"] = success("alice", memberOf=["course-demo"])
    assert (await auth.get_authenticated_user(None, {"ticket": "ST-down"}))["name"] == "alice"


async def test_malformed_ticket_never_reaches_the_server(auth):
    with pytest.raises(web.HTTPError) as error:
        await auth.get_authenticated_user(None, {"ticket": "ST-1&service=https://evil.example/"})
    refused_with(error, 403, TICKET_INVALID)
    assert auth.fetch_validation.urls == []


async def test_allowed_users_narrows_and_blocked_users_refuses(auth):
    auth.allowed_users = {"bob"}
    assert await auth.get_authenticated_user(None, {"ticket": "ST-alice"}) is None
    assert (await auth.get_authenticated_user(None, {"ticket": "ST-bob"}))["name"] == "bob"
    auth.allowed_users = set()
    auth.blocked_users = {"carol"}
    assert await auth.get_authenticated_user(None, {"ticket": "ST-carol"}) is None


async def test_admin_users_pass_the_group_gate(auth):
    auth.admin_users = {"mallory"}
    model = await auth.get_authenticated_user(None, {"ticket": "ST-mallory"})
    assert model["name"] == "mallory" and model["admin"] is True


def test_configuration_errors():
    with pytest.raises(ValueError, match="cas_server_url"):
        CASAuthenticator(callback_url=CALLBACK)
    with pytest.raises(TraitError, match="2 or 3"):
        CASAuthenticator(cas_server_url=SERVER, callback_url=CALLBACK, cas_protocol=4)
    with pytest.raises(TraitError, match="cas_server_url"):
        CASAuthenticator(cas_server_url="cas.example.edu", callback_url=CALLBACK)
    with pytest.raises(TraitError, match="callback_url"):
        CASAuthenticator(cas_server_url=SERVER, callback_url="/hub/cas/callback")


def test_urls_of_the_flow():
    auth = CASAuthenticator(cas_server_url=SERVER, callback_url=CALLBACK, cas_protocol=2)
    assert auth.login_url("/hub/") == "/hub/cas/login" and auth.logout_url("/hub/") == "/hub/logout"
    assert auth.auto_login and auth.manage_groups and auth.manage_roles and auth.logout_from_cas
    assert auth.group_mapping.claim == "memberOf"
    assert auth.cas_login_url("/hub/spawn") == protocol.login_url(SERVER, CALLBACK + "?next=%2Fhub%2Fspawn")
    assert auth.cas_logout_url() == protocol.logout_url(SERVER, "https://jupyter.example.edu/hub/cas/logged-out")
    auth.enable_workshop_codes = False  # the CAS flow's own handlers (workshop pages: test_workshops_*)
    paths = {path for path, _ in auth.get_handlers(None)}
    assert paths == {"/cas/login", "/cas/callback", "/cas/logged-out", "/logout"}
