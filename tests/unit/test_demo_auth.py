"""The demo accounts: right groups, one password, and never outside the embedded stack."""

import pytest

from npuhub.auth.demo import DemoAuthenticator, demo_accounts


def test_accounts_and_groups():
    accounts = demo_accounts()
    assert len([a for a in accounts if a.startswith("student")]) == 40
    assert accounts["student40"] == ["course-demo"]
    assert accounts["labmember3"] == ["lab-demo"]
    assert accounts["teacher1"] == ["course-demo", "teachers"]
    assert accounts["admin"] == ["admins"]


def test_refused_outside_the_embedded_stack(monkeypatch):
    monkeypatch.delenv("NPUHUB_MODE", raising=False)
    with pytest.raises(RuntimeError, match="only runs in the embedded stack"):
        DemoAuthenticator(password="long-enough-password")


@pytest.fixture
def auth(monkeypatch):
    monkeypatch.setenv("NPUHUB_MODE", "embedded")
    return DemoAuthenticator(password="long-enough-password")


async def test_sign_in(auth):
    student = await auth.authenticate(None, {"username": "Student7", "password": "long-enough-password"})
    assert (student["name"], student["groups"], student["admin"]) == ("student7", ["course-demo"], False)
    assert [r["name"] for r in student["roles"]] == ["user", "npuhub-user"]
    teacher = await auth.authenticate(None, {"username": "teacher1", "password": "long-enough-password"})
    assert "custom:npuhub:teach!group=course-demo" in [s for r in teacher["roles"] for s in r["scopes"]]
    assert (await auth.authenticate(None, {"username": "admin", "password": "long-enough-password"}))["admin"]
    assert await auth.authenticate(None, {"username": "student7", "password": "wrong"}) is None
    assert await auth.authenticate(None, {"username": "student41", "password": "long-enough-password"}) is None
    assert await auth.authenticate(None, {}) is None
    assert auth.check_allowed("teacher1") and not auth.check_allowed("mallory")


def test_short_password_is_refused(monkeypatch):
    monkeypatch.setenv("NPUHUB_MODE", "embedded")
    with pytest.raises(RuntimeError, match="at least 8"):
        DemoAuthenticator(password="short")


async def test_admin_keeps_jupyterhub_admin_role(auth):
    admin = await auth.authenticate(None, {"username": "admin", "password": "long-enough-password"})
    assert {"user", "admin", "npuhub-operator"} <= {r["name"] for r in admin["roles"]}
