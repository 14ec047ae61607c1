"""Workshop codes as pure rules: the code alphabet, guest names, time windows, and who is refused and why."""

from __future__ import annotations

import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Callable, Iterable, Iterator, Mapping

from ..i18n import Text
from ..refusals import Refusal

__all__ = [
    "ALPHABET",
    "CODE_LENGTH",
    "DISPLAY_NAME_MAX",
    "GUEST_PREFIX",
    "MESSAGES",
    "Guest",
    "Workshop",
    "WorkshopError",
    "clean_display_name",
    "format_code",
    "format_time",
    "guest_usernames",
    "new_code",
    "normalize_code",
    "parse_time",
    "slug",
    "utcnow",
    "check_window",
    "check_flavor",
    "is_code",
    "parse_max_guests",
]

#: Letters and digits nobody confuses when reading them off a projector: no 0/O, 1/I/L.
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
#: The most characters of a guest's display name.
DISPLAY_NAME_MAX = 40
#: Every guest account's name starts with this; the clean-up still goes by the store, never by the name.
GUEST_PREFIX = "guest-"
_SLUG_MAX = 24

# Keys are the machine-readable reasons of WorkshopError.
MESSAGES: dict[str, Text] = {
    "code_unknown": Text(
        "邀请码“{code}”不存在。请核对老师展示的邀请码。",
        "There is no workshop code '{code}'. Check the code your teacher shows.",
    ),
    "code_not_started": Text(
        "工作坊还没有开始：邀请码从 {start} 起有效。",
        "The workshop has not started yet: the code is valid from {start}.",
    ),
    "code_expired": Text(
        "邀请码已过期（有效期至 {end}）。",
        "This workshop code has expired (it was valid until {end}).",
    ),
    "code_revoked": Text(
        "老师已撤销这个邀请码。",
        "The teacher has revoked this workshop code.",
    ),
    "workshop_full": Text(
        "工作坊已满（最多 {max_guests} 位来宾）。请告诉老师。",
        "The workshop is full ({max_guests} guests at most). Please tell the teacher.",
    ),
    "name_empty": Text(
        "请填写您的姓名，老师会看到它。",
        "Please enter your name; the teacher sees it.",
    ),
    "name_too_long": Text(
        "姓名最多 {max} 个字符。",
        "Your name may have at most {max} characters.",
    ),
    "not_a_teacher": Text(
        "只有老师可以管理工作坊邀请码。",
        "Only teachers can manage workshop codes.",
    ),
    "not_teacher_of_group": Text(
        "您不是“{group}”的老师，不能为它创建或撤销邀请码。",
        "You do not teach '{group}', so you cannot create or revoke workshop codes for it.",
    ),
    "group_not_a_class": Text(
        "“{group}”不是课程或实验室组，不能为它创建邀请码。",
        "'{group}' is not a course or lab group; workshop codes are for courses and labs.",
    ),
    "time_invalid": Text(
        "无法识别时间“{value}”。请按 2025-03-01 14:00 的格式填写。",
        "'{value}' is not a time; write it like 2025-03-01 14:00.",
    ),
    "window_empty": Text(
        "结束时间必须晚于开始时间。",
        "The end must be after the start.",
    ),
    "window_past": Text(
        "结束时间已经过去。",
        "The end is already in the past.",
    ),
    "window_too_long": Text(
        "邀请码最长有效 {hours} 小时。",
        "A workshop code is valid for at most {hours} hours.",
    ),
    "max_guests_invalid": Text(
        "来宾人数上限必须是 1 到 {limit} 之间的整数（留空则用默认上限）。",
        "The most guests must be a whole number from 1 to {limit} (empty for the default).",
    ),
    "join_throttled": Text(
        "输入错误的邀请码次数过多。请 {seconds} 秒后再试，并核对老师展示的邀请码。",
        "Too many wrong codes. Please try again in {seconds} s, and check the code your teacher shows.",
    ),
    "workshop_over": Text(
        "这个工作坊已经结束或被撤销，不能再启动服务器。您的账号即将被删除。",
        "This workshop has ended or was revoked: no new server can be started, "
        "and your account is being removed.",
    ),
    "guests_being_removed": Text(
        "正在停止 {n} 位来宾的服务器并删除其账号，约一分钟内完成。",
        "Stopping the servers of {n} guest(s) and removing their accounts: done within about a minute.",
    ),
    "flavor_not_allowed": Text(
        "“{group}”的成员不能使用规格“{flavor}”。可选的规格：{allowed}。",
        "Members of '{group}' cannot start the flavor '{flavor}'. Flavors of '{group}': {allowed}.",
    ),
    "roster_invalid": Text(
        "名单第 {line} 行的“{value}”不是有效的学号/账号（字母、数字、. _ - @，最多 {max} 个字符）。",
        "Line {line} of the roster, '{value}', is not a university ID (letters, digits, . _ - @; at most {max}).",
    ),
    "roster_too_long": Text(
        "名单最多 {max} 人。",
        "A roster may list at most {max} people.",
    ),
    "materials_invalid": Text(
        "课程材料的仓库地址“{value}”无效：请填写 https://、http://、git:// 或 file:// 开头的 git 仓库地址。",
        "'{value}' is not a git repository address: write one starting with https://, http://, git:// or file://.",
    ),
    "branch_invalid": Text(
        "分支名“{value}”无效。",
        "'{value}' is not a branch name.",
    ),
    "reserve_invalid": Text(
        "预留数量必须是 0 到 {max} 之间的整数，并且需要选择一个规格。",
        "The slices to reserve must be a whole number from 0 to {max}, with a flavor chosen.",
    ),
    "budget_invalid": Text(
        "预算必须是大于 0 的设备时数（例如 20 或 12.5）。",
        "The budget must be a number of device-hours above 0 (e.g. 20 or 12.5).",
    ),
    "reservation_refused": Text(
        "工作坊已创建，但服务未能预留规格：{why}",
        "The workshop was made, but the service did not reserve the slices: {why}",
    ),
    "workshop_not_found": Text(
        "没有这个工作坊。",
        "There is no such workshop.",
    ),
}


class WorkshopError(Refusal):
    """A workshop's refusal by policy (npuhub's one ``Refusal``), its sentence from this module's messages."""

    def __init__(self, reason: str, status: int = 400, *, text: Text | None = None, **values: object):
        super().__init__(reason, text if text is not None else MESSAGES[reason].format(**values), status=status)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


# -- codes ---------------------------------------------------------------------------


def new_code(choice: Callable[[str], str] = secrets.choice) -> str:
    """A fresh random code: 8 characters of ALPHABET (31**8, about 8.5e11 codes)."""
    return "".join(choice(ALPHABET) for _ in range(CODE_LENGTH))


def normalize_code(typed: str) -> str:
    """What a guest typed, as a code: upper case, without spaces and dashes (may still be invalid)."""
    return re.sub(r"[\s\-_.·]+", "", typed or "").upper()[:64]


def is_code(code: str) -> bool:
    return len(code) == CODE_LENGTH and all(c in ALPHABET for c in code)


def format_code(code: str) -> str:
    """The code as shown on a projector: two groups of four, ``ABCD-EFGH``."""
    half = len(code) // 2
    return f"{code[:half]}-{code[half:]}"


# -- guests ------------------------------------------------------------------------


def clean_display_name(typed: str) -> str:
    """The display name a guest typed, tidied (NFC, one space between words, no control characters).

    Raises WorkshopError ``name_empty`` or ``name_too_long``.
    """
    text = unicodedata.normalize("NFC", typed or "")
    text = "".join(c for c in text if unicodedata.category(c)[0] != "C")
    text = " ".join(text.split())
    if not text:
        raise WorkshopError("name_empty")
    if len(text) > DISPLAY_NAME_MAX:
        raise WorkshopError("name_too_long", max=DISPLAY_NAME_MAX)
    return text


def slug(display_name: str) -> str:
    """Latin letters and digits of a name, joined by '-' ("Zoë Li" -> "zoe-li"); '' for "张三"."""
    ascii_text = unicodedata.normalize("NFKD", display_name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:_SLUG_MAX].strip("-")


def guest_usernames(display_name: str, choice: Callable[[str], str] = secrets.choice) -> Iterator[str]:
    """Candidate account names for a guest, each with a fresh random tag: guest-<slug>-<4 characters>.

    Never the workshop's code: account names are in every URL of a guest's
    server, and a code seen there would let anyone in. A name without Latin
    letters or digits gives guest-<6 characters>.
    """
    name = slug(display_name)
    alphabet = ALPHABET.lower()
    while True:
        if name:
            yield f"{GUEST_PREFIX}{name}-{''.join(choice(alphabet) for _ in range(4))}"
        else:
            yield f"{GUEST_PREFIX}{''.join(choice(alphabet) for _ in range(6))}"


# -- time --------------------------------------------------------------------------


def parse_time(value: str, zone: tzinfo) -> datetime:
    """A time a teacher typed or a form sent ("2025-03-01T14:00", "2025-03-01 14:00:30", or with an offset).

    Times without an offset are in ``zone``. Raises WorkshopError ``time_invalid``.
    """
    text = (value or "").strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise WorkshopError("time_invalid", value=text[:40]) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed.astimezone(timezone.utc)


def format_time(moment: datetime, zone: tzinfo) -> str:
    """A time for people: "2025-03-01 14:00" in ``zone`` (seconds only when there are some)."""
    local = moment.astimezone(zone)
    return local.strftime("%Y-%m-%d %H:%M:%S" if local.second else "%Y-%m-%d %H:%M")


def check_window(starts_at: datetime, ends_at: datetime, now: datetime, max_hours: float) -> None:
    """Raise WorkshopError unless the window ends in the future, after it starts, within ``max_hours``."""
    if ends_at <= now:
        raise WorkshopError("window_past")
    if ends_at <= starts_at:
        raise WorkshopError("window_empty")
    if ends_at - starts_at > timedelta(hours=max_hours):
        raise WorkshopError("window_too_long", hours=f"{max_hours:g}")


def parse_max_guests(value: str | int | None, limit: int, default: int | None = None) -> int | None:
    """The most guests a teacher typed: a whole number 1..limit; empty gives ``default`` (None: no limit)."""
    text = str(value if value is not None else "").strip()
    if not text:
        return default
    if not text.isdigit() or not 1 <= int(text) <= limit:
        raise WorkshopError("max_guests_invalid", limit=limit)
    return int(text)


def check_flavor(menu: Iterable[Mapping], flavor_id: str | None, group: str) -> str | None:
    """The workshop's flavor, which must be on ``menu`` (the service's entries for ``group``); None for any.

    Raises WorkshopError ``flavor_not_allowed``, which names the flavors of the group.
    """
    if not flavor_id:
        return None
    ids = [entry["id"] for entry in menu]
    if flavor_id not in ids:
        raise WorkshopError("flavor_not_allowed", flavor=flavor_id[:80], group=group[:80],
                            allowed=", ".join(ids) or "-")
    return flavor_id


# -- records -----------------------------------------------------------------------


@dataclass(frozen=True)
class Workshop:
    """One code: the course group it admits guests to, its window, its flavor and how many may come."""

    code: str
    group: str
    starts_at: datetime
    ends_at: datetime
    created_by: str
    created_at: datetime
    flavor: str | None = None
    max_guests: int | None = None
    guests: int = 0
    revoked_at: datetime | None = None
    revoked_by: str | None = None
    materials: "Materials | None" = None
    reserved_count: int | None = None
    reservation_id: str | None = None
    budget_hours: str | None = None

    def state(self, now: datetime) -> str:
        """upcoming, open, ended or revoked."""
        if self.revoked_at is not None:
            return "revoked"
        if now >= self.ends_at:
            return "ended"
        if now < self.starts_at:
            return "upcoming"
        return "open"

    def refusal(self, now: datetime, zone: tzinfo = timezone.utc) -> WorkshopError | None:
        """Why a new guest cannot sign in at ``now``, or None when one can."""
        state = self.state(now)
        if state == "revoked":
            return WorkshopError("code_revoked", status=403)
        if state == "ended":
            return WorkshopError("code_expired", status=403, end=format_time(self.ends_at, zone))
        if state == "upcoming":
            return WorkshopError("code_not_started", status=403, start=format_time(self.starts_at, zone))
        if self.max_guests is not None and self.guests >= self.max_guests:
            return WorkshopError("workshop_full", status=403, max_guests=self.max_guests)
        return None

    def over(self, now: datetime) -> bool:
        """Are its guests to be removed: ended, or revoked?"""
        return self.state(now) in ("ended", "revoked")


@dataclass(frozen=True)
class Materials:
    """A git repository nbgitpuller pulls into each participant's server, and where JupyterLab then opens."""

    repo: str
    branch: str = "main"
    #: the JupyterLab path opened after the pull, e.g. ``lab/tree/ai101/index.ipynb``
    urlpath: str = ""

    def folder(self) -> str:
        """The folder nbgitpuller makes in the home directory: the repository's name."""
        return self.repo.rstrip("/").rsplit("/", 1)[-1]  # as nbgitpuller names it

    def link(self, hub_prefix: str = "/hub/") -> str:
        """The nbgitpuller link through the hub (``/hub/user-redirect/git-pull?...``), for anyone's server."""
        return hub_prefix + "user-redirect/" + self.server_path()

    def server_path(self) -> str:
        """The path below a server's base URL that pulls and then opens ``urlpath`` (its default URL)."""
        from urllib.parse import urlencode

        urlpath = self.urlpath or f"lab/tree/{self.folder()}"
        return "git-pull?" + urlencode({"repo": self.repo, "branch": self.branch, "urlpath": urlpath})


@dataclass(frozen=True)
class Guest:
    """A temporary account made by signing in with a code."""

    username: str
    code: str
    display_name: str
    signed_in_at: datetime
    removed_at: datetime | None = None
