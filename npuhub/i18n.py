"""Messages npuhub shows to people, each in Chinese and English."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Text", "MESSAGES", "message"]


@dataclass(frozen=True)
class Text:
    """One message in both languages. ``str()`` gives both, Chinese first."""

    zh: str
    en: str

    def __str__(self) -> str:
        return f"{self.zh} / {self.en}"

    def format(self, **values: object) -> "Text":
        """Fill both templates; a Text value gives each language its own words."""
        zh = {k: v.zh if isinstance(v, Text) else v for k, v in values.items()}
        en = {k: v.en if isinstance(v, Text) else v for k, v in values.items()}
        return Text(self.zh.format(**zh), self.en.format(**en))


# Keys are the machine-readable reasons used in errors and metrics.
MESSAGES: dict[str, Text] = {
    "flavor_unknown": Text(
        "没有名为“{flavor}”的规格。请在启动页面上从列表中选择一个规格。",
        "There is no flavor called '{flavor}'. Pick one from the list on the start page.",
    ),
    "flavor_not_allowed": Text(
        "您所在的组不能使用规格“{flavor}”。可用的规格：{allowed}。",
        "Your groups may not use the flavor '{flavor}'. Flavors you may use: {allowed}.",
    ),
    "flavor_missing": Text(
        "请选择一个规格。",
        "Please pick a flavor.",
    ),
    "options_invalid": Text(
        "启动选项无效：{detail}",
        "Invalid start options: {detail}",
    ),
    "pool_full": Text(
        "资源池现在放不下“{flavor}”。请稍后再试，或选择更小的规格。",
        "There is no room for '{flavor}' in the pool right now. Try again later, or pick a smaller flavor.",
    ),
    "pool_no_model": Text(
        "资源池中没有 {model} 设备，请联系管理员。",
        "The pool has no {model} devices; please tell the centre's staff.",
    ),
    "share_limit": Text(
        "您最多可同时占用 {limit} 张卡，已占用 {held} 张，本次申请 {share} 张。请先停止其他服务器。",
        "You may hold at most {limit} device(s) at once; you hold {held} and asked for {share}. Stop another server first.",
    ),
    "granted": Text(
        "已分配 {share} {model}（{node}，卡 {devices}）。",
        "Granted {share} {model} ({node}, device {devices}).",
    ),
    "no_flavors": Text(
        "您所在的组目前没有可用的规格，请联系老师或管理员。",
        "Your groups have no flavors to start right now; please ask your teacher or the centre's staff.",
    ),
}


def message(reason: str, **values: object) -> Text:
    """The message for ``reason``, filled with ``values``."""
    return MESSAGES[reason].format(**values)
