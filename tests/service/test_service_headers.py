"""Every answer of the service carries a Content-Security-Policy and ``nosniff``: each route and method,
errors of every kind (401, 403, 404, 405, 413, 400 from tornado itself), /metrics, /openapi.json, the
browser's redirect to sign in, and the sign-in callback's HTML error page."""

from __future__ import annotations

import re

import pytest
import requests
from support.service_stack import PREFIX

from npuhub.service.routes import ROUTES

from test_service_hostile import _post_raw

pytestmark = pytest.mark.integration

JSON_POLICY = "default-src 'none'; frame-ancestors 'none'"
#: a path parameter's value per name: real enough that every handler runs (and answers, often 404)
PARAMS = {"id": "no-such-id", "account": "user:student1"}


def secured(r: requests.Response, what: str, html: bool = False) -> list[str]:
    """What is missing or wrong in the answer's security headers ([] if nothing)."""
    problems = []
    policy = r.headers.get("Content-Security-Policy", "")
    if html:
        if "default-src 'none'" not in policy or "frame-ancestors 'none'" not in policy:
            problems.append(f"{what}: HTML policy {policy!r}")
    elif policy != JSON_POLICY:
        problems.append(f"{what}: policy {policy!r}")
    if r.headers.get("X-Content-Type-Options") != "nosniff":
        problems.append(f"{what}: X-Content-Type-Options {r.headers.get('X-Content-Type-Options')!r}")
    return problems


def test_every_answer_forbids_sniffing_and_running_anything(start_service):
    svc = start_service()
    base = f"{svc.url}{PREFIX}"
    student = {"Authorization": f"token {svc.hub.token('student1')}"}
    operator = {"Authorization": f"token {svc.hub.token('admin')}"}
    seen: dict[int, int] = {}
    problems: list[str] = []

    def check(method: str, url: str, html: bool = False, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 30)
        kwargs.setdefault("allow_redirects", False)
        r = requests.request(method, url, **kwargs)
        seen[r.status_code] = seen.get(r.status_code, 0) + 1
        problems.extend(secured(r, f"{method} {url[len(svc.url):]} -> {r.status_code}", html))
        return r

    # every route and every method it has, as a student and as an operator, with an empty body where one is taken
    for route in ROUTES:
        path = re.sub(r"\{([a-z_]+)\}", lambda m: PARAMS[m.group(1)], route.path)
        url = (base + "api/v1" if route.mount == "api" else base.rstrip("/")) + path
        for method, op in route.operations.items():
            for headers in (student, operator):
                check(method, url, headers=headers, json={} if op.body else None)
        check("GET", url)  # anonymous: 401 (or the document itself)
        check("TRACE", url, headers=student)  # a method no route has: 405
        check("PATCH", url, headers=student)

    # a long poll that finds nothing new: 304
    r = check("POST", base + "api/v1/requests", headers=student, json={"flavor": "cpu"})
    assert r.status_code == 201, r.text
    tag = check("GET", base + f"api/v1/requests/{r.json()['id']}", headers=student).headers["ETag"]
    check("GET", base + f"api/v1/requests/{r.json()['id']}?wait=0.2", headers={**student, "If-None-Match": tag})

    check("GET", base + "api/v1/nothing-here", headers=student)  # 404 inside the API
    check("GET", svc.url + "/elsewhere")  # 404 outside the service's prefix
    check("GET", base + "api/v1/requests/%ff%fe", headers=student)  # not UTF-8: tornado's own 400
    check("GET", base + "api/v1/requests?limit=0", headers=student)  # 400 from the route's checks
    check("GET", base + "api/v1/me", headers={"Authorization": "token not-a-token"})  # 403 from the hub's word
    check("GET", base + "api/v1/me", headers={"Accept": "text/html"})  # a browser: redirected to sign in
    check("GET", base + "metrics", headers=operator)  # Prometheus' text
    # the sign-in callback without its state: the one HTML answer the service has
    r = check("GET", base + "oauth_callback?code=x&state=y", html=True)
    assert r.status_code >= 400 and "text/html" in r.headers.get("Content-Type", ""), (r.status_code, r.headers)

    # a body too large, refused before it is read: 413
    status, headers, _ = _post_raw(base + "api/v1/requests", svc.hub.token("student1"),
                                   b"Content-Length: 2097152\r\n", [b" " * 2097152])
    assert status == 413
    fake = requests.Response()
    fake.headers.update({k.title(): v for k, v in headers.items()})
    problems.extend(secured(fake, "POST /requests (2 MiB) -> 413"))

    # the same through the hub's proxy, as clients reach the service
    problems.extend(secured(svc.client("student1").get("/me"), "GET /me through the proxy"))
    problems.extend(secured(svc.client("student1").get("/nope"), "GET /nope through the proxy"))

    assert not problems, "\n".join(problems)
    for status in (200, 201, 302, 304, 400, 401, 403, 404, 405):
        assert status in seen, (status, seen)
