"""Sign-in with the university's OpenID Connect provider (Keycloak, CILogon, ...), groups from its claims.

Given only the issuer, the endpoints come from the provider's discovery
document, fetched at the first login rather than at start-up: the hub starts,
and people already signed in keep working, while the provider is down. Every
failure a person can meet on the way ends on a page that says, in Chinese and
English, what happened and what to do, never on a traceback.
"""

from __future__ import annotations

import asyncio
import html
import re
from urllib.parse import urlencode

from tornado import web
from tornado.httpclient import HTTPClientError
from tornado.httputil import responses
from traitlets import Bool, Float, Unicode, default

from oauthenticator.generic import GenericOAuthenticator
from oauthenticator.oauth2 import OAuthCallbackHandler, OAuthLoginHandler, OAuthLogoutHandler

from ..i18n import Text
from ..workshops import with_workshop_codes
from .base import NPUHubAuthenticatorBase

__all__ = [
    "NPUHubOIDCAuthenticator",
    "SignInError",
    "ProviderUnreachable",
    "endpoints_from_discovery",
    "PROVIDER_UNREACHABLE",
    "STATE_INVALID",
    "NOT_ALLOWED",
    "PROVIDER_DENIED",
    "MISCONFIGURED",
    "REFUSED",
]

# -- what a person reads ------------------------------------------------------

PROVIDER_UNREACHABLE = Text(
    "暂时无法连接学校的统一身份认证服务，请几分钟后再试。如果一直无法登录，请联系计算中心。",
    "The university sign-in service cannot be reached right now. Please try again in a few minutes; "
    "if it keeps failing, tell the computing centre's staff.",
)
STATE_INVALID = Text(
    "这个登录链接已经失效（可能已经用过、已经过期，或来自另一个浏览器窗口）。请重新登录。",
    "This sign-in link is no longer valid: it was already used, it expired, or it came from another "
    "browser window. Please sign in again.",
)
NOT_ALLOWED = Text(
    "您以 {user} 的身份通过了统一身份认证，但这个账号不属于可以使用本平台的课程或实验室。"
    "如需使用，请联系您的老师或计算中心。",
    "You signed in as {user}, but this account is not in a course or lab that may use this hub. "
    "Ask your teacher or the computing centre's staff for access.",
)
PROVIDER_DENIED = Text(
    "统一身份认证服务没有完成登录（{detail}）。如果您拒绝了授权，请重新登录并选择允许。",
    "The university sign-in service did not sign you in ({detail}). If you declined to share your "
    "details, sign in again and allow it.",
)
MISCONFIGURED = Text(
    "本平台的统一身份认证设置有误，暂时无法登录。请联系计算中心。",
    "Sign-in is misconfigured on this hub, so nobody can sign in right now. "
    "Please tell the computing centre's staff.",
)
REFUSED = Text(
    "您的账号不能使用本平台。如果您认为这是错误，请联系计算中心。",
    "Your account may not use this hub. If you think this is wrong, tell the computing centre's staff.",
)
SIGN_IN_AGAIN = Text("重新登录", "Sign in again")


class SignInError(web.HTTPError):
    """A sign-in that cannot go on: JupyterHub's error page shows ``text`` (both languages), not a traceback.

    ``detail`` goes to the hub's log only. With ``retry``, the page offers a
    "sign in again" link (the handler fills in ``retry_url``); without it, as
    when the hub is misconfigured, trying again would not help.
    """

    def __init__(self, status: int, text: Text, detail: str = "", *, retry: bool = False):
        # The standard reason keeps the page's title short ("403 : Forbidden"); the sentence is below it.
        super().__init__(status, detail or text.en, reason=responses.get(status, "Error"))
        self.text = text
        self.jupyterhub_message = str(text)
        self.retry = retry
        self.retry_url: str | None = None

    @property
    def jupyterhub_html_message(self) -> str:
        lines = [f'<span lang="zh-CN">{html.escape(self.text.zh, quote=False)}</span>',
                 f'<span lang="en">{html.escape(self.text.en, quote=False)}</span>']
        if self.retry and self.retry_url:
            lines.append(f'<a id="npuhub-sign-in-again" class="btn btn-jupyter" '
                         f'href="{html.escape(self.retry_url)}">{html.escape(str(SIGN_IN_AGAIN))}</a>')
        return "<br>".join(lines)


class ProviderUnreachable(SignInError):
    """The identity provider did not answer (refused, timed out, TLS failure, or a 5xx)."""

    def __init__(self, detail: str):
        super().__init__(503, PROVIDER_UNREACHABLE, detail, retry=True)


# -- discovery ----------------------------------------------------------------

#: Discovery document key -> authenticator trait.
DISCOVERED_ENDPOINTS = {
    "authorization_endpoint": "authorize_url",
    "token_endpoint": "token_url",
    "userinfo_endpoint": "userdata_url",
    "end_session_endpoint": "end_session_url",
}
_URL = re.compile(r"^https?://\S+$")


def endpoints_from_discovery(issuer: str, document: object) -> dict[str, str]:
    """Trait name -> URL from a provider's ``/.well-known/openid-configuration``.

    Raises ValueError saying what is wrong: not a JSON object, an issuer other than
    the one configured (OpenID Connect Discovery 1.0, section 4.3), or a missing
    authorization or token endpoint. The userinfo and end-session endpoints are optional.
    """
    if not isinstance(document, dict):
        raise ValueError("the discovery document is not a JSON object")
    found = str(document.get("issuer", ""))
    if found.rstrip("/") != issuer.rstrip("/"):
        raise ValueError(f"the discovery document names the issuer {found!r}, not {issuer!r}")
    endpoints = {}
    for key, trait in DISCOVERED_ENDPOINTS.items():
        url = document.get(key)
        if url is None:
            continue
        if not isinstance(url, str) or not _URL.match(url):
            raise ValueError(f"the discovery document's {key} is not a URL: {url!r}")
        endpoints[trait] = url
    for key in ("authorization_endpoint", "token_endpoint"):
        if DISCOVERED_ENDPOINTS[key] not in endpoints:
            raise ValueError(f"the discovery document has no {key}")
    return endpoints


# -- handlers -------------------------------------------------------------------

_OAUTH_ERROR = re.compile(r"^[a-z_]{1,64}$")


class OIDCLoginHandler(OAuthLoginHandler):
    """Sends the person to the provider, after learning its endpoints if not yet known."""

    async def get(self):
        try:
            await self.authenticator.discover()
        except SignInError as e:
            e.retry_url = self.settings["login_url"]
            raise
        super().get()


class OIDCCallbackHandler(OAuthCallbackHandler):
    """The provider's redirect back: its errors and a bad OAuth state become pages a person understands."""

    async def get(self):
        try:
            await super().get()
        except SignInError as e:
            e.retry_url = self.settings["login_url"]
            raise

    def check_error(self):
        error = self.get_argument("error", "")
        if error:
            description = self.get_argument("error_description", "")
            self.log.warning("The identity provider refused the sign-in: %s (%s)", error, description)
            # Only a well-formed OAuth error code is shown: the URL is anyone's to write.
            code = error if _OAUTH_ERROR.match(error) else "error"
            raise SignInError(403, PROVIDER_DENIED.format(detail=code), f"provider error {code}", retry=True)

    def check_code(self):
        if not self.get_argument("code", ""):
            raise SignInError(400, STATE_INVALID, "OAuth callback without a code", retry=True)

    def check_state(self):
        try:
            super().check_state()
        except web.HTTPError as e:
            # A replayed callback (the state cookie is used once), a stale tab, or a forged link.
            raise SignInError(400, STATE_INVALID, f"OAuth state rejected: {e.log_message}",
                              retry=True) from None

    def check_arguments(self):
        super().check_arguments()
        # RFC 9207: a provider that names itself must be ours (no code from another provider).
        iss, issuer = self.get_argument("iss", ""), self.authenticator.issuer
        if iss and issuer and iss.rstrip("/") != issuer.rstrip("/"):
            raise SignInError(400, STATE_INVALID, f"callback from issuer {iss!r}, not {issuer!r}", retry=True)


class OIDCLogoutHandler(OAuthLogoutHandler):
    """Signs out of the hub, then (if configured and known) of the provider too."""

    _signed_out = False
    _id_token: str | None = None

    async def handle_logout(self):
        await super().handle_logout()
        user = self.current_user  # still known here; the hub forgets it after this hook
        if user is not None:
            self._signed_out = True
            if self.authenticator.enable_auth_state:
                self._id_token = ((await user.get_auth_state()) or {}).get("id_token")

    async def render_logout_page(self):
        if self._signed_out and not self.authenticator.logout_redirect_url:
            url = await self.authenticator.provider_logout_url(self._id_token)
            if url:
                self.redirect(url)
                return
        await super().render_logout_page()


# -- the authenticator ---------------------------------------------------------------


@with_workshop_codes
class NPUHubOIDCAuthenticator(NPUHubAuthenticatorBase, GenericOAuthenticator):
    """OpenID Connect sign-in; hub groups, admin rights and roles come from the provider's claims.

    The userinfo claims go through :class:`~npuhub.groups.GroupMapping`
    at every login: the groups it keeps become the person's hub groups, an
    admin group makes her a hub admin, and ``roles_for`` gives her roles. A
    person outside the allowed groups is refused with a page saying so, and is
    not created as a hub user.
    """

    login_handler = OIDCLoginHandler
    callback_handler = OIDCCallbackHandler
    logout_handler = OIDCLogoutHandler

    issuer = Unicode(
        "",
        config=True,
        help="""The provider's issuer URL, e.g. https://sso.example.edu/realms/uni.

        The authorization, token, userinfo and end-session endpoints are read from
        ``<issuer>/.well-known/openid-configuration`` at the first login (not at
        start-up, so the hub starts while the provider is down); a failed attempt
        is retried at the next login. Endpoints configured explicitly
        (``authorize_url``, ``token_url``, ``userdata_url``, ``end_session_url``) win.
        """,
    )
    end_session_url = Unicode(
        "",
        config=True,
        help="""The provider's end-session (RP-initiated logout) endpoint; discovered if empty.""",
    )
    logout_from_provider = Bool(
        True,
        config=True,
        help="""On hub logout, send the person on to the provider's end-session endpoint (if it has one).

        On a shared lab computer this stops the next person from being signed in
        as the previous one. Ignored when ``logout_redirect_url`` is set.
        """,
    )
    post_logout_redirect_url = Unicode(
        "",
        config=True,
        help="""Where the provider sends the person after its logout, e.g. https://jupyter.example.edu/hub/.

        Must be registered with the provider as a post-logout redirect URI. Empty:
        the provider shows its own "signed out" page.
        """,
    )
    discovery_timeout = Float(
        10.0,
        config=True,
        help="""Seconds to wait for the discovery document before saying the provider is unreachable.""",
    )

    @default("login_service")
    def _default_login_service(self):
        return "统一身份认证 (university account)"

    @default("username_claim")
    def _default_username_claim(self):
        return "preferred_username"

    @default("scope")
    def _default_scope(self):
        return ["openid", "profile", "email"]

    @default("custom_403_message")
    def _default_custom_403_message(self):
        return str(REFUSED)

    @default("enable_auth_state")
    def _default_enable_auth_state(self):
        return True

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._discovered = False
        self._discovery_lock = asyncio.Lock()
        if not self.issuer and not (self.authorize_url and self.token_url):
            self.log.error("NPUHubOIDCAuthenticator: set `issuer` (or authorize_url and token_url); "
                           "nobody can sign in until then.")

    # -- endpoints ------------------------------------------------------------

    def _missing_endpoints(self) -> list[str]:
        needed = ["authorize_url", "token_url"]
        if not self.userdata_from_id_token:
            needed.append("userdata_url")
        return [name for name in needed if not getattr(self, name)]

    async def discover(self) -> None:
        """Make sure the endpoints are known, reading the discovery document once if needed.

        Called before each step that talks to the provider; cheap once it has
        succeeded. Raises ProviderUnreachable (503) when the provider does not
        answer and SignInError (500, MISCONFIGURED) when its answer is unusable
        or nothing says where it is; the next call tries again.
        """
        if self._discovered:
            return
        async with self._discovery_lock:
            if self._discovered:
                return
            missing = self._missing_endpoints()
            if not self.issuer:
                if missing:
                    raise SignInError(500, MISCONFIGURED, f"no issuer, and no {', '.join(missing)}")
                self._discovered = True
                return
            url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
            try:
                document = await self.httpfetch(
                    url, label="reading the provider's discovery document", method="GET",
                    headers={"Accept": "application/json"}, validate_cert=self.validate_server_cert,
                    connect_timeout=self.discovery_timeout, request_timeout=self.discovery_timeout,
                )
                endpoints = endpoints_from_discovery(self.issuer, document)
            except ProviderUnreachable as e:
                if missing:
                    raise
                self.log.warning("Discovery failed (%s); using the configured endpoints", e.log_message)
                return
            except (SignInError, ValueError, HTTPClientError) as e:
                self.log.error("The discovery document at %s is unusable: %s", url, e)
                if missing:
                    raise SignInError(500, MISCONFIGURED, f"discovery at {url}: {e}") from None
                return
            for trait, value in endpoints.items():
                if not getattr(self, trait):  # explicit configuration wins
                    setattr(self, trait, value)
            self._discovered = True
            self.log.info("Identity provider %s: authorize %s, token %s, userinfo %s, end session %s",
                          self.issuer, self.authorize_url, self.token_url, self.userdata_url or "-",
                          self.end_session_url or "-")

    async def provider_logout_url(self, id_token: str | None = None) -> str | None:
        """Where to send a person who signs out of the hub, to sign out of the provider too; None: nowhere."""
        if not self.logout_from_provider:
            return None
        if not self.end_session_url:
            try:
                await self.discover()
            except SignInError:
                return None  # logging out of the hub must work while the provider is down
        if not self.end_session_url:
            return None
        params = {"client_id": self.client_id}
        if id_token:
            params["id_token_hint"] = id_token
        if self.post_logout_redirect_url:
            params["post_logout_redirect_uri"] = self.post_logout_redirect_url
        separator = "&" if "?" in self.end_session_url else "?"
        return self.end_session_url + separator + urlencode(params)

    # -- talking to the provider -------------------------------------------------

    async def fetch(self, req, label="fetching", parse_json=True, **kwargs):
        """Every request to the provider: no answer or a 5xx is ProviderUnreachable; a 4xx is raised as is."""
        try:
            return await super().fetch(req, label=label, parse_json=parse_json, **kwargs)
        except HTTPClientError as e:
            if e.code == 599 or e.code >= 500:
                raise ProviderUnreachable(f"{label}: {req.method} {req.url.split('?')[0]}: {e}") from None
            raise
        except OSError as e:  # refused, unresolvable, reset, TLS
            raise ProviderUnreachable(f"{label}: {req.method} {req.url.split('?')[0]}: {e!r}") from None
        except ValueError as e:  # not JSON
            raise SignInError(502, MISCONFIGURED, f"{label}: {req.url.split('?')[0]} answered no JSON: {e}")

    async def get_token_info(self, handler, params):
        """The code exchanged for tokens; a code already used or expired is a "sign in again" page."""
        await self.discover()
        try:
            return await super().get_token_info(handler, params)
        except HTTPClientError as e:
            body = e.response.body.decode("utf8", "replace")[:500] if e.response is not None else ""
            if e.code == 400 and "invalid_grant" in body:
                raise SignInError(400, STATE_INVALID, f"token endpoint: {body}", retry=True) from None
            raise SignInError(500, MISCONFIGURED, f"token endpoint answered {e.code}: {body}") from None

    async def token_to_user(self, token_info):
        await self.discover()
        return await super().token_to_user(token_info)

    async def authenticate(self, handler, data=None, **kwargs):
        try:
            return await super().authenticate(handler, data, **kwargs)
        except HTTPClientError as e:  # userinfo refused a token the provider has just issued
            body = e.response.body.decode("utf8", "replace")[:500] if e.response is not None else ""
            raise SignInError(500, MISCONFIGURED, f"userinfo endpoint answered {e.code}: {body}") from None

    def user_info_to_username(self, user_info):
        try:
            return super().user_info_to_username(user_info)
        except ValueError:
            detail = f"the provider sent no {self.username_claim!r} claim; claims: {sorted(user_info)}"
            raise SignInError(500, MISCONFIGURED, detail) from None

    # -- groups, admin, roles, and who may sign in ------------------------------------

    def _groups(self, auth_state: dict) -> list[str]:
        claims = auth_state.get(self.user_auth_state_key) or {}
        return self.mapped_groups(claims, str(claims.get(self.username_claim) or ""))

    async def update_auth_model(self, auth_model):
        """Groups, admin flag and roles from the userinfo claims; called at every login and refresh."""
        groups = self._groups(auth_model["auth_state"])
        admin = bool(auth_model.get("admin")) or self.group_mapping.is_admin(groups)
        auth_model["groups"] = groups
        auth_model["admin"] = admin
        auth_model["roles"] = self.group_mapping.roles_for(groups, admin=admin)
        return auth_model

    async def get_user_groups(self, auth_state: dict):
        """The hub groups (for manage_groups): what the group mapping keeps of the claims."""
        return set(self.group_mapping.groups_from_claims(auth_state.get(self.user_auth_state_key) or {}))

    def _allowed(self, username: str, auth_model: dict) -> bool:
        return (bool(auth_model.get("admin")) or username in self.allowed_users
                or self.group_mapping.is_allowed(auth_model.get("groups") or []))

    async def check_allowed(self, username, auth_model):
        """True for admins, ``allowed_users`` and members of the mapping's allowed groups.

        Anyone else is refused with a 403 page that names the account, so a
        person signed in to the provider with the wrong account can tell.
        """
        if auth_model is None or await super().check_allowed(username, auth_model):
            return True
        if self._allowed(username, auth_model):
            return True
        self.log.warning("Refusing %s: groups %s are not among the allowed %s", username,
                         auth_model.get("groups"), sorted(self.group_mapping.allowed))
        raise SignInError(403, NOT_ALLOWED.format(user=username), f"{username} is not in an allowed group")

    async def refresh_user(self, user, handler=None, **kwargs):
        """Fresh claims from the provider; keeps the sign-in while the provider is down.

        Someone who has left every allowed group must sign in again (and is then refused).
        """
        try:
            refreshed = await super().refresh_user(user, handler, **kwargs)
        except ProviderUnreachable as e:
            self.log.warning("Keeping %s signed in: the identity provider is unreachable (%s)",
                             user.name, e.log_message)
            return True
        if isinstance(refreshed, dict) and not self._allowed(user.name, refreshed):
            self.log.info("%s is no longer in an allowed group: asking for a new sign-in", user.name)
            return False
        return refreshed
