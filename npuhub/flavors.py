"""The flavor catalogue: the menu of server sizes people pick from, and who may pick what."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Iterable, Mapping

from .i18n import Text, message
from .refusals import Refusal
from .shares import format_share, share_label

__all__ = [
    "Flavor",
    "FlavorCatalogue",
    "FlavorError",
    "FlavorUnknown",
    "FlavorNotAllowed",
    "FLAVOR_ID_RE",
    "LIMIT_PROPERTY",
    "flavor_limit",
]

FLAVOR_ID_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")

#: The hub group property that holds the group's members to a few flavors (a workshop's guests):
#: ``{"npuhub_flavors": ["npu-eighth"]}``. The npuhub service reads it with the person's groups.
LIMIT_PROPERTY = "npuhub_flavors"


def flavor_limit(properties: Iterable[Mapping | None]) -> frozenset[str] | None:
    """The flavors a person in groups with these properties may use at most; None: no limit.

    Each group that names flavors narrows the menu (the intersection), so
    being in one more group never widens it. A malformed value (not a list
    of strings) allows nothing: a limit that cannot be read must not lift.
    """
    limit: frozenset[str] | None = None
    for props in properties:
        if not isinstance(props, Mapping) or LIMIT_PROPERTY not in props:
            continue
        value = props[LIMIT_PROPERTY]
        named = frozenset(v for v in value if isinstance(v, str)) if isinstance(value, (list, tuple)) else frozenset()
        limit = named if limit is None else limit & named
    return limit


class FlavorError(Refusal):
    """A request names a flavor the person cannot have (``FlavorUnknown``: 400, ``FlavorNotAllowed``: 403)."""

    kind = "flavor"

    def __init__(self, text: Text):
        super().__init__(self.kind, text)


class FlavorUnknown(FlavorError):
    kind = "flavor_unknown"


class FlavorNotAllowed(FlavorError):
    kind = "flavor_not_allowed"


@dataclass(frozen=True)
class Flavor:
    """One entry of the menu.

    ``share`` is the exact fraction of devices of ``device_model`` (0 for
    CPU-only). ``groups`` lists the groups whose members may use it; empty
    means everyone.
    """

    id: str
    cpu: float
    memory: str
    share: Fraction = Fraction(0)
    device_model: str | None = None
    groups: frozenset[str] = field(default_factory=frozenset)
    display_name: Text | None = None
    description: Text | None = None
    default: bool = False
    #: device-hours charged per hour of a session; None: the share
    price: Fraction | None = None
    #: seconds idle after which the slice is reclaimed when someone waits; None: the service's default
    idle_limit: float | None = None
    #: the singleuser container image of its servers in a cluster; None: the spawner's default image
    image: str | None = None

    @property
    def device_hours_per_hour(self) -> Fraction:
        """What an hour of this flavor costs against a budget."""
        return self.price if self.price is not None else self.share

    @property
    def has_accelerator(self) -> bool:
        return self.share > 0

    @property
    def name(self) -> Text:
        """The display name, made from the resources when the site gave none."""
        if self.display_name is not None:
            return self.display_name
        if not self.has_accelerator:
            return Text("仅 CPU", "CPU only")
        label = share_label(self.share)
        if self.share >= 1:
            return Text(f"{label} 张 {self.device_model}", f"{label} × {self.device_model}")
        return Text(f"{label} {self.device_model}", f"{label} {self.device_model}")

    @property
    def resources(self) -> Text:
        """CPU and memory in words, for the spawn page."""
        cpu = f"{self.cpu:g}"
        return Text(f"{cpu} 核 CPU，{self.memory} 内存", f"{cpu} CPU, {self.memory} memory")

    def allows(self, groups: Iterable[str]) -> bool:
        return not self.groups or bool(self.groups.intersection(groups))

    def to_profile(self) -> dict:
        """The flavor as a z2jh/KubeSpawner ``profile_list`` entry (for scripts and the API)."""
        return {
            "slug": self.id,
            "display_name": str(self.name),
            "description": str(self.description or self.resources),
            "default": self.default,
            "npuhub": {
                "share": format_share(self.share),
                "device_model": self.device_model,
                "cpu": self.cpu,
                "memory": self.memory,
                "groups": sorted(self.groups),
            },
        }


class FlavorCatalogue:
    """The site's flavors, in menu order."""

    def __init__(self, flavors: Iterable[Flavor]):
        self._flavors: dict[str, Flavor] = {}
        for flavor in flavors:
            if flavor.id in self._flavors:
                raise ValueError(f"flavor id {flavor.id!r} is used twice")
            self._flavors[flavor.id] = flavor

    def __iter__(self):
        return iter(self._flavors.values())

    def __len__(self) -> int:
        return len(self._flavors)

    def get(self, flavor_id: object) -> Flavor | None:
        """The flavor with this id, whoever may use it (no group check: see ``resolve``).

        None when the site lists no such flavor, or ``flavor_id`` is not a
        string (ids come from saved state and request bodies).
        """
        return self._flavors.get(flavor_id) if isinstance(flavor_id, str) else None

    def for_groups(self, groups: Iterable[str], only: frozenset[str] | None = None) -> list[Flavor]:
        """The flavors members of ``groups`` may pick, in menu order; within ``only`` when given (a limit)."""
        groups = set(groups)
        return [f for f in self if f.allows(groups) and (only is None or f.id in only)]

    def default_for(self, groups: Iterable[str], only: frozenset[str] | None = None) -> Flavor | None:
        allowed = self.for_groups(groups, only)
        for flavor in allowed:
            if flavor.default:
                return flavor
        return allowed[0] if allowed else None

    def resolve(self, flavor_id: object, groups: Iterable[str], only: frozenset[str] | None = None) -> Flavor:
        """The flavor ``flavor_id`` if members of ``groups`` may use it, within ``only`` (see ``flavor_limit``).

        Raises FlavorUnknown or FlavorNotAllowed with a message for the person;
        a flavor outside ``only`` is refused with the sentence of a workshop's
        limit ("this workshop allows only ...").
        """
        groups = set(groups)
        flavor = self._flavors.get(flavor_id) if isinstance(flavor_id, str) else None
        if flavor is None:
            raise FlavorUnknown(message("flavor_unknown", flavor=str(flavor_id)[:80]))
        if only is not None and flavor.id not in only:
            allowed = ", ".join(sorted(only)) or "-"
            raise FlavorNotAllowed(message("flavor_limited", flavor=flavor.id, allowed=allowed))
        if not flavor.allows(groups):
            allowed = ", ".join(f.id for f in self.for_groups(groups, only)) or "-"
            raise FlavorNotAllowed(
                message("flavor_not_allowed", flavor=flavor.id, allowed=allowed)
            )
        return flavor
