"""The route table: each route's path, methods, parameters, body and OpenAPI operation, declared once.

Both the tornado URL table (``url_table``) and the OpenAPI document
(``openapi.openapi_document``) are derived from ``ROUTES``; the base handler
checks each call's method, query parameters and body against the same
declaration (``base.BaseHandler.check_input``, ``json_body``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .auth import OAuthCallbackHandler
from .base import BaseHandler, Context
from .handlers.clusters import ClusterHandler, ClustersHandler
from .handlers.dashboard import DashboardHandler, DashboardSocket
from .handlers.announcements import AnnouncementHandler, AnnouncementsHandler
from .handlers.budgets import AccountHandler, AdjustmentsHandler, LedgerHandler
from .handlers.meta import HealthHandler, MetricsHandler, OpenAPIHandler
from .handlers.requests import RequestHandler, RequestsHandler
from .handlers.reservations import ReservationHandler, ReservationsHandler
from .handlers.status import FlavorsHandler, MeHandler, PoolHandler, QueueHandler
from .openapi import ACCOUNT_PATTERN, REQUEST_ID_PATTERN, STATES, USER

__all__ = ["ROUTES", "Operation", "Route", "url_table"]


@dataclass(frozen=True)
class Operation:
    """One method of a route, as the OpenAPI document describes it and the base handler checks it."""

    id: str
    tag: str
    summary: str
    #: status -> (schema name or None, description) of the successful answers
    responses: dict[int, tuple[str | None, str]]
    #: error statuses the operation documents
    errors: tuple[int, ...]
    description: str = ""
    #: query parameter -> its JSON schema (with a "description"); any other parameter is refused
    query: dict[str, dict] = field(default_factory=dict)
    #: name of the body schema (``openapi.BODY_SCHEMAS``); None: no body
    body: str | None = None


@dataclass(frozen=True)
class Route:
    """A path of the API (OpenAPI template syntax, ``/requests/{id}``) and its methods."""

    path: str
    handler: type[BaseHandler]
    operations: dict[str, Operation]
    #: path parameter -> (JSON schema, description), in the order they appear in the path
    params: dict[str, tuple[dict, str]] = field(default_factory=dict)
    #: "api": under ``<prefix>api/v1``; "service": beside it (``<prefix>metrics``)
    mount: str = "api"
    #: False: not an operation of the API's document
    documented: bool = True

    def pattern(self, base: str) -> str:
        """The tornado URL pattern: each ``{name}`` one path segment."""
        return base + re.sub(r"\{[a-z_]+\}", "([^/]+)", self.path)


LIMIT = {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100,
         "description": "At most this many, newest first."}
ACCOUNT = {"type": "string", "pattern": ACCOUNT_PATTERN}
ACCOUNT_PARAM = {"account": (ACCOUNT, "`user:<name>` or `group:<name>`.")}
ID = {"type": "string", "pattern": REQUEST_ID_PATTERN}
#: the most groups ``GET /flavors`` takes in its query (beyond, the caller leaves them out: the hub is asked)
MENU_GROUPS = 32

ROUTES: tuple[Route, ...] = (
    Route("/openapi.json", OpenAPIHandler, {
        # the document describes the API, not itself
        "GET": Operation("getOpenAPI", "meta", "This document", {200: (None, "The OpenAPI document")}, ()),
    }, documented=False),
    Route("/requests", RequestsHandler, {
        "GET": Operation(
            "listRequests", "requests", "Requests the caller may see, newest first",
            {200: ("RequestList", "The requests")}, (400, 401, 403, 503),
            description="A student sees her own; a teacher her groups' members' too; an operator everyone's. "
                        "Running requests whose budget is spent have `over_budget: true`.",
            query={
                "user": {**USER, "description": "Only this person's requests."},
                "state": {"type": "array", "items": {"type": "string", "enum": STATES},
                          "description": "Only requests in these states (repeat the parameter for several)."},
                "limit": LIMIT,
            }),
        "POST": Operation(
            "createRequest", "requests", "Ask for a slice of a flavor",
            {200: ("Request", "A request with this id exists already (it has ended)"),
             201: ("Request", "Granted"), 202: ("Request", "Waiting in the queue")},
            (400, 401, 403, 404, 409, 413, 429, 503),
            description="Granted now (201), queued with a position and an estimated start (202), or refused "
                        "with a reason a person can act on: `flavor_unknown` (400), `flavor_not_allowed` (403: "
                        "not for her groups, or a group of hers holds her to other flavors), "
                        "`share_limit` (409), `quota_spent` (429, with `retry_at`), `store_unavailable` (503). "
                        "Sending the same `id` again returns the first request (200 once it has ended).",
            body="NewRequest"),
    }),
    Route("/requests/{id}", RequestHandler, {
        "GET": Operation(
            "getRequest", "requests", "One request, with its live position",
            {200: ("Request", "The request"), 304: (None, "Unchanged after `wait` seconds")}, (400, 401, 403, 404, 503),
            description="A long poll: with `wait` and `If-None-Match` (the `ETag` of the last answer), the answer "
                        "comes as soon as the request changes, or 304 after `wait` seconds. The hub's spawner "
                        "follows a start this way.",
            query={"wait": {"type": "number", "minimum": 0, "maximum": 50, "default": 0,
                            "description": "Seconds to wait for a change (with `If-None-Match`)."}}),
        "DELETE": Operation(
            "cancelRequest", "requests", "Cancel a waiting request; end a granted one once its server has stopped",
            {200: ("Request", "The request, ended"),
             202: ("Request", "Its server is being stopped; the slice is released once it has")},
            (401, 403, 404, 409, 503),
            description="Idempotent: an ended request is returned as it is. A granted slice is never freed while "
                        "its server runs: the service stops the server through the hub (202), or ends the "
                        "request at once when the hub runs no server for it. `stopped=true` (the hub's "
                        "spawner, with `custom:npuhub:operate`) says the server has stopped.",
            query={"stopped": {"type": "boolean", "description": "The caller has stopped the server (operators "
                                                                  "and the hub's spawner only)."}}),
    }, params={"id": (ID, "The request's id.")}),
    Route("/flavors", FlavorsHandler, {
        "GET": Operation(
            "getMenu", "people", "The flavors a person may start, in menu order, and the preselected one",
            {200: ("Menu", "The menu")}, (400, 401, 403, 404, 503),
            description="The caller's own menu; with `user` (operators: the hub's spawner), that person's, for her "
                        "groups as given in `group` or as the hub knows them. Only the flavors her groups' "
                        "`npuhub_flavors` properties allow, when any of them sets one (a workshop's guests).",
            query={"user": {**USER, "description": "Whose menu (operators)."},
                   # bounded so that the longest valid query stays far below the proxy's header limit (16 KiB)
                   "group": {"type": "array", "maxItems": MENU_GROUPS,
                             "items": {"type": "string", "pattern": "^[A-Za-z0-9._@-]{1,255}$"},
                             "description": "Her groups (repeat the parameter); default: the hub's."}}),
    }),
    Route("/queue", QueueHandler, {
        "GET": Operation("getQueue", "queue", "Waiting requests in the order they are served",
                         {200: ("Queue", "The queue")}, (401, 403, 503),
                         description="Names and ids only where the caller may see them: her own, her taught "
                                     "groups' members', everyone's for operators."),
    }),
    Route("/pool", PoolHandler, {
        "GET": Operation("getPool", "queue", "Occupancy of the pool by device model and device",
                         {200: ("Pool", "The pool")}, (401, 403, 503)),
    }),
    Route("/me", MeHandler, {
        "GET": Operation("getMe", "people",
                         "What I hold, what I wait for, my budgets, the most I may hold, my flavors",
                         {200: ("Me", "The caller's status")}, (401, 403, 503)),
    }),
    Route("/accounts/{account}", AccountHandler, {
        "GET": Operation("getAccount", "budgets", "A budget account",
                         {200: ("Account", "The account")}, (401, 403, 404, 503)),
    }, params=ACCOUNT_PARAM),
    Route("/accounts/{account}/adjustments", AdjustmentsHandler, {
        "POST": Operation("adjustAccount", "budgets", "Add or take away device-hours (operators)",
                          {201: ("LedgerEntry", "The ledger entry of the change")}, (400, 401, 403, 404, 413, 503),
                          body="NewAdjustment"),
    }, params=ACCOUNT_PARAM),
    Route("/ledger", LedgerHandler, {
        "GET": Operation("getLedger", "budgets", "Ledger entries, newest first",
                         {200: ("Ledger", "The entries")}, (400, 401, 403, 503),
                         description="Operators see every account; a person her own account and her groups'.",
                         query={"account": {**ACCOUNT, "description": "Only this account (required unless the "
                                                                      "caller operates npuhub)."},
                                "limit": LIMIT}),
    }),
    Route("/reservations", ReservationsHandler, {
        "GET": Operation("listReservations", "reservations", "Reservations of the caller's groups (operators: all)",
                         {200: ("ReservationList", "The reservations")}, (401, 403, 503)),
        "POST": Operation("createReservation", "reservations",
                          "Hold slices for a group in a time window (its teacher, or operators)",
                          {201: ("Reservation", "The reservation")}, (400, 401, 403, 409, 413, 503),
                          description="`ends` must be after `starts` and in the future (else 400 "
                                      "`reservation_invalid` or `reservation_past`); the flavor must exist and be "
                                      "one the group may use (else `flavor_unknown`, `flavor_not_allowed`).",
                          body="NewReservation"),
    }),
    Route("/reservations/{id}", ReservationHandler, {
        "DELETE": Operation("cancelReservation", "reservations", "End a reservation",
                            {204: (None, "Ended")}, (401, 403, 404, 503)),
    }, params={"id": (ID, "The reservation's id.")}),
    Route("/clusters", ClustersHandler, {
        "GET": Operation(
            "listClusters", "clusters", "My Dask clusters (operators: anyone's), newest first",
            {200: ("ClusterList", "The clusters")}, (400, 401, 403, 503),
            description="Open ones, and with `closed=true` closed ones too. Only its owner gets a cluster's "
                        "`scheduler_address` and `tls`.",
            query={"user": {**USER, "description": "Whose clusters (operators)."},
                   "all": {"type": "boolean", "description": "Everyone's open clusters (operators)."},
                   "closed": {"type": "boolean", "description": "Closed ones too."},
                   "limit": LIMIT}),
        "POST": Operation(
            "createCluster", "clusters", "Make a Dask cluster: a scheduler and workers, admitted like notebooks",
            {201: ("Cluster", "Every worker granted"), 202: ("Cluster", "Some workers wait in the queue")},
            (400, 401, 403, 409, 413, 429, 503),
            description="The scheduler is CPU only (share 0, charged nothing); each worker is a request for one "
                        "slice of the flavor, in the same queue and against the same budgets and limits as a "
                        "notebook. Refused like `POST /requests` (`share_limit` 409 when the workers would take "
                        "her past her limit, `quota_spent` 429, `flavor_not_allowed` 403, ...), and "
                        "`cluster_too_large` (400), `cluster_limit` (409: too many open clusters). A person's own "
                        "token only.",
            body="NewCluster"),
    }),
    Route("/clusters/{id}", ClusterHandler, {
        "GET": Operation("getCluster", "clusters", "One cluster (its owner; operators without its address)",
                         {200: ("Cluster", "The cluster")}, (401, 403, 404, 503)),
        "PATCH": Operation(
            "scaleCluster", "clusters", "Scale a cluster, or set its adaptive range",
            {200: ("Cluster", "Scaled"), 202: ("Cluster", "Some workers wait"),
             409: ("Cluster", "The cluster is closing or closed")}, (400, 401, 403, 404, 413, 429, 503),
            description="More workers are asked for (refused like `POST /clusters` if she could not hold them); "
                        "fewer: waiting workers are withdrawn, then running ones stopped before their slices "
                        "are released. Its owner only.",
            body="ClusterChange"),
        "DELETE": Operation("closeCluster", "clusters", "Close a cluster (idempotent)",
                            {200: ("Cluster", "Closed: its processes stopped, its slices released")},
                            (401, 403, 404, 503)),
    }, params={"id": (ID, "The cluster's id (or, to read, the name of one of mine).")}),
    *(Route("/announcements", AnnouncementsHandler, {
        "GET": Operation(
            "listAnnouncements", "announcements", "Announcements shown now to the caller",
            {200: ("AnnouncementList", "The announcements")}, (400, 401, 403, 404, 503),
            description="Those for everyone and for the caller's groups (and the groups she teaches), "
                        "earliest start first. Operators may ask for another person's (`user`) or every one "
                        "(`everyone`).",
            query={"user": {**USER, "description": "Whose announcements (operators)."},
                   "everyone": {"type": "boolean", "default": False,
                                "description": "Every announcement, whatever its scope (operators)."},
                   "upcoming": {"type": "boolean", "default": False,
                                "description": "Also those that have not started yet."}}),
        "POST": Operation(
            "createAnnouncement", "announcements", "Post a banner (a teacher for her course, operators for all)",
            {201: ("Announcement", "The announcement")}, (400, 401, 403, 409, 413, 503),
            description="Refusals name what is wrong in both languages: `announcement_text_empty`, "
                        "`announcement_text_too_long`, `announcement_window_empty`, `announcement_window_past`, "
                        "`announcement_window_too_long`, `announcement_scope_invalid`, "
                        "`announcement_not_allowed_all` / `_group` (403), `announcement_too_many` (409).",
            body="NewAnnouncement"),
    }, mount=mount, documented=mount == "api") for mount in ("api", "service")),
    *(Route("/announcements/{id}", AnnouncementHandler, {
        "DELETE": Operation("removeAnnouncement", "announcements",
                            "Stop showing an announcement (its author, her course's teacher, or operators)",
                            {204: (None, "Removed")}, (401, 403, 404, 503)),
    }, params={"id": ({"type": "string", "pattern": "^[0-9a-f]{32}$"}, "The announcement's id.")},
        mount=mount, documented=mount == "api") for mount in ("api", "service")),
    Route("/health", HealthHandler, {
        "GET": Operation("getHealth", "meta", "Readiness: 200 from the leader, 503 from a standby",
                         {200: (None, "Ready (the leader, its state loaded)")}, (503,)),
    }, mount="service", documented=False),
    Route("/metrics", MetricsHandler, {
        "GET": Operation("getMetrics", "meta", "Prometheus metrics", {200: (None, "The metrics")}, (401, 403)),
    }, mount="service", documented=False),
)


def url_table(prefix: str, ctx: Context) -> list[tuple]:
    """The tornado URL table; ``prefix`` is the service's prefix (``/services/npuhub/``)."""
    api = prefix + "api/v1"
    table: list[tuple] = []
    for route in ROUTES:
        base = api if route.mount == "api" else prefix.rstrip("/")
        table.append((route.pattern(base), route.handler, {"ctx": ctx, "route": route}))
    table.append((prefix + "oauth_callback", OAuthCallbackHandler))
    dashboard = prefix + r"dask/([A-Za-z0-9][A-Za-z0-9._~-]{0,63})"
    table.append((dashboard + r"(/.*/ws)", DashboardSocket, {"ctx": ctx}))
    table.append((dashboard + r"(/.*)?", DashboardHandler, {"ctx": ctx}))
    return table
