"""Every endpoint fuzzed from the OpenAPI document the service serves (schemathesis): bad input is a 4xx, never a 5xx.

The fuzzer sends valid and invalid requests to every operation of the
document, through the hub's proxy, as an operator (the caller who reaches the
most code) and as a student (who meets the refusals), and checks the answers
against the same document: no server error, documented status codes, JSON
errors, bodies that match the schemas, invalid input refused, and methods the
document does not list answered 405 with an ``Allow`` header. The inputs
are random: the seed is printed, and ``NPUHUB_FUZZ_SEED=<seed>`` replays a run.
The document is built in-process (pytest collects one test per operation
before any service runs) and checked to be exactly the one the running
service serves.
"""

from __future__ import annotations

import os
import secrets

import pytest
import schemathesis
from hypothesis import HealthCheck, seed, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    allow_header_conformance,
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)
from support.service_stack import PREFIX, ServiceProcess

from npuhub.service.openapi import openapi_document

pytestmark = pytest.mark.integration

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          negative_data_rejection, unsupported_method, allow_header_conformance]
SEED = int(os.environ.get("NPUHUB_FUZZ_SEED") or secrets.randbits(32))
#: examples per operation and caller: about a minute in all on two shared cores
EXAMPLES = int(os.environ.get("NPUHUB_FUZZ_EXAMPLES", "30"))
print(f"fuzzing with NPUHUB_FUZZ_SEED={SEED}")


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
# The test sends each caller's token itself: generated (and, in negative cases, removed) Authorization
# headers would be replaced by it, and a request made valid that way would count as "invalid data accepted".
schema.config.generation.update(with_security_parameters=False)


def test_the_fuzzed_document_is_the_served_one(fuzzed_service):
    served = fuzzed_service.client(None).get("/openapi.json")
    assert served.status_code == 200 and served.json() == openapi_document(API)


@pytest.mark.parametrize("who", ["admin", "student1"])
@schema.parametrize()
@seed(SEED)
@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture])
def test_no_input_makes_the_service_fail(case, who, fuzzed_service):
    base = f"{fuzzed_service.hub.base_url}{PREFIX}api/v1"
    token = fuzzed_service.hub.token(who)
    try:
        case.call_and_validate(base_url=base, headers={"Authorization": f"token {token}"}, checks=CHECKS, timeout=30)
    except BaseException as e:
        e.add_note(f"as {who}; replay with NPUHUB_FUZZ_SEED={SEED}")
        raise
