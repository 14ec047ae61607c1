"""Sign-in through a university's CAS portal (统一身份认证), protocol 2 or 3, on JupyterHub's own login path.

The flow: ``/hub/login`` sends the person to ``/hub/cas/login``, which sends
her to the portal's ``/login?service=<callback_url>``. The portal sends her
back to ``/hub/cas/callback?ticket=ST-...``; the callback hands the ticket to
JupyterHub's ``login_user()``, which calls :meth:`CASAuthenticator.authenticate`
to validate it, then applies the block and allow lists, admin, managed groups,
managed roles and auth state exactly as for any authenticator.
"""

from __future__ import annotations

import html
import secrets
from urllib.parse import urlencode, urlsplit

from jupyterhub.handlers import BaseHandler
from jupyterhub.handlers.login import LogoutHandler
from jupyterhub.utils import url_path_join
from tornado import web
from tornado.httpclient import AsyncHTTPClient, HTTPClientError
from traitlets import Bool, Float, Integer, TraitError, Unicode, default, validate

from ..i18n import Text
from ..workshops import with_workshop_codes
from .base import NPUHubAuthenticatorBase
from . import cas_protocol as protocol
from ..groups import GroupMapping

__all__ = [
    "CASAuthenticator",
    "CAS_UNREACHABLE",
    "TICKET_MISSING",
    "TICKET_INVALID",
    "TICKET_REPLAYED",
    "NOT_IN_ALLOWED_GROUPS",
    "NOT_ALLOWED",
    "USERNAME_MISSING",
    "SIGNED_OUT",
    "STATE_MISMATCH",
    "STATE_COOKIE",
]

# What a person reads when sign-in does not work, and what she can do about it.
CAS_UNREACHABLE = Text(
    "暂时无法连接学校的统一身份认证服务器，请稍后再试。如果一直如此，请联系计算中心。",
    "The university sign-in server (CAS) cannot be reached right now. "
    "Please try again in a few minutes; if this persists, tell the computing centre's staff.",
)
TICKET_MISSING = Text(
    "这个地址缺少登录票据。请从本平台的登录页面重新登录。",
    "This address carries no sign-in ticket. Please sign in again from this hub's login page.",
)
TICKET_INVALID = Text(
    "登录票据无效或已过期（票据只能在签发后很短时间内使用，且只对本平台有效）。请重新登录。",
    "The sign-in ticket is invalid or has expired (a ticket is only good for a short time, "
    "and only for this hub). Please sign in again.",
)
TICKET_REPLAYED = Text(
    "这个登录票据已经使用过，不能再次使用。请重新登录。",
    "This sign-in ticket has already been used and cannot be used again. Please sign in again.",
)
NOT_IN_ALLOWED_GROUPS = Text(
    "您的账号（{user}）不在可以使用本平台的组中（{allowed}）。如需使用，请联系您的老师或计算中心。",
    "Your account ({user}) is not in a group that may use this hub ({allowed}). "
    "To get access, ask your teacher or the computing centre's staff.",
)
NOT_ALLOWED = Text(
    "您的账号未获准使用本平台。如需使用，请联系计算中心。",
    "Your account may not use this hub. To get access, ask the computing centre's staff.",
)
USERNAME_MISSING = Text(
    "统一身份认证没有提供用于确定用户名的属性“{attribute}”，因此无法登录。请联系计算中心。",
    "The university sign-in did not send the attribute '{attribute}' that names your account, "
    "so you cannot be signed in. Please tell the computing centre's staff.",
)
STATE_MISMATCH = Text(
    "这次登录不是在这个浏览器中开始的（或者浏览器没有保存本站的 Cookie），因此不能继续。"
    "请从本平台的登录页面重新登录；如果一直如此，请允许本站使用 Cookie。",
    "This sign-in was not started in this browser (or the browser did not keep this site's cookie), "
    "so it cannot go on. Please sign in again from this hub's login page; if this keeps happening, "
    "allow cookies for this site.",
)
SIGNED_OUT = Text(
    "您已退出本平台和学校的统一身份认证。在公用电脑上，请关闭浏览器。",
    "You have signed out of this hub and of the university sign-in. On a shared computer, close the browser.",
)


#: Machine-readable reason -> the short English phrase of the HTTP status line and the page's title
#: (the status line is Latin-1 only; the bilingual sentence is the page's text).
REASONS = {
    "ticket_missing": "Sign-in ticket missing",
    "ticket_invalid": "Sign-in ticket invalid",
    "ticket_replayed": "Sign-in ticket already used",
    "group_not_allowed": "Not in an allowed group",
    "not_allowed": "Sign-in not allowed",
    "cas_unreachable": "CAS server unreachable",
    "cas_bad_answer": "CAS server answer not understood",
    "username_missing": "CAS user name attribute missing",
    "state_mismatch": "Sign-in not started in this browser",
}

#: The cookie that binds a sign-in to the browser that started it (login CSRF): it holds the nonce
#: that /hub/cas/login put in the service URL as ``state``; the callback compares the two.
STATE_COOKIE = "npuhub-cas-state"
#: How long a started sign-in may take at the portal (a password, perhaps a second factor).
STATE_MAX_AGE_DAYS = 15 / (24 * 60)


def bilingual_html(text: Text) -> str:
    """Both sentences of ``text``, escaped, one per line, each marked with its language."""
    return f'<span lang="zh">{html.escape(text.zh)}</span><br><span lang="en">{html.escape(text.en)}</span>'


def refusal(status: int, text: Text, reason: str) -> web.HTTPError:
    """An HTTP error whose page shows ``text`` in both languages; ``reason`` is a key of REASONS.

    A refusal is an expected outcome: tornado logs one warning line, no traceback.
    """
    error = web.HTTPError(status, str(text).replace("%", "%%"), reason=REASONS[reason])
    error.jupyterhub_message = str(text)
    error.jupyterhub_html_message = bilingual_html(text)
    error.npuhub_reason = reason
    return error


def _state_cookie_path(handler: BaseHandler) -> str:
    return url_path_join(handler.hub.base_url, "cas/")


class CASLoginHandler(BaseHandler):
    """``/hub/cas/login``: off to the CAS portal, with a safe ``next`` and a login ``state`` in the service URL.

    The state is a fresh nonce, also kept in a signed cookie of this browser
    (path ``/hub/cas/``, SameSite=Lax so it comes back on the portal's redirect).
    """

    async def get(self):
        next_url = protocol.safe_next_path(self.get_query_argument("next", ""))
        state = ""
        if self.authenticator.check_login_state:
            state = secrets.token_urlsafe(16)
            self.set_secure_cookie(STATE_COOKIE, state, expires_days=None, path=_state_cookie_path(self),
                                   httponly=True, samesite="Lax", secure=self.request.protocol == "https")
        self.redirect(self.authenticator.cas_login_url(next_url, state), permanent=False)


class CASCallbackHandler(BaseHandler):
    """``/hub/cas/callback``: validate the ticket through JupyterHub's login, then leave without it."""

    async def get(self):
        ticket = self.get_query_argument("ticket", "")
        if not ticket:
            raise refusal(400, TICKET_MISSING, "ticket_missing")
        next_arg = self.get_query_argument("next", "")
        state = self.get_query_argument("state", "")
        if self.authenticator.check_login_state and not self.state_matches(state):
            if not state:
                # Not started here: a portal's own link to the hub, or a crafted one. Start a sign-in of
                # this browser's own; signed in at the portal, she is back in a moment. The ticket is unused.
                self.log.info("CAS: a ticket without login state; starting a sign-in in this browser")
                query = f"?{urlencode({'next': protocol.safe_next_path(next_arg)})}" if next_arg else ""
                self.redirect(url_path_join(self.hub.base_url, "cas/login") + query, permanent=False)
                return
            self.log.warning("CAS: refused a ticket whose login state is not this browser's (login CSRF, "
                             "another window, or cookies off)")
            raise refusal(403, STATE_MISMATCH, "state_mismatch")
        user = await self.login_user({"ticket": ticket, "next": next_arg, "state": state})
        # used up only by a sign-in that worked: after "server unreachable", reloading the page tries again
        self.clear_cookie(STATE_COOKIE, path=_state_cookie_path(self))
        if user is None:
            # blocked_users, allowed_users or an invalid user name: JupyterHub has logged which.
            raise refusal(403, NOT_ALLOWED, "not_allowed")
        next_url = protocol.safe_next_path(self.get_query_argument("next", "")) or self.get_next_url(user)
        self.redirect(next_url, permanent=False)

    def state_matches(self, state: str) -> bool:
        cookie = self.get_secure_cookie(STATE_COOKIE, max_age_days=STATE_MAX_AGE_DAYS)
        return bool(state and cookie) and secrets.compare_digest(cookie, state.encode())

    def append_query_parameters(self, url, exclude=None):
        # get_next_url() would carry this request's query, ticket included, to the next page.
        return url


class CASLogoutHandler(LogoutHandler):
    """``/hub/logout``: JupyterHub's logout, then the CAS session's too when ``logout_from_cas``."""

    async def render_logout_page(self):
        if self.authenticator.logout_from_cas:
            self.redirect(self.authenticator.cas_logout_url(), permanent=False)
        else:
            await super().render_logout_page()


class CASLoggedOutHandler(BaseHandler):
    """``/hub/cas/logged-out``: where CAS sends a person back after logging her out."""

    async def get(self):
        self.finish(await self.render_template("logout.html", announcement_logout=bilingual_html(SIGNED_OUT)))


@with_workshop_codes
class CASAuthenticator(NPUHubAuthenticatorBase):
    """Sign-in through a CAS server, the protocol behind most Chinese universities' 统一身份认证.

    ``authenticate()`` validates a service ticket with the CAS server (CAS 2
    ``/serviceValidate`` or CAS 3 ``/p3/serviceValidate``), against the service
    URL built from ``callback_url`` (never from the request), once per ticket.
    The attributes it releases give the person's groups through
    ``group_mapping``; people outside its allowed groups are refused before
    any hub user is created. ``allowed_users``, if set, narrows that further;
    ``blocked_users`` always refuses.
    """

    cas_server_url = Unicode(
        config=True,
        help="""The CAS server's base URL, without a trailing slash, e.g. https://cas.example.edu/cas.

        npuhub appends /login, /logout and /serviceValidate (CAS 2) or
        /p3/serviceValidate (CAS 3) to it.""",
    )

    @validate("cas_server_url")
    def _check_server_url(self, proposal):
        url = proposal["value"].strip().rstrip("/")
        parts = urlsplit(url)
        if url and (parts.scheme not in ("http", "https") or not parts.netloc or parts.query):
            raise TraitError(f"cas_server_url must be like https://cas.example.edu/cas, not {url!r}")
        return url

    cas_protocol = Integer(
        3,
        config=True,
        help="""The CAS protocol version the server speaks: 3 (validates at /p3/serviceValidate and
        releases attributes such as memberOf) or 2 (validates at /serviceValidate; many CAS 2
        servers release no attributes there, so no groups).""",
    )

    @validate("cas_protocol")
    def _check_protocol(self, proposal):
        if proposal["value"] not in protocol.VALIDATE_PATHS:
            raise TraitError(f"cas_protocol must be 2 or 3, not {proposal['value']!r}")
        return proposal["value"]

    callback_url = Unicode(
        config=True,
        help="""The full public URL of the hub's CAS callback, e.g.
        https://jupyter.example.edu/hub/cas/callback.

        It is the service URL registered at the CAS portal (with a `?next=...`
        parameter when there is a page to return to). Tickets are validated
        against it, never against the Host of the request, so a ticket issued
        for another service does not open the hub.""",
    )

    @validate("callback_url")
    def _check_callback_url(self, proposal):
        url = proposal["value"].strip()
        parts = urlsplit(url)
        if url and (parts.scheme not in ("http", "https") or not parts.netloc):
            raise TraitError(f"callback_url must be a full URL like https://hub.example.edu/hub/cas/callback, "
                             f"not {url!r}")
        return url

    username_attribute = Unicode(
        "",
        config=True,
        help="""The CAS attribute that holds the hub user name (e.g. `uid` or `employeeNumber`).
        Empty: the `<cas:user>` of the validation answer, which is usually the student or staff number.""",
    )

    logout_from_cas = Bool(
        True,
        config=True,
        help="""Whether logging out of the hub also ends the CAS session (via the server's /logout).
        Recommended on shared computers: without it, the next person at the keyboard signs in
        as the previous one without a password. It also signs the person out of the
        university's other CAS applications.""",
    )

    check_login_state = Bool(
        True,
        config=True,
        help="""Bind each sign-in to the browser that started it (against login CSRF).

        /hub/cas/login puts a fresh nonce in the service URL (``state=...``) and
        in a cookie; the callback goes on only when the two agree. A ticket
        without state (the portal's own link to the hub) starts a sign-in of
        this browser's own instead of being used. Needs the service registered
        by prefix at the portal (the service URL varies); turn off only for a
        portal that accepts one exact service URL.""",
    )

    @default("group_mapping")
    def _default_group_mapping(self):
        return GroupMapping(claim="memberOf")  # where CAS portals release group membership

    http_timeout = Float(
        10,
        config=True,
        help="Seconds to wait for the CAS server to answer a ticket validation.",
    )

    ticket_memory_seconds = Integer(
        3600,
        config=True,
        help="""How long a ticket is remembered after its use, so that presenting it again is refused
        even by a CAS server that would accept it twice. Longer than any ticket lives at the server
        (CAS recommends at most five minutes).""",
    )

    @default("login_service")
    def _default_login_service(self):
        return "统一身份认证 / University sign-in"

    @default("auto_login")
    def _default_auto_login(self):
        return True  # the portal is the only way in: no page with a single button first

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        missing = [name for name in ("cas_server_url", "callback_url") if not getattr(self, name)]
        if missing:
            raise ValueError(f"CASAuthenticator needs {' and '.join(missing)} (the site file's auth.cas section)")
        self.seen_tickets = protocol.TicketMemory(self.ticket_memory_seconds)

    # URLs ------------------------------------------------------------------------------------

    def login_url(self, base_url):
        return url_path_join(base_url, "cas/login")

    def logout_url(self, base_url):
        return url_path_join(base_url, "logout")

    def get_handlers(self, app):
        return [
            (r"/cas/login", CASLoginHandler),
            (r"/cas/callback", CASCallbackHandler),
            (r"/cas/logged-out", CASLoggedOutHandler),
            (r"/logout", CASLogoutHandler),
        ]

    def cas_login_url(self, next_url: str = "", state: str = "") -> str:
        """The portal's login page, returning to the callback (with ``state``, then to ``next_url``)."""
        return protocol.login_url(self.cas_server_url, protocol.service_url(self.callback_url, next_url, state))

    def cas_logout_url(self) -> str:
        """The portal's logout, returning to the hub's signed-out page."""
        return protocol.logout_url(self.cas_server_url, protocol.logged_out_url(self.callback_url))

    # Validation ------------------------------------------------------------------------------

    async def fetch_validation(self, url: str) -> bytes:
        """The CAS server's answer to a validation URL; raises on any failure to get a 200."""
        response = await AsyncHTTPClient().fetch(
            url, connect_timeout=self.http_timeout, request_timeout=self.http_timeout,
            headers={"Accept": "application/xml, text/xml"}, follow_redirects=False,
        )
        return response.body

    async def validate_ticket(self, ticket: str, next_url: str = "", state: str = "") -> protocol.CASValidation:
        """Ask the CAS server about ``ticket``, issued for the callback (with ``next_url`` and ``state``).

        Raises an HTTP refusal with a bilingual message when the ticket was used
        before, is refused by the server, or the server cannot be asked.
        """
        if not protocol.plausible_ticket(ticket):
            self.log.warning("CAS: refused a malformed ticket (%d characters)", len(ticket))
            raise refusal(403, TICKET_INVALID, "ticket_invalid")
        if not self.seen_tickets.first_use(ticket):
            self.log.warning("CAS: refused a ticket presented a second time: %s...", ticket[:12])
            raise refusal(403, TICKET_REPLAYED, "ticket_replayed")
        service = protocol.service_url(self.callback_url, next_url, state)
        url = protocol.validate_url(self.cas_server_url, self.cas_protocol, service, ticket)
        try:
            body = await self.fetch_validation(url)
        except (HTTPClientError, OSError, TimeoutError) as e:
            # The server never judged the ticket: a retry within its lifetime may use it.
            self.seen_tickets.forget(ticket)
            self.log.warning("CAS: cannot validate at %s: %s", self.cas_server_url, e)
            raise refusal(502, CAS_UNREACHABLE, "cas_unreachable") from None
        try:
            return protocol.parse_validation(body)
        except protocol.CASRefusal as e:
            self.log.warning("CAS: the server refused ticket %s...: %s", ticket[:12], e)
            raise refusal(403, TICKET_INVALID, "ticket_invalid") from None
        except protocol.CASAnswerError as e:
            self.log.warning("CAS: %s answered something that is not CAS: %s", self.cas_server_url, e)
            raise refusal(502, CAS_UNREACHABLE, "cas_bad_answer") from None

    async def authenticate(self, handler, data):
        """Validate ``data["ticket"]`` and return the auth model, or raise a bilingual refusal.

        Called by JupyterHub's ``login_user()`` from the callback. The model has
        the user name, the mapped ``groups``, ``admin`` (an admin group, or
        ``admin_users``), the managed ``roles`` and ``auth_state`` (the CAS user
        and every released attribute). JupyterHub then checks ``blocked_users``
        and :meth:`check_allowed`.
        """
        validation = await self.validate_ticket(data.get("ticket", ""), data.get("next", ""), data.get("state", ""))
        attributes = validation.attributes
        if self.username_attribute:
            values = attributes.get(self.username_attribute)
            if not values:
                self.log.warning("CAS: no %r attribute for CAS user %r; released: %s",
                                 self.username_attribute, validation.user, sorted(attributes))
                raise refusal(502, USERNAME_MISSING.format(attribute=self.username_attribute), "username_missing")
            name = values[0]
        else:
            name = validation.user
        groups = self.mapped_groups(attributes, name)
        username = self.normalize_username(name)
        if not (self.group_mapping.is_allowed(groups) or username in self.admin_users):
            self.log.warning("CAS: %r is in none of the allowed groups (has %s)", username, groups or "none")
            allowed = ", ".join(sorted(self.group_mapping.allowed))
            raise refusal(403, NOT_IN_ALLOWED_GROUPS.format(user=name, allowed=allowed), "group_not_allowed")
        admin = self.group_mapping.is_admin(groups) or username in self.admin_users
        return {
            "name": name,
            "groups": groups,
            "admin": admin,
            "roles": self.group_mapping.roles_for(groups, admin=admin),
            "auth_state": {"cas_user": validation.user, "cas_attributes": attributes},
        }

    def check_allowed(self, username, authentication=None):
        """The groups have admitted this person (in :meth:`authenticate`); ``allowed_users`` may narrow it."""
        if not self.allowed_users:
            return True
        return super().check_allowed(username, authentication)
