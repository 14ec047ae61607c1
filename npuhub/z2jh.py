"""npuhub's hub wiring inside the hub of the zero-to-jupyterhub (z2jh) chart.

The npuhub chart (``helm/npuhub``) hands z2jh's ``jupyterhub`` chart one
``hub.extraConfig`` entry, ``00-npuhub``::

    from npuhub.z2jh import configure_hub
    configure_hub(c)

z2jh's ``jupyterhub_config.py`` runs it last, after it has set what its
values say: the proxy's address and ports, the hub's database (``hub.db``),
``c.JupyterHub.services`` from ``hub.services`` (each with the api token z2jh
generated into its Secret), ``c.JupyterHub.load_roles`` from ``hub.loadRoles``,
KubeSpawner's pod settings from ``singleuser.*``, the cookie secret and
``c.CryptKeeper.keys``, and the ``hub.config`` pass-through.

``configure_hub`` lays npuhub's wiring (:func:`npuhub.hubconfig.configure`)
over that without undoing it:

- the site file comes from ``$NPUHUB_SITE_CONFIG`` (the chart mounts the
  ``npuhub-site`` ConfigMap there); its ``spawner.type`` must be
  ``kubernetes`` (the hub runs ``KubeNPUSpawner``, which reads every
  ``c.KubeSpawner`` setting z2jh made; the site file's ``spawner.kubernetes``
  keys, when given, win over ``singleuser.*``);
- the npuhub service runs in its own Deployment: the entry z2jh made for
  ``hub.services.npuhub`` is *extended* (npuhub's OAuth settings added, the
  operator's own keys kept), never doubled; its url and token are
  ``$NPUHUB_SERVICE_URL`` / ``$NPUHUB_SERVICE_API_TOKEN`` when set, else the
  entry's own, and the two must agree;
- entries z2jh made for ``npuhub-spawner`` or ``npuhub-workshops`` (if the
  values declare them) give those their tokens, so they outlive hub restarts;
- the site file's ``auth`` section chooses the authenticator; z2jh's default
  (``dummy``) gives way, another one set in ``hub.config`` stops the hub with
  a sentence naming the key;
- z2jh's database, proxy, ports, cookie secret and crypt keys stay as z2jh set
  them; what z2jh or the operator set for named servers stays too;
- when people's pods run in another namespace (the site's
  ``spawner.kubernetes.namespace``), they are given the hub's and the
  service's cluster-wide names (``hub.<namespace>.svc``).
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

from . import hubconfig
from .hubconfig import config_list, fatal
from .site_config import SiteConfigError, load_site_config

__all__ = ["configure_hub", "NPUHUB_SERVICES", "KEPT_SETTINGS"]

#: The hub services npuhub's wiring registers (hubconfig and the workshops); z2jh entries of these names are merged.
NPUHUB_SERVICES = {"npuhub": "NPUHUB_SERVICE_API_TOKEN", "npuhub-spawner": "NPUHUB_SPAWNER_TOKEN",
                   "npuhub-workshops": "NPUHUB_WORKSHOPS_TOKEN"}

#: Settings npuhub gives a default for, which stay as z2jh (its ``hub.*`` values) or ``hub.config`` set them.
KEPT_SETTINGS = (("JupyterHub", "allow_named_servers"), ("JupyterHub", "named_server_limit_per_user"),
                 ("JupyterHub", "default_url"), ("Spawner", "http_timeout"), ("Spawner", "poll_interval"),
                 # the workshop codes' database: <data dir>/npuhub.sqlite on z2jh's hub volume unless set
                 ("WorkshopCodesMixin", "db_url"))

#: z2jh's default authenticator (its values' ``hub.config.JupyterHub.authenticator_class``).
Z2JH_DEFAULT_AUTHENTICATORS = ("dummy", "jupyterhub.auth.DummyAuthenticator")

#: The authenticator each ``auth.type`` of the site file chooses (hubconfig.configure_auth), and its entry point.
AUTHENTICATORS = {"oidc": ("npuhub.auth.oidc.NPUHubOIDCAuthenticator", "npuhub-oidc"),
                  "cas": ("npuhub.auth.cas.CASAuthenticator", "npuhub-cas"),
                  "demo": ("npuhub.auth.demo.DemoAuthenticator", "npuhub-demo")}


def configure_hub(c) -> None:
    """Apply npuhub's hub wiring to the configuration ``c`` z2jh's ``jupyterhub_config.py`` has built."""
    site = _site()
    theirs = {s.get("name"): dict(s) for s in config_list(c.JupyterHub, "services")}
    _service_address(theirs.get("npuhub"))
    for name, env in NPUHUB_SERVICES.items():
        token = (theirs.get(name) or {}).get("api_token")
        if name != "npuhub" and token and not os.environ.get(env):
            os.environ[env] = token
    if c.CryptKeeper.get("keys") and not os.environ.get("JUPYTERHUB_CRYPT_KEY"):
        # z2jh's keys (its Secret) are the ones auth state is encrypted with: no second key in the data directory
        os.environ["JUPYTERHUB_CRYPT_KEY"] = ";".join(c.CryptKeeper["keys"])
    _check_authenticator(c.JupyterHub.get("authenticator_class"), AUTHENTICATORS[site.auth.type])
    kept = {(section, name): c[section][name] for section, name in KEPT_SETTINGS
            if section in c and name in c[section]}
    roles = {r.get("name"): r for r in config_list(c.JupyterHub, "load_roles")}
    # npuhub's own entries replace z2jh's of the same name, then get z2jh's other keys back
    c.JupyterHub.services = [s for s in config_list(c.JupyterHub, "services")
                             if s.get("name") not in NPUHUB_SERVICES]

    hubconfig.configure(c)

    for (section, name), value in kept.items():
        c[section][name] = value
    c.JupyterHub.services = [{**theirs.get(s.get("name"), {}), **s}
                             for s in config_list(c.JupyterHub, "services")]
    c.JupyterHub.load_roles = [_merged_role(roles.get(r.get("name")), r)
                               for r in config_list(c.JupyterHub, "load_roles")]
    _servers_elsewhere(c, site.spawner.kubernetes.get("namespace"), os.environ.get("POD_NAMESPACE", ""))
    hubconfig.check(c)


def _site():
    """The site file, checked for what a hub in a cluster needs."""
    path = os.environ.get("NPUHUB_SITE_CONFIG", "")
    if not path:
        fatal("$NPUHUB_SITE_CONFIG must name the site file; the npuhub chart mounts its ConfigMap npuhub-site at "
              "/etc/npuhub/npuhub.yaml and sets it in jupyterhub.hub.extraEnv.")
    try:
        site = load_site_config(path)
    except SiteConfigError as e:
        fatal(str(e))
    if site.spawner.type != "kubernetes":
        fatal(f"{site.source}: spawner.type is {site.spawner.type!r}, but the hub of the Helm chart starts pods: "
              "set spawner.type to 'kubernetes' (the service reads it too).")
    if site.auth.type in ("oidc", "cas") and not (site.auth.public_url or os.environ.get("NPUHUB_PUBLIC_URL")):
        fatal(f"{site.source}: auth.public_url must be the hub's address people open (e.g. "
              "https://jupyter.example.edu): the identity provider sends them back to it.")
    return site


def _service_address(entry: dict | None) -> None:
    """``$NPUHUB_SERVICE_URL`` and ``$NPUHUB_SERVICE_API_TOKEN``: z2jh's ``hub.services.npuhub`` entry gives
    them when unset, and must agree with them when set."""
    entry = entry or {}
    for env, key, what in (("NPUHUB_SERVICE_URL", "url", "url"),
                           ("NPUHUB_SERVICE_API_TOKEN", "api_token", "apiToken")):
        given, theirs = os.environ.get(env, "").strip(), entry.get(key)
        if key == "url" and isinstance(theirs, str):
            theirs, given = theirs.rstrip("/"), given.rstrip("/")
        if given and theirs and given != theirs:
            shown = f" ({given} and {theirs})" if key == "url" else ""
            fatal(f"${env} and jupyterhub.hub.services.npuhub.{what} differ{shown}: the hub must reach and "
                  "trust the one npuhub service; set one of them, or the same value in both.")
        if theirs and not given:
            os.environ[env] = theirs
    if not os.environ.get("NPUHUB_SERVICE_URL"):
        fatal("the npuhub service runs in its own Deployment: declare jupyterhub.hub.services.npuhub.url "
              "(the npuhub chart sets http://npuhub:10101) or set $NPUHUB_SERVICE_URL.")


def _servers_elsewhere(c, pods_namespace: str | None, hub_namespace: str) -> None:
    """People's pods in another namespace than the hub's reach the hub and the service by cluster-wide names.

    z2jh's ``hub_connect_url`` and the chart's service address are short Service
    names (``http://hub:8081``, ``http://npuhub:10101``), which resolve only in
    the release's namespace: there the pods get ``<name>.<namespace>.svc``.
    A value set explicitly (``c.NPUSpawnerMixin.service_url_for_servers``) stays.
    """
    if not pods_namespace or not hub_namespace or pods_namespace == hub_namespace:
        return
    if not c.NPUSpawnerMixin.get("service_url_for_servers"):
        service = _qualified(os.environ["NPUHUB_SERVICE_URL"], hub_namespace)
        c.NPUSpawnerMixin.service_url_for_servers = service.rstrip("/") + "/services/npuhub/"
    if c.JupyterHub.get("hub_connect_url"):
        c.JupyterHub.hub_connect_url = _qualified(c.JupyterHub.hub_connect_url, hub_namespace)


def _qualified(url: str, namespace: str) -> str:
    """``url`` with a short Service name as its host made ``<name>.<namespace>.svc``; other hosts unchanged."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host or "." in host or ":" in host or host == "localhost":
        return url
    netloc = f"{host}.{namespace}.svc" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _check_authenticator(operator, chosen: tuple[str, str]) -> None:
    """An authenticator set in ``hub.config`` must be z2jh's default or the one the site file's ``auth:`` chooses."""
    if not operator or operator in Z2JH_DEFAULT_AUTHENTICATORS:
        return
    name = operator if isinstance(operator, str) else f"{operator.__module__}.{operator.__qualname__}"
    if name in chosen:
        return
    fatal(f"jupyterhub.hub.config.JupyterHub.authenticator_class is {name!r}, but npuhub's sign-in is the site "
          f"file's auth: section (which chooses {chosen[0]}): remove that key and configure the identity provider "
          "there (the operator guide's Helm chapter, step 3).")


def _merged_role(theirs: dict | None, ours: dict) -> dict:
    """npuhub's role with whatever z2jh's ``hub.loadRoles`` entry of the same name adds (scopes, members)."""
    if not theirs:
        return ours
    merged = {**theirs, **ours}
    for key in ("scopes", "users", "groups", "services"):
        items = list(ours.get(key) or [])
        items += [i for i in theirs.get(key) or [] if i not in items]
        if items:
            merged[key] = items
    return merged
