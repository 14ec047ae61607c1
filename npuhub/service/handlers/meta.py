"""About the service itself: its OpenAPI document, its readiness and its Prometheus metrics."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ...i18n import message
from ..auth import OPERATE
from ..base import BaseHandler
from ..errors import APIError

__all__ = ["HealthHandler", "MetricsHandler", "OpenAPIHandler"]


class OpenAPIHandler(BaseHandler):
    anonymous = True

    def get(self):
        self.send(self.ctx.openapi)


class HealthHandler(BaseHandler):
    """Readiness: 200 from the leader with its state loaded, 503 from a standby (or while loading).

    Open to anyone (a Kubernetes readiness probe has no token); it tells no
    one's data: the role, whether the database answers, whether the node
    inventory is synced.
    """

    anonymous = True

    def get(self):
        ready, details = self.ctx.health() if self.ctx.health is not None else (True, {"role": "leader"})
        self.set_header("Cache-Control", "no-store")
        self.send({"ready": ready, **details}, status=200 if ready else 503)


class MetricsHandler(BaseHandler):
    """Prometheus' text format; by default only for tokens with ``read:metrics`` (or operators)."""

    anonymous = True

    async def admit(self) -> None:
        self.check_input()
        if not self.ctx.authenticate_prometheus:
            return
        model = await self.hub_auth.get_user(self, sync=False)
        if not model:
            raise APIError(401, "not_signed_in")
        scopes = set(model.get("scopes") or [])
        if "read:metrics" not in scopes and OPERATE not in scopes:
            raise APIError(403, "permission_denied", message("permission_denied", scope="read:metrics"))

    def get(self):
        self.set_header("Content-Type", CONTENT_TYPE_LATEST)
        self.finish(generate_latest(self.ctx.metrics.registry))
