"""A Dask cluster's dashboard through the hub: ``<prefix>dask/<id>/...`` proxied to its scheduler, owner only.

The scheduler serves its dashboard on a loopback port under this very path
(``--dashboard-prefix``), so the proxy changes no path and bokeh's own links
and websockets (``.../ws``) work unchanged. A browser signs in to the service
through the hub (OAuth) like for the API; anyone but the cluster's owner gets
403 with a page in both languages.
"""

from __future__ import annotations

import asyncio
import html
from urllib.parse import urlparse

from tornado import httpclient, web, websocket

from ...i18n import Text, message
from ..auth import HubIdentity
from ..errors import APIError

__all__ = ["DashboardHandler", "DashboardSocket"]

#: headers of the scheduler's answer not passed on (hop by hop, or recomputed by tornado)
_DROP = {"connection", "keep-alive", "transfer-encoding", "content-length", "server", "date", "upgrade",
         "proxy-authenticate", "proxy-authorization", "te", "trailer"}


def _page(title: Text, text: Text) -> str:
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title.zh)} / "
            f"{html.escape(title.en)}</title></head><body><h1>{html.escape(title.zh)}</h1>"
            f"<p lang='zh'>{html.escape(text.zh)}</p><h1>{html.escape(title.en)}</h1>"
            f"<p lang='en'>{html.escape(text.en)}</p></body></html>")


class _Owner(HubIdentity):
    """Finds the cluster and its dashboard, for its owner only."""

    def initialize(self, ctx):
        self.ctx = ctx

    async def upstream(self, cluster_id: str) -> str | None:
        """The dashboard's base URL; None when the answer (redirect to sign in, 403, 404) was given."""
        try:
            caller = await self.identify()
        except APIError as e:
            self._refuse(e.status, e.text)
            return None
        if caller is None:
            self.redirect(self.get_login_url())
            return None
        manager = self.ctx.clusters
        adm = self.ctx.engine.adm
        cluster = adm.clusters.get(cluster_id) if adm is not None else None
        if cluster is None or manager is None:
            self._refuse(404, message("cluster_unknown", id=cluster_id))
            return None
        if cluster.user != caller.name or caller.kind != "user":
            self._refuse(403, message("cluster_not_yours"))
            return None
        endpoints = manager.endpoints.get(cluster_id)
        if endpoints is None:
            self._refuse(503, message("cluster_dashboard_down", id=cluster_id))
            return None
        manager.touch(cluster_id)
        return endpoints.dashboard_url

    def _refuse(self, status: int, text: Text | None) -> None:
        text = text or message("cluster_not_yours")
        self.set_status(status)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(_page(Text("Dask 仪表板", "Dask dashboard"), text))


class DashboardHandler(_Owner, web.RequestHandler):
    async def get(self, cluster_id: str, rest: str | None):
        base = await self.upstream(cluster_id)
        if base is None:
            return
        url = base + (rest or "/status")
        if self.request.query:
            url += "?" + self.request.query
        try:
            answer = await httpclient.AsyncHTTPClient().fetch(
                url, method="GET", follow_redirects=False, raise_error=False, request_timeout=60,
                headers={k: v for k, v in self.request.headers.get_all()
                         if k.lower() in ("accept", "accept-encoding", "if-none-match", "if-modified-since")})
        except OSError:
            return self._refuse(503, message("cluster_dashboard_down", id=cluster_id))
        if answer.code == 599:
            return self._refuse(503, message("cluster_dashboard_down", id=cluster_id))
        self.set_status(answer.code)
        for name, value in answer.headers.get_all():
            if name.lower() not in _DROP:
                self.add_header(name, value) if name.lower() == "set-cookie" else self.set_header(name, value)
        if answer.code != 304 and answer.body:
            self.write(answer.body)
        self.finish()


class DashboardSocket(_Owner, websocket.WebSocketHandler):
    """Bokeh's websocket, message for message, to the scheduler's."""

    _conn: websocket.WebSocketClientConnection | None = None
    _pump: asyncio.Task | None = None

    def check_origin(self, origin: str) -> bool:
        # the page came from the hub's own address: a page of another site may not drive it with her cookie
        host = self.request.headers.get("X-Forwarded-Host") or self.request.headers.get("Host", "")
        return urlparse(origin).netloc == host.split(",")[0].strip()

    async def get(self, cluster_id: str, rest: str, *args, **kwargs):
        base = await self.upstream(cluster_id)
        if base is None:
            return
        url = base.replace("http://", "ws://", 1).replace("https://", "wss://", 1) + rest
        if self.request.query:
            url += "?" + self.request.query
        protocols = [p.strip() for p in self.request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
        try:
            self._conn = await websocket.websocket_connect(
                httpclient.HTTPRequest(url, request_timeout=30), subprotocols=protocols or None,
                max_message_size=64 * 2**20)
        except (OSError, websocket.WebSocketError, httpclient.HTTPClientError):
            return self._refuse(503, message("cluster_dashboard_down", id=cluster_id))
        await super().get(cluster_id, rest, *args, **kwargs)

    def select_subprotocol(self, subprotocols):
        chosen = self._conn.selected_subprotocol if self._conn is not None else None
        return chosen if chosen in subprotocols else None

    def open(self, *args, **kwargs):
        self._pump = asyncio.ensure_future(self._from_scheduler())

    async def _from_scheduler(self) -> None:
        conn = self._conn
        while conn is not None:
            msg = await conn.read_message()
            if msg is None:
                break
            try:
                await self.write_message(msg, binary=isinstance(msg, bytes))
            except websocket.WebSocketClosedError:
                break
        self.close()

    async def on_message(self, message):
        if self._conn is not None:
            try:
                await self._conn.write_message(message, binary=isinstance(message, bytes))
            except websocket.WebSocketClosedError:
                self.close()

    def on_close(self):
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._pump is not None:
            self._pump.cancel()
