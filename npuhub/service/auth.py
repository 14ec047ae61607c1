"""Who is calling and what they may do: the hub's identity (HubOAuth) turned into npuhub permissions.

Permissions are JupyterHub scopes (see ``npuhub.groups.CUSTOM_SCOPES``):

- ``custom:npuhub:use``: see and cancel one's own requests, see one's own budget
  and the budgets of one's groups;
- ``custom:npuhub:teach!group=<g>``: all of that for the members' requests of
  group ``g``, its budget, and its reservations;
- ``custom:npuhub:operate``: everything, and acting on behalf of others (the
  spawner asks for slices for the people it starts servers for).

A JupyterHub admin counts as an operator when the token carries the admin's
powers (``admin:users``); a restricted token of an admin does not.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

from jupyterhub.services.auth import HubOAuth, HubOAuthCallbackHandler, HubOAuthenticated
from tornado.web import HTTPError

from ..i18n import message
from .errors import APIError
from .headers import HTML_POLICY, set_security_headers

__all__ = ["OPERATE", "TEACH", "USE", "Caller", "HubIdentity", "NPUHubOAuth", "OAuthCallbackHandler",
           "caller_from_model"]

USE = "custom:npuhub:use"
TEACH = "custom:npuhub:teach"
OPERATE = "custom:npuhub:operate"

ALL = "*"


@dataclass(frozen=True)
class Caller:
    """The person or service behind a request, with what npuhub lets them do."""

    name: str
    kind: str  # "user" or "service"
    groups: frozenset[str]
    uses: bool
    operates: bool
    #: groups she teaches; ``{"*"}`` when the teach scope has no filter
    teaches: frozenset[str]

    def teaches_group(self, group: str) -> bool:
        return self.operates or ALL in self.teaches or group in self.teaches

    def teaches_any(self, groups) -> bool:
        return self.operates or ALL in self.teaches or bool(self.teaches & set(groups))

    # -- the rules, one place --------------------------------------------------------------
    def may_see_request(self, user: str, groups) -> bool:
        """Her own requests; a teacher her group's; an operator everyone's."""
        return (self.kind == "user" and user == self.name) or self.teaches_any(groups)

    may_cancel_request = may_see_request

    def may_see_account(self, account: str) -> bool:
        """Her own account and her groups'; a teacher her group's; an operator every account."""
        kind, _, name = account.partition(":")
        if self.operates:
            return True
        if kind == "user":
            return self.kind == "user" and name == self.name
        if kind == "group":
            name = name.partition("@")[0]  # a workshop's account is its course's
            return name in self.groups or self.teaches_group(name)
        return False

    def may_see_reservation(self, group: str) -> bool:
        return group in self.groups or self.teaches_group(group)

    def may_manage_reservation(self, group: str) -> bool:
        return self.teaches_group(group)

    def require_operate(self) -> None:
        if not self.operates:
            raise APIError(403, "permission_denied", message("permission_denied", scope=OPERATE))


def _scope_filter(scope: str, base: str) -> str | None:
    """``None`` if ``scope`` is not ``base``; ``"*"`` unfiltered; else the group of a ``!group=`` filter."""
    name, _, flt = scope.partition("!")
    if name != base:
        return None
    if not flt:
        return ALL
    kind, _, value = flt.partition("=")
    return value if kind == "group" else ""


def caller_from_model(model: dict) -> Caller:
    """A Caller from the model the hub returns for a token (``GET /hub/api/user``)."""
    scopes = set(model.get("scopes") or [])
    teaches = set()
    uses = operates = False
    for scope in scopes:
        if _scope_filter(scope, OPERATE) == ALL:
            operates = True
        taught = _scope_filter(scope, TEACH)
        if taught:
            teaches.add(taught)
        if _scope_filter(scope, USE) is not None:
            uses = True
    if model.get("admin") and "admin:users" in scopes:
        operates = True
    kind = model.get("kind") or "user"
    return Caller(
        name=str(model.get("name", "")),
        kind=kind,
        groups=frozenset(model.get("groups") or []) if kind == "user" else frozenset(),
        uses=uses or operates or bool(teaches),
        operates=operates,
        teaches=frozenset(teaches),
    )


#: set while a caller is identified for a change (not a read): the hub is asked afresh
_FRESH: ContextVar[bool] = ContextVar("npuhub_fresh_identity", default=False)


class NPUHubOAuth(HubOAuth):
    """HubOAuth whose cached answers about a token are not trusted for changes.

    Reads (a status poll every few seconds) take the hub's answer from the
    cache (``cache_max_age``); a change (a request for a slice, a
    cancellation) asks the hub again and caches the new answer. So a token
    the hub no longer honours (a workshop guest's, once her account is
    removed; a revoked one) gets nothing granted, and the groups a request is
    judged by are the hub's current ones. While the hub does not answer, a
    change takes the cached answer (at most ``cache_max_age`` old), as before:
    a release by the hub's spawner during a hub restart must not be lost.
    """

    async def _check_hub_authorization(self, url, api_token, cache_key=None, use_cache=True):
        if not (use_cache and _FRESH.get() and cache_key is not None):
            return await super()._check_hub_authorization(url, api_token, cache_key=cache_key, use_cache=use_cache)
        try:
            answer = await super()._check_hub_authorization(url, api_token, cache_key=cache_key, use_cache=False)
        except HTTPError as e:
            cached = self.cache.get(cache_key, _UNSEEN)
            if e.status_code < 500 or cached is _UNSEEN:
                raise
            return cached
        self.cache[cache_key] = answer  # what the hub says now, for the reads that follow
        return answer


_UNSEEN = object()


class HubIdentity(HubOAuthenticated):
    """Mixin for handlers: identifies the caller through the hub, asynchronously, once per request.

    A token in the ``Authorization`` header (scripts, the spawner, the lab
    extension) or the OAuth cookie a browser got from signing in through the
    hub. The hub is asked once per token and cache period, never per request.
    """

    hub_auth_class = NPUHubOAuth

    @property
    def hub_auth(self) -> HubOAuth:
        return self.settings["hub_auth"]

    @hub_auth.setter
    def hub_auth(self, value):  # HubAuthenticated's own setter; the service sets it once, in its settings
        self.settings["hub_auth"] = value

    async def identify(self) -> Caller | None:
        """The caller, or None for an anonymous request; raises 403 for a token without npuhub scopes.

        For a change (any method but GET, HEAD, OPTIONS) the hub is asked afresh (see NPUHubOAuth).
        """
        fresh = _FRESH.set(self.request.method not in ("GET", "HEAD", "OPTIONS"))
        try:
            model = await self.hub_auth.get_user(self, sync=False)
        except HTTPError as e:
            if e.status_code >= 500:
                raise APIError(503, "hub_unavailable") from None
            raise
        finally:
            _FRESH.reset(fresh)
        if not model:
            self._hub_auth_user_cache = None
            return None
        model.setdefault("kind", "user")
        self._hub_auth_user_cache = model
        caller = caller_from_model(model)
        if not caller.uses:
            raise APIError(403, "permission_denied", message("permission_denied", scope=USE))
        return caller


class OAuthCallbackHandler(HubOAuthCallbackHandler):
    """Completes a browser's sign-in to the service through the hub (``<prefix>oauth_callback``).

    It redirects, or answers an HTML error page (tornado's): with the service's security headers.
    """

    def set_default_headers(self):
        super().set_default_headers()
        set_security_headers(self, HTML_POLICY)

    @property
    def hub_auth(self) -> HubOAuth:
        return self.settings["hub_auth"]

    @hub_auth.setter
    def hub_auth(self, value):
        self.settings["hub_auth"] = value
