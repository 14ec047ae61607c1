"""The queue's order and the kept simulation behind positions and estimates. A mixin of ``Admission``.

The order (``queue()``): requests a group's active reservation can serve, then
by fair share of the account they are charged to, then by arrival. It is kept
sorted between changes (``_enqueue`` / ``_dequeue`` bisect into it) and
rebuilt when usage is metered, a reservation changes or a window opens or
closes, and at least every ``ORDER_TTL`` seconds as usage decays. Positions
come from one simulation of the whole queue (``estimates.Fluid``), kept while
nothing it reads changes; a request joining at the tail extends it by one step.
"""

from __future__ import annotations

import bisect

from .estimates import Fluid, expected_end
from .model import Decision, Request, State

__all__ = ["QueueOrder"]


class QueueOrder:
    """The waiting requests' order and positions; the state it uses is made in ``Admission.__post_init__``."""

    #: how long a computed queue order stays valid while fair-share usage decays (seconds)
    ORDER_TTL = 60.0

    def queue(self) -> list[Request]:
        """Waiting requests in the order they will be served.

        The order is kept sorted between changes; it is recomputed when usage
        is metered, a reservation changes or a window opens or closes, and at
        least every ORDER_TTL seconds as usage decays.
        """
        self._ensure_order(self.clock())
        return [self.requests[rid] for _, rid in self._order]

    def _ensure_order(self, now: float) -> None:
        if self._order is None or now >= self._order_valid_until:
            self._rebuild_order(now)

    def _rebuild_order(self, now: float) -> None:
        self._version += 1
        self.stats.order_rebuilds += 1
        accounts = {self.account_of(r) for r in self.requests.values() if r.active}
        self._factors = self.fairshare.factors(accounts, now)
        self._keys = {r.id: self._order_key(r, now) for r in self.waiting()}
        self._order = sorted((key, rid) for rid, key in self._keys.items())
        boundaries = [b for res in self.reservations.values() for b in (res.starts, res.ends) if b > now]
        self._order_valid_until = min([now + self.ORDER_TTL, *boundaries])

    def _order_key(self, req: Request, now: float) -> tuple:
        account = self.account_of(req)
        if account not in self._factors:
            self._factors[account] = self.fairshare.factor(account, now)
        reserved = self._reservation_for(req, now) is not None
        return (not reserved, -self._factors[account], req.arrived, req.seq)

    def _invalidate_order(self) -> None:
        self._order = None
        self._version += 1

    def _enqueue(self, req: Request) -> None:
        self._queued.add(req.id)
        self._waiting_shares[(req.model, req.share)] += 1
        fluid = self._fluid if self._fluid is not None and self._fluid.key == self._fluid_key() else None
        self._version += 1
        if self._order is not None:
            key = self._keys[req.id] = self._order_key(req, self.clock())
            entry = (key, req.id)
            if not self._order or entry > self._order[-1]:
                self._order.append(entry)
                if fluid is not None:  # joined at the tail: one more step of the kept simulation
                    fluid.extend([req])
                    fluid.key = self._fluid_key()
            else:
                bisect.insort(self._order, entry)

    def _dequeue(self, req: Request) -> None:
        if req.id not in self._queued:
            return
        self._version += 1
        self._queued.discard(req.id)
        key = (req.model, req.share)
        self._waiting_shares[key] -= 1
        if self._waiting_shares[key] <= 0:
            del self._waiting_shares[key]
        if self._order is not None:
            if req.id not in self._keys:
                return
            entry = (self._keys.pop(req.id), req.id)
            index = bisect.bisect_left(self._order, entry)
            if index < len(self._order) and self._order[index] == entry:
                del self._order[index]

    def positions(self) -> dict[str, Decision]:
        """Position (1-based, among requests for the same device model) and estimated start of each."""
        now = self.clock()
        self._ensure_order(self.clock())
        fluid = self._fluid_at(now)
        out = {}
        for _, rid in self._order:
            position, start = fluid.results[rid]
            out[rid] = Decision(rid, State.WAITING, position=position, eta=fluid.eta(start, now))
        return out

    def _fluid_key(self) -> tuple:
        return (self._version, self.pool.version, self._session_mean)

    def _fluid_at(self, now: float) -> Fluid:
        """The simulation of the whole queue as of ``now``: the kept one if still valid, else a new run."""
        fluid = self._fluid
        key = self._fluid_key()
        if fluid is None or fluid.key != key or not fluid.valid_at(now):
            self.stats.simulations += 1
            self.stats.last_cause = ("first" if fluid is None else "changed" if fluid.key != key
                                     else "overdue" if now >= fluid.until else "clock")
            fluid = self._fluid = Fluid(self.fluid_input(now), now, key)
            fluid.extend(self.requests[rid] for _, rid in self._order)
        return fluid

    def expected_end(self, req: Request, now: float) -> float:
        """When a granted session is expected to end (the observed mean after its start)."""
        return expected_end(req.granted_at, now, self._session_mean)
