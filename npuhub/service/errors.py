"""Errors of the service's API and the one place that turns them into JSON with the right status.

Every error answer has the shape of ``Refusal.body()`` (``npuhub/refusals.py``):
``{"error": "<one line, Chinese / English>", "message": {"zh": ..., "en": ...},
"reason": "<machine code>"}``, plus fields that help a client act
(``retry_at`` for a spent budget, ``detail`` for invalid input). A refusal by
policy (any ``Refusal``: the admission core's, a flavor the person may not
use) is an expected answer and is logged without a traceback; only a bug
becomes a 500, and its answer carries a reference to find the traceback in
the log.
"""

from __future__ import annotations

import time
import uuid

from tornado.web import HTTPError

from ..i18n import MESSAGES, Text, message
from ..refusals import REASON_STATUS, Refusal, hours_text, iso, when, whose

__all__ = ["REASON_STATUS", "APIError", "error_answer", "hours", "iso", "when", "whose"]

hours = hours_text


class APIError(Refusal):
    """A refusal the service itself gives (not found, not allowed, invalid input), status first."""

    def __init__(self, status: int, reason: str, text: Text | None = None, *, headers: dict | None = None,
                 **extra):
        super().__init__(reason, text, status=status, headers=headers, **extra)


#: Tornado's own errors (routing, methods, malformed requests) in our words.
_HTTP_REASONS = {400: "body_invalid", 401: "not_signed_in", 403: "permission_denied", 404: "not_found",
                 405: "method_not_allowed"}


def error_answer(exc: BaseException | None, status: int, method: str = "", path: str = "") -> tuple[Refusal, bool]:
    """The Refusal to answer with for whatever went wrong, and whether it is a bug worth a traceback."""
    if isinstance(exc, Refusal):
        if exc.reason == "quota_spent" and exc.retry_at is not None and "Retry-After" not in exc.headers:
            exc.headers["Retry-After"] = str(max(1, int(exc.retry_at - time.time())))
        return exc, False
    if isinstance(exc, HTTPError) or exc is None:
        code = exc.status_code if isinstance(exc, HTTPError) else status
        if code >= 500:
            ref = uuid.uuid4().hex[:8]
            return APIError(code, "internal_error", message("internal_error", ref=ref), ref=ref), exc is not None
        reason = _HTTP_REASONS.get(code, "body_invalid")
        if reason == "not_found":
            text = message("not_found", path=path[:200])
        elif reason == "method_not_allowed":
            text = message("method_not_allowed", method=method)
        elif reason == "permission_denied":
            text = message("permission_denied", scope="custom:npuhub:use")
        elif reason == "body_invalid":
            detail = (exc.log_message if isinstance(exc, HTTPError) and exc.log_message else "malformed request")
            text = message("body_invalid", detail=str(detail)[:200])
        else:
            text = MESSAGES[reason]
        return APIError(code, reason, text), False
    ref = uuid.uuid4().hex[:8]
    return APIError(500, "internal_error", message("internal_error", ref=ref), ref=ref), True
