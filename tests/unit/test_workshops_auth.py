"""WorkshopCodesMixin on an authenticator: guests sign in with a code, everyone else as before."""

from __future__ import annotations

import re

from datetime import timedelta
from types import SimpleNamespace

import pytest
from traitlets.config import Config

from jupyterhub import orm
from jupyterhub.auth import Authenticator
from jupyterhub.spawner import SpawnException
from jupyterhub.utils import maybe_future

from npuhub.auth.demo import DemoAuthenticator
from npuhub.flavors import flavor_limit
from npuhub.service.models import menu_view
from npuhub.site_config import load_site_config
from npuhub.spawners.mixin import ONLY_FLAVOR_KEY
from npuhub.workshops import TEMPLATES, WorkshopCodesMixin, with_workshop_codes
from npuhub.workshops.mixin import WorkshopSignInRefused
from npuhub.workshops.policy import WorkshopError, format_code, utcnow
from support.scripted_http import Answer, ScriptedServer, closed_port_url

PASSWORD = "long-enough-password"


@pytest.fixture
def service():
    """The npuhub service as the workshops see it: it answers course-demo's menu of the example site."""
    with ScriptedServer(Answer.json(200, menu_view(load_site_config().catalogue, ["course-demo"]))) as server:
        yield server


def at(service) -> dict:
    return dict(admission_url=service.url + "/api/v1", admission_token="hub-token")


@pytest.fixture
def auth(monkeypatch, tmp_path, service):
    monkeypatch.setenv("NPUHUB_MODE", "embedded")
    a = DemoAuthenticator(password=PASSWORD, db_url=f"sqlite:///{tmp_path / 'npuhub.sqlite'}", **at(service))
    yield a
    a.workshop_store.close()


async def new_code(auth, group="course-demo", minutes=60, **form):
    now = utcnow()
    ends = now + timedelta(minutes=minutes)
    return await auth.create_workshop(creator="teacher1", may_teach=lambda g: True, group=group,
                                      starts_at=now.isoformat(), ends_at=ends.isoformat(), **form)


async def sign_in(auth, code, name):
    return await auth.get_authenticated_user(None, {"workshop_code": code, "display_name": name})


async def refusal(auth, code, name) -> WorkshopError:
    with pytest.raises(WorkshopSignInRefused) as info:
        await sign_in(auth, code, name)
    assert info.value.status_code == info.value.error.status
    return info.value.error


async def test_a_guest_gets_an_account_in_the_course_and_no_more(auth):
    w = await new_code(auth, flavor="npu-quarter", max_guests="30")
    model = await sign_in(auth, format_code(w.code).lower(), "  Zoë   Li ")
    assert re.fullmatch(r"guest-zoe-li-[a-z2-9]{4}", model["name"]) and w.code.lower() not in model["name"]
    # the third group holds her to the workshop's flavor at the npuhub service (its properties say so)
    assert model["groups"] == ["course-demo", "workshop-guests", "workshop-flavor-npu-quarter"]
    assert model["admin"] is False
    assert [r["name"] for r in model["roles"]] == ["user", "npuhub-user"]
    scopes = {s for r in model["roles"] for s in r["scopes"]}
    assert not any("teach" in s or "operate" in s or s.startswith("admin") for s in scopes)
    assert model["auth_state"][ONLY_FLAVOR_KEY] == "npu-quarter"
    assert model["auth_state"]["npuhub_workshop"] == {"code": w.code, "group": "course-demo",
                                                      "display_name": "Zoë Li"}
    # The demo accounts' own check would refuse this name; a guest just admitted passes.
    assert auth.check_allowed(model["name"], model)
    assert not auth.check_allowed(model["name"], None)
    second = await sign_in(auth, w.code, "Zoë Li")
    assert second["name"] != model["name"] and second["name"].startswith("guest-zoe-li-")


async def test_the_flavor_group_carries_the_limit_in_the_hubs_database_before_she_is_signed_in(auth):
    db = orm.new_session_factory("sqlite://")()
    login = SimpleNamespace(db=db, find_user=lambda name: None)
    w = await new_code(auth, flavor="npu-quarter")
    model = await auth.get_authenticated_user(login, {"workshop_code": w.code, "display_name": "Ada"})
    group = orm.Group.find(db, "workshop-flavor-npu-quarter")
    assert group is not None and group.properties == {"npuhub_flavors": ["npu-quarter"]}
    assert "workshop-flavor-npu-quarter" in model["groups"]
    # An admin's own properties stay; a limit someone lifted by hand is put back at the next sign-in.
    group.properties = {"note": "kept", "npuhub_flavors": ["npu-1"]}
    db.commit()
    await auth.get_authenticated_user(login, {"workshop_code": w.code, "display_name": "Bea"})
    db.expire_all()
    assert orm.Group.find(db, "workshop-flavor-npu-quarter").properties == {"note": "kept",
                                                                            "npuhub_flavors": ["npu-quarter"]}
    assert flavor_limit([orm.Group.find(db, "workshop-flavor-npu-quarter").properties]) == {"npu-quarter"}


async def test_a_workshop_without_a_flavor_leaves_the_course_menu(auth):
    w = await new_code(auth, group="lab-demo")
    model = await sign_in(auth, w.code, "张三")
    assert re.fullmatch(r"guest-[a-z2-9]{6}", model["name"])
    assert model["groups"] == ["lab-demo", "workshop-guests"]
    assert ONLY_FLAVOR_KEY not in model["auth_state"]
    assert [r["name"] for r in model["roles"]] == ["user", "npuhub-user"]  # no lab-lead role either


async def test_refusals_say_why_in_both_languages(auth):
    full = await new_code(auth, max_guests="1")
    await sign_in(auth, full.code, "first")
    cases = {
        "workshop_full": (full.code, "second"),
        "code_unknown": ("ZZZZ-ZZZZ", "x"),
        "name_empty": (full.code, "   "),
        "name_too_long": (full.code, "x" * 41),
    }
    for reason, (code, name) in cases.items():
        error = await refusal(auth, code, name)
        assert error.reason == reason and error.text.zh and error.text.en
    revoked = await new_code(auth)
    auth.workshop_store.revoke(revoked.code, by="teacher1", now=utcnow())
    assert (await refusal(auth, revoked.code, "late")).reason == "code_revoked"
    now = utcnow()
    expired = auth.workshop_store.create(group="course-demo", starts_at=now - timedelta(hours=2),
                                         ends_at=now - timedelta(seconds=1), created_by="teacher1", now=now)
    error = await refusal(auth, expired.code, "late")
    assert error.reason == "code_expired" and "已过期" in error.text.zh and "expired" in error.text.en


async def test_the_demo_accounts_still_sign_in_as_before(auth):
    teacher = await auth.get_authenticated_user(None, {"username": "teacher1", "password": PASSWORD})
    assert teacher["groups"] == ["course-demo", "teachers"]
    assert await auth.get_authenticated_user(None, {"username": "teacher1", "password": "wrong"}) is None
    assert auth.check_allowed("student1") and not auth.check_allowed("mallory")


@with_workshop_codes
class EchoAuthenticator(Authenticator):
    """Signs in whoever it is told, with the groups it is told; its own handlers ignore super()."""

    async def authenticate(self, handler, data):
        return {"name": data["username"], "groups": data.get("groups", [])}

    def check_allowed(self, username, authentication=None):
        return not username.startswith("guest-")

    def get_handlers(self, app):
        return [("/echo", object)]


@pytest.fixture
def echo(tmp_path):
    a = EchoAuthenticator(db_url=f"sqlite:///{tmp_path / 'npuhub.sqlite'}", manage_groups=True)
    yield a
    a.workshop_store.close()


async def test_the_providers_sign_ins_never_get_guest_rights_or_names(echo):
    data = {"username": "mallory", "groups": ["workshop-guests", "x"]}
    model = await echo.get_authenticated_user(None, data)
    assert model["groups"] == ["x"]
    w = await new_code(echo)
    guest = await sign_in(echo, w.code, "Li Lei")
    # A person at the identity provider who happens to have a guest's name does not get her account.
    assert await echo.get_authenticated_user(None, {"username": guest["name"]}) is None


async def test_the_decorator_puts_the_mixin_before_the_authenticators_own_methods(echo):
    assert EchoAuthenticator.__name__ == "EchoAuthenticator"
    assert EchoAuthenticator.__mro__[1] is WorkshopCodesMixin
    config = Config()
    config.EchoAuthenticator.cleanup_interval = 5.0
    config.WorkshopCodesMixin.max_guests_limit = 50
    configured = EchoAuthenticator(config=config)
    assert (configured.cleanup_interval, configured.max_guests_limit) == (5.0, 50)

    app = SimpleNamespace(template_paths=[TEMPLATES], internal_ssl=False,
                          services=[{"name": "npuhub-workshops", "api_token": "t"}],
                          hub=SimpleNamespace(api_url="http://127.0.0.1:1/hub/api"), tornado_settings={})
    routes = [route for route, _ in echo.get_handlers(app)]
    echo._workshop_cleanup.stop()
    assert routes[0] == "/echo" and {"/join", "/workshops"} <= set(routes)
    assert app.tornado_settings["headers"] == {"X-Content-Type-Options": "nosniff"}  # every hub page
    own = fake_app(tornado_settings={"headers": {"x-content-type-options": "nosniff", "X-Frame": "deny"}})
    echo.get_handlers(own)
    echo._workshop_cleanup.stop()
    assert own.tornado_settings["headers"] == {"x-content-type-options": "nosniff", "X-Frame": "deny"}
    with pytest.raises(ValueError, match="template_paths"):
        echo.get_handlers(SimpleNamespace(**{**app.__dict__, "template_paths": []}))


async def test_a_guest_stays_signed_in_while_the_workshop_is_open(auth):
    w = await new_code(auth)
    guest = await sign_in(auth, w.code, "Li Lei")
    user = SimpleNamespace(name=guest["name"])
    assert await auth.refresh_user(user) is True
    assert await auth.refresh_user(SimpleNamespace(name="student1")) is True  # the demo's own answer
    auth.workshop_store.revoke(w.code, by="teacher1", now=utcnow())
    assert await auth.refresh_user(user) is False
    # The hub calls this before it removes the account, and may still fail (an active server):
    # only the clean-up, once the hub confirms, marks her removed.
    await maybe_future(auth.delete_user(user))
    assert auth.workshop_store.guest(guest["name"]).removed_at is None


async def test_a_guest_starts_no_server_once_her_workshop_is_over(auth):
    """Signed in for a few more minutes (the hub refreshes auth lazily), she still cannot start anything."""
    w = await new_code(auth)
    guest = await sign_in(auth, w.code, "Li Lei")
    user = SimpleNamespace(name=guest["name"])
    await maybe_future(auth.pre_spawn_start(user, SimpleNamespace(name="")))
    await maybe_future(auth.pre_spawn_start(SimpleNamespace(name="student1"), SimpleNamespace(name="")))
    auth.workshop_store.revoke(w.code, by="teacher1", now=utcnow())
    with pytest.raises(SpawnException) as info:
        await maybe_future(auth.pre_spawn_start(user, SimpleNamespace(name="notes")))
    assert info.value.reason == "workshop_over" and info.value.status_code == 403
    assert "工作坊已经结束" in info.value.text.zh and "has ended or was revoked" in info.value.text.en
    await maybe_future(auth.pre_spawn_start(SimpleNamespace(name="student1"), SimpleNamespace(name="")))


async def test_teachers_make_codes_for_their_courses_only(auth, service):
    now = utcnow()
    form = dict(starts_at="", ends_at=(now + timedelta(hours=2)).isoformat())

    async def create(group="course-demo", may_teach=lambda g: True, creator="teacher1", **more):
        return await auth.create_workshop(creator=creator, may_teach=may_teach, group=group, **form, **more)

    with pytest.raises(WorkshopError) as info:
        await create("lab-demo", may_teach=lambda g: g == "course-demo")
    assert (info.value.reason, info.value.status) == ("not_teacher_of_group", 403)
    assert "lab-demo" in info.value.text.zh and "do not teach 'lab-demo'" in info.value.text.en
    with pytest.raises(WorkshopError) as info:
        await create("teachers", creator="admin")
    assert info.value.reason == "group_not_a_class"
    assert service.asked == []  # nothing to ask the service yet
    with pytest.raises(WorkshopError) as info:
        await create(flavor="npu-2")
    assert (info.value.reason, info.value.status) == ("flavor_not_allowed", 400)
    assert "Flavors of 'course-demo': cpu, npu-eighth, npu-quarter" in info.value.text.en
    assert service.asked[-1] == ("GET", "/api/v1/flavors?user=teacher1&group=course-demo")
    w = await create(may_teach=lambda g: g == "course-demo", flavor="cpu", max_guests="40")
    assert (w.group, w.flavor, w.max_guests, w.created_by) == ("course-demo", "cpu", 40, "teacher1")
    assert w.starts_at - now < timedelta(seconds=5)  # an empty start means now
    unbounded = await create()
    assert unbounded.max_guests == 60  # "most guests" left empty: the default limit, not any number
    auth.default_max_guests = 0
    assert (await create()).max_guests is None


async def test_a_code_for_one_flavor_waits_for_the_service_and_any_flavor_does_not(monkeypatch, tmp_path):
    monkeypatch.setenv("NPUHUB_MODE", "embedded")
    auth = DemoAuthenticator(password=PASSWORD, db_url=f"sqlite:///{tmp_path / 'npuhub.sqlite'}",
                             admission_url=closed_port_url() + "/api/v1", admission_token="hub-token")
    form = dict(creator="teacher1", may_teach=lambda g: True, group="course-demo", starts_at="",
                ends_at=(utcnow() + timedelta(hours=2)).isoformat())
    with pytest.raises(WorkshopError) as info:
        await auth.create_workshop(flavor="cpu", **form)
    assert (info.value.reason, info.value.status) == ("service_unreachable", 503)
    assert "稍后再试" in info.value.text.zh and "try again in a minute" in info.value.text.en
    assert auth.workshop_store.list(None) == []
    assert (await auth.create_workshop(**form)).flavor is None
    auth.workshop_store.close()


def fake_app(**kw):
    app = dict(template_paths=[TEMPLATES], internal_ssl=False,
               services=[{"name": "npuhub-workshops", "api_token": "t"}],
               hub=SimpleNamespace(api_url="http://127.0.0.1:1/hub/api"), tornado_settings={})
    app.update(kw)
    return SimpleNamespace(**app)


@pytest.mark.parametrize("kind", ["oidc", "cas"])
async def test_the_university_sign_ins_take_the_mixin_too(kind, tmp_path, service):
    """What `@with_workshop_codes` above their class statement gives the OIDC and CAS authenticators."""
    if kind == "oidc":
        from npuhub.auth.oidc import NPUHubOIDCAuthenticator as base
        settings = dict(issuer="https://sso.example.edu/realms/uni", client_id="npuhub", client_secret="s")
        own_route = "/oauth_login"
    else:
        from npuhub.auth.cas import CASAuthenticator as base
        settings = dict(cas_server_url="https://cas.example.edu/cas",
                        callback_url="https://hub.example.edu/hub/cas/callback")
        own_route = "/cas/callback"
    cls = with_workshop_codes(base)
    assert with_workshop_codes(cls) is cls  # applying it twice changes nothing
    auth = cls(db_url=f"sqlite:///{tmp_path / 'npuhub.sqlite'}", **at(service), **settings)
    routes = [route for route, *_ in auth.get_handlers(fake_app())]
    auth._workshop_cleanup.stop()
    assert own_route in routes and "/join" in routes

    guest = await sign_in(auth, (await new_code(auth, flavor="cpu")).code, "Li Lei")  # no ticket, no provider
    assert guest["groups"] == ["course-demo", "workshop-guests", "workshop-flavor-cpu"] and guest["admin"] is False
    assert await auth.refresh_user(SimpleNamespace(name=guest["name"])) is True
    auth.workshop_store.close()
