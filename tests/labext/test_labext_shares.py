"""Sharing a server from JupyterLab: the server part on JupyterHub's own shares API, against a real hub.

``npuhub-lab/shares`` lists who may use this server, shares it with a person or
one of my groups, and revokes, calling ``/hub/api/shares/<owner>/<server>`` with
the server's own token; what the hub refuses comes back as a sentence in both
languages. The hub is the service tests' (npuhub's hub configuration, which
lets everyone share her own servers: npuhub.sharing), the service the real one
(it knows the owner's groups).
"""

from __future__ import annotations

import json

import pytest

from support.service_stack import PREFIX

pytestmark = pytest.mark.integration

#: The tests that reach the check of the owner's groups, which asks the service.
WITH_SERVICE = {"test_share_with_a_person_and_my_group_then_revoke", "test_refusals_are_sentences_in_both_languages"}
#: The scopes of student1's default server's token, as npuhub's spawners ask for them (npuhub.sharing),
#: narrowed to her default server as JupyterHub narrows them.
SERVER_SCOPES = ("custom:npuhub:use", "access:servers!server=student1/", "shares!server=student1/",
                 "read:shares!server=student1/", "read:users:name", "read:groups:name")


@pytest.fixture
def sharing_hub(service_hub):
    return service_hub


@pytest.fixture
def lab_options(request, sharing_hub):
    """The server part of student1's default server: the service, the hub's API, her name, her server's token.

    The service (which knows her groups) only for the tests that share: the others never get that far.
    """
    service = "http://127.0.0.1:9/services/npuhub/"  # nothing listens there
    if request.node.name in WITH_SERVICE:
        service = f"{request.getfixturevalue('lab_service').url}{PREFIX}"
    return {"service_url": service, "hub_api_url": f"http://127.0.0.1:{sharing_hub.hub_port}/hub/api",
            "user": "student1", "api_token": sharing_hub.token("student1", SERVER_SCOPES)}


def settings_of(serverapp):
    return serverapp.web_app.settings["npuhub_lab_shares"].settings


def shares(run, jp_fetch, method="GET", body=None, **params):
    kwargs = {"method": method, "raise_error": False}
    if body is not None:
        kwargs["body"] = json.dumps(body) if not isinstance(body, bytes) else body
    if params:
        kwargs["params"] = params
    r = run(jp_fetch("npuhub-lab", "shares", **kwargs))
    return r.code, json.loads(r.body)


def who(listing: dict) -> list[tuple[str, str]]:
    return [(s["kind"], s["name"]) for s in listing["shares"]]


def hub_shares(hub) -> list[dict]:
    """student1's default server's shares as the hub lists them to an admin."""
    r = hub.admin("GET", "/shares/student1/")
    assert r.status_code == 200, r.text
    body = r.json()
    return body["items"] if isinstance(body, dict) else body


def hub_scopes(hub, user: str) -> set[str]:
    r = hub.session(user).api("GET", "/user")
    r.raise_for_status()
    return set(r.json()["scopes"])


def test_share_with_a_person_and_my_group_then_revoke(run, jp_fetch, sharing_hub):
    code, listing = shares(run, jp_fetch)
    assert code == 200, listing
    assert (listing["owner"], listing["server"], listing["shares"]) == ("student1", "", [])

    code, listing = shares(run, jp_fetch, "POST", {"user": "student2"})
    assert code == 200, listing
    assert who(listing) == [("user", "student2")]
    assert listing["shares"][0]["scopes"] == ["access:servers!server=student1/"]
    # for real at the hub: student2 may now use student1's server, labmember1 may not
    assert "access:servers!server=student1/" in hub_scopes(sharing_hub, "student2")
    assert "access:servers!server=student1/" not in hub_scopes(sharing_hub, "labmember1")

    code, listing = shares(run, jp_fetch, "POST", {"group": "course-demo"})
    assert code == 200, listing
    assert who(listing) == [("user", "student2"), ("group", "course-demo")]
    assert {(s["kind"], (s["user"] or s["group"])["name"]) for s in hub_shares(sharing_hub)} == \
        {("user", "student2"), ("group", "course-demo")}

    # revoking: the person's access ends at the hub; revoking again is no error
    code, listing = shares(run, jp_fetch, "DELETE", user="student2")
    assert code == 200 and who(listing) == [("group", "course-demo")], listing
    assert [s["kind"] for s in hub_shares(sharing_hub)] == ["group"]
    code, listing = shares(run, jp_fetch, "DELETE", user="student2")
    assert code == 200 and who(listing) == [("group", "course-demo")]
    code, listing = shares(run, jp_fetch, "DELETE", group="course-demo")
    assert code == 200 and listing["shares"] == []
    assert "access:servers!server=student1/" not in hub_scopes(sharing_hub, "student2")


def test_refusals_are_sentences_in_both_languages(run, jp_fetch, sharing_hub):
    cases = [
        ({"user": "nobody-by-that-name"}, 400, "share_user_unknown", "nobody-by-that-name"),
        ({"group": "lab-demo"}, 403, "share_group_not_allowed", "lab-demo"),  # not one of her groups
        ({"user": "student1"}, 400, "share_with_self", "own server"),
        ({"user": "a/b"}, 400, "share_target_invalid", "one or the other"),
        ({"user": "student2", "group": "course-demo"}, 400, "share_target_invalid", "Name one person"),
        ({}, 400, "share_target_invalid", "Name one person"),
        (b"not json", 400, "share_target_invalid", "Name one person"),
    ]
    for body, status, reason, words in cases:
        code, answer = shares(run, jp_fetch, "POST", body)
        assert (code, answer["reason"]) == (status, reason), (body, answer)
        assert words in answer["message"]["en"] and answer["message"]["zh"], answer
        assert answer["error"] == f"{answer['message']['zh']} / {answer['message']['en']}"
    code, answer = shares(run, jp_fetch, "DELETE")
    assert (code, answer["reason"]) == (400, "share_target_invalid")
    assert shares(run, jp_fetch)[1]["shares"] == []  # nothing was shared along the way


def test_a_token_without_the_sharing_scopes_says_sharing_is_not_allowed(run, jp_fetch, jp_serverapp,
                                                                       sharing_hub):
    settings_of(jp_serverapp).api_token = sharing_hub.token("student1", ("custom:npuhub:use",))
    for method, body in (("GET", None), ("POST", {"user": "student2"})):
        code, answer = shares(run, jp_fetch, method, body)
        assert (code, answer["reason"]) == (403, "share_not_allowed"), answer
        assert "ask staff" in answer["message"]["en"] and "管理员" in answer["message"]["zh"]
    # labmember1 is not in the course the role is for: her server's token cannot share either
    settings = settings_of(jp_serverapp)
    settings.user = "labmember1"
    settings.api_token = sharing_hub.token("labmember1", ("access:servers!server=labmember1/",))
    assert shares(run, jp_fetch, "POST", {"user": "student2"})[1]["reason"] == "share_not_allowed"


def test_without_the_hub_a_sentence_not_a_traceback(run, jp_fetch, jp_serverapp):
    settings = settings_of(jp_serverapp)
    settings.hub_api_url = ""
    code, answer = shares(run, jp_fetch)
    assert (code, answer["reason"]) == (503, "hub_not_configured") and "JUPYTERHUB_API_URL" in answer["error"]
    settings.hub_api_url = "http://127.0.0.1:9/hub/api/"  # nothing listens there
    code, answer = shares(run, jp_fetch, "POST", {"user": "student2"})
    assert (code, answer["reason"]) == (503, "hub_unreachable"), answer
