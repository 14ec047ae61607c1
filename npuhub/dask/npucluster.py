"""``NPUCluster``: a person's Dask cluster, made and owned by the npuhub service, as a ``distributed`` Cluster.

``distributed.Client(cluster)`` connects to its scheduler over TLS with the
certificate the service hands to the owner only. ``scale``/``adapt`` ask the
service, which admits each worker like a notebook (the same queue, budgets and
limits). ``NPUCluster()`` with no arguments takes the site's defaults (the
``dask:`` section), which is what dask-labextension's "New" button calls.
"""

from __future__ import annotations

import asyncio
import os
import time

from distributed.core import Status, rpc
from distributed.deploy.cluster import Cluster
from distributed.security import Security

from .api import NPUHubDaskError, ServiceAPI

__all__ = ["NPUCluster", "NPUHubDaskError", "make_cluster", "connect", "list_clusters"]

#: how long to wait for the scheduler to answer (its process starting) before giving up
START_TIMEOUT = 120.0


def _language() -> str:
    lang = os.environ.get("LC_ALL") or os.environ.get("LANG") or ""
    return "zh" if lang.lower().startswith("zh") else "en"


class NPUCluster(Cluster):
    """A Dask cluster of the npuhub service (see the module's docstring).

    ``workers``: how many (default: the site's); ``flavor``: the workers' flavor (default: the site's);
    ``adaptive``: ``(minimum, maximum)`` to let the scheduler ask for workers in that range.
    """

    def __init__(self, workers: int | None = None, flavor: str | None = None,
                 adaptive: tuple[int, int] | None = None, name: str | None = None, *, asynchronous: bool = False,
                 loop=None, _view: dict | None = None, api: ServiceAPI | None = None, **kwargs):
        self._api = api or ServiceAPI.from_env()
        self._wanted = {"workers": workers, "flavor": flavor, "name": name,
                        "adaptive": {"minimum": adaptive[0], "maximum": adaptive[1]} if adaptive else None,
                        # the server it is made from: its stop closes the cluster (None outside a server)
                        "server": os.environ.get("JUPYTERHUB_SERVER_NAME")}
        self._view: dict = _view or {}
        super().__init__(asynchronous=asynchronous, loop=loop, name=name or (_view or {}).get("name"))
        if not self.asynchronous:
            self._loop_runner.start()
            self.sync(self._start)

    # -- the service's view --------------------------------------------------------------------------
    @property
    def id(self) -> str | None:
        return self._view.get("id")

    @property
    def message(self) -> dict:
        return self._view.get("message") or {"zh": "", "en": ""}

    @property
    def dashboard_link(self) -> str:
        """The dashboard through the hub (a path of the hub's own address): you only."""
        return self._view.get("dashboard_link", "")

    def refresh(self) -> dict:
        """The service's view of this cluster now (workers running and waiting, the message)."""
        if self.id:
            self._view = self._api.get(self.id)
        return self._view

    def status_text(self) -> str:
        return self.refresh()["message"][_language()]

    # -- starting --------------------------------------------------------------------------------------
    async def _start(self):
        if self.status == Status.running:
            return
        self.status = Status.starting
        if not self._view:
            self._view = await asyncio.to_thread(self._api.create, **self._wanted)
        deadline = time.monotonic() + START_TIMEOUT
        while not self._view.get("scheduler_address"):
            if self._view.get("state") in ("closing", "closed"):
                self.status = Status.closed
                raise NPUHubDaskError(self._view["message"], self._view.get("reason") or "closed")
            if time.monotonic() > deadline:
                raise NPUHubDaskError({"zh": "Dask 调度器没有按时启动。", "en": "The Dask scheduler did not start "
                                                                          "in time."}, "start_timeout")
            await asyncio.sleep(0.2)
            self._view = await asyncio.to_thread(self._api.get, self._view["id"])
        self.name = self._view["name"]
        tls = self._view.get("tls") or {}
        self.security = Security(tls_ca_file=tls.get("ca"), tls_client_cert=tls.get("cert"),
                                 tls_client_key=tls.get("key"), require_encryption=bool(tls)) if tls else Security()
        self.scheduler_comm = rpc(self._view["scheduler_address"],
                                  connection_args=self.security.get_connection_args("client"))
        await self._connect_with_retries()
        self.status = Status.running

    async def _connect_with_retries(self):
        # the scheduler's process may still be binding its port when the service first names it
        deadline = time.monotonic() + 30
        while True:
            try:
                await Cluster._start(self)
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)

    def __await__(self):
        async def started():
            if self.status != Status.running:
                await self._start()
            return self
        return started().__await__()

    # -- scaling ---------------------------------------------------------------------------------------
    def scale(self, n: int | None = None, **kwargs) -> None:
        """Want ``n`` workers; more are admitted like notebooks (they may wait), fewer are stopped."""
        if n is None:
            n = kwargs.get("workers") or kwargs.get("n") or 0
        if self.asynchronous:  # dask-labextension awaits it: the HTTP call off the event loop
            async def scaled():
                self._view = await asyncio.to_thread(self._api.scale, self.id, workers=int(n))
            return scaled()
        self._view = self._api.scale(self.id, workers=int(n))

    def adapt(self, minimum: int = 0, maximum: int | None = None, **kwargs):
        """Let the scheduler ask for between ``minimum`` and ``maximum`` workers (the service follows it)."""
        minimum = int(kwargs.get("minimum_jobs", minimum))
        maximum = int(maximum if maximum is not None else kwargs.get("maximum_jobs", max(minimum, 1)))
        self._view = self._api.scale(self.id, adaptive={"minimum": minimum, "maximum": maximum})
        return None

    # -- closing -----------------------------------------------------------------------------------------
    async def _close(self):
        if self.status == Status.closed:
            return
        self.status = Status.closing
        try:
            if self.scheduler_comm is not None:
                await Cluster._close(self)
        finally:
            if self.id:
                self._view = await asyncio.to_thread(self._api.close, self.id)
            self.status = Status.closed

    # -- display -----------------------------------------------------------------------------------------
    def __repr__(self) -> str:
        text = self.message
        return f"NPUCluster({self.id or '-'}, {self._view.get('state', 'new')}: {text['zh']} / {text['en']})"

    def _repr_html_(self, cluster_status=None):
        import html

        text = self.message
        link = html.escape(self.dashboard_link)
        return (f"<div><b>NPUCluster {html.escape(self.id or '-')}</b><br>{html.escape(text['zh'])}<br>"
                f"{html.escape(text['en'])}<br>Dashboard / 仪表板: <a href='{link}' target='_blank'>{link}</a></div>")


def make_cluster(workers: int | None = None, flavor: str | None = None, adaptive: tuple[int, int] | None = None,
                 name: str | None = None) -> NPUCluster:
    """A new Dask cluster of ``workers`` workers (see ``NPUCluster``)."""
    return NPUCluster(workers=workers, flavor=flavor, adaptive=adaptive, name=name)


def list_clusters() -> list[dict]:
    """My open Dask clusters, newest first: ``id``, ``name``, ``state``, ``workers``, ``message``."""
    return [{k: c.get(k) for k in ("id", "name", "state", "flavor", "workers", "message", "dashboard_link")}
            for c in ServiceAPI.from_env().list()]


def connect(id_or_name: str) -> NPUCluster:
    """One of my clusters again (after a kernel restart), by its id or name."""
    api = ServiceAPI.from_env()
    view = api.get(id_or_name)
    if view.get("state") == "closed":
        raise NPUHubDaskError(view["message"], view.get("reason") or "closed")
    return NPUCluster(_view=view, api=api)
