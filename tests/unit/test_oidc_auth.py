"""The OpenID Connect authenticator without a provider: discovery rules, claims to groups, refusals, pages."""

from __future__ import annotations

import pytest

from support.doubles import FakeOIDCProvider, FakeSignedInUser
from npuhub.groups import GroupMapping
from npuhub.auth.oidc import (
    MISCONFIGURED,
    NOT_ALLOWED,
    PROVIDER_UNREACHABLE,
    NPUHubOIDCAuthenticator,
    ProviderUnreachable,
    SignInError,
    endpoints_from_discovery,
)

ISSUER = "https://sso.uni.test/realms/uni"
DOCUMENT = {
    "issuer": ISSUER,
    "authorization_endpoint": ISSUER + "/protocol/openid-connect/auth",
    "token_endpoint": ISSUER + "/protocol/openid-connect/token",
    "userinfo_endpoint": ISSUER + "/protocol/openid-connect/userinfo",
    "end_session_endpoint": ISSUER + "/protocol/openid-connect/logout",
}


def test_endpoints_from_a_discovery_document():
    assert endpoints_from_discovery(ISSUER + "/", DOCUMENT) == {
        "authorize_url": DOCUMENT["authorization_endpoint"],
        "token_url": DOCUMENT["token_endpoint"],
        "userdata_url": DOCUMENT["userinfo_endpoint"],
        "end_session_url": DOCUMENT["end_session_endpoint"],
    }
    without_logout = {k: v for k, v in DOCUMENT.items() if k != "end_session_endpoint"}
    assert "end_session_url" not in endpoints_from_discovery(ISSUER, without_logout)


@pytest.mark.parametrize("document, problem", [
    ({**DOCUMENT, "issuer": "https://evil.test"}, "names the issuer"),
    ({k: v for k, v in DOCUMENT.items() if k != "token_endpoint"}, "no token_endpoint"),
    ({**DOCUMENT, "userinfo_endpoint": "javascript:alert(1)"}, "not a URL"),
    (["not", "an", "object"], "not a JSON object"),
])
def test_unusable_discovery_documents(document, problem):
    with pytest.raises(ValueError, match=problem):
        endpoints_from_discovery(ISSUER, document)


async def test_discovery_is_lazy_retried_and_cached(monkeypatch):
    auth = NPUHubOIDCAuthenticator(issuer=ISSUER, token_url="https://gateway.uni.test/token")
    provider = FakeOIDCProvider(DOCUMENT, down=1)
    monkeypatch.setattr(auth, "httpfetch", provider)
    assert provider.requests == []  # nothing at start-up

    with pytest.raises(ProviderUnreachable) as failed:
        await auth.discover()
    assert failed.value.status_code == 503 and failed.value.text == PROVIDER_UNREACHABLE

    await auth.discover()  # the next login tries again
    await auth.discover()
    assert len(provider.requests) == 2  # and then it is cached
    assert auth.authorize_url == DOCUMENT["authorization_endpoint"]
    assert auth.token_url == "https://gateway.uni.test/token"  # configured explicitly: wins
    assert auth.userdata_url == DOCUMENT["userinfo_endpoint"]
    assert auth.end_session_url == DOCUMENT["end_session_endpoint"]


async def test_configured_endpoints_need_no_discovery_while_the_provider_is_down(monkeypatch):
    auth = NPUHubOIDCAuthenticator(issuer=ISSUER, authorize_url="https://a.test/auth",
                                   token_url="https://a.test/token", userdata_url="https://a.test/me")
    monkeypatch.setattr(auth, "httpfetch", FakeOIDCProvider(DOCUMENT, down=5))
    await auth.discover()
    assert await auth.provider_logout_url("id-token") is None  # no end-session endpoint known


async def test_a_bad_discovery_document_is_a_configuration_error(monkeypatch):
    auth = NPUHubOIDCAuthenticator(issuer=ISSUER)
    impostor = FakeOIDCProvider({**DOCUMENT, "issuer": "https://other.test"}, issuer=ISSUER)
    monkeypatch.setattr(auth, "httpfetch", impostor)
    with pytest.raises(SignInError) as failed:
        await auth.discover()
    assert failed.value.status_code == 500 and failed.value.text == MISCONFIGURED


async def test_logout_url_at_the_provider(monkeypatch):
    auth = NPUHubOIDCAuthenticator(issuer=ISSUER, client_id="npuhub",
                                   post_logout_redirect_url="https://jupyter.uni.test/hub/login")
    monkeypatch.setattr(auth, "httpfetch", FakeOIDCProvider(DOCUMENT))
    url = await auth.provider_logout_url("abc")
    assert url == (DOCUMENT["end_session_endpoint"] + "?client_id=npuhub&id_token_hint=abc"
                   "&post_logout_redirect_uri=https%3A%2F%2Fjupyter.uni.test%2Fhub%2Flogin")
    auth.logout_from_provider = False
    assert await auth.provider_logout_url("abc") is None


def model(claims: dict, name: str = "zhang.san") -> dict:
    return {"name": name, "admin": None, "auth_state": {"oauth_user": claims}}


MAPPING = GroupMapping(claim="org.groups", strip_prefix="/", allowed=frozenset({"course-ai101"}))


async def test_claims_become_groups_admin_and_roles():
    auth = NPUHubOIDCAuthenticator(issuer=ISSUER, group_mapping=MAPPING)
    student = await auth.update_auth_model(model({"org": {"groups": ["/course-AI101", "/library"]}}))
    assert student["groups"] == ["course-ai101"] and student["admin"] is False
    assert {r["name"] for r in student["roles"]} == {"user", "npuhub-user"}
    assert await auth.get_user_groups(student["auth_state"]) == {"course-ai101"}
    assert await auth.check_allowed("zhang.san", student)

    admin = await auth.update_auth_model(model({"org": {"groups": ["/admins"]}}, "li.si"))
    assert admin["admin"] is True and {"admin", "npuhub-operator"} <= {r["name"] for r in admin["roles"]}
    assert await auth.check_allowed("li.si", admin)


async def test_someone_outside_the_allowed_groups_is_told_who_she_signed_in_as():
    auth = NPUHubOIDCAuthenticator(issuer=ISSUER, group_mapping=MAPPING)
    outsider = await auth.update_auth_model(model({"org": {"groups": ["/lab-vision"]}}, "wang.wu"))
    with pytest.raises(SignInError) as refused:
        await auth.check_allowed("wang.wu", outsider)
    assert refused.value.status_code == 403
    assert refused.value.jupyterhub_message == str(NOT_ALLOWED.format(user="wang.wu"))
    # allowed_users still lets a named person in
    auth.allowed_users = {"wang.wu"}
    assert await auth.check_allowed("wang.wu", outsider)


def test_the_error_page_shows_both_languages_escaped():
    error = SignInError(403, NOT_ALLOWED.format(user="<script>"), "detail with 100% in it", retry=True)
    error.retry_url = "/hub/login"
    page = error.jupyterhub_html_message
    assert "&lt;script&gt;" in page and "<script>" not in page
    assert 'lang="zh-CN"' in page and 'lang="en"' in page and 'href="/hub/login"' in page
    assert error.reason == "Forbidden" and error.log_message == "detail with 100%% in it"
    assert "href" not in SignInError(500, MISCONFIGURED).jupyterhub_html_message


async def test_refresh_keeps_people_signed_in_while_the_provider_is_down(monkeypatch):
    auth = NPUHubOIDCAuthenticator(issuer=ISSUER, group_mapping=MAPPING)
    provider = FakeOIDCProvider(DOCUMENT, {"preferred_username": "zhang.san"})
    monkeypatch.setattr(auth, "httpfetch", provider)
    await auth.discover()
    provider.down = 1
    assert await auth.refresh_user(FakeSignedInUser("zhang.san")) is True
    assert provider.requests[-1] == DOCUMENT["userinfo_endpoint"]


async def test_refresh_follows_the_provider_and_ends_access_outside_the_allowed_groups(monkeypatch):
    auth = NPUHubOIDCAuthenticator(issuer=ISSUER, group_mapping=MAPPING)
    claims = {"preferred_username": "zhang.san", "org": {"groups": ["/course-ai101", "/teachers"]}}
    monkeypatch.setattr(auth, "httpfetch", FakeOIDCProvider(DOCUMENT, claims))
    refreshed = await auth.refresh_user(FakeSignedInUser("zhang.san"))
    assert refreshed["groups"] == ["course-ai101", "teachers"]
    assert "npuhub-teacher-course-ai101" in {r["name"] for r in refreshed["roles"]}

    claims["org"]["groups"] = ["/lab-vision"]  # left the course: sign in again (and be refused)
    assert await auth.refresh_user(FakeSignedInUser("zhang.san")) is False
