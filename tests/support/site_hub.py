"""A site's hub for tests: `jupyterhub -f hub_config/jupyterhub_config.py` outside `npuhub up`.

Configured only by the site file ($NPUHUB_SITE_CONFIG) and the environment,
as an operator runs it; sign-in through the real OpenID provider of
tests/idp/oidc (support.oidc_idp).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from support.oidc_idp import CLIENT_SECRET, SECRET_ENV
from support.stacks import BIN, EmbeddedStack

ROOT = Path(__file__).resolve().parents[2]
HUB_CONFIG = ROOT / "hub_config" / "jupyterhub_config.py"


class SiteHub(EmbeddedStack):
    """A plain `jupyterhub -f hub_config/jupyterhub_config.py` in its own working directory."""

    def command(self) -> list[str]:
        from npuhub.embedded.hub import NODE_PROXY

        return [str(BIN / "jupyterhub"), "-f", str(HUB_CONFIG), "--ip=127.0.0.1", f"--port={self.port}",
                f"--JupyterHub.hub_port={self.hub_port}",
                f"--ConfigurableHTTPProxy.api_url=http://127.0.0.1:{self.api_port}",
                f"--ConfigurableHTTPProxy.command={NODE_PROXY}"]

    def start(self, timeout: float = 60) -> "SiteHub":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {"NPUHUB_SITE_CONFIG": str(self.config), SECRET_ENV: CLIENT_SECRET,
               "NPUHUB_PUBLIC_URL": self.base_url}
        with pytest.MonkeyPatch.context() as mp:
            mp.delenv("NPUHUB_MODE", raising=False)
            mp.delenv("NPUHUB_DATA_DIR", raising=False)
            for name, value in env.items():
                mp.setenv(name, value)
            # JupyterHub keeps its database and cookie secret in the working directory
            self.workdir = self.data_dir
            return super().start(timeout)
