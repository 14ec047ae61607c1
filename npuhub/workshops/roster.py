"""A workshop's inputs beyond its code, as pure rules: the roster CSV, the materials' repository, the reservation
and the budget a teacher types. Each raises WorkshopError with a bilingual sentence naming what is wrong."""

from __future__ import annotations

import csv
import io
import re
from fractions import Fraction

from .policy import Materials, WorkshopError

__all__ = ["parse_roster", "parse_materials", "parse_reserve", "parse_budget", "ROSTER_MAX"]

#: The most people one roster lists.
ROSTER_MAX = 1000
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
_BRANCH = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,200}$")
_HEADERS = {"id", "username", "user", "student_id", "university_id", "学号", "账号"}


def parse_roster(text: str, normalize=str.lower) -> list[str]:
    """University IDs from a CSV (first column; header rows such as ``id`` or ``学号`` are skipped) or one per line.

    Blank lines and repeats are dropped; names go through ``normalize`` (the
    authenticator's ``normalize_username``), as they will be at sign-in.
    """
    names: list[str] = []
    seen: set[str] = set()
    for line, row in enumerate(csv.reader(io.StringIO((text or "").replace("\r", ""))), start=1):
        cells = [c.strip() for c in row if c.strip()]
        if not cells:
            continue
        value = cells[0].lstrip("\ufeff")
        if value.lower() in _HEADERS:  # a CSV's header row (a file pasted below typed IDs has it mid-way)
            continue
        if not _ID.match(value):
            raise WorkshopError("roster_invalid", line=line, value=value[:40], max=64)
        name = normalize(value)
        if name not in seen:
            seen.add(name)
            names.append(name)
        if len(names) > ROSTER_MAX:
            raise WorkshopError("roster_too_long", max=ROSTER_MAX)
    return names


def parse_materials(repo: str, branch: str = "", urlpath: str = "") -> Materials | None:
    """The materials' repository, or None when the teacher left it empty."""
    repo = (repo or "").strip()
    if not repo:
        return None
    if not re.match(r"^(https?|git|file)://[^\s\"'<>]+$", repo) or len(repo) > 1000:
        raise WorkshopError("materials_invalid", value=repo[:80])
    branch = (branch or "").strip() or "main"
    if not _BRANCH.match(branch) or ".." in branch:
        raise WorkshopError("branch_invalid", value=branch[:80])
    urlpath = (urlpath or "").strip().lstrip("/")
    if urlpath and (not re.match(r"^[A-Za-z0-9._/-]{1,500}$", urlpath) or ".." in urlpath.split("/")):
        raise WorkshopError("materials_invalid", value=urlpath[:80])
    return Materials(repo, branch, urlpath)


def parse_reserve(value, flavor: str | None, limit: int = 1000) -> int | None:
    """How many slices to hold from the window's start: None for none; needs a flavor."""
    text = str(value if value is not None else "").strip()
    if not text or text == "0":
        return None
    if not text.isdigit() or not 1 <= int(text) <= limit or not flavor:
        raise WorkshopError("reserve_invalid", max=limit)
    return int(text)


def parse_budget(value) -> str | None:
    """The window's budget in device-hours, exact (``"12.5"`` -> ``"25/2"``); None for none."""
    text = str(value if value is not None else "").strip()
    if not text:
        return None
    try:
        amount = Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise WorkshopError("budget_invalid") from None
    if amount <= 0 or amount > 10**6:
        raise WorkshopError("budget_invalid")
    return str(amount)
