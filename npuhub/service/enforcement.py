"""Continuous enforcement of budgets: a running session whose budget is spent is warned, then stopped.

At every metering tick the admission core says which running requests drew
a budget to zero or below. Each gets a warning (shown in the request's
``warnings`` and so in the lab extension), with the time it will be stopped:
``grace`` seconds later. If the budget is still spent then, the server is
stopped through the hub's API (JupyterHub stops it the normal way, so the
spawner saves what it saves on every stop) and its slice is released. A
top-up in the meantime lifts the warning at the next tick.

Warnings live in memory: after a restart of the service a spent session is
warned again, with a full grace period, at the first tick.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from ..admission.model import State
from ..i18n import message
from .engine import Engine
from .errors import APIError, iso, when, whose
from .hubapi import HubClient, HubUnavailable
from .metrics import Metrics

__all__ = ["BudgetWatch"]


class BudgetWatch:
    def __init__(self, engine: Engine, hub: HubClient | None, grace: float, metrics: Metrics,
                 log: logging.Logger | None = None, clock: Callable[[], float] = time.time):
        self.engine = engine
        self.hub = hub
        self.grace = grace
        self.metrics = metrics
        self.log = log or logging.getLogger("npuhub.service")
        self.clock = clock
        self._warnings: dict[str, dict] = {}

    def warnings_for(self, request_id: str) -> list[dict]:
        w = self._warnings.get(request_id)
        if w is None:
            return []
        return [{k: v for k, v in w.items() if not k.startswith("_")}]

    async def update(self, spent: list[str]) -> None:
        """Warn newly spent sessions, forget those no longer spent, stop those past their grace."""
        adm = self.engine.adm
        if adm is None:
            return
        now = self.clock()
        current: dict[str, dict] = {}
        for rid in spent:
            req = adm.requests.get(rid)
            if req is None or req.state is not State.GRANTED:
                continue
            warning = self._warnings.get(rid)
            if warning is None:
                stop_at = now + self.grace
                account = adm.account_of(req)
                warning = {
                    "reason": "budget_spent",
                    "message": str(message("budget_warning", whose=whose(account), at=when(stop_at))),
                    "at": iso(now),
                    "stop_at": iso(stop_at),
                    "_stop_at": stop_at,
                }
                self.metrics.budget_warnings.inc()
                self.log.info("Budget spent for request %s of %s (%s): stopping at %s unless topped up",
                              rid, req.user, account, iso(stop_at))
            current[rid] = warning
        self._warnings = current
        for rid, warning in list(current.items()):
            if now >= warning["_stop_at"]:
                await self._stop(rid)

    async def _stop(self, rid: str) -> None:
        adm = self.engine.adm
        req = adm.requests.get(rid) if adm is not None else None
        if req is None or req.state is not State.GRANTED:
            self._warnings.pop(rid, None)
            return
        outcome = "gone"
        if self.hub is not None:
            try:
                outcome = await self.hub.stop_server(req.user, req.server)
            except HubUnavailable as e:
                self.log.warning("Could not stop %s's server %r (budget spent): %s; trying again", req.user,
                                 req.server, e)
                return
        if outcome == "stopping":
            return  # the hub is stopping it; the spawner releases it, or the next tick does
        self.log.info("Stopped request %s of %s: budget spent (server %s)", rid, req.user, outcome)

        def release(adm):
            if rid in adm.requests:
                adm.release(rid, "budget_spent")

        try:
            await self.engine.change(release, "release")
        except APIError:
            return  # the database is away: the session keeps running; tried again next tick
        self.metrics.budget_stops.inc()
        self._warnings.pop(rid, None)
