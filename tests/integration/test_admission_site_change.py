"""The admission's store after the site file changed: the service loads what it saved, and says what it dropped."""

from __future__ import annotations

import pytest

from npuhub.admission.model import State
from npuhub.admission.store import AdmissionStore
from npuhub.site_config import parse_site_config
from support.doubles import FakeClock

pytestmark = pytest.mark.integration

BEFORE = {
    "pool": [{"model": "Ascend 910B", "nodes": 1, "devices_per_node": 1, "node_prefix": "n"},
             {"model": "Ascend 310P", "nodes": 1, "devices_per_node": 1, "node_prefix": "p"}],
    "groups": {"course-a": {"kind": "course"}},
    "flavors": [
        {"id": "quarter", "cpu": 1, "memory": "1G", "accelerator": {"model": "Ascend 910B", "share": "1/4"}},
        {"id": "small", "cpu": 1, "memory": "1G", "accelerator": {"model": "Ascend 310P", "share": 1}},
    ],
}
#: the 310P node is gone, and its flavor with it
AFTER = {**BEFORE, "pool": BEFORE["pool"][:1], "flavors": BEFORE["flavors"][:1]}


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'npuhub.sqlite'}"
    return request.getfixturevalue("postgres_url")


def test_a_reload_on_a_smaller_site_refuses_what_can_no_longer_be_served(db_url):
    clock = FakeClock(1_700_000_000.0)
    store = AdmissionStore(db_url)
    adm = store.open(parse_site_config(BEFORE), clock)
    adm.reserve("course-a", "small", 1, clock.now + 60, clock.now + 3600, "teacher", reservation_id="lesson")
    holder = adm.submit("a0", {"course-a"}, "small").request
    waiter = adm.submit("a1", {"course-a"}, "small").request
    quarter = adm.submit("a2", {"course-a"}, "quarter").request
    store.commit(adm)
    assert adm.find(waiter).state is State.WAITING

    clock.now += 120  # the reservation's window is open: it would hold a 310P
    again = store.open(parse_site_config(AFTER), clock)
    store.commit(again)
    assert (again.find(holder).state, again.find(holder).reason) == (State.GRANTED, "grant_not_in_pool")
    assert again.find(quarter).state is State.GRANTED and again.find(waiter) is None
    refused = store.get_request(waiter)
    assert (refused.state, refused.reason) == (State.REFUSED, "pool_no_model")
    assert again.reservation_use("lesson", clock.now).held == 0 and again.reserved() == {}
    store.close()
