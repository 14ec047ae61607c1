"""Announcements: banners with a window, for everyone or one course (``/announcements``, ``/announcements/{id}``)."""

from __future__ import annotations

from sqlalchemy.exc import SQLAlchemyError

from ...announcements.policy import Announcement, AnnouncementError, check_window, clean_text, parse_scope
from ...i18n import message
from ..auth import OPERATE
from ..base import BaseHandler
from ..errors import APIError, iso
from ..validation import parse_time

__all__ = ["AnnouncementHandler", "AnnouncementsHandler", "announcement_view"]


def announcement_view(a: Announcement) -> dict:
    return {"id": a.id, "text": {"zh": a.text.zh, "en": a.text.en}, "starts": iso(a.starts), "ends": iso(a.ends),
            "scope": a.scope, "author": a.author}


class _Announcements(BaseHandler):
    @property
    def store(self):
        if self.ctx.announcements is None:
            raise APIError(404, "not_found", message("not_found", path=self.request.path[:200]))
        return self.ctx.announcements

    def stored(self, fn, *args, **kwargs):
        """A call to the store; 503 (nothing changed) when the database cannot be reached."""
        try:
            return fn(*args, **kwargs)
        except SQLAlchemyError as e:
            self.ctx.log.warning("announcements: database unreachable (%s)", type(e).__name__)
            raise self.engine.unavailable("read") from None

    def check_may_manage(self, group: str | None) -> None:
        if group is None:
            if not self.caller.operates:
                raise AnnouncementError("announcement_not_allowed_all", status=403)
        elif not self.caller.teaches_group(group):
            raise AnnouncementError("announcement_not_allowed_group", status=403, group=group[:80])


class AnnouncementsHandler(_Announcements):
    async def get(self):
        caller = self.caller
        everyone = self.query.get("everyone", False)
        user = self.query.get("user")
        if (everyone or (user and user != caller.name)) and not caller.operates:
            raise APIError(403, "permission_denied", message("permission_denied", scope=OPERATE))
        shown = self.stored(self.store.current, self.now(), upcoming=self.query.get("upcoming", False))
        if not everyone:
            if user and user != caller.name:
                groups = set(await self.groups_of(user))
            else:
                groups = set(caller.groups) | {g for g in caller.teaches if g != "*"}
            shown = [a for a in shown if a.meant_for(groups) or (a.group is not None and caller.teaches_group(a.group)
                                                                and not user)]
        self.send({"announcements": [announcement_view(a) for a in shown]})

    async def post(self):
        body = self.json_body()
        now = self.now()
        group = parse_scope(body["scope"])
        self.check_may_manage(group)
        text = clean_text(body["text"])
        starts = parse_time(body["starts"], "starts") if body.get("starts") else now
        ends = parse_time(body["ends"], "ends")
        check_window(starts, ends, now)
        new = self.stored(self.store.add, text=text, starts=starts, ends=ends, group=group,
                          author=self.caller.name, now=now)
        self.ctx.log.info("%s posted announcement %s for %s from %s to %s", self.caller.name, new.id, new.scope,
                          iso(starts), iso(ends))
        self.send(announcement_view(new), 201)


class AnnouncementHandler(_Announcements):
    async def delete(self, announcement_id: str):
        found = self.stored(self.store.get, announcement_id)
        if found is None or found.removed_at is not None:
            raise AnnouncementError("announcement_unknown", status=404, id=announcement_id[:70])
        if found.author != self.caller.name:
            self.check_may_manage(found.group)
        self.stored(self.store.remove, announcement_id, by=self.caller.name, now=self.now())
        self.ctx.log.info("%s removed announcement %s (%s)", self.caller.name, announcement_id, found.scope)
        self.set_status(204)
        self.clear_header("Content-Type")
        self.finish()
