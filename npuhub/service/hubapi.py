"""The few calls the service makes to JupyterHub's REST API with its own token.

Looking up a person's groups when an operator (the spawner) asks on her
behalf without giving them, a group's properties (the flavors it holds its
members to, ``flavors.LIMIT_PROPERTY``), and stopping a server whose budget
is spent. The service's token needs ``read:users:groups``, ``read:groups``
and ``admin:servers`` (``npuhub.hubconfig`` gives its role these scopes).
"""

from __future__ import annotations

import json
import logging
import time
from urllib.parse import quote

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

__all__ = ["HubClient", "HubUnavailable"]


class HubUnavailable(Exception):
    """The hub did not answer, or answered with a server error."""


class HubClient:
    def __init__(self, api_url: str, token: str, log: logging.Logger | None = None, cache_seconds: float = 60):
        self.api_url = api_url.rstrip("/")
        self.token = token
        self.log = log or logging.getLogger("npuhub.service")
        self.cache_seconds = cache_seconds
        self._groups: dict[str, tuple[float, list[str] | None]] = {}
        self._properties: dict[str, tuple[float, dict]] = {}

    async def _call(self, method: str, path: str) -> tuple[int, object]:
        request = HTTPRequest(self.api_url + path, method=method,
                              headers={"Authorization": f"token {self.token}"},
                              allow_nonstandard_methods=True, request_timeout=20)
        try:
            response = await AsyncHTTPClient().fetch(request, raise_error=False)
        except (OSError, HTTPClientError) as e:
            raise HubUnavailable(f"{method} {path}: {e}") from None
        if response.code >= 500 or response.code == 599:
            raise HubUnavailable(f"{method} {path}: {response.code}")
        body = response.body or b""
        try:
            data = json.loads(body) if body else None
        except ValueError:
            data = None
        return response.code, data

    async def user_groups(self, name: str) -> list[str] | None:
        """The groups of ``name`` as the hub knows them; None if the hub knows no such person."""
        cached = self._groups.get(name)
        if cached is not None and time.monotonic() - cached[0] < self.cache_seconds:
            return cached[1]
        code, data = await self._call("GET", f"/users/{quote(name, safe='')}")
        if code == 404:
            groups = None
        elif code == 200 and isinstance(data, dict):
            groups = sorted(str(g) for g in data.get("groups") or [])
        else:
            raise HubUnavailable(f"GET /users/{name}: {code}")
        self._groups[name] = (time.monotonic(), groups)
        return groups

    async def group_properties(self, name: str) -> dict:
        """The ``properties`` of hub group ``name`` ({} for a group the hub does not know).

        Cached like ``user_groups``. While the hub does not answer, the last
        answer is kept: a limit once seen is not lifted by an outage. A group
        never seen raises HubUnavailable.
        """
        cached = self._properties.get(name)
        if cached is not None and time.monotonic() - cached[0] < self.cache_seconds:
            return cached[1]
        try:
            code, data = await self._call("GET", f"/groups/{quote(name, safe='')}")
            if code not in (200, 404):
                raise HubUnavailable(f"GET /groups/{name}: {code}")
        except HubUnavailable:
            if cached is not None:
                return cached[1]
            raise
        props = data.get("properties") if code == 200 and isinstance(data, dict) else None
        props = props if isinstance(props, dict) else {}
        self._properties[name] = (time.monotonic(), props)
        return props

    async def active_servers(self, page: int = 200) -> dict[tuple[str, str], float]:
        """Every (user, server name) the hub has running or starting, with its last activity (epoch)."""
        return (await self.active_and_ready(page))[0]

    async def active_and_ready(self, page: int = 200) -> tuple[dict[tuple[str, str], float], set[tuple[str, str]]]:
        """``active_servers()``, and which of them are running (not just starting or stopping)."""
        active: dict[tuple[str, str], float] = {}
        ready: set[tuple[str, str]] = set()
        offset = 0
        while True:
            code, data = await self._call("GET", f"/users?state=active&offset={offset}&limit={page}")
            if code != 200 or not isinstance(data, list):
                raise HubUnavailable(f"GET /users?state=active: {code}")
            for user in data:
                for name, server in (user.get("servers") or {}).items():
                    key = (user["name"], name or "")
                    if server.get("ready") or server.get("pending"):
                        active[key] = _epoch(server.get("last_activity") or server.get("started"))
                    if server.get("ready"):
                        ready.add(key)
            if len(data) < page:
                return active, ready
            offset += page

    async def stop_server(self, user: str, server: str) -> str:
        """Ask the hub to stop a server: ``stopped``, ``stopping``, or ``gone`` (no such running server)."""
        path = f"/users/{quote(user, safe='')}/server"
        if server:
            path = f"/users/{quote(user, safe='')}/servers/{quote(server, safe='')}"
        code, data = await self._call("DELETE", path)
        if code == 204:
            return "stopped"
        if code == 202:
            return "stopping"
        if code in (400, 404):  # not running, or no such user or server
            return "gone"
        raise HubUnavailable(f"DELETE {path}: {code} {data}")


def _epoch(stamp: str | None) -> float:
    """The hub's ISO 8601 time as epoch seconds (now, when the hub gives none)."""
    if not stamp:
        return time.time()
    from datetime import datetime

    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
