"""The npuhub service's admission API, as the spawner in the hub uses it."""

from __future__ import annotations

import json
from urllib.parse import quote

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

__all__ = ["AdmissionClient", "AdmissionError", "ServiceUnreachable"]


class AdmissionError(Exception):
    """The service refused (quota spent, limit, flavor): its sentence for the person and its reason."""

    def __init__(self, status: int, error: str, reason: str, retry_at: str | None = None):
        super().__init__(error)
        self.status = status
        self.error = error
        self.reason = reason
        self.retry_at = retry_at


class ServiceUnreachable(Exception):
    """The service did not answer (down, restarting, network)."""


class AdmissionClient:
    """Requests, reads and releases admissions over the service's REST API with the hub's token."""

    def __init__(self, api_url: str, token: str, timeout: float = 20.0):
        self.api_url = api_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    async def _call(self, method: str, path: str, body: dict | None = None) -> dict:
        request = HTTPRequest(
            self.api_url + path,
            method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
            body=json.dumps(body) if body is not None else None,
            request_timeout=self.timeout,
            allow_nonstandard_methods=True,
        )
        try:
            response = await AsyncHTTPClient().fetch(request)
        except HTTPClientError as e:
            if e.response is None or e.code == 599:
                raise ServiceUnreachable(str(e)) from None
            try:
                data = json.loads(e.response.body or b"{}")
            except ValueError:
                data = {}
            if e.code >= 500 and "reason" not in data:
                raise ServiceUnreachable(f"HTTP {e.code}") from None
            raise AdmissionError(e.code, data.get("error", str(e)), data.get("reason", "refused"),
                                 data.get("retry_at")) from None
        except OSError as e:
            raise ServiceUnreachable(str(e)) from None
        return json.loads(response.body or b"{}")

    async def request(self, *, user: str, groups: list[str], server: str, flavor: str, request_id: str) -> dict:
        """Ask for ``flavor`` for ``user``'s ``server``; idempotent for the same ``request_id``."""
        return await self._call("POST", "/requests", {
            "id": request_id, "user": user, "groups": sorted(groups), "server": server, "flavor": flavor})

    async def get(self, request_id: str) -> dict:
        return await self._call("GET", f"/requests/{quote(request_id)}")

    async def release(self, request_id: str) -> dict:
        """Cancel a waiting request or release a granted one (harmless when already ended)."""
        return await self._call("DELETE", f"/requests/{quote(request_id)}")
