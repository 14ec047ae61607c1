"""How the admin command line shows things to people: aligned tables, local and relative times, device-hours."""

from __future__ import annotations

import datetime as dt
import math
import unicodedata
from collections.abc import Sequence
from fractions import Fraction

__all__ = ["clock", "device_hours", "duration", "local_time", "parse_time", "since", "table", "until", "window"]


def _width(text: str) -> int:
    """Columns a string takes in a terminal: Chinese characters take two."""
    return sum(0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1
               for c in text)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], right: Sequence[int] = ()) -> str:
    """Rows under headers in aligned columns, two spaces apart; columns in ``right`` are right-aligned."""
    cells = [[str(h) for h in headers]] + [["-" if c is None or c == "" else str(c) for c in row] for row in rows]
    widths = [max(_width(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for row in cells:
        padded = []
        for i, cell in enumerate(row):
            gap = " " * (widths[i] - _width(cell))
            padded.append(gap + cell if i in right else cell + gap)
        lines.append("  ".join(padded).rstrip())
    return "\n".join(lines)


def parse_time(value: str | None) -> dt.datetime | None:
    """A time the API gives (ISO 8601, UTC) as an aware datetime."""
    if not value:
        return None
    return dt.datetime.fromisoformat(value)


def duration(seconds: float) -> str:
    """A length of time for people: ``40 s``, ``6 min``, ``2 h 5 min``, ``3 d 4 h``."""
    seconds = abs(seconds)
    if seconds < 60:
        return f"{int(seconds)} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def until(seconds: float) -> str:
    """``in 6 min``, ``3 min ago``, or ``now``."""
    if abs(seconds) < 1:
        return "now"
    return f"in {duration(seconds)}" if seconds > 0 else f"{duration(seconds)} ago"


def local_time(value: str | None, now: dt.datetime | None = None) -> str:
    """An API time in the local time zone with how far it is: ``2026-05-04 09:00 CST (in 2 h)``."""
    at = parse_time(value)
    if at is None:
        return "-"
    now = now or dt.datetime.now(dt.UTC)
    local = at.astimezone()
    return f"{local:%Y-%m-%d %H:%M} {local.tzname() or ''} ({until((at - now).total_seconds())})".replace("  ", " ")


def clock(value: str | None) -> str:
    """An API time as a local clock time, with the date only when it is not today: ``14:05``."""
    at = parse_time(value)
    if at is None:
        return "-"
    local = at.astimezone()
    return f"{local:%H:%M}" if local.date() == dt.datetime.now().astimezone().date() else f"{local:%Y-%m-%d %H:%M}"


def window(starts: str | None, ends: str | None, now: dt.datetime | None = None) -> str:
    """A time window in local time: ``2026-05-04 09:00-11:00 CST (in 2 h)``, and where now is in it."""
    start, end = parse_time(starts), parse_time(ends)
    if start is None or end is None:
        return "-"
    now = now or dt.datetime.now(dt.UTC)
    first, last = start.astimezone(), end.astimezone()
    until_end = f"-{last:%H:%M}" if last.date() == first.date() else f" to {last:%Y-%m-%d %H:%M}"
    if now < start:
        where = until((start - now).total_seconds())
    elif now < end:
        where = f"ends {until((end - now).total_seconds())}"
    else:
        where = f"ended {until((end - now).total_seconds())}"
    return f"{first:%Y-%m-%d %H:%M}{until_end} {first.tzname() or ''} ({where})".replace("  ", " ")


def since(value: str | None, now: dt.datetime | None = None) -> str:
    """How long ago an API time was, as a duration: ``12 min``."""
    at = parse_time(value)
    if at is None:
        return "-"
    return duration(max(0.0, ((now or dt.datetime.now(dt.UTC)) - at).total_seconds()))



def device_hours(amount: dict | str | None, signed: bool = False) -> str:
    """Device-hours from the API's ``{"device_hours": 0.5, "exact": "1/2"}``: ``1/2 (0.5)``, ``3``, ``~0.0026``.

    Simple fractions (a quarter, a third) are shown exactly with their decimal;
    the fractions metering leaves (seconds over 3600) only as a rounded decimal.
    """
    if amount is None:
        return "-"
    exact = Fraction(amount["exact"] if isinstance(amount, dict) else amount)
    sign = "+" if signed and exact > 0 else ""
    if exact.denominator == 1:
        return f"{sign}{exact.numerator}"
    value = float(exact)
    # four decimals, or two significant digits for the tiny amounts one metering interval charges
    places = 4 if abs(value) >= 0.001 else min(9, 1 - math.floor(math.log10(abs(value))))
    decimal = f"{sign}{value:.{places}f}".rstrip("0").rstrip(".")
    if Fraction(decimal) == 0:
        return "~0"  # rounded away: "-0" would read as a debt of nothing
    if exact.denominator <= 12:
        return f"{sign}{exact} ({decimal})"
    return decimal if Fraction(decimal) == exact else "~" + decimal
