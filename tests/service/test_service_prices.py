"""What the service tells a person a flavor costs is what metering charges her for it."""

from __future__ import annotations

import pytest
from service_stack import SITE, ServiceProcess, db_url, service_hub, start_service  # noqa: F401 (fixtures)

pytestmark = pytest.mark.integration

#: The quarter costs half a device-hour per hour (say, a scarce model), not its share.
PRICED_SITE = SITE.replace("    accelerator: {model: Ascend 910B, share: 1/4}\n    default: true\n",
                           "    accelerator: {model: Ascend 910B, share: 1/4}\n    default: true\n    price: 1/2\n")


class PricedService(ServiceProcess):
    """The service on a site whose quarter has its own price (the hub keeps the shared site)."""

    def env(self) -> dict:
        site = self.workdir / "npuhub.yaml"
        site.write_text(PRICED_SITE)
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
