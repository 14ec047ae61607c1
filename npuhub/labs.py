"""Lab groups and their shared folders: which hub groups are labs, and the names their folders and Unix groups get.

A lab is a hub group whose kind is ``lab`` in the site's group mapping
(``npuhub.groups.GroupMapping.kind_of``: by default a name starting with
``lab-``). Every member's server gets one shared folder per lab she is in,
which the members of other labs cannot read:

- embedded stack, per-person Unix accounts (``os-users``): a Unix group per
  lab, the members its members, a directory ``<data dir>/labs/<lab>`` of mode
  2770 owned by root and that group, linked into her home as ``~/labs/<lab>``
  (``npuhub.spawners.labdirs``);
- Kubernetes: a PersistentVolumeClaim per lab (ReadWriteMany), mounted at
  ``<home>/labs/<lab>`` in the members' pods only (``npuhub.spawners.kube``);
- shared mode (every server one OS user): folders cannot be kept apart, so
  none are made, and the hub says so at start-up.
"""

from __future__ import annotations

import hashlib
import re
from typing import Iterable

from .groups import GroupMapping

__all__ = ["lab_groups", "unix_group_name", "volume_name", "MAX_UNIX_NAME"]

MAX_UNIX_NAME = 32
_KEEP = re.compile(r"^[a-z0-9_-]+$")


def lab_groups(groups: Iterable[str], mapping: GroupMapping | None = None) -> list[str]:
    """The labs among a person's hub groups, sorted."""
    mapping = mapping or GroupMapping()
    return sorted({g for g in groups if mapping.kind_of(g) == "lab"})


def unix_group_name(lab: str, account_prefix: str = "jupyter-") -> str:
    """The Unix group of a lab: ``<account prefix>lab.<lab>`` (``jupyter-lab.lab-vision``), at most 32 characters.

    The ``.`` keeps it apart from every account's own group (an account name
    holds a ``.`` only before its 10-character hash, ``npuhub.spawners.osusers``),
    and the prefix from another hub's on the same machine. A lab name that is
    not a safe Unix name, or too long, is made safe and given a hash of the
    original after a second ``.``, so two labs never share a group.
    """
    base = f"{account_prefix}lab."
    room = MAX_UNIX_NAME - len(base)
    if _KEEP.match(lab) and len(lab) <= room:
        return base + lab
    digits = max(6, min(10, room - 2))
    digest = hashlib.sha256(lab.encode()).hexdigest()[:digits]
    safe = re.sub(r"[^a-z0-9_-]+", "_", lab.lower())[: room - digits - 1] or "_"
    return f"{base}{safe}.{digest}"


def volume_name(lab: str) -> str:
    """The PersistentVolumeClaim (and pod volume) of a lab: ``lab-<safe name>-<hash>``, a DNS label."""
    digest = hashlib.sha256(lab.encode()).hexdigest()[:8]
    safe = re.sub(r"[^a-z0-9-]+", "-", lab.lower()).strip("-")[:40] or "x"
    return f"npuhub-lab-{safe}-{digest}"
