"""Reservations, as part of the admission core: a teacher's slices held for a group in a time window.

A mixin of ``core.Admission`` (one object, one state): placeholders in the
pool for active windows, lent to everyone after the hold, a member's slice
given back to its reservation when she stops. Read ``core.py``'s docstring
first; what others may use of it is listed there.
"""

from __future__ import annotations

import uuid
from fractions import Fraction

from ..pool import Grant, NoCapacity
from .model import Refused, Request, Reservation, ReservationUse

__all__ = ["ReservationBook"]


class ReservationBook:
    """The reservation half of ``Admission``: its methods use the core's pool, requests and order."""

    def reserved_for(self, req: Request, now: float) -> bool:
        """Whether an active reservation of one of her groups serves this request's flavor."""
        return self._reservation_for(req, now) is not None

    def reservation_use(self, reservation_id: str, now: float) -> ReservationUse:
        """How a reservation is used: members' sessions on it, placeholders held, and whether it was lent."""
        in_use = sum(1 for r in self._granted.values() if r.reservation == reservation_id)
        held = len(self._placeholders.get(reservation_id, ()))
        res = self.reservations.get(reservation_id)  # None once its window is over
        return ReservationUse(in_use, held, res is not None and res.active(now) and now >= res.starts + res.hold)

    def reserved(self) -> dict[str, Fraction]:
        """Devices held by reservations' placeholders now, by device model."""
        held: dict[str, Fraction] = {}
        for placeholders in self._placeholders.values():
            for p in placeholders:
                held[p.model] = held.get(p.model, Fraction(0)) + p.share
        return held

    def reserve(self, group: str, flavor_id: str, count: int, starts: float, ends: float, created_by: str,
                hold: float = 600.0, reservation_id: str | None = None) -> Reservation:
        """Hold ``count`` slices of ``flavor_id`` for ``group`` from ``starts`` to ``ends`` (epoch seconds).

        Raises Refused: "reservation_invalid" (count below 1, or ``ends`` not
        after ``starts``), "reservation_past" (the window is over),
        "flavor_unknown" / "flavor_not_allowed" (for the group),
        "reservation_cpu_only", "reservation_id_taken".
        """
        if count < 1 or ends <= starts:
            raise Refused("reservation_invalid", {"count": count})
        if ends <= self.clock():
            raise Refused("reservation_past")
        flavor = self._resolve(flavor_id, {group})
        if not flavor.has_accelerator:
            raise Refused("reservation_cpu_only", {"flavor": flavor.id})
        if reservation_id is not None and reservation_id in self.reservations:
            raise Refused("reservation_id_taken", {"id": reservation_id})
        res = Reservation(reservation_id or str(uuid.uuid4()), group, flavor.id, count, starts, ends,
                          created_by, hold)
        self.reservations[res.id] = res
        self.reservation_ends[res.id] = res.ends
        self.dirty_reservations.add(res.id)
        self._invalidate_order()
        self.schedule()
        return res

    def cancel_reservation(self, reservation_id: str) -> None:
        res = self.reservations.pop(reservation_id)
        self.dirty_reservations.add(res.id)
        self._invalidate_order()
        for placeholder in self._placeholders.pop(res.id, []):
            self.pool.release(placeholder.id)
        self._lent.discard(res.id)
        self.schedule()

    def sessions_past_window(self, now: float) -> list[str]:
        """Granted requests on a reservation whose window is over (a workshop's servers, to stop after it).

        A reservation cancelled before its end keeps its sessions until the
        window's planned end. Ends no running session refers to are forgotten.
        """
        on = {r.reservation for r in self._granted.values() if r.reservation}
        for rid in [rid for rid in self.reservation_ends if rid not in on and rid not in self.reservations]:
            del self.reservation_ends[rid]
        return [r.id for r in self._granted.values()
                if r.reservation and now >= self.reservation_ends.get(r.reservation, float("inf"))]

    def _reservation_for(self, req: Request, now: float) -> Reservation | None:
        for res in self.reservations.values():
            if res.active(now) and res.group in req.groups and res.flavor == req.flavor:
                return res
        return None

    def _sync_reservations(self, now: float) -> None:
        """Place placeholders for active windows, lend them after the hold, drop them at the end."""
        for res in list(self.reservations.values()):
            placeholders = self._placeholders.setdefault(res.id, [])
            if now >= res.ends:
                for placeholder in placeholders:
                    self.pool.release(placeholder.id)
                del self.reservations[res.id]
                self._placeholders.pop(res.id, None)
                self.dirty_reservations.add(res.id)
                self._invalidate_order()
                continue
            if not res.active(now):
                continue
            if now >= res.starts + res.hold:
                if res.id not in self._lent:
                    for placeholder in placeholders:
                        self.pool.release(placeholder.id)
                    placeholders.clear()
                    self._lent.add(res.id)
                continue
            flavor = self.catalogue.get(res.flavor)
            if flavor is None or not flavor.has_accelerator:
                continue  # the site file no longer offers it: nothing to hold (and nothing to crash on)
            in_use = sum(1 for r in self._granted.values() if r.reservation == res.id)
            while in_use + len(placeholders) < res.count:
                try:
                    placeholders.append(self.pool.place(f"reservation:{res.id}", flavor.device_model, flavor.share))
                except NoCapacity:
                    break

    def _return_to_reservation(self, req: Request) -> None:
        """A member's reserved slice goes back to the reservation while it still holds."""
        res = self.reservations.get(req.reservation)
        now = self.clock()
        if res is None or res.id in self._lent or not res.active(now):
            return
        if not all(self.pool.placeable(s.node, s.device) for s in req.grant.slices):
            return  # its node is cordoned or gone: the reservation places a slice elsewhere instead
        placeholder = Grant(str(uuid.uuid4()), f"reservation:{res.id}", req.grant.model, req.grant.share,
                            req.grant.slices)
        self.pool.restore(placeholder)
        self._placeholders.setdefault(res.id, []).append(placeholder)
