"""The route table and the input limits, without a server: one declaration per route, and what the parsers refuse."""

from __future__ import annotations

import re

import pytest

from npuhub.service.errors import APIError
from npuhub.service.openapi import openapi_document
from npuhub.service.routes import ROUTES, url_table
from npuhub.service.validation import MAX_DEPTH, check_body, parse_json, parse_query

API = "/services/npuhub/api/v1"


def test_the_document_and_the_url_table_come_from_the_route_table():
    doc = openapi_document(API)
    documented = {(path, method.upper()) for path, item in doc["paths"].items() for method in item}
    declared = {(r.path, m) for r in ROUTES if r.documented for m in r.operations}
    assert documented == declared
    ids = [op.id for r in ROUTES for op in r.operations.values()]
    assert len(ids) == len(set(ids))
    for route in ROUTES:
        for method in route.operations:  # every declared method is served by the handler, not tornado's 405
            assert method.lower() in vars(route.handler), (route.path, method)
        assert re.findall(r"\{([a-z_]+)\}", route.path) == list(route.params), route.path
    table = url_table("/services/npuhub/", ctx=None)
    patterns = [spec[0] for spec in table]
    assert "/services/npuhub/api/v1/requests/([^/]+)" in patterns and "/services/npuhub/metrics" in patterns
    # a query parameter is declared once: the document shows the schema the service checks
    get_requests = doc["paths"]["/requests"]["get"]
    limit = next(p for p in get_requests["parameters"] if p["name"] == "limit")
    assert limit["schema"] == {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}


@pytest.mark.parametrize("raw", [b'{"a": NaN}', b'{"a": Infinity}', b"[-Infinity]", b'{"a": 1e999}',
                                 b"[" * 1000 + b"]" * 1000, b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1),
                                 b'{"a": ', b"\xff\xfe", b"1" * 5000])
def test_bodies_that_are_not_plain_json_are_400(raw):
    with pytest.raises(APIError) as refused:
        parse_json(raw)
    assert refused.value.status == 400 and refused.value.reason == "body_invalid"


def test_plain_json_passes():
    assert parse_json(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH) is not None
    assert parse_json(b'{"hold_seconds": 1.5e2}') == {"hold_seconds": 150.0}
    assert check_body("NewRequest", b'{"flavor": "npu-quarter"}') == {"flavor": "npu-quarter"}
    with pytest.raises(APIError):
        check_body("NewRequest", b'{"flavor": "npu-quarter", "colour": "red"}')


QUERY = {"state": {"type": "array", "items": {"type": "string", "enum": ["waiting", "granted"]}},
         "limit": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}}


def test_query_parameters_are_typed_defaulted_and_checked_by_the_schema():
    assert parse_query(QUERY, {}) == {"limit": 100}
    assert parse_query(QUERY, {"limit": [b"7"], "state": [b"waiting", b"granted"], "token": [b"x"]}) == \
        {"limit": 7, "state": ["waiting", "granted"]}
    for bad in ({"limit": [b"abc"]}, {"limit": [b"0"]}, {"limit": [b"1", b"2"]}, {"limit": [b"1e3"]},
                {"state": [b"bogus"]}, {"colour": [b"red"]}, {"limit": [b"9" * 40]}):
        with pytest.raises(APIError) as refused:
            parse_query(QUERY, bad)
        assert refused.value.status == 400 and "query" in refused.value.text.en, bad
