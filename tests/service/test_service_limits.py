"""A hub group's flavor limit (a workshop's) held by the service itself, at every door: menus and requests.

The hub's spawner is only one client: a guest held to one flavor may call
the service with her own token (or a Dask cluster may), so the service reads
the limit from her groups' properties at the hub and refuses the rest.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration

GROUP = "workshop-flavor-cpu"


@pytest.fixture
def held_to_cpu(service_hub):
    """student23 in a hub group whose properties hold its members to cpu (as a workshop's guests are)."""
    admin = service_hub.admin
    assert admin("POST", f"/groups/{GROUP}").status_code in (201, 409)
    r = admin("PUT", f"/groups/{GROUP}/properties", json={"npuhub_flavors": ["cpu"]})
    assert r.status_code == 200, r.text
    assert admin("POST", f"/groups/{GROUP}/users", json={"users": ["student23"]}).status_code == 200
    yield "student23"
    admin("DELETE", f"/groups/{GROUP}/users", json={"users": ["student23"]})


def test_a_person_held_to_one_flavor_sees_only_it_and_is_refused_the_rest_whoever_asks(start_service, held_to_cpu):
    svc = start_service()
    guest = svc.client(held_to_cpu)
    menu = guest.get("/flavors").json()
    assert [f["id"] for f in menu["flavors"]] == ["cpu"] and menu["default"] == "cpu"
    me = guest.get("/me").json()
    assert GROUP in me["groups"] and [f["id"] for f in me["flavors"]] == ["cpu"]

    # Her own token asks for a quarter: refused, in both languages, and nothing is held or queued.
    r = guest.post("/requests", {"flavor": "npu-quarter"})
    assert r.status_code == 403, r.text
    body = r.json()
    assert body["reason"] == "flavor_not_allowed"
    assert "This workshop allows only cpu" in body["message"]["en"]
    assert "这个工作坊只允许使用规格 cpu" in body["message"]["zh"]
    assert guest.get("/me").json()["holdings"] == [] and guest.get("/me").json()["waiting"] == []

    # The hub's spawner (an operator) asking for her, with her groups or without: the same answer.
    operator = svc.client("admin")
    assert [f["id"] for f in operator.get("/flavors", params={"user": held_to_cpu}).json()["flavors"]] == ["cpu"]
    r = operator.post("/requests", {"flavor": "npu-quarter", "user": held_to_cpu,
                                    "groups": ["course-demo", "workshop-guests", GROUP]})
    assert r.status_code == 403 and r.json()["reason"] == "flavor_not_allowed"
    r = operator.post("/requests", {"flavor": "npu-quarter", "user": held_to_cpu})
    assert r.status_code == 403 and r.json()["reason"] == "flavor_not_allowed"

    # The flavor she is held to is hers as before; others of her course are untouched.
    r = guest.post("/requests", {"flavor": "cpu"})
    assert r.status_code == 201 and r.json()["state"] == "granted", r.text
    other = svc.client("student22")
    assert [f["id"] for f in other.get("/flavors").json()["flavors"]] == ["cpu", "npu-quarter"]
    r = other.post("/requests", {"flavor": "npu-quarter"})
    assert r.status_code == 201, r.text
    assert "Traceback" not in svc.log()


def test_a_token_the_hub_stops_honouring_gets_nothing_granted_though_reads_are_cached(start_service, service_hub):
    """The service caches 'whose token is this?' (here 300 s) for status polls; a change asks the hub again.

    A workshop guest's token, once her account is removed, must not get a
    slice from that cache (it did: a grant for a person who no longer exists).
    """
    svc = start_service()
    r = service_hub.session("student21").api("POST", "/users/student21/tokens", json={"note": "to revoke"})
    assert r.status_code == 201, r.text
    token, token_id = r.json()["token"], r.json()["id"]
    client = type(svc.client(None))(service_hub.service_base, token, "student21")
    assert client.get("/me").status_code == 200  # the hub's answer is now cached
    assert service_hub.admin("DELETE", f"/users/student21/tokens/{token_id}").status_code == 204

    r = client.post("/requests", {"flavor": "cpu"})
    assert r.status_code == 401 and r.json()["reason"] == "not_signed_in", r.text
    assert client.get("/me").status_code == 401  # and the cache now holds the hub's new answer
    assert svc.client("admin").get("/requests", params={"user": "student21"}).json()["requests"] == []
