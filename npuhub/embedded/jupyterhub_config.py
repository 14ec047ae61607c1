# JupyterHub configuration of the embedded stack; `npuhub up` starts the hub with it.
from npuhub.embedded.hub import configure

configure(c)  # noqa: F821 (c is given by JupyterHub)
