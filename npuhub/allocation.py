"""Embedded-mode allocation: grants slices of the simulated pool to servers, within each person's limit.

One allocator lives in the hub process and is shared by every spawner. The
admission service (queue, device-hour quotas, reservations) replaces it in a
later stage behind the same three calls: ``grant``, ``release``, ``restore``.
"""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path
from typing import Iterable

from .flavors import Flavor
from .i18n import Text, message
from .pool import Grant, NoCapacity, Pool, PoolError
from .shares import format_share
from .site_config import SiteConfig, load_site_config

__all__ = ["AllocationRefused", "LocalAllocator"]


class AllocationRefused(Exception):
    """An expected refusal (pool full, limit reached): a message for the person and a reason code."""

    def __init__(self, reason: str, text: Text, status_code: int = 409):
        super().__init__(str(text))
        self.reason = reason
        self.text = text
        self.status_code = status_code


class LocalAllocator:
    """Grants, releases and restores slices for the servers of one hub."""

    _shared: dict[str, "LocalAllocator"] = {}

    def __init__(self, site: SiteConfig, log: logging.Logger | None = None):
        self.site = site
        self.pool = Pool(site.nodes)
        self.log = log or logging.getLogger(__name__)

    @classmethod
    def shared(cls, site_file: str | Path | None, log: logging.Logger | None = None) -> "LocalAllocator":
        """The one allocator of this process for ``site_file`` (spawners are many, the pool is one)."""
        key = str(Path(site_file).resolve()) if site_file else ""
        if key not in cls._shared:
            cls._shared[key] = cls(load_site_config(site_file), log)
        return cls._shared[key]

    def vendor_of(self, model: str) -> str:
        return self.pool.vendor_of(model)

    async def acquire(self, spawner, flavor: Flavor) -> Grant | None:
        """The spawner's call: grant now or refuse (the embedded allocator has no queue)."""
        return self.grant(spawner.user.name, spawner.npuhub_groups(), flavor)

    def held_by(self, user: str) -> Fraction:
        return sum((g.share for g in self.pool.grants.values() if g.holder == user), Fraction(0))

    def grant(self, user: str, groups: Iterable[str], flavor: Flavor) -> Grant | None:
        """Hold ``flavor``'s share for ``user``; None for a CPU-only flavor.

        Raises AllocationRefused when the person's limit or the pool has no room.
        """
        if not flavor.has_accelerator:
            return None
        limit = self.site.limits.max_share_for(set(groups))
        held = self.held_by(user)
        if held + flavor.share > limit:
            raise AllocationRefused(
                "share_limit",
                message("share_limit", limit=format_share(limit), held=format_share(held),
                        share=format_share(flavor.share)),
                status_code=403,
            )
        try:
            grant = self.pool.place(user, flavor.device_model, flavor.share)
        except NoCapacity:
            raise AllocationRefused(
                "pool_full",
                message("pool_full", flavor=flavor.name),
                status_code=503,
            ) from None
        except PoolError:
            raise AllocationRefused(
                "pool_no_model", message("pool_no_model", model=flavor.device_model), status_code=503
            ) from None
        self.log.info("granted %s of %s to %s: %s", format_share(grant.share), grant.model, user,
                 ", ".join(f"{s.node}/{s.device}:{format_share(s.fraction)}" for s in grant.slices))
        return grant

    def release(self, grant_id: str) -> bool:
        """Free a grant. True if it was held; releasing twice is harmless."""
        grant = self.pool.release(grant_id)
        if grant is not None:
            self.log.info("released %s of %s held by %s", format_share(grant.share), grant.model, grant.holder)
        return grant is not None

    def restore(self, grant: Grant) -> bool:
        """Re-hold a grant recorded before a hub restart. False (logged) if it no longer fits."""
        try:
            self.pool.restore(grant)
        except PoolError as e:
            self.log.error("cannot restore grant %s of %s: %s", grant.id, grant.holder, e)
            return False
        return True
