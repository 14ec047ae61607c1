"""Which language the command line speaks, and the one it picks from the service's answers in both languages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..i18n import Text

__all__ = ["LANGUAGES", "SENTENCES", "language_from", "pick", "say"]

LANGUAGES = ("zh", "en")

#: The command line's own sentences that a student may read, in both languages.
SENTENCES = {
    "service_restarting": Text("npuhub 服务正在重启，请稍候…", "The npuhub service is restarting; trying again…"),
    "restart_gave_up": Text(
        "{seconds} 秒内没有恢复。请稍后再试；若一直如此，请联系管理员。",
        "It did not come back within {seconds} s. Try again later; if it persists, tell the centre's staff.",
    ),
    "change_unsure": Text(
        "集线器的代理回答了 {status}：无法确定这项更改是否已生效，请先查看再重试。",
        "The hub's proxy answered {status}: the change may or may not have been made; check before trying again.",
    ),
}


def language_from(environ: Mapping[str, str]) -> str:
    """``zh`` when the locale is Chinese, else ``en``; LC_ALL wins over LC_MESSAGES over LANG, as in POSIX."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(name)
        if value:
            return "zh" if value.lower().startswith("zh") else "en"
    return "en"


def pick(text: Any, lang: str) -> str | None:
    """One language of ``{"zh", "en"}``; a plain string (a service before npuhub 0.2 glued both) as it is."""
    if isinstance(text, Mapping):
        chosen = text.get(lang) or text.get("en") or text.get("zh")
        return chosen if isinstance(chosen, str) and chosen else None
    if isinstance(text, str) and text:
        return text
    return None


def say(reason: str, lang: str, **values: object) -> str:
    """One of the command line's own sentences in ``lang``."""
    text = SENTENCES[reason].format(**values)
    return text.zh if lang == "zh" else text.en
