"""npuhub in JupyterLab: the slice I hold, my quota and my place in the queue (front end and server part)."""

try:
    from ._version import __version__
except ImportError:  # a source checkout never built: _version.py is written by the build
    __version__ = "dev"


def _jupyter_labextension_paths():
    """The prebuilt front end, installed as share/jupyter/labextensions/npuhub-lab."""
    return [{"src": "labextension", "dest": "npuhub-lab"}]


def _jupyter_server_extension_points():
    """The server part: this module's ``_load_jupyter_server_extension``."""
    return [{"module": "npuhub_lab"}]


def _load_jupyter_server_extension(server_app):
    """Add the ``{base}npuhub-lab/`` routes to the Jupyter server."""
    from .handlers import setup_handlers

    setup_handlers(server_app)
