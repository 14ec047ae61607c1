"""STAND-IN for z2jh's hub configuration (jupyterhub/files/hub/jupyterhub_config.py of the z2jh chart).

Written for npuhub's tests, not copied. It does, in z2jh's order and from the
same values (through the stand-in ``z2jh`` module next to it), the part of
z2jh's configuration that npuhub's ``hub.extraConfig`` meets, then runs
``hub.extraConfig`` as z2jh does (sorted by key, ``exec`` with this file's
globals, so ``c`` is the hub's config):

- KubeSpawner as the spawner, its namespace from ``$POD_NAMESPACE``, its image
  from ``singleuser.image``, its command, default URL, environment and dynamic
  per-user storage from ``singleuser.*``;
- the hub database from ``hub.db`` (``sqlite-pvc``: ``jupyterhub.sqlite`` in the
  working directory) and ``JupyterHub`` settings from ``hub.*``
  (``allowNamedServers``, ``namedServerLimitPerUser``, ``baseUrl``, ...);
- ``c.JupyterHub.services`` from ``hub.services`` (each one's ``api_token``
  from the hub Secret's ``hub.services.<name>.apiToken``) and
  ``c.JupyterHub.load_roles`` from ``hub.loadRoles``;
- the cookie secret and ``CryptKeeper.keys`` from the hub Secret;
- the ``hub.config`` pass-through (secrets removed, as z2jh does).

Left out, and why: the proxy runs in its own pod under z2jh; here the hub
starts it (ports on its command line). Node affinity, tolerations, image pull
secrets, the idle culler, the cloud-metadata block: npuhub's wiring does not
touch them.
"""

c = get_config()  # noqa: F821 (given by JupyterHub, as in z2jh's file)

import os  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))

from z2jh import get_config, get_secret_value, set_config_if_not_none  # noqa: E402 (the stand-in, next to this file)



def camel(name: str) -> str:
    return re.sub(r"_([a-z])", lambda m: m.group(1).upper(), name)


c.JupyterHub.spawner_class = "kubespawner.KubeSpawner"
c.JupyterHub.cleanup_servers = False
c.JupyterHub.tornado_settings = {"slow_spawn_timeout": 0}

db_type = get_config("hub.db.type")
if db_type == "sqlite-pvc":
    c.JupyterHub.db_url = "sqlite:///jupyterhub.sqlite"
elif db_type == "sqlite-memory":
    c.JupyterHub.db_url = "sqlite://"
else:
    set_config_if_not_none(c.JupyterHub, "db_url", "hub.db.url")

for trait in ("concurrent_spawn_limit", "active_server_limit", "base_url", "allow_named_servers",
              "named_server_limit_per_user", "template_paths", "template_vars"):
    set_config_if_not_none(c.JupyterHub, trait, "hub." + camel(trait))

c.KubeSpawner.namespace = os.environ.get("POD_NAMESPACE", "default")
for trait, key in (("start_timeout", None), ("image_pull_policy", "image.pullPolicy"), ("uid", None),
                   ("fs_gid", None), ("node_selector", None), ("mem_limit", "memory.limit"),
                   ("mem_guarantee", "memory.guarantee"), ("cpu_limit", "cpu.limit"),
                   ("cpu_guarantee", "cpu.guarantee"), ("environment", "extraEnv")):
    set_config_if_not_none(c.KubeSpawner, trait, "singleuser." + (key or camel(trait)))
image = get_config("singleuser.image.name")
if image:
    tag = get_config("singleuser.image.tag")
    c.KubeSpawner.image = f"{image}:{tag}" if tag else image

if get_config("singleuser.storage.type") == "dynamic":
    volume = get_config("singleuser.storage.dynamic.volumeNameTemplate")
    template = get_config("singleuser.storage.dynamic.pvcNameTemplate")
    if template:
        c.KubeSpawner.pvc_name_template = template
    c.KubeSpawner.storage_pvc_ensure = True
    set_config_if_not_none(c.KubeSpawner, "storage_class", "singleuser.storage.dynamic.storageClass")
    set_config_if_not_none(c.KubeSpawner, "storage_capacity", "singleuser.storage.capacity")
    c.KubeSpawner.volumes = {volume: {"name": volume, "persistentVolumeClaim": {"claimName": "{pvc_name}"}}}
    c.KubeSpawner.volume_mounts = {volume: {"name": volume, "mountPath": get_config("singleuser.storage.homeMountPath"),
                                            "subPath": get_config("singleuser.storage.dynamic.subPath")}}

c.JupyterHub.services = []
c.JupyterHub.load_roles = []
for name, service in (get_config("hub.services") or {}).items():
    service = dict(service)
    service.setdefault("name", name)
    service.pop("apiToken", None)
    service["api_token"] = get_secret_value(f"hub.services.{name}.apiToken")
    c.JupyterHub.services.append(service)
for name, role in (get_config("hub.loadRoles") or {}).items():
    c.JupyterHub.load_roles.append({"name": name, **role})

if "cmd" in (get_config("singleuser") or {}):
    c.Spawner.cmd = get_config("singleuser.cmd")
set_config_if_not_none(c.Spawner, "default_url", "singleuser.defaultUrl")

c.JupyterHub.cookie_secret = get_secret_value("hub.config.JupyterHub.cookie_secret")
c.CryptKeeper.keys = get_secret_value("hub.config.CryptKeeper.keys").split(";")

for section, settings in (get_config("hub.config") or {}).items():
    settings = dict(settings or {})
    for secret in {"JupyterHub": ("proxy_auth_token", "cookie_secret", "services"),
                   "ConfigurableHTTPProxy": ("auth_token",), "CryptKeeper": ("keys",)}.get(section, ()):
        settings.pop(secret, None)
    if not section[:1].isupper():
        sys.exit(f"FATAL: Invalid hub.config section name: {section}.")
    c[section].update(settings)

for key, source in sorted((get_config("hub.extraConfig") or {}).items()):
    print(f"Loading extra config: {key}")
    exec(source)
