"""Device-hour budgets per person and per group, renewed by declarative rules, with a ledger.

Amounts are exact: device-seconds as Fractions (a share times whole
milliseconds), so a charge is never rounded twice and never lost.
"""

from __future__ import annotations

import calendar
import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Iterable

from ..quota_rules import PERIODS, WINDOW, QuotaRule

__all__ = ["QuotaRule", "Account", "Budgets", "period_bounds", "PERIODS", "WINDOW"]

_EVERY = {"day": "daily", "week": "weekly", "month": "monthly"}


def period_bounds(period: str, now: float) -> tuple[float, float]:
    """Start and end (UTC epoch seconds) of the period containing ``now``; weeks start on Monday."""
    t = dt.datetime.fromtimestamp(now, dt.timezone.utc)
    day = t.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        start, end = day, day + dt.timedelta(days=1)
    elif period == "week":
        start = day - dt.timedelta(days=day.weekday())
        end = start + dt.timedelta(days=7)
    elif period == "month":
        start = day.replace(day=1)
        days = calendar.monthrange(start.year, start.month)[1]
        end = start + dt.timedelta(days=days)
    else:
        raise ValueError(f"unknown period {period!r}")
    return start.timestamp(), end.timestamp()


@dataclass
class Account:
    name: str
    rule: QuotaRule
    balance: Fraction
    period_end: float


@dataclass
class Budgets:
    """Balances of the accounts that have a rule; an account without one is not metered against."""

    rules: list[QuotaRule] = field(default_factory=list)
    accounts: dict[str, Account] = field(default_factory=dict)
    #: ledger entries not yet persisted (the store drains this in the same transaction)
    pending: list[dict] = field(default_factory=list)
    #: names of the workshops' accounts among ``accounts`` (``open_window``; the store adds those it loads)
    windows: set[str] = field(default_factory=set)

    def rule_for(self, account: str) -> QuotaRule | None:
        kind, _, name = account.partition(":")
        for rule in self.rules:
            if rule.scope == "group" and kind == "group" and name in rule.groups:
                return rule
        return None

    def user_rule(self, groups: Iterable[str]) -> QuotaRule | None:
        """The most generous per-person rule among her groups."""
        groups = set(groups)
        mine = [r for r in self.rules if r.scope == "user" and r.groups & groups]
        return max(mine, key=lambda r: r.grant(), default=None)

    def account(self, name: str, now: float, rule: QuotaRule | None = None) -> Account | None:
        """The account, opened (first grant) or renewed as its period requires."""
        acct = self.accounts.get(name)
        rule = rule or (acct.rule if acct else self.rule_for(name))
        if rule is None:
            return None
        if acct is None:
            _, end = period_bounds(rule.period, now)
            acct = self.accounts[name] = Account(name, rule, Fraction(0), end)
            self._entry(acct, "grant", rule.grant(), now, "system", f"opening {_EVERY[rule.period]} budget")
        elif acct.rule != rule:
            acct.rule = rule
        while now >= acct.period_end and rule.period != WINDOW:
            amount = min(rule.grant(), max(rule.limit() - acct.balance, Fraction(0)))
            renewed_at = acct.period_end
            _, acct.period_end = period_bounds(rule.period, acct.period_end)
            self._entry(acct, "renewal", amount, renewed_at, "system", f"{_EVERY[rule.period]} renewal")
        return acct

    def peek(self, name: str, now: float, rule: QuotaRule | None = None) -> Account | None:
        """An account as it stands at ``now`` (renewals applied), without changing or opening anything.

        Reads must not write: opening or renewing an account adds ledger
        entries, which only a committed change may do.
        """
        acct = self.accounts.get(name)
        rule = rule or (acct.rule if acct else self.rule_for(name))
        if rule is None:
            return None
        if acct is not None and now < acct.period_end and acct.rule == rule:
            return acct
        scratch = Budgets(rules=list(self.rules),
                          accounts={name: dataclasses.replace(acct)} if acct is not None else {})
        return scratch.account(name, now, rule)

    def peek_accounts(self, user: str, groups: Iterable[str], charge_group: str | None,
                      now: float) -> list[Account]:
        """``accounts_for`` as a read: the accounts a request draws on, nothing opened or renewed."""
        found = []
        mine = self.peek(f"user:{user}", now, self.user_rule(groups))
        if mine is not None:
            found.append(mine)
        if charge_group:
            group = self.peek(f"group:{charge_group}", now)
            if group is not None:
                found.append(group)
        return found

    def available_at(self, acct: Account) -> float | None:
        """When renewals will have brought an overspent balance above zero (None: never)."""
        if acct.rule.period == WINDOW:
            return None  # a workshop's budget is granted once
        balance, end = acct.balance, acct.period_end
        for _ in range(1000):
            if balance > 0:
                return end if end != acct.period_end or acct.balance <= 0 else None
            grant = min(acct.rule.grant(), max(acct.rule.limit() - balance, Fraction(0)))
            if grant <= 0:
                return None
            balance += grant
            if balance > 0:
                return end
            _, end = period_bounds(acct.rule.period, end)
        return None

    # -- workshops' budgets ---------------------------------------------------------
    def open_window(self, name: str, group: str, device_hours: Fraction, starts: float, ends: float,
                    now: float, actor: str) -> Account:
        """A workshop's one-off budget: members of ``group`` draw on account ``name`` from ``starts`` to ``ends``.

        Opening it again (same name) changes nothing: the hub may ask twice.
        """
        acct = self.accounts.get(name)
        if acct is not None:
            return acct
        rule = QuotaRule("window", frozenset({group}), device_hours, WINDOW, starts=starts)
        acct = self.accounts[name] = Account(name, rule, Fraction(0), ends)
        self.windows.add(name)
        self._entry(acct, "grant", rule.grant(), now, actor, "workshop budget for its window")
        return acct

    def window_for(self, groups: Iterable[str], now: float) -> str | None:
        """The account of a workshop open now for one of ``groups`` (the first by name), or None."""
        groups = set(groups)
        # an ended window is no new request's any more (its account stays, for those that drew on it)
        self.windows -= {n for n in self.windows if n not in self.accounts or self.accounts[n].period_end <= now}
        names = [a.name for a in map(self.accounts.get, self.windows)
                 if a is not None and a.rule.groups & groups and (a.rule.starts or 0) <= now < a.period_end]
        return min(names, default=None)

    def accounts_for(self, user: str, groups: Iterable[str], charge_group: str | None, now: float) -> list[Account]:
        found = []
        user_acct = self.account(f"user:{user}", now, self.user_rule(groups))
        if user_acct:
            found.append(user_acct)
        if charge_group:
            group_acct = self.account(f"group:{charge_group}", now)
            if group_acct:
                found.append(group_acct)
        return found

    def charge(self, accounts: list[Account], amount: Fraction, now: float, request: str) -> None:
        for acct in accounts:
            self._entry(acct, "charge", -amount, now, "meter", "usage", request)

    def refund(self, accounts: list[Account], amount: Fraction, now: float, request: str) -> None:
        """Give back what ``request`` was charged (a grant no server used)."""
        for acct in accounts:
            self._entry(acct, "refund", amount, now, "npuhub", "no server ran on this grant", request)

    def adjust(self, name: str, amount: Fraction, now: float, actor: str, reason: str) -> Account:
        acct = self.account(name, now)
        if acct is None:
            raise KeyError(name)
        self._entry(acct, "adjust", amount, now, actor, reason)
        return acct

    def _entry(self, acct: Account, kind: str, amount: Fraction, at: float, actor: str, reason: str,
               request: str | None = None) -> None:
        before = acct.balance
        acct.balance = before + amount
        self.pending.append({
            "account": acct.name, "kind": kind, "amount": amount, "before": before, "after": acct.balance,
            "at": at, "actor": actor, "reason": reason, "request": request,
        })
