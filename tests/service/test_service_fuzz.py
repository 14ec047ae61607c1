"""Every endpoint fuzzed from the OpenAPI document the service serves (schemathesis): bad input is a 4xx, never a 5xx.

The fuzzer sends valid and invalid requests to every operation of the
document, through the hub's proxy, as an operator (the caller who reaches the
most code), and checks the answers against the same document: no server
error, documented status codes, JSON errors, bodies that match the schemas,
and invalid input refused. The document is built in-process (pytest collects
one test per operation before any service runs) and checked to be exactly
the one the running service serves.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from support.service_stack import PREFIX, ServiceProcess

from npuhub.service.openapi import openapi_document

pytestmark = pytest.mark.integration

# negative_data_rejection is left out: the test injects the Authorization header that schemathesis'
# negative cases remove, so it reports "accepted" for requests that were in fact well-formed.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def fuzzed_service(service_hub, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("fuzz")
    svc = ServiceProcess(service_hub, f"sqlite:///{workdir / 'admission.sqlite'}", workdir).start()
    # something to find: a granted request, a waiting one, a reservation
    lab = svc.client("labmember1")
    lab.post("/requests", {"flavor": "npu-1", "id": "fuzz-granted"})
    lab.post("/requests", {"flavor": "npu-1"})
    lab.post("/requests", {"flavor": "npu-quarter", "id": "fuzz-waiting"})
    yield svc
    svc.stop()
    assert "Traceback" not in svc.log(tail=10**8), svc.log()


API = PREFIX + "api/v1"
schema = schemathesis.openapi.from_dict(openapi_document(API))


def test_the_fuzzed_document_is_the_served_one(fuzzed_service):
    served = fuzzed_service.client(None).get("/openapi.json")
    assert served.status_code == 200 and served.json() == openapi_document(API)


@schema.parametrize()
@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture])
def test_no_input_makes_the_service_fail(case, fuzzed_service):
    base = f"{fuzzed_service.hub.base_url}{PREFIX}api/v1"
    token = fuzzed_service.hub.token("admin")
    case.call_and_validate(base_url=base, headers={"Authorization": f"token {token}"}, checks=CHECKS, timeout=30)
