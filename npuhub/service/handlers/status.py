"""What is going on: the queue, the pool, the caller's own status (``/me``) and menu (``/flavors``)."""

from __future__ import annotations

from ...admission.model import State
from ...shares import format_share
from ..base import BaseHandler
from ..models import account_view, menu_view, pool_view, queue_view

__all__ = ["FlavorsHandler", "MeHandler", "PoolHandler", "QueueHandler"]


class QueueHandler(BaseHandler):
    def get(self):
        adm = self.engine.current()
        self.send(queue_view(adm, self.engine.positions(), self.now(), self.caller))


class PoolHandler(BaseHandler):
    def get(self):
        self.send(pool_view(self.engine.current(), self.engine.available, self.engine.down_since))


class MeHandler(BaseHandler):
    async def get(self):
        caller = self.caller
        adm = self.engine.current()
        now = self.now()
        groups = set(caller.groups)
        mine = adm.active_of(caller.name)
        accounts = adm.accounts_of(caller.name, groups, None, now) if caller.kind == "user" else []
        for group in sorted(groups):
            acct = adm.budgets.peek(f"group:{group}", now)
            if acct is not None:
                accounts.append(acct)
        flavors = menu_view(adm.catalogue, groups, await self.ctx.flavor_limit(groups))["flavors"]
        self.send({
            "user": caller.name,
            "groups": sorted(groups),
            "max_share": format_share(adm.site.limits.max_share_for(groups)),
            "held_share": format_share(adm.held_by(caller.name)) if adm.held_by(caller.name) else "0",
            "holdings": [self.view(r) for r in mine if r.state is State.GRANTED],
            "waiting": [self.view(r) for r in mine if r.state is State.WAITING],
            "accounts": [account_view(a) for a in accounts],
            "flavors": flavors,
            "store": {"available": self.engine.available},
        })


class FlavorsHandler(BaseHandler):
    """The menu a person may start from: ``GET /flavors`` (mine), or ``?user=`` for the hub's spawner."""

    async def get(self):
        caller = self.caller
        user = self.query.get("user")
        if user is None or (caller.kind == "user" and user == caller.name):
            groups = sorted(caller.groups)
        else:
            caller.require_operate()
            given = self.query.get("group")
            groups = sorted(set(given)) if given else await self.groups_of(user)
        self.send(menu_view(self.engine.site.catalogue, groups, await self.ctx.flavor_limit(groups)))
