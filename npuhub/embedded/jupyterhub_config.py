# JupyterHub configuration of the embedded stack; `npuhub up` starts the hub with it.
from npuhub import hubconfig
from npuhub.embedded.hub import configure

configure(c)  # noqa: F821 (c is given by JupyterHub)
hubconfig.check(c)  # noqa: F821
