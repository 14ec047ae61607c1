"""The hub of the npuhub Helm chart as z2jh runs it, on loopback: its values, its Secret, its environment.

What a cluster would do, done by hand (no cluster or container runs here):

- the values z2jh's hub reads are z2jh's own defaults (the few this needs,
  ``Z2JH_DEFAULTS``, recorded facts about upstream), then the npuhub chart's
  ``jupyterhub:`` section (``helm/npuhub/values.yaml``), then the operator's;
  they are written where z2jh's loader reads them, ``<root>/secret/values.yaml``,
  with the hub Secret's other keys as files beside it (``hub.services.npuhub.apiToken``,
  the cookie secret, the crypt keys);
- cluster DNS names become loopback addresses (``http://npuhub:10101`` is the
  service the test starts), ``hub.extraVolumeMounts`` become directories
  (``/etc/npuhub`` holds the site file as the ``npuhub-site`` ConfigMap would,
  ``/srv/jupyterhub`` is the hub's working directory), and ``hub.extraEnv``
  becomes the hub's environment with each ``secretKeyRef`` read from the
  named Secret;
- the hub runs the stand-in of z2jh's configuration
  (tests/support/z2jh_hub/jupyterhub_config.py), which ends by running
  ``hub.extraConfig`` as z2jh does.
"""

from __future__ import annotations

import copy
import os
import secrets
from pathlib import Path

import pytest
import yaml

from support.stacks import BIN, EmbeddedStack, free_port

ROOT = Path(__file__).resolve().parents[2]
CHART_VALUES = ROOT / "helm" / "npuhub" / "values.yaml"
STANDIN_CONFIG = Path(__file__).resolve().parent / "z2jh_hub" / "jupyterhub_config.py"

#: The npuhub chart's hub.extraConfig entry, exactly (contract A).
EXTRA_CONFIG = "from npuhub.z2jh import configure_hub\nconfigure_hub(c)\n"

#: z2jh's own defaults (its values.yaml) among the keys the stand-in reads: facts about upstream, read from
#: jupyterhub/values.yaml of jupyterhub/zero-to-jupyterhub-k8s, not a copy of it.
Z2JH_DEFAULTS = {
    "hub": {"config": {"JupyterHub": {"admin_access": True, "authenticator_class": "dummy"}},
            "db": {"type": "sqlite-pvc"}, "allowNamedServers": False, "services": {}, "loadRoles": {},
            "extraConfig": {}, "extraEnv": {}, "concurrentSpawnLimit": 64, "baseUrl": "/"},
    "singleuser": {"cmd": "jupyterhub-singleuser", "startTimeout": 300, "uid": 1000, "fsGid": 100,
                   "memory": {"guarantee": "1G"},
                   "storage": {"type": "dynamic", "capacity": "10Gi", "homeMountPath": "/home/jovyan",
                               "dynamic": {"volumeNameTemplate": "volume-{user_server}"}},
                   "image": {"name": "quay.io/jupyterhub/k8s-singleuser-sample", "tag": "set-by-chartpress"}},
}


def merged(base: dict, more: dict) -> dict:
    """Helm's merge of values: mappings key by key, anything else replaced."""
    out = copy.deepcopy(base)
    for key, value in more.items():
        if isinstance(out.get(key), dict) and isinstance(value, dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def chart_values() -> dict:
    """The ``jupyterhub:`` section of the npuhub chart's values."""
    from support.parts import require

    require(CHART_VALUES.exists(), f"the npuhub chart's values ({CHART_VALUES.relative_to(ROOT)})")
    return yaml.safe_load(CHART_VALUES.read_text())["jupyterhub"]


def env_entries(extra_env) -> dict:
    """z2jh's ``extraEnv`` (a mapping of name to value or to an env entry, or a list of env entries) by name."""
    if isinstance(extra_env, list):
        return {e["name"]: e for e in extra_env}
    return {name: (spec if isinstance(spec, dict) else {"name": name, "value": spec})
            for name, spec in (extra_env or {}).items()}


class Z2JHHub(EmbeddedStack):
    """A real JupyterHub run by the stand-in of z2jh's configuration from the chart's values.

    ``service_port``/``service_token``/``hub_port``/``config`` are what
    ``support.service_stack.ServiceProcess`` needs to run the npuhub service for it.
    """

    def __init__(self, workdir: Path, site: dict, cluster, operator_values: dict | None = None,
                 secrets_by_name: dict | None = None):
        workdir.mkdir(parents=True, exist_ok=True)
        super().__init__(workdir, site)
        self.cluster = cluster
        self.service_port = free_port()
        self.service_token = secrets.token_hex(16)
        self.z2jh_root = workdir / "usr-local-etc-jupyterhub"
        self.dns = {"http://npuhub:10101": f"http://127.0.0.1:{self.service_port}",
                    "http://hub:8081": f"http://127.0.0.1:{self.hub_port}"}
        text = yaml.safe_dump(merged(merged(Z2JH_DEFAULTS, chart_values()), operator_values or {}))
        for name, address in self.dns.items():
            text = text.replace(name, address)
        self.values = yaml.safe_load(text)
        # z2jh's Secret `hub` holds a generated token for each of hub.services
        tokens = {f"hub.services.{name}.apiToken": secrets.token_hex(16) for name in self.values["hub"]["services"]}
        self.secrets = {"hub": {
            **tokens,
            "hub.services.npuhub.apiToken": self.service_token,
            "hub.config.JupyterHub.cookie_secret": secrets.token_hex(32),
            "hub.config.CryptKeeper.keys": secrets.token_hex(32),
            "hub.config.ConfigurableHTTPProxy.auth_token": secrets.token_hex(32),
        }, **(secrets_by_name or {})}

    def write_secret(self) -> None:
        """The hub Secret, mounted as z2jh mounts it: values.yaml and one file per key."""
        secret = self.z2jh_root / "secret"
        secret.mkdir(parents=True, exist_ok=True)
        (secret / "values.yaml").write_text(yaml.safe_dump(self.values))
        for key, value in self.secrets["hub"].items():
            (secret / key).write_text(value)

    def mounts(self) -> dict[str, Path]:
        """``hub.extraVolumeMounts`` (and the hub's working directory) as directories here."""
        volumes = {v["name"]: v for v in self.values["hub"].get("extraVolumes") or []}
        paths = {"/srv/jupyterhub": self.data_dir}
        for mount in self.values["hub"].get("extraVolumeMounts") or []:
            if (volumes.get(mount["name"]) or {}).get("configMap", {}).get("name") == "npuhub-site":
                paths[mount["mountPath"].rstrip("/")] = self.config.parent  # holds npuhub.yaml
        return paths

    def hub_env(self) -> dict[str, str]:
        """``hub.extraEnv`` as the pod's environment, plus what z2jh's Deployment and the cluster give."""
        env = {"POD_NAMESPACE": self.cluster.namespace, "KUBECONFIG": str(self.cluster.kubeconfig)}
        mounts = self.mounts()
        for name, entry in env_entries(self.values["hub"].get("extraEnv")).items():
            if "valueFrom" in entry:
                ref = entry["valueFrom"]["secretKeyRef"]
                value = self.secrets[ref["name"]][ref["key"]]
            else:
                value = str(entry["value"])
            for path, here in mounts.items():
                if value == path or value.startswith(path + "/"):
                    value = str(here) + value[len(path):]
            env[name] = value
        return env

    def command(self) -> list[str]:
        from npuhub.embedded.hub import NODE_PROXY

        return [str(BIN / "jupyterhub"), "-f", str(STANDIN_CONFIG), "--ip=127.0.0.1", f"--port={self.port}",
                f"--JupyterHub.hub_port={self.hub_port}",
                f"--ConfigurableHTTPProxy.api_url=http://127.0.0.1:{self.api_port}",
                f"--ConfigurableHTTPProxy.command={NODE_PROXY}"]

    def start(self, timeout: float = 60) -> "Z2JHHub":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.write_secret()
        with pytest.MonkeyPatch.context() as mp:
            for name in [n for n in os.environ if n.startswith(("NPUHUB_", "JUPYTERHUB_"))]:
                mp.delenv(name)
            for name, value in {**self.hub_env(), "NPUHUB_TEST_Z2JH_ROOT": str(self.z2jh_root)}.items():
                mp.setenv(name, value)
            self.workdir = self.data_dir  # z2jh's hub works in /srv/jupyterhub
            return super().start(timeout)
