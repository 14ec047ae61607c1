"""Reading a site file: the error that names the key at fault, and the checks that keep the key's path."""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

from .i18n import Text
from .shares import ShareError, parse_share

__all__ = ["SiteConfigError", "SiteReader", "IMAGE_RE", "MEMORY_RE", "NAME_RE", "QUANTITY_RE"]

# The suffixes JupyterHub's ByteSpecification (mem_limit) understands; 1G = 1024**3 bytes.
MEMORY_RE = re.compile(r"^[0-9]+(\.[0-9]+)?[KMGT]$")
NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
# registry/path:tag or @sha256:digest, as a container runtime accepts it (no spaces, no scheme)
IMAGE_RE = re.compile(r"^[a-z0-9][a-z0-9._/:@-]{0,254}$", re.IGNORECASE)
# a Kubernetes quantity such as 10Gi or 500M
QUANTITY_RE = re.compile(r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|K|M|G|T|P)?$")


class SiteConfigError(ValueError):
    """The site file is malformed. The message names the file, the key and what is wrong."""

    def __init__(self, key: str, problem: str, source: str = "npuhub.yaml"):
        self.key = key
        self.problem = problem
        self.source = source
        super().__init__(f"{source}: {key}: {problem}" if key else f"{source}: {problem}")


class SiteReader:
    """Small declarative checks that keep the key path for error messages."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, key: str, problem: str):
        raise SiteConfigError(key, problem, self.source)

    def mapping(self, value: Any, key: str, allowed: set[str], required: set[str] = frozenset()) -> dict:
        if not isinstance(value, dict):
            self.fail(key, f"must be a mapping, not {type(value).__name__}")
        for name in value:
            if name not in allowed:
                hint = ", ".join(sorted(allowed))
                self.fail(f"{key}.{name}" if key else str(name), f"unknown key (known keys: {hint})")
        for name in required:
            if name not in value:
                self.fail(f"{key}.{name}" if key else name, "is required")
        return value

    def sequence(self, value: Any, key: str) -> list:
        if not isinstance(value, list):
            self.fail(key, f"must be a list, not {type(value).__name__}")
        return value

    def integer(self, value: Any, key: str, minimum: int = 1) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(key, f"must be a whole number, not {value!r}")
        if value < minimum:
            self.fail(key, f"must be at least {minimum}, not {value}")
        return value

    def number(self, value: Any, key: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            self.fail(key, f"must be a number above zero, not {value!r}")
        return float(value)

    def string(self, value: Any, key: str, pattern: re.Pattern | None = None, hint: str = "") -> str:
        if not isinstance(value, str) or not value.strip():
            self.fail(key, f"must be a non-empty string, not {value!r}")
        if pattern is not None and not pattern.match(value):
            self.fail(key, f"{value!r} is not valid{': ' + hint if hint else ''}")
        return value

    def choice(self, value: Any, key: str, choices: tuple[str, ...]) -> str:
        if value not in choices:
            self.fail(key, f"{value!r} is not one of {', '.join(choices)}")
        return value

    def share(self, value: Any, key: str) -> Fraction:
        try:
            return parse_share(value)
        except ShareError as e:
            self.fail(key, str(e))

    def text(self, value: Any, key: str) -> Text:
        if isinstance(value, str) and value.strip():
            return Text(value, value)
        data = self.mapping(value, key, {"zh", "en"}, {"zh", "en"})
        return Text(self.string(data["zh"], f"{key}.zh"), self.string(data["en"], f"{key}.en"))
