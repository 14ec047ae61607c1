"""Per-person Unix accounts in tests: a prefix per stack, paths the accounts can reach, removal afterwards.

A stack started as root (as CI runs) gives each person her own Unix account
(``npuhub.spawners.osusers``). So that two stacks running side by side (pytest
-n 2) never share or remove each other's accounts, each stack gets its own
prefix (``t<6 hex>-``), and its accounts are removed (``userdel -r``) when it
stops. Those accounts must reach the interpreter and the stack's directories:
``open_for_servers`` makes every directory above the interpreter traversable
(o+x, never readable), which on these machines means ``/root`` (pyenv's Python
lives under it). That is the tests' choice; a site installs npuhub where
everyone may run it (``/opt/npuhub``), see the operator guide. The stack's
data directory is ``reachable_dir()``, under /tmp: pytest's own temporary
directories sit under ``/tmp/pytest-of-root``, which every pytest session
sets back to mode 0700.
"""

from __future__ import annotations

import atexit
import grp
import os
import pwd
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from npuhub.spawners.limits import detect
from npuhub.spawners.osusers import MARKER

__all__ = ["AS_ROOT", "new_prefix", "open_for_servers", "reachable_dir", "remove_accounts", "accounts_with"]

#: The stacks of this run make per-person accounts (npuhub's ``auto`` isolation).
AS_ROOT = os.geteuid() == 0


def new_prefix() -> str:
    """A prefix of account names no other stack of this machine uses."""
    return f"t{secrets.token_hex(3)}-"


def open_for_servers(*paths: Path) -> None:
    """Every directory above ``paths`` and the interpreter traversable by others (adds o+x only)."""
    targets = [Path(os.path.realpath(sys.executable)), *map(Path, paths)]
    for target in targets:
        for parent in Path(os.path.realpath(target)).parents:
            mode = parent.stat().st_mode
            if not mode & 0o001:
                parent.chmod((mode & 0o7777) | 0o001)


def reachable_dir(prefix: str = "npuhub-data-") -> Path:
    """A new directory under /tmp that others may traverse but not list (0711), removed when the run ends."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o711)
    atexit.register(shutil.rmtree, path, True)
    return path


def accounts_with(prefix: str) -> list[str]:
    """The accounts npuhub made with ``prefix``."""
    return [p.pw_name for p in pwd.getpwall() if p.pw_name.startswith(prefix) and p.pw_gecos.startswith(MARKER)]


def remove_accounts(prefix: str) -> None:
    """Remove every account (and its home) and lab group a stack made, and control groups its servers left."""
    for name in accounts_with(prefix):
        subprocess.run(["userdel", "--force", "--remove", name], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    # the labs' Unix groups (npuhub.labs.unix_group_name: the prefix, then "lab.")
    for group in [g.gr_name for g in grp.getgrall() if g.gr_name.startswith(prefix + "lab.")]:
        subprocess.run(["groupdel", group], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # the stack's hub nests its groups where this process would (it inherits this process's groups)
    limits = detect()
    for parent in {getattr(limits, name, None) for name in ("parent", "memory_parent", "cpu_parent")} - {None}:
        for group in parent.glob(prefix + "*") if parent.is_dir() else ():
            try:
                group.rmdir()
            except OSError:
                pass  # still has processes: a leftover server ends with its test
