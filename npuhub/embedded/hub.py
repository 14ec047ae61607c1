"""Wires JupyterHub for the embedded stack from the environment ``npuhub up`` prepares."""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import sys
from pathlib import Path

from traitlets.config import LazyConfigValue
from traitlets.utils.importstring import import_item

from ..auth.demo import EMBEDDED_ENV
from ..auth.groups import CUSTOM_SCOPES
from ..site_config import AuthConfig, SiteConfigError, load_site_config

__all__ = ["configure", "configure_service", "configure_workshops", "proxy_command", "LOGIN_NOTICE"]

LOGIN_NOTICE = (
    '<div class="alert alert-info" style="text-align:center">'
    "演示账号：student1–student40、labmember1–labmember3、teacher1、admin，"
    "密码见启动 npuhub 的终端。<br>"
    "Demo accounts: student1–student40, labmember1–labmember3, teacher1, admin; "
    "the password is printed in the terminal that started npuhub.</div>"
)


#: The Node proxy installed by `make up` (scripts/bootstrap.sh) in a checkout.
NODE_PROXY = Path(__file__).resolve().parents[2] / "hub_config" / "proxy" / "node_modules" / ".bin" / \
    "configurable-http-proxy"


def proxy_command() -> str:
    """The proxy to run: $NPUHUB_PROXY_COMMAND, else the Node configurable-http-proxy, else the Python one.

    The Node proxy comes first because it streams the spawn page's progress
    events (queue position and estimate) as they happen; the Python
    implementation holds a streamed answer until it ends, so people would see
    their place in the queue only once they are admitted.
    """
    chosen = os.environ.get("NPUHUB_PROXY_COMMAND")
    if chosen:
        return chosen
    if NODE_PROXY.exists() and shutil.which("node"):
        return str(NODE_PROXY)
    beside = Path(sys.executable).parent / "configurable-http-proxy"
    if beside.exists():
        print("npuhub: using the Python configurable-http-proxy; queue progress reaches the spawn page only "
              "when the start ends (install Node.js and run `make up` for the streaming proxy)", file=sys.stderr)
        return str(beside)
    found = shutil.which("configurable-http-proxy")
    if not found:
        sys.exit(
            "FATAL: configurable-http-proxy is not installed; run `make up`, which installs it "
            "(or `npm install -g configurable-http-proxy`)."
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
    configure_workshops(c, data_dir, site_file)

    c.JupyterHub.spawner_class = "npuhub.spawners.local.LocalNPUSpawner"
    # A CPU notebook to work in while a named NPU server waits in the queue (the lab
    # extension shows its place); the site's max_share still bounds what one person holds.
    c.JupyterHub.allow_named_servers = True
    c.JupyterHub.named_server_limit_per_user = 3
    c.LocalNPUSpawner.site_config_file = site_file
    c.LocalNPUSpawner.work_root = str(data_dir / "users")
    # JupyterLab's first start on a small machine can take a while (the start timeout
    # is the spawner's: time in the queue plus this).
    c.Spawner.http_timeout = 120
    c.Spawner.poll_interval = 10

    configure_service(c, data_dir=data_dir, site_file=site_file)


def _secret_file(path: Path) -> str:
    """A random secret kept in ``path``, made on first use and readable by the hub's user only."""
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(os.urandom(32).hex() + "\n")
    return path.read_text().strip()


def _crypt_key(data_dir: Path) -> str:
    """The key that encrypts auth state (tokens from the identity provider), kept in the data directory."""
    return _secret_file(data_dir / "crypt-key")


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


#: Seconds between two workshop clean-ups, when set (the tests shorten it).
CLEANUP_INTERVAL_ENV = "NPUHUB_WORKSHOP_CLEANUP_INTERVAL"


def configure_workshops(c, data_dir: Path, site_file: str) -> None:
    """Workshop codes, when the authenticator has them (npuhub.workshops.with_workshop_codes).

    Their tables go into ``<data dir>/npuhub.sqlite``, their pages into the
    hub's templates, and the clean-up gets the hub service ``npuhub-workshops``,
    with a token kept in the data directory and one scope: remove accounts of
    the guest group, so the hub itself keeps it away from everyone else.
    """
    from ..workshops import TEMPLATES, WorkshopCodesMixin
    from ..workshops.cleanup import SERVICE_NAME, service_scopes

    if not issubclass(import_item(c.JupyterHub.authenticator_class), WorkshopCodesMixin):
        return
    # Before JupyterHub's own templates: our login.html and page.html extend those.
    c.JupyterHub.template_paths = [TEMPLATES, *_config_list(c.JupyterHub, "template_paths")]
    c.WorkshopCodesMixin.db_url = f"sqlite:///{data_dir / 'npuhub.sqlite'}"
    c.WorkshopCodesMixin.site_config_file = site_file
    if os.environ.get(CLEANUP_INTERVAL_ENV):
        c.WorkshopCodesMixin.cleanup_interval = float(os.environ[CLEANUP_INTERVAL_ENV])
    guest_group = WorkshopCodesMixin.guest_group.default_value
    c.WorkshopCodesMixin.guest_group = guest_group
    c.WorkshopCodesMixin.service_name = SERVICE_NAME
    c.JupyterHub.services = [*_config_list(c.JupyterHub, "services"),
                             {"name": SERVICE_NAME, "api_token": _secret_file(data_dir / "workshops-token")}]
    c.JupyterHub.load_roles = [*_config_list(c.JupyterHub, "load_roles"), {
        "name": SERVICE_NAME,
        "description": "Removes the accounts of workshop guests once their workshop is over",
        "scopes": service_scopes(guest_group),
        "services": [SERVICE_NAME],
    }]


def _config_list(section, name: str) -> list:
    """A list setting as configured so far ([] when unset), to extend by assigning a new list."""
    if name not in section:
        return []
    value = section[name]
    return list(value.get_value([]) if isinstance(value, LazyConfigValue) else value)


#: What the npuhub service's own token may do at the hub: know people's groups, stop spent servers.
SERVICE_SCOPES = ["list:users", "read:users:name", "read:users:groups", "read:servers", "admin:servers"]


def configure_service(c, *, data_dir: Path, site_file: str = "") -> None:
    """Register the npuhub service (``npuhub.service``) with the hub, at ``/services/npuhub/``.

    By default the hub starts it (a managed service) on a free loopback port,
    with its database in ``data_dir/admission.sqlite`` (``$NPUHUB_DB_URL`` overrides that) and the
    same site file as the spawner. With ``$NPUHUB_SERVICE_URL`` set, the service
    runs elsewhere (its own process or Deployment) at that URL and uses the token
    in ``$NPUHUB_SERVICE_API_TOKEN``; the hub only routes to it and knows its token.
    """
    service = {
        "name": "npuhub",
        "display": False,
        # people sign in to the service through the hub without a consent page, and their
        # OAuth token carries their npuhub scopes (and nothing more)
        "oauth_no_confirm": True,
        "oauth_client_allowed_scopes": sorted(CUSTOM_SCOPES),
    }
    external_url = os.environ.get("NPUHUB_SERVICE_URL")
    if external_url:
        token = os.environ.get("NPUHUB_SERVICE_API_TOKEN", "")
        if len(token) < 8:
            sys.exit("FATAL: NPUHUB_SERVICE_URL is set, so NPUHUB_SERVICE_API_TOKEN must hold the service's token "
                     "(at least 8 characters).")
        # The hub routes to it and checks tokens for it but does not start it: no need to wait for it at start-up.
        service.update(url=external_url.rstrip("/"), api_token=token, timeout=1)
    else:
        port = int(os.environ.get("NPUHUB_SERVICE_PORT") or _free_port())
        service.update(
            url=f"http://127.0.0.1:{port}",
            # a hub killed with SIGKILL must not leave this writer behind for the next hub's to meet
            command=[sys.executable, "-m", "npuhub.service", "--NPUHubService.exit_with_parent=True",
                     # e.g. NPUHUB_SERVICE_ARGS="--NPUHubService.meter_interval=30"
                     *shlex.split(os.environ.get("NPUHUB_SERVICE_ARGS", ""))],
            cwd=str(data_dir),
            environment={
                "NPUHUB_SITE_CONFIG": site_file,
                "NPUHUB_DB_URL": os.environ.get("NPUHUB_DB_URL") or f"sqlite:///{data_dir / 'admission.sqlite'}",
            },
        )
    services = [s for s in _config_list(c.JupyterHub, "services") if s.get("name") not in ("npuhub", "npuhub-spawner")]
    # The spawners in the hub ask the service on people's behalf, with a token of their own.
    spawner_token = _secret_file(data_dir / "spawner-token")
    services.append({"name": "npuhub-spawner", "api_token": spawner_token, "display": False})
    c.JupyterHub.services = services + [service]
    c.NPUSpawnerMixin.admission_url = service["url"] + "/services/npuhub/api/v1"
    c.NPUSpawnerMixin.admission_token = spawner_token
    roles = [r for r in _config_list(c.JupyterHub, "load_roles")
             if r.get("name") not in ("npuhub-service", "npuhub-spawner")]
    roles.append({"name": "npuhub-spawner", "description": "The hub's spawners asking for slices for people",
                  "scopes": ["custom:npuhub:operate"], "services": ["npuhub-spawner"]})
    c.JupyterHub.load_roles = roles + [{
        "name": "npuhub-service",
        "description": "The npuhub service: reads people's groups, stops servers whose budget is spent",
        "scopes": SERVICE_SCOPES,
        "services": ["npuhub"],
    }]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
