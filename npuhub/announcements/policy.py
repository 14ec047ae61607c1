"""Announcements as pure rules: the text in both languages, the window, the scope, and who may post or remove."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from ..i18n import Text
from ..refusals import Refusal

__all__ = ["Announcement", "AnnouncementError", "MESSAGES", "TEXT_MAX", "MAX_DAYS", "clean_text",
           "check_window", "parse_scope"]

#: The most characters of one language's text: a banner, not a page.
TEXT_MAX = 500
#: The longest window of one announcement, in days.
MAX_DAYS = 90
#: The most announcements not yet ended that one scope may have (a banner no one reads is no banner).
MAX_OPEN_PER_SCOPE = 20

MESSAGES: dict[str, Text] = {
    "announcement_text_empty": Text(
        "公告内容不能为空（至少填写中文或英文之一）。",
        "The announcement needs a text (in Chinese, in English, or both).",
    ),
    "announcement_text_too_long": Text(
        "公告每种语言最多 {max} 个字符。",
        "An announcement may have at most {max} characters in each language.",
    ),
    "announcement_window_empty": Text(
        "公告的结束时间必须晚于开始时间。",
        "The announcement's end must come after its start.",
    ),
    "announcement_window_past": Text(
        "公告的结束时间已经过去。",
        "The announcement's end is already in the past.",
    ),
    "announcement_window_too_long": Text(
        "公告最长显示 {days} 天。",
        "An announcement may be shown for at most {days} days.",
    ),
    "announcement_scope_invalid": Text(
        "公告范围“{scope}”无效：请写 all（所有人）或 group:<课程组名>。",
        "'{scope}' is not a scope: write all (everyone) or group:<course group>.",
    ),
    "announcement_not_allowed_all": Text(
        "只有管理员可以向所有人发布公告。老师请选择自己的课程组（group:<组名>）。",
        "Only admins may post announcements for everyone. Teachers post for their course (group:<name>).",
    ),
    "announcement_not_allowed_group": Text(
        "您不是“{group}”的老师，不能为它发布或删除公告。",
        "You do not teach '{group}', so you cannot post or remove announcements for it.",
    ),
    "announcement_too_many": Text(
        "“{scope}”已有 {max} 条未结束的公告。请先删除一些。",
        "'{scope}' already has {max} announcements that have not ended; remove some first.",
    ),
    "announcement_unknown": Text(
        "没有编号为“{id}”的公告（可能已被删除）。",
        "There is no announcement '{id}' (it may have been removed).",
    ),
}


class AnnouncementError(Refusal):
    """An announcement refused by policy, with its sentence in both languages."""

    def __init__(self, reason: str, status: int = 400, **values: object):
        super().__init__(reason, MESSAGES[reason].format(**values), status=status)


def _clean(text: str) -> str:
    text = unicodedata.normalize("NFC", text or "")
    # no control characters (a banner is one paragraph); newlines become spaces
    text = "".join(" " if unicodedata.category(c)[0] == "C" else c for c in text)
    return " ".join(text.split())


def clean_text(value) -> Text:
    """The announcement's text from ``{"zh": ..., "en": ...}`` or one string (used for both languages).

    One language left empty takes the other's words: every reader sees something.
    Raises AnnouncementError ``announcement_text_empty`` / ``announcement_text_too_long``.
    """
    if isinstance(value, str):
        zh = en = _clean(value)
    else:
        zh, en = _clean((value or {}).get("zh") or ""), _clean((value or {}).get("en") or "")
    if not zh and not en:
        raise AnnouncementError("announcement_text_empty")
    zh, en = zh or en, en or zh
    if max(len(zh), len(en)) > TEXT_MAX:
        raise AnnouncementError("announcement_text_too_long", max=TEXT_MAX)
    return Text(zh, en)


def check_window(starts: float, ends: float, now: float) -> None:
    """Raise AnnouncementError unless the window ends in the future, after it starts, within MAX_DAYS."""
    if ends <= starts:
        raise AnnouncementError("announcement_window_empty")
    if ends <= now:
        raise AnnouncementError("announcement_window_past")
    if ends - starts > MAX_DAYS * 86400:
        raise AnnouncementError("announcement_window_too_long", days=MAX_DAYS)


def parse_scope(scope: str) -> str | None:
    """``None`` for everyone ("all"), else the group of ``group:<name>``. Raises AnnouncementError."""
    scope = (scope or "").strip()
    if scope == "all":
        return None
    kind, _, group = scope.partition(":")
    if kind != "group" or not group.strip() or len(group) > 249 or any(c.isspace() for c in group):
        raise AnnouncementError("announcement_scope_invalid", scope=scope[:80])
    return group


@dataclass(frozen=True)
class Announcement:
    """One banner: its text, when it shows, for whom (``group`` None: everyone), and who posted it."""

    id: str
    text: Text
    starts: float
    ends: float
    group: str | None
    author: str
    created: float
    removed_at: float | None = None
    removed_by: str | None = None

    @property
    def scope(self) -> str:
        return "all" if self.group is None else f"group:{self.group}"

    def active(self, now: float) -> bool:
        return self.removed_at is None and self.starts <= now < self.ends

    def meant_for(self, groups) -> bool:
        return self.group is None or self.group in groups
