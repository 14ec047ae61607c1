"""The service's pure parts: scopes to permissions, refusals to answers, quota rules, the API document."""

from __future__ import annotations

from fractions import Fraction

import fastjsonschema
import pytest

from npuhub.admission.model import Refused
from npuhub.admission.quota import Budgets, QuotaRule
from npuhub.site_config import parse_quota_rules
from npuhub.service.auth import caller_from_model
from npuhub.service.errors import error_answer
from npuhub.service.openapi import openapi_document, validate_body

NOW = 1_700_000_000.0  # a Tuesday
DRAFT_7 = "http://json-schema.org/draft-07/schema#"


def model(name="student1", scopes=(), groups=("course-demo",), admin=False, kind="user"):
    return {"name": name, "kind": kind, "groups": list(groups), "admin": admin, "scopes": list(scopes)}


def test_scopes_become_permissions():
    student = caller_from_model(model(scopes=["custom:npuhub:use", "read:users:name!user=student1"]))
    assert student.uses and not student.operates and not student.teaches
    assert student.may_see_request("student1", {"course-demo"})
    assert not student.may_see_request("student2", {"course-demo"})
    assert student.may_see_account("user:student1") and student.may_see_account("group:course-demo")
    assert not student.may_see_account("user:student2") and not student.may_manage_reservation("course-demo")

    teacher = caller_from_model(model("teacher1", ["custom:npuhub:use", "custom:npuhub:teach!group=course-demo"],
                                      ("course-demo", "teachers")))
    assert teacher.teaches == {"course-demo"}
    assert teacher.may_see_request("student2", {"course-demo"}) and not teacher.may_see_request("x", {"course-ai"})
    assert teacher.may_manage_reservation("course-demo") and not teacher.may_manage_reservation("course-ai")
    assert not teacher.may_see_account("user:student2")

    operator = caller_from_model(model("ops", ["custom:npuhub:operate"], ()))
    assert operator.operates and operator.may_see_account("user:anyone") and operator.may_manage_reservation("x")


def test_hub_admins_operate_only_with_an_admin_token():
    assert caller_from_model(model("admin", ["admin:users", "custom:npuhub:use"], admin=True)).operates
    restricted = caller_from_model(model("admin", ["access:services!service=npuhub"], admin=True))
    assert not restricted.operates and not restricted.uses


def test_a_service_token_has_no_groups_of_its_own():
    spawner = caller_from_model(model("hub-spawner", ["custom:npuhub:operate"], ("course-demo",), kind="service"))
    assert spawner.groups == frozenset() and spawner.may_see_request("student1", {"course-demo"})
    plain = caller_from_model(model("dashboard", ["custom:npuhub:use"], kind="service"))
    assert not plain.may_see_request("dashboard", set()) and not plain.may_see_account("user:dashboard")


def from_refused(refused):
    return error_answer(refused, 0)[0]


def test_refusals_become_answers_a_person_can_act_on():
    spent = from_refused(Refused("quota_spent", {"account": "group:lab-demo", "balance": Fraction(-90)},
                                 retry_at=NOW + 3600))
    assert spent.status == 429 and spent.body()["retry_at"] == "2023-11-14T23:13:20Z"
    assert "Group lab-demo's device-hour budget is spent (-0.03 device-hours left)" in spent.body()["error"]
    assert "组 lab-demo 的" in spent.body()["error"] and "Retry-After" in spent.headers
    # the sentence as data, each language whole, with the renewal time in it
    assert spent.body()["message"] == {"zh": spent.text.zh, "en": spent.text.en}
    assert spent.body()["message"]["en"].endswith("It renews at 2023-11-14 23:13 UTC; try again then.")
    assert "2023-11-14 23:13 UTC" in spent.body()["message"]["zh"] and " / " not in spent.body()["message"]["en"]
    never = from_refused(Refused("quota_spent", {"account": "user:s", "balance": Fraction(0)}))
    assert never.body()["retry_at"] is None and "does not renew by itself" in never.body()["error"]
    limit = from_refused(Refused("share_limit", {"limit": Fraction(1, 4), "held": Fraction(1, 4), "share": Fraction(1, 4)}))
    assert limit.status == 409 and "you hold 1/4 and asked for 1/4" in limit.body()["error"]


def test_a_bug_is_a_500_with_a_reference_and_nothing_else_is():
    error, bug = error_answer(RuntimeError("boom"), 500)
    assert bug and error.status == 500 and error.reason == "internal_error" and error.extra["ref"] in str(error.text)
    error, bug = error_answer(None, 405, "PATCH")
    assert not bug and error.status == 405 and "PATCH is not supported here" in str(error.text)


def test_quota_rules_of_the_site_file_are_exact_and_checked():
    rules = parse_quota_rules([{"scope": "user", "groups": ["course-demo"], "device_hours": "1/2", "period": "day"},
                               {"scope": "group", "groups": ["lab-demo"], "device_hours": 100, "cap": "150"}])
    assert rules[0] == QuotaRule("user", frozenset({"course-demo"}), Fraction(1, 2), "day")
    assert rules[1].cap == 150 and rules[1].period == "week"
    for bad, words in [({"groups": ["g"], "device_hours": 0.5}, "exactly"),
                       ({"groups": ["g"], "device_hours": "1", "period": "year"}, "period"),
                       ({"groups": [], "device_hours": "1"}, "groups"),
                       ({"groups": ["g"], "device_hours": "1", "colour": "red"}, "unknown key")]:
        with pytest.raises(ValueError, match=words):
            parse_quota_rules([bad])


def test_reading_an_account_opens_and_renews_nothing():
    budgets = Budgets(rules=[QuotaRule("user", frozenset({"c"}), Fraction(1), "day")])
    rule = budgets.user_rule({"c"})
    peeked = budgets.peek("user:s", NOW, rule)
    assert peeked.balance == 3600 and budgets.accounts == {} and budgets.pending == []
    opened = budgets.account("user:s", NOW, rule)
    opened.balance = Fraction(-10)
    budgets.pending.clear()
    tomorrow = budgets.peek("user:s", NOW + 86400, rule)
    assert tomorrow.balance == 3590 and opened.balance == -10 and budgets.pending == []


#: Bodies a client might send, and whether the service takes them.
BODIES = {
    "NewRequest": [({"flavor": "npu-quarter", "server": "", "id": "a-1"}, True),
                   ({"flavor": "npu-quarter", "colour": "red"}, False), ({}, False)],
    "NewAdjustment": [({"device_hours": "1/2", "reason": "course project"}, True),
                      ({"device_hours": "0.1e3", "reason": "x"}, False)],
    "NewReservation": [({"group": "g", "flavor": "f", "count": 1, "starts": "2026-01-01T00:00:00Z",
                         "ends": "2026-01-01T01:00:00Z"}, True),
                       ({"group": "g", "flavor": "f", "count": 0, "starts": "2026-01-01T00:00:00Z",
                         "ends": "2026-01-01T01:00:00Z"}, False)],
    "NewCluster": [({}, True), ({"flavor": "npu-quarter", "workers": 4, "adaptive": {"minimum": 1, "maximum": 8},
                                 "name": "sweep", "server": ""}, True),
                   ({"workers": -1}, False), ({"workers": 2, "colour": "red"}, False),
                   ({"adaptive": {"minimum": 1}}, False)],
    "ClusterChange": [({"workers": 3}, True), ({"adaptive": None}, True), ({}, False)],
}


def test_the_published_document_describes_the_bodies_the_service_checks():
    """A client reading /openapi.json learns which body each call takes, and that body is what is checked."""
    doc = openapi_document("/services/npuhub/api/v1")
    bodies = {(path, method): op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
              for path, operations in doc["paths"].items() for method, op in operations.items()
              if isinstance(op, dict) and "requestBody" in op}
    assert bodies == {("/requests", "post"): "#/components/schemas/NewRequest",
                      ("/accounts/{account}/adjustments", "post"): "#/components/schemas/NewAdjustment",
                      ("/reservations", "post"): "#/components/schemas/NewReservation",
                      ("/clusters", "post"): "#/components/schemas/NewCluster",
                      ("/clusters/{id}", "patch"): "#/components/schemas/ClusterChange"}
    for name, examples in BODIES.items():
        # the published schema, read back from the document as a client's validator would
        published = fastjsonschema.compile({**doc["components"]["schemas"][name], "$schema": DRAFT_7})
        for body, valid in examples:
            assert (validate_body(name, body) == []) is valid, (name, body)
            assert accepts(published, body) is valid, (name, body)


def accepts(validator, body) -> bool:
    try:
        validator(body)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


async def test_a_groups_limit_outlives_a_hub_outage_but_an_unseen_group_is_not_guessed():
    """The service reads a group's flavor limit from the hub; the hub going away must not lift it."""
    from support.scripted_http import Answer, ScriptedServer
    from npuhub.service.hubapi import HubClient, HubUnavailable

    limited = {"kind": "group", "name": "workshop-flavor-cpu", "properties": {"npuhub_flavors": ["cpu"]}}
    with ScriptedServer(Answer.json(200, limited), Answer.json(404, {}), Answer.json(503, {})) as hub:
        client = HubClient(hub.url, "service-token", cache_seconds=0)  # every call asks again
        assert await client.group_properties("workshop-flavor-cpu") == {"npuhub_flavors": ["cpu"]}
        assert await client.group_properties("no-such-group") == {}
        # the hub answers 503 from now on: the limit once seen holds; a group never seen is not taken as free
        assert await client.group_properties("workshop-flavor-cpu") == {"npuhub_flavors": ["cpu"]}
        with pytest.raises(HubUnavailable):
            await client.group_properties("course-demo")
        assert hub.asked[0] == ("GET", "/groups/workshop-flavor-cpu")
        assert hub.headers[0]["Authorization"] == "token service-token"


async def test_a_change_asks_the_hub_afresh_and_a_hub_outage_keeps_the_last_answer():
    """Reads use the cached 'whose token is this?'; a change asks again (a revoked token gets nothing),
    unless the hub does not answer: then the answer it gave less than cache_max_age ago stands."""
    from tornado.web import HTTPError
    from support.scripted_http import Answer, ScriptedServer, closed_port_url
    from npuhub.service.auth import _FRESH, NPUHubOAuth

    async def ask(auth, token, fresh):
        mark = _FRESH.set(fresh)
        try:
            return await auth.user_for_token(token, sync=False)
        finally:
            _FRESH.reset(mark)

    me = model()
    with ScriptedServer(Answer.json(200, me), Answer.json(403, {})) as hub:
        auth = NPUHubOAuth(api_token="service", api_url=hub.url + "/hub/api", cache_max_age=300)
        assert (await ask(auth, "t1", False))["name"] == "student1"
        assert (await ask(auth, "t1", False))["name"] == "student1" and len(hub.asked) == 1  # a read: cached
        assert await ask(auth, "t1", True) is None and len(hub.asked) == 2  # a change: asked, revoked since
        assert await ask(auth, "t1", False) is None and len(hub.asked) == 2  # the new answer is cached
        auth.cache[next(iter(auth.cache.values.keys()))] = me  # as it was before the revocation

    auth.api_url = closed_port_url() + "/hub/api"  # the hub is away
    key = next(iter(auth.cache.values.keys()))
    assert (await ask(auth, "t1", True))["name"] == "student1" and auth.cache[key] == me
    with pytest.raises(HTTPError):
        await ask(auth, "never-seen", True)
