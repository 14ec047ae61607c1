"""University sign-in in a real browser: the hub's button, the provider's forms, back to the hub's home.

Drives Debian's Chromium (/usr/bin/chromium) with Playwright against the real
embedded stack and the real OpenID provider of tests/idp/oidc (the
``chromium`` fixture is tests/conftest.py's).
"""

from __future__ import annotations

import re

import pytest

from support.oidc_idp import CLIENT_ID, CLIENT_SECRET, PASSWORD, SECRET_ENV, OIDCProvider, require_provider
from support.sites import flavor, make_site
from support.stacks import EmbeddedStack, free_port

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def oidc_site(issuer: str) -> dict:
    """One course, CPU only: what the sign-in needs."""
    return make_site(
        groups={"course-demo": {"kind": "course"}}, flavors=[flavor("cpu")], limits={"max_share": 1},
        auth={"type": "oidc",
              "oidc": {"issuer": issuer, "client_id": CLIENT_ID, "client_secret_env": SECRET_ENV,
                       "scopes": ["openid", "profile", "email", "groups"]},
              "groups": {"allowed": ["course-demo"]}},
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    require_provider()
    workdir = tmp_path_factory.mktemp("browser-oidc")
    idp_port = free_port()
    stack = EmbeddedStack(workdir, oidc_site(f"http://127.0.0.1:{idp_port}"))
    idp = OIDCProvider(workdir / "idp", idp_port, [stack.base_url + "/hub/oauth_callback"]).start()
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv(SECRET_ENV, CLIENT_SECRET)
            stack.start()
        yield stack, idp
    finally:
        stack.stop()
        idp.stop()


def test_student_signs_in_with_her_university_account(chromium, site, request):
    stack, idp = site
    context = chromium.new_context(locale="en-US")
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        page.goto(stack.base_url + "/hub/login")
        page.get_by_role("button", name=re.compile("Sign in with")).click()

        page.wait_for_url(re.compile(re.escape(idp.issuer) + "/interaction/"))
        page.fill("#username", "alice")
        page.fill("#password", PASSWORD)
        page.click("#login")

        page.locator("#allow").wait_for()
        assert "groups" in page.inner_text("#scopes").split()
        page.click("#allow")

        page.wait_for_url(stack.base_url + "/hub/home")
        assert page.locator("#start").is_visible(), "the hub's home has no Start My Server button"
        assert "alice" in page.locator("#login_widget, .navbar").first.inner_text()
    except Exception:
        shot = stack.workdir / f"failure-{request.node.name}.png"
        page.screenshot(path=shot)
        print(f"\nthe page at failure: {shot} ({page.url}); logs: {stack.log_path}, {idp.log_path}")
        raise
    finally:
        context.close()
