"""Dask clusters: make one and list mine (``/clusters``), look at, scale and close one (``/clusters/{id}``).

Only the owner sees a cluster (its scheduler's address and TLS material are
hers alone); an operator may list and close everyone's, without the address.
Refusals are those of ``POST /requests`` (``share_limit`` 409, ``quota_spent``
429, ``flavor_not_allowed`` 403, ...), plus ``cluster_too_large`` (400) and
``cluster_limit`` (409).
"""

from __future__ import annotations

from ...admission.clusters import Cluster, is_scheduler
from ...admission.model import Refused, State
from ...flavors import FlavorError
from ...i18n import MESSAGES, Text, message
from ...shares import format_share
from ..base import BaseHandler
from ..errors import APIError, iso
from ..models import eta_text, ordinal

__all__ = ["ClusterHandler", "ClustersHandler", "cluster_view", "DASHBOARD_PATH"]

DASHBOARD_PATH = "dask/{id}/status"


def _why(reason: str | None) -> Text:
    key = f"cluster_why_{reason or 'closed'}"
    if key in MESSAGES:
        return MESSAGES[key]
    return message("cluster_why_other", reason=reason or "-")


def cluster_view(handler: BaseHandler, cluster: Cluster, *, owner: bool) -> dict:
    """What the API says of a cluster; the scheduler's address and TLS material only to its owner."""
    engine = handler.engine
    adm = engine.current()
    manager = handler.ctx.clusters
    live = cluster.open and cluster.id in adm.clusters
    requests = adm.cluster_requests(cluster.id) if live else []
    workers = [r for r in requests if not is_scheduler(r)]
    running = sum(1 for r in workers if r.state is State.GRANTED)
    waiting = [r for r in workers if r.state is State.WAITING]
    decisions = [engine.decision(r.id) for r in waiting]
    decisions = [d for d in decisions if d is not None and d.position is not None]
    first = min(decisions, key=lambda d: d.position) if decisions else None
    now = handler.now()
    share = adm.cluster_share(cluster)
    share_text = format_share(share) if share else "0"
    name = cluster.name
    if cluster.state == "closed":
        text = message("cluster_closed", name=name, why=_why(cluster.reason))
    elif cluster.state == "closing":
        text = message("cluster_closing", name=name)
    elif waiting:
        text = message("cluster_partial", name=name, running=running, wanted=len(workers), waiting=len(waiting),
                       position=first.position if first else "-", ordinal=ordinal(first.position if first else 0),
                       eta=eta_text(first.eta if first else None, now))
    elif cluster.state == "starting" and manager is not None and cluster.id not in manager.endpoints:
        text = message("cluster_starting", name=name)
    elif running:
        text = message("cluster_all_running", name=name, running=running, share=share_text)
    else:
        text = message("cluster_no_workers", name=name)
    if cluster.refusal and cluster.open:
        refusal = cluster.refusal["message"]
        text = Text(f"{text.zh} {refusal['zh']}", f"{text.en} {refusal['en']}")
    endpoints = manager.endpoints.get(cluster.id) if manager is not None and live else None
    prefix = handler.ctx.service_prefix
    view = {
        "id": cluster.id,
        "user": cluster.user,
        "name": cluster.name,
        "flavor": cluster.flavor,
        "share": share_text,
        "state": cluster.state,
        "reason": cluster.reason,
        "server": cluster.server,
        "adaptive": {"minimum": cluster.adaptive[0], "maximum": cluster.adaptive[1]} if cluster.adaptive else None,
        "workers": {
            "wanted": cluster.wanted if live else 0,
            "running": running,
            "ready": manager.ready.get(cluster.id, 0) if manager is not None and live else 0,
            "waiting": len(waiting),
            "position": first.position if first else None,
            "eta_seconds": max(0.0, round(first.eta - now, 1)) if first and first.eta is not None else None,
        },
        "message": {"zh": text.zh, "en": text.en},
        "scheduler_address": endpoints.scheduler_address if owner and endpoints is not None else None,
        "tls": dict(endpoints.tls) if owner and endpoints is not None and endpoints.tls else None,
        "dashboard_link": f"{prefix}{DASHBOARD_PATH.format(id=cluster.id)}",
        "created": iso(cluster.created),
        "last_activity": iso(cluster.last_activity),
        "expires_at": iso(cluster.expires_at),
        "ended_at": iso(cluster.ended_at),
        "requests": [r.id for r in requests],
    }
    return view


class _ClusterBase(BaseHandler):
    @property
    def manager(self):
        if self.ctx.clusters is None:
            raise APIError(503, "clusters_unavailable", message("cluster_dashboard_down", id="-"))
        return self.ctx.clusters

    def find_cluster(self, id_or_name: str) -> Cluster:
        """Hers, by id or by the name of her newest open one; another's is 403 (operators may see it)."""
        caller = self.caller
        adm = self.engine.current()
        cluster = adm.clusters.get(id_or_name)
        if cluster is None:
            mine = [c for c in adm.clusters_of(caller.name) if c.name == id_or_name]
            cluster = mine[-1] if mine else None
        if cluster is None and len(id_or_name) <= 64:
            found = self.engine.read_store(self.engine.store.clusters, cluster_id=id_or_name, limit=1)
            cluster = found[0] if found else None
        if cluster is None:
            raise APIError(404, "cluster_unknown", message("cluster_unknown", id=id_or_name[:70]))
        if cluster.user != caller.name or caller.kind != "user":
            if not caller.operates:
                raise APIError(403, "cluster_not_yours", message("cluster_not_yours"))
        return cluster

    def owner_view(self, cluster: Cluster) -> dict:
        return cluster_view(self, cluster, owner=cluster.user == self.caller.name and self.caller.kind == "user")


class ClustersHandler(_ClusterBase):
    def get(self):
        caller = self.caller
        user = self.query.get("user")
        if user is not None and user != caller.name:
            caller.require_operate()
        if user is None and not (caller.operates and self.query.get("all")):
            user = caller.name
        adm = self.engine.current()
        found = {c.id: c for c in adm.clusters_of(user)}
        if self.query.get("closed"):
            for c in self.engine.read_store(self.engine.store.clusters, user=user, limit=self.query["limit"]):
                found.setdefault(c.id, c)
        clusters = sorted(found.values(), key=lambda c: c.created, reverse=True)[: self.query["limit"]]
        self.send({"clusters": [self.owner_view(c) for c in clusters]})

    async def post(self):
        caller = self.caller
        if caller.kind != "user":
            raise APIError(403, "permission_denied", message("permission_denied", scope="a person's own token"))
        body = self.json_body()
        site = self.engine.site
        limits = site.dask
        groups = sorted(caller.groups)
        only = await self.ctx.flavor_limit(groups)
        flavor_id = body.get("flavor") or limits.default_flavor
        if flavor_id is None:
            default = site.catalogue.default_for(groups, only)
            flavor_id = default.id if default is not None else ""
        adaptive = body.get("adaptive")
        workers = body.get("workers")
        if workers is None:
            workers = adaptive["minimum"] if adaptive else limits.default_workers
        self._check_size(workers, adaptive, limits.max_workers)
        adm = self.engine.current()
        open_clusters = [c for c in adm.clusters_of(caller.name) if c.state not in ("closing", "closed")]
        if len(open_clusters) >= limits.max_clusters:
            raise APIError(409, "cluster_limit", message("cluster_limit", count=len(open_clusters),
                                                         limit=limits.max_clusters))
        metrics = self.ctx.metrics
        try:
            site.catalogue.resolve(flavor_id, groups, only)
        except FlavorError as e:
            metrics.decisions.labels("refused", e.reason).inc()
            raise
        lifetime = limits.max_lifetime_hours * 3600
        idle = limits.idle_minutes * 60
        server = body.get("server")  # None: made from outside a notebook server, tied to none
        range_ = (adaptive["minimum"], adaptive["maximum"]) if adaptive else None

        def create(a):
            return a.create_cluster(caller.name, groups, flavor_id, workers, name=body.get("name"), server=server,
                                    adaptive=range_, lifetime=lifetime, idle_timeout=idle)

        try:
            cluster = await self.engine.change(create, "cluster create")
        except Refused as e:
            metrics.decisions.labels("refused", e.reason).inc()
            raise
        self.ctx.log.info("Dask cluster %s of %s made: %d workers of %s", cluster.id, caller.name, workers, flavor_id)
        self.manager.soon(cluster.id)
        view = self.owner_view(cluster)
        self.send(view, 202 if view["workers"]["waiting"] else 201)

    @staticmethod
    def _check_size(workers: int, adaptive: dict | None, limit: int) -> None:
        biggest = max(workers, adaptive["maximum"] if adaptive else 0)
        if biggest > limit:
            raise APIError(400, "cluster_too_large", message("cluster_too_large", limit=limit, workers=biggest))
        if adaptive and adaptive["minimum"] > adaptive["maximum"]:
            raise APIError(400, "body_invalid", message("body_invalid", detail="adaptive minimum above maximum"))


class ClusterHandler(_ClusterBase):
    def get(self, cluster_id: str):
        cluster = self.find_cluster(cluster_id)
        if self.ctx.clusters is not None and cluster.user == self.caller.name and cluster.open:
            self.ctx.clusters.touch(cluster.id)  # its owner is using it
        self.send(self.owner_view(cluster))

    async def patch(self, cluster_id: str):
        cluster = self.find_cluster(cluster_id)
        if cluster.user != self.caller.name:
            raise APIError(403, "cluster_not_yours", message("cluster_not_yours"))
        body = self.json_body()
        adaptive = body.get("adaptive")
        workers = body.get("workers")
        if workers is None:
            workers = max(adaptive["minimum"], min(adaptive["maximum"], cluster.wanted)) if adaptive else cluster.wanted
        ClustersHandler._check_size(workers, adaptive, self.engine.site.dask.max_workers)
        if not cluster.open or cluster.state == "closing":
            return self.send(self.owner_view(cluster), 409)
        range_ = (adaptive["minimum"], adaptive["maximum"]) if adaptive else None
        cid = cluster.id
        cluster = await self.engine.change(lambda a: a.scale_cluster(cid, workers, range_), "cluster scale")
        self.manager.soon(cid)
        view = self.owner_view(cluster)
        self.send(view, 202 if view["workers"]["waiting"] else 200)

    async def delete(self, cluster_id: str):
        cluster = self.find_cluster(cluster_id)
        if cluster.open:
            await self.manager.close(cluster.id, "closed", by=self.caller.name)
            found = self.engine.read_store(self.engine.store.clusters, cluster_id=cluster.id, limit=1)
            cluster = found[0] if found else cluster
        self.send(self.owner_view(cluster))
