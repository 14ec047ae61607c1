"""The base of every API handler: what it may use (a narrow context), input limits, the caller, and the one error wrapper.

A handler sees a ``Context`` (the engine, the clock, the log, the metrics and
the few settings handlers read), never the whole service. Its route (see
``routes.py``) says which methods exist, which query parameters and which
body each takes; the base checks all of that before the method runs. Every
error, whatever raised it, goes through ``write_error`` and
``errors.error_answer``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tornado import web
from tornado.web import HTTPError

from ..admission.model import State
from ..i18n import message
from .auth import OPERATE, Caller, HubIdentity
from .engine import Engine
from .errors import APIError, error_answer
from .headers import set_security_headers
from .metrics import Metrics
from .models import request_view
from .openapi import REQUEST_ID_PATTERN
from .validation import DRAIN_BYTES, MAX_BODY_BYTES, body_too_large, check_body, parse_query

if TYPE_CHECKING:  # pragma: no cover
    from .routes import Route

__all__ = ["BaseHandler", "Context", "NotFoundHandler"]

_REQUEST_ID = re.compile(REQUEST_ID_PATTERN)


async def _no_limit(groups: Iterable[str]) -> None:
    return None


@dataclass(frozen=True)
class Context:
    """What handlers may use of the service."""

    engine: Engine
    log: logging.Logger
    metrics: Metrics
    #: a person's groups from the hub (None: no such person); raises APIError 503 when the hub is away
    hub_groups: Callable[[str], Awaitable[list[str] | None]]
    #: warnings (spent budget, idle reclaim) about a request
    warnings_for: Callable[[str], list[dict]]
    #: the OpenAPI document served at /openapi.json
    openapi: dict
    #: the flavors a person's groups hold her to (their hub properties, ``flavors.flavor_limit``); None: no
    #: limit. Raises APIError 503 when the hub is away and a group was never seen
    flavor_limit: Callable[[Iterable[str]], Awaitable[frozenset[str] | None]] = _no_limit
    #: whether /metrics asks for a token
    authenticate_prometheus: bool = True
    #: the hub's stop of a person's server: "stopped", "stopping" or "gone"; None without a hub token
    stop_server: Callable[[str, str], Awaitable[str]] | None = None
    #: whether a server may have used a grant (seen running by the hub, or granted before this process)
    server_ran: Callable[[object], bool] = lambda req: True
    #: the service's readiness for /health: (ready, details); None: always ready
    health: Callable[[], tuple[bool, dict]] | None = None
    #: the Dask clusters' manager (``service.clusters.ClusterManager``); None: no clusters
    clusters: object | None = None
    #: the service's URL prefix behind the hub (``/services/npuhub/``)
    service_prefix: str = "/services/npuhub/"
    #: the announcements' store (``npuhub.announcements.AnnouncementStore``); None: not offered
    announcements: object | None = None

    @property
    def clock(self) -> Callable[[], float]:
        return self.engine.clock


@web.stream_request_body  # so a body too large is answered with 413 (see data_received), never held whole
class BaseHandler(HubIdentity, web.RequestHandler):
    """JSON in, JSON out; input limits checked and the caller identified before the method runs."""

    #: anonymous callers get 401 unless a handler says otherwise
    anonymous = False
    caller: Caller | None = None

    def initialize(self, ctx: Context, route: Route | None = None):
        self.ctx = ctx
        self.route = route
        #: the query parameters, checked against the route's schema, defaults filled in
        self.query: dict = {}
        self._body = bytearray()
        #: an answer decided before the body was read, given once it is (see _refuse_after_body)
        self._refusal: Exception | None = None

    @property
    def engine(self) -> Engine:
        return self.ctx.engine

    def set_default_headers(self):
        # write_error() clears the headers and calls this again: error answers carry them too
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        set_security_headers(self)

    def check_xsrf_cookie(self):
        pass  # checked in prepare(), once the caller is known (tokens need none)

    # -- input ------------------------------------------------------------------------------------
    def check_input(self) -> None:
        """The method, the declared body size and the query parameters, before anything else is done."""
        declared = self.request.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            raise body_too_large()
        if self.route is None:
            return
        operation = self.route.operations.get(self.request.method)
        if operation is None:
            raise HTTPError(405)
        self.query = parse_query(operation.query, self.request.query_arguments)

    async def prepare(self):
        try:
            await self.admit()
        except (APIError, HTTPError) as refusal:
            if self._body_too_large_to_drain():
                raise
            self._refuse_after_body(refusal)

    async def admit(self) -> None:
        """Check the input and identify the caller; raise APIError or HTTPError to refuse the request."""
        self.check_input()
        if self.anonymous:
            return
        self.caller = await self.identify()
        if self.caller is None:
            if self.request.method == "GET" and "text/html" in self.request.headers.get("Accept", ""):
                # a person opening the API in a browser: sign in through the hub first
                self._closing_if_body_unread()
                self.redirect(self.get_login_url())
                return
            raise APIError(401, "not_signed_in")
        if self.request.method not in ("GET", "HEAD", "OPTIONS") and not getattr(self, "_token_authenticated", False):
            self.hub_auth.check_xsrf_cookie(self)

    # Answering in prepare(), before the body is read, makes tornado close the connection with the body
    # unread: a client still sending meets a reset instead of the answer, and a proxy reusing the connection
    # meets a closed one. So a refusal is answered once the body is read (up to DRAIN_BYTES, and dropped),
    # except when the body is larger than that: then at once, with "Connection: close".
    def _body_too_large_to_drain(self) -> bool:
        declared = self.request.headers.get("Content-Length", "")
        return declared.isdigit() and int(declared) > DRAIN_BYTES

    def _refuse_after_body(self, refusal: Exception) -> None:
        self._refusal = refusal
        self._body = bytearray()

        async def refuse(*args, **kwargs):
            raise refusal

        # tornado calls the method named after the request's once the body is read: answer the refusal instead
        setattr(self, self.request.method.lower(), refuse)

    def data_received(self, chunk: bytes) -> None:
        if self._refusal is not None or self._finished:
            return  # refused already: the rest is read and dropped
        self._body += chunk
        if len(self._body) > MAX_BODY_BYTES:  # a chunked body has no size to check in advance
            self._refuse_after_body(body_too_large())

    def json_body(self) -> dict:
        """The body, parsed and valid against the route's body schema for this method (else 400)."""
        return check_body(self.route.operations[self.request.method].body, bytes(self._body))

    # -- errors: the one wrapper --------------------------------------------------------------
    def write_error(self, status_code: int, **kwargs):
        exc = (kwargs.get("exc_info") or (None, None, None))[1]
        error, _ = error_answer(exc, status_code, self.request.method, self.request.path)
        self.clear()
        self.set_default_headers()
        self.set_status(error.status)
        for name, value in error.headers.items():
            self.set_header(name, value)
        if error.status == 405 and self.route is not None:
            self.set_header("Allow", ", ".join(self.route.operations))
        self._closing_if_body_unread()
        self.finish(json.dumps(error.body(), ensure_ascii=False))

    def _closing_if_body_unread(self) -> None:
        """Say "Connection: close" when answering before the body is read (see _body_too_large_to_drain).

        Tornado then drops the rest of the body and closes the connection; a client or
        proxy that was not told so would reuse it and meet a reset (the hub's proxy answers 503).
        """
        body = getattr(self.request, "_body_future", None)  # tornado resolves it once a streamed body is read
        if body is not None and not body.done():
            self.set_header("Connection", "close")

    def log_exception(self, typ, value, tb):
        error, bug = error_answer(value, 500, self.request.method, self.request.path)
        if bug:
            self.ctx.log.error("Unexpected error (reference %s) in %s %s", error.extra.get("ref"),
                               self.request.method, self.request.path, exc_info=(typ, value, tb))
        else:
            self.ctx.log.info("%s %s: %s %s", self.request.method, self.request.path, error.status, error.reason)

    # -- helpers ---------------------------------------------------------------------------------------
    def send(self, data, status: int = 200) -> None:
        self.set_status(status)
        self.finish(json.dumps(data, ensure_ascii=False))

    def now(self) -> float:
        return self.ctx.clock()

    def view(self, req) -> dict:
        decision = None
        if req.state is State.WAITING:
            decision = self.engine.decision(req.id)
        return request_view(req, now=self.now(), adm=self.engine.current(), decision=decision,
                            warnings=self.ctx.warnings_for(req.id))

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
        groups = await self.ctx.hub_groups(user)
        if groups is None:
            raise APIError(404, "user_unknown", message("user_unknown", user=user))
        return groups


class NotFoundHandler(BaseHandler):
    anonymous = True

    async def admit(self) -> None:
        raise HTTPError(404)
