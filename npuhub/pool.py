"""The pool inventory: nodes, their devices, and which fraction of which device each grant holds.

Placement is fragmentation-aware:

- a share smaller than one device never spans two devices; it goes to the
  partly used device where it fits most tightly (best fit), and only opens a
  free device when no partly used one has room, so whole devices stay free;
- a request for whole devices takes entirely free devices, all on one node
  (a pod cannot span nodes), from the node where it fits most tightly.

The pool knows nothing of quotas or people: a holder is an opaque string.

Placing does not scan the devices: the pool keeps, per model, its partly used
devices bucketed by how much of them is used (each bucket sorted by the
tie-breaks below) and its nodes bucketed by how many whole devices they have
free, so a placement looks at a handful of buckets whatever the pool's size.

In a cluster the nodes change under the pool (``upsert_node``,
``remove_node``; see ``npuhub.inventory``). Only *placeable* devices take new
grants: devices of a schedulable node below its allocatable count. A cordoned
node keeps what it holds (its devices are counted apart, in ``held_apart``);
a device beyond a node's new, smaller allocatable count keeps its holders
until they leave, then disappears (it *drains*). ``capacity`` and ``held``
count placeable devices only, so ``held <= capacity`` always holds.
"""

from __future__ import annotations

import bisect
import uuid
from dataclasses import dataclass
from fractions import Fraction
from typing import Iterable, Mapping

from .shares import format_share, parse_share

__all__ = ["NodeSpec", "Slice", "Grant", "Pool", "PoolError", "NoCapacity"]

ONE = Fraction(1)


class PoolError(Exception):
    """A grant that does not fit the pool's devices (unknown device, over-full)."""


class NoCapacity(Exception):
    """No placement exists for the request right now."""


@dataclass(frozen=True)
class NodeSpec:
    """A node of the pool: ``devices`` accelerators of one model."""

    name: str
    model: str
    devices: int
    vendor: str = "ascend"
    #: False for a cordoned node: it keeps what it holds and takes no new grant
    schedulable: bool = True


@dataclass(frozen=True, order=True)
class Slice:
    """``fraction`` of device ``device`` on node ``node``."""

    node: str
    device: int
    fraction: Fraction

    def to_dict(self) -> dict:
        return {"node": self.node, "device": self.device, "fraction": format_share(self.fraction)}

    @classmethod
    def from_dict(cls, data: dict) -> "Slice":
        return cls(str(data["node"]), int(data["device"]), parse_share(data["fraction"]))


@dataclass(frozen=True)
class Grant:
    """What one holder was given: slices of devices of one model."""

    id: str
    holder: str
    model: str
    share: Fraction
    slices: tuple[Slice, ...]

    @property
    def node(self) -> str | None:
        return self.slices[0].node if self.slices else None

    @property
    def devices(self) -> list[int]:
        return sorted({s.device for s in self.slices})

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "holder": self.holder,
            "model": self.model,
            "share": format_share(self.share),
            "slices": [s.to_dict() for s in self.slices],
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Grant":
        return cls(
            id=str(data["id"]),
            holder=str(data["holder"]),
            model=str(data["model"]),
            share=parse_share(data["share"]),
            slices=tuple(Slice.from_dict(s) for s in data["slices"]),
        )


class Pool:
    """Devices and what is held on them. Not thread-safe; the hub is one event loop."""

    def __init__(self, nodes: Iterable[NodeSpec], models: Mapping[str, str] | None = None,
                 dynamic: bool = False):
        """``models``: device model -> vendor the pool offers even with no node of it (yet);
        ``dynamic``: nodes come and go (a cluster), so a restored grant may sit on a device beyond
        its node's current allocatable count (it drains)."""
        self.nodes: dict[str, NodeSpec] = {}
        for node in nodes:
            if node.name in self.nodes:
                raise ValueError(f"node {node.name!r} is listed twice")
            self.nodes[node.name] = node
        self.dynamic = dynamic
        self._declared = dict(models or {})
        # used[(node, device)] = fraction of that device held (placeable devices, and draining ones)
        self._used: dict[tuple[str, int], Fraction] = {
            (n.name, d): Fraction(0) for n in self.nodes.values() for d in range(n.devices)
        }
        self.grants: dict[str, Grant] = {}
        #: bumped by every change of occupancy; caches derived from the pool key on it
        self.version = 0
        self._reindex()

    def _reindex(self) -> None:
        """Rebuild every index from the nodes and ``_used`` (at start, and when the nodes change)."""
        self.version += 1
        self._models = dict(self._declared)
        for n in self.nodes.values():
            self._models.setdefault(n.model, n.vendor)
        self._capacity = {m: Fraction(sum(n.devices for n in self.nodes.values() if n.model == m and n.schedulable))
                          for m in self._models}
        self._held = {m: Fraction(0) for m in self._models}
        self._apart = {m: Fraction(0) for m in self._models}
        # The indexes placement reads instead of scanning every device:
        self._rank = {name: i for i, name in enumerate(sorted(self.nodes))}  # name order, as an int
        self._free: dict[str, list[int]] = {}
        # model -> number of whole free devices -> sorted [(rank, node)]
        self._nodes_by_free: dict[str, dict[int, list[tuple[int, str]]]] = {m: {} for m in self._models}
        # model -> used fraction (0 < used < 1) -> sorted [(whole free devices on its node, rank, device, node)]
        self._partly: dict[str, dict[Fraction, list[tuple[int, int, int, str]]]] = {m: {} for m in self._models}
        self._partly_amounts: dict[str, list[Fraction]] = {m: [] for m in self._models}  # sorted keys of _partly
        for (name, device), used in self._used.items():
            model = self.nodes[name].model
            if self.placeable(name, device):
                self._held[model] += used
            else:
                self._apart[model] += used
        for n in self.nodes.values():
            if not n.schedulable:
                self._free[n.name] = []
                continue
            self._free[n.name] = [d for d in range(n.devices) if self._used[(n.name, d)] == 0]
            free = len(self._free[n.name])
            bisect.insort(self._nodes_by_free[n.model].setdefault(free, []), (self._rank[n.name], n.name))
        for (name, device), used in self._used.items():
            if self.placeable(name, device):
                self._index_partly(self.nodes[name].model, name, device, used)

    def placeable(self, node: str, device: int) -> bool:
        """Whether a new grant may be placed on this device (its node is schedulable and still offers it)."""
        spec = self.nodes.get(node)
        return spec is not None and spec.schedulable and 0 <= device < spec.devices

    # -- reading -------------------------------------------------------
    @property
    def models(self) -> dict[str, str]:
        """Device model -> vendor."""
        return dict(self._models)

    def vendor_of(self, model: str) -> str:
        return self._models[model]

    def largest_device_count(self, model: str) -> int:
        return max((n.devices for n in self.nodes.values() if n.model == model), default=0)

    def used(self, node: str, device: int) -> Fraction:
        return self._used[(node, device)]

    def capacity(self, model: str) -> Fraction:
        return self._capacity.get(model, Fraction(0))

    def held(self, model: str) -> Fraction:
        """What is held on placeable devices of ``model`` (never more than its capacity)."""
        return self._held.get(model, Fraction(0))

    def held_apart(self, model: str) -> Fraction:
        """What is held on devices that take no new grant: cordoned nodes, draining devices."""
        return self._apart.get(model, Fraction(0))

    def grants_on(self, node: str) -> list[Grant]:
        """The grants holding a slice of a device of ``node``, in id order."""
        return sorted((g for g in self.grants.values() if any(s.node == node for s in g.slices)),
                      key=lambda g: g.id)

    def node_devices(self, node: str) -> list[int]:
        """The device indexes ``node`` has now: those it offers, then any still draining."""
        spec = self.nodes[node]
        extra = sorted(d for (n, d) in self._used if n == node and d >= spec.devices)
        return list(range(spec.devices)) + extra

    def snapshot(self) -> dict:
        """Occupancy per node and device, for status pages and tests."""
        return {
            name: {
                "model": node.model,
                "devices": [format_share(self._used[(name, d)]) for d in self.node_devices(name)],
            }
            for name, node in self.nodes.items()
        }

    # -- placing -------------------------------------------------------
    def place(self, holder: str, model: str, share: Fraction) -> Grant:
        """Hold ``share`` of ``model`` devices for ``holder``; raise NoCapacity if it cannot fit."""
        if model not in self._models:
            raise PoolError(f"the pool has no {model!r} devices")
        if share <= 0 or (share > 1 and share.denominator != 1):
            raise PoolError(f"{share} is not a placeable share")
        slices = self._find_fraction(model, share) if share < 1 else self._find_whole(model, int(share))
        if slices is None:
            raise NoCapacity(f"no room for {format_share(share)} of {model}")
        grant = Grant(str(uuid.uuid4()), holder, model, share, tuple(slices))
        self._apply(grant)
        return grant

    def _find_fraction(self, model: str, share: Fraction) -> list[Slice] | None:
        # Prefer partly used devices (keep whole devices free), then the
        # tightest fit, then nodes with fewer free devices (keep whole nodes
        # free for multi-device requests), then a stable order (node, device).
        # ``_find_fraction_reference`` is the same rule as a scan.
        amounts = self._partly_amounts[model]
        index = bisect.bisect_right(amounts, ONE - share) - 1
        if index >= 0:  # the fullest partly used devices that still have room: the tightest fit
            _, _, device, node = self._partly[model][amounts[index]][0]
            return [Slice(node, device, share)]
        for free in sorted(self._nodes_by_free[model]):
            if free > 0:
                _, node = self._nodes_by_free[model][free][0]
                return [Slice(node, self._free[node][0], share)]
        return None

    def _find_fraction_reference(self, model: str, share: Fraction) -> list[Slice] | None:
        """The placement rule for fractions as a plain scan of every device (tests compare the two)."""
        best: tuple | None = None
        free_devices: dict[str, int] = {}
        for (node, device), used in self._used.items():
            free_devices[node] = free_devices.get(node, 0) + (used == 0 and self.placeable(node, device))
        for (node, device), used in self._used.items():
            spec = self.nodes[node]
            if spec.model != model or ONE - used < share or not self.placeable(node, device):
                continue
            key = (used == 0, ONE - used - share, free_devices[node], node, device)
            if best is None or key < best[0]:
                best = (key, node, device)
        if best is None:
            return None
        return [Slice(best[1], best[2], share)]

    def _find_whole(self, model: str, count: int) -> list[Slice] | None:
        # The node where the request fits most tightly (fewest free devices left over), then by name.
        by_free = self._nodes_by_free[model]
        for free in sorted(by_free):
            if free >= count:
                _, node = by_free[free][0]
                return [Slice(node, d, ONE) for d in self._free[node][:count]]
        return None

    def _find_whole_reference(self, model: str, count: int) -> list[Slice] | None:
        """The placement rule for whole devices as a plain scan (tests compare the two)."""
        best: tuple | None = None
        for name, spec in self.nodes.items():
            if spec.model != model or not spec.schedulable:
                continue
            free = [d for d in range(spec.devices) if self._used[(name, d)] == 0]
            if len(free) < count:
                continue
            key = (len(free) - count, name)
            if best is None or key < best[0]:
                best = (key, name, free[:count])
        if best is None:
            return None
        return [Slice(best[1], d, ONE) for d in best[2]]

    def _apply(self, grant: Grant) -> None:
        for s in grant.slices:
            key = (s.node, s.device)
            self._set_used(key, self._used[key] + s.fraction)
        self.grants[grant.id] = grant

    def _set_used(self, key: tuple[str, int], used: Fraction) -> None:
        """Change one device's occupancy and keep the placement indexes in step."""
        node, device = key
        old = self._used[key]
        if used == old:
            return
        model = self.nodes[node].model
        self.version += 1
        if not self.placeable(node, device):
            self._apart[model] += used - old
            if used == 0 and device >= self.nodes[node].devices:
                del self._used[key]  # a draining device, now free: it is gone
            else:
                self._used[key] = used
            return
        self._held[model] += used - old
        self._unindex_partly(model, node, device, old)
        if (old == 0) != (used == 0):
            # the node's count of whole free devices changes, and with it the
            # sort key of its partly used devices and its free-count bucket
            partly = [(d, self._used[(node, d)]) for d in range(self.nodes[node].devices)
                      if d != device and 0 < self._used[(node, d)] < 1]
            for d, u in partly:
                self._unindex_partly(model, node, d, u)
            free = self._free[node]
            by_free = self._nodes_by_free[model]
            entry = (self._rank[node], node)
            bucket = by_free[len(free)]
            del bucket[bisect.bisect_left(bucket, entry)]
            if not bucket:
                del by_free[len(free)]
            if used == 0:
                bisect.insort(free, device)
            else:
                del free[bisect.bisect_left(free, device)]
            bisect.insort(by_free.setdefault(len(free), []), entry)
            self._used[key] = used
            for d, u in partly:
                self._index_partly(model, node, d, u)
        else:
            self._used[key] = used
        self._index_partly(model, node, device, used)

    def _partly_entry(self, node: str, device: int) -> tuple[int, int, int, str]:
        return (len(self._free[node]), self._rank[node], device, node)

    def _index_partly(self, model: str, node: str, device: int, used: Fraction) -> None:
        if not 0 < used < 1:
            return
        buckets = self._partly[model]
        if used not in buckets:
            buckets[used] = []
            bisect.insort(self._partly_amounts[model], used)
        bisect.insort(buckets[used], self._partly_entry(node, device))

    def _unindex_partly(self, model: str, node: str, device: int, used: Fraction) -> None:
        if not 0 < used < 1:
            return
        bucket = self._partly[model][used]
        del bucket[bisect.bisect_left(bucket, self._partly_entry(node, device))]
        if not bucket:
            del self._partly[model][used]
            amounts = self._partly_amounts[model]
            del amounts[bisect.bisect_left(amounts, used)]

    # -- releasing and restoring ----------------------------------------
    def release(self, grant_id: str) -> Grant | None:
        """Free exactly what the grant took. Releasing twice is a no-op."""
        grant = self.grants.pop(grant_id, None)
        if grant is None:
            return None
        for s in grant.slices:
            key = (s.node, s.device)
            self._set_used(key, self._used[key] - s.fraction)
        return grant

    def restore(self, grant: Grant) -> None:
        """Put back a grant recorded before a restart.

        Idempotent for the same grant; raises PoolError when the grant no
        longer fits (its device is gone, or the slices would over-fill it),
        so a restart never grants the same capacity twice.
        """
        known = self.grants.get(grant.id)
        if known is not None:
            if known != grant:
                raise PoolError(f"grant {grant.id} is already held with other slices")
            return
        extra: dict[tuple[str, int], Fraction] = {}
        for s in grant.slices:
            key = (s.node, s.device)
            known = key in self._used or (self.dynamic and s.node in self.nodes and s.device >= 0)
            if not known:
                raise PoolError(f"device {s.device} of node {s.node!r} is not in the pool")
            if self.nodes[s.node].model != grant.model:
                raise PoolError(f"node {s.node!r} has no {grant.model!r} devices")
            extra[key] = extra.get(key, Fraction(0)) + s.fraction
        for key, fraction in extra.items():
            if self._used.get(key, Fraction(0)) + fraction > ONE:
                raise PoolError(f"device {key[1]} of node {key[0]!r} would be over-full")
        for key in extra:
            self._used.setdefault(key, Fraction(0))  # a device beyond its node's allocatable count: it drains
        self._apply(grant)

    # -- nodes changing (a cluster) ---------------------------------------
    def upsert_node(self, spec: NodeSpec) -> None:
        """Add a node, or change one (allocatable count, cordoned or not); what it holds stays held.

        Devices beyond a smaller count keep their holders and drain; a cordoned node keeps its grants.
        """
        old = self.nodes.get(spec.name)
        if old == spec:
            return
        if old is not None and old.model != spec.model:
            if self.grants_on(spec.name):
                raise PoolError(f"node {spec.name!r} changed model from {old.model!r} while holding grants")
            self.remove_node(spec.name)
        self.nodes[spec.name] = spec
        for d in range(spec.devices):
            self._used.setdefault((spec.name, d), Fraction(0))
        for key in [k for k in self._used if k[0] == spec.name and k[1] >= spec.devices]:
            if self._used[key] == 0:
                del self._used[key]
        self._reindex()

    def remove_node(self, name: str) -> None:
        """Forget a node. Its grants must have been released first (the caller decides their fate)."""
        if name not in self.nodes:
            return
        if self.grants_on(name):
            raise PoolError(f"node {name!r} still holds grants")
        del self.nodes[name]
        for key in [k for k in self._used if k[0] == name]:
            del self._used[key]
        self._reindex()
