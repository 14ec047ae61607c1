"""The security headers on every answer of the service: a Content-Security-Policy and ``nosniff``.

The API answers JSON (and Prometheus' text): nothing in them is ever to be
run, styled or framed, so their policy allows nothing. The one HTML the
service can send is the OAuth callback's error page (tornado's plain page,
no script, no style, no form): it gets a policy that allows nothing either,
which that page does not need. ``nosniff`` keeps a browser from taking an
answer for another type than it says (a JSON body run as a script).
"""

from __future__ import annotations

__all__ = ["API_POLICY", "HTML_POLICY", "set_security_headers"]

#: For JSON and text answers: nothing may load, and no page may frame them.
API_POLICY = "default-src 'none'; frame-ancestors 'none'"
#: For the service's HTML (the sign-in callback's error page): no script, style, form or base can be used.
HTML_POLICY = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"


def set_security_headers(handler, policy: str = API_POLICY) -> None:
    """Set the headers on ``handler``'s answer (call from ``set_default_headers``, which errors call too)."""
    handler.set_header("Content-Security-Policy", policy)
    handler.set_header("X-Content-Type-Options", "nosniff")
