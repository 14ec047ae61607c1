"""Dask clusters as holders, as part of the admission core: a scheduler and workers, each an ordinary request.

A mixin of ``core.Admission`` (one object, one state, one transaction per
change). A cluster is what its owner wants (a number of workers of one flavor,
or an adaptive range); its requests are what she holds and waits for:

- the scheduler: request ``<cluster id>-s``, CPU only (share 0: it holds no
  device, is charged nothing, and counts for nothing against her limits);
- each worker: request ``<cluster id>-w<8 hex>``, one slice of the flavor,
  in the same fair queue, against the same budgets and limits as a notebook.

All of them carry ``cluster`` = the cluster's id and ``server`` =
``dask:<cluster id>``. Creating a cluster, scaling it and closing it are each
one change of the core, so the database holds a cluster and its requests
together or not at all: a service restart neither loses nor double-counts them.

``converge_cluster`` brings the requests to what is wanted: it submits the
missing workers and withdraws waiting ones beyond it; granted workers beyond it
are returned, for the service to stop their processes before it releases them
(a slice is never freed while a worker may still use it).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from fractions import Fraction

from .model import Refused, Request, State

__all__ = ["Cluster", "ClusterBook", "CLUSTER_STATES", "dask_server", "scheduler_id", "is_scheduler"]

CLUSTER_STATES = ("starting", "running", "closing", "closed")


def dask_server(cluster_id: str) -> str:
    """The holder label of a cluster's requests (their ``server``)."""
    return f"dask:{cluster_id}"


def scheduler_id(cluster_id: str) -> str:
    return f"{cluster_id}-s"


def is_scheduler(req: Request) -> bool:
    return req.cluster is not None and req.id == scheduler_id(req.cluster)


@dataclass
class Cluster:
    """One person's Dask cluster, as the service keeps it."""

    id: str
    user: str
    name: str
    flavor: str
    groups: frozenset[str]
    #: the notebook server it was created from (its stop takes the cluster with it); "" the default server
    server: str
    #: workers wanted now (adaptive: what the scheduler last asked for, within the range)
    wanted: int
    created: float
    last_activity: float
    expires_at: float
    idle_timeout: float | None = None
    adaptive: tuple[int, int] | None = None
    state: str = "starting"
    reason: str | None = None
    #: the refusal (``{"reason", "message"}``) that kept some wanted workers from being asked for
    refusal: dict | None = None
    ended_at: float | None = None
    ended_by: str | None = None
    #: requests of its that the last ``converge_cluster`` found beyond what is wanted (not persisted)
    excess: list[str] = field(default_factory=list, compare=False, repr=False)

    @property
    def open(self) -> bool:
        return self.state != "closed"


class ClusterBook:
    """The clusters half of ``Admission``."""

    def _clusters_init(self) -> None:
        self.clusters: dict[str, Cluster] = {}
        self.dirty_clusters: set[str] = set()

    # -- reading -------------------------------------------------------------------------------
    def cluster_requests(self, cluster_id: str) -> list[Request]:
        """The cluster's active requests (waiting and granted), scheduler first, then in arrival order."""
        cluster = self.clusters.get(cluster_id)
        if cluster is None:
            return []
        mine = self._active_by_user.get(cluster.user, {}).values()
        found = sorted((r for r in mine if r.cluster == cluster_id), key=lambda r: r.seq)
        return sorted(found, key=lambda r: not is_scheduler(r))

    def cluster_workers(self, cluster_id: str) -> list[Request]:
        return [r for r in self.cluster_requests(cluster_id) if not is_scheduler(r)]

    def clusters_of(self, user: str | None = None) -> list[Cluster]:
        return sorted((c for c in self.clusters.values() if user is None or c.user == user),
                      key=lambda c: c.created)

    def cluster_share(self, cluster: Cluster) -> Fraction:
        flavor = self.catalogue.get(cluster.flavor)
        return flavor.share if flavor is not None else Fraction(0)

    # -- changing ------------------------------------------------------------------------------
    def create_cluster(self, user: str, groups, flavor_id: str, workers: int, *, name: str | None,
                       server: str | None,
                       adaptive: tuple[int, int] | None, lifetime: float, idle_timeout: float | None,
                       cluster_id: str | None = None) -> Cluster:
        """A new cluster: its scheduler granted at once, its workers granted or queued; or Refused, holding nothing.

        Every check comes before any change: a refusal leaves no request behind.
        """
        now = self.clock()
        groups = frozenset(groups)
        flavor = self._resolve(flavor_id, groups)
        cid = cluster_id or "dc-" + uuid.uuid4().hex[:12]
        self._check_cluster_room(user, groups, flavor, workers, now)
        cluster = Cluster(id=cid, user=user, name=name or cid, flavor=flavor.id, groups=groups, server=server,
                          wanted=workers, created=now, last_activity=now, expires_at=now + lifetime,
                          idle_timeout=idle_timeout, adaptive=adaptive)
        self.clusters[cid] = cluster
        self.dirty_clusters.add(cid)
        self.submit(user, groups, flavor.id, request_id=scheduler_id(cid), server=dask_server(cid), cluster=cid,
                    cpu_only=True)
        self.converge_cluster(cid)
        return cluster

    def _check_cluster_room(self, user: str, groups: frozenset[str], flavor, more: int, now: float) -> None:
        """Refuse (``share_limit``, ``quota_spent``) ``more`` workers she could never hold, before any change."""
        if more <= 0 or not flavor.share:
            return
        limit = self.site.limits.max_share_for(set(groups))
        held = self.held_by(user, include_waiting=True)
        total = flavor.share * more
        if held + total > limit:
            raise Refused("share_limit", {"limit": limit, "held": held, "share": total})
        charge_group = self._charge_group(flavor, groups)
        for acct in self.budgets.accounts_for(user, groups, charge_group, now):
            if acct.balance <= 0:
                raise Refused("quota_spent", {"account": acct.name, "balance": acct.balance},
                              retry_at=self.budgets.available_at(acct))

    def scale_cluster(self, cluster_id: str, workers: int, adaptive: tuple[int, int] | None = None,
                      keep_adaptive: bool = False) -> Cluster:
        """Want ``workers`` workers (Refused if the increase cannot be held); see ``converge_cluster``."""
        cluster = self.clusters[cluster_id]
        if not cluster.open or cluster.state == "closing":
            return cluster
        more = workers - len(self.cluster_workers(cluster_id))
        if more > 0:
            flavor = self._resolve(cluster.flavor, cluster.groups)
            self._check_cluster_room(cluster.user, cluster.groups, flavor, more, self.clock())
        cluster.wanted = workers
        if not keep_adaptive:
            cluster.adaptive = adaptive
        cluster.refusal = None
        cluster.last_activity = self.clock()
        self.dirty_clusters.add(cluster_id)
        self.converge_cluster(cluster_id)
        return cluster

    def converge_cluster(self, cluster_id: str) -> list[str]:
        """Submit missing workers, withdraw waiting ones beyond ``wanted``; return granted ones beyond it."""
        cluster = self.clusters[cluster_id]
        if cluster.state in ("closing", "closed"):
            cluster.excess = []
            return []
        workers = self.cluster_workers(cluster_id)
        missing = cluster.wanted - len(workers)
        for _ in range(max(missing, 0)):
            try:
                self.submit(cluster.user, cluster.groups, cluster.flavor,
                            request_id=f"{cluster_id}-w{uuid.uuid4().hex[:8]}", server=dask_server(cluster_id),
                            cluster=cluster_id)
            except Refused as e:
                # what could not be asked for is no longer wanted; the cluster says why
                cluster.wanted = len(self.cluster_workers(cluster_id))
                cluster.refusal = {"reason": e.reason, "message": {"zh": e.text.zh, "en": e.text.en}}
                self.dirty_clusters.add(cluster_id)
                break
        excess: list[str] = []
        if missing < 0:
            # the newest first: waiting ones are withdrawn at once, granted ones stopped then released
            for req in sorted(workers, key=lambda r: (r.state is State.GRANTED, -r.seq))[: -missing]:
                if req.state is State.WAITING:
                    self._end(req, State.CANCELLED, self.clock(), "cluster_scaled_down", req.user)
                else:
                    excess.append(req.id)
            self.schedule()
        cluster.excess = excess
        return list(excess)

    def _cluster_request_ended(self, req: Request) -> None:
        """A request of a cluster ended (by whatever means): it is no longer beyond what the cluster wants."""
        cluster = self.clusters.get(req.cluster)
        if cluster is not None and req.id in cluster.excess:
            cluster.excess.remove(req.id)

    def mark_cluster(self, cluster_id: str, state: str, reason: str | None = None) -> None:
        cluster = self.clusters[cluster_id]
        if cluster.state == "closed" or (cluster.state == state and (reason is None or cluster.reason == reason)):
            return
        cluster.state = state
        if reason is not None and cluster.reason is None:
            cluster.reason = reason
        self.dirty_clusters.add(cluster_id)

    def touch_cluster(self, cluster_id: str, at: float) -> None:
        cluster = self.clusters[cluster_id]
        if at > cluster.last_activity:
            cluster.last_activity = at
            self.dirty_clusters.add(cluster_id)

    def close_cluster(self, cluster_id: str, reason: str = "closed", by: str | None = None) -> Cluster:
        """End every request of the cluster (granted ones released and charged to now); it is closed."""
        cluster = self.clusters[cluster_id]
        if cluster.state == "closed":
            return cluster
        now = self.clock()
        for req in self.cluster_requests(cluster_id):
            if req.state is State.GRANTED:
                self.release(req.id, "cluster_closed", by)
            else:
                self._end(req, State.CANCELLED, now, "cluster_closed", by)
        cluster.state = "closed"
        cluster.reason = cluster.reason or reason
        cluster.ended_at, cluster.ended_by = now, by
        self.dirty_clusters.add(cluster_id)
        self.schedule()
        return cluster

    def restore_clusters(self, clusters) -> None:
        for cluster in clusters:
            self.clusters[cluster.id] = cluster
