"""The one type for an expected "no" (budget spent, flavor not allowed, queue given up), and its HTTP status.

The admission core, the service, the spawner, sign-in and workshops all say
no the same way: a ``Refusal`` with a machine ``reason``, a sentence in both
languages (``text``) and what helps a person act (``retry_at``, ``detail``).
It is an outcome, not a bug: it is logged in one line, never with a
traceback. ``REASON_STATUS`` is the one table from reason to HTTP status;
the service's error answers, the spawner's spawn-page failures and the
clients all read the same JSON shape (``Refusal.body``).
"""

from __future__ import annotations

import datetime as dt
from fractions import Fraction

from .i18n import MESSAGES, Text, message

__all__ = ["REASON_STATUS", "Refusal", "hours_text", "status_for", "when", "stop_time", "whose", "iso",
           "parse_iso"]

#: HTTP status of each reason; a reason not listed is a 409 (a conflict with the current state).
REASON_STATUS: dict[str, int] = {
    # what was asked for is malformed
    "body_invalid": 400,
    "options_invalid": 400,
    "flavor_missing": 400,
    "flavor_unknown": 400,
    "reservation_invalid": 400,
    "reservation_past": 400,
    "reservation_cpu_only": 400,
    # who asks may not
    "not_signed_in": 401,
    "flavor_not_allowed": 403,
    "no_flavors": 403,
    "workshop_over": 403,
    "permission_denied": 403,
    # nothing there
    "not_found": 404,
    "request_unknown": 404,
    "reservation_unknown": 404,
    "account_unknown": 404,
    "user_unknown": 404,
    "method_not_allowed": 405,
    # conflicts with the current state
    "share_limit": 409,
    "pool_no_model": 409,
    "request_id_taken": 409,
    "reservation_id_taken": 409,
    "server_running": 409,
    "body_too_large": 413,
    "quota_spent": 429,
    "join_throttled": 429,
    # not now: try again
    "internal_error": 500,
    "hub_unavailable": 503,
    "store_unavailable": 503,
    "service_unreachable": 503,
    "service_restarting": 503,
    "queue_timeout": 503,
    "pool_full": 503,
}


def status_for(reason: str) -> int:
    return REASON_STATUS.get(reason, 409)


class Refusal(Exception):
    """An expected refusal: ``reason`` (machine), ``text`` (both languages), ``status`` (HTTP).

    ``retry_at`` (seconds since the epoch) says when asking again can succeed
    (a budget's renewal); ``extra`` fields go into the JSON answer as they are.
    """

    def __init__(self, reason: str, text: Text | None = None, *, status: int | None = None,
                 retry_at: float | None = None, headers: dict | None = None, **extra):
        self.reason = reason
        self.text = text if text is not None else MESSAGES.get(reason) or Text(reason, reason)
        self.status = status if status is not None else status_for(reason)
        self.retry_at = retry_at
        self.headers = dict(headers or {})
        self.extra = extra
        super().__init__(f"{self.status} {reason}: {self.text.en}")

    def body(self) -> dict:
        """The JSON answer: ``error`` (one line, both languages, for older clients), ``message``, ``reason``."""
        body = {"error": str(self.text), "message": {"zh": self.text.zh, "en": self.text.en},
                "reason": self.reason, **self.extra}
        if self.retry_at is not None or self.reason == "quota_spent":
            body["retry_at"] = iso(self.retry_at)
        return body

    @classmethod
    def from_body(cls, status: int, body: dict) -> "Refusal":
        """A refusal as a client reads it from an answer (``body()``'s shape, or an older ``error`` string)."""
        reason = str(body.get("reason") or "refused")
        text = _text_of(body.get("message"), body.get("error"), reason)
        extra = {k: v for k, v in body.items() if k not in ("error", "message", "reason", "retry_at")}
        return cls(reason, text, status=status, retry_at=parse_iso(body.get("retry_at")), **extra)


def _text_of(structured, line, reason: str) -> Text:
    if isinstance(structured, dict) and isinstance(structured.get("en"), str):
        return Text(str(structured.get("zh") or structured["en"]), structured["en"])
    if isinstance(line, str) and line:
        zh, sep, en = line.partition(" / ")  # an older service's one-line form
        return Text(zh, en) if sep else Text(line, line)
    return MESSAGES.get(reason) or Text(reason, reason)


def when(at: float) -> str:
    """A time as people read it in a message, to the minute: ``2026-05-04 10:00 UTC``."""
    return dt.datetime.fromtimestamp(at, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def stop_time(at: float, now: float) -> Text:
    """When a running server will be stopped, to the second, and how soon: ``11:03:51 UTC (in 2 minutes)``.

    The date is added when the stop is not on today's (UTC) date. "in N minutes" rounds down, so that it
    never promises more time than there is.
    """
    stop, today = dt.datetime.fromtimestamp(at, dt.UTC), dt.datetime.fromtimestamp(now, dt.UTC)
    clock = stop.strftime("%H:%M:%S UTC" if stop.date() == today.date() else "%Y-%m-%d %H:%M:%S UTC")
    left = max(0, int(at - now))
    if left < 120:
        return Text(f"{clock}（{left} 秒后）", f"{clock} (in {left} seconds)")
    return Text(f"{clock}（{left // 60} 分钟后）", f"{clock} (in {left // 60} minutes)")


def iso(at: float | None) -> str | None:
    """A time as programs read it: ISO 8601 in UTC."""
    if at is None:
        return None
    return dt.datetime.fromtimestamp(at, dt.UTC).isoformat().replace("+00:00", "Z")


def parse_iso(value) -> float | None:
    """``iso``'s inverse; None for anything that is not such a time."""
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)).timestamp()


def whose(account: str) -> Text:
    """"Your" or "Group x's", for the account a message is about."""
    kind, _, name = account.partition(":")
    if kind == "group" and "@" in name:  # a workshop's budget (Budgets.open_window)
        course, _, window = name.partition("@")
        return Text(f"{course} 的工作坊 {window} 的", f"Workshop {window} ({course})'s")
    if kind == "group":
        return Text(f"组 {name} 的", f"Group {name}'s")
    return Text("您的", "Your")


def hours_text(seconds) -> str:
    """Device-seconds as device-hours for people: ``1.5``, ``0``, ``-0.25`` (never ``-0``)."""
    value = round(float(Fraction(seconds) / 3600), 2)
    if value == 0:
        return "0"
    return f"{value:.2f}".rstrip("0").rstrip(".")


def refusal_text(reason: str, detail: dict, retry_at: float | None) -> Text:
    """The sentence for a refusal of the admission core, from its machine detail."""
    from .shares import format_share

    if reason == "quota_spent":
        renews = message("quota_renews", at=when(retry_at)) if retry_at is not None else MESSAGES["quota_no_renewal"]
        return message("quota_spent", whose=whose(str(detail.get("account", ""))),
                       balance=hours_text(detail.get("balance", 0)), renews=renews)
    if reason == "share_limit":
        return message("share_limit", **{k: format_share(Fraction(detail.get(k, 0))) for k in ("limit", "held", "share")})
    if reason in ("flavor_unknown", "flavor_not_allowed"):
        return message(reason, flavor=detail.get("flavor", "?"), allowed=detail.get("allowed", "-"))
    if reason == "pool_no_model":
        return message("pool_no_model", model=detail.get("model", "?"))
    if reason == "reservation_cpu_only":
        return message("reservation_cpu_only", flavor=detail.get("flavor", "?"))
    if reason == "reservation_id_taken":
        return message("reservation_id_taken", id=detail.get("id", "?"))
    return MESSAGES.get(reason) or Text(reason, reason)
