"""WorkshopPlanning: what a workshop is beyond its code (roster, reservation, materials, budget), for the
authenticator that has workshop codes (``WorkshopCodesMixin`` builds on it).

- A roster lists university accounts: while the workshop is open, their
  sign-in puts them in its course group (``with_roster_groups``).
- A flavor and a count are held for the course from the window's start: a
  reservation at the npuhub service, made with the hub's own token once the
  teacher's right to the course is checked (``create_workshop``).
- Materials are a git repository: the participants' servers open on
  nbgitpuller's link, which pulls it into the home directory (``open_with_materials``).
- A budget in device-hours is kept with the workshop and shown beside the
  participants' use (``participants.summary``).
"""

from __future__ import annotations

from traitlets import Float
from traitlets.config import LoggingConfigurable

from .policy import Workshop, WorkshopError, check_flavor, check_window, parse_max_guests, parse_time, utcnow
from .roster import parse_budget, parse_materials, parse_reserve, parse_roster

__all__ = ["WorkshopPlanning"]


class WorkshopPlanning(LoggingConfigurable):
    """The methods ``WorkshopCodesMixin`` uses for a workshop's roster, reservation and materials."""

    reserve_hold_minutes = Float(
        30,
        config=True,
        help="""Minutes from a workshop's start during which its reserved slices wait for its participants.

        After that, slices no participant took are lent to anyone (the
        service's ``hold_seconds``); a participant who stops gives hers back
        to the reservation until then.
        """,
    )

    def with_roster_groups(self, name: str, model: dict) -> dict:
        """The auth model with the course group of every open workshop whose roster lists ``name``.

        Only when the authenticator says which groups she has (``groups`` in the
        model): with ``manage_groups`` that list replaces her hub groups.
        """
        if "groups" not in model or model["groups"] is None:
            return model
        courses = [w.group for w in self.workshop_store.open_for(name, utcnow())]
        added = [g for g in dict.fromkeys(courses) if g not in model["groups"]]
        if added:
            self.log.info("%s is on the roster of a workshop of %s: in that course while it is open",
                          name, ", ".join(added))
            model["groups"] = [*model["groups"], *added]
        return model

    def open_with_materials(self, spawner, open_workshops: list[Workshop]) -> None:
        """The server opens on nbgitpuller's link when one of her open workshops has materials, else as before.

        ``Spawner.default_url`` is where the server sends whoever opens its
        root: the hub sends her there after the start, so the first page she
        sees pulls the repository into her home directory (and later opens
        merge the teacher's changes without touching hers), then opens the
        workshop's notebook. Once no workshop of hers is open, the server
        opens where it did before.
        """
        materials = next((w.materials for w in open_workshops if w.materials is not None), None)
        before = getattr(spawner, "_npuhub_default_url", None)
        if materials is None:
            if before is not None:
                spawner.default_url = before
                del spawner._npuhub_default_url
            return
        if before is None:
            spawner._npuhub_default_url = spawner.default_url
        spawner.default_url = "/" + materials.server_path()
        self.log.info("%s's server opens on the workshop's materials (%s, %s)", spawner.user.name,
                      materials.repo, materials.branch)

    async def create_workshop(self, *, creator: str, may_teach, group: str, starts_at: str, ends_at: str,
                              flavor: str = "", max_guests: str = "", roster: str = "", reserve: str = "",
                              materials_repo: str = "", materials_branch: str = "", materials_path: str = "",
                              budget_hours: str = "") -> Workshop:
        """A new code from the teacher's form. ``may_teach(group)`` says whether the creator teaches it.

        A flavor must be on the group's menu, which the npuhub service gives.
        Raises WorkshopError (403 for a group she does not teach, 503 when the
        service does not answer, else 400).
        """
        group = (group or "").strip()
        if not may_teach(group):
            raise WorkshopError("not_teacher_of_group", status=403, group=group[:80])
        if self.workshop_mapping.kind_of(group) not in ("course", "lab"):
            raise WorkshopError("group_not_a_class", group=group[:80])
        now = utcnow()
        start = parse_time(starts_at, self.workshop_zone) if (starts_at or "").strip() else now
        end = parse_time(ends_at, self.workshop_zone)
        check_window(start, end, now, self.max_window_hours)
        limit = parse_max_guests(max_guests, self.max_guests_limit,
                                 default=min(self.default_max_guests, self.max_guests_limit) or None)
        flavor = (flavor or "").strip()
        names = parse_roster(roster, self.normalize_username)
        materials = parse_materials(materials_repo, materials_branch, materials_path)
        count = parse_reserve(reserve, flavor)
        budget = parse_budget(budget_hours)
        # only a code held to one flavor needs the service: without one, the guests' starts ask it anyway
        menu = await self.workshop_menus.of_group(creator, group) if flavor else []
        flavor = check_flavor(menu, flavor, group)
        reservation = await self.workshop_menus.reserve(group, flavor, count, start, end,
                                                        hold_seconds=self.reserve_hold_minutes * 60) if count else None
        try:
            workshop = self.workshop_store.create(
                group=group, starts_at=start, ends_at=end, created_by=creator, now=now, flavor=flavor,
                max_guests=limit, roster=names, materials=materials, reserved_count=count, budget_hours=budget,
            )
        except BaseException:
            if reservation is not None:  # nothing held for a workshop that does not exist
                await self.workshop_menus.cancel_reservation(reservation["id"])
            raise
        if reservation is not None:
            self.workshop_store.set_reservation(workshop.code, reservation["id"])
            workshop = self.workshop_store.get(workshop.code)
        return workshop

