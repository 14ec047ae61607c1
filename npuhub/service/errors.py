"""Errors of the service's API and the one place that turns them into JSON with the right status.

Every error answer has the same shape, ``{"error": "<sentence in Chinese /
English>", "reason": "<machine code>"}``, plus fields that help a client act
(``retry_at`` for a spent budget, ``detail`` for invalid input). A refusal by
policy (``Refused`` from the admission core, a flavor the person may not use)
is an expected answer and is logged without a traceback; only a bug becomes a
500, and its answer carries a reference to find the traceback in the log.
"""

from __future__ import annotations

import datetime as dt
import uuid
from fractions import Fraction

from tornado.web import HTTPError

from ..admission.model import Refused
from ..flavors import FlavorError
from ..i18n import MESSAGES, Text, message
from ..shares import format_share

__all__ = ["REFUSAL_STATUS", "APIError", "error_answer", "from_flavor_error", "from_refused", "when", "whose"]

#: HTTP status of each refusal reason the admission core gives.
REFUSAL_STATUS = {
    "flavor_unknown": 400,
    "flavor_not_allowed": 403,
    "share_limit": 409,
    "quota_spent": 429,
    "pool_no_model": 409,
    "reservation_invalid": 400,
    "reservation_past": 400,
    "reservation_cpu_only": 400,
    "reservation_id_taken": 409,
}


class APIError(Exception):
    """An answer other than success: status, machine reason and a sentence for a person."""

    def __init__(self, status: int, reason: str, text: Text | None = None, *, headers: dict | None = None,
                 **extra):
        self.status = status
        self.reason = reason
        self.text = text if text is not None else (MESSAGES[reason] if reason in MESSAGES else Text(reason, reason))
        self.headers = headers or {}
        self.extra = extra
        super().__init__(f"{status} {reason}: {self.text.en}")

    def body(self) -> dict:
        return {"error": str(self.text), "reason": self.reason, **self.extra}


def when(at: float) -> str:
    """A time as people read it in a message: ``2026-05-04 10:00 UTC``."""
    return dt.datetime.fromtimestamp(at, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def iso(at: float | None) -> str | None:
    """A time as programs read it: ISO 8601 in UTC."""
    if at is None:
        return None
    return dt.datetime.fromtimestamp(at, dt.UTC).isoformat().replace("+00:00", "Z")


def whose(account: str) -> Text:
    """"Your" or "Group x's", for the account a message is about."""
    kind, _, name = account.partition(":")
    if kind == "group":
        return Text(f"组 {name} 的", f"Group {name}'s")
    return Text("您的", "Your")


def hours(seconds: Fraction) -> str:
    """Device-seconds as device-hours for people: ``1.5``, ``0``, ``-0.25``."""
    value = float(Fraction(seconds) / 3600)
    return f"{value:.2f}".rstrip("0").rstrip(".") if value else "0"


def from_refused(e: Refused) -> APIError:
    """The answer to a request the admission core refused."""
    status = REFUSAL_STATUS.get(e.reason, 409)
    detail = e.detail or {}
    extra: dict = {}
    headers: dict = {}
    if e.reason == "quota_spent":
        account = str(detail.get("account", ""))
        if e.retry_at is not None:
            renews = message("quota_renews", at=when(e.retry_at))
            extra["retry_at"] = iso(e.retry_at)
            headers["Retry-After"] = str(max(1, int(e.retry_at - dt.datetime.now(dt.UTC).timestamp())))
        else:
            renews = MESSAGES["quota_no_renewal"]
            extra["retry_at"] = None
        text = message("quota_spent", whose=whose(account), balance=hours(detail.get("balance", 0)),
                       renews=renews)
        extra["account"] = account
    elif e.reason == "share_limit":
        text = message("share_limit", **{k: format_share(Fraction(detail.get(k, 0))) for k in ("limit", "held", "share")})
    elif e.reason in ("flavor_unknown", "flavor_not_allowed"):
        text = message(e.reason, flavor=detail.get("flavor", "?"), allowed=detail.get("allowed", "-"))
    elif e.reason == "pool_no_model":
        text = message("pool_no_model", model=detail.get("model", "?"))
    elif e.reason == "reservation_cpu_only":
        text = message("reservation_cpu_only", flavor=detail.get("flavor", "?"))
    elif e.reason == "reservation_id_taken":
        text = message("reservation_id_taken", id=detail.get("id", "?"))
    else:
        text = MESSAGES.get(e.reason, Text(e.reason, e.reason))
    return APIError(status, e.reason, text, headers=headers, **extra)


def from_flavor_error(e: FlavorError) -> APIError:
    """A flavor that does not exist (400) or that the person's groups may not use (403)."""
    return APIError(REFUSAL_STATUS.get(e.reason, 400), e.reason, e.text)


#: Tornado's own errors (routing, methods, malformed requests) in our words.
_HTTP_REASONS = {400: "body_invalid", 401: "not_signed_in", 403: "permission_denied", 404: "not_found",
                 405: "method_not_allowed"}


def error_answer(exc: BaseException | None, status: int, method: str = "", path: str = "") -> tuple[APIError, bool]:
    """The APIError to answer with for whatever went wrong, and whether it is a bug worth a traceback."""
    if isinstance(exc, APIError):
        return exc, False
    if isinstance(exc, Refused):
        return from_refused(exc), False
    if isinstance(exc, FlavorError):
        return from_flavor_error(exc), False
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
