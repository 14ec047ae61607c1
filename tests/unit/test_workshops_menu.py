"""The workshops take the flavors from the npuhub service's menu; the hub keeps no copy of the site file's."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

from npuhub.i18n import Text
from npuhub.service.models import menu_view
from npuhub.site_config import load_site_config
from npuhub.workshops.menu import WorkshopMenus, flavor_choices, flavor_names
from npuhub.workshops.policy import WorkshopError
from support.scripted_http import Answer, ScriptedServer, closed_port_url

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = load_site_config().catalogue
#: What reading the site file's flavors looks like in code.
SITE_FLAVORS = r"\.catalogue\b|FlavorCatalogue|load_site_config|parse_site_config|\bsite\.flavors\b"


def menu_of(*groups: str) -> list[dict]:
    """A group's menu exactly as the service renders it."""
    return menu_view(CATALOGUE, groups)["flavors"]


def menus_at(url: str, token: str = "hub-token") -> WorkshopMenus:
    return WorkshopMenus(url + "/services/npuhub/api/v1", token, timeout=5)


async def test_a_groups_menu_is_the_services_answer_for_that_group():
    with ScriptedServer(Answer.json(200, menu_view(CATALOGUE, ["course-demo"]))) as service:
        menu = await menus_at(service.url).of_group("teacher1", "course-demo")
    assert [f["id"] for f in menu] == ["cpu", "npu-eighth", "npu-quarter"]
    assert [m for m, _ in service.asked] == ["GET"]
    path = urlsplit(service.asked[0][1])
    assert path.path == "/services/npuhub/api/v1/flavors"
    assert sorted(parse_qsl(path.query)) == [("group", "course-demo"), ("user", "teacher1")]
    assert service.headers[0]["Authorization"] == "token hub-token"


async def test_a_service_that_does_not_answer_is_a_sentence_for_the_teacher():
    with ScriptedServer(Answer.hub_page(503)) as restarting:  # the proxy's page while it restarts
        with pytest.raises(WorkshopError) as info:
            await menus_at(restarting.url).of_group("teacher1", "course-demo")
    with pytest.raises(WorkshopError) as closed:  # nobody listens there
        await menus_at(closed_port_url()).of_groups("teacher1", ["course-demo", "lab-demo"])
    for error in (info.value, closed.value):
        assert (error.reason, error.status) == ("service_unreachable", 503)
        assert "调度服务" in error.text.zh and "try again in a minute" in error.text.en
    with pytest.raises(WorkshopError) as unset:
        await WorkshopMenus("", "").of_group("teacher1", "course-demo")
    assert (unset.value.reason, unset.value.status) == ("service_unreachable", 503)
    assert "npuhub" in unset.value.text.en


async def test_a_refusal_of_the_service_reaches_the_teacher_as_it_is():
    refusal = {"error": "x", "reason": "permission_denied",
               "message": {"zh": "没有权限。", "en": "Not allowed."}}
    with ScriptedServer(Answer.json(403, refusal)) as service:
        with pytest.raises(WorkshopError) as info:
            await menus_at(service.url).of_group("teacher1", "course-demo")
    assert (info.value.reason, info.value.status, info.value.text) == (
        "permission_denied", 403, Text("没有权限。", "Not allowed."))


def test_the_form_offers_each_flavor_once_in_menu_order_with_the_groups_that_have_it():
    both = menu_of("course-demo", "lab-demo")
    choices = flavor_choices(both, {"course-demo": menu_of("course-demo"), "lab-demo": menu_of("lab-demo")})
    assert [(c["id"], c["groups"]) for c in choices] == [
        (f["id"], [g for g in ("course-demo", "lab-demo") if f in menu_of(g)]) for f in both]
    assert choices[0]["name"] == Text(both[0]["names"]["zh"], both[0]["names"]["en"])
    # the union may hold flavors of groups not on the form (a code listed for an admin): not offered
    course_only = flavor_choices(both, {"course-demo": menu_of("course-demo")})
    assert [(c["id"], c["groups"]) for c in course_only] == [(f["id"], ["course-demo"]) for f in menu_of("course-demo")]
    npu_1 = next(f for f in menu_of("lab-demo") if f["id"] == "npu-1")
    assert flavor_names(menu_of("lab-demo"))["npu-1"] == Text(npu_1["names"]["zh"], npu_1["names"]["en"])


def test_the_hub_process_reads_no_flavors_from_the_site_file():
    """Why a code search as well as the stack test: that one sees what the hub *asks* after start-up;
    this one also catches a copy taken at start-up (hubconfig reads the site file once, for ``auth``)."""
    hub_side = [ROOT / "npuhub" / "hubconfig.py"]
    for part in ("workshops", "spawners", "auth"):
        hub_side += (ROOT / "npuhub" / part).rglob("*.py")
    offenders = {}
    for path in hub_side:
        source = path.read_text()
        found = re.findall(SITE_FLAVORS, source)
        if path.name == "hubconfig.py":  # its import, and its one read: for `auth`, the group names, the spawner
            assert found.count("load_site_config") == 2, found
            found = [f for f in found if f != "load_site_config"]
        if found:
            offenders[str(path.relative_to(ROOT))] = found
    assert offenders == {}
    hubconfig = (ROOT / "npuhub" / "hubconfig.py").read_text()
    assert re.findall(r"\bsite\.(\w+)", hubconfig) and set(re.findall(r"\bsite\.(\w+)", hubconfig)) <= {
        "auth", "source", "groups", "spawner", "isolation", "language"}
