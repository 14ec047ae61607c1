"""The REST API's handlers: requests, the queue, the pool, budgets and their ledger, reservations, metrics.

Every handler identifies the caller through the hub (``auth.HubIdentity``),
checks what she may do (``auth.Caller``), reads from or changes the admission
through the engine, and answers JSON. Every error, whatever raised it, goes
through ``write_error`` and ``errors.error_answer``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
import re
from fractions import Fraction
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from tornado import web
from tornado.web import HTTPError

from ..admission.model import Refused, State
from ..flavors import FlavorError
from ..i18n import message
from ..shares import format_share
from .hubapi import HubUnavailable
from .auth import OPERATE, Caller, HubIdentity, OAuthCallbackHandler
from .errors import APIError, error_answer
from .models import (
    account_view,
    hours,
    ledger_view,
    menu_view,
    pool_view,
    queue_view,
    request_view,
    reservation_view,
)
from .openapi import REQUEST_ID_PATTERN, STATES, openapi_document, validate_body

if TYPE_CHECKING:  # pragma: no cover
    from .app import NPUHubService

__all__ = ["routes"]

_REQUEST_ID = re.compile(REQUEST_ID_PATTERN)
_ACCOUNT = re.compile(r"^(user|group):([^/]{1,255})$")
HOUR = Fraction(3600)


class BaseHandler(HubIdentity, web.RequestHandler):
    """JSON in, JSON out; the caller identified before the method runs."""

    #: anonymous callers get 401 unless a handler says otherwise
    anonymous = False
    #: query parameters the handler understands; any other is refused (a typo must not pass unnoticed)
    query_args: frozenset[str] = frozenset()
    caller: Caller | None = None

    @property
    def service(self) -> NPUHubService:
        return self.settings["npuhub"]

    @property
    def engine(self):
        return self.service.engine

    def set_default_headers(self):
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("Cache-Control", "no-store")

    def check_xsrf_cookie(self):
        pass  # checked in prepare(), once the caller is known (tokens need none)

    async def prepare(self):
        unknown = set(self.request.query_arguments) - self.query_args - {"token", "_xsrf"}
        if unknown:
            listed = ", ".join(sorted(unknown))[:200]
            raise APIError(400, "body_invalid", message("body_invalid", detail=f"unknown query parameter(s): {listed}"))
        if self.anonymous:
            return
        self.caller = await self.identify()
        if self.caller is None:
            if self.request.method == "GET" and "text/html" in self.request.headers.get("Accept", ""):
                # a person opening the API in a browser: sign in through the hub first
                self.redirect(self.get_login_url())
                return
            raise APIError(401, "not_signed_in")
        if self.request.method not in ("GET", "HEAD", "OPTIONS") and not getattr(self, "_token_authenticated", False):
            self.hub_auth.check_xsrf_cookie(self)

    # -- errors: the one wrapper --------------------------------------------------------------
    def write_error(self, status_code: int, **kwargs):
        exc = (kwargs.get("exc_info") or (None, None, None))[1]
        error, _ = error_answer(exc, status_code, self.request.method, self.request.path)
        self.clear()
        self.set_default_headers()
        self.set_status(error.status)
        for name, value in error.headers.items():
            self.set_header(name, value)
        self.finish(json.dumps(error.body(), ensure_ascii=False))

    def log_exception(self, typ, value, tb):
        error, bug = error_answer(value, 500, self.request.method, self.request.path)
        if bug:
            self.service.log.error("Unexpected error (reference %s) in %s %s", error.extra.get("ref"),
                                   self.request.method, self.request.path, exc_info=(typ, value, tb))
        else:
            self.service.log.info("%s %s: %s %s", self.request.method, self.request.path, error.status,
                                  error.reason)

    # -- helpers ---------------------------------------------------------------------------------------
    def send(self, data, status: int = 200) -> None:
        self.set_status(status)
        self.finish(json.dumps(data, ensure_ascii=False))

    def json_body(self, schema: str) -> dict:
        try:
            data = json.loads(self.request.body or b"null")
        except (ValueError, UnicodeDecodeError) as e:
            raise APIError(400, "body_invalid", message("body_invalid", detail=f"not JSON ({e})"[:200])) from None
        problems = validate_body(schema, data)
        if problems:
            raise APIError(400, "body_invalid", message("body_invalid", detail="; ".join(problems)),
                           detail=problems)
        return data

    def limit(self) -> int:
        raw = self.get_query_argument("limit", "100")
        try:
            value = int(raw)
        except ValueError:
            value = 0
        if not 1 <= value <= 1000:
            raise APIError(400, "body_invalid", message("body_invalid", detail="limit must be 1 to 1000"))
        return value

    def now(self) -> float:
        return self.engine.clock()

    def view(self, req) -> dict:
        decision = None
        if req.state is State.WAITING:
            decision = self.engine.positions().get(req.id)
        return request_view(req, now=self.now(), adm=self.engine.current(), decision=decision,
                            warnings=self.service.budget_watch.warnings_for(req.id)
                            + self.service.idle_reclaim.warnings_for(req.id))

    def find_request(self, request_id: str):
        if not _REQUEST_ID.match(request_id):
            raise APIError(404, "request_unknown", message("request_unknown", id=request_id[:70]))
        req = self.engine.find(request_id)
        if req is None:
            raise APIError(404, "request_unknown", message("request_unknown", id=request_id))
        if not self.caller.may_see_request(req.user, req.groups):
            raise APIError(403, "permission_denied", message("permission_denied", scope=f"{OPERATE} (or teaching "
                                                                                          "the person's group)"))
        return req

    async def groups_of(self, user: str) -> list[str]:
        groups = await self.service.hub_groups(user)
        if groups is None:
            raise APIError(404, "user_unknown", message("user_unknown", user=user))
        return groups


class NotFoundHandler(BaseHandler):
    anonymous = True

    def prepare(self):
        raise HTTPError(404)


class OpenAPIHandler(BaseHandler):
    anonymous = True

    def get(self):
        self.send(openapi_document(self.service.api_prefix.rstrip("/")))


class RequestsHandler(BaseHandler):
    query_args = frozenset({"user", "state", "limit"})

    def get(self):
        caller = self.caller
        user = self.get_query_argument("user", None)
        states = self.get_query_arguments("state")
        for state in states:
            if state not in STATES:
                raise APIError(400, "body_invalid",
                               message("body_invalid", detail=f"state must be one of {', '.join(STATES)}"))
        limit = self.limit()
        if user is not None and not (1 <= len(user) <= 255):
            raise APIError(400, "body_invalid", message("body_invalid", detail="user must be 1 to 255 characters"))
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
        body = self.json_body("NewRequest")
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
        metrics = self.service.metrics
        if rid is not None:
            existing = self.engine.find(rid)
            if existing is not None:
                return self._existing(existing, user)
        try:
            self.engine.site.catalogue.resolve(body["flavor"], groups)
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
    query_args = frozenset({"wait", "stopped"})

    #: the longest a long poll is held open (seconds); proxies commonly cut idle answers at 60 s
    MAX_WAIT = 50.0

    async def get(self, request_id: str):
        """The request; with ``?wait=N`` and ``If-None-Match``, answers when it changes, or 304 after N s.

        The spawner follows a start with this one long poll (no polling loop):
        each answer is a change the spawn page shows.
        """
        req = self.find_request(request_id)
        wait = self.wait_seconds()
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

    def wait_seconds(self) -> float:
        raw = self.get_query_argument("wait", "0")
        try:
            wait = float(raw)
        except ValueError:
            wait = -1.0
        if not 0 <= wait <= self.MAX_WAIT:  # also refuses NaN
            raise APIError(400, "body_invalid",
                           message("body_invalid", detail=f"wait must be 0 to {self.MAX_WAIT:g} seconds"))
        return wait

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
        who = self.caller.name
        if req.state is State.GRANTED and not (self.caller.operates and self.get_query_argument("stopped", "") == "true"):
            return await self._stop_server_first(req)

        ended = await self.engine.change(lambda adm: adm.end(request_id, by=who), "cancel")
        self.service.log.info("Request %s of %s ended by %s", request_id, req.user, who)
        self.send(self.view(ended if ended is not None else self.engine.find(request_id) or req))

    async def _stop_server_first(self, req) -> None:
        hub = self.service.hub
        if hub is None:
            raise APIError(409, "server_running", message("server_running", server=req.server or "-"))
        try:
            outcome = await hub.stop_server(req.user, req.server)
        except HubUnavailable:
            raise APIError(503, "hub_unavailable", headers={"Retry-After": "5"}) from None
        self.service.log.info("%s asked to end granted request %s of %s: its server is %s",
                              self.caller.name, req.id, req.user, outcome)
        if outcome in ("gone", "stopped"):
            # The hub runs no such server (any more): nothing uses the slice. Had a server just stopped, its
            # spawner has released the slice already; a grant still held here had no server behind it.
            seen_running = self.service.seen_running

            def end(adm):
                live = adm.requests.get(req.id)
                if live is None or live.state is not State.GRANTED:
                    return
                granted_here = live.granted_at is not None and live.granted_at >= self.service.started_at
                if live.id in seen_running or not granted_here:
                    adm.release(live.id, "server_gone", by=self.caller.name, meter=False)
                else:
                    adm.abandon(live.id, "server_gone")

            await self.engine.change(end, "cancel")
            return self.send(self.view(self.engine.find(req.id) or req))
        view = self.view(req)
        view["stopping"] = True
        self.send(view, 202)


def view_tag(view: dict) -> str:
    """An ETag of what a person sees of a request (not the seconds counting down to its estimate)."""
    seen = {k: v for k, v in view.items() if k != "eta_seconds"}
    return '"' + hashlib.sha1(json.dumps(seen, sort_keys=True).encode()).hexdigest()[:20] + '"'


class FlavorsHandler(BaseHandler):
    """The menu a person may start from: ``GET /flavors`` (mine), or ``?user=`` for the hub's spawner."""

    query_args = frozenset({"user", "group"})

    async def get(self):
        caller = self.caller
        user = self.get_query_argument("user", None)
        if user is None or (caller.kind == "user" and user == caller.name):
            groups = sorted(caller.groups)
        else:
            caller.require_operate()
            given = self.get_query_arguments("group")
            groups = sorted(set(given)) if given else await self.groups_of(user)
        self.send(menu_view(self.engine.site.catalogue, groups))


class QueueHandler(BaseHandler):
    def get(self):
        adm = self.engine.current()
        self.send(queue_view(adm, self.engine.positions(), self.now(), self.caller))


class PoolHandler(BaseHandler):
    def get(self):
        self.send(pool_view(self.engine.current(), self.engine.available, self.engine.down_since))


class MeHandler(BaseHandler):
    def get(self):
        caller = self.caller
        adm = self.engine.current()
        now = self.now()
        groups = set(caller.groups)
        mine = adm.active_of(caller.name)
        accounts = adm.accounts_of(caller.name, groups, None, now) if caller.kind == "user" else []
        for group in sorted(groups):
            acct = adm.budgets.peek(f"group:{group}", now)
            if acct is not None:
                accounts.append(acct)
        flavors = menu_view(adm.catalogue, groups)["flavors"]
        self.send({
            "user": caller.name,
            "groups": sorted(groups),
            "max_share": format_share(adm.site.limits.max_share_for(groups)),
            "held_share": format_share(adm.held_by(caller.name)) if adm.held_by(caller.name) else "0",
            "holdings": [self.view(r) for r in mine if r.state is State.GRANTED],
            "waiting": [self.view(r) for r in mine if r.state is State.WAITING],
            "accounts": [account_view(a) for a in accounts],
            "flavors": flavors,
            "store": {"available": self.engine.available},
        })


class _AccountMixin:
    async def rule_for(self, name: str):
        """The rule an account has or would have; None when it has no budget."""
        adm = self.engine.current()
        kind, _, who = name.partition(":")
        existing = adm.budgets.accounts.get(name)
        if existing is not None:
            return existing.rule
        if kind == "group":
            return adm.budgets.rule_for(name)
        if self.caller.kind == "user" and who == self.caller.name:
            return adm.budgets.user_rule(self.caller.groups)
        return adm.budgets.user_rule(await self.groups_of(who))

    def check_account(self, name: str) -> None:
        if not _ACCOUNT.match(name):
            raise APIError(404, "account_unknown", message("account_unknown", account=name[:300]))
        if not self.caller.may_see_account(name):
            raise APIError(403, "permission_denied", message("permission_denied", scope=OPERATE))



class AccountHandler(_AccountMixin, BaseHandler):
    async def get(self, name: str):
        self.check_account(name)
        rule = await self.rule_for(name)
        if rule is None:
            raise APIError(404, "account_unknown", message("account_unknown", account=name))
        self.send(account_view(self.engine.current().budgets.peek(name, self.now(), rule)))


class AdjustmentsHandler(_AccountMixin, BaseHandler):
    async def post(self, name: str):
        self.caller.require_operate()
        self.check_account(name)
        body = self.json_body("NewAdjustment")
        amount = Fraction(body["device_hours"]) * HOUR
        if amount == 0 or abs(amount) > 10**6 * HOUR:
            raise APIError(400, "body_invalid", message("body_invalid",
                                                        detail="device_hours must be non-zero and at most 1000000"))
        rule = await self.rule_for(name)
        if rule is None:
            raise APIError(404, "account_unknown", message("account_unknown", account=name))
        actor = self.caller.name

        def adjust(adm):
            now = self.now()
            adm.budgets.account(name, now, rule)
            adm.budgets.adjust(name, amount, now, actor, body["reason"])

        await self.engine.change(adjust, "adjust")
        entry = self.engine.read_store(self.engine.store.ledger, name, limit=1)[0]
        self.service.log.info("%s adjusted %s by %s device-hours: %s", actor, name, amount / HOUR, body["reason"])
        self.send(ledger_view(entry), 201)


class LedgerHandler(BaseHandler):
    query_args = frozenset({"account", "limit"})

    def get(self):
        caller = self.caller
        account = self.get_query_argument("account", None)
        limit = self.limit()
        store = self.engine.store
        if account is not None:
            if not _ACCOUNT.match(account):
                raise APIError(400, "body_invalid", message("body_invalid", detail="account must be user:<name> "
                                                                                   "or group:<name>"))
            if not caller.may_see_account(account):
                raise APIError(403, "permission_denied", message("permission_denied", scope=OPERATE))
            entries = self.engine.read_store(store.ledger, account, limit=limit)
        elif caller.operates:
            entries = self.engine.read_store(store.ledger, None, limit=limit)
        else:
            names = [f"user:{caller.name}"] if caller.kind == "user" else []
            names += [f"group:{g}" for g in sorted(caller.groups | {t for t in caller.teaches if t != "*"})]
            entries = []
            for name in names:
                entries += self.engine.read_store(store.ledger, name, limit=limit)
            entries.sort(key=lambda e: e["id"], reverse=True)
            entries = entries[:limit]
        self.send({"entries": [ledger_view(e) for e in entries]})


def _time(value: str, field: str) -> float:
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.UTC)
        return parsed.timestamp()
    except (ValueError, OverflowError):
        raise APIError(400, "body_invalid", message("body_invalid", detail=f"{field} is not a date and time "
                                                                           "like 2026-05-04T09:00:00Z")) from None


class ReservationsHandler(BaseHandler):
    def get(self):
        adm = self.engine.current()
        now = self.now()
        visible = [r for r in adm.reservations.values() if self.caller.may_see_reservation(r.group)]
        visible.sort(key=lambda r: (r.starts, r.id))
        self.send({"reservations": [reservation_view(adm, r, now) for r in visible]})

    async def post(self):
        body = self.json_body("NewReservation")
        group = body["group"]
        if not self.caller.may_manage_reservation(group):
            raise APIError(403, "permission_denied",
                           message("permission_denied", scope=f"custom:npuhub:teach!group={group}"))
        starts, ends = _time(body["starts"], "starts"), _time(body["ends"], "ends")
        rid = body.get("id")
        creator = self.caller.name

        def reserve(adm):
            return adm.reserve(group, body["flavor"], body["count"], starts, ends, creator,
                               hold=float(body.get("hold_seconds", 600)), reservation_id=rid)

        res = await self.engine.change(reserve, "reserve")
        self.service.log.info("%s reserved %d x %s for %s from %s to %s", creator, res.count, res.flavor, group,
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
        self.service.log.info("%s ended reservation %s of %s", self.caller.name, reservation_id, res.group)
        self.set_status(204)
        self.clear_header("Content-Type")
        self.finish()


class MetricsHandler(BaseHandler):
    """Prometheus' text format; by default only for tokens with ``read:metrics`` (or operators)."""

    anonymous = True

    async def prepare(self):
        if not self.service.authenticate_prometheus:
            return
        model = await self.hub_auth.get_user(self, sync=False)
        if not model:
            raise APIError(401, "not_signed_in")
        scopes = set(model.get("scopes") or [])
        if "read:metrics" not in scopes and OPERATE not in scopes:
            raise APIError(403, "permission_denied", message("permission_denied", scope="read:metrics"))

    def get(self):
        self.set_header("Content-Type", CONTENT_TYPE_LATEST)
        self.finish(generate_latest(self.service.metrics.registry))


def routes(prefix: str) -> list[tuple]:
    """The URL table; ``prefix`` is the service's prefix (``/services/npuhub/``)."""
    api = prefix + "api/v1"
    return [
        (api + "/openapi.json", OpenAPIHandler),
        (api + "/requests", RequestsHandler),
        (api + r"/requests/([^/]+)", RequestHandler),
        (api + "/flavors", FlavorsHandler),
        (api + "/queue", QueueHandler),
        (api + "/pool", PoolHandler),
        (api + "/me", MeHandler),
        (api + r"/accounts/([^/]+)", AccountHandler),
        (api + r"/accounts/([^/]+)/adjustments", AdjustmentsHandler),
        (api + "/ledger", LedgerHandler),
        (api + "/reservations", ReservationsHandler),
        (api + r"/reservations/([^/]+)", ReservationHandler),
        (prefix + "metrics", MetricsHandler),
        (prefix + "oauth_callback", OAuthCallbackHandler),
    ]
