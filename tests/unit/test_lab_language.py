"""The site's language becomes JupyterLab's default: a settings directory for local servers, an init container in pods.

JupyterLab's own reader of overrides (jupyterlab_server) reads what npuhub
writes. The pod's parts are in test_kube_spawner.py; the init container's
script runs in tests/integration/test_lab_language_script.py.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from jupyterlab_server.settings_utils import _get_overrides

from npuhub.hubconfig import configure_language
from npuhub.lab_language import LANGUAGE_PLUGIN, OVERRIDE_FILE, page_language, settings_dir
from npuhub.site_config import SiteConfigError, load_site_config
from support.sites import make_site, write_site

NEWS = "@jupyterlab/apputils-extension:notification"


def base_settings(tmp_path: Path) -> Path:
    base = tmp_path / "env-settings"
    (base / "overrides.d").mkdir(parents=True)
    (base / "overrides.d" / "npuhub.json").write_text(json.dumps({NEWS: {"fetchNews": "false"}}))
    # a package that sets a locale of its own: the site's language must win over it
    (base / "overrides.d" / "other.json").write_text(json.dumps({LANGUAGE_PLUGIN: {"locale": "fr_FR"}}))
    return base


def test_a_settings_directory_of_the_sites_language(tmp_path):
    root = tmp_path / "users" / ".npuhub-lab-settings"
    path = settings_dir("zh_CN", root, base_settings(tmp_path))
    assert path == root / "zh_CN"
    overrides, error = _get_overrides(str(path))
    assert not error
    assert overrides[LANGUAGE_PLUGIN] == {"locale": "zh_CN"}
    assert overrides[NEWS] == {"fetchNews": "false"}  # the environment's own overrides are kept
    # readable by every account (servers may run as their owner's own account)
    assert all(os.stat(p).st_mode & 0o005 == 0o005 for p in [root, path, path / "overrides.d"])
    assert os.stat(path / "overrides.d" / OVERRIDE_FILE).st_mode & 0o777 == 0o644

    # written again (English now): replaced whole, nothing left of the last one
    (path / "overrides.d" / "stale.json").write_text("{}")
    path = settings_dir("zh_CN", root, base_settings(tmp_path / "again"))
    assert not (path / "overrides.d" / "stale.json").exists()
    assert sorted(p.name for p in root.iterdir()) == ["zh_CN"]
    assert _get_overrides(str(settings_dir("en", root, tmp_path / "missing")))[0] == {
        LANGUAGE_PLUGIN: {"locale": "en"}}


def test_the_site_files_language(tmp_path):
    assert load_site_config(write_site(tmp_path / "a.yaml", make_site(language="zh_CN"))).language == "zh_CN"
    assert load_site_config(write_site(tmp_path / "b.yaml", make_site())).language is None
    with pytest.raises(SiteConfigError) as e:
        load_site_config(write_site(tmp_path / "c.yaml", make_site(language="zh")))
    assert "language" in str(e.value) and "zh_CN" in str(e.value)


def test_the_hub_hands_the_language_to_spawners_and_pages():
    from traitlets.config import Config

    c = Config()
    configure_language(c, "zh_CN")
    assert c.NPUSpawnerMixin.lab_language == "zh_CN"
    assert c.JupyterHub.template_vars["npuhub_language"] == "zh" == page_language("zh_CN")
    unset = Config()
    configure_language(unset, None)
    assert "lab_language" not in unset.NPUSpawnerMixin
