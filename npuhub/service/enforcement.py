"""Warn, then stop: the mechanism behind budget enforcement and idle reclaim.

A watcher is told, at each round, which running requests should end, and why
(a reason per request). Each new one gets a warning (shown in the request's
``warnings``) with the time it will be stopped: ``grace`` seconds later. A
request no longer named in a later round loses its warning (a top-up, renewed
activity), and so does one whose ``basis`` changed since it was warned (idle
reclaim: activity reported after the warning). One still named once its time
has come is stopped through the hub's API (JupyterHub stops it the normal way)
and its slice released with the warning's reason.

Warnings live in memory: after a restart of the service a session is warned
again, with a full grace period.

Budgets (``BudgetWatch``): at every metering tick the admission core says
which running requests drew a budget to zero or below.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping

from ..admission.model import Request, State
from ..i18n import Text, message
from ..refusals import stop_time
from .engine import Engine
from .errors import APIError, iso, whose
from .hubapi import HubClient, HubUnavailable
from .metrics import Metrics

__all__ = ["WarnThenStop", "BudgetWatch"]


class WarnThenStop:
    """Warnings and stops for one reason; subclasses say what the warning reads."""

    reason = "stop"

    def __init__(self, engine: Engine, hub: HubClient | None, grace: float, metrics: Metrics,
                 log: logging.Logger | None = None, clock: Callable[[], float] = time.time):
        self.engine = engine
        self.hub = hub
        self.grace = grace
        self.metrics = metrics
        self.log = log or logging.getLogger("npuhub.service")
        self.clock = clock
        self._warnings: dict[str, dict] = {}
        #: how a Dask cluster's request is stopped (its cluster is closed); set by the service
        self.stop_cluster = None

    def warnings_for(self, request_id: str) -> list[dict]:
        w = self._warnings.get(request_id)
        if w is None:
            return []
        return [{k: v for k, v in w.items() if not k.startswith("_")}]

    def warning_text(self, req: Request, stop_at: float, reason: str) -> Text:  # pragma: no cover (abstract)
        raise NotImplementedError

    def basis(self, req: Request) -> object:
        """What a warning was given on: if it differs at a later round, the warning is withdrawn, judged anew.

        None by default (a budget warning stands as long as the budget is spent)."""
        return None

    def on_warned(self, req: Request, stop_at: float) -> None:
        """Called once per new warning (logging, metrics)."""

    def on_stopped(self, req: Request, outcome: str, reason: str) -> None:
        """Called once a stopped session's slice is released."""

    async def apply(self, named: Iterable[str] | Mapping[str, str]) -> None:
        """Warn the newly named, forget those no longer named, stop those whose time has come.

        ``named``: request ids (ended with ``self.reason``), or a mapping of request id to its reason.
        """
        adm = self.engine.adm
        if adm is None:
            return
        reasons = named if isinstance(named, Mapping) else dict.fromkeys(named, self.reason)
        now = self.clock()
        current: dict[str, dict] = {}
        for rid, reason in reasons.items():
            req = adm.find(rid)
            if req is None or req.state is not State.GRANTED:
                continue
            warning = self._warnings.get(rid)
            basis = self.basis(req)
            if warning is None or warning["_basis"] != basis:
                stop_at = now + self.grace
                warning = {"_stop_at": stop_at, "_basis": basis, "at": iso(now), "stop_at": iso(stop_at)}
                self.on_warned(req, stop_at)
            if warning.get("reason") != reason:  # a new warning, or its reason changed (the queue emptied)
                text = self.warning_text(req, warning["_stop_at"], reason)
                warning.update(reason=reason, message={"zh": text.zh, "en": text.en})
            current[rid] = warning
        self._warnings = current
        for rid, warning in list(current.items()):
            if now >= warning["_stop_at"]:
                await self._stop(rid, warning["reason"])

    async def _stop(self, rid: str, reason: str) -> None:
        adm = self.engine.adm
        req = adm.find(rid) if adm is not None else None
        if req is None or req.state is not State.GRANTED:
            self._warnings.pop(rid, None)
            return
        if self.hub is None:
            return  # warn only (stop_over_budget off, or no hub token): never free a slice a server still uses
        if req.cluster is not None:  # a Dask worker or scheduler: no hub server behind it; its cluster closes
            if self.stop_cluster is not None:
                await self.stop_cluster(req, reason)
                self._warnings.pop(rid, None)
                self.on_stopped(req, "closed", reason)
            return
        # the hub's spawner reports the stop (and releases the slice) before the hub answers: let it say why
        adm.stopping_for(rid, reason)
        try:
            outcome = await self.hub.stop_server(req.user, req.server)
        except HubUnavailable as e:
            self.log.warning("Could not stop %s's server %r (%s): %s; trying again", req.user, req.server,
                             reason, e)
            return
        if outcome == "stopping":
            return  # the hub is stopping it; the spawner releases it, or the next round does

        def release(adm):
            if adm.find(rid) is not None:
                adm.release(rid, reason)

        try:
            await self.engine.change(release, "release")
        except APIError:
            return  # the database is away: the session keeps running; tried again next round
        self._warnings.pop(rid, None)
        self.on_stopped(req, outcome, reason)


class BudgetWatch(WarnThenStop):
    """A running session whose budget is spent is warned, then stopped."""

    reason = "budget_spent"

    def warning_text(self, req: Request, stop_at: float, reason: str) -> Text:
        return message("budget_warning", whose=whose(self.engine.adm.account_of(req)),
                       at=stop_time(stop_at, self.clock()))

    def on_warned(self, req: Request, stop_at: float) -> None:
        self.metrics.budget_warnings.inc()
        self.log.info("Budget spent for request %s of %s (%s): stopping at %s unless topped up",
                      req.id, req.user, self.engine.adm.account_of(req), iso(stop_at))

    def on_stopped(self, req: Request, outcome: str, reason: str) -> None:
        self.metrics.budget_stops.inc()
        self.log.info("Stopped request %s of %s: budget spent (server %s)", req.id, req.user, outcome)

    async def update(self, spent: list[str]) -> None:
        await self.apply(spent)
