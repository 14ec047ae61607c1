"""Requests for a slice: list and ask (``/requests``), look at and end one (``/requests/{id}``)."""

from __future__ import annotations

from ...admission.model import Refused, State
from ...flavors import FlavorError
from ...i18n import message
from ..auth import OPERATE
from ..base import BaseHandler
from ..errors import APIError, from_flavor_error
from ..openapi import STATES

__all__ = ["RequestHandler", "RequestsHandler"]


class RequestsHandler(BaseHandler):
    def get(self):
        caller = self.caller
        user = self.query.get("user")
        states = self.query.get("state", [])
        limit = self.query["limit"]
        if user is not None and user != caller.name and not caller.operates and not caller.teaches:
            raise APIError(403, "permission_denied", message("permission_denied", scope=OPERATE))
        wanted = set(states or STATES)
        adm = self.engine.current()
        found = {}
        for req in adm.requests.values():
            if req.state.value in wanted and (user is None or req.user == user):
                found[req.id] = req
        finished = wanted - {"waiting", "granted"}
        if finished:
            for req in self.engine.read_store(self.engine.store.requests, user=user, states=sorted(finished),
                                              limit=limit):
                found.setdefault(req.id, req)
        visible = [r for r in found.values() if caller.may_see_request(r.user, r.groups)]
        visible.sort(key=lambda r: (r.arrived, r.seq), reverse=True)
        self.send({"requests": [self.view(r) for r in visible[:limit]]})

    async def post(self):
        caller = self.caller
        body = self.json_body()
        user = body.get("user", caller.name if caller.kind == "user" else None)
        if user is None:
            raise APIError(400, "body_invalid", message("body_invalid", detail="a service must say which user"))
        if user != caller.name or caller.kind != "user":
            caller.require_operate()
        if caller.operates and "groups" in body:
            groups = sorted(set(body["groups"]))
        elif caller.kind == "user" and user == caller.name:
            groups = sorted(caller.groups)
        else:
            groups = await self.groups_of(user)
        rid = body.get("id")
        server = body.get("server", "")
        metrics = self.ctx.metrics
        if rid is not None:
            existing = self.engine.find(rid)
            if existing is not None:
                return self._existing(existing, user)
        try:
            self.engine.site.catalogue.resolve(body["flavor"], groups)
        except FlavorError as e:
            metrics.decisions.labels("refused", e.reason).inc()
            raise from_flavor_error(e) from None

        def submit(adm):
            return adm.submit(user, groups, body["flavor"], request_id=rid, server=server)

        try:
            decision = await self.engine.change(submit, "submit")
        except Refused as e:
            metrics.decisions.labels("refused", e.reason).inc()
            raise
        except APIError as e:
            metrics.decisions.labels("refused", e.reason).inc()
            raise
        req = self.engine.find(decision.request)
        if req.user != user:
            raise APIError(409, "request_id_taken", message("request_id_taken", id=rid))
        metrics.decisions.labels(req.state.value, "").inc()
        self.send(self.view(req), 201 if req.state is State.GRANTED else 202 if req.state is State.WAITING else 200)

    def _existing(self, req, user: str):
        if req.user != user:
            raise APIError(409, "request_id_taken", message("request_id_taken", id=req.id))
        status = {State.GRANTED: 201, State.WAITING: 202}.get(req.state, 200)
        self.send(self.view(req), status)


class RequestHandler(BaseHandler):
    def get(self, request_id: str):
        self.send(self.view(self.find_request(request_id)))

    async def delete(self, request_id: str):
        req = self.find_request(request_id)
        if req.state.final:
            return self.send(self.view(req))
        who = self.caller.name

        def end(adm):
            live = adm.requests.get(request_id)
            if live is None:
                return None
            if live.state is State.GRANTED:
                return adm.release(request_id, "stopped")
            return adm.cancel(request_id, "cancelled")

        ended = await self.engine.change(end, "cancel")
        self.ctx.log.info("Request %s of %s ended by %s", request_id, req.user, who)
        self.send(self.view(ended if ended is not None else self.engine.find(request_id) or req))
