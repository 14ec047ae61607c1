"""The admission core's rules as the service answers them: prices, and reservations it refuses."""

from __future__ import annotations

import datetime as dt

import pytest
from support.service_stack import SITE, ServiceProcess
from support.sites import write_site

pytestmark = pytest.mark.integration

#: The quarter costs half a device-hour per hour (say, a scarce model), not its share.
PRICED_SITE = {**SITE, "flavors": [dict(f, price="1/2") if f["id"] == "npu-quarter" else f for f in SITE["flavors"]]}


class PricedService(ServiceProcess):
    """The service on a site whose quarter has its own price (the hub keeps the shared site)."""

    def env(self) -> dict:
        site = write_site(self.workdir / "npuhub.yaml", PRICED_SITE)
        return dict(super().env(), NPUHUB_SITE_CONFIG=str(site))


def test_me_shows_the_price_metering_charges(service_hub, tmp_path):
    assert PRICED_SITE != SITE
    svc = PricedService(service_hub, f"sqlite:///{tmp_path / 'admission.sqlite'}", tmp_path / "service").start()
    try:
        student = svc.client("student1")
        r = student.get("/me")
        assert r.status_code == 200, r.text
        prices = {f["id"]: f["price"] for f in r.json()["flavors"]}
        assert prices["npu-quarter"] == {"device_hours": 0.5, "exact": "1/2"}
        assert prices["cpu"] == {"device_hours": 0.0, "exact": "0"}
    finally:
        svc.stop()


def test_reservations_the_core_refuses_are_answers_with_a_reason(start_service):
    svc = start_service()
    teacher = svc.client("teacher1")
    now = dt.datetime.now(dt.UTC)

    def window(starts: dt.timedelta, ends: dt.timedelta, **extra) -> dict:
        return {"group": "course-demo", "flavor": "npu-quarter", "count": 1,
                "starts": (now + starts).isoformat(), "ends": (now + ends).isoformat(), **extra}

    hour = dt.timedelta(hours=1)
    r = teacher.post("/reservations", window(hour, 2 * hour, id="lesson-1"))
    assert r.status_code == 201, r.text
    for body, status, reason, words in [
        (window(hour, hour), 400, "reservation_invalid", "the end must come after the start"),
        (window(-3 * hour, -hour), 400, "reservation_past", "already ended"),
        (window(hour, 2 * hour, flavor="cpu"), 400, "reservation_cpu_only", "'cpu' has no accelerator"),
        (window(hour, 2 * hour, flavor="npu-1"), 403, "flavor_not_allowed", "npu-1"),
        (window(hour, 2 * hour, id="lesson-1"), 409, "reservation_id_taken", "The id lesson-1 belongs"),
    ]:
        r = teacher.post("/reservations", body)
        assert (r.status_code, r.json()["reason"]) == (status, reason), r.text
        assert words in r.json()["error"], r.text
    assert [res["id"] for res in teacher.get("/reservations").json()["reservations"]] == ["lesson-1"]

    # a window open now holds its slices: the pool says so
    r = teacher.post("/reservations", window(dt.timedelta(0), hour, count=2))
    assert r.status_code == 201 and r.json()["held"] == 2, r.text
    pool = teacher.get("/pool").json()["models"]
    assert [(m["model"], m["reserved"], m["held"]) for m in pool] == [("Ascend 910B", "1/2", "1/2")]
