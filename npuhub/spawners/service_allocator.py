"""Slices from the npuhub service: ask, wait in its queue (reporting position and estimate), release.

The spawner-side twin of ``LocalAllocator``: the same calls, but the decision
is the service's, so a request the pool cannot serve now waits in the fair
queue instead of failing.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from functools import cached_property
from typing import TYPE_CHECKING

from ..allocation import AllocationRefused
from ..i18n import Text, message
from ..pool import Grant, Slice
from ..shares import parse_share
from ..site_config import load_site_config
from .admission_client import AdmissionClient, AdmissionError, ServiceUnreachable

if TYPE_CHECKING:  # pragma: no cover
    from ..flavors import Flavor

__all__ = ["ServiceAllocator"]


class ServiceAllocator:
    """Grants through the npuhub service's REST API."""

    def __init__(self, site_file: str | None, api_url: str, token: str, *, poll_interval: float = 2.0,
                 queue_timeout: float = 4 * 3600, log: logging.Logger | None = None):
        self.site_file = site_file
        self.client = AdmissionClient(api_url, token)
        self.poll_interval = poll_interval
        self.queue_timeout = queue_timeout
        self.log = log or logging.getLogger(__name__)
        self._pending_releases: set[asyncio.Task] = set()

    @cached_property
    def site(self):
        return load_site_config(self.site_file or None)

    def vendor_of(self, model: str) -> str:
        return next(n.vendor for n in self.site.nodes if n.model == model)

    async def acquire(self, spawner, flavor: "Flavor") -> Grant | None:
        """Ask the service for ``flavor`` and wait for it; None for CPU-only.

        While waiting, ``spawner.npuhub_report(text, progress)`` is told the
        position and estimate after every change. Cancelled (the person
        stopped the spawn) or timed out: the place in the queue is given up.
        """
        if not flavor.has_accelerator:
            return None
        user, server = spawner.user.name, spawner.name or ""
        await self._drop_leftovers(user, server)
        request_id = f"{uuid.uuid4().hex}"
        try:
            model = await self.client.request(user=user, groups=sorted(spawner.npuhub_groups()), server=server,
                                              flavor=flavor.id, request_id=request_id)
        except AdmissionError as e:
            raise AllocationRefused(e.reason, _as_text(e.error), status_code=e.status) from None
        except ServiceUnreachable:
            raise AllocationRefused("service_unreachable", message("service_unreachable"), 503) from None
        deadline = time.monotonic() + self.queue_timeout
        try:
            while model["state"] == "waiting":
                spawner.npuhub_report(_as_text(model.get("message") or ""), progress=10)
                if time.monotonic() > deadline:
                    raise AllocationRefused("queue_timeout", message("queue_timeout"), 503)
                await asyncio.sleep(self.poll_interval)
                try:
                    model = await self.client.get(request_id)
                except ServiceUnreachable:
                    continue  # the service restarts with its queue intact: keep the place
        except BaseException:
            self.release(request_id)
            raise
        if model["state"] != "granted":
            raise AllocationRefused(model.get("reason") or "refused", _as_text(model.get("message") or ""), 409)
        return _grant_from(model)

    async def _drop_leftovers(self, user: str, server: str) -> None:
        """Give up requests of this server left by an earlier start the hub forgot (restart, crash)."""
        try:
            listing = await self.client._call("GET", f"/requests?user={user}")
        except (AdmissionError, ServiceUnreachable):
            return
        items = listing.get("requests", listing if isinstance(listing, list) else [])
        for item in items:
            if item.get("server", "") == server and item.get("state") in ("waiting", "granted"):
                self.log.info("giving up %s's leftover request %s (%s)", user, item["id"], item["state"])
                await self._release_now(item["id"])

    def release(self, grant_id: str) -> bool:
        """Release (or cancel) a request; runs in the background so sync callers can use it."""
        task = asyncio.ensure_future(self._release_now(grant_id))
        self._pending_releases.add(task)
        task.add_done_callback(self._pending_releases.discard)
        return True

    async def _release_now(self, request_id: str) -> None:
        for attempt in range(5):
            try:
                await self.client.release(request_id)
                return
            except AdmissionError as e:
                if e.status == 404:
                    return
                self.log.warning("npuhub service refused to release %s: %s", request_id, e.error)
                return
            except ServiceUnreachable:
                await asyncio.sleep(2 ** attempt)
        self.log.error("could not release %s: the npuhub service did not answer", request_id)

    def restore(self, grant: Grant) -> bool:
        """The service keeps grants across hub restarts; nothing to put back here."""
        return True


def _as_text(sentence: str) -> Text:
    """The service's bilingual sentence ("中文 / English") as a Text."""
    zh, sep, en = sentence.partition(" / ")
    return Text(zh, en) if sep else Text(sentence, sentence)


def _grant_from(model: dict) -> Grant:
    g = model["grant"]
    return Grant(
        id=model["id"],  # releasing "the grant" releases the request
        holder=model["user"],
        model=g["model"],
        share=parse_share(g["share"]),
        slices=tuple(Slice.from_dict(s) for s in g["slices"]),
    )
