"""The workshops' REST API in the hub (``/hub/api/npuhub/workshops``): what the teacher's page does, for programs
and ``npuhub workshop``. Authenticated like JupyterHub's own API (a token, or the hub's cookie with XSRF); a
teacher sees and makes her own courses' workshops, operators and admins every one."""

from __future__ import annotations

import json

from tornado import web

from jupyterhub.apihandlers.base import APIHandler

from .handlers import FORM_FIELDS, Teaching, TeachingRefused
from .policy import WorkshopError, utcnow

__all__ = ["api_handlers"]


def api_handlers() -> list[tuple]:
    return [
        (r"/api/npuhub/workshops", WorkshopsAPIHandler),
        (r"/api/npuhub/workshops/([^/]+)", WorkshopAPIHandler),
    ]


class _API(Teaching, APIHandler):
    def refuse(self, error: WorkshopError) -> None:
        """A policy refusal as JSON, shaped as the npuhub service's: the reason and the sentence in both languages."""
        self.set_status(error.status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps({"status": error.status, "reason": error.reason, "error": str(error.text),
                                "message": {"zh": error.text.zh, "en": error.text.en}}, ensure_ascii=False))

    def write_error(self, status_code, **kwargs):
        exc = (kwargs.get("exc_info") or (None, None, None))[1]
        if isinstance(exc, TeachingRefused):
            self.clear()
            return self.refuse(exc.error)
        return super().write_error(status_code, **kwargs)

    def view(self, workshop, names=None) -> dict:
        row = self.row(workshop, names or {})
        flavor = row.pop("flavor")
        row["flavor_name"] = {"zh": flavor.zh, "en": flavor.en} if flavor else None
        text = row.pop("state_text")
        row["state_text"] = {"zh": text.zh, "en": text.en}
        row["starts_at"] = workshop.starts_at.isoformat().replace("+00:00", "Z")
        row["ends_at"] = workshop.ends_at.isoformat().replace("+00:00", "Z")
        return row


class WorkshopsAPIHandler(_API):
    @web.authenticated
    async def get(self):
        groups = self.require_teacher()
        listed = self.workshops.workshop_store.list(None if self.is_operator() else groups)
        self.finish(json.dumps({"workshops": [self.view(w) for w in listed]}, ensure_ascii=False))

    @web.authenticated
    async def post(self):
        self.require_teacher()
        try:
            body = json.loads(self.request.body or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise web.HTTPError(400, "The body must be a JSON object / 请求内容必须是 JSON 对象")
        unknown = set(body) - set(FORM_FIELDS)
        if unknown:
            raise web.HTTPError(400, "Unknown fields / 未知字段: %s", ", ".join(sorted(unknown))[:200])
        form = {}
        for name in FORM_FIELDS:
            value = body.get(name, "")
            if name == "roster" and isinstance(value, list):
                value = "\n".join(str(v) for v in value)
            form[name] = "" if value is None else str(value)
        try:
            workshop = await self.workshops.create_workshop(creator=self.current_user.name,
                                                            may_teach=self.may_teach, **form)
        except WorkshopError as e:
            self.log.info("%s: workshop refused (API): %s", self.current_user.name, e.reason)
            return self.refuse(e)
        self.log.info("%s made workshop %s for %s through the API (%d on the roster, %s reserved)",
                      self.current_user.name, workshop.code, workshop.group,
                      len(self.workshops.workshop_store.roster(workshop.code)), workshop.reserved_count or 0)
        self.set_status(201)
        self.finish(json.dumps(self.view(workshop), ensure_ascii=False))


class WorkshopAPIHandler(_API):
    @web.authenticated
    async def get(self, code):
        workshop = self.find_workshop(code)
        people, counts = await self.participant_view(workshop)
        self.finish(json.dumps({**self.view(workshop), "now": utcnow().isoformat().replace("+00:00", "Z"),
                                "summary": counts, "participants": people}, ensure_ascii=False))

    @web.authenticated
    async def delete(self, code):
        """Revoke: the workshop ends now (its reservation too); its guests are removed within a minute."""
        workshop = self.find_workshop(code)
        await self.revoke(workshop)
        self.set_status(204)
        self.finish()
