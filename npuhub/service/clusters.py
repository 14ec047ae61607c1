"""Dask clusters at the service: the admission's clusters made real by a runner, and cleaned up.

The admission core keeps what each cluster wants and its requests
(``npuhub.admission.clusters``); this keeps the runner in step with it:

- after every committed change, each open cluster whose granted workers differ
  from the processes running is brought in step (``sync``): the scheduler is
  started once, granted workers are started, workers beyond what is wanted are
  stopped *before* their slices are released;
- at every round (``tick``, each reconciliation): a cluster past its
  ``expires_at`` is closed ("expired"); one whose scheduler ended (its
  ``idle_timeout``: "idle", or a crash) is closed; one whose notebook server
  the hub no longer runs is closed ("server_stopped"); an adaptive cluster is
  scaled to what its scheduler asks for, within its range;
- closing: the cluster is marked ``closing`` (durable), its processes stopped,
  then all its requests are ended in one change (granted slices released and
  charged to now).

After a restart of the service, a cluster its runner no longer knows
(``ClusterRunner.adopt``) is closed ("service_stopped"); the embedded runner's
processes die with the service, so the service closes its clusters when it
stops, and nothing is left running after ``npuhub up`` stops.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from ..admission.clusters import Cluster
from ..admission.model import State
from ..dask.runners.base import ClusterRunner, ClusterSpec, Endpoints, WorkerGrant
from .engine import Engine
from .errors import APIError
from .models import launch_of

__all__ = ["ClusterManager", "worker_name"]


def worker_name(request_id: str) -> str:
    """A worker's name in its scheduler: ``w-`` and its request's own part."""
    return "w-" + request_id.rsplit("-w", 1)[-1]


class ClusterManager:
    """Keeps the runner in step with the admission's clusters (see the module's docstring)."""

    def __init__(self, engine: Engine, runner: ClusterRunner, log: logging.Logger | None = None,
                 clock: Callable[[], float] = time.time):
        self.engine = engine
        self.runner = runner
        self.log = log or logging.getLogger("npuhub.service")
        self.clock = clock
        self.endpoints: dict[str, Endpoints] = {}
        #: cluster id -> workers that have joined its scheduler (as last seen)
        self.ready: dict[str, int] = {}
        self._running: dict[str, set[str]] = {}  # cluster id -> request ids of workers the runner runs
        self._locks: dict[str, asyncio.Lock] = {}
        self._task: asyncio.Task | None = None
        self._pending: set[asyncio.Task] = set()
        #: seconds between rounds of expiry, ended schedulers, joined workers and adaptive scaling
        self.housekeeping_interval = 2.0

    # -- specs ----------------------------------------------------------------------------------
    def spec(self, cluster: Cluster) -> ClusterSpec:
        adm = self.engine.current()
        flavor = adm.catalogue.get(cluster.flavor)
        scheduler = adm.requests.get(f"{cluster.id}-s")
        launch = (launch_of(adm, scheduler) if scheduler is not None else None) or {}
        return ClusterSpec(id=cluster.id, user=cluster.user, flavor=cluster.flavor,
                           image=flavor.image if flavor is not None else None, scheduler_launch=launch,
                           idle_timeout=cluster.idle_timeout)

    def _lock(self, cid: str) -> asyncio.Lock:
        return self._locks.setdefault(cid, asyncio.Lock())

    # -- start and stop of the service ------------------------------------------------------------
    async def start(self) -> None:
        """Adopt what still runs (or close what does not), then follow every change."""
        warm = getattr(self.runner, "warm", None)
        if warm is not None:
            await warm()
        adm = self.engine.current()
        for cluster in list(adm.clusters.values()):
            endpoints = await self.runner.adopt(self.spec(cluster))
            if endpoints is None:
                self.log.info("Dask cluster %s of %s did not outlive the service's restart: closing it",
                              cluster.id, cluster.user)
                await self.close(cluster.id, "service_stopped", stop_first=False)
            else:
                self.endpoints[cluster.id] = endpoints
        self._task = asyncio.create_task(self._follow())

    async def shutdown(self) -> None:
        """The service stops: the runner stops what must not outlive it; the clusters it stopped are closed."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for task in list(self._pending):
            task.cancel()
        await asyncio.gather(*self._pending, return_exceptions=True)
        await self.runner.stop_all()
        adm = self.engine.adm
        if adm is None or not self.engine.available:
            return
        for cluster in list(adm.clusters.values()):
            if await self.runner.adopt(self.spec(cluster)) is None:
                try:
                    await self.engine.change(lambda a, cid=cluster.id: a.close_cluster(cid, "service_stopped"),
                                             "cluster close")
                except APIError:
                    return

    async def _follow(self) -> None:
        last = 0.0
        while True:
            await self.engine.wait_for_change(self.housekeeping_interval)
            try:
                await self.sync_all()
                if time.monotonic() - last >= self.housekeeping_interval:
                    last = time.monotonic()
                    await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                self.log.exception("Bringing Dask clusters in step failed; trying again")
                await asyncio.sleep(1)

    def soon(self, cid: str) -> None:
        """Bring one cluster in step in the background (after its creation or a scale)."""
        task = asyncio.create_task(self.sync(cid))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    # -- in step ------------------------------------------------------------------------------------
    def _needs_sync(self, cluster: Cluster) -> bool:
        if cluster.state == "closing" or cluster.id not in self.endpoints or cluster.excess:
            return True
        granted = {r.id for r in self.engine.current().cluster_workers(cluster.id) if r.state is State.GRANTED}
        return granted != self._running.get(cluster.id, set())

    async def sync_all(self) -> None:
        adm = self.engine.adm
        if adm is None:
            return
        for cluster in list(adm.clusters.values()):
            if self._needs_sync(cluster) and not self._lock(cluster.id).locked():
                await self.sync(cluster.id)

    async def sync(self, cid: str) -> None:
        async with self._lock(cid):
            adm = self.engine.adm
            cluster = adm.clusters.get(cid) if adm is not None else None
            if cluster is None:
                self._forget(cid)
                return
            if cluster.state == "closing":
                await self._close_now(cluster, cluster.reason or "closed")
                return
            spec = self.spec(cluster)
            if cid not in self.endpoints:
                try:
                    self.endpoints[cid] = await self.runner.start(spec)
                except KeyError:  # os-users: she has no Unix account on this machine (her server never ran)
                    self.log.warning("Dask cluster %s: %s has no Unix account here", cid, cluster.user)
                    await self._close_now(cluster, "no_account")
                    return
                except Exception:
                    self.log.exception("The scheduler of Dask cluster %s could not be started", cid)
                    await self._close_now(cluster, "scheduler_gone")
                    return
            excess = await self.engine.change(lambda a: a.converge_cluster(cid), "cluster scale")
            adm = self.engine.current()
            granted = [r for r in adm.cluster_workers(cid) if r.state is State.GRANTED and r.id not in excess]
            grants = [WorkerGrant(worker_name(r.id), r.id, launch_of(adm, r) or {}) for r in granted]
            await self.runner.scale(spec, grants)
            self._running[cid] = {g.request_id for g in grants}
            if excess:  # their processes are stopped: now their slices may go
                def release(a):
                    for rid in list(excess):
                        if a.find(rid) is not None:
                            a.release(rid, "cluster_scaled_down")
                    a.clusters[cid].excess = []
                await self.engine.change(release, "cluster scale")
            if cluster.state == "starting":
                await self.engine.change(lambda a: a.mark_cluster(cid, "running"), "cluster start")

    # -- closing -------------------------------------------------------------------------------------
    async def close(self, cid: str, reason: str, by: str | None = None, stop_first: bool = True) -> None:
        """Close a cluster: marked closing (durable), its processes stopped, its requests ended."""
        adm = self.engine.current()
        cluster = adm.clusters.get(cid)
        if cluster is None:
            return
        await self.engine.change(lambda a: a.mark_cluster(cid, "closing", reason), "cluster close")
        async with self._lock(cid):
            cluster = self.engine.current().clusters.get(cid)
            if cluster is not None:
                await self._close_now(cluster, reason, by, stop_first)

    async def _close_now(self, cluster: Cluster, reason: str, by: str | None = None, stop: bool = True) -> None:
        if stop:
            await self.runner.stop(self.spec(cluster))
        await self.engine.change(lambda a: a.close_cluster(cluster.id, reason, by), "cluster close")
        self.log.info("Dask cluster %s of %s closed (%s)", cluster.id, cluster.user, reason)
        self._forget(cluster.id)

    def _forget(self, cid: str) -> None:
        self.endpoints.pop(cid, None)
        self.ready.pop(cid, None)
        self._running.pop(cid, None)
        self._locks.pop(cid, None)

    # -- each round ------------------------------------------------------------------------------------
    async def tick(self, active_servers: set[tuple[str, str]] | None = None, asked_at: float | None = None) -> None:
        """Expiry, ended schedulers, adaptive scaling, joined workers (every few seconds); with the hub's active
        servers (each reconciliation), clusters whose notebook server stopped."""
        adm = self.engine.adm
        if adm is None or not self.engine.available:
            return
        now = self.clock()
        for cluster in list(adm.clusters.values()):
            if cluster.state in ("closing", "closed"):
                continue
            spec = self.spec(cluster)
            reason = None
            if now >= cluster.expires_at:
                reason = "expired"
            elif (active_servers is not None and asked_at is not None and cluster.created < asked_at
                  and cluster.server is not None and (cluster.user, cluster.server) not in active_servers):
                reason = "server_stopped"
            elif cluster.id in self.endpoints and not await self._scheduler_alive(spec):
                status = getattr(self.runner, "scheduler_exit", lambda spec: None)(spec)
                reason = "idle" if cluster.idle_timeout and status == 0 else "scheduler_gone"
            if reason is not None:
                await self.close(cluster.id, reason)
                continue
            if cluster.id in self.endpoints:
                self.ready[cluster.id] = await self.runner.ready_workers(spec)
            if cluster.adaptive is not None and cluster.id in self.endpoints:
                await self._adapt(cluster)

    async def _scheduler_alive(self, spec: ClusterSpec) -> bool:
        alive = getattr(self.runner, "scheduler_alive", None)
        return True if alive is None else bool(alive(spec))

    async def _adapt(self, cluster: Cluster) -> None:
        """Ask the scheduler how many workers it wants (``adaptive_target``), within the cluster's range."""
        low, high = cluster.adaptive
        target = await self.adaptive_target(cluster)
        if target is None:
            return
        wanted = max(low, min(high, target))
        if wanted != cluster.wanted:
            try:
                await self.engine.change(lambda a: a.scale_cluster(cluster.id, wanted, keep_adaptive=True),
                                         "cluster adapt")
            except Exception as e:  # a refusal (limit, budget): stay as it is; the cluster says why
                self.log.info("Adaptive scaling of %s to %d refused: %s", cluster.id, wanted, e)

    async def adaptive_target(self, cluster: Cluster) -> int | None:
        endpoints = self.endpoints.get(cluster.id)
        if endpoints is None:
            return None
        from distributed.core import rpc
        from distributed.security import Security

        tls = endpoints.tls or {}
        security = Security(tls_ca_file=tls.get("ca"), tls_client_cert=tls.get("cert"),
                            tls_client_key=tls.get("key"), require_encryption=bool(tls)) if tls else Security()
        try:
            async with rpc(endpoints.scheduler_address, connection_args=security.get_connection_args("client"),
                           timeout=5) as scheduler:
                return int(await asyncio.wait_for(scheduler.adaptive_target(), 5))
        except (OSError, asyncio.TimeoutError, ValueError, TypeError) as e:
            self.log.debug("No adaptive target from %s: %s", cluster.id, e)
            return None

    def touch(self, cid: str) -> None:
        """Its owner used it (the dashboard, the API): written with the next change."""
        adm = self.engine.adm
        if adm is not None and cid in adm.clusters:
            adm.touch_cluster(cid, self.clock())
