"""The banner on the hub's pages: the announcements shown now, asked of the service, for each page's reader.

The hub's templates are rendered with Jinja in async mode, so the page
template (``npuhub/templates/page.html``) calls ``npuhub_announcements(user)``
and gets the list. The hub asks the service for every current announcement
(``GET /announcements?everyone=true`` with its own operator token) at most
once per ``max_age`` seconds, and keeps for each reader those for everyone
and for her groups: a new or removed announcement shows within ``max_age``
seconds on every page, without restarting the hub. A service that does not
answer costs a page nothing but its banner (and one warning a minute).
"""

from __future__ import annotations

import asyncio
import logging
import time

from ..refusals import Refusal
from ..spawners.client import AdmissionClient, ServiceUnreachable

__all__ = ["HubBanner"]


class HubBanner:
    """A template variable: JupyterHub calls it with each page's reader (``template_vars`` callables are),
    and the template calls ``.items()`` on what it gives, which Jinja awaits:
    ``[{"id", "zh", "en", "scope", "ends"}]``."""

    def __init__(self, api_url: str, token: str, *, max_age: float = 10.0, timeout: float = 3.0,
                 log: logging.Logger | None = None):
        self.client = AdmissionClient(api_url, token, timeout=timeout)
        self.max_age = max_age
        self.log = log or logging.getLogger("JupyterHub")
        self._items: list[dict] = []
        self._fetched = float("-inf")
        self._warned = float("-inf")
        self._lock = asyncio.Lock()

    async def _current(self) -> list[dict]:
        if time.monotonic() - self._fetched < self.max_age:
            return self._items
        async with self._lock:  # one fetch for the pages that arrive together
            if time.monotonic() - self._fetched < self.max_age:
                return self._items
            try:
                data = await self.client.get("/announcements?everyone=true")
                self._items = list(data.get("announcements") or [])
            except (ServiceUnreachable, Refusal, OSError, asyncio.TimeoutError) as e:
                if time.monotonic() - self._warned > 60:
                    self._warned = time.monotonic()
                    self.log.warning("Announcements not shown: the npuhub service did not answer (%s)", e)
            self._fetched = time.monotonic()
            return self._items

    def __call__(self, user=None) -> "_ForReader":
        return _ForReader(self, user)

    async def for_reader(self, user=None) -> list[dict]:
        groups = {g.name for g in getattr(user, "groups", None) or []} if user is not None else set()
        shown = []
        for item in await self._current():
            scope = item.get("scope", "")
            if scope == "all" or (scope.startswith("group:") and scope[len("group:"):] in groups):
                text = item.get("text") or {}
                shown.append({"id": item.get("id"), "zh": text.get("zh", ""), "en": text.get("en", ""),
                              "scope": scope, "ends": item.get("ends")})
        return shown


class _ForReader:
    """The banners of one page's reader, fetched only if the page's template asks (no coroutine left behind)."""

    def __init__(self, banner: HubBanner, user):
        self.banner = banner
        self.user = user

    async def items(self) -> list[dict]:
        return await self.banner.for_reader(self.user)
