"""The images' requirement files (images/*/requirements*.txt), read strictly: exact pins and ``-r`` includes only."""

from __future__ import annotations

from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "images"


def requirement_files() -> list[Path]:
    return sorted(IMAGES.glob("*/requirements*.txt"))


def pins(path: Path, follow: bool = True) -> dict[str, Requirement]:
    """The requirements of ``path`` by canonical name (``-r`` includes followed); anything else fails."""
    found: dict[str, Requirement] = {}
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.split(" #")[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-r "):
            included = (path.parent / line[3:].strip()).resolve()
            assert included.is_file(), f"{path}:{number}: {included} does not exist"
            if follow:
                found.update(pins(included))
            continue
        assert not line.startswith("-"), f"{path}:{number}: only pins and -r includes, not {line!r}"
        req = Requirement(line)
        specs = list(req.specifier)
        assert len(specs) == 1 and specs[0].operator == "==" and "*" not in specs[0].version \
            and not req.url and not req.marker, f"{path}:{number}: {line!r} is not pinned to one version (name==X)"
        found[canonicalize_name(req.name)] = req
    return found


def version(req: Requirement) -> str:
    return next(iter(req.specifier)).version
