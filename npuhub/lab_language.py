"""The site's default language for JupyterLab (the site file's ``language: zh_CN | en``).

JupyterLab takes a setting's default from the *overrides* in its application
settings directory (``<app_dir>/settings/overrides.d/*.json``), and a
person's own settings (``~/.jupyter/lab/user-settings``) win over those
defaults. So the site's language becomes an override of the Language
plugin's ``locale``: JupyterLab opens in it, and a person who picks another
language in Settings → Language keeps her choice (it is her user setting).

A server is pointed at a settings directory of its own language with
``--LabApp.app_settings_dir``: a copy of the environment's own settings
directory (npuhub's overrides and any other package's) plus the language's
override, last in order so that it wins. The local spawner writes it on the
hub's machine (:func:`settings_dir`); in a pod, an init container of the same
image writes it into an ``emptyDir`` (:func:`pod_parts`).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
from pathlib import Path

__all__ = ["LANGUAGES", "LANGUAGE_PLUGIN", "OVERRIDE_FILE", "POD_SETTINGS_DIR", "override", "page_language",
           "pod_parts", "settings_dir"]

#: The site file's choices: JupyterLab's locale names (the zh_CN language pack is in every npuhub image).
LANGUAGES = ("zh_CN", "en")
LANGUAGE_PLUGIN = "@jupyterlab/translation-extension:plugin"
#: Sorted after every other override file, so that the site's language wins over a package's.
OVERRIDE_FILE = "zz-npuhub-language.json"
#: Where a pod's settings directory is mounted.
POD_SETTINGS_DIR = "/opt/npuhub/lab-settings"


def override(language: str) -> dict:
    """The overrides that make ``language`` JupyterLab's default."""
    if language not in LANGUAGES:
        raise ValueError(f"language {language!r} is not one of {', '.join(LANGUAGES)}")
    return {LANGUAGE_PLUGIN: {"locale": language}}


def page_language(language: str | None) -> str:
    """The hub pages' language code for a site language: ``zh`` or ``en`` ('' when the site sets none)."""
    return {"zh_CN": "zh", "en": "en"}.get(language or "", "")


def default_app_settings_dir() -> Path:
    """The settings directory JupyterLab uses in this environment (``$JUPYTERLAB_DIR`` or sys.prefix)."""
    if os.environ.get("JUPYTERLAB_DIR"):
        return Path(os.environ["JUPYTERLAB_DIR"]) / "settings"
    return Path(sys.prefix) / "share" / "jupyter" / "lab" / "settings"


def settings_dir(language: str, root: Path, base: Path | None = None) -> Path:
    """``root/<language>``: the environment's settings directory with the language's override added.

    Written afresh at each call (a package's overrides may have changed), into a
    new directory that then replaces the old one, so a server starting meanwhile
    never reads half of it. Readable by everyone: it holds no secret, and a
    server may run as its owner's own account.
    """
    base = default_app_settings_dir() if base is None else base
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o755)
    target = root / language
    fresh = root / f".{language}.{os.getpid()}"
    shutil.rmtree(fresh, ignore_errors=True)
    if base.is_dir():
        shutil.copytree(base, fresh, ignore=shutil.ignore_patterns(OVERRIDE_FILE))
    (fresh / "overrides.d").mkdir(parents=True, exist_ok=True)
    (fresh / "overrides.d" / OVERRIDE_FILE).write_text(json.dumps(override(language), indent=1) + "\n")
    for path in [fresh, *fresh.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    old = root / f".{language}.old.{os.getpid()}"
    if target.exists():
        target.rename(old)
    fresh.rename(target)
    shutil.rmtree(old, ignore_errors=True)
    return target


_POD_SCRIPT = """\
set -e
base="$(python3 -c 'from jupyterlab.commands import get_app_dir; print(get_app_dir())')/settings"
mkdir -p {dir}/overrides.d
if [ -d "$base" ]; then cp -R "$base"/. {dir}/; fi
printf '%s\\n' "$NPUHUB_LAB_OVERRIDE" > {dir}/overrides.d/{file}
"""


def pod_parts(language: str, image: str) -> dict:
    """What a pod needs for ``language``: an ``emptyDir``, its mount, the init container that fills it, the argument.

    The init container runs the server's own image, so it copies that image's
    settings (its overrides included) before adding the language's.
    """
    volume = {"name": "npuhub-lab-settings", "emptyDir": {}}
    mount = {"name": "npuhub-lab-settings", "mountPath": POD_SETTINGS_DIR}
    script = _POD_SCRIPT.format(dir=shlex.quote(POD_SETTINGS_DIR), file=OVERRIDE_FILE)
    init = {
        "name": "npuhub-lab-settings",
        "image": image,
        "command": ["sh", "-c", script],
        "env": [{"name": "NPUHUB_LAB_OVERRIDE", "value": json.dumps(override(language))}],
        "volumeMounts": [mount],
        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}},
    }
    return {"volume": volume, "mount": mount, "init_container": init,
            "arg": f"--LabApp.app_settings_dir={POD_SETTINGS_DIR}"}
