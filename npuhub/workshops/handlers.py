"""The workshop pages: teachers make, show and revoke codes; guests sign in with one."""

from __future__ import annotations

import asyncio
import math
from datetime import timedelta
from fractions import Fraction
from urllib.parse import urlencode

from tornado import web

from jupyterhub import orm
from jupyterhub.handlers import BaseHandler
from jupyterhub.scopes import Scope, has_scope
from jupyterhub.utils import url_path_join

from ..i18n import Text
from .menu import flavor_choices, flavor_names
from .participants import STATES as PARTICIPANT_STATES
from .participants import participants, summary
from .mixin import CODE_FIELD, NAME_FIELD, WorkshopCodesMixin, WorkshopSignInRefused
from .policy import (
    DISPLAY_NAME_MAX,
    MESSAGES,
    Workshop,
    WorkshopError,
    format_code,
    format_time,
    is_code,
    normalize_code,
    utcnow,
)

__all__ = ["workshop_handlers", "TEACH_SCOPE", "OPERATE_SCOPE"]

TEACH_SCOPE = "custom:npuhub:teach"
OPERATE_SCOPE = "custom:npuhub:operate"

STATES = {
    "upcoming": Text("未开始", "upcoming"),
    "open": Text("进行中", "open"),
    "ended": Text("已结束", "ended"),
    "revoked": Text("已撤销", "revoked"),
}


#: The fields of the form (and of the API's body) that make a workshop.
FORM_FIELDS = ("group", "starts_at", "ends_at", "flavor", "max_guests", "roster", "reserve", "materials_repo",
               "materials_branch", "materials_path", "budget_hours")


def workshop_handlers() -> list[tuple]:
    """The routes, below the hub's prefix (/hub/)."""
    return [
        (r"/join", JoinHandler),
        (r"/workshops", WorkshopsHandler),
        (r"/workshops/([^/]+)", WorkshopHandler),
        (r"/workshops/([^/]+)/revoke", RevokeHandler),
    ] + _api_handlers()


def _api_handlers() -> list[tuple]:
    from .api import api_handlers  # it builds on this module's Teaching

    return api_handlers()


class TeachingRefused(web.HTTPError):
    """A teacher's request refused by policy: pages show the sentence, the API answers it as the service does."""

    def __init__(self, error: WorkshopError):
        super().__init__(error.status, "%s", str(error.text))
        self.error = error


class Teaching:
    """What teachers' pages and the API share: who may act for which group comes from the caller's scopes."""

    @property
    def workshops(self) -> WorkshopCodesMixin:
        return self.authenticator

    def url(self, *parts: str) -> str:
        return url_path_join(self.hub.base_url, *parts)

    def when(self, moment) -> str:
        return format_time(moment, self.workshops.workshop_zone)

    def is_operator(self) -> bool:
        user = self.current_user
        return bool(getattr(user, "admin", False)) or has_scope(OPERATE_SCOPE, self.parsed_scopes)

    def may_teach(self, group: str) -> bool:
        """Does the signed-in person hold custom:npuhub:teach for ``group`` (or operate npuhub)?"""
        if self.is_operator():
            return True
        return bool(group) and has_scope(f"{TEACH_SCOPE}!group={group}", self.parsed_scopes)

    def taught_groups(self) -> list[str]:
        """The groups she may make codes for: hers, or every course and lab for admins."""
        teach = self.parsed_scopes.get(TEACH_SCOPE)
        if self.is_operator() or teach == Scope.ALL:
            hub_groups = [name for (name,) in self.db.query(orm.Group.name)]
            return sorted(self.workshops.class_groups(hub_groups))
        return sorted((teach or {}).get("group", ()))

    def require_teacher(self) -> list[str]:
        groups = self.taught_groups()
        if not groups:
            raise TeachingRefused(WorkshopError("not_a_teacher", status=403))
        return groups

    def find_workshop(self, code: str) -> Workshop:
        """The workshop of a code the teacher may manage; 404 or 403 otherwise."""
        workshop = self.workshops.workshop_store.get(normalize_code(code))
        if workshop is None:
            raise TeachingRefused(WorkshopError("workshop_not_found", status=404))
        if not self.may_teach(workshop.group):
            raise TeachingRefused(WorkshopError("not_teacher_of_group", status=403, group=workshop.group))
        return workshop

    def row(self, workshop: Workshop, names: dict[str, Text]) -> dict:
        """A workshop as the pages show it; its flavor's name from ``names`` (the service's), else its id."""
        flavor = workshop.flavor
        state = workshop.state(utcnow())
        materials = workshop.materials
        return {
            "roster": len(self.workshops.workshop_store.roster(workshop.code)),
            "materials": ({"repo": materials.repo, "branch": materials.branch, "urlpath": materials.urlpath,
                           "link": self.url("user-redirect", materials.server_path())}
                          if materials else None),
            "reserved_count": workshop.reserved_count,
            "reservation_id": workshop.reservation_id,
            "budget_device_hours": float(Fraction(workshop.budget_hours)) if workshop.budget_hours else None,
            "code": workshop.code,
            "shown": format_code(workshop.code),
            "group": workshop.group,
            "start": self.when(workshop.starts_at),
            "end": self.when(workshop.ends_at),
            "flavor": (names.get(flavor) or Text(flavor, flavor)) if flavor else None,
            "flavor_id": flavor,
            "guests": workshop.guests,
            "max_guests": workshop.max_guests,
            "state": state,
            "state_text": STATES[state],
            "url": self.url("workshops", workshop.code),
            "revoke_url": self.url("workshops", workshop.code, "revoke"),
            "join_url": self.join_url(workshop.code),
            "created_by": workshop.created_by,
        }

    def join_url(self, code: str) -> str:
        """The guests' page with the code filled in, as people reach the hub."""
        host = f"{self.request.protocol}://{self.request.host}"
        return host + self.url("join") + "?" + urlencode({"code": format_code(code)})

    async def revoke(self, workshop: Workshop) -> None:
        """End the workshop now: no more guests, its reservation's slices free, its guests removed soon."""
        self.workshops.workshop_store.revoke(workshop.code, by=self.current_user.name, now=utcnow())
        self.log.info("%s revoked workshop code %s (%s)", self.current_user.name, workshop.code,
                      workshop.group)
        if workshop.reservation_id and workshop.revoked_at is None:
            await self.workshops.workshop_menus.cancel_reservation(workshop.reservation_id)
        cleanup = self.workshops.workshop_cleanup
        if cleanup is not None:  # now rather than at its next tick; failures are its to retry and log
            cleanup.run_soon()

    async def participant_view(self, workshop: Workshop) -> tuple[list[dict], dict]:
        """Each participant's state and the workshop's counts; the service's part left out if it is away."""
        try:
            requests = (await self.workshops.workshop_menus.requests()) if workshop.state(utcnow()) != "upcoming" \
                else []
        except WorkshopError as e:
            self.log.warning("Workshop %s: participants without the service's queue and usage: %s",
                             workshop.code, e)
            requests = []
        store = self.workshops.workshop_store
        people = participants(workshop, store.roster(workshop.code), store.guests(workshop.code),
                              self.find_user, requests, utcnow())
        return [p.view() for p in people], summary(people, workshop)


class _WorkshopPage(Teaching, BaseHandler):
    async def page(self, template: str, status: int = 200, **ns) -> None:
        self.set_status(status)
        self.finish(await self.render_template(template, zone=str(self.workshops.workshop_zone), **ns))


class _TeacherPage(_WorkshopPage):
    """Pages for teachers."""


class WorkshopsHandler(_TeacherPage):
    """GET: the teacher's codes and the form for a new one. POST: make a code."""

    async def render_list(self, groups: list[str], status: int = 200, error: WorkshopError | None = None,
                          form: dict | None = None) -> None:
        now = utcnow().astimezone(self.workshops.workshop_zone).replace(second=0, microsecond=0)
        form = form or {
            "group": groups[0] if len(groups) == 1 else "",
            "starts_at": now.strftime("%Y-%m-%dT%H:%M"),
            "ends_at": (now + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M"),
            "flavor": "",
            "max_guests": "",
            "roster": "",
            "reserve": "",
            "materials_repo": "",
            "materials_branch": "",
            "materials_path": "",
            "budget_hours": "",
        }
        workshops = self.workshops.workshop_store.list(None if self.is_operator() else groups)
        menus = self.workshops.workshop_menus
        user = self.current_user.name
        try:
            union, by_group = await asyncio.gather(
                menus.union(user, set(groups) | {w.group for w in workshops if w.flavor}),
                menus.of_groups(user, groups))
        except WorkshopError as e:
            # the codes can still be listed, revoked, and made for "any flavor of the course"
            self.log.warning("Workshop page of %s without the flavors: %s", user, e)
            union, by_group = [], {}
            if error is None:
                status, error = e.status, e
        names = flavor_names(union)
        await self.page(
            "workshops.html", status,
            groups=groups,
            flavors=flavor_choices(union, by_group),
            workshops=[self.row(w, names) for w in workshops],
            form=form,
            error=error,
            max_guests_limit=self.workshops.max_guests_limit,
            default_max_guests=min(self.workshops.default_max_guests, self.workshops.max_guests_limit),
        )

    @web.authenticated
    async def get(self):
        await self.render_list(self.require_teacher())

    @web.authenticated
    async def post(self):
        groups = self.require_teacher()
        form = {name: self.get_body_argument(name, "") for name in FORM_FIELDS}
        for upload in self.request.files.get("roster_file", []):  # a CSV of university IDs, beside the text
            form["roster"] = (form["roster"] + "\n" + upload.body.decode("utf-8", "replace")).strip()
        try:
            workshop = await self.workshops.create_workshop(
                creator=self.current_user.name, may_teach=self.may_teach, **form)
        except WorkshopError as e:
            self.log.info("%s: workshop code refused: %s", self.current_user.name, e.reason)
            return await self.render_list(groups, e.status, e, form)
        self.log.info("%s made workshop code %s for %s (%s to %s, flavor %s, at most %s guests)",
                      self.current_user.name, workshop.code, workshop.group, workshop.starts_at,
                      workshop.ends_at, workshop.flavor or "any", workshop.max_guests or "any number of")
        self.redirect(self.url("workshops", workshop.code), status=303)


class WorkshopHandler(_TeacherPage):
    """GET: one code, large enough to read from the back of the room, with its guests."""

    @web.authenticated
    async def get(self, code):
        workshop = self.find_workshop(code)
        over = workshop.over(utcnow())
        guests = []
        for g in self.workshops.workshop_store.guests(workshop.code):
            # the hub's word first: an admin may have removed her before the clean-up's next run
            removed = g.removed_at is not None or self.find_user(g.username) is None
            guests.append({"display_name": g.display_name, "username": g.username,
                           "signed_in": self.when(g.signed_in_at), "removed": removed,
                           "removing": over and not removed})
        removing = sum(g["removing"] for g in guests)
        notices = []
        if removing:
            notices.append(("guests_being_removed", MESSAGES["guests_being_removed"].format(n=removing)))
        names = {}
        if workshop.flavor:
            try:
                names = flavor_names(await self.workshops.workshop_menus.of_group(self.current_user.name,
                                                                                  workshop.group))
            except WorkshopError as e:  # the code is shown all the same, its flavor by id
                self.log.warning("Workshop %s shown without its flavor's name: %s", workshop.code, e)
                notices.append((e.reason, e.text))
        people, counts = await self.participant_view(workshop)
        await self.page("workshop.html", workshop=self.row(workshop, names), guests=guests, notices=notices,
                        participants=people, counts=counts, states=PARTICIPANT_STATES)


class RevokeHandler(_TeacherPage):
    """POST: revoke a code now, and answer at once: the clean-up stops and removes its guests."""

    @web.authenticated
    async def post(self, code):
        workshop = self.find_workshop(code)
        await self.revoke(workshop)
        self.redirect(self.url("workshops", workshop.code), status=303)


class JoinHandler(_WorkshopPage):
    """GET: the guests' sign-in page (``?code=`` fills the code in). POST: sign in with a code and a name."""

    async def get(self):
        user = self.current_user
        guest = self.workshops.workshop_guest(user.name) if user is not None else None
        if guest is not None and guest.removed_at is None:
            # Signed in already (the link again, from the projector): joining again would make a second account.
            return self.redirect(self.get_next_url(user))
        typed = normalize_code(self.get_argument("code", ""))
        await self.page("join.html", code=format_code(typed) if is_code(typed) else typed, display_name="",
                        error=None, name_max=DISPLAY_NAME_MAX)

    async def post(self):
        code = self.get_body_argument(CODE_FIELD, "")
        name = self.get_body_argument(NAME_FIELD, "")
        throttle, client = self.workshops.join_throttle, self.request.remote_ip
        wait = throttle.retry_after(client)
        if wait is not None:
            seconds = math.ceil(wait)
            self.set_header("Retry-After", str(seconds))
            self.log.info("Workshop sign-in from %s held back %d s after wrong codes", client, seconds)
            return await self.refuse(WorkshopError("join_throttled", status=429, seconds=seconds), code, name)
        try:
            user = await self.login_user({CODE_FIELD: code, NAME_FIELD: name})
        except WorkshopSignInRefused as e:
            self.log.info("Workshop sign-in refused (%s)", e.error.reason)
            if e.error.reason == "code_unknown":
                throttle.wrong_code(client)
            return await self.refuse(e.error, code, name)
        if user is None:  # refused by the authenticator's own checks (blocked_users, ...)
            raise web.HTTPError(403)
        self._jupyterhub_user = user
        self.redirect(self.get_next_url(user))

    async def refuse(self, error: WorkshopError, code: str, name: str) -> None:
        await self.page("join.html", error.status, code=code[:20], error=error,
                        display_name=name[:DISPLAY_NAME_MAX], name_max=DISPLAY_NAME_MAX)
