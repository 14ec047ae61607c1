"""The site file's ``dask:`` section: the defaults of a person's Dask cluster and its limits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..flavors import FLAVOR_ID_RE
from ..site_reader import SiteReader

__all__ = ["DaskSite", "parse_dask"]


@dataclass(frozen=True)
class DaskSite:
    """Defaults and limits of Dask clusters (``npuhub.dask.cluster()``, dask-labextension's "New")."""

    #: the flavor of a cluster's workers when none is named (None: the person's default flavor)
    default_flavor: str | None = None
    #: workers of a cluster made with no count (``NPUCluster()``)
    default_workers: int = 2
    #: the most workers one cluster may ask for (her share limit and budgets still apply)
    max_workers: int = 16
    #: the most clusters one person may have open at once
    max_clusters: int = 2
    #: minutes without tasks after which a cluster closes itself (its scheduler's ``idle_timeout``)
    idle_minutes: float = 30.0
    #: hours after which a cluster is closed, whatever it does
    max_lifetime_hours: float = 8.0
    #: threads of each worker process
    threads_per_worker: int = 1


def parse_dask(r: SiteReader, data: Any) -> DaskSite:
    d = r.mapping(data, "dask", {"default_flavor", "default_workers", "max_workers", "max_clusters", "idle_minutes",
                                  "max_lifetime_hours", "threads_per_worker"})
    defaults = DaskSite()
    flavor = d.get("default_flavor")
    if flavor is not None:
        flavor = r.string(flavor, "dask.default_flavor", FLAVOR_ID_RE, "a flavor's id")
    max_workers = r.integer(d.get("max_workers", defaults.max_workers), "dask.max_workers")
    default_workers = r.integer(d.get("default_workers", defaults.default_workers), "dask.default_workers")
    if default_workers > max_workers:
        r.fail("dask.default_workers", f"must not be above dask.max_workers ({max_workers})")
    return DaskSite(
        default_flavor=flavor,
        default_workers=default_workers,
        max_workers=max_workers,
        max_clusters=r.integer(d.get("max_clusters", defaults.max_clusters), "dask.max_clusters"),
        idle_minutes=r.number(d.get("idle_minutes", defaults.idle_minutes), "dask.idle_minutes"),
        max_lifetime_hours=r.number(d.get("max_lifetime_hours", defaults.max_lifetime_hours),
                                    "dask.max_lifetime_hours"),
        threads_per_worker=r.integer(d.get("threads_per_worker", defaults.threads_per_worker),
                                     "dask.threads_per_worker"),
    )
