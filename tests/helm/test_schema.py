"""values.schema.yaml is the source: the JSON schema Helm reads and the docs' reference are generated from it,
and every object in it is closed (``additionalProperties: false``) but the three documented pass-throughs."""

from __future__ import annotations

import importlib.util

import pytest
import yaml

from support.helm_chart import CHART, ROOT

pytestmark = pytest.mark.helm

#: the keys whose contents another checker owns, each said in its description: the subcharts' schemas, the site reader
OPEN_KEYS = {"jupyterhub", "dask-kubernetes-operator", "site"}


def generator():
    spec = importlib.util.spec_from_file_location("helm_schema", ROOT / "scripts" / "helm_schema.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_generated_schema_and_reference_are_not_stale():
    stale = [str(p.relative_to(ROOT)) for p in generator().stale()]
    assert stale == [], f"{stale}: run `make helm-schema` after changing helm/npuhub/values.schema.yaml"


def test_the_reference_is_in_the_docs_index_and_lists_every_key():
    index = (ROOT / "docs" / "reference" / "index.md").read_text(encoding="utf-8")
    assert "\nhelm-values\n" in index
    reference = (ROOT / "docs" / "reference" / "helm-values.md").read_text(encoding="utf-8")
    schema = yaml.safe_load((CHART / "values.schema.yaml").read_text(encoding="utf-8"))

    def keys(node, path):
        for name, child in (node.get("properties") or {}).items():
            yield ".".join(path + [name])
            yield from keys(child, path + [name])

    missing = [k for k in keys(schema, []) if f"| `{k}` |" not in reference]
    assert missing == []


def test_every_object_is_closed_but_the_documented_pass_throughs():
    schema = yaml.safe_load((CHART / "values.schema.yaml").read_text(encoding="utf-8"))
    open_objects = []

    def walk(node, path):
        if node.get("type") == "object" or "properties" in node:
            if node.get("additionalProperties") is not False and not isinstance(node.get("additionalProperties"),
                                                                                   dict):
                open_objects.append(path)
            for name, child in (node.get("properties") or {}).items():
                walk(child, f"{path}.{name}" if path else name)

    walk(schema, "")
    # lists of Kubernetes objects (env, tolerations, peers) are typed `items: {type: object}`: Kubernetes' own
    # schema checks them in the render tests; maps of strings say so (additionalProperties: {type: string})
    assert sorted(open_objects) == sorted(OPEN_KEYS)
    for key in OPEN_KEYS:
        assert "schema" in schema["properties"][key]["description"] or "reader" in schema["properties"][key]["description"]


def test_values_yaml_sets_only_keys_the_schema_knows():
    """values.yaml alone (before the required values are given) has no key the schema would refuse."""
    schema = yaml.safe_load((CHART / "values.schema.yaml").read_text(encoding="utf-8"))
    values = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))

    def walk(node, value, path):
        if not isinstance(value, dict) or node.get("additionalProperties") is not False:
            return
        for key, child in value.items():
            assert key in node.get("properties", {}), f"values.yaml: {'.'.join(path + [key])} is not in the schema"
            walk(node["properties"][key], child, path + [key])

    walk(schema, values, [])
    assert set(schema["required"]) == {"site", "image"} and not set(schema["required"]) & set(values)
