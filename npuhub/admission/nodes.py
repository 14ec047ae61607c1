"""Nodes that change under the admission core (a cluster): added, resized, cordoned, lost. A mixin of ``Admission``.

The rule, in one place (docs/concepts.md, "When a node changes"):

- a node added, or offering more devices, serves the queue at once (``apply_nodes`` schedules);
- a cordoned (or not ready) node keeps its running sessions; nothing new is
  placed on it, and reservations' unused slices on it move elsewhere;
- devices a node no longer offers keep their holders until they leave (they drain);
- a node deleted from the cluster takes its servers with it: each grant on it
  ends with reason ``node_lost``, charged up to the moment the service learned
  of the loss (what she used), nothing after; the next in line is admitted.
  The service asks the hub to stop those servers, and keeps the loss in
  ``lost_nodes`` for the API, the command line and the metrics.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Iterable

from ..pool import NodeSpec, PoolError
from .model import Request, State

__all__ = ["NodeBook", "LOST_NODES_KEPT"]

#: how many lost nodes the core remembers for the API (in memory; each request keeps its reason in the store)
LOST_NODES_KEPT = 50


class NodeBook:
    """Nodes changing: the cluster inventory calls ``apply_nodes`` with every node it sees."""

    def apply_nodes(self, nodes: Iterable[NodeSpec]) -> list[Request]:
        """Make the pool's nodes these (the whole current list); returns the requests that ended (``node_lost``).

        Idempotent: the same list twice changes nothing. Granted requests the
        store restored on a node no longer listed end too.
        """
        now = self.clock()
        wanted = {n.name: n for n in nodes}
        pool = self.pool
        relabelled = [n for n, spec in wanted.items() if n in pool.nodes and pool.nodes[n].model != spec.model]
        for spec in wanted.values():
            if spec.name not in relabelled:
                pool.upsert_node(spec)
                if not spec.schedulable:
                    self._unhold_placeholders(spec.name)
        # Before anything is placed (ending a grant schedules): grants the store restored while their node
        # was not listed yet take their slices again, so nothing is granted twice.
        for req in list(self._granted.values()):
            grant = req.grant
            if grant is None or grant.id in pool.grants or not all(s.node in wanted for s in grant.slices):
                continue
            if any(s.node in relabelled for s in grant.slices):
                continue
            try:
                pool.restore(grant)
            except PoolError:
                continue  # does not fit (over-full): still counted nowhere, its reason says so
            if req.reason == "grant_not_in_pool":
                req.reason = None
        ended: list[Request] = []
        for name in relabelled:  # labelled as another model now: its pods are not the ones we granted
            ended += self._lose_node(name, now)
            pool.upsert_node(wanted[name])
        for name in [n for n in pool.nodes if n not in wanted]:
            ended += self._lose_node(name, now)
        for req in list(self._granted.values()):
            grant = req.grant
            if grant is not None and grant.id not in pool.grants and any(s.node not in pool.nodes for s in grant.slices):
                ended.append(self._end_lost(req, grant.node or "?", now))
        self._version += 1
        self.schedule()
        return ended

    def on_node(self, name: str) -> list[Request]:
        """Granted requests holding a slice on node ``name``, in arrival order."""
        return [r for r in self.granted() if r.grant is not None and any(s.node == name for s in r.grant.slices)]

    @property
    def lost_nodes(self) -> dict[str, dict]:
        """Nodes lost since this process started: name -> {"at", "model", "requests"} (newest kept)."""
        return dict(self.__dict__.setdefault("_lost_nodes", {}))

    # -- private -------------------------------------------------------------------
    def _lose_node(self, name: str, now: float) -> list[Request]:
        pool = self.pool
        spec = pool.nodes[name]
        pool.upsert_node(replace(spec, schedulable=False))  # nothing new lands on it meanwhile
        self._unhold_placeholders(name)
        ended = [self._end_lost(req, name, now) for req in self.on_node(name)]
        for grant in pool.grants_on(name):  # anything else still there (nothing, by the rules above)
            pool.release(grant.id)
        pool.remove_node(name)
        lost = self.__dict__.setdefault("_lost_nodes", {})
        lost.pop(name, None)
        lost[name] = {"at": now, "model": spec.model, "requests": [r.id for r in ended]}
        while len(lost) > LOST_NODES_KEPT:
            del lost[next(iter(lost))]
        return ended

    def _end_lost(self, req: Request, node: str, now: float) -> Request:
        if req.state is State.GRANTED:
            self.release(req.id, "node_lost")
        return req

    def _unhold_placeholders(self, name: str) -> None:
        """Reservations' unused slices on a node that takes no new grant are released (re-placed elsewhere)."""
        for placeholders in self._placeholders.values():
            for placeholder in [p for p in placeholders if any(s.node == name for s in p.slices)]:
                placeholders.remove(placeholder)
                self.pool.release(placeholder.id)
