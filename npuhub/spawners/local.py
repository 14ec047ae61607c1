"""The embedded stack's spawner: local JupyterLab processes, one working directory per person.

For one machine only: every server runs as the hub's own OS user, so people are
not isolated from each other. CPU and memory limits of a flavor are passed to
the server (``CPU_LIMIT``, ``MEM_LIMIT``) but not enforced.
"""

from __future__ import annotations

import os
import re
import sys
from importlib import resources

from traitlets import Unicode, default

from jupyterhub.spawner import SimpleLocalProcessSpawner

from .mixin import NPUSpawnerMixin

__all__ = ["LocalNPUSpawner", "safe_dirname"]


def safe_dirname(name: str) -> str:
    """A directory name for a user name: letters, digits, '.', '_' and '-' kept, the rest hex-escaped."""
    safe = re.sub(r"[^a-z0-9_-]", lambda m: "." + m.group().encode().hex(), name.lower())
    return safe if safe.strip(".") else "_"


class LocalNPUSpawner(NPUSpawnerMixin, SimpleLocalProcessSpawner):
    """Starts ``jupyterhub-singleuser`` (JupyterLab) as a local process holding a simulated slice."""

    work_root = Unicode(
        "",
        config=True,
        help="""Directory under which each person gets a working directory (their notebooks).

        Empty means ``./npuhub-data/users``.
        """,
    )

    @default("home_dir")
    def _default_home_dir(self):
        root = self.work_root or os.path.join(os.getcwd(), "npuhub-data", "users")
        return os.path.join(os.path.abspath(root), safe_dirname(self.user.name))

    @default("cmd")
    def _default_cmd(self):
        # The interpreter running the hub has JupyterLab; PATH may not point at it.
        return [sys.executable, "-m", "jupyterhub.singleuser"]

    @default("default_url")
    def _default_default_url(self):
        return "/lab"

    def user_env(self, env):
        env = super().user_env(env)
        # Quiet, offline-friendly JupyterLab defaults (no news, no update checks, root allowed
        # when the hub itself runs as root in a container or CI).
        env["JUPYTER_CONFIG_PATH"] = str(resources.files("npuhub") / "data" / "singleuser")
        return env
