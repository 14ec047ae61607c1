"""What the npuhub service can be configured with: its traitlets options, with defaults from JupyterHub's service
environment (``JUPYTERHUB_API_TOKEN``, ``JUPYTERHUB_SERVICE_URL``, ...) and npuhub's own (``NPUHUB_DB_URL``,
``NPUHUB_SITE_CONFIG``, ...). ``app.NPUHubService`` is this plus the running service; options are still set as
``c.NPUHubService.<option>`` or ``--NPUHubService.<option>``.
"""

from __future__ import annotations

import logging
import os
import secrets
from urllib.parse import urlparse

from traitlets import Bool, Bytes, Dict, Float, Integer, Unicode, default
from traitlets.config import Application

__all__ = ["ServiceSettings"]


class ServiceSettings(Application):
    """The service's options (the base of ``NPUHubService``)."""

    @default("log_level")
    def _default_log_level(self):
        return logging.INFO

    @default("log_format")
    def _default_log_format(self):
        return "[%(levelname)1.1s %(asctime)s.%(msecs).03d %(name)s] %(message)s"

    config_file = Unicode(
        "npuhub_service_config.py", config=True,
        help="A traitlets config file to load (``c.NPUHubService.quota_rules = [...]``); ignored if missing.",
    )
    site_config_file = Unicode(
        config=True,
        help="""The site file (npuhub.yaml) with the pool, groups, flavors and limits.

        Default: $NPUHUB_SITE_CONFIG, else npuhub's built-in example site. It must be
        the same file the hub's spawner reads.""",
    )

    @default("site_config_file")
    def _default_site_config_file(self):
        return os.environ.get("NPUHUB_SITE_CONFIG", "")

    db_url = Unicode(
        config=True,
        help="""The admission database (SQLAlchemy URL).

        SQLite (``sqlite:///path/npuhub.sqlite``) for one machine, PostgreSQL
        (``postgresql+psycopg://user@host/db``) in production. The schema is created
        and migrated at start-up. Default: $NPUHUB_DB_URL, else ``sqlite:///npuhub.sqlite``.""",
    )

    @default("db_url")
    def _default_db_url(self):
        return os.environ.get("NPUHUB_DB_URL", "sqlite:///npuhub.sqlite")

    ip = Unicode(config=True, help="Address to listen on. Default: the host of $JUPYTERHUB_SERVICE_URL.")

    @default("ip")
    def _default_ip(self):
        return urlparse(os.environ.get("JUPYTERHUB_SERVICE_URL", "http://127.0.0.1:10101")).hostname or "127.0.0.1"

    port = Integer(config=True, help="Port to listen on. Default: the port of $JUPYTERHUB_SERVICE_URL, else 10101.")

    @default("port")
    def _default_port(self):
        return urlparse(os.environ.get("JUPYTERHUB_SERVICE_URL", "http://127.0.0.1:10101")).port or 10101

    service_prefix = Unicode(
        config=True,
        help="URL prefix of the service behind the hub's proxy. Default: $JUPYTERHUB_SERVICE_PREFIX "
             "(``/services/npuhub/``).",
    )

    @default("service_prefix")
    def _default_service_prefix(self):
        prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/npuhub/")
        return prefix if prefix.endswith("/") else prefix + "/"

    hub_api_url = Unicode(config=True, help="JupyterHub's REST API. Default: $JUPYTERHUB_API_URL.")

    @default("hub_api_url")
    def _default_hub_api_url(self):
        return os.environ.get("JUPYTERHUB_API_URL", "http://127.0.0.1:8081/hub/api")

    api_token = Unicode(
        config=True,
        help="The service's own token for the hub's API (needs read:users:groups, read:groups and admin:servers). "
             "Default: $JUPYTERHUB_API_TOKEN.",
    )

    @default("api_token")
    def _default_api_token(self):
        return os.environ.get("JUPYTERHUB_API_TOKEN", "")

    cookie_secret = Bytes(
        config=True,
        help="Signs the OAuth cookie of people who sign in to the service with a browser. "
             "Default: $NPUHUB_SERVICE_COOKIE_SECRET (hex), else random (a restart then asks browsers to sign in again).",
    )

    @default("cookie_secret")
    def _default_cookie_secret(self):
        env = os.environ.get("NPUHUB_SERVICE_COOKIE_SECRET")
        return bytes.fromhex(env) if env else secrets.token_bytes(32)

    meter_interval = Float(
        60.0, config=True,
        help="""Seconds between metering ticks (charge running sessions, then schedule the queue).

        Charges are exact and made once whatever the interval; a crash loses none
        of them. The interval bounds how late a spent budget is noticed, and how
        late a reservation's window is opened.""",
    )
    reconcile_interval = Float(
        10.0, config=True,
        help="""Seconds between checks of the queue and the grants against the hub's servers (one listing of
        the hub's active servers per check).

        A grant whose server the hub neither starts nor runs, and that never
        had a running server (a start the hub forgot in a restart), is ended at
        the first check and charged nothing. A request whose server the hub no
        longer runs (stopped while this service was down) is released or
        withdrawn after ``reconcile_grace``.
        """,
    )
    reconcile_grace = Float(
        120.0, config=True,
        help="""Seconds a request is left alone after it arrives or is granted before reconciliation may end it
        (not for a grant the hub has no start for: that ends at once).""",
    )
    idle_limit = Float(
        1800.0, config=True,
        help="""Seconds a server may be idle before its slice is reclaimed when someone waits for it.

        A flavor's own `idle_minutes` in the site file wins.""",
    )
    idle_hard_limit = Float(
        4 * 3600.0, config=True,
        help="Seconds of idleness after which a server's slice is reclaimed even when nobody waits.",
    )
    reclaim_grace = Float(
        600.0, config=True,
        help="Seconds between the warning and the stop of an idle server (activity lifts the warning).",
    )
    store_retry_interval = Float(
        5.0, config=True,
        help="Seconds between attempts to reach the database again while it cannot be reached.",
    )
    over_budget_grace = Float(
        600.0, config=True,
        help="""Seconds between the warning that a running session's budget is spent and its stop.

        The server is stopped through the hub (as if its owner stopped it). A
        top-up of the budget in the meantime lifts the warning.""",
    )
    window_end_grace = Float(
        300.0, config=True,
        help="""Seconds between the warning that a workshop's window is over and the stop of a server started
        on its reservation (the lab extension saves open notebooks meanwhile).""",
    )
    stop_over_budget = Bool(
        True, config=True,
        help="Stop servers whose budget is spent once the grace period has passed. False: only warn.",
    )
    fairshare_half_life = Float(
        7 * 86400.0, config=True, help="Seconds after which past usage counts half in the fair-share order.",
    )
    fairshare_weights = Dict(
        Float(), config=True,
        help="Fair-share weight of accounts (``{\"group:lab-demo\": 2.0}``); 1.0 when not listed.",
    )
    backfill_slack = Float(
        300.0, config=True,
        help="Seconds a back-filled request may push the first blocked request's estimated start back, at most.",
    )
    default_session = Float(
        3600.0, config=True,
        help="Expected session length (seconds) for estimates, until enough sessions have ended to know better.",
    )
    authenticate_prometheus = Bool(
        True, config=True,
        help="Ask for a token with read:metrics (or custom:npuhub:operate) on /metrics. False: open to anyone "
             "who can reach the service.",
    )
    exit_with_parent = Bool(
        False, config=True,
        help="""Stop when the process that started the service (the hub, for a managed service) is gone.

        A hub killed with SIGKILL leaves its managed services running; the hub
        started again starts a new one on the same database, and two writers
        must never share it. ``configure_service`` sets this for the managed
        service of the embedded stack.""",
    )
    clock_offset_file = Unicode(
        "", config=True,
        help="""For tests only: a file holding seconds to add to the service's clock, re-read whenever it changes.

        Lets the fault-injection tests (tests/reliability/test_clock.py) move
        the clock of a running service, forward across a budget period or
        back. Leave it unset anywhere else: the clock is then the system's.""",
    )
    hub_cache_max_age = Integer(
        60, config=True,
        help="Seconds the hub's answer to 'whose token is this?' is cached for reads: a role change reaches "
             "the service's reads within this time. A change (POST, DELETE) always asks the hub afresh, so a "
             "removed account or a revoked token gets nothing granted.",
    )

    kubeconfig = Unicode(
        "", config=True,
        help="""A kubeconfig file for the node inventory (site file ``pool: {kubernetes: ...}``).

        Empty: the pod's service account when the service runs in the cluster, else $KUBECONFIG.
        The account needs list and watch on nodes.""",
    )
    dask_dir = Unicode(
        "", config=True,
        help="""Where the embedded runner keeps each Dask cluster's directory (its TLS material, logs).

        Default: ``dask-clusters`` beside the admission database's working directory.""",
    )

    @default("dask_dir")
    def _default_dask_dir(self):
        return os.path.abspath("dask-clusters")

    leader_interval = Float(
        2.0, config=True,
        help="""Seconds between the leader's checks of its leader lock (a standby tries every quarter of it).

        See npuhub.service.leader: with PostgreSQL an advisory lock on a connection of its own, with SQLite
        a file lock beside the database.""",
    )
    leader_timeout = Float(
        10.0, config=True,
        help="""Seconds after which PostgreSQL ends the leader lock's session when the leader stops answering
        (hung, or cut off from the database), so that a standby can take over.""",
    )
