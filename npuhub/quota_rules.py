"""The vocabulary of budgets, shared by the site file and the admission core: a quota rule and its periods."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

__all__ = ["HOUR", "PERIODS", "QuotaRule", "WINDOW"]

PERIODS = ("day", "week", "month")
#: the period of a workshop's one-off budget (``Budgets.open_window``)
WINDOW = "window"
HOUR = Fraction(3600)


@dataclass(frozen=True)
class QuotaRule:
    """``device_hours`` granted each ``period`` (up to ``cap``) to an account.

    ``scope`` "user": each member of one of ``groups`` gets her own budget;
    ``scope`` "group": the group itself has a budget its members share;
    ``scope`` "window": a workshop's budget, granted once: members of ``groups``
    draw on it (instead of a group budget) from ``starts`` to the account's
    ``period_end``, the window's end; ``period`` is "window" and it never renews.
    """

    scope: str
    groups: frozenset[str]
    device_hours: Fraction
    period: str = "week"
    cap: Fraction | None = None
    #: a window's start (epoch seconds); None for the renewed rules
    starts: float | None = None

    def grant(self) -> Fraction:
        return self.device_hours * HOUR

    def limit(self) -> Fraction:
        return (self.cap if self.cap is not None else self.device_hours) * HOUR
