"""Configures a JupyterHub for a real site from its site file: sign-in, workshops, the npuhub service, the spawner.

``hub_config/jupyterhub_config.py`` calls ``configure(c)`` under a plain
``jupyterhub -f``; ``npuhub up`` calls the same with ``embedded=True`` and
adds only what is embedded-specific (demo accounts, free ports, the Node
proxy, every secret generated). Settings come from:

- ``$NPUHUB_SITE_CONFIG``: the site file (the one place that names it; the
  service and the workshops are handed the same path);
- ``$NPUHUB_DATA_DIR``: where generated secrets and npuhub's own databases are
  kept (default: the working directory, as JupyterHub keeps its cookie secret);
- secrets from the environment when set, else generated once into the data
  directory with mode 0600: ``$JUPYTERHUB_CRYPT_KEY`` (auth state),
  ``$NPUHUB_SPAWNER_TOKEN`` (the spawners' token at the service),
  ``$NPUHUB_WORKSHOPS_TOKEN`` (the workshop clean-up's token at the hub);
- ``$NPUHUB_SERVICE_URL`` and ``$NPUHUB_SERVICE_API_TOKEN`` when the service
  runs on its own (a Deployment) instead of being started by the hub.

The hub reads only the site file's ``auth`` and ``isolation`` sections and the
names of its groups (the courses an admin may make workshop codes for); flavors, the
pool and budgets are the service's, which the spawners and the workshops ask.
"""

from __future__ import annotations

import logging
import os
import shlex
import socket
import sys
from pathlib import Path

from traitlets.config import LazyConfigValue
from traitlets.utils.importstring import import_item

from .activity import report_interval
from .groups import CUSTOM_SCOPES
from .i18n import Text, message
from .lab_language import page_language
from .refusals import Refusal
from .site_config import AuthConfig, SiteConfig, SiteConfigError, load_site_config
from .spawners.mixin import NPUHubSpawnError

__all__ = ["configure", "configure_auth", "configure_kubernetes", "configure_service", "configure_workshops", "check", "secret",
           "SERVICE_SCOPES", "TEMPLATES"]

#: npuhub's page templates for the hub (the spawn page that shows each reader her language).
TEMPLATES = str(Path(__file__).parent / "templates")

#: What the npuhub service's own token may do at the hub: know people's groups, stop spent servers.
#: ``read:groups``: a group's properties may hold its members to some flavors (a workshop's guests)
SERVICE_SCOPES = ["list:users", "read:users:name", "read:users:groups", "read:groups", "read:servers",
                  "admin:servers"]

#: Seconds the hub's pages keep the announcements before asking the service again (10; the tests shorten it).
ANNOUNCEMENTS_REFRESH_ENV = "NPUHUB_ANNOUNCEMENTS_REFRESH"
#: Seconds between two workshop clean-ups, when set (the tests shorten it).
CLEANUP_INTERVAL_ENV = "NPUHUB_WORKSHOP_CLEANUP_INTERVAL"


def fatal(problem: str) -> None:
    """Stop the hub at start with a sentence that says what to set."""
    sys.exit(f"FATAL (npuhub): {problem}")


def data_dir() -> Path:
    path = Path(os.environ.get("NPUHUB_DATA_DIR") or os.getcwd()).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def secret(env: str, path: Path) -> str:
    """``$env`` if set, else a random secret kept in ``path``, made on first use, readable by the hub's user only."""
    given = os.environ.get(env, "").strip()
    if given:
        return given
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(os.urandom(32).hex() + "\n")
    return path.read_text().strip()


#: The spawner for each ``spawner.type`` of the site file.
SPAWNER_CLASSES = {"local": "npuhub.spawners.local.LocalNPUSpawner",
                   "kubernetes": "npuhub.spawners.kube.KubeNPUSpawner"}


def configure(c, *, embedded: bool = False, spawner_class: str | None = None,
              public_url: str = "") -> SiteConfig:
    """Fill the JupyterHub config ``c`` from the site file. Returns the site read (for its ``auth``)."""
    site_file = os.environ.get("NPUHUB_SITE_CONFIG", "")
    if not site_file and not embedded:
        fatal("$NPUHUB_SITE_CONFIG must name the site file (npuhub.yaml) with the pool, flavors and sign-in.")
    try:
        site = load_site_config(site_file or None)
    except SiteConfigError as e:
        fatal(str(e))
    if site.auth.type == "demo" and not embedded:
        fatal(f"{site.source}: auth.type is 'demo', which only `npuhub up` (one machine, made-up accounts) may use. "
              "Set auth.type to 'oidc' or 'cas' with your university's sign-in (see the operator guide's SSO pages).")
    data = data_dir()
    public_url = public_url or site.auth.public_url or os.environ.get("NPUHUB_PUBLIC_URL") or "http://127.0.0.1:8000"

    c.JupyterHub.default_url = "/hub/home"
    # the hub's own SQLite database (and the workshops'): WAL, still fsynced at each commit (npuhub.sqlite_wal)
    from .sqlite_wal import wal_for_every_sqlite_database

    wal_for_every_sqlite_database()
    # every hub answer (pages, the workshop pages, the REST API, errors): never taken for another type
    settings = config_dict(c.JupyterHub, "tornado_settings")
    settings["headers"] = {"X-Content-Type-Options": "nosniff", **settings.get("headers", {})}
    c.JupyterHub.tornado_settings = settings
    c.JupyterHub.template_paths = [TEMPLATES, *config_list(c.JupyterHub, "template_paths")]
    c.JupyterHub.spawner_class = spawner_class or SPAWNER_CLASSES[site.spawner.type]
    if site.spawner.type == "kubernetes":
        configure_kubernetes(c, site.spawner.kubernetes)
    # which of a person's groups are labs (their shared folders, npuhub.labs): the sign-in's mapping
    c.NPUSpawnerMixin.group_mapping = site.auth.groups
    shared = configure_isolation(c, site, data)
    configure_auth(c, site.auth, public_url.rstrip("/"), data)
    if shared and not site.isolation.allow_shared_os_user:
        # guests are real people too: no codes while everyone's server can read everyone's files
        c.WorkshopCodesMixin.enable_workshop_codes = False
        say(message("isolation_guests_off"))
    configure_workshops(c, data, sorted(site.groups),
                        class_groups=[g for g in sorted(site.groups) if site.auth.groups.kind_of(g) in ("course", "lab")])

    # A CPU notebook to work in while a named NPU server waits in the queue (the lab
    # extension shows its place); the site's max_share still bounds what one person holds.
    c.JupyterHub.allow_named_servers = True
    c.JupyterHub.named_server_limit_per_user = 3
    c.LocalNPUSpawner.work_root = str(data / "users")
    configure_language(c, site.language)
    # JupyterLab's first start on a small machine can take a while (the start timeout
    # is the spawner's: time in the queue plus this).
    c.Spawner.http_timeout = 120
    c.Spawner.poll_interval = 10

    configure_service(c, data_dir=data, site_file=site_file, embedded=embedded)
    logging.getLogger("JupyterHub").addFilter(RefusalsWithoutTraceback())
    return site


def configure_language(c, language: str | None) -> None:
    """The site's ``language``: JupyterLab's default in every server, and the hub pages' default.

    Servers: an override of JupyterLab's Language setting (a person's own choice
    wins, see ``npuhub.lab_language``). Hub pages: ``npuhub_language`` in the
    templates, used when the browser prefers neither Chinese nor English.
    """
    if not language:
        return
    c.NPUSpawnerMixin.lab_language = language
    template_vars = config_dict(c.JupyterHub, "template_vars")
    template_vars["npuhub_language"] = page_language(language)
    c.JupyterHub.template_vars = template_vars


def configure_kubernetes(c, settings: dict) -> None:
    """The pod settings a site changes most, from the site file's ``spawner.kubernetes`` (see the site-file reference).

    Anything else of KubeSpawner is set in ``jupyterhub_config.d/`` as
    ``c.KubeNPUSpawner.<trait>``; the grant's resources are laid over it at each start.
    """
    kube = c.KubeNPUSpawner
    if "namespace" in settings:
        kube.namespace = settings["namespace"]
    if "image" in settings:
        kube.image = settings["image"]
    if "storage_class" in settings:
        kube.storage_class = settings["storage_class"]
    if "storage_capacity" in settings:
        kube.storage_capacity = settings["storage_capacity"]
    if "home_mount_path" in settings:
        kube.volume_mounts = [{"name": "home", "mountPath": settings["home_mount_path"]}]
    if "pod_start_timeout" in settings:
        kube.pod_start_timeout = settings["pod_start_timeout"]
    if "unschedulable_grace" in settings:
        kube.unschedulable_grace = settings["unschedulable_grace"]
    if "lab_storage_class" in settings:  # a volume per lab group (npuhub.labs)
        kube.lab_storage_class = settings["lab_storage_class"]
    if "lab_storage_capacity" in settings:
        kube.lab_storage_capacity = settings["lab_storage_capacity"]


class RefusalsWithoutTraceback(logging.Filter):
    """A start refused by policy is an outcome, not a bug: JupyterHub's form handler logs it with a traceback
    (``exc_info=True`` for any error); keep its line, drop the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], (NPUHubSpawnError, Refusal)):
            record.exc_info = None
            record.exc_text = None
        return True


def say(text: Text) -> None:
    """A start-up line for the operator, in both languages."""
    print(f"npuhub: {text.zh}\nnpuhub: {text.en}", file=sys.stderr, flush=True)


def configure_isolation(c, site: SiteConfig, data: Path) -> bool:
    """Each person's server as her own Unix account, or all as the hub's user; True when shared.

    Decided from the site file's ``isolation`` section. ``auto`` gives each
    person her own account when the hub runs as root and that can be set up
    (every directory above the data directory passable, the server runnable
    by another account), else falls back to shared and says why; an explicit
    ``os-users`` that cannot be set up stops the hub. Shared: say so at
    start-up in both languages, and refuse real sign-in unless
    ``isolation.allow_shared_os_user``. Either way the hub writes everything
    with umask 077, and says which control groups hold servers to their
    flavor's CPU and memory. Spawners other than LocalNPUSpawner (containers)
    are left alone.
    """
    from .spawners.local import LocalNPUSpawner, isolation_mode, resource_limits

    spawner = import_item(c.JupyterHub.spawner_class)
    if not (isinstance(spawner, type) and issubclass(spawner, LocalNPUSpawner)):
        return False
    os.umask(0o077)  # the hub's databases, pid files and logs: its user's alone
    try:
        mode = isolation_mode(site.isolation.mode)
    except ValueError as e:
        fatal(f"{site.source}: isolation.mode: {e}.")
    if mode == "os-users":
        problem = _os_users_problem(data)
        if problem and site.isolation.mode == "os-users":
            fatal(f"{site.source}: isolation.mode is os-users, but {problem}")
        if problem:
            print(f"npuhub: no Unix account per person: {problem}", file=sys.stderr, flush=True)
            mode = "shared"
    c.LocalNPUSpawner.isolation = mode
    c.LocalNPUSpawner.os_user_prefix = site.isolation.user_prefix
    # the labs' shared folders (npuhub.labs): which groups are labs is the sign-in's mapping
    c.LocalNPUSpawner.labs_root = str(data / "labs")
    limits = resource_limits()
    print(f"npuhub: CPU and memory of flavors enforced by: {limits.description}", file=sys.stderr, flush=True)
    if mode == "os-users":
        print(f"npuhub: each person's server runs as her own Unix account ({site.isolation.user_prefix}<name>)",
              file=sys.stderr, flush=True)
        return False
    import pwd

    _private(data, 0o700)
    say(message("isolation_shared", user=pwd.getpwuid(os.geteuid()).pw_name))
    say(message("labs_shared"))
    if site.auth.type != "demo" and not site.isolation.allow_shared_os_user:
        text = message("isolation_shared_refused", auth=site.auth.type.upper())
        fatal(f"{text.zh}\n{text.en}")
    return True


def _os_users_problem(data: Path) -> str | None:
    """Prepare the data directory for per-person accounts; what stops them, or None.

    The data directory becomes 0711 (others pass through to their own
    directory, list nothing) and npuhub's files in it its user's alone;
    every directory above must be passable, and another account (``nobody``)
    must be able to run the server command.
    """
    from .spawners.osusers import probe_command, run_as_probe

    users = data / "users"
    users.mkdir(exist_ok=True)
    _private(data, 0o711)
    users.chmod(0o711)  # each owner reaches her own directory (0700) and nobody lists the others
    closed = _closed_above(users)
    if closed:
        return (f"{closed} may not be passed through by others (mode o+x), so per-person accounts cannot reach "
                f"their working directories under {users}; use a data directory such as /var/lib/npuhub.")
    problem = run_as_probe(probe_command(), {k: v for k, v in os.environ.items()
                                             if k in ("PATH", "PYTHONPATH", "LANG", "LD_LIBRARY_PATH")})
    if problem:
        return (f"another Unix account cannot run the server ({sys.executable} -m jupyterhub.singleuser): "
                f"{problem}. Install npuhub where everyone may read and run it (e.g. a virtualenv under "
                "/opt/npuhub, with a Python not under /root).")
    return None


#: What the hub, the service and the workshops keep in the data directory (with SQLite's side files).
_DATA_FILES = ("crypt-key", "spawner-token", "workshops-token", "demo-password", "jupyterhub_cookie_secret",
               "jupyterhub.pid", "proxy.pid", "jupyterhub.sqlite", "admission.sqlite", "npuhub.sqlite")


def _private(path: Path, mode: int) -> None:
    """``path`` gets ``mode``; npuhub's own files in it lose every right of group and others.

    Only files npuhub knows it writes: the data directory may be a working
    directory with other things in it (a site hub's default is its cwd).
    """
    path.chmod(mode)
    for entry in path.iterdir():
        if entry.name.split("-")[0] in _DATA_FILES or entry.name in _DATA_FILES:
            if entry.is_file() and not entry.is_symlink():
                entry.chmod(entry.stat().st_mode & 0o700)


def _closed_above(path: Path) -> Path | None:
    """The first directory above ``path`` that others may not traverse, or None."""
    for parent in path.resolve().parents:
        if not parent.stat().st_mode & 0o001:
            return parent
    return None


def configure_auth(c, auth: AuthConfig, public_url: str, data: Path) -> None:
    """Sign-in from the site file's ``auth`` section: demo accounts, OpenID Connect or CAS.

    Every kind maps the provider's groups the same way (``auth.groups``) and
    hands out the same roles, whose scopes the npuhub service checks.
    """
    c.JupyterHub.custom_scopes = CUSTOM_SCOPES
    c.Authenticator.manage_groups = True
    c.Authenticator.manage_roles = True
    # JupyterHub reads the key from its environment; it never reaches a server's (env_keep).
    os.environ["JUPYTERHUB_CRYPT_KEY"] = secret("JUPYTERHUB_CRYPT_KEY", data / "crypt-key")
    c.Authenticator.enable_auth_state = True

    if auth.type == "demo":
        c.JupyterHub.authenticator_class = "npuhub.auth.demo.DemoAuthenticator"
        c.DemoAuthenticator.group_mapping = auth.groups
    elif auth.type == "oidc":
        secret_env = auth.oidc["client_secret_env"]
        client_secret = os.environ.get(secret_env)
        if not client_secret:
            fatal(f"auth.oidc: the client secret is read from ${secret_env}, which is not set.")
        c.JupyterHub.authenticator_class = "npuhub.auth.oidc.NPUHubOIDCAuthenticator"
        oidc = c.NPUHubOIDCAuthenticator
        oidc.issuer = auth.oidc["issuer"]
        oidc.client_id = auth.oidc["client_id"]
        oidc.client_secret = client_secret
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
        cas.check_login_state = auth.cas.get("check_state", True)
        cas.group_mapping = auth.groups


def configure_workshops(c, data: Path, site_groups: list[str], class_groups: list[str] = ()) -> None:
    """Workshop codes, when the authenticator has them (npuhub.workshops.with_workshop_codes).

    Their tables go into ``<data dir>/npuhub.sqlite``, their pages into the
    hub's templates, and the clean-up gets the hub service ``npuhub-workshops``,
    with its own token and one scope: remove accounts of the guest group, so
    the hub itself keeps it away from everyone else. The flavors a code may
    name come from the npuhub service (``configure_service`` gives the
    workshops its address); of the site file they get the group names only.
    """
    from .workshops import TEMPLATES as WORKSHOP_TEMPLATES
    from .workshops import WorkshopCodesMixin
    from .workshops.cleanup import SERVICE_NAME, service_scopes

    if not issubclass(import_item(c.JupyterHub.authenticator_class), WorkshopCodesMixin):
        return
    if "WorkshopCodesMixin" in c and c.WorkshopCodesMixin.get("enable_workshop_codes") is False:
        return
    # Before JupyterHub's own templates: our login.html and page.html extend those.
    c.JupyterHub.template_paths = [WORKSHOP_TEMPLATES, *config_list(c.JupyterHub, "template_paths")]
    c.WorkshopCodesMixin.db_url = f"sqlite:///{data / 'npuhub.sqlite'}"
    c.WorkshopCodesMixin.site_groups = list(site_groups)
    if os.environ.get(CLEANUP_INTERVAL_ENV):
        c.WorkshopCodesMixin.cleanup_interval = float(os.environ[CLEANUP_INTERVAL_ENV])
    guest_group = WorkshopCodesMixin.guest_group.default_value
    c.WorkshopCodesMixin.guest_group = guest_group
    c.WorkshopCodesMixin.service_name = SERVICE_NAME
    token = secret("NPUHUB_WORKSHOPS_TOKEN", data / "workshops-token")
    c.JupyterHub.services = [*config_list(c.JupyterHub, "services"), {"name": SERVICE_NAME, "api_token": token}]
    c.JupyterHub.load_roles = [*config_list(c.JupyterHub, "load_roles"), {
        "name": SERVICE_NAME,
        "description": "Removes the accounts of workshop guests once their workshop is over, and roster members "
                       "from the course group their window gave them",
        "scopes": service_scopes(guest_group, class_groups),
        "services": [SERVICE_NAME],
    }]


def config_dict(section, name: str) -> dict:
    """A dict setting as configured so far ({} when unset), to extend by assigning a new dict."""
    if name not in section:
        return {}
    value = section[name]
    return dict(value.get_value({}) if isinstance(value, LazyConfigValue) else value)


def config_list(section, name: str) -> list:
    """A list setting as configured so far ([] when unset), to extend by assigning a new list."""
    if name not in section:
        return []
    value = section[name]
    return list(value.get_value([]) if isinstance(value, LazyConfigValue) else value)


def configure_service(c, *, data_dir: Path, site_file: str = "", embedded: bool = False) -> None:
    """Register the npuhub service (``npuhub.service``) with the hub, at ``/services/npuhub/``.

    By default the hub starts it (a managed service) on a loopback port
    (``$NPUHUB_SERVICE_PORT``, else a free one), with its database from
    ``$NPUHUB_DB_URL`` (default: ``<data dir>/admission.sqlite``) and the same
    site file. With ``$NPUHUB_SERVICE_URL`` set, the service runs elsewhere (its
    own process or Deployment) with the token in ``$NPUHUB_SERVICE_API_TOKEN``;
    the hub only routes to it and knows its token.
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
            fatal("NPUHUB_SERVICE_URL is set, so NPUHUB_SERVICE_API_TOKEN must hold the service's token "
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
                # idle reclaim judges no faster than the servers report activity (npuhub/activity.py)
                "NPUHUB_ACTIVITY_INTERVAL": str(report_interval()),
            },
        )
    services = [s for s in config_list(c.JupyterHub, "services") if s.get("name") not in ("npuhub", "npuhub-spawner")]
    # The spawners in the hub ask the service on people's behalf, with a token of their own.
    spawner_token = secret("NPUHUB_SPAWNER_TOKEN", data_dir / "spawner-token")
    services.append({"name": "npuhub-spawner", "api_token": spawner_token, "display": False})
    c.JupyterHub.services = services + [service]
    c.NPUSpawnerMixin.admission_url = service["url"] + "/services/npuhub/api/v1"
    c.NPUSpawnerMixin.admission_token = spawner_token
    # the workshop pages ask the same service, with the same token, for a course's flavors
    c.WorkshopCodesMixin.admission_url = c.NPUSpawnerMixin.admission_url
    c.WorkshopCodesMixin.admission_token = spawner_token
    # every hub page shows the current announcements, asked of the same service (npuhub/templates/page.html)
    from .announcements.banner import HubBanner

    template_vars = config_dict(c.JupyterHub, "template_vars")
    template_vars["npuhub_announcements"] = HubBanner(
        c.NPUSpawnerMixin.admission_url, spawner_token,
        max_age=float(os.environ.get(ANNOUNCEMENTS_REFRESH_ENV) or 10))
    c.JupyterHub.template_vars = template_vars
    roles = [r for r in config_list(c.JupyterHub, "load_roles")
             if r.get("name") not in ("npuhub-service", "npuhub-spawner")]
    roles.append({"name": "npuhub-spawner", "description": "The hub's spawners asking for slices for people",
                  "scopes": ["custom:npuhub:operate"], "services": ["npuhub-spawner"]})
    c.JupyterHub.load_roles = roles + [{
        "name": "npuhub-service",
        "description": "The npuhub service: reads people's groups, stops servers whose budget is spent",
        "scopes": SERVICE_SCOPES,
        "services": ["npuhub"],
    }]


def check(c) -> None:
    """After every configuration file: the one setting without which no start can be admitted."""
    if "NPUSpawnerMixin" not in c or not c.NPUSpawnerMixin.get("admission_url"):
        fatal("c.NPUSpawnerMixin.admission_url is not set: every start is admitted by the npuhub service. "
              "Call npuhub.hubconfig.configure(c) (hub_config/jupyterhub_config.py does), or set it to the "
              "service's API, e.g. http://npuhub:8090/services/npuhub/api/v1, with c.NPUSpawnerMixin.admission_token.")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
