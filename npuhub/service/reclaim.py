"""Idle reclaim: an idle server gives its slice back when someone waits for it, and always past a hard limit.

Each reconciliation the hub says when every running server was last active.
A granted session idle past its flavor's limit is *reclaimable* if requests
for its device model wait that the pool cannot serve; past the hard limit it
is reclaimable whatever the queue. A reclaimable session is warned first
(the request's ``warnings``, with the time it will be stopped); if it is still
idle and still reclaimable ``grace`` seconds later, the server is stopped
through the hub and its slice released. Activity in the meantime lifts the
warning.

What stopping keeps: JupyterHub stops the server the normal way, so every
file on disk stays. The lab extension (extensions/npuhub-lab) shows the warning
and saves every open document with unsaved changes at each poll until the stop,
so only a tab that cannot reach the server during the whole grace period loses
edits; the state of running kernels (variables in memory) is always lost. See
docs/concepts.md, "Idle reclaim".
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from fractions import Fraction

from ..admission.core import Admission
from ..admission.model import Request
from ..i18n import Text, message
from .engine import Engine
from .enforcement import WarnThenStop
from .errors import iso, when
from .hubapi import HubClient
from .metrics import Metrics

__all__ = ["reclaimable", "IdleReclaim"]


def reclaimable(adm: Admission, last_activity: dict[tuple[str, str], float], now: float,
                idle_limit: Callable[[Request], float], hard_limit: float) -> list[str]:
    """Granted requests to reclaim now: longest idle first, only as many as the waiting demand needs.

    ``last_activity`` maps (user, server) to the hub's last activity time;
    a session the hub does not report is left alone (reconciliation ends it).
    """
    idle: list[tuple[float, Request]] = []
    for req in adm.granted():
        seen = last_activity.get((req.user, req.server))
        if seen is None or not req.share:
            continue
        idle.append((now - max(seen, req.granted_at or seen), req))
    chosen = [req.id for idle_for, req in idle if idle_for >= hard_limit]
    demand: dict[str | None, Fraction] = {}
    for waiting in adm.waiting():
        demand[waiting.model] = demand.get(waiting.model, Fraction(0)) + waiting.share
    for idle_for, req in sorted(idle, key=lambda pair: -pair[0]):
        if req.id in chosen or demand.get(req.model, 0) <= 0 or idle_for < idle_limit(req):
            continue
        chosen.append(req.id)
        demand[req.model] -= req.share
    return chosen


class IdleReclaim(WarnThenStop):
    """Warns, then stops, reclaimable idle sessions (see the module's docstring)."""

    reason = "idle_reclaimed"

    def __init__(self, engine: Engine, hub: HubClient | None, *, idle_limit: float, hard_limit: float,
                 grace: float, metrics: Metrics, log: logging.Logger | None = None,
                 clock: Callable[[], float] = time.time):
        super().__init__(engine, hub, grace, metrics, log, clock)
        self.default_idle_limit = idle_limit
        self.hard_limit = hard_limit

    def idle_limit(self, req: Request) -> float:
        flavor = self.engine.site.catalogue.get(req.flavor)
        limit = flavor.idle_limit if flavor is not None else None
        return limit if limit is not None else self.default_idle_limit

    def warning_text(self, req: Request, stop_at: float) -> Text:
        return message("idle_warning", at=when(stop_at))

    def on_warned(self, req: Request, stop_at: float) -> None:
        self.log.info("Request %s of %s is idle while others wait: stopping at %s unless used",
                      req.id, req.user, iso(stop_at))

    def on_stopped(self, req: Request, outcome: str) -> None:
        self.log.info("Reclaimed request %s of %s: idle (server %s)", req.id, req.user, outcome)

    async def update(self, last_activity: dict[tuple[str, str], float]) -> None:
        adm = self.engine.adm
        if adm is None or self.hub is None:
            return
        await self.apply(reclaimable(adm, last_activity, self.clock(), self.idle_limit, self.hard_limit))
