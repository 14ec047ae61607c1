"""Wires JupyterHub for the embedded stack from the environment ``npuhub up`` prepares."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from ..auth.demo import EMBEDDED_ENV
from ..auth.groups import CUSTOM_SCOPES
from ..site_config import AuthConfig, SiteConfigError, load_site_config

__all__ = ["configure", "proxy_command", "LOGIN_NOTICE"]

LOGIN_NOTICE = (
    '<div class="alert alert-info" style="text-align:center">'
    "演示账号：student1–student40、labmember1–labmember3、teacher1、admin，"
    "密码见启动 npuhub 的终端。<br>"
    "Demo accounts: student1–student40, labmember1–labmember3, teacher1, admin; "
    "the password is printed in the terminal that started npuhub.</div>"
)


def proxy_command() -> str:
    """The configurable-http-proxy next to this interpreter, else on PATH."""
    beside = Path(sys.executable).parent / "configurable-http-proxy"
    if beside.exists():
        return str(beside)
    found = shutil.which("configurable-http-proxy")
    if not found:
        sys.exit(
            "FATAL: configurable-http-proxy is not installed; "
            "`pip install configurable-http-proxy` (or `make up`, which installs it)."
        )
    return found


def configure(c) -> None:
    """Fill the JupyterHub config ``c`` for the embedded stack."""
    if os.environ.get(EMBEDDED_ENV) != "embedded":
        sys.exit("FATAL: the embedded hub configuration is started by `npuhub up`, not directly.")
    data_dir = Path(os.environ.get("NPUHUB_DATA_DIR", "npuhub-data")).resolve()
    site_file = os.environ.get("NPUHUB_SITE_CONFIG", "")
    data_dir.mkdir(parents=True, exist_ok=True)

    c.JupyterHub.db_url = f"sqlite:///{data_dir / 'jupyterhub.sqlite'}"
    c.JupyterHub.cookie_secret_file = str(data_dir / "jupyterhub_cookie_secret")
    c.JupyterHub.pid_file = str(data_dir / "jupyterhub.pid")
    c.ConfigurableHTTPProxy.pid_file = str(data_dir / "proxy.pid")
    c.ConfigurableHTTPProxy.command = [proxy_command()]
    c.JupyterHub.default_url = "/hub/home"

    try:
        site = load_site_config(site_file or None)
    except SiteConfigError as e:
        sys.exit(f"FATAL: {e}")
    public_url = site.auth.public_url or os.environ.get("NPUHUB_PUBLIC_URL") or "http://127.0.0.1:8000"
    configure_auth(c, site.auth, public_url, data_dir)

    c.JupyterHub.spawner_class = "npuhub.spawners.local.LocalNPUSpawner"
    c.LocalNPUSpawner.site_config_file = site_file
    c.LocalNPUSpawner.work_root = str(data_dir / "users")
    # JupyterLab's first start on a small machine can take a while.
    c.Spawner.start_timeout = 120
    c.Spawner.http_timeout = 120
    c.Spawner.poll_interval = 10


def _crypt_key(data_dir: Path) -> str:
    """The key that encrypts auth state (tokens from the identity provider), kept in the data directory."""
    path = data_dir / "crypt-key"
    if not path.exists():
        path.write_text(os.urandom(32).hex() + "\n")
        path.chmod(0o600)
    return path.read_text().strip()


def configure_auth(c, auth: AuthConfig, public_url: str, data_dir: Path) -> None:
    """Sign-in from the site file's ``auth`` section: demo accounts, OpenID Connect or CAS.

    Every kind maps the provider's groups the same way (``auth.groups``) and
    hands out the same roles, whose scopes the npuhub service checks.
    """
    c.JupyterHub.custom_scopes = CUSTOM_SCOPES
    c.Authenticator.manage_groups = True
    c.Authenticator.manage_roles = True
    if not os.environ.get("JUPYTERHUB_CRYPT_KEY"):
        os.environ["JUPYTERHUB_CRYPT_KEY"] = _crypt_key(data_dir)
    c.Authenticator.enable_auth_state = True

    if auth.type == "demo":
        c.JupyterHub.authenticator_class = "npuhub.auth.demo.DemoAuthenticator"
        c.DemoAuthenticator.group_mapping = auth.groups
        c.JupyterHub.template_vars = {"announcement_login": LOGIN_NOTICE}
    elif auth.type == "oidc":
        secret_env = auth.oidc["client_secret_env"]
        secret = os.environ.get(secret_env)
        if not secret:
            sys.exit(f"FATAL: auth.oidc: the client secret is read from ${secret_env}, which is not set.")
        c.JupyterHub.authenticator_class = "npuhub.auth.oidc.NPUHubOIDCAuthenticator"
        oidc = c.NPUHubOIDCAuthenticator
        oidc.issuer = auth.oidc["issuer"]
        oidc.client_id = auth.oidc["client_id"]
        oidc.client_secret = secret
        oidc.scope = list(auth.oidc["scopes"])
        oidc.username_claim = auth.oidc["username_claim"]
        oidc.oauth_callback_url = public_url + "/hub/oauth_callback"
        oidc.group_mapping = auth.groups
    elif auth.type == "cas":
        c.JupyterHub.authenticator_class = "npuhub.auth.cas.CASAuthenticator"
        cas = c.CASAuthenticator
        cas.cas_server_url = auth.cas["server_url"]
        cas.cas_protocol = auth.cas["protocol"]
        cas.callback_url = public_url + "/hub/cas/callback"
        cas.username_attribute = auth.cas["username_attribute"]
        cas.logout_from_cas = auth.cas["logout"]
        cas.group_mapping = auth.groups
