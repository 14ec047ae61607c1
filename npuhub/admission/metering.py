"""Metering, as part of the admission core: each granted request charged for whole milliseconds, once.

A mixin of ``core.Admission``; charges go to the request's budget accounts
and to fair-share usage.
"""

from __future__ import annotations

from fractions import Fraction

from .model import Request

__all__ = ["MS", "Metering"]

MS = Fraction(1, 1000)


class Metering:
    """The metering half of ``Admission``."""

    def meter(self) -> list[Request]:
        """Charge every granted request up to now. Returns those whose budget is spent."""
        now = self.clock()
        spent = []
        for req in self.granted():
            if self._meter_one(req, now):
                spent.append(req)
        self._invalidate_order()  # usage changed, so did fair share
        return spent

    def _meter_one(self, req: Request, now: float) -> bool:
        """Charge whole milliseconds since the last charge; True if a budget is now spent."""
        if req.metered_until is None or not req.share:
            return False
        elapsed_ms = int((now - req.metered_until) * 1000)
        if elapsed_ms <= 0:
            return False
        req.metered_until += elapsed_ms / 1000
        cost = self.price(req.flavor, req.share) * elapsed_ms * MS
        req.charged += cost
        accounts = self.budgets.accounts_for(req.user, req.groups, req.charge_group, now)
        self.budgets.charge(accounts, cost, now, req.id)
        self.fairshare.add(self.account_of(req), float(cost), now)
        self.dirty.add(req.id)
        return any(a.balance <= 0 for a in accounts)
