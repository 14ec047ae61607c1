"""JSON views of the admission's objects for the API: requests, the queue, the pool, budgets, reservations.

Amounts of device-time are shown in device-hours, both as a number for
display and as the exact fraction the ledger keeps (``{"device_hours": 0.25,
"exact": "1/4"}``). Times are ISO 8601 in UTC.
"""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction

from ..admission.core import Admission
from ..admission.model import Decision, Request, Reservation, State
from ..admission.quota import Account
from ..flavors import Flavor, FlavorCatalogue
from ..launch import launch_view
from ..i18n import MESSAGES, Text, message
from ..shares import format_share, share_label
from .auth import Caller
from .errors import iso

__all__ = [
    "account_view",
    "hours",
    "menu_view",
    "flavor_view",
    "ledger_view",
    "pool_view",
    "queue_view",
    "request_view",
    "reservation_view",
]

HOUR = Fraction(3600)


def hours(device_seconds) -> dict:
    value = Fraction(device_seconds) / HOUR
    return {"device_hours": float(value), "exact": str(value)}


def share_text(share: Fraction) -> str:
    return format_share(share) if share else "0"


def ordinal(n: int) -> str:
    if 10 <= n % 100 <= 20:
        suffix = "th"
    else:
        suffix = {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def eta_text(eta: float | None, now: float) -> Text:
    if eta is None:
        return MESSAGES["eta_unknown"]
    minutes = round((eta - now) / 60)
    if minutes < 1:
        return MESSAGES["eta_soon"]
    return message("eta_minutes", minutes=minutes)


def status_text(req: Request, decision: Decision | None, catalogue: FlavorCatalogue, now: float) -> Text | None:
    """The state of a request in words, as the spawn page shows it while it waits."""
    if req.state is State.WAITING and decision is not None:
        flavor = catalogue.get(req.flavor)
        name = flavor.name if flavor is not None else Text(req.flavor, req.flavor)
        return message("waiting", flavor=name, position=decision.position, ordinal=ordinal(decision.position or 0),
                       eta=eta_text(decision.eta, now))
    if req.state is State.GRANTED:
        if req.grant is None:
            return MESSAGES["granted_cpu"]
        return message("granted", share=share_label(req.grant.share), model=req.grant.model,
                       node=req.grant.node or "-", devices=", ".join(str(d) for d in req.grant.devices))
    if req.state.final:
        return ended_text(req)
    return None


def ended_text(req: Request) -> Text:
    """Why a request ended, as the person whose request it was reads it."""
    reason = req.reason or ""
    if reason == "cancelled":
        if req.ended_by and req.ended_by != req.user:
            return message("ended_cancelled_by", who=req.ended_by)
        return MESSAGES["ended_cancelled"]
    key = f"ended_{reason}"
    if key in MESSAGES:
        return MESSAGES[key]
    if reason in MESSAGES:  # a refusal's own sentence (queue_timeout, pool_no_model, ...)
        return MESSAGES[reason]
    return MESSAGES["ended_stopped"] if req.state is State.RELEASED else message("ended_other", reason=reason or "-")


def grant_view(req: Request) -> dict | None:
    if req.grant is None:
        return None
    g = req.grant
    return {"node": g.node, "model": g.model, "share": share_text(g.share), "devices": g.devices,
            "slices": [s.to_dict() for s in g.slices]}


def launch_of(adm: Admission, req: Request) -> dict | None:
    """What the granted server is started with (``npuhub.launch``); None until granted."""
    if req.state is not State.GRANTED:
        return None
    flavor = adm.catalogue.get(req.flavor)
    if flavor is None:
        return None
    vendor = adm.pool.vendor_of(req.grant.model) if req.grant is not None else None
    backend = adm.site.backends.get(req.grant.model if req.grant is not None else None)
    return launch_view(flavor, req.grant, vendor, req.id, backend)


def flavor_view(flavor: Flavor, default_id: str | None) -> dict:
    """One entry of a person's menu: names and description in both languages, size and price per hour."""
    description = flavor.description or flavor.resources
    return {
        "id": flavor.id,
        "name": str(flavor.name),
        "names": {"zh": flavor.name.zh, "en": flavor.name.en},
        "description": {"zh": description.zh, "en": description.en},
        "share": share_text(flavor.share),
        "model": flavor.device_model,
        "cpu": flavor.cpu,
        "memory": flavor.memory,
        "price": hours(flavor.device_hours_per_hour * HOUR),
        "default": flavor.id == default_id,
    }


def menu_view(catalogue: FlavorCatalogue, groups: Iterable[str], only: frozenset[str] | None = None) -> dict:
    """The flavors members of ``groups`` may start, in menu order, and which one is preselected.

    ``only``: the limit their groups' properties set (``flavors.flavor_limit``), None for none.
    """
    groups = set(groups)
    default = catalogue.default_for(groups, only)
    default_id = default.id if default is not None else None
    return {"flavors": [flavor_view(f, default_id) for f in catalogue.for_groups(groups, only)],
            "default": default_id}


def request_view(req: Request, *, now: float, adm: Admission, decision: Decision | None = None,
                 warnings: list[dict] | None = None) -> dict:
    waiting = req.state is State.WAITING and decision is not None
    eta = decision.eta if waiting else None
    text = status_text(req, decision, adm.catalogue, now)
    return {
        "id": req.id,
        "user": req.user,
        "server": req.server,
        "groups": sorted(req.groups),
        "flavor": req.flavor,
        "model": req.model,
        "share": share_text(req.share),
        "state": req.state.value,
        "reason": req.reason,
        "position": decision.position if waiting else None,
        "eta": iso(eta),
        "eta_seconds": max(0.0, round(eta - now, 1)) if eta is not None else None,
        "message": {"zh": text.zh, "en": text.en} if text is not None else None,
        "ended_by": req.ended_by,
        "arrived": iso(req.arrived),
        "granted_at": iso(req.granted_at),
        "ended_at": iso(req.ended_at),
        "grant": grant_view(req),
        "launch": launch_of(adm, req),
        "account": adm.account_of(req),
        "reservation": req.reservation,
        "charged": hours(req.charged),
        "over_budget": adm.over_budget(req, now),
        "warnings": list(warnings or []),
        "cluster": req.cluster,
    }


def queue_view(adm: Admission, positions: dict[str, Decision], now: float, caller: Caller) -> dict:
    """The waiting requests in serving order; names and ids only where the caller may see them."""
    entries = []
    for req in adm.queue():
        decision = positions.get(req.id)
        visible = caller.may_see_request(req.user, req.groups)
        eta = decision.eta if decision else None
        entries.append({
            "position": decision.position if decision else 0,
            "flavor": req.flavor,
            "model": req.model,
            "share": share_text(req.share),
            "arrived": iso(req.arrived),
            "eta": iso(eta),
            "eta_seconds": max(0.0, round(eta - now, 1)) if eta is not None else None,
            "reserved": adm.reserved_for(req, now),
            "mine": caller.kind == "user" and req.user == caller.name,
            "user": req.user if visible else None,
            "id": req.id if visible else None,
        })
    return {"length": len(entries), "queue": entries}


def pool_view(adm: Admission, available: bool, down_since: float | None) -> dict:
    placeholders = adm.reserved()
    waiting: dict[str | None, int] = {}
    for req in adm.waiting():
        waiting[req.model] = waiting.get(req.model, 0) + 1
    models = []
    for model, vendor in sorted(adm.pool.models.items()):
        capacity, held = adm.pool.capacity(model), adm.pool.held(model)
        models.append({"model": model, "vendor": vendor, "capacity": str(capacity), "held": str(held),
                       "free": str(capacity - held), "reserved": str(placeholders.get(model, Fraction(0))),
                       "waiting": waiting.get(model, 0), "held_apart": str(adm.pool.held_apart(model))})
    nodes = []
    for name, node in adm.pool.nodes.items():
        devices = []
        for index in adm.pool.node_devices(name):
            used = adm.pool.used(name, index)
            offered = index < node.devices
            devices.append({"index": index, "used": str(used), "free": str(1 - used) if offered else "0",
                            "draining": not offered})
        nodes.append({"name": name, "model": node.model, "vendor": node.vendor,
                      "state": "schedulable" if node.schedulable else "cordoned",
                      "devices": devices, "requests": [r.id for r in adm.on_node(name)]})
    lost = [{"name": name, "model": entry["model"], "state": "lost", "lost_at": iso(entry["at"]),
             "requests": list(entry["requests"])}
            for name, entry in reversed(list(adm.lost_nodes.items()))]
    return {"models": models, "nodes": nodes, "lost_nodes": lost,
            "store": {"available": available, "down_since": iso(down_since)}}


def account_view(acct: Account) -> dict:
    return {
        "name": acct.name,
        "balance": hours(acct.balance),
        "grant_per_period": hours(acct.rule.grant()),
        "cap": hours(acct.rule.limit()),
        "period": acct.rule.period,
        "renews_at": iso(acct.period_end),
        "spent": acct.balance <= 0,
    }


def ledger_view(entry: dict) -> dict:
    return {
        "id": int(entry["id"]),
        "account": entry["account"],
        "kind": entry["kind"],
        "amount": hours(Fraction(entry["amount"])),
        "before": hours(Fraction(entry["before"])),
        "after": hours(Fraction(entry["after"])),
        "at": iso(entry["at"]),
        "actor": entry["actor"],
        "reason": entry["reason"],
        "request": entry.get("request"),
    }


def reservation_view(adm: Admission, res: Reservation, now: float) -> dict:
    use = adm.reservation_use(res.id, now)
    return {
        "id": res.id,
        "group": res.group,
        "flavor": res.flavor,
        "count": res.count,
        "starts": iso(res.starts),
        "ends": iso(res.ends),
        "hold_seconds": res.hold,
        "created_by": res.created_by,
        "active": res.active(now),
        "in_use": use.in_use,
        "held": use.held,
        "lent": use.lent,
    }
