"""The contract between the service's Dask clusters and where they run.

The service admits a cluster's scheduler and workers as requests (the same queue,
budgets and limits as notebooks) and tells a runner what to run; the runner knows
nothing of quotas. Two runners: ``embedded`` (a real ``distributed`` scheduler and
worker processes on this machine) and ``kubernetes`` (a ``DaskCluster`` object of
the dask-kubernetes operator in the person's namespace).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ClusterRunner", "ClusterSpec", "Endpoints", "WorkerGrant"]


@dataclass(frozen=True)
class ClusterSpec:
    """What a runner needs to know of one cluster."""

    id: str
    user: str
    flavor: str
    #: the flavor's image (kubernetes) or None (embedded: this machine's environment)
    image: str | None = None
    #: the scheduler's granted request's launch (env, devices, ``kubernetes`` fragment)
    scheduler_launch: dict[str, Any] = field(default_factory=dict)
    #: seconds without tasks after which the scheduler closes itself (None: never)
    idle_timeout: float | None = None


@dataclass(frozen=True)
class WorkerGrant:
    """One admitted worker: its name, its request and what its slice is started with."""

    name: str
    request_id: str
    launch: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Endpoints:
    scheduler_address: str
    #: where the scheduler's dashboard answers (the service proxies it for the owner only)
    dashboard_url: str
    #: the TLS material a client needs (PEM text: ``{"ca", "cert", "key"}``), handed to the owner only; None: none
    tls: dict[str, str] | None = None


class ClusterRunner(abc.ABC):
    """Starts, scales and stops clusters; every method is idempotent."""

    @abc.abstractmethod
    async def start(self, spec: ClusterSpec) -> Endpoints:
        """Start the scheduler (no workers yet) and return where it answers."""

    @abc.abstractmethod
    async def scale(self, spec: ClusterSpec, workers: list[WorkerGrant]) -> None:
        """Run exactly these workers: start the new ones, stop the ones not listed."""

    @abc.abstractmethod
    async def stop(self, spec: ClusterSpec) -> None:
        """Stop the scheduler and every worker; nothing of the cluster is left running."""

    @abc.abstractmethod
    async def ready_workers(self, spec: ClusterSpec) -> int:
        """How many workers have joined the scheduler."""

    async def adopt(self, spec: ClusterSpec) -> Endpoints | None:
        """After a restart of the service: the endpoints of this cluster if it still runs, else None.

        The service closes a cluster (its slices released) whose runner does not know it any more. The
        embedded runner's processes die with the service, so it knows none; a runner whose clusters outlive
        the service (Kubernetes) finds them again here.
        """
        return None

    async def stop_all(self) -> None:
        """The service is stopping: what must not outlive it (embedded processes) is stopped; default nothing."""
