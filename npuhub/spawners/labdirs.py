"""Lab folders on one machine (``os-users`` isolation): a Unix group per lab, its directory, a link in each member's home.

At each start of a person's server, as root and before the server's process
exists (its supplementary groups are read when it is made):

- the Unix group of each of her labs (``npuhub.labs.unix_group_name``) exists
  and has her account as a member; a lab group of this hub she is in but whose
  hub group she has left loses her;
- each lab's directory ``<labs root>/<lab>`` exists, owned by root and the
  lab's group, mode 2770 (members read and write; the set-group-ID bit gives
  new files the lab's group; nobody else may even list it). The labs root is
  0711: passable, not listable;
- her home holds ``labs/<lab>``, a link to each lab's directory; links to labs
  she has left are removed (their files stay, for the lab).

Her home belongs to her: every change in it is made relative to a directory
opened without following links, so a link she planted cannot turn the hub's
root rights against another file.
"""

from __future__ import annotations

import asyncio
import errno
import grp
import os
import pwd
import stat
import subprocess
from pathlib import Path

from ..labs import unix_group_name
from .local import safe_dirname
from .osusers import AccountError

__all__ = ["sync_lab_folders", "lab_dir"]

_LOCK = asyncio.Lock()
#: the link folder in each member's home
LINKS = "labs"


def lab_dir(root: Path, lab: str) -> Path:
    return root / safe_dirname(lab)


async def sync_lab_folders(account: pwd.struct_passwd, home: Path, labs: list[str], root: Path,
                           prefix: str) -> dict[str, Path]:
    """Make ``account`` a member of exactly her ``labs``' Unix groups (of this hub), their folders, her links.

    Returns lab -> directory. Raises ``AccountError`` when a group cannot be
    made or changed (the start is refused: a folder must not be given without
    its protection).
    """
    wanted = {unix_group_name(lab, prefix): lab for lab in labs}
    async with _LOCK:
        for group in wanted:
            await _ensure_group(group)
        for entry in grp.getgrall():
            mine = prefix and entry.gr_name.startswith(f"{prefix}lab.")
            if mine and account.pw_name in entry.gr_mem and entry.gr_name not in wanted:
                await _run("gpasswd", "--delete", account.pw_name, entry.gr_name)
        for group in wanted:
            if account.pw_name not in grp.getgrnam(group).gr_mem:
                await _run("gpasswd", "--add", account.pw_name, group)
    root.mkdir(mode=0o711, parents=True, exist_ok=True)
    os.chown(root, 0, 0)
    root.chmod(0o711)
    dirs = {}
    for group, lab in wanted.items():
        path = lab_dir(root, lab)
        path.mkdir(exist_ok=True)
        os.chown(path, 0, grp.getgrnam(group).gr_gid)
        path.chmod(0o2770)
        dirs[lab] = path
    _links(home, account, dirs, root)
    return dirs


async def _ensure_group(name: str) -> None:
    try:
        entry = grp.getgrnam(name)
    except KeyError:
        await _run("groupadd", name, ok=(9,))  # 9: made meanwhile by another hub
        entry = grp.getgrnam(name)
    # never an account's own group: that would let the lab into her home
    if any(p.pw_gid == entry.gr_gid for p in pwd.getpwall()):
        raise AccountError(f"the Unix group {name!r} is some account's own group; it cannot be a lab's")


async def _run(*cmd: str, ok: tuple[int, ...] = (), retries: int = 5) -> None:
    for attempt in range(retries):
        proc = await asyncio.create_subprocess_exec(*cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out, _ = await proc.communicate()
        if proc.returncode == 0 or proc.returncode in ok:
            return
        if attempt == retries - 1:  # e.g. /etc/group locked by another hub's useradd
            raise AccountError(f"{' '.join(cmd)} failed ({proc.returncode}): {out.decode(errors='replace').strip()}")
        await asyncio.sleep(0.2 * (attempt + 1))


def _links(home: Path, account: pwd.struct_passwd, dirs: dict[str, Path], root: Path) -> None:
    """``~/labs/<lab>`` -> each lab's directory; links into ``root`` for other labs go."""
    home_fd = os.open(home, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        try:
            os.mkdir(LINKS, 0o755, dir_fd=home_fd)
            os.chown(LINKS, account.pw_uid, account.pw_gid, dir_fd=home_fd, follow_symlinks=False)
        except FileExistsError:
            pass
        try:
            fd = os.open(LINKS, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=home_fd)
        except OSError as e:
            if e.errno in (errno.ENOTDIR, errno.ELOOP):  # she made ~/labs something else: leave it be
                return
            raise
    finally:
        os.close(home_fd)
    try:
        wanted = {safe_dirname(lab): str(path) for lab, path in dirs.items()}
        for name in os.listdir(fd):
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            if not stat.S_ISLNK(st.st_mode):
                continue
            target = os.readlink(name, dir_fd=fd)
            if target.startswith(str(root) + os.sep) and wanted.get(name) != target:
                os.unlink(name, dir_fd=fd)
        for name, target in wanted.items():
            try:
                os.symlink(target, name, dir_fd=fd)
                os.chown(name, account.pw_uid, account.pw_gid, dir_fd=fd, follow_symlinks=False)
            except FileExistsError:
                pass  # the link already, or a file of hers with that name: hers to keep
    finally:
        os.close(fd)
