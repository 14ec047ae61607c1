"""The flavors a workshop may name, asked of the npuhub service: the hub keeps no copy of the site's."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from urllib.parse import quote

from ..i18n import Text, message
from ..refusals import Refusal
from ..spawners.client import AdmissionClient, ServiceUnreachable
from .policy import WorkshopError

__all__ = ["WorkshopMenus", "flavor_choices", "flavor_names"]


class WorkshopMenus:
    """Asks the service (``GET /flavors?user=&group=``) what members of a group may start, at each page.

    Every method raises WorkshopError: ``service_unreachable`` (503) when the
    service does not answer or is not configured, else the service's own
    refusal (its reason, status and sentence).
    """

    def __init__(self, api_url: str, token: str, *, timeout: float = 10.0):
        self.client = AdmissionClient(api_url, token, timeout=timeout) if api_url else None

    async def _ask(self, call: Callable[[AdmissionClient], Awaitable[dict]]) -> dict:
        """``call(client)``'s answer; the service's silence or refusal as a WorkshopError."""
        if self.client is None:
            raise WorkshopError("service_unreachable", status=503, text=message("service_not_configured"))
        try:
            return await call(self.client)
        except ServiceUnreachable:
            raise WorkshopError("service_unreachable", status=503,
                                text=message("service_unreachable")) from None
        except Refusal as e:
            raise WorkshopError(e.reason, status=e.status, text=e.text) from None

    async def _menu(self, user: str, groups: Iterable[str]) -> list[dict]:
        answer = await self._ask(lambda client: client.menu(user, sorted(set(groups))))
        return list(answer.get("flavors") or [])

    async def reserve(self, group: str, flavor: str, count: int, starts, ends, *, hold_seconds: float) -> dict:
        """Hold ``count`` slices of ``flavor`` for ``group`` from ``starts`` to ``ends`` (the service's reservation).

        The hub asks with its own operator token once it has checked that the
        teacher teaches ``group``. Raises WorkshopError with the service's own
        sentence (e.g. a flavor without an accelerator cannot be reserved).
        """
        body = {"group": group, "flavor": flavor, "count": count,
                "starts": starts.isoformat(), "ends": ends.isoformat(), "hold_seconds": float(hold_seconds)}
        return await self._ask(lambda client: client.post("/reservations", body))

    async def window_budget(self, budget_id: str, group: str, device_hours: str, starts, ends) -> dict:
        """The workshop's budget at the service (``POST /window-budgets``): members of ``group`` starting
        between ``starts`` and ``ends`` draw on account ``group:<group>@<budget_id>`` until it is spent."""
        body = {"id": budget_id, "group": group, "device_hours": device_hours,
                "starts": starts.isoformat(), "ends": ends.isoformat()}
        return await self._ask(lambda client: client.post("/window-budgets", body))

    async def account(self, name: str) -> dict:
        """A budget account at the service (``GET /accounts/{name}``): a workshop's, for the teacher's view."""
        return await self._ask(lambda client: client.get(f"/accounts/{quote(name, safe=':@')}"))

    async def requests(self) -> list[dict]:
        """The service's newest requests of everyone (at most 1000): the teacher's view reads its participants'."""
        return list((await self._ask(lambda client: client.get("/requests?limit=1000"))).get("requests") or [])

    async def cancel_reservation(self, reservation_id: str) -> None:
        """End a reservation (a workshop that could not be made); a failure is the service's to time out."""
        if self.client is None:
            return
        try:
            await self.client.delete(f"/reservations/{reservation_id}")
        except (ServiceUnreachable, Refusal):
            pass

    async def of_group(self, user: str, group: str) -> list[dict]:
        """The menu of members of ``group`` (``user`` is who asks: the teacher)."""
        return await self._menu(user, [group])

    async def of_groups(self, user: str, groups: Sequence[str]) -> dict[str, list[dict]]:
        """Each group's own menu, asked at once."""
        menus = await asyncio.gather(*(self._menu(user, [g]) for g in groups))
        return dict(zip(groups, menus))

    async def union(self, user: str, groups: Iterable[str]) -> list[dict]:
        """Every flavor a member of any of ``groups`` may start, in the service's menu order."""
        groups = set(groups)
        return await self._menu(user, groups) if groups else []


def _name(entry: Mapping) -> Text:
    names = entry.get("names") or {}
    return Text(str(names.get("zh") or entry["id"]), str(names.get("en") or entry["id"]))


def flavor_names(menu: Iterable[Mapping]) -> dict[str, Text]:
    """Flavor id -> its name in both languages."""
    return {entry["id"]: _name(entry) for entry in menu}


def flavor_choices(union: Iterable[Mapping], menus: Mapping[str, Iterable[Mapping]]) -> list[dict]:
    """The new-code form's flavors: those of ``union`` (in its order) on a group's menu, with those groups.

    Each group's menu is its own answer from the service: a flavor open to
    everyone is on each of them.
    """
    members = {group: {entry["id"] for entry in menu} for group, menu in menus.items()}
    choices = []
    for entry in union:
        groups = [g for g in menus if entry["id"] in members[g]]
        if groups:
            choices.append({"id": entry["id"], "name": _name(entry), "groups": groups})
    return choices
