"""The server part's settings: where the npuhub service is, with which token, and how often to ask it."""

from __future__ import annotations

import os

from traitlets import Float, Integer, Unicode, default, validate
from traitlets.config import Configurable

__all__ = ["NPUHubLab"]


class NPUHubLab(Configurable):
    """Read from the Jupyter server's config (``c.NPUHubLab.*``); the spawner fills the environment."""

    service_url = Unicode(
        config=True,
        help="""The npuhub service's base URL as this server reaches it, ending in ``/services/npuhub/``.

        The API is ``{service_url}api/v1/...``. Defaults to ``$NPUHUB_URL``, which
        npuhub's spawners set. Empty: the status answers ``not_configured``.
        """,
    )

    api_token = Unicode(
        config=True,
        help="""The hub token the server calls the service with (never the browser's).

        Defaults to ``$JUPYTERHUB_API_TOKEN``, the server's own token, which npuhub's
        spawners give the ``custom:npuhub:use`` scope (and ``custom:npuhub:teach``
        for teachers).
        """,
    )

    hub_api_url = Unicode(
        config=True,
        help="""The hub's REST API as this server reaches it (``.../hub/api/``), for sharing this server.

        Defaults to ``$JUPYTERHUB_API_URL``, which every JupyterHub spawner sets.
        Empty: the sharing routes answer ``hub_not_configured``.
        """,
    )

    user = Unicode(
        config=True,
        help="The name of this server's owner at the hub. Defaults to ``$JUPYTERHUB_USER``.",
    )

    poll_interval = Integer(
        15,
        min=5,
        config=True,
        help="Seconds between two status polls of each browser tab (sent to the front end; at least 5).",
    )

    cache_seconds = Float(
        config=True,
        help="""Seconds one answer of the service is reused for all tabs of this server.

        At most one round of requests to the service per period, however many tabs
        poll. Defaults to half the poll interval.
        """,
    )

    request_timeout = Float(
        5.0, config=True, help="Seconds to wait for the service before calling it unreachable (at least 0.1)."
    )

    restart_wait = Float(
        30.0,
        config=True,
        help="""Seconds a cancel keeps being sent while the hub's proxy answers for a restarting service.

        The hub restarts a service that died at its next poll, within about 30 s;
        meanwhile its proxy answers 502/503/504 with a page of its own. The status
        is not held up this way: it says the service is restarting, and the front
        end asks again soon.
        """,
    )

    @default("service_url")
    def _default_service_url(self):
        return _with_slash(os.environ.get("NPUHUB_URL", ""))  # validators do not see defaults

    @validate("service_url")
    def _ends_with_slash(self, proposal):
        return _with_slash(proposal["value"])

    @default("hub_api_url")
    def _default_hub_api_url(self):
        return _with_slash(os.environ.get("JUPYTERHUB_API_URL", ""))

    @validate("hub_api_url")
    def _hub_ends_with_slash(self, proposal):
        return _with_slash(proposal["value"])

    @default("user")
    def _default_user(self):
        return os.environ.get("JUPYTERHUB_USER", "")

    @default("api_token")
    def _default_api_token(self):
        return os.environ.get("JUPYTERHUB_API_TOKEN", "")

    @default("cache_seconds")
    def _default_cache_seconds(self):
        return self.poll_interval / 2

    @validate("cache_seconds")
    def _not_negative(self, proposal):
        return max(0.0, proposal["value"])

    @validate("request_timeout")
    def _positive(self, proposal):
        return max(0.1, proposal["value"])

    @property
    def server_name(self) -> str:
        """This server's name at the hub; '' for a person's default server."""
        return os.environ.get("JUPYTERHUB_SERVER_NAME", "")


def _with_slash(url: str) -> str:
    url = url.strip()
    return url if not url or url.endswith("/") else url + "/"
