"""The dask-kubernetes operator's resource definitions, read from the INSTALLED package, and a strict validator.

Nothing of the operator is copied into npuhub: the definitions are built here
the way the package's own build does it (its test fixture runs
``k8s-crd-resolver -r -j <name>.patch.yaml <name>.yaml``):

1. the base CRD, ``dask_kubernetes/operator/customresources/<name>.yaml``;
2. its ``$ref``s resolved: ``python://dask_kubernetes/.../templates.yaml#/...``
   from the installed package; ``python://k8s_crd_resolver/schemata/k8s-1.21.1.json#/definitions/<k8s type>``
   (PodSpec, ServiceSpec) from the Kubernetes definitions the same package
   ships inlined in its built CRDs (``operator/deployment/helm/.../crds``,
   what its Helm chart installs), since ``k8s-crd-resolver`` is not on PyPI;
   those are taken without any ``default`` (Kubernetes' own definitions have
   none: every default there comes from the patch file);
3. descriptions of referenced parts dropped (``-r``) and ``x-kubernetes-*``
   keys other than the structural ones removed, as the resolver does;
4. the JSON patch ``<name>.patch.yaml`` applied (``jsonpatch``, the resolver's library).

``test_dask_crd`` checks that this rebuild equals the package's built CRD, so
validating against either is the same, and the rebuild shows where each part
comes from.

``validator(name)`` turns the ``openAPIV3Schema`` into a JSON-schema validator
as strict as the API server with ``fieldValidation=Strict`` (kubectl's
default): an object with ``properties`` and no ``additionalProperties`` (and no
``x-kubernetes-preserve-unknown-fields``) refuses unknown fields;
``nullable`` and ``x-kubernetes-int-or-string`` as Kubernetes reads them.
"""

from __future__ import annotations

import copy
import functools
from importlib import resources as package_files
from typing import Any, Iterator

import jsonpatch
import jsonschema
import yaml

__all__ = ["resolved_crd", "built_crd", "validator", "crd_errors", "pod_specs"]

PACKAGE = "dask_kubernetes"
CUSTOMRESOURCES = ("operator", "customresources")
BUILT = ("operator", "deployment", "helm", "dask-kubernetes-operator", "crds")
K8S_PREFIX = "python://k8s_crd_resolver/"
KEPT_EXTENSIONS = {"x-kubernetes-embedded-resource", "x-kubernetes-int-or-string",
                   "x-kubernetes-preserve-unknown-fields", "x-kubernetes-list-map-keys", "x-kubernetes-list-type",
                   "x-kubernetes-map-type", "x-kubernetes-validations"}


def _package_file(*parts: str):
    return package_files.files(PACKAGE).joinpath(*parts)


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the built CRDs are 0.4 MB of YAML


def _load(*parts: str) -> Any:
    return yaml.load(_package_file(*parts).read_text(encoding="utf-8"), Loader=_LOADER)


@functools.cache
def _built(name: str) -> dict:
    return _load(*BUILT, f"{name}.yaml")


def built_crd(name: str) -> dict:
    """The package's built CRD ``name`` (e.g. ``daskcluster``), as its Helm chart installs it."""
    return copy.deepcopy(_built(name))


def _pointer(doc: Any, pointer: str) -> Any:
    for part in filter(None, pointer.split("/")):
        doc = doc[part.replace("~1", "/").replace("~0", "~")]
    return doc


def _strip(node: Any, key: str) -> Any:
    if isinstance(node, dict):
        return {k: _strip(v, key) for k, v in node.items() if k != key}
    if isinstance(node, list):
        return [_strip(v, key) for v in node]
    return node


def _prune_extensions(node: Any) -> None:
    if isinstance(node, dict):
        for k in list(node):
            if k.startswith("x-kubernetes-") and k not in KEPT_EXTENSIONS:
                del node[k]
            else:
                _prune_extensions(node[k])
    elif isinstance(node, list):
        for v in node:
            _prune_extensions(v)


def _resolve(node: Any, path: tuple, built_schema: dict) -> Any:
    """``node`` with every ``$ref`` replaced by what it names (``path``: where ``node`` sits in the schema)."""
    if isinstance(node, list):
        return [_resolve(v, path + (i,), built_schema) for i, v in enumerate(node)]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if ref is None:
        return {k: _resolve(v, path + (k,), built_schema) for k, v in node.items()}
    location, _, pointer = ref.partition("#")
    if location.startswith(K8S_PREFIX):
        # Kubernetes' own definitions, as the package's build inlined them at this very place
        inlined = built_schema
        for part in path:
            inlined = inlined[part]
        return _strip(copy.deepcopy(inlined), "default")
    if not location.startswith(f"python://{PACKAGE}/"):
        raise ValueError(f"a reference npuhub does not know how to read: {ref}")
    target = _load(*location[len(f"python://{PACKAGE}/"):].split("/"))
    return _resolve(_strip(copy.deepcopy(_pointer(target, pointer)), "description"), path, built_schema)


@functools.cache
def resolved_crd(name: str) -> dict:
    """The CRD ``name`` rebuilt from the package's base and patch files (see the module's docstring)."""
    crd = _load(*CUSTOMRESOURCES, f"{name}.yaml")
    built = built_crd(name)
    for i, version in enumerate(crd["spec"]["versions"]):
        built_schema = built["spec"]["versions"][i]["schema"]["openAPIV3Schema"]
        schema = _resolve(version["schema"]["openAPIV3Schema"], (), built_schema)
        _prune_extensions(schema)
        version["schema"]["openAPIV3Schema"] = schema
    patch = jsonpatch.JsonPatch(_load(*CUSTOMRESOURCES, f"{name}.patch.yaml"))
    return patch.apply(crd)


def _strict(node: Any) -> Any:
    """An OpenAPI v3 schema of a CRD as a JSON schema, refusing unknown fields (see the module's docstring)."""
    if isinstance(node, list):
        return [_strict(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _strict(v) for k, v in node.items() if not k.startswith("x-kubernetes-")}
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("nullable"):
        out.pop("nullable")
        if "type" in out:
            out["type"] = [out["type"], "null"]
    if ("properties" in node and "additionalProperties" not in node
            and not node.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False
    return out


@functools.cache
def validator(name: str) -> jsonschema.protocols.Validator:
    """A strict validator of a whole object of the CRD ``name`` (apiVersion, kind and metadata included)."""
    crd = resolved_crd(name)
    schema = _strict(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"])
    group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
    string_map = {"type": "object", "additionalProperties": {"type": "string"}}
    schema["properties"] = {
        **schema["properties"],
        "apiVersion": {"const": f"{group}/{crd['spec']['versions'][0]['name']}"},
        "kind": {"const": kind},
        "metadata": {"type": "object", "required": ["name"], "additionalProperties": False, "properties": {
            "name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 63},
            "namespace": {"type": "string"}, "labels": string_map, "annotations": string_map}},
    }
    schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind", "metadata"})
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
    cls.check_schema(schema)
    return cls(schema)


def crd_errors(name: str, obj: dict) -> list[str]:
    """Every way ``obj`` breaks the CRD ``name`` (empty: valid), each as ``path: message``."""
    return [f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
            for e in validator(name).iter_errors(obj)]


def pod_specs(obj: dict) -> Iterator[tuple[str, dict, dict]]:
    """``(where, metadata, pod spec)`` of each pod template in a DaskCluster or DaskWorkerGroup."""
    spec = obj["spec"]
    if "scheduler" in spec:
        yield "scheduler", spec["scheduler"].get("metadata") or {}, spec["scheduler"]["spec"]
    yield "worker", spec["worker"].get("metadata") or {}, spec["worker"]["spec"]
