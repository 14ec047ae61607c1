"""JupyterHub configuration of a site: npuhub's wiring from the site file, then the site's own additions.

Run as ``NPUHUB_SITE_CONFIG=/etc/npuhub/npuhub.yaml jupyterhub -f hub_config/jupyterhub_config.py``
(the operator guide's "Run the hub" page lists every setting). Files in
``jupyterhub_config.d/`` (sorted by name) run after npuhub's wiring and may
change anything, e.g. ``c.JupyterHub.spawner_class`` or ``c.JupyterHub.db_url``.
`npuhub up` runs the same wiring with demo accounts on one machine.
"""

from pathlib import Path

from npuhub import hubconfig

hubconfig.configure(c)  # noqa: F821 (c is given by JupyterHub)

for extra in sorted((Path(__file__).parent / "jupyterhub_config.d").glob("*.py")):
    load_subconfig(str(extra))  # noqa: F821 (given by JupyterHub)

hubconfig.check(c)  # noqa: F821
