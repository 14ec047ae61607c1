"""A mistake in the values stops the install with a sentence naming the key: Helm's schema check, the chart's own
checks, and npuhub's site reader over `site:` (the init container's `npuhub check-config`)."""

from __future__ import annotations

import copy
import re

import pytest
import yaml

from support.helm_chart import helm, render

pytestmark = pytest.mark.helm


def refusal(values: dict) -> str:
    """Helm's message when it refuses to render ``values``; fails the test if it renders them."""
    h = helm()
    with pytest.raises((h.HelmValuesError, h.HelmRenderError)) as info:
        render(values)
    return str(info.value)


def test_a_misspelled_key_is_named(minimal_values):
    values = copy.deepcopy(minimal_values)
    values["service"] = {"replica": 3}
    message = refusal(values)
    assert "at '/service': additional properties 'replica' not allowed" in message

    values = copy.deepcopy(minimal_values)
    values["databse"] = {"url": "postgresql://x@db/npuhub"}
    assert "additional properties 'databse' not allowed" in refusal(values)


def test_a_missing_required_value_is_named(minimal_values):
    values = copy.deepcopy(minimal_values)
    del values["site"]
    assert "missing property 'site'" in refusal(values)
    values = copy.deepcopy(minimal_values)
    del values["image"]["tag"]
    assert "at '/image': missing property 'tag'" in refusal(values)


def test_a_wrong_type_is_named(minimal_values):
    values = copy.deepcopy(minimal_values)
    values["service"] = {"replicas": "two"}
    assert "at '/service/replicas': got string, want integer" in refusal(values)
    values = copy.deepcopy(minimal_values)
    values["networkPolicy"] = {"enabled": "yes"}
    assert "at '/networkPolicy/enabled': got string, want boolean" in refusal(values)


def test_the_database_must_be_named_exactly_once(minimal_values):
    values = copy.deepcopy(minimal_values)
    values["database"] = {}
    assert "database: give exactly one of database.existingSecret" in refusal(values)
    values["database"] = {"existingSecret": "mine", "bundled": {"enabled": True}}
    assert "database: give exactly one of" in refusal(values)
    values["database"] = {"url": "mysql://root@db/npuhub"}
    assert "at '/database/url': 'mysql://root@db/npuhub' does not match pattern" in refusal(values)


def test_the_hub_must_run_npuhubs_hub_image(minimal_values):
    values = copy.deepcopy(minimal_values)
    values["jupyterhub"]["hub"]["image"]["tag"] = "0.0.9"
    message = refusal(values)
    assert "jupyterhub.hub.image must be npuhub's hub image, the same as image (registry.example.edu/npuhub/hub:0.1.0)" \
        in message
    values = copy.deepcopy(minimal_values)
    del values["jupyterhub"]["singleuser"]
    assert "jupyterhub.singleuser.image.name and .tag are required" in refusal(values)


def test_a_service_monitor_needs_a_token_while_metrics_ask_for_one(minimal_values):
    values = copy.deepcopy(minimal_values)
    values["metrics"] = {"serviceMonitor": {"enabled": True}}
    assert "metrics.serviceMonitor.bearerTokenSecret is required while metrics.authenticate is true" \
        in refusal(values)
    values["metrics"]["authenticate"] = False
    monitor = [o for o in render(values) if o["kind"] == "ServiceMonitor"]
    assert "authorization" not in monitor[0]["spec"]["endpoints"][0]
    deployment = next(o for o in render(values) if o["kind"] == "Deployment")
    assert "--NPUHubService.authenticate_prometheus=False" in deployment["spec"]["template"]["spec"]["containers"][0]["command"]


@pytest.mark.parametrize("which", ["minimal", "full"])
def test_the_values_sites_pass_npuhubs_own_site_reader(which, minimal_values, full_values):
    from npuhub.site_config import parse_site_config

    values = minimal_values if which == "minimal" else full_values
    site = parse_site_config(values["site"], "npuhub.yaml")
    # the chart's hub starts pods: a site for it names the kubernetes spawner (npuhub.z2jh refuses others)
    assert site.spawner.type == "kubernetes" and site.kubernetes is not None


def test_a_bad_site_stops_the_service_pod_with_npuhubs_sentence(minimal_values, tmp_path, capsys):
    """The init container runs `npuhub check-config` over the rendered ConfigMap: run that command here."""
    from npuhub.cli import main

    values = copy.deepcopy(minimal_values)
    values["site"]["flavors"][1]["accelerator"]["share"] = "1/0"
    objects = render(values)  # the schema leaves the site to npuhub's reader: Helm renders it
    site_file = tmp_path / "npuhub.yaml"
    configmap = next(o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "npuhub-site")
    site_file.write_text(configmap["data"]["npuhub.yaml"], encoding="utf-8")
    init = next(o for o in objects if o["kind"] == "Deployment")["spec"]["template"]["spec"]["initContainers"][0]
    assert init["command"][:2] == ["npuhub", "check-config"]
    with pytest.raises(SystemExit) as exit_:
        main([init["command"][1], str(site_file)])
    message = str(exit_.value.code)
    assert re.search(r"npuhub\.yaml: flavors\[1\]\.accelerator\.share: .*1/0", message), message

    # and the good one passes the same command
    site_file.write_text(yaml.safe_dump(minimal_values["site"]), encoding="utf-8")
    assert main(["check-config", str(site_file)]) == 0
    assert "valid" in capsys.readouterr().out
