"""The npuhub service's API as the hub's spawners use it: the menu, a request, following it, ending it.

Every "no" from the service arrives as a ``Refusal`` (its reason, its
sentence in both languages, ``retry_at``); a service that does not answer,
or that the proxy reports as restarting, is ``ServiceUnreachable``, and a
caller that can wait (a start in the queue) simply asks again.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from urllib.parse import quote, urlencode

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from ..refusals import Refusal

__all__ = ["AdmissionClient", "ServiceUnreachable"]


class ServiceUnreachable(Exception):
    """The service did not answer (down, restarting, network)."""


class AdmissionClient:
    """Calls the service with the hub's own token (``custom:npuhub:operate``), on people's behalf."""

    def __init__(self, api_url: str, token: str, timeout: float = 20.0):
        self.api_url = api_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    async def _call(self, method: str, path: str, body: dict | None = None, *, headers: dict | None = None,
                    timeout: float | None = None) -> tuple[int, dict, dict]:
        request = HTTPRequest(
            self.api_url + path,
            method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json", **(headers or {})},
            body=json.dumps(body) if body is not None else None,
            request_timeout=timeout or self.timeout,
            allow_nonstandard_methods=True,
        )
        try:
            response = await AsyncHTTPClient().fetch(request, raise_error=False)
        except (OSError, HTTPClientError) as e:
            raise ServiceUnreachable(str(e)) from None
        if response.code == 599:
            raise ServiceUnreachable(str(response.error))
        try:
            data = json.loads(response.body) if response.body else {}
        except ValueError:
            data = None
        if response.code >= 500 and not (isinstance(data, dict) and "reason" in data):
            # the proxy's or the hub's page while the service restarts, not the service's own answer
            raise ServiceUnreachable(f"HTTP {response.code}")
        if not isinstance(data, dict):
            raise ServiceUnreachable(f"HTTP {response.code}: not the npuhub service's JSON")
        if response.code >= 400:
            raise Refusal.from_body(response.code, data)
        return response.code, data, dict(response.headers)

    async def get(self, path: str, *, timeout: float | None = None) -> dict:
        """Any GET of the API (``/announcements?everyone=true``, ``/requests?user=``); raises as ``_call``."""
        _, data, _ = await self._call("GET", path, timeout=timeout)
        return data

    async def post(self, path: str, body: dict) -> dict:
        """Any POST of the API (``/reservations``); the service's answer, or a Refusal."""
        _, data, _ = await self._call("POST", path, body)
        return data

    async def delete(self, path: str) -> int:
        status, _, _ = await self._call("DELETE", path)
        return status

    async def menu(self, user: str, groups: list[str]) -> dict:
        """``{"flavors": [...], "default": id}``: what ``user`` (in ``groups``) may start."""
        # more groups than the service takes in a query (MENU_GROUPS): it asks the hub for them instead
        given = sorted(groups) if len(groups) <= 32 else []
        query = urlencode([("user", user), *[("group", g) for g in given]])
        _, data, _ = await self._call("GET", f"/flavors?{query}")
        return data

    async def submit(self, *, user: str, groups: list[str], server: str, flavor: str, request_id: str) -> dict:
        """Ask for ``flavor`` for ``user``'s ``server``; idempotent for the same ``request_id``."""
        _, data, _ = await self._call("POST", "/requests", {
            "id": request_id, "user": user, "groups": sorted(groups), "server": server, "flavor": flavor})
        return data

    async def follow(self, first: dict, *, wait: float = 25.0) -> AsyncIterator[dict]:
        """Yield ``first``, then the request each time it changes, until it is granted or ended.

        One long poll at a time (``?wait=`` with ``If-None-Match``): the
        service answers as soon as the request changes. While the service is
        unreachable (a restart keeps the queue), it asks again, backing off.
        """
        view = first
        yield view
        tag = None
        backoff = 1.0
        path = f"/requests/{quote(view['id'], safe='')}?wait={wait:g}"
        while view["state"] == "waiting":
            try:
                code, data, headers = await self._call("GET", path, headers={"If-None-Match": tag} if tag else None,
                                                        timeout=wait + 15)
            except ServiceUnreachable:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 15.0)
                continue
            backoff = 1.0
            tag = headers.get("Etag") or headers.get("ETag")
            if code == 304:
                continue
            view = data
            yield view

    async def end(self, request_id: str, *, stopped: bool) -> dict | None:
        """Cancel a waiting request, or release a granted one whose server has ``stopped``. None if unknown."""
        suffix = "?stopped=true" if stopped else ""
        try:
            _, data, _ = await self._call("DELETE", f"/requests/{quote(request_id, safe='')}{suffix}")
        except Refusal as e:
            if e.status == 404:
                return None
            raise
        return data

    async def requests_of(self, user: str) -> list[dict]:
        """The waiting and granted requests of ``user``."""
        query = urlencode([("user", user), ("state", "waiting"), ("state", "granted")])
        _, data, _ = await self._call("GET", f"/requests?{query}")
        return list(data.get("requests") or [])


async def retrying(call, *, attempts: int = 5, log=None, what: str = "") -> object:
    """``await call()``, asking again with back-off while the service is unreachable; the last error propagates."""
    delay = 1.0
    for attempt in range(attempts):
        try:
            return await call()
        except ServiceUnreachable as e:
            if attempt == attempts - 1:
                raise
            if log is not None:
                log.info("npuhub service unreachable (%s) %s; trying again in %.0f s", e, what, delay)
            await asyncio.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")  # pragma: no cover
