"""Reservations: slices held for a group in a time window (``/reservations``, ``/reservations/{id}``)."""

from __future__ import annotations

from ...i18n import message
from ..base import BaseHandler
from ..validation import parse_time
from ..errors import APIError
from ..models import reservation_view

__all__ = ["ReservationHandler", "ReservationsHandler"]


class ReservationsHandler(BaseHandler):
    def get(self):
        adm = self.engine.current()
        now = self.now()
        visible = [r for r in adm.reservations.values() if self.caller.may_see_reservation(r.group)]
        visible.sort(key=lambda r: (r.starts, r.id))
        self.send({"reservations": [reservation_view(adm, r, now) for r in visible]})

    async def post(self):
        body = self.json_body()
        group = body["group"]
        if not self.caller.may_manage_reservation(group):
            raise APIError(403, "permission_denied",
                           message("permission_denied", scope=f"custom:npuhub:teach!group={group}"))
        starts, ends = parse_time(body["starts"], "starts"), parse_time(body["ends"], "ends")
        rid = body.get("id")
        creator = self.caller.name

        def reserve(adm):
            return adm.reserve(group, body["flavor"], body["count"], starts, ends, creator,
                               hold=float(body.get("hold_seconds", 600)), reservation_id=rid)

        res = await self.engine.change(reserve, "reserve")
        self.ctx.log.info("%s reserved %d x %s for %s from %s to %s", creator, res.count, res.flavor, group,
                          body["starts"], body["ends"])
        self.send(reservation_view(self.engine.current(), res, self.now()), 201)


class ReservationHandler(BaseHandler):
    async def delete(self, reservation_id: str):
        res = self.engine.current().reservations.get(reservation_id)
        if res is None:
            raise APIError(404, "reservation_unknown", message("reservation_unknown", id=reservation_id[:70]))
        if not self.caller.may_manage_reservation(res.group):
            raise APIError(403, "permission_denied",
                           message("permission_denied", scope=f"custom:npuhub:teach!group={res.group}"))

        def cancel(adm):
            if reservation_id in adm.reservations:
                adm.cancel_reservation(reservation_id)

        await self.engine.change(cancel, "reserve")
        self.ctx.log.info("%s ended reservation %s of %s", self.caller.name, reservation_id, res.group)
        self.set_status(204)
        self.clear_header("Content-Type")
        self.finish()
