"""JupyterHub configuration entry point for a site: npuhub's wiring, then the site's additions.

`npuhub up` runs the same wiring from the installed package; this file is for
images and operators who start `jupyterhub -f hub_config/jupyterhub_config.py`
themselves. Files in jupyterhub_config.d/ (sorted by name) run after it and
may change anything.
"""

from pathlib import Path

from npuhub.embedded.hub import configure

configure(c)  # noqa: F821 (c is given by JupyterHub)

for extra in sorted((Path(__file__).parent / "jupyterhub_config.d").glob("*.py")):
    load_subconfig(str(extra))  # noqa: F821 (given by JupyterHub)
