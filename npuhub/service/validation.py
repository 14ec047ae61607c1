"""Input limits in one place: body size, JSON that is finite and shallow, query parameters checked like bodies.

Every refusal here is a 4xx with a sentence: a body over ``MAX_BODY_BYTES``
is 413 ``body_too_large``; anything else is 400 ``body_invalid``. Bodies and
query parameters are checked by the same engine (fastjsonschema) against the
schemas the OpenAPI document publishes, so the document and the service agree.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
import re
from typing import Any

import fastjsonschema

from ..i18n import message
from .errors import APIError
from .openapi import validate_body

__all__ = ["DRAIN_BYTES", "MAX_BODY_BYTES", "MAX_DEPTH", "body_too_large", "invalid", "parse_json", "parse_query", "parse_time"]

#: The largest body a handler reads; every body the API takes is far smaller.
MAX_BODY_BYTES = 2**20
#: The server reads (and throws away) up to this much past the limit, so that a client which sends its whole
#: body before reading the answer sees the 413 instead of a reset connection.
DRAIN_BYTES = 2**30
#: The deepest nesting of arrays and objects a body may have (the API's bodies have 2).
MAX_DEPTH = 32
#: Query parameters every route accepts: JupyterHub's token and XSRF parameters.
ALWAYS_ALLOWED = frozenset({"token", "_xsrf"})

_INTEGER = re.compile(r"^[+-]?[0-9]{1,18}$")
_NUMBER = re.compile(r"^-?[0-9]{1,12}(\.[0-9]{1,9})?$")  # no NaN, no exponent: finite
_DRAFT7 = "http://json-schema.org/draft-07/schema#"


def invalid(problem: str, **extra) -> APIError:
    """400 ``body_invalid`` with what is wrong, in a few words (``extra``: more fields of the answer)."""
    return APIError(400, "body_invalid", message("body_invalid", detail=problem[:300]), **extra)


def body_too_large() -> APIError:
    return APIError(413, "body_too_large", message("body_too_large", limit=f"{MAX_BODY_BYTES // 2**20} MiB"))


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


#: Below this, a number written with a fraction or exponent but whole (``2.0``, ``1e3``) is read as an int.
_EXACT_INTS = 2**53


def _finite(text: str) -> float | int:
    value = float(text)
    if not math.isfinite(value):  # 1e999 parses as infinity
        raise ValueError(f"{text[:20]} is too large a number")
    # JSON Schema's "integer" admits 2.0: read it as the whole number it is, so that every count a schema
    # checks reaches the handlers as an int (a float count once crashed range() in the Dask clusters' path)
    if value.is_integer() and abs(value) < _EXACT_INTS:
        return int(value)
    return value


def parse_time(value: str, field: str) -> float:
    """An ISO 8601 date and time (``Z`` or an offset; none: UTC) as a POSIX timestamp; else 400 naming ``field``."""
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.UTC)
        return parsed.timestamp()
    except (ValueError, OverflowError):
        raise invalid(f"{field} is not a date and time like 2026-05-04T09:00:00Z") from None


def _depth(data: Any) -> int:
    """How deeply ``data`` nests arrays and objects (stops counting past MAX_DEPTH)."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        deepest = max(deepest, depth)
        if depth > MAX_DEPTH:
            break
        stack.extend((child, depth + 1) for child in children)
    return deepest


def parse_json(raw: bytes) -> Any:
    """The JSON document in ``raw``: finite numbers only, at most MAX_DEPTH deep; else 400."""
    try:
        data = json.loads(raw or b"null", parse_constant=_no_constant, parse_float=_finite)
    except RecursionError:
        raise invalid(f"nested deeper than {MAX_DEPTH} levels") from None
    except (ValueError, UnicodeDecodeError) as e:  # JSONDecodeError is a ValueError
        raise invalid(f"not JSON ({e})"[:200]) from None
    if _depth(data) > MAX_DEPTH:
        raise invalid(f"nested deeper than {MAX_DEPTH} levels")
    return data


def check_body(schema: str, raw: bytes) -> dict:
    """The body parsed and valid against the body schema ``schema`` (see ``openapi.BODY_SCHEMAS``); else 400."""
    data = parse_json(raw)
    problems = validate_body(schema, data)
    if problems:
        raise invalid("; ".join(problems), detail=problems)
    return data


@functools.cache
def _query_validator(properties_json: str):
    properties = json.loads(properties_json)
    return fastjsonschema.compile({"$schema": _DRAFT7, "type": "object", "properties": properties,
                                   "additionalProperties": False})


def _typed(schema: dict, text: str):
    # a query string has no types: read as a number what the schema says is one, so the schema can judge it
    if schema.get("type") == "integer" and _INTEGER.match(text):
        return int(text)
    if schema.get("type") == "number" and _NUMBER.match(text):
        return float(text)
    if schema.get("type") == "boolean" and text in ("true", "false"):
        return text == "true"
    return text


def parse_query(properties: dict[str, dict], arguments: dict[str, list[bytes]]) -> dict:
    """Query parameters, typed, defaults filled, checked against ``properties`` (JSON schemas by name); else 400.

    A parameter given twice is a list, which a non-array schema refuses.
    """
    values: dict[str, Any] = {}
    for name, raw in arguments.items():
        if name in ALWAYS_ALLOWED:
            continue
        texts = [v.decode("utf-8", "replace") for v in raw]
        schema = properties.get(name, {})
        if schema.get("type") == "array":
            values[name] = [_typed(schema.get("items", {}), t) for t in texts]
        else:
            values[name] = _typed(schema, texts[0]) if len(texts) == 1 else texts
    try:
        return _query_validator(json.dumps(properties, sort_keys=True))(values)
    except fastjsonschema.JsonSchemaValueException as e:
        problem = str(e.message).replace("data", "query", 1)
        raise invalid(problem, detail=[problem[:300]]) from None
