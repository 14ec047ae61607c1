"""npuhub's hub configuration sends ``nosniff`` on every hub answer, workshop codes or not."""

from __future__ import annotations

from traitlets.config import Config

from npuhub.hubconfig import configure
from support.sites import write_site


def configured(monkeypatch, tmp_path, before: dict | None = None) -> Config:
    monkeypatch.setenv("NPUHUB_SITE_CONFIG", str(write_site(tmp_path / "npuhub.yaml")))
    monkeypatch.setenv("NPUHUB_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("NPUHUB_MODE", "embedded")
    c = Config()
    if before is not None:
        c.JupyterHub.tornado_settings = before
    configure(c, embedded=True)
    return c


def test_the_hub_forbids_content_sniffing(monkeypatch, tmp_path):
    c = configured(monkeypatch, tmp_path)
    assert c.JupyterHub.tornado_settings["headers"]["X-Content-Type-Options"] == "nosniff"


def test_a_sites_own_headers_and_settings_are_kept(monkeypatch, tmp_path):
    before = {"headers": {"Content-Security-Policy": "frame-ancestors 'self'"}, "slow_spawn_timeout": 5}
    c = configured(monkeypatch, tmp_path, before)
    assert c.JupyterHub.tornado_settings == {
        "headers": {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "frame-ancestors 'self'"},
        "slow_spawn_timeout": 5,
    }
