"""Idle reclaim: an idle server gives its slice back when someone waits for it, and always past a hard limit.

Each reconciliation the hub says when every running server was last active
(servers report their own activity every few seconds: npuhub/activity.py).
A granted session idle past its flavor's limit is *reclaimable* if requests
for its device model wait that the pool cannot serve (reason
``idle_reclaimed``); past the hard limit it is reclaimable whatever the queue
(reason ``idle_hard_limit``). A reclaimable session is warned first (the
request's ``warnings``, with the time it will be stopped, to the second); it
is stopped ``grace`` seconds later only if the hub has heard of no activity
since the warning: any activity reported in the meantime withdraws the
warning. The limits and the grace are never shorter than the activity lag
(how late a server's activity can reach the service), so a server in use is
neither warned nor stopped.

Each round the admission core is told when the reclaimable sessions would be
stopped (``Admission.set_reclaim_times``), so that the waiting see an
estimate that counts on those slices.

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
from ..refusals import stop_time
from .engine import Engine
from .enforcement import WarnThenStop
from .errors import iso
from .hubapi import HubClient
from .metrics import Metrics

__all__ = ["reclaimable", "IdleReclaim", "RECLAIMED", "HARD_LIMIT"]

#: the reasons a reclaimed request ends with: someone waited for its slice, or it passed the hard limit
RECLAIMED, HARD_LIMIT = "idle_reclaimed", "idle_hard_limit"


def reclaimable(adm: Admission, last_activity: dict[tuple[str, str], float], now: float,
                idle_limit: Callable[[Request], float], hard_limit: float) -> dict[str, str]:
    """Granted requests to reclaim now, with why: longest idle first, only as many as the waiting demand
    needs, then any past the hard limit.

    ``last_activity`` maps (user, server) to the hub's last activity time;
    a session the hub does not report is left alone (reconciliation ends it).
    """
    idle: list[tuple[float, Request]] = []
    for req in adm.granted():
        seen = last_activity.get((req.user, req.server))
        if seen is None or not req.share:
            continue
        idle.append((now - max(seen, req.granted_at or seen), req))
    chosen: dict[str, str] = {}
    demand: dict[str | None, Fraction] = {}
    for waiting in adm.waiting():
        demand[waiting.model] = demand.get(waiting.model, Fraction(0)) + waiting.share
    for idle_for, req in sorted(idle, key=lambda pair: -pair[0]):
        if demand.get(req.model, 0) > 0 and idle_for >= idle_limit(req):
            chosen[req.id] = RECLAIMED
            demand[req.model] -= req.share
        elif idle_for >= hard_limit:
            chosen[req.id] = HARD_LIMIT
    return chosen


class IdleReclaim(WarnThenStop):
    """Warns, then stops, reclaimable idle sessions (see the module's docstring)."""

    reason = RECLAIMED

    def __init__(self, engine: Engine, hub: HubClient | None, *, idle_limit: float, hard_limit: float,
                 grace: float, metrics: Metrics, log: logging.Logger | None = None,
                 clock: Callable[[], float] = time.time, lag: float = 0.0):
        """``lag``: how late activity may reach the service (``activity.activity_lag``); no limit is
        shorter."""
        super().__init__(engine, hub, grace, metrics, log, clock)
        self.lag = lag
        self.default_idle_limit = self._at_least_lag("idle_limit", idle_limit)
        self.hard_limit = self._at_least_lag("idle_hard_limit", hard_limit)
        self.grace = self._at_least_lag("reclaim_grace", grace)
        self._activity: dict[tuple[str, str], float] = {}

    def _at_least_lag(self, name: str, seconds: float) -> float:
        if seconds >= self.lag:
            return seconds
        self.log.warning("%s=%g s is shorter than the activity lag (%.1f s): using %.1f s, so that a server "
                         "in use is never judged idle", name, seconds, self.lag, self.lag)
        return self.lag

    def idle_limit(self, req: Request) -> float:
        flavor = self.engine.site.catalogue.get(req.flavor)
        limit = flavor.idle_limit if flavor is not None else None
        return max(limit, self.lag) if limit is not None else self.default_idle_limit

    def basis(self, req: Request) -> object:
        # activity reported after the warning withdraws it
        return self._activity.get((req.user, req.server))

    def warning_text(self, req: Request, stop_at: float, reason: str) -> Text:
        limit = self.hard_limit if reason == HARD_LIMIT else self.idle_limit(req)
        key = "idle_hard_warning" if reason == HARD_LIMIT else "idle_warning"
        return message(key, idle=int(limit // 60) or 1, at=stop_time(stop_at, self.clock()))

    def on_warned(self, req: Request, stop_at: float) -> None:
        self.log.info("Request %s of %s is idle: stopping at %s unless used", req.id, req.user, iso(stop_at))

    def on_stopped(self, req: Request, outcome: str, reason: str) -> None:
        self.log.info("Reclaimed request %s of %s: %s (server %s)", req.id, req.user, reason, outcome)

    async def update(self, last_activity: dict[tuple[str, str], float]) -> None:
        adm = self.engine.adm
        if adm is None or self.hub is None:
            return
        self._activity = last_activity
        await self.apply(reclaimable(adm, last_activity, self.clock(), self.idle_limit, self.hard_limit))
        adm = self.engine.adm
        if adm is not None:
            adm.set_reclaim_times({rid: w["_stop_at"] for rid, w in self._warnings.items()})
