"""The OpenAPI 3.1 document of the service's REST API; request bodies are validated against the same schemas.

One source for three readers: clients (the spawner, the lab extension, the
command line), the fuzzing tests (schemathesis), and the API reference in the
docs, which is generated from this document.
"""

from __future__ import annotations

import copy
import functools

import fastjsonschema

from .. import __version__
from ..flavors import FLAVOR_ID_RE
from .openapi_clusters import CLUSTER_BODY_SCHEMAS, CLUSTER_SCHEMAS

__all__ = ["ACCOUNT_PATTERN", "BODY_SCHEMAS", "REQUEST_ID_PATTERN", "STATES", "USER", "openapi_document",
           "validate_body"]

STATES = ["waiting", "granted", "released", "cancelled", "refused"]
REQUEST_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._~-]{0,63}$"
ACCOUNT_PATTERN = r"^(user:[^/]{1,250}|group:[^/]{1,249})$"
#: "1/2", "3", "-1.5": exact device-hours, not zero, less than a million (as the service requires)
HOURS_PATTERN = (r"^[+-]?(0{0,3}[1-9][0-9]{0,5}(\.[0-9]{1,9}|/[1-9][0-9]{0,8})?"
                 r"|0{1,3}\.[0-9]{0,8}[1-9][0-9]{0,8})$")
#: the site file's grammar of flavor ids; whether one exists is the site's to say (400 ``flavor_unknown``)
FLAVOR = {"type": "string", "minLength": 1, "maxLength": 63, "pattern": FLAVOR_ID_RE.pattern}

# A budget account is named "user:<name>" or "group:<name>", and the store holds 255 characters of it.
USER = {"type": "string", "minLength": 1, "maxLength": 250}
GROUP = {"type": "string", "minLength": 1, "maxLength": 249}
NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
TIME = {"type": "string", "format": "date-time"}

BODY_SCHEMAS: dict[str, dict] = {
    "NewRequest": {
        "type": "object",
        "description": "Ask for a slice. Only callers with `custom:npuhub:operate` may set `user` to someone "
                       "else and give `groups`; for everyone else both come from their hub identity.",
        "required": ["flavor"],
        "additionalProperties": False,
        "properties": {
            "flavor": {**FLAVOR, "description": "A flavor id of the site file, e.g. `npu-quarter`."},
            "server": {"type": "string", "maxLength": 255,
                       "description": "The JupyterHub server name the slice is for (`\"\"`: the default server)."},
            "user": {**USER, "description": "Who the slice is for (default: the caller)."},
            "groups": {"type": "array", "maxItems": 100, "items": GROUP,
                       "description": "The person's groups (trusted from operators only)."},
            "id": {"type": "string", "pattern": REQUEST_ID_PATTERN,
                   "description": "A client-chosen id (a UUID): sending the same request again with the same "
                                  "id returns the first one instead of queueing twice."},
        },
    },
    "NewAdjustment": {
        "type": "object",
        "required": ["device_hours", "reason"],
        "additionalProperties": False,
        "properties": {
            "device_hours": {"type": "string", "pattern": HOURS_PATTERN,
                             "description": "Device-hours to add (negative: to take away), exact: `\"1/2\"`, "
                                            "`\"3\"`, `\"-1.5\"`; not zero, less than 1000000."},
            "reason": {"type": "string", "minLength": 1, "maxLength": 500,
                       "description": "Why; kept in the ledger with who made the change."},
        },
    },
    "NewReservation": {
        "type": "object",
        "required": ["group", "flavor", "count", "starts", "ends"],
        "additionalProperties": False,
        "properties": {
            "group": GROUP,
            "flavor": FLAVOR,
            "count": {"type": "integer", "minimum": 1, "maximum": 1000,
                      "description": "How many slices of the flavor to hold."},
            "starts": TIME,
            "ends": TIME,
            "hold_seconds": {"type": "number", "minimum": 0, "maximum": 86400,
                             "description": "How long after the start unused reserved slices stay held before "
                                            "they are lent to others (default 600)."},
            "id": {"type": "string", "pattern": REQUEST_ID_PATTERN},
        },
    },
    "NewAnnouncement": {
        "type": "object",
        "description": "A banner shown on the hub's pages and in JupyterLab from `starts` to `ends`. A teacher "
                       "posts for her course (`group:<name>`), an operator also for everyone (`all`).",
        "required": ["text", "ends", "scope"],
        "additionalProperties": False,
        "properties": {
            "text": {"oneOf": [
                {"type": "string", "maxLength": 2000},
                {"type": "object", "additionalProperties": False, "properties": {
                    "zh": {"type": "string", "maxLength": 2000}, "en": {"type": "string", "maxLength": 2000}}},
            ], "description": "The words in each language (one string: the same for both; a language left "
                              "empty shows the other's); at most 500 characters each."},
            "starts": {**TIME, "description": "When it starts showing (default: now)."},
            "ends": {**TIME, "description": "When it stops showing; at most 90 days after `starts`."},
            "scope": {"type": "string", "maxLength": 260, "description": "`all` or `group:<course group>`."},
        },
    },
}

BODY_SCHEMAS.update(CLUSTER_BODY_SCHEMAS)

HOURS = {
    "type": "object",
    "description": "An amount of device-hours: a number for display and the exact fraction.",
    "required": ["device_hours", "exact"],
    "properties": {"device_hours": {"type": "number"}, "exact": {"type": "string"}},
}

SENTENCE = {
    "type": "object", "required": ["zh", "en"],
    "properties": {"zh": {"type": "string"}, "en": {"type": "string"}},
    "description": "A sentence for a person, in each language; a client shows the reader's.",
}

SCHEMAS: dict[str, dict] = {
    "Sentence": SENTENCE,
    "Error": {
        "type": "object",
        "required": ["error", "message", "reason"],
        "properties": {
            "error": {"type": "string", "description": "The sentence on one line, 'Chinese / English' (for "
                                                       "older clients; show `message` instead)."},
            "message": {"$ref": "#/components/schemas/Sentence"},
            "reason": {"type": "string", "description": "A machine-readable code, e.g. `quota_spent`."},
            "retry_at": {**NULLABLE_TIME, "description": "For `quota_spent`: when the budget renews."},
            "account": {"type": "string"},
            "ref": {"type": "string", "description": "For `internal_error`: where to look in the log."},
        },
    },
    "DeviceHours": HOURS,
    "Slice": {
        "type": "object",
        "required": ["node", "device", "fraction"],
        "properties": {"node": {"type": "string"}, "device": {"type": "integer"}, "fraction": {"type": "string"}},
    },
    "Grant": {
        "type": "object",
        "required": ["node", "model", "share", "devices", "slices"],
        "properties": {
            "node": {"type": ["string", "null"]},
            "model": {"type": "string"},
            "share": {"type": "string"},
            "devices": {"type": "array", "items": {"type": "integer"}},
            "slices": {"type": "array", "items": {"$ref": "#/components/schemas/Slice"}},
        },
    },
    "Warning": {
        "type": "object",
        "required": ["reason", "message", "at", "stop_at"],
        "properties": {"reason": {"type": "string"}, "message": {"$ref": "#/components/schemas/Sentence"},
                       "at": TIME, "stop_at": TIME},
    },
    "Request": {
        "type": "object",
        "required": ["id", "user", "server", "flavor", "share", "state", "arrived", "over_budget", "warnings"],
        "properties": {
            "id": {"type": "string"},
            "user": {"type": "string"},
            "server": {"type": "string"},
            "groups": {"type": "array", "items": {"type": "string"}},
            "flavor": {"type": "string"},
            "model": {"type": ["string", "null"]},
            "share": {"type": "string", "description": "Devices, exact: `\"1/4\"`, `\"2\"`; `\"0\"` for CPU only."},
            "state": {"type": "string", "enum": STATES},
            "reason": {"type": ["string", "null"], "description": "Why it ended (`stopped`, `cancelled`, ...)."},
            "position": {"type": ["integer", "null"],
                         "description": "While waiting: place in line among requests for the same device model."},
            "eta": {**NULLABLE_TIME, "description": "While waiting: the estimated start."},
            "eta_seconds": {"type": ["number", "null"], "description": "While waiting: seconds until `eta`."},
            "message": {"oneOf": [{"$ref": "#/components/schemas/Sentence"}, {"type": "null"}],
                        "description": "The state in words (waiting: place and estimate; ended: why)."},
            "ended_by": {"type": ["string", "null"],
                         "description": "Who ended it, when a person did (the owner, her teacher, staff)."},
            "launch": {"oneOf": [{"$ref": "#/components/schemas/Launch"}, {"type": "null"}],
                       "description": "While granted: what its server is started with."},
            "stopping": {"type": "boolean", "description": "In a 202 to DELETE: its server is being stopped; "
                                                           "the slice is released once it has."},
            "arrived": TIME,
            "granted_at": NULLABLE_TIME,
            "ended_at": NULLABLE_TIME,
            "grant": {"oneOf": [{"$ref": "#/components/schemas/Grant"}, {"type": "null"}]},
            "account": {"type": "string", "description": "The budget it is charged to (`user:x` or `group:g`)."},
            "reservation": {"type": ["string", "null"]},
            "charged": {"$ref": "#/components/schemas/DeviceHours"},
            "over_budget": {"type": "boolean", "description": "Running, and a budget it draws on is spent."},
            "warnings": {"type": "array", "items": {"$ref": "#/components/schemas/Warning"}},
            "cluster": {"type": ["string", "null"],
                        "description": "The Dask cluster it is the scheduler or a worker of (`server` is then "
                                       "`dask:<cluster id>`); null for a notebook server."},
        },
    },
    "Launch": {
        "type": "object",
        "required": ["env", "cpu", "memory"],
        "properties": {
            "env": {"type": "object", "additionalProperties": {"type": "string"},
                    "description": "The server's environment: the vendor's visible-devices variable "
                                   "(`ASCEND_VISIBLE_DEVICES`, `CUDA_VISIBLE_DEVICES`) and `NPUHUB_*`."},
            "cpu": {"type": "number"},
            "memory": {"type": "string"},
            "kubernetes": {"$ref": "#/components/schemas/PodFragment"},
        },
    },
    "PodFragment": {
        "type": "object",
        "description": "In a cluster: what the device model's accelerator backend adds to the server's pod, as "
                       "Kubernetes-API JSON (npuhub.accelerators.base). CPU and memory stay in `cpu` and `memory`.",
        "required": ["resources", "nodeSelector", "tolerations", "annotations", "labels", "env", "volumes",
                     "volumeMounts"],
        "properties": {
            "resources": {
                "type": "object", "required": ["limits", "requests"],
                "properties": {"limits": {"type": "object", "additionalProperties": {"type": "string"}},
                               "requests": {"type": "object", "additionalProperties": {"type": "string"}}},
                "description": "Extended resources of the accelerator only (`huawei.com/Ascend910-8c: \"1\"`).",
            },
            "nodeSelector": {"type": "object", "additionalProperties": {"type": "string"},
                             "description": "With `kubernetes.io/hostname` when the pool placed the grant on a node."},
            "affinity": {"type": "object"},
            "tolerations": {"type": "array", "items": {"type": "object"}},
            "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "env": {"type": "object", "additionalProperties": {"type": "string"}},
            "volumes": {"type": "array", "items": {"type": "object"},
                        "description": "Read-only hostPath volumes the vendor's runtime needs (the Ascend driver, "
                                       "`npu-smi`)."},
            "volumeMounts": {"type": "array", "items": {"type": "object"}},
            "schedulerName": {"type": "string"},
        },
    },
    "RequestList": {
        "type": "object", "required": ["requests"],
        "properties": {"requests": {"type": "array", "items": {"$ref": "#/components/schemas/Request"}}},
    },
    "QueueEntry": {
        "type": "object",
        "required": ["position", "flavor", "share", "arrived", "reserved", "mine", "user", "id"],
        "properties": {
            "position": {"type": "integer"},
            "flavor": {"type": "string"},
            "model": {"type": ["string", "null"]},
            "share": {"type": "string"},
            "arrived": TIME,
            "eta": NULLABLE_TIME,
            "eta_seconds": {"type": ["number", "null"]},
            "reserved": {"type": "boolean", "description": "A reservation of the person's group serves it."},
            "mine": {"type": "boolean"},
            "user": {"type": ["string", "null"], "description": "Only for people allowed to see it."},
            "id": {"type": ["string", "null"], "description": "Only for people allowed to see it."},
        },
    },
    "Queue": {
        "type": "object", "required": ["length", "queue"],
        "properties": {"length": {"type": "integer"},
                       "queue": {"type": "array", "items": {"$ref": "#/components/schemas/QueueEntry"}}},
    },
    "Pool": {
        "type": "object",
        "required": ["models", "nodes", "store"],
        "properties": {
            "models": {"type": "array", "items": {
                "type": "object", "required": ["model", "capacity", "held", "free"],
                "properties": {"model": {"type": "string"}, "vendor": {"type": "string"},
                               "capacity": {"type": "string",
                                            "description": "Devices on schedulable nodes."},
                               "held": {"type": "string"},
                               "free": {"type": "string"}, "reserved": {"type": "string"},
                               "waiting": {"type": "integer"},
                               "held_apart": {"type": "string",
                                              "description": "Held on cordoned nodes or on devices a node no "
                                                             "longer offers (not in capacity)."}}}},
            "nodes": {"type": "array", "items": {
                "type": "object", "required": ["name", "model", "devices"],
                "properties": {"name": {"type": "string"}, "model": {"type": "string"},
                               "vendor": {"type": "string"},
                               "state": {"type": "string", "enum": ["schedulable", "cordoned"],
                                         "description": "cordoned: keeps its sessions, takes no new grant."},
                               "requests": {"type": "array", "items": {"type": "string"},
                                            "description": "Granted requests holding a slice on the node."},
                               "devices": {"type": "array", "items": {
                                   "type": "object", "required": ["index", "used", "free"],
                                   "properties": {"index": {"type": "integer"}, "used": {"type": "string"},
                                                  "free": {"type": "string"},
                                                  "draining": {"type": "boolean",
                                                               "description": "No longer offered by the node; "
                                                                              "held until its holders leave."}}}}}}},
            "lost_nodes": {"type": "array", "description": "Nodes that left the cluster since the service started, "
                                                           "newest first; their grants ended with node_lost.",
                           "items": {"type": "object", "required": ["name", "lost_at", "requests"],
                                     "properties": {"name": {"type": "string"}, "model": {"type": "string"},
                                                    "state": {"type": "string", "enum": ["lost"]},
                                                    "lost_at": TIME,
                                                    "requests": {"type": "array", "items": {"type": "string"}}}}},
            "store": {"type": "object", "required": ["available"],
                      "properties": {"available": {"type": "boolean"}, "down_since": NULLABLE_TIME}},
        },
    },
    "Account": {
        "type": "object",
        "required": ["name", "balance", "period", "renews_at", "spent"],
        "properties": {
            "name": {"type": "string"},
            "balance": {"$ref": "#/components/schemas/DeviceHours"},
            "grant_per_period": {"$ref": "#/components/schemas/DeviceHours"},
            "cap": {"$ref": "#/components/schemas/DeviceHours"},
            "period": {"type": "string", "enum": ["day", "week", "month"]},
            "renews_at": TIME,
            "spent": {"type": "boolean"},
        },
    },
    "Flavor": {
        "type": "object",
        "required": ["id", "name", "share"],
        "properties": {
            "id": {"type": "string"},
            "name": {"type": "string", "description": "Both languages, Chinese first: 'zh / en'."},
            "names": {"type": "object", "required": ["zh", "en"],
                      "properties": {"zh": {"type": "string"}, "en": {"type": "string"}},
                      "description": "The name in each language, for a client that shows one."},
            "share": {"type": "string"},
            "model": {"type": ["string", "null"]},
            "price": {"$ref": "#/components/schemas/DeviceHours",
                      "description": "Device-hours charged per hour of a session."},
            "description": {"$ref": "#/components/schemas/Sentence"},
            "cpu": {"type": "number"},
            "memory": {"type": "string"},
            "default": {"type": "boolean", "description": "The one preselected on the spawn form."},
        },
    },
    "Menu": {
        "type": "object", "required": ["flavors", "default"],
        "properties": {"flavors": {"type": "array", "items": {"$ref": "#/components/schemas/Flavor"}},
                       "default": {"type": ["string", "null"]}},
    },
    "Me": {
        "type": "object",
        "required": ["user", "groups", "max_share", "held_share", "holdings", "waiting", "accounts", "flavors"],
        "properties": {
            "user": {"type": "string"},
            "groups": {"type": "array", "items": {"type": "string"}},
            "max_share": {"type": "string", "description": "The most she may hold at once, in devices."},
            "held_share": {"type": "string"},
            "holdings": {"type": "array", "items": {"$ref": "#/components/schemas/Request"}},
            "waiting": {"type": "array", "items": {"$ref": "#/components/schemas/Request"}},
            "accounts": {"type": "array", "items": {"$ref": "#/components/schemas/Account"}},
            "flavors": {"type": "array", "items": {"$ref": "#/components/schemas/Flavor"}},
            "store": {"type": "object", "properties": {"available": {"type": "boolean"}}},
        },
    },
    "LedgerEntry": {
        "type": "object",
        "required": ["id", "account", "kind", "amount", "before", "after", "at", "actor", "reason"],
        "properties": {
            "id": {"type": "integer"},
            "account": {"type": "string"},
            "kind": {"type": "string", "description": "`grant`, `renewal`, `charge` or `adjust`."},
            "amount": {"$ref": "#/components/schemas/DeviceHours"},
            "before": {"$ref": "#/components/schemas/DeviceHours"},
            "after": {"$ref": "#/components/schemas/DeviceHours"},
            "at": TIME,
            "actor": {"type": "string"},
            "reason": {"type": "string"},
            "request": {"type": ["string", "null"]},
        },
    },
    "Ledger": {
        "type": "object", "required": ["entries"],
        "properties": {"entries": {"type": "array", "items": {"$ref": "#/components/schemas/LedgerEntry"}}},
    },
    "Reservation": {
        "type": "object",
        "required": ["id", "group", "flavor", "count", "starts", "ends", "hold_seconds", "created_by", "active"],
        "properties": {
            "id": {"type": "string"}, "group": {"type": "string"}, "flavor": {"type": "string"},
            "count": {"type": "integer"}, "starts": TIME, "ends": TIME, "hold_seconds": {"type": "number"},
            "created_by": {"type": "string"}, "active": {"type": "boolean"},
            "in_use": {"type": "integer", "description": "Reserved slices members hold now."},
            "held": {"type": "integer", "description": "Reserved slices kept free for members now."},
            "lent": {"type": "boolean", "description": "Unused slices were lent to others after the hold."},
        },
    },
    "Announcement": {
        "type": "object",
        "required": ["id", "text", "starts", "ends", "scope", "author"],
        "properties": {
            "id": {"type": "string"}, "text": {"$ref": "#/components/schemas/Sentence"},
            "starts": TIME, "ends": TIME,
            "scope": {"type": "string", "description": "`all` or `group:<name>`."},
            "author": {"type": "string"},
        },
    },
    "AnnouncementList": {
        "type": "object", "required": ["announcements"],
        "properties": {"announcements": {"type": "array",
                                         "items": {"$ref": "#/components/schemas/Announcement"}}},
    },
    "ReservationList": {
        "type": "object", "required": ["reservations"],
        "properties": {"reservations": {"type": "array", "items": {"$ref": "#/components/schemas/Reservation"}}},
    },
    **CLUSTER_SCHEMAS,
    **BODY_SCHEMAS,
}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema_name: str, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": _ref(schema_name)}}}


def _errors(*codes: int) -> dict:
    out = {str(code): {"$ref": f"#/components/responses/E{code}"} for code in codes}
    out["default"] = {"$ref": "#/components/responses/Error"}
    return out


def _body(name: str) -> dict:
    return {"required": True, "content": {"application/json": {"schema": _ref(name)}}}


def _schema_and_description(schema: dict) -> tuple[dict, str]:
    return {k: v for k, v in schema.items() if k != "description"}, schema.get("description", "")


def _paths() -> dict:
    """The paths of the route table (``routes.ROUTES``), which declares each route once."""
    from .routes import ROUTES  # here, not at the top: the table imports the handlers, which import this module

    paths: dict[str, dict] = {}
    for route in ROUTES:
        if not route.documented:
            continue
        item = paths.setdefault(route.path, {})
        for method, op in route.operations.items():
            entry: dict = {"operationId": op.id, "tags": [op.tag], "summary": op.summary}
            if op.description:
                entry["description"] = op.description
            parameters = [{"name": name, "in": "path", "required": True, "schema": schema, "description": text}
                          for name, (schema, text) in route.params.items()]
            for name, declared in op.query.items():
                schema, text = _schema_and_description(declared)
                param = {"name": name, "in": "query", "required": False, "schema": schema, "description": text}
                if schema.get("type") == "array":
                    param.update(style="form", explode=True)
                parameters.append(param)
            if parameters:
                entry["parameters"] = parameters
            if op.body:
                entry["requestBody"] = _body(op.body)
            responses = {str(code): _json(schema, text) if schema else {"description": text}
                         for code, (schema, text) in op.responses.items()}
            entry["responses"] = {**responses, **_errors(*op.errors)}
            item[method.lower()] = entry
    return paths


def _error_response(description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": _ref("Error")}}}


@functools.lru_cache(maxsize=8)
def _document(api_url: str) -> dict:
    codes = {400: "Invalid input", 401: "Not signed in", 403: "Not allowed", 404: "Not found",
             409: "Conflict with the current state", 413: "The body is larger than the service reads (1 MiB)",
             429: "A budget is spent (see `retry_at`)",
             503: "The admission database (or the hub) cannot be reached; nothing was changed"}
    responses = {f"E{code}": _error_response(text) for code, text in codes.items()}
    responses["Error"] = _error_response("An error")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "npuhub admission API",
            "version": __version__,
            "description": "Ask for slices of the accelerator pool, see the queue and the pool, budgets and "
                           "their ledger, reservations, announcements. Authenticate with a JupyterHub token "
                           "(`Authorization: token <token>`) or the service's OAuth cookie. A hub group whose "
                           "`properties` list `npuhub_flavors` holds its members to those flavors (a workshop's "
                           "guests): menus show only them, and other flavors are refused (`flavor_not_allowed`). "
                           "Every answer carries `Content-Security-Policy: default-src 'none'; "
                           "frame-ancestors 'none'` and `X-Content-Type-Options: nosniff`.",
        },
        "servers": [{"url": api_url}],
        "security": [{"token": []}],
        "tags": [{"name": n} for n in ("requests", "queue", "people", "budgets", "reservations", "clusters",
                                                 "announcements")],
        "paths": _paths(),
        "components": {
            "schemas": SCHEMAS,
            "responses": responses,
            "securitySchemes": {
                "token": {"type": "apiKey", "in": "header", "name": "Authorization",
                          "description": "`token <JupyterHub API token>` with `custom:npuhub:use` (or more)."},
            },
        },
    }


def openapi_document(api_url: str = "/services/npuhub/api/v1") -> dict:
    """The OpenAPI document, with ``api_url`` (the API's path prefix) as its server."""
    return copy.deepcopy(_document(api_url))


@functools.cache
def _validator(name: str):
    # The body schemas use only keywords JSON Schema draft 7 shares with OpenAPI 3.1's 2020-12 dialect.
    return fastjsonschema.compile({**BODY_SCHEMAS[name], "$schema": "http://json-schema.org/draft-07/schema#"})


def validate_body(name: str, data) -> list[str]:
    """The problem with ``data`` against the body schema ``name``, as a short sentence (empty: valid)."""
    try:
        _validator(name)(data)
    except fastjsonschema.JsonSchemaValueException as e:
        return [str(e.message)[:300]]
    return []
