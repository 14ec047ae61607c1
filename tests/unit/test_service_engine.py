"""The engine against a real SQLite file: a change whose data the database refuses is that change's error, not an outage."""

from __future__ import annotations

import asyncio
import time

import pytest

from npuhub.admission.fairshare import FairShare
from npuhub.admission.quota import Budgets
from npuhub.admission.store import AdmissionStore, StoreUnavailable
from npuhub.service.engine import Engine, data_error_answer
from npuhub.service.errors import APIError
from npuhub.service.metrics import Metrics
from npuhub.site_config import load_site_config
from support.dbfaults import poisoned_reservation


@pytest.fixture
def engine(tmp_path):
    store = AdmissionStore(f"sqlite:///{tmp_path / 'admission.sqlite'}")
    eng = Engine(store, load_site_config(None),
                 lambda: {"budgets": Budgets(rules=[]), "fairshare": FairShare(half_life=86400.0)}, Metrics())
    assert asyncio.run(eng.load())
    yield eng
    eng.close()


def test_a_change_the_database_refuses_is_a_400_and_the_store_stays_up(engine):
    now = time.time()

    reserve_nan = poisoned_reservation(now)

    async def scenario():
        with pytest.raises(APIError) as refused:
            await engine.change(reserve_nan, "reserve")
        assert refused.value.status == 400 and refused.value.reason == "data_refused"
        assert engine.available and engine.down_since is None
        # the refused change is gone from memory too; the next change from anyone is accepted
        assert "poisoned" not in engine.current().reservations
        res = await engine.change(lambda adm: adm.reserve("course-demo", "npu-quarter", 1, now + 3600, now + 7200,
                                                          "teacher1", reservation_id="fine"), "reserve")
        assert res.id == "fine" and "fine" in engine.current().reservations

    asyncio.run(scenario())


def _store_error(cause: Exception) -> StoreUnavailable:
    try:
        raise StoreUnavailable(str(cause)) from cause
    except StoreUnavailable as e:
        return e


def test_which_database_errors_are_the_request_s_and_which_an_outage():
    import sqlalchemy.exc as sa_exc

    unique = data_error_answer(_store_error(sa_exc.IntegrityError("INSERT", {}, Exception("UNIQUE failed: x.id"))))
    assert (unique.status, unique.reason) == (409, "data_conflict")
    too_long = data_error_answer(_store_error(sa_exc.DataError("INSERT", {}, Exception("value too long for type"))))
    assert (too_long.status, too_long.reason) == (400, "data_refused") and "too long" in too_long.text.en
    assert data_error_answer(_store_error(sa_exc.OperationalError("SELECT 1", {}, Exception("connection refused")))) is None
