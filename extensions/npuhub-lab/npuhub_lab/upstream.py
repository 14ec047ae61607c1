"""Calls to the npuhub service with the server's own token: one cached, shared status fetch, and cancelling.

All tabs of one server share one ``ServiceClient``. Its status is fetched at
most once per ``cache_seconds``; tabs that poll while a fetch is under way
wait for that same fetch (single flight). The three reads it needs (``/me``,
``/pool``, ``/reservations``) run concurrently. Whatever goes wrong upstream
becomes an ``UpstreamError`` with a sentence in both languages and a machine
reason, never a traceback. A status that says the service is not available is
kept for at most ``RETRY_CACHE_SECONDS``: the front end asks again soon then
(a restarting service is back within 4 to 30 s), and must not be shown the
outage for a whole cache period after it ended.

This module does not import ``npuhub``: the server part runs in people's
images, which need not have the hub's package.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import logging
import re
import time
from dataclasses import dataclass
from typing import Any

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from .config import NPUHubLab
from .errors import MESSAGES, UpstreamError, glued, sentence

__all__ = ["API_VERSION", "MESSAGES", "REQUEST_ID_PATTERN", "ServiceClient", "Status", "UpstreamError"]

#: The version of the contract between this server part and the front end (``server_part.api``).
API_VERSION = 1

#: The longest a status without the service's data is reused (see the module's docstring).
RETRY_CACHE_SECONDS = 2.0

#: Reads the status does without when they fail (a service before them): the announcements meant for me
#: now (the banner) and my Dask clusters. Each answer is ``{"<name>": [...]}``; the status has the list or None.
OPTIONAL_READS = ("announcements", "clusters")

#: What the panel shows of a Dask cluster: never its scheduler's address or TLS key (the browser needs neither).
CLUSTER_FIELDS = ("id", "user", "name", "flavor", "share", "state", "workers", "message", "dashboard_link",
                  "created", "expires_at")

#: Statuses the hub's proxy answers with, in the service's place, while the service is not running.
PROXY_STATUSES = (502, 503, 504)

#: The first pause before sending a cancel again to a restarting service, and the longest.
FIRST_PAUSE, LONGEST_PAUSE = 0.5, 4.0

#: The service's request ids (npuhub.service.openapi.REQUEST_ID_PATTERN; a test keeps the two equal).
REQUEST_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._~-]{0,63}$"

_REQUEST_ID = re.compile(REQUEST_ID_PATTERN)


def valid_request_id(request_id: str) -> bool:
    return bool(_REQUEST_ID.match(request_id))


@dataclass(frozen=True)
class Status:
    """One answer for the front end: the body without ``fetched_at``, its ETag, and when it was fetched."""

    body: dict
    etag: str
    fetched_at: str

    def document(self) -> dict:
        return {**self.body, "fetched_at": self.fetched_at}


def etag_of(body: dict) -> str:
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    return f'"{digest[:32]}"'


def iso_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _json(body: bytes | None) -> Any:
    try:
        return json.loads(body or b"")
    except (ValueError, UnicodeDecodeError):
        return None


def _proxy_answer(code: int, body: Any) -> bool:
    """Whether an answer is the hub's proxy speaking for a service that is not running (it restarts)."""
    return code in PROXY_STATUSES and _service_error(body) is None


def _service_error(body: Any) -> tuple[dict[str, str] | str, str] | None:
    """The service's own ``(text, reason)`` when it answered in its JSON error format.

    ``text`` is its ``message`` (``{"zh", "en"}``), or, from a service before
    npuhub 0.2, its ``error`` string with both languages glued.
    """
    if not isinstance(body, dict) or not isinstance(body.get("reason"), str):
        return None
    message = body.get("message")
    if isinstance(message, dict) and isinstance(message.get("zh"), str) and isinstance(message.get("en"), str):
        return {"zh": message["zh"], "en": message["en"]}, body["reason"]
    if isinstance(body.get("error"), str):
        return body["error"], body["reason"]
    return None


class ServiceClient:
    """The npuhub service as this server sees it, with its own token; one per server process."""

    def __init__(self, settings: NPUHubLab, *, version: str, log: logging.Logger | None = None,
                 clock=time.monotonic):
        self.settings = settings
        self.version = version
        self.log = log or logging.getLogger(__name__)
        self.clock = clock
        #: HTTP requests sent to the service so far (for tests and the debug log)
        self.requests_sent = 0
        self._cached: Status | None = None
        self._cached_at = 0.0
        self._generation = 0
        self._inflight: asyncio.Future | None = None
        self._inflight_generation = -1

    # -- the status, shared by every tab -------------------------------------------------------
    async def status(self) -> Status:
        """The current status: cached for ``cache_seconds``; concurrent callers share one fetch."""
        if self._cached is not None and self.clock() - self._cached_at < self._cache_period(self._cached):
            return self._cached
        if self._inflight is None or self._inflight_generation != self._generation:
            task = asyncio.ensure_future(self._refresh(self._generation))
            self._inflight, self._inflight_generation = task, self._generation
            task.add_done_callback(self._landed)
        # shielded: a tab that goes away must not cancel the fetch the other tabs wait for
        return await asyncio.shield(self._inflight)

    def _cache_period(self, status: Status) -> float:
        if status.body["available"]:
            return self.settings.cache_seconds
        return min(self.settings.cache_seconds, RETRY_CACHE_SECONDS)

    def _landed(self, task: asyncio.Future) -> None:
        if self._inflight is task:
            self._inflight = None

    def invalidate(self) -> None:
        """Forget the cached status (after a change), so the next poll sees the service's new state."""
        self._cached = None
        self._generation += 1

    async def _refresh(self, generation: int) -> Status:
        started = self.clock()
        fetched_at = iso_now()
        extras = asyncio.gather(*(self._optional(name) for name in OPTIONAL_READS))
        results = await asyncio.gather(self._read("me"), self._read("pool"), self._read("reservations"),
                                       return_exceptions=True)
        optional = dict(zip(OPTIONAL_READS, await extras))
        values: list[Any] = []
        error: UpstreamError | None = None
        for result in results:
            if isinstance(result, UpstreamError):
                error = error or result
                values.append(None)
            elif isinstance(result, Exception):  # a bug here, not the service's doing
                self.log.error("npuhub-lab: reading the npuhub service failed", exc_info=result)
                error = error or UpstreamError(500, "internal_error")
                values.append(None)
            elif isinstance(result, BaseException):
                raise result
            else:
                values.append(result)
        me, pool, reservations = values
        if isinstance(reservations, dict):
            reservations = reservations.get("reservations")
        if error is not None:
            self.log.warning("npuhub-lab: the npuhub service status is not available: %s", error)
        settings = self.settings
        body = {
            "server_part": {"version": self.version, "api": API_VERSION},
            "interval": settings.poll_interval,
            "server_name": settings.server_name,
            "available": error is None,
            "error": error.body() if error is not None else None,
            "me": me,
            "pool": pool,
            "reservations": reservations,
            **optional,
        }
        status = Status(body=body, etag=etag_of(body), fetched_at=fetched_at)
        if generation == self._generation:  # a change since the fetch began makes it stale
            self._cached, self._cached_at = status, started
        return status

    async def _read(self, path: str) -> dict:
        code, body = await self.call("GET", path)
        if code == 200 and isinstance(body, dict):
            return body
        raise self._failure(code, body)

    async def _optional(self, path: str) -> list | None:
        """A read the status can do without (a service before it had the route): its list, or None."""
        try:
            code, body = await self.call("GET", path)
        except UpstreamError:
            return None
        items = body.get(path) if isinstance(body, dict) else body
        if code != 200 or not isinstance(items, list):
            if code != 404:
                self.log.info("npuhub-lab: GET %s answered %s", path, code)
            return None
        if path == "clusters":
            return [{k: c.get(k) for k in CLUSTER_FIELDS} for c in items if isinstance(c, dict)]
        return items

    # -- changes ------------------------------------------------------------------------------------
    async def cancel(self, request_id: str) -> tuple[int, dict]:
        """``DELETE /requests/<id>`` at the service: its status and JSON body, errors in its own words.

        Sent again, with growing pauses, while the hub's proxy answers for a
        restarting service (up to ``restart_wait`` seconds): the person pressed
        Cancel once, and the sentence she would read says it is being tried again.
        """
        if not valid_request_id(request_id):
            raise UpstreamError(400, "request_id_invalid", sentence("request_id_invalid", id=request_id[:70]))
        deadline = self.clock() + self.settings.restart_wait
        pause = FIRST_PAUSE
        while True:
            try:
                code, body = await self.call("DELETE", f"requests/{request_id}")
            finally:
                self.invalidate()
            if not _proxy_answer(code, body) or self.clock() + pause > deadline:
                break
            await asyncio.sleep(pause)
            pause = min(LONGEST_PAUSE, pause * 2)
        if 200 <= code < 300 and isinstance(body, dict):
            return code, body
        if code < 500 and _service_error(body) is not None:
            return code, body
        raise self._failure(code, body)

    # -- one HTTP request --------------------------------------------------------------------------
    async def call(self, method: str, path: str) -> tuple[int, Any]:
        """One request to ``{service_url}api/v1/{path}``: the status code and the parsed JSON (or None)."""
        settings = self.settings
        if not settings.service_url:
            raise UpstreamError(503, "not_configured")
        if not settings.api_token:
            raise UpstreamError(503, "token_missing")
        request = HTTPRequest(
            f"{settings.service_url}api/v1/{path}",
            method=method,
            headers={"Authorization": f"token {settings.api_token}", "Accept": "application/json"},
            connect_timeout=settings.request_timeout,
            request_timeout=settings.request_timeout,
            follow_redirects=False,
        )
        self.requests_sent += 1
        try:
            response = await AsyncHTTPClient().fetch(request, raise_error=False)
        except (OSError, HTTPClientError) as e:
            self.log.debug("npuhub-lab: %s %s failed: %s", method, request.url, e)
            raise UpstreamError(503, "service_unreachable") from None
        if response.code == 599:
            raise UpstreamError(503, "service_unreachable")
        return response.code, _json(response.body)

    def _failure(self, code: int, body: Any) -> UpstreamError:
        """The error for an answer that is not what was asked for."""
        if code in (401, 403):
            return UpstreamError(403, "token_refused")
        own = _service_error(body)
        if code >= 500 and own is not None:
            return UpstreamError(code, own[1], own[0])  # e.g. the hub cannot be asked: the service says so
        if _proxy_answer(code, body):  # its HTML page, while the hub restarts the service
            return UpstreamError(503, "service_restarting")
        return UpstreamError(502, "service_error", sentence("service_error", status=code))
