"""The server part's routes under ``{base_url}npuhub-lab/``: the status all tabs poll, cancelling, sharing.

The browser talks only to these handlers, with its Jupyter session; they call
the npuhub service with the server's own hub token (``upstream.ServiceClient``),
so no hub token ever reaches the browser. Every error is JSON
``{"error": "<zh / en>", "reason": "<code>", "message": {"zh", "en"}}`` (the
front end picks the language); the status never fails: what
goes wrong upstream is reported inside it (``available: false``).
"""

from __future__ import annotations

import json
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web

from .config import NPUHubLab
from .sharing import ShareClient
from .upstream import ServiceClient, UpstreamError, sentence

__all__ = ["NAMESPACE", "setup_handlers"]

#: The first path segment of every route, under the server's base URL.
NAMESPACE = "npuhub-lab"

_HTTP_REASONS = {401: "not_signed_in", 403: "permission_denied", 404: "not_found"}


class BaseHandler(APIHandler):
    """Errors as ``{"error", "reason", "message"}``, never a traceback."""

    auth_resource = "npuhub"

    @property
    def client(self) -> ServiceClient:
        return self.settings["npuhub_lab_client"]

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = (kwargs.get("exc_info") or (None, None, None))[1]
        if isinstance(exc, UpstreamError):
            error = exc
        elif isinstance(exc, web.HTTPError) and exc.status_code < 500:
            reason = _HTTP_REASONS.get(exc.status_code)
            if reason == "permission_denied" and not self.current_user:
                reason = "not_signed_in"  # what @web.authenticated raises for API handlers
            if reason is None:
                text = {"zh": f"HTTP {exc.status_code}", "en": f"HTTP {exc.status_code}"}
                error = UpstreamError(exc.status_code, "http_error", text)
            else:
                error = UpstreamError(exc.status_code, reason)
        else:
            error = UpstreamError(500, "internal_error")
        self.clear()
        self.set_status(error.status)
        self.finish(json.dumps(error.body(), ensure_ascii=False))

    def log_exception(self, typ, value, tb):
        if isinstance(value, (UpstreamError, web.HTTPError)):
            self.log.info("%s %s: %s", self.request.method, self.request.path, value)
        else:
            super().log_exception(typ, value, tb)


class StatusHandler(BaseHandler):
    """``GET npuhub-lab/status``: what the front end shows; a strong ETag, 304 when unchanged."""

    _etag: str | None = None
    #: Polling is not the person working: it must not count as activity, or the hub would
    #: never see the server idle and idle reclaim could never happen.
    _track_activity = False

    @web.authenticated
    @authorized
    async def get(self):
        status = await self.client.status()
        self._etag = status.etag
        # the browser must ask again each time (it may get a 304), never reuse on its own
        self.set_header("Cache-Control", "no-cache")
        self.finish(json.dumps(status.document(), ensure_ascii=False))

    def compute_etag(self) -> str | None:
        # Tornado sets it and answers 304 to a matching If-None-Match; fetched_at is not part of it
        return self._etag


class RequestHandler(BaseHandler):
    """``DELETE npuhub-lab/requests/<id>``: cancel a waiting request, or end a granted one, at the service."""

    @web.authenticated
    @authorized
    async def delete(self, request_id: str):
        status, body = await self.client.cancel(request_id)
        self.set_status(status)
        self.finish(json.dumps(body, ensure_ascii=False))


class SharesHandler(BaseHandler):
    """``npuhub-lab/shares``: who may use this server, share it with a person or a group, revoke.

    ``GET``: ``{"owner", "server", "shares": [{"kind", "name", "created_at", "scopes"}]}``;
    ``POST {"user": name}`` or ``{"group": name}`` shares; ``DELETE ?user=name`` or
    ``?group=name`` revokes; both answer with the list as it is then.
    """

    @property
    def shares(self) -> ShareClient:
        return self.settings["npuhub_lab_shares"]

    async def prepare(self):
        await super().prepare()
        # Someone this server is shared with uses it under her own name: she may not pass it on.
        hub_user = getattr(self.current_user, "hub_user", None)
        owner = self.shares.owner
        if isinstance(hub_user, dict) and owner and hub_user.get("name") != owner:
            raise UpstreamError(403, "share_owner_only")

    def _target(self, values: dict) -> tuple[str, str]:
        given = [(kind, values[kind]) for kind in ("user", "group") if values.get(kind) not in (None, "")]
        if len(given) != 1:
            raise UpstreamError(400, "share_target_invalid")
        return given[0]

    @web.authenticated
    @authorized
    async def get(self):
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(await self.shares.listing(), ensure_ascii=False))

    @web.authenticated
    @authorized
    async def post(self):
        try:
            body = json.loads(self.request.body or b"{}")
        except (ValueError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict):
            raise UpstreamError(400, "share_target_invalid")
        kind, name = self._target(body)
        self.finish(json.dumps(await self.shares.grant(kind, name), ensure_ascii=False))

    @web.authenticated
    @authorized
    async def delete(self):
        kind, name = self._target({k: self.get_query_argument(k, None) for k in ("user", "group")})
        self.finish(json.dumps(await self.shares.revoke(kind, name), ensure_ascii=False))


def setup_handlers(server_app) -> ServiceClient:
    """Add the routes to the server's web app; called when the server loads the extension."""
    from . import __version__

    web_app = server_app.web_app
    settings = NPUHubLab(parent=server_app)
    client = ServiceClient(settings, version=__version__, log=server_app.log)
    web_app.settings["npuhub_lab_client"] = client
    async def owners_groups() -> list[str] | None:
        status = await client.status()  # the panel's cached status: no extra call most of the time
        me = status.body.get("me")
        return me.get("groups") if isinstance(me, dict) and isinstance(me.get("groups"), list) else None

    web_app.settings["npuhub_lab_shares"] = ShareClient(settings, log=server_app.log, groups=owners_groups)
    base = url_path_join(web_app.settings["base_url"], NAMESPACE)
    web_app.add_handlers(".*$", [
        (url_path_join(base, "status"), StatusHandler),
        (url_path_join(base, "requests", "([^/]+)"), RequestHandler),
        (url_path_join(base, "shares"), SharesHandler),
    ])
    if settings.service_url:
        server_app.log.info("npuhub-lab: asking the npuhub service at %s", settings.service_url)
    else:
        server_app.log.warning("npuhub-lab: %s", sentence("not_configured")["en"])
    return client
