"""Budgets: an account (``/accounts/{account}``), adjusting it (operators), and the ledger."""

from __future__ import annotations

import re
from fractions import Fraction

from ...i18n import message
from ..auth import OPERATE
from ..base import BaseHandler
from ..errors import APIError
from ..models import account_view, ledger_view
from ..openapi import ACCOUNT_PATTERN
from ..validation import parse_time

__all__ = ["AccountHandler", "AdjustmentsHandler", "LedgerHandler", "WindowBudgetsHandler"]

_ACCOUNT = re.compile(ACCOUNT_PATTERN)
HOUR = Fraction(3600)


class _AccountMixin:
    async def rule_for(self, name: str):
        """The rule an account has or would have; None when it has no budget."""
        adm = self.engine.current()
        kind, _, who = name.partition(":")
        existing = adm.budgets.accounts.get(name)
        if existing is not None:
            return existing.rule
        if kind == "group":
            return adm.budgets.rule_for(name)
        if self.caller.kind == "user" and who == self.caller.name:
            return adm.budgets.user_rule(self.caller.groups)
        return adm.budgets.user_rule(await self.groups_of(who))

    def check_account(self, name: str) -> None:
        if not _ACCOUNT.match(name):
            raise APIError(404, "account_unknown", message("account_unknown", account=name[:300]))
        if not self.caller.may_see_account(name):
            raise APIError(403, "permission_denied", message("permission_denied", scope=OPERATE))


class AccountHandler(_AccountMixin, BaseHandler):
    async def get(self, name: str):
        self.check_account(name)
        rule = await self.rule_for(name)
        if rule is None:
            raise APIError(404, "account_unknown", message("account_unknown", account=name))
        self.send(account_view(self.engine.current().budgets.peek(name, self.now(), rule)))


class AdjustmentsHandler(_AccountMixin, BaseHandler):
    async def post(self, name: str):
        self.caller.require_operate()
        self.check_account(name)
        body = self.json_body()
        amount = Fraction(body["device_hours"]) * HOUR
        if amount == 0 or abs(amount) > 10**6 * HOUR:  # the schema's pattern says so too; kept as the rule's home
            raise APIError(400, "body_invalid", message("body_invalid",
                                                        detail="device_hours must be non-zero and at most 1000000"))
        rule = await self.rule_for(name)
        if rule is None:
            raise APIError(404, "account_unknown", message("account_unknown", account=name))
        actor = self.caller.name

        def adjust(adm):
            now = self.now()
            adm.budgets.account(name, now, rule)
            adm.budgets.adjust(name, amount, now, actor, body["reason"])

        await self.engine.change(adjust, "adjust")
        entry = self.engine.read_store(self.engine.store.ledger, name, limit=1)[0]
        self.ctx.log.info("%s adjusted %s by %s device-hours: %s", actor, name, amount / HOUR, body["reason"])
        self.send(ledger_view(entry), 201)


class LedgerHandler(BaseHandler):
    def get(self):
        caller = self.caller
        account = self.query.get("account")
        limit = self.query["limit"]
        store = self.engine.store
        if account is not None:
            if not caller.may_see_account(account):
                raise APIError(403, "permission_denied", message("permission_denied", scope=OPERATE))
            entries = self.engine.read_store(store.ledger, account, limit=limit)
        elif caller.operates:
            entries = self.engine.read_store(store.ledger, None, limit=limit)
        else:
            names = [f"user:{caller.name}"] if caller.kind == "user" else []
            names += [f"group:{g}" for g in sorted(caller.groups | {t for t in caller.teaches if t != "*"})]
            entries = []
            for name in names:
                entries += self.engine.read_store(store.ledger, name, limit=limit)
            entries.sort(key=lambda e: e["id"], reverse=True)
            entries = entries[:limit]
        self.send({"entries": [ledger_view(e) for e in entries]})


class WindowBudgetsHandler(BaseHandler):
    async def post(self):
        """A workshop's budget for its window (``Budgets.open_window``); asking again answers the same account."""
        body = self.json_body()
        group = body["group"]
        if not self.caller.may_manage_reservation(group):
            raise APIError(403, "permission_denied",
                           message("permission_denied", scope=f"custom:npuhub:teach!group={group}"))
        amount = Fraction(body["device_hours"])
        starts, ends = parse_time(body["starts"], "starts"), parse_time(body["ends"], "ends")
        if amount <= 0 or amount > 10**6 or ends <= starts or ends <= self.now():
            raise APIError(400, "body_invalid", message("body_invalid", detail="device_hours must be above 0 and "
                                                        "at most 1000000, and ends after starts and now"))
        name = f"group:{group}@{body['id']}"
        if len(name) > 255:
            raise APIError(400, "body_invalid", message("body_invalid", detail="group and id are too long"))
        existed = name in self.engine.current().budgets.accounts
        actor = self.caller.name

        def open_window(adm):
            return adm.budgets.open_window(name, group, amount, starts, ends, self.now(), actor)

        acct = await self.engine.change(open_window, "adjust")
        if not existed:
            self.ctx.log.info("%s opened %s: %s device-hours from %s to %s", actor, name, amount,
                              body["starts"], body["ends"])
        self.send(account_view(acct), 200 if existed else 201)
