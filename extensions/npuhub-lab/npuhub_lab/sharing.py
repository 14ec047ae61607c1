"""Sharing this server through JupyterHub's own shares API, with the server's own token.

``GET/POST/PATCH {hub_api_url}shares/{owner}/{server}``: who has access (people
and groups), share with a person or a group, revoke. Only this server: the owner
and the server's name come from the spawner's environment, never from the
browser. The hub decides what is allowed (the token's ``shares!server=...`` and
``read:users:name`` / ``read:groups:name`` scopes, which npuhub's hub config
gives); its refusals come back as sentences in both languages. A group must be
one of the owner's (as the npuhub service knows them): the panel offers only
those, and a group of strangers is refused here too, whatever the hub allows.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from .config import NPUHubLab
from .errors import UpstreamError, sentence

__all__ = ["NAME_PATTERN", "ShareClient", "share_target"]

#: A person's or a group's name as the hub takes it in a path: no slash, no control character.
NAME_PATTERN = r"^[^/\x00-\x1f\x7f]{1,255}$"
_NAME = re.compile(NAME_PATTERN)


def share_target(kind: Any, name: Any) -> tuple[str, str]:
    """``("user" | "group", name)`` checked, or a 400 that says what to give."""
    if kind not in ("user", "group") or not isinstance(name, str):
        raise UpstreamError(400, "share_target_invalid")
    name = name.strip()
    if not _NAME.match(name):
        raise UpstreamError(400, "share_target_invalid")
    return kind, name


def _hub_message(body: Any) -> str:
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return body["message"]
    return ""


def share_view(share: dict) -> dict:
    """One share as the front end shows it: who (a person or a group), and since when."""
    kind = share.get("kind") or ("group" if share.get("group") else "user")
    who = share.get(kind) or {}
    return {"kind": kind, "name": who.get("name", ""), "created_at": share.get("created_at"),
            "scopes": share.get("scopes") or []}


class ShareClient:
    """This server's shares at the hub; one per server process."""

    def __init__(self, settings: NPUHubLab, log: logging.Logger | None = None,
                 groups: Callable[[], Awaitable[list[str] | None]] | None = None):
        """``groups``: the owner's groups, or None when they cannot be known now (the hub decides then)."""
        self.settings = settings
        self.log = log or logging.getLogger(__name__)
        self.groups = groups

    @property
    def owner(self) -> str:
        return self.settings.user

    @property
    def server(self) -> str:
        return self.settings.server_name

    def _url(self) -> str:
        s = self.settings
        if not s.hub_api_url or not s.user:
            raise UpstreamError(503, "hub_not_configured")
        if not s.api_token:
            raise UpstreamError(503, "token_missing")
        return f"{s.hub_api_url}shares/{quote(s.user, safe='')}/{quote(s.server_name, safe='')}"

    async def listing(self) -> dict:
        """``{"owner", "server", "shares": [{kind, name, created_at, scopes}]}``, people first, by name."""
        code, body = await self._call("GET", self._url())
        if code != 200:
            raise self._failure(code, body)
        items = body.get("items") if isinstance(body, dict) else body
        shares = [share_view(s) for s in items or [] if isinstance(s, dict)]
        shares.sort(key=lambda s: (s["kind"] != "user", s["name"]))
        return {"owner": self.owner, "server": self.server, "shares": shares}

    async def grant(self, kind: str, name: str) -> dict:
        """Share this server with a person or a group (access to it, the hub's default share)."""
        kind, name = share_target(kind, name)
        if kind == "user" and name == self.owner:
            raise UpstreamError(400, "share_with_self")
        if kind == "group" and self.groups is not None:
            mine = await self.groups()
            if mine is not None and name not in mine:
                raise UpstreamError(403, "share_group_not_allowed",
                                    sentence("share_group_not_allowed", name=name))
        code, body = await self._call("POST", self._url(), {kind: name})
        if code != 200:
            raise self._failure(code, body, kind=kind, name=name)
        return await self.listing()

    async def revoke(self, kind: str, name: str) -> dict:
        """Take back a person's or a group's access (idempotent: revoking nothing is fine)."""
        kind, name = share_target(kind, name)
        code, body = await self._call("PATCH", self._url(), {kind: name})
        if code != 200:
            raise self._failure(code, body, kind=kind, name=name)
        return await self.listing()

    async def _call(self, method: str, url: str, body: dict | None = None) -> tuple[int, Any]:
        s = self.settings
        request = HTTPRequest(
            url,
            method=method,
            body=json.dumps(body) if body is not None else None,
            headers={"Authorization": f"token {s.api_token}", "Accept": "application/json",
                     "Content-Type": "application/json"},
            connect_timeout=s.request_timeout,
            request_timeout=s.request_timeout,
            follow_redirects=False,
        )
        try:
            response = await AsyncHTTPClient().fetch(request, raise_error=False)
        except (OSError, HTTPClientError) as e:
            self.log.info("npuhub-lab: %s %s failed: %s", method, url, e)
            raise UpstreamError(503, "hub_unreachable") from None
        if response.code == 599:
            raise UpstreamError(503, "hub_unreachable")
        try:
            parsed = json.loads(response.body or b"null")
        except (ValueError, UnicodeDecodeError):
            parsed = None
        return response.code, parsed

    def _failure(self, code: int, body: Any, kind: str = "", name: str = "") -> UpstreamError:
        """The hub's refusal as a sentence a person can act on."""
        message = _hub_message(body)
        self.log.info("npuhub-lab: the hub refused a share (%s): %s", code, message)
        if code == 400 and message.startswith("No such user"):
            return UpstreamError(400, "share_user_unknown", sentence("share_user_unknown", name=name))
        if code == 400 and message.startswith("No such group"):
            return UpstreamError(400, "share_group_unknown", sentence("share_group_unknown", name=name))
        if code == 403 and "read:users:name" in message:
            return UpstreamError(403, "share_users_not_allowed")
        if code == 403 and "read:groups:name" in message:
            return UpstreamError(403, "share_group_not_allowed",
                                 sentence("share_group_not_allowed", name=name))
        if code in (401, 403):
            return UpstreamError(403, "share_not_allowed")
        if code == 404:
            return UpstreamError(404, "share_server_unknown",
                                 sentence("share_server_unknown", user=self.owner,
                                          server=self.server or "default"))
        return UpstreamError(400 if code < 500 else 502, "hub_error",
                             sentence("hub_error", status=code, detail=message[:200] or "-"))
