"""The OpenAPI schemas of Dask clusters (``/clusters``): bodies and answers, merged into ``openapi``'s."""

from __future__ import annotations

from ..flavors import FLAVOR_ID_RE

__all__ = ["CLUSTER_BODY_SCHEMAS", "CLUSTER_SCHEMAS", "CLUSTER_STATES"]

CLUSTER_STATES = ["starting", "running", "closing", "closed"]
_FLAVOR = {"type": "string", "minLength": 1, "maxLength": 63, "pattern": FLAVOR_ID_RE.pattern}
_COUNT = {"type": "integer", "minimum": 0, "maximum": 1000}
_NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
_ADAPTIVE = {
    "type": "object", "required": ["minimum", "maximum"], "additionalProperties": False,
    "properties": {"minimum": _COUNT, "maximum": {**_COUNT, "minimum": 1}},
    "description": "Let the scheduler ask for workers between `minimum` and `maximum` (its adaptive target).",
}

CLUSTER_BODY_SCHEMAS: dict[str, dict] = {
    "NewCluster": {
        "type": "object",
        "description": "A Dask cluster: a scheduler (CPU only) and `workers` workers, each one slice of `flavor`. "
                       "Every field is optional: the site's `dask:` section gives the defaults.",
        "additionalProperties": False,
        "properties": {
            "flavor": {**_FLAVOR, "description": "The workers' flavor (default: the site's `dask.default_flavor`, "
                                                 "else the person's default flavor)."},
            "workers": {**_COUNT, "description": "Workers wanted (default: `dask.default_workers`)."},
            "adaptive": {"oneOf": [_ADAPTIVE, {"type": "null"}]},
            "name": {"type": ["string", "null"], "minLength": 1, "maxLength": 100,
                     "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]*$",
                     "description": "A name to connect to it by (default: its id)."},
            "server": {"type": ["string", "null"], "maxLength": 255,
                       "description": "The notebook server it is made from (`$JUPYTERHUB_SERVER_NAME`, `\"\"` the "
                                      "default one): when that server stops, the cluster is closed. Left out: "
                                      "tied to no server."},
        },
    },
    "ClusterChange": {
        "type": "object",
        "description": "Scale to `workers`, or let the scheduler adapt within `adaptive` (null: stop adapting).",
        "additionalProperties": False, "minProperties": 1,
        "properties": {"workers": _COUNT, "adaptive": {"oneOf": [_ADAPTIVE, {"type": "null"}]}},
    },
}

CLUSTER_SCHEMAS: dict[str, dict] = {
    "Cluster": {
        "type": "object",
        "required": ["id", "user", "name", "flavor", "share", "state", "workers", "message", "scheduler_address",
                     "dashboard_link", "created", "last_activity", "expires_at", "requests"],
        "properties": {
            "id": {"type": "string"},
            "user": {"type": "string"},
            "name": {"type": "string"},
            "flavor": {"type": "string"},
            "share": {"type": "string", "description": "Each worker's share of a device, exact (`\"1/4\"`)."},
            "state": {"type": "string", "enum": CLUSTER_STATES},
            "reason": {"type": ["string", "null"], "description": "Why it closed (`closed`, `idle`, `expired`, "
                                                                  "`server_stopped`, `service_stopped`, ...)."},
            "server": {"type": ["string", "null"]},
            "adaptive": {"oneOf": [_ADAPTIVE, {"type": "null"}]},
            "workers": {
                "type": "object",
                "required": ["wanted", "running", "waiting", "position", "eta_seconds"],
                "properties": {
                    "wanted": {"type": "integer"},
                    "running": {"type": "integer", "description": "Workers granted a slice (started)."},
                    "ready": {"type": "integer", "description": "Workers that have joined the scheduler."},
                    "waiting": {"type": "integer"},
                    "position": {"type": ["integer", "null"],
                                 "description": "The first waiting worker's place in line."},
                    "eta_seconds": {"type": ["number", "null"]},
                },
            },
            "message": {"$ref": "#/components/schemas/Sentence"},
            "scheduler_address": {"type": ["string", "null"],
                                  "description": "`tls://127.0.0.1:port`: to its owner only, else null."},
            "tls": {"type": ["object", "null"], "description": "To its owner only: the PEM certificate and key "
                                                             "(`ca`, `cert`, `key`) the scheduler asks clients for.",
                    "properties": {"ca": {"type": "string"}, "cert": {"type": "string"}, "key": {"type": "string"}}},
            "dashboard_link": {"type": "string", "description": "The dashboard through the hub (its owner only)."},
            "created": {"type": "string", "format": "date-time"},
            "last_activity": {"type": "string", "format": "date-time"},
            "expires_at": {"type": "string", "format": "date-time"},
            "ended_at": _NULLABLE_TIME,
            "requests": {"type": "array", "items": {"type": "string"},
                         "description": "Its requests (scheduler first), as `GET /requests/{id}` shows them."},
        },
    },
    "ClusterList": {
        "type": "object", "required": ["clusters"],
        "properties": {"clusters": {"type": "array", "items": {"$ref": "#/components/schemas/Cluster"}}},
    },
}
