"""What the server part tells people when something goes wrong: sentences in both languages, and the error.

Every error the browser gets is JSON ``{"error": "<zh> / <en>", "reason": "<code>",
"message": {"zh", "en"}}``; the front end shows ``message`` in the display language.
"""

from __future__ import annotations

__all__ = ["MESSAGES", "UpstreamError", "glued", "sentence"]

#: Sentences for people, Chinese first, by machine reason.
MESSAGES = {
    "not_configured": (
        "此服务器不知道 npuhub 服务的地址（未设置 NPUHUB_URL），请联系管理员。",
        "This server does not know where the npuhub service is (NPUHUB_URL is not set); please tell staff.",
    ),
    "token_missing": (
        "此服务器没有 JupyterHub 令牌（未设置 JUPYTERHUB_API_TOKEN），无法查询 npuhub，请联系管理员。",
        ("This server has no JupyterHub token (JUPYTERHUB_API_TOKEN is not set) to ask npuhub with; "
         "please tell staff."),
    ),
    "token_refused": (
        "此服务器的令牌没有 npuhub 权限（custom:npuhub:use）。请重启服务器；若仍如此，请联系管理员。",
        ("This server's token lacks the npuhub scope (custom:npuhub:use). Restart your server; "
         "if that does not help, ask staff."),
    ),
    "service_unreachable": (
        "暂时连不上 npuhub 服务，稍后会自动重试。",
        "The npuhub service cannot be reached right now; this will retry by itself.",
    ),
    "service_restarting": (
        "npuhub 服务正在重启，请稍候…",
        "The npuhub service is restarting; trying again…",
    ),
    "service_error": (
        "npuhub 服务出错（HTTP {status}），稍后会自动重试；若一直如此，请联系管理员。",
        ("The npuhub service answered with an error (HTTP {status}); this will retry by itself. "
         "If it persists, please tell staff."),
    ),
    "request_id_invalid": (
        "“{id}”不是有效的请求编号。",
        "'{id}' is not a valid request id.",
    ),
    # -- sharing this server (JupyterHub's shares API, with the server's own token) -----------------
    "hub_not_configured": (
        "此服务器不知道 JupyterHub 的地址或自己的主人（未设置 JUPYTERHUB_API_URL / JUPYTERHUB_USER），无法共享，请联系管理员。",
        ("This server does not know the hub's address or its owner (JUPYTERHUB_API_URL / JUPYTERHUB_USER "
         "is not set), so it cannot be shared; please tell staff."),
    ),
    "hub_unreachable": (
        "暂时连不上 JupyterHub，请稍后再试。",
        "The hub cannot be reached right now; please try again in a moment.",
    ),
    "hub_error": (
        "JupyterHub 出错（HTTP {status}）：{detail}",
        "The hub answered with an error (HTTP {status}): {detail}",
    ),
    "share_target_invalid": (
        "请填写一个用户名，或选择您的一个组（只能二选一）。",
        "Name one person, or pick one of your groups (one or the other).",
    ),
    "share_with_self": (
        "这是您自己的服务器，您本来就可以访问。",
        "This is your own server: you have access already.",
    ),
    "share_user_unknown": (
        "没有名为“{name}”的用户。请检查拼写（对方需至少登录过一次）。",
        "There is no user named '{name}'. Check the spelling (they must have signed in once).",
    ),
    "share_group_unknown": (
        "没有名为“{name}”的组。",
        "There is no group named '{name}'.",
    ),
    "share_not_allowed": (
        "此服务器不允许共享：管理员没有为服务器的令牌开启共享权限。请重启服务器；若仍如此，请联系管理员。",
        ("Sharing is not allowed for this server: the hub has not given the server's token the right to share "
         "it. Restart your server; if that does not help, ask staff."),
    ),
    "share_users_not_allowed": (
        "此 Hub 不允许按用户名共享给个人。",
        "This hub does not allow sharing with a person by name.",
    ),
    "share_group_not_allowed": (
        "您只能共享给自己所在的组，“{name}”不是您的组。",
        "You may share only with a group you belong to; '{name}' is not one of yours.",
    ),
    "share_owner_only": (
        "只有服务器的主人才能查看和更改它的共享。",
        "Only the server's owner can see and change whom it is shared with.",
    ),
    "share_server_unknown": (
        "JupyterHub 不认识此服务器（{user}/{server}）。",
        "The hub does not know this server ({user}/{server}).",
    ),
    "not_signed_in": ("请先登录。", "Please sign in first."),
    "permission_denied": ("您无权使用此服务器的 npuhub 面板。", "You may not use this server's npuhub panel."),
    "not_found": ("没有这个地址。", "There is nothing at this address."),
    "internal_error": (
        "npuhub 扩展出错，请刷新页面；若一直如此，请联系管理员。",
        "The npuhub extension failed; reload the page, and if it persists, please tell staff.",
    ),
}


def sentence(reason: str, **values: object) -> dict[str, str]:
    """The message for ``reason`` in each language: ``{"zh": ..., "en": ...}``."""
    zh, en = MESSAGES[reason]
    return {"zh": zh.format(**values), "en": en.format(**values)}


def glued(text: dict[str, str]) -> str:
    """Both languages in one line, ``"<zh> / <en>"``: the ``error`` string older front ends show."""
    return f"{text['zh']} / {text['en']}"


class UpstreamError(Exception):
    """Something the browser is told as ``{"error", "reason", "message"}`` with ``status``; expected, no traceback.

    ``text`` is ``{"zh", "en"}``, or the one string of a service before npuhub 0.2 (then no ``message``).
    """

    def __init__(self, status: int, reason: str, text: dict[str, str] | str | None = None):
        self.status = status
        self.reason = reason
        self.text = text if text is not None else sentence(reason)
        super().__init__(f"{status} {reason}: {self.error}")

    @property
    def error(self) -> str:
        return self.text if isinstance(self.text, str) else glued(self.text)

    def body(self) -> dict:
        body = {"error": self.error, "reason": self.reason}
        if isinstance(self.text, dict):
            body["message"] = self.text
        return body


