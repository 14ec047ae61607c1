"""The npuhub service process: configuration, the web server, and the periodic metering and recovery.

Run by JupyterHub as a managed service (``python -m npuhub.service``, see
``npuhub.embedded.hub.configure_service``) or on its own (a Deployment in a
cluster), with JupyterHub's service environment (``JUPYTERHUB_API_TOKEN``,
``JUPYTERHUB_SERVICE_URL``, ``JUPYTERHUB_SERVICE_PREFIX``, ...).

Metering runs every ``meter_interval`` seconds: each running session is
charged from where the last tick left off, in the same transaction that moves
``metered_until``, so a charge is made exactly once. A crash (or ``kill -9``)
loses no charge: the next start charges from the stored ``metered_until``. What
a crash can cost is time *reported late*: up to one interval during which a
budget may run below zero before anyone notices.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from urllib.parse import urlparse

from tornado.httpserver import HTTPServer
from tornado.web import Application as WebApplication

from ..announcements import AnnouncementStore
from .. import __version__
from ..activity import activity_lag
from ..admission.fairshare import FairShare
from ..admission.model import State
from ..admission.quota import Budgets
from ..admission.store import AdmissionStore
from ..flavors import flavor_limit
from ..site_config import SiteConfigError, load_site_config
from .enforcement import BudgetWatch, WindowEndWatch
from .engine import Engine
from .errors import APIError
from .auth import NPUHubOAuth
from .clusters import ClusterManager
from .hubapi import HubClient, HubUnavailable
from .base import Context, NotFoundHandler
from .inventory import ClusterInventory
from .leader import Leadership, leader_lock_for
from .metrics import Metrics
from .openapi import openapi_document
from .reclaim import IdleReclaim
from .routes import url_table
from .settings import ServiceSettings
from .validation import DRAIN_BYTES

__all__ = ["NPUHubService", "main"]


class NPUHubService(ServiceSettings):
    """The npuhub admission service: a JupyterHub service with a REST API over the admission core."""

    name = "npuhub-service"
    version = __version__
    description = "The npuhub admission service: quotas, a fair queue, reservations, as a REST API."

    aliases = {
        "f": "NPUHubService.config_file",
        "config": "NPUHubService.config_file",
        "db-url": "NPUHubService.db_url",
        "site-config": "NPUHubService.site_config_file",
        "port": "NPUHubService.port",
        "ip": "NPUHubService.ip",
        "log-level": "Application.log_level",
    }

    # -- set-up ---------------------------------------------------------------------------------
    def initialize(self, argv=None):
        super().initialize(argv)
        if self.config_file and os.path.exists(self.config_file):
            self.load_config_file(self.config_file)
        try:
            self.site = load_site_config(self.site_config_file or None)
        except SiteConfigError as e:
            self.exit_fatal(str(e))
        self.rules = list(self.site.quotas)  # budgets have one source: the site file's quotas
        self.api_prefix = self.service_prefix + "api/v1"
        self.metrics = Metrics()
        clock = OffsetClock(self.clock_offset_file) if self.clock_offset_file else time.time
        self.store = AdmissionStore(self.db_url, **self._engine_kwargs())
        self.engine = Engine(self.store, self.site, self._admission_kwargs, self.metrics, self.log, clock)
        self.clock = self.engine.clock  # one time for every rule (it never goes back)
        self.metrics.watch(self.engine)
        self.hub = HubClient(self.hub_api_url, self.api_token, self.log) if self.api_token else None
        #: granted requests the hub has been seen running a server for (in memory; re-learned after a restart)
        self.seen_running: set[str] = set()
        #: grants made before this process started may have had servers it never saw
        self.started_at = self.clock()
        self.budget_watch = BudgetWatch(self.engine, self.hub if self.stop_over_budget else None,
                                        self.over_budget_grace, self.metrics, self.log, self.clock)
        self.window_watch = WindowEndWatch(self.engine, self.hub, self.window_end_grace, self.metrics, self.log,
                                           self.clock)
        self.idle_reclaim = IdleReclaim(self.engine, self.hub, idle_limit=self.idle_limit,
                                        hard_limit=self.idle_hard_limit, grace=self.reclaim_grace,
                                        metrics=self.metrics, log=self.log,
                                        lag=activity_lag(self.reconcile_interval))
        self.leader_lock = leader_lock_for(self.db_url, self.leader_interval, self.leader_timeout, self.log)
        self.leadership = Leadership(self.leader_lock, self.engine, self.metrics, self.log)
        self.inventory: ClusterInventory | None = None
        if self.site.kubernetes is not None:
            try:
                self.inventory = ClusterInventory(self.engine, self.site.kubernetes, self.kubeconfig, self.hub,
                                                  self.metrics, self.log)
            except ValueError as e:
                self.exit_fatal(str(e))
        self.clusters = self._make_cluster_manager()
        self.budget_watch.stop_cluster = self.idle_reclaim.stop_cluster = self._stop_cluster
        self.web = self._make_web_app()

    def _make_cluster_manager(self):
        """Dask clusters: the embedded runner (local spawner) or the Kubernetes one (spawner.type kubernetes)."""
        from ..dask.runners import runner_for
        from ..dask.runners.embedded import os_user_lookup

        options = {} if self.site.spawner.type == "kubernetes" else {
            "workdir": self.dask_dir, "run_as": os_user_lookup(self.site),
            "threads_per_worker": self.site.dask.threads_per_worker, "log": self.log}
        try:
            runner = runner_for(self.site, kubeconfig=self.kubeconfig, **options)
        except ImportError as e:  # the Kubernetes runner's packages are not installed
            self.log.warning("Dask clusters are off: %s", e)
            return None
        return ClusterManager(self.engine, runner, self.log, self.clock)

    async def _stop_cluster(self, req, reason: str) -> None:
        """A warning's time came for a Dask worker (budget spent): its whole cluster is closed."""
        if self.clusters is not None and req.cluster:
            await self.clusters.close(req.cluster, reason)

    def health(self) -> tuple[bool, dict]:
        """Ready only as the leader with its state loaded (and, in a cluster, the nodes listed)."""
        inventory = None
        if self.inventory is not None:
            inventory = {"synced": self.inventory.synced, "nodes": len(self.inventory.watcher.nodes)}
        role = self.leadership.role
        ready = role == "leader" and self.engine.adm is not None and self.engine.available
        return ready, {"role": role, "store": self.engine.available, "loaded": self.engine.adm is not None,
                       "leader_lock": self.leader_lock.description, "inventory": inventory}

    def exit_fatal(self, problem: str):
        self.log.critical("FATAL: %s", problem)
        sys.exit(1)

    def _engine_kwargs(self) -> dict:
        if self.db_url.startswith("postgresql"):
            # an unreachable database must fail fast (fail closed), not hang the event loop
            return {"connect_args": {"connect_timeout": 3}}
        return {}

    def _admission_kwargs(self) -> dict:
        """Fresh budgets and fair share for each (re)load; their state comes from the database."""
        return {
            "budgets": Budgets(rules=list(self.rules)),
            "fairshare": FairShare(half_life=self.fairshare_half_life, weights=dict(self.fairshare_weights)),
            "backfill_slack": self.backfill_slack,
            "default_session": self.default_session,
        }

    def _make_web_app(self) -> WebApplication:
        hub_auth = NPUHubOAuth(api_token=self.api_token, api_url=self.hub_api_url,
                               cache_max_age=self.hub_cache_max_age, base_url=self.service_prefix)
        ctx = Context(engine=self.engine, log=self.log, metrics=self.metrics, hub_groups=self.hub_groups,
                      flavor_limit=self.flavor_limit,
                      warnings_for=self._warnings_for, openapi=openapi_document(self.api_prefix.rstrip("/")),
                      authenticate_prometheus=self.authenticate_prometheus,
                      stop_server=self.hub.stop_server if self.hub is not None else None,
                      server_ran=self.server_ran, health=self.health, clusters=self.clusters,
                      service_prefix=self.service_prefix,
                      # the banners share the admission's database (and its engine), in a table of their own
                      announcements=AnnouncementStore(self.store.engine))
        return WebApplication(
            url_table(self.service_prefix, ctx),
            hub_auth=hub_auth,
            cookie_secret=self.cookie_secret,
            default_handler_class=NotFoundHandler,
            default_handler_args={"ctx": ctx},
            log_function=self._log_request,
        )

    def server_ran(self, req) -> bool:
        """Whether a server may have used this grant: seen running at the hub, or granted before this process."""
        return req.id in self.seen_running or req.granted_at is None or req.granted_at < self.started_at

    def _warnings_for(self, request_id: str) -> list[dict]:
        return (self.budget_watch.warnings_for(request_id) + self.idle_reclaim.warnings_for(request_id)
                + self.window_watch.warnings_for(request_id))

    def _log_request(self, handler) -> None:
        status = handler.get_status()
        level = logging.DEBUG if status < 400 and handler.request.method == "GET" else logging.INFO
        if status >= 500:
            level = logging.ERROR
        self.log.log(level, "%d %s %s %.1fms", status, handler.request.method, handler.request.uri,
                     1000.0 * handler.request.request_time())

    async def hub_groups(self, user: str) -> list[str] | None:
        """A person's groups from the hub (for operators acting on someone's behalf without giving them)."""
        if self.hub is None:
            raise APIError(503, "hub_unavailable")
        try:
            return await self.hub.user_groups(user)
        except HubUnavailable:
            raise APIError(503, "hub_unavailable") from None

    async def flavor_limit(self, groups) -> frozenset[str] | None:
        """The flavors these groups' hub properties hold their members to (a workshop's); None: no limit.

        Without a hub token there are no properties to read, and so no limit
        (a service without one cannot identify anyone either).
        """
        groups = sorted(set(groups))
        if self.hub is None or not groups:
            return None
        try:
            properties = await asyncio.gather(*(self.hub.group_properties(g) for g in groups))
        except HubUnavailable:
            raise APIError(503, "hub_unavailable", headers={"Retry-After": "5"}) from None
        return flavor_limit(properties)

    # -- running ----------------------------------------------------------------------------------------
    async def _every(self, seconds: float, what: str, fn) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await fn()
            except asyncio.CancelledError:
                raise
            except Exception:
                self.log.exception("The periodic %s failed; trying again in %ss", what, seconds)

    async def _tick(self) -> None:
        if not self.engine.available:
            return  # no charges while the database is away: the next tick after it returns charges them
        try:
            spent = await self.engine.tick()
        except APIError:
            return
        await self.budget_watch.update(spent)
        await self.window_watch.update()

    async def _reconcile(self) -> None:
        """End requests whose server the hub neither runs nor starts (see reconcile_interval)."""
        if self.hub is None or not self.engine.available:
            return
        asked_at = self.clock()
        try:
            active, ready = await self.hub.active_and_ready()
        except HubUnavailable as e:
            self.log.warning("Reconciliation skipped: the hub did not answer (%s)", e)
            return
        now = self.clock()
        seen_running = self.seen_running
        granted = {r.id for r in self.engine.current().granted()}
        seen_running.intersection_update(granted)
        seen_running.update(r.id for r in self.engine.current().granted() if (r.user, r.server) in ready)

        def end_orphans(adm):
            ended = []
            for req in list(adm.granted()) + list(adm.waiting()):
                if (req.user, req.server) in active or req.cluster is not None:
                    continue  # a Dask cluster's requests end with their cluster (service.clusters)
                if req.state is State.GRANTED and not self.server_ran(req) and req.granted_at < asked_at:
                    # granted by this process, but the hub has no start for it and no server ever ran on it
                    adm.abandon(req.id, reason="server_gone")
                    ended.append((req.id, "never started: charged nothing"))
                    continue
                since = req.granted_at if req.granted_at is not None else req.arrived
                if now - since < self.reconcile_grace:
                    continue
                if req.state is State.GRANTED:
                    # charged up to its last metering while it ran, not for the time since it went away
                    adm.release(req.id, "server_gone", meter=False)
                else:
                    adm.end(req.id, "server_gone")
                ended.append((req.id, "server gone"))
            return ended

        try:
            ended = await self.engine.change(end_orphans, "reconciliation")
        except APIError:
            return
        for request_id, why in ended:
            self.log.info("Ended request %s: the hub no longer runs or starts its server (%s)", request_id, why)
        if self.clusters is not None:
            await self.clusters.tick(set(active), asked_at)
        # a server still starting is not idle (a slow start, an image pull, must not lose its slice)
        await self.idle_reclaim.update({key: seen for key, seen in active.items() if key in ready})

    async def _recover(self) -> None:
        if not self.engine.available and self.leadership.role == "leader":
            if await self.engine.recover():
                await self._reloaded()

    async def _reloaded(self) -> None:
        """After each (re)load of the state: nodes that changed meanwhile (lost ones end now)."""
        if self.inventory is not None:
            await self.inventory.apply()

    async def _watch_parent(self, parent: int, stop: asyncio.Event) -> None:
        while os.getppid() == parent:
            await asyncio.sleep(1)
        self.log.warning("The process that started the service (%d) is gone; stopping.", parent)
        stop.set()

    async def run(self) -> None:
        # handlers refuse bodies over validation.MAX_BODY_BYTES with a 413; the server reads on (and drops) up to
        # DRAIN_BYTES so that the client hears it, rather than tornado's reset connection past its own limit
        # a long query (a person's many groups) gets the route's JSON 400, not tornado's bare 431
        server = HTTPServer(self.web, xheaders=True, max_body_size=DRAIN_BYTES, max_header_size=1 << 20)
        listening = False

        def listen() -> None:
            nonlocal listening
            if not listening:
                server.listen(self.port, self.ip)
                listening = True
                self.log.info("npuhub service %s listening on http://%s:%d%s (%s)", __version__, self.ip, self.port,
                              self.service_prefix, self.leadership.role)

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        tasks = []
        if self.exit_with_parent:
            tasks.append(asyncio.create_task(self._watch_parent(os.getppid(), stop)))
        try:
            if not await self.leadership.wait(stop, listen):
                return
            tasks.append(asyncio.create_task(self.leadership.hold(stop, self._reloaded)))
            if self.inventory is not None:  # the nodes first: the state is restored into them
                tasks.append(await self.inventory.start(self.site.kubernetes.start_timeout))
            loaded = await self.engine.load()
            if loaded:
                adm = self.engine.adm
                self.log.info("Admission state loaded from %s: %d granted, %d waiting, %d reservations",
                              _safe_url(self.db_url), len(adm.granted()), len(adm.waiting()), len(adm.reservations))
                await self._reloaded()
            if self.clusters is not None and self.engine.adm is not None:
                await self.clusters.start()
            listen()
            tasks += [
                asyncio.create_task(self._every(self.meter_interval, "metering", self._tick)),
                asyncio.create_task(self._every(self.store_retry_interval, "database recovery", self._recover)),
                asyncio.create_task(self._every(self.reconcile_interval, "reconciliation", self._reconcile)),
            ]
            await stop.wait()
        finally:
            self.log.info("Stopping; running sessions keep their slices (nothing is released on shutdown).")
            if listening:
                server.stop()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self.clusters is not None:
                # embedded clusters' processes must not outlive the service; their slices are released
                await self.clusters.shutdown()
            self.engine.close()
            self.leader_lock.release()
        if self.leadership.lost:
            sys.exit(3)

    def start(self) -> None:
        asyncio.run(self.run())


class OffsetClock:
    """``time.time()`` plus the seconds written in a file (the test hook ``clock_offset_file``)."""

    def __init__(self, path: str):
        self.path = path
        self._stamp: tuple | None = None
        self._offset = 0.0

    def __call__(self) -> float:
        try:
            st = os.stat(self.path)
            stamp = (st.st_mtime_ns, st.st_ino, st.st_size)
        except FileNotFoundError:
            stamp = None
        if stamp != self._stamp:  # a stat per reading; the file is read only when it changed
            if stamp is None:
                self._offset = 0.0
            else:
                with open(self.path) as f:
                    self._offset = float(f.read().strip() or 0)
            self._stamp = stamp
        return time.time() + self._offset


def _safe_url(url: str) -> str:
    parsed = urlparse(url)
    if parsed.password:
        return url.replace(parsed.password, "***")
    return url


def main(argv=None) -> None:
    NPUHubService.launch_instance(argv)
