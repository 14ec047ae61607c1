"""The service's cluster manager over the real engine and store (SQLite), with a runner that records its calls.

The runner here is a recording stand-in of the ``ClusterRunner`` contract (no
processes): these tests are about the manager's order of things and its
clean-up rules; the real embedded runner is exercised in tests/service and
tests/integration.
"""

from __future__ import annotations

import asyncio

import pytest

from npuhub.admission.fairshare import FairShare
from npuhub.admission.model import State
from npuhub.admission.quota import Budgets
from npuhub.admission.store import AdmissionStore
from npuhub.dask.runners.base import ClusterRunner, Endpoints
from npuhub.service.clusters import ClusterManager
from npuhub.service.engine import Engine
from npuhub.service.metrics import Metrics
from npuhub.site_config import parse_site_config
from support.doubles import FakeClock
from support.sites import make_site

SITE = parse_site_config(make_site(devices_per_node=2, limits={"max_share": 2},
                                   dask={"max_lifetime_hours": 1, "idle_minutes": 5}))


class RecordingRunner(ClusterRunner):
    def __init__(self):
        self.calls: list[tuple] = []
        self.running: dict[str, set[str]] = {}

    async def start(self, spec):
        self.calls.append(("start", spec.id))
        self.running.setdefault(spec.id, set())
        return Endpoints(f"tls://127.0.0.1:1/{spec.id}", "http://127.0.0.1:2", {"ca": "c", "cert": "c", "key": "k"})

    async def scale(self, spec, workers):
        self.calls.append(("scale", spec.id, sorted(w.request_id for w in workers)))
        self.running[spec.id] = {w.request_id for w in workers}

    async def stop(self, spec):
        self.calls.append(("stop", spec.id))
        self.running.pop(spec.id, None)

    async def ready_workers(self, spec):
        return len(self.running.get(spec.id, ()))


@pytest.fixture
def setup(tmp_path):
    clock = FakeClock(1_700_000_000.0)
    store = AdmissionStore(f"sqlite:///{tmp_path / 'adm.sqlite'}")
    engine = Engine(store, SITE, lambda: {"budgets": Budgets(rules=[]), "fairshare": FairShare(half_life=86400.0)},
                    Metrics(), clock=clock)
    yield engine, clock, store, tmp_path
    store.close()


def make(engine, workers, server=""):
    return engine.change(lambda a: a.create_cluster("x1", {"lab-demo"}, "npu-quarter", workers, name=None,
                                                    server=server, adaptive=None, lifetime=3600,
                                                    idle_timeout=300), "create")


def test_workers_start_as_granted_and_stop_before_their_slices_are_released(setup):
    engine, clock, store, _ = setup

    async def scenario():
        await engine.load()
        runner = RecordingRunner()
        manager = ClusterManager(engine, runner, clock=clock)
        cluster = await make(engine, 3)
        await manager.sync(cluster.id)
        adm = engine.current()
        granted = sorted(r.id for r in adm.cluster_workers(cluster.id) if r.state is State.GRANTED)
        assert runner.calls[0] == ("start", cluster.id) and runner.calls[1] == ("scale", cluster.id, granted)
        assert (await manager.tick()) is None and runner.running[cluster.id] == set(granted)

        # scale down to one: the runner runs one worker before the other two slices are released
        released_when_stopped = []
        original = runner.scale

        async def scale(spec, workers):
            await original(spec, workers)
            released_when_stopped.append([r.id for r in engine.current().cluster_workers(cluster.id)])

        runner.scale = scale
        await engine.change(lambda a: a.scale_cluster(cluster.id, 1), "scale")
        await manager.sync(cluster.id)
        assert len(released_when_stopped[-1]) == 3  # still held while their processes were being stopped
        assert len(engine.current().cluster_workers(cluster.id)) == 1
        assert engine.current().pool.held("Ascend 910B") == 0.25

    asyncio.run(scenario())


def test_expiry_and_a_stopped_server_close_clusters_and_free_their_slices(setup):
    engine, clock, _, _ = setup

    async def scenario():
        await engine.load()
        runner = RecordingRunner()
        manager = ClusterManager(engine, runner, clock=clock)
        old = await make(engine, 2, server="")
        tied = await make(engine, 1, server="gpu-box")
        await manager.sync(old.id)
        await manager.sync(tied.id)
        # the hub runs her default server but not "gpu-box": that one's cluster goes
        await manager.tick({("x1", "")}, clock() + 1)
        assert ("stop", tied.id) in runner.calls
        assert tied.id not in engine.current().clusters
        assert engine.store.clusters(cluster_id=tied.id)[0].reason == "server_stopped"
        # past its lifetime: closed, slices released
        clock.now += 3601
        await manager.tick()
        assert ("stop", old.id) in runner.calls and engine.current().clusters == {}
        assert engine.current().pool.held("Ascend 910B") == 0
        assert engine.store.clusters(cluster_id=old.id)[0].reason == "expired"

    asyncio.run(scenario())


def test_after_a_restart_clusters_the_runner_lost_are_closed_once(setup):
    engine, clock, store, tmp_path = setup

    async def scenario():
        await engine.load()
        cluster = await make(engine, 2)
        requests = [r.id for r in engine.current().cluster_requests(cluster.id)]
        # a new service on the same database: the runner knows nothing of the cluster (embedded: died with it)
        engine2 = Engine(AdmissionStore(f"sqlite:///{tmp_path / 'adm.sqlite'}"), SITE,
                         lambda: {"budgets": Budgets(rules=[]), "fairshare": FairShare(half_life=86400.0)},
                         Metrics(), clock=clock)
        await engine2.load()
        assert cluster.id in engine2.current().clusters
        manager = ClusterManager(engine2, RecordingRunner(), clock=clock)
        await manager.start()
        await manager.shutdown()
        assert engine2.current().clusters == {} and engine2.current().pool.held("Ascend 910B") == 0
        states = {engine2.find(rid).state for rid in requests}
        assert states == {State.RELEASED}
        assert engine2.store.clusters(cluster_id=cluster.id)[0].reason == "service_stopped"
        engine2.close()

    asyncio.run(scenario())
