# JupyterHub configuration of the workshop class test: the embedded stack's, where most servers are light.
#
# The people named in $NPUHUB_TEST_FULL_SERVERS get real JupyterLab servers; everyone else gets
# tests/support/light_singleuser.py, started by the same spawner (admission by the service, a slice of
# the pool, her own Unix account and cgroup), which answers the hub and redirects to the server's
# default URL as Jupyter Server does. Forty JupyterLab servers do not fit on the two cores the suite has.
import os
import sys
from pathlib import Path

from npuhub import hubconfig
from npuhub.embedded.hub import configure

configure(c)  # noqa: F821 (c is given by JupyterHub)
hubconfig.check(c)  # noqa: F821

FULL = set(filter(None, os.environ.get("NPUHUB_TEST_FULL_SERVERS", "").split(",")))
LIGHT = (Path(__file__).resolve().parents[1] / "support" / "light_singleuser.py").read_text()


def light_unless_full(spawner):
    if spawner.user.name not in FULL:
        spawner.cmd = [sys.executable, "-c", LIGHT]


c.Spawner.pre_spawn_hook = light_unless_full  # noqa: F821
