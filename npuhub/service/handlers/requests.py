"""Requests for a slice: list and ask (``/requests``), look at and end one (``/requests/{id}``)."""

from __future__ import annotations

import hashlib
import json
import time

from ...admission.model import Refused, State
from ...flavors import FlavorError
from ...i18n import message
from ..auth import OPERATE
from ..base import BaseHandler
from ..errors import APIError
from ..hubapi import HubUnavailable
from ..openapi import STATES

__all__ = ["RequestHandler", "RequestsHandler", "view_tag"]


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
            # a workshop's limit lives in the hub (its group's properties), so it is checked here, beside the
            # groups the hub gave; the core checks the site's own rules again when it submits
            self.engine.site.catalogue.resolve(body["flavor"], groups, await self.ctx.flavor_limit(groups))
        except FlavorError as e:
            metrics.decisions.labels("refused", e.reason).inc()
            raise

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
    async def get(self, request_id: str):
        """The request; with ``?wait=N`` and ``If-None-Match``, answers when it changes, or 304 after N s.

        The spawner follows a start with this one long poll (no polling loop):
        each answer is a change the spawn page shows.
        """
        req = self.find_request(request_id)
        wait = self.query.get("wait", 0)
        seen = self.request.headers.get("If-None-Match")
        view = self.view(req)
        tag = view_tag(view)
        deadline = time.monotonic() + wait
        while seen == tag and not req.state.final:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            if not await self.engine.wait_for_change(remaining):
                continue
            req = self.engine.find(request_id) or req
            view = self.view(req)
            tag = view_tag(view)
        self.set_header("ETag", tag)
        if seen == tag:
            self.set_status(304)
            self.clear_header("Content-Type")
            return self.finish()
        self.send(view)

    async def delete(self, request_id: str):
        """End a request: a waiting one is cancelled; a granted one only once its server has stopped.

        A granted slice is never freed while its server may still use it. The
        hub's spawner, having stopped the server, says so with ``?stopped=true``
        (it holds ``operate``). Anyone else who may end the request (its owner,
        her teacher, staff) gets the server stopped through the hub; the
        spawner then releases the slice, and the answer is 202 until it has.
        """
        req = self.find_request(request_id)
        if req.state.final:
            return self.send(self.view(req))
        if req.cluster is not None:  # its cluster's wanted workers would only ask for it again
            raise APIError(409, "cluster_request", message("cluster_request", cluster=req.cluster))
        who = self.caller.name
        stopped = bool(self.caller.operates and self.query.get("stopped"))
        if req.state is State.GRANTED and not stopped:
            return await self._stop_server_first(req)

        def end(adm):
            live = adm.requests.get(request_id)
            if live is not None and live.state is State.GRANTED and not stopped:
                return GRANTED_MEANWHILE
            return adm.end(request_id, by=who)

        ended = await self.engine.change(end, "cancel")
        if ended is GRANTED_MEANWHILE:
            # a change just before this one in its group granted it: a cancel must not become a release
            # of a slice whose server may be starting; as for any granted request, the server goes first
            return await self._stop_server_first(self.find_request(request_id))
        self.ctx.log.info("Request %s of %s ended by %s", request_id, req.user, who)
        self.send(self.view(ended if ended is not None else self.engine.find(request_id) or req))

    async def _stop_server_first(self, req) -> None:
        if self.ctx.stop_server is None:
            raise APIError(409, "server_running", message("server_running", server=req.server or "-"))
        try:
            outcome = await self.ctx.stop_server(req.user, req.server)
        except HubUnavailable:
            raise APIError(503, "hub_unavailable", headers={"Retry-After": "5"}) from None
        self.ctx.log.info("%s asked to end granted request %s of %s: its server is %s",
                          self.caller.name, req.id, req.user, outcome)
        if outcome in ("gone", "stopped"):
            # The hub runs no such server (any more): nothing uses the slice. Had a server just stopped, its
            # spawner has released the slice already; a grant still held here had no server behind it.
            who, ran = self.caller.name, self.ctx.server_ran

            def end(adm):
                live = adm.requests.get(req.id)
                if live is None or live.state is not State.GRANTED:
                    return
                if ran(live):
                    adm.release(live.id, "server_gone", by=who, meter=False)
                else:
                    adm.abandon(live.id, "server_gone")

            await self.engine.change(end, "cancel")
            return self.send(self.view(self.engine.find(req.id) or req))
        view = self.view(req)
        view["stopping"] = True
        self.send(view, 202)


#: what a cancel's change returns when the request was granted between the handler's look and the change
GRANTED_MEANWHILE = object()


def view_tag(view: dict) -> str:
    """An ETag of what a person sees of a request (not the seconds counting down to its estimate)."""
    seen = {k: v for k, v in view.items() if k != "eta_seconds"}
    return '"' + hashlib.sha1(json.dumps(seen, sort_keys=True).encode()).hexdigest()[:20] + '"'

