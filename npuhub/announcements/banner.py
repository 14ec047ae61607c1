"""The banner on the hub's pages: the announcements shown now, asked of the service, for each page's reader.

JupyterHub calls the template variable ``npuhub_announcements`` with each
page's reader, and the page template (``npuhub/templates/npuhub-banner.html``)
calls ``.items()`` on what it gives. The hub keeps every current announcement
(``GET /announcements?everyone=true`` with its own operator token) and shows
each reader those for everyone and for her groups. The list is refreshed in
the background when a page is shown and it is older than ``max_age`` seconds:
a page never waits for the service (error pages are rendered without
awaiting anything), a new or removed announcement shows within ``max_age``
seconds and a page, without restarting the hub. A service that does not
answer costs the pages their banner only (and one warning a minute).
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timezone

from ..refusals import Refusal
from ..spawners.client import AdmissionClient, ServiceUnreachable

__all__ = ["HubBanner"]


class HubBanner:
    """A ``c.JupyterHub.template_vars`` value: called with the reader, it gives her ``.items()``:
    ``[{"id", "zh", "en", "scope", "ends"}]``."""

    def __init__(self, api_url: str, token: str, *, max_age: float = 10.0, timeout: float = 3.0,
                 log: logging.Logger | None = None):
        self.client = AdmissionClient(api_url, token, timeout=timeout)
        self.max_age = max_age
        self.log = log or logging.getLogger("JupyterHub")
        self._items: list[dict] = []
        self._fetched = float("-inf")
        self._warned = float("-inf")
        self._refreshing: asyncio.Task | None = None

    def __call__(self, user=None) -> "_ForReader":
        return _ForReader(self, user)

    async def refresh(self) -> None:
        """Ask the service for every current announcement; keep the last list when it does not answer."""
        try:
            data = await self.client.get("/announcements?everyone=true")
            self._items = list(data.get("announcements") or [])
        except (ServiceUnreachable, Refusal, OSError, asyncio.TimeoutError) as e:
            if time.monotonic() - self._warned > 60:
                self._warned = time.monotonic()
                self.log.warning("Announcements not shown: the npuhub service did not answer (%s)", e)
        finally:
            self._fetched = time.monotonic()

    def _refresh_if_old(self) -> None:
        if time.monotonic() - self._fetched < self.max_age:
            return
        if self._refreshing is not None and not self._refreshing.done():
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not on the hub's event loop (a template rendered elsewhere): no refresh
            return
        self._refreshing = loop.create_task(self.refresh())

    def for_reader(self, user=None) -> list[dict]:
        """The current announcements for ``user`` (None: not signed in, those for everyone)."""
        self._refresh_if_old()
        groups = {g.name for g in getattr(user, "groups", None) or []} if user is not None else set()
        shown = []
        now = datetime.now(timezone.utc)
        for item in self._items:
            if _ended(item.get("ends"), now):
                continue  # ended since the last refresh
            scope = item.get("scope", "")
            if scope == "all" or (scope.startswith("group:") and scope[len("group:"):] in groups):
                text = item.get("text") or {}
                shown.append({"id": item.get("id"), "zh": text.get("zh", ""), "en": text.get("en", ""),
                              "scope": scope, "ends": item.get("ends")})
        return shown


def _ended(ends, now: datetime) -> bool:
    try:
        return datetime.fromisoformat(str(ends).replace("Z", "+00:00")) <= now
    except ValueError:
        return False


class _ForReader:
    """The banners of one page's reader, looked up only if the page's template asks."""

    def __init__(self, banner: HubBanner, user):
        self.banner = banner
        self.user = user

    def items(self) -> list[dict]:
        return self.banner.for_reader(self.user)
