"""STAND-IN for z2jh's ``z2jh`` helper module (jupyterhub/files/hub/z2jh.py of the zero-to-jupyterhub chart).

Written for npuhub's tests, not copied: no container runs here, so the hub
of these tests cannot be z2jh's image. It keeps the behaviour npuhub's
``hub.extraConfig`` depends on, read from the same files in the same layout:

- ``<root>/secret/values.yaml`` (the chart's values, as z2jh's hub Secret
  holds them) merged with ``<root>/existing-secret/values.yaml`` when present;
  ``get_config("a.b.c")`` walks it and gives ``default`` for a missing key or
  a non-mapping parent;
- ``<root>/existing-secret/<key>`` then ``<root>/secret/<key>`` for
  ``get_secret_value(key)`` (each key of the hub Secret mounted as a file);
- ``<root>/config/<name>`` for ``get_name(name)``.

``<root>`` is z2jh's ``/usr/local/etc/jupyterhub``, or ``$NPUHUB_TEST_Z2JH_ROOT``
in the tests (they do not write into /usr/local).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import yaml

_UNSET = object()


def root() -> Path:
    return Path(os.environ.get("NPUHUB_TEST_Z2JH_ROOT", "/usr/local/etc/jupyterhub"))


def _merged(base: dict, more: dict) -> dict:
    out = dict(base)
    for key, value in more.items():
        if isinstance(out.get(key), dict) and isinstance(value, dict):
            out[key] = _merged(out[key], value)
        else:
            out[key] = value
    return out


@lru_cache
def _values() -> dict:
    values: dict = {}
    for source in ("secret", "existing-secret"):
        path = root() / source / "values.yaml"
        if path.exists():
            values = _merged(values, yaml.safe_load(path.read_text()) or {})
    return values


def get_config(key: str, default=None):
    """The value at the dotted ``key`` of the chart's values, else ``default``."""
    value = _values()
    for level in key.split("."):
        if not isinstance(value, dict) or level not in value:
            return default
        value = value[level]
    return value


def get_secret_value(key: str, default=_UNSET):
    """A key of the hub's Secret (the operator's existing Secret first)."""
    for source in ("existing-secret", "secret"):
        path = root() / source / key
        if path.exists():
            return path.read_text()
    if default is not _UNSET:
        return default
    raise KeyError(f"{key} is in neither Secret")


def get_name(name: str) -> str:
    return (root() / "config" / name).read_text()


def set_config_if_not_none(section, trait: str, key: str) -> None:
    value = get_config(key)
    if value is not None:
        setattr(section, trait, value)
