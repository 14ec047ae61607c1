"""Sphinx directive that lists the npuhub service's REST API, generated from its OpenAPI document at build time."""

from __future__ import annotations

import json

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective

from npuhub.service.openapi import openapi_document

API = "/services/npuhub/api/v1"


def _type(schema: dict, doc: dict) -> str:
    """A short type for a schema: ``string``, ``integer``, ``Request``, ``array of Request``."""
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[1]
    if "oneOf" in schema:
        return " or ".join(_type(s, doc) for s in schema["oneOf"])
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = " or ".join(k for k in kind)
    if kind == "array":
        return f"array of {_type(schema.get('items', {}), doc)}"
    return kind


def _constraints(schema: dict) -> str:
    parts = []
    if "enum" in schema:
        parts.append("one of " + ", ".join(f"``{v}``" for v in schema["enum"]))
    if schema.get("type") == "array" and "enum" in schema.get("items", {}):
        parts.append("each one of " + ", ".join(f"``{v}``" for v in schema["items"]["enum"]))
    for key, word in (("minimum", "at least"), ("maximum", "at most"), ("maxLength", "at most"),
                      ("maxItems", "at most")):
        if key in schema:
            unit = " characters" if key == "maxLength" else " items" if key == "maxItems" else ""
            parts.append(f"{word} {schema[key]}{unit}")
    if "pattern" in schema:
        parts.append(f"matches ``{schema['pattern']}``")
    if "format" in schema:
        parts.append(schema["format"])
    return "; ".join(parts)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(rows: list[tuple[str, str, str]]) -> list[str]:
    lines = ["| Name | Type | Meaning |", "| --- | --- | --- |"]
    for name, kind, meaning in rows:
        lines.append(f"| `{name}` | {_cell(kind)} | {_cell(meaning)} |")
    return lines + [""]


def _operation_md(method: str, path: str, op: dict, doc: dict) -> list[str]:
    lines = [f"### `{method.upper()} {path}`", "", f"**{op['summary']}.**", ""]
    if op.get("description"):
        lines += [op["description"], ""]
    params = [(p["name"], f"{_type(p['schema'], doc)} ({p['in']})",
               " ".join(x for x in (p.get("description", ""), _constraints(p["schema"])) if x))
              for p in op.get("parameters", [])]
    if params:
        lines += ["Parameters:", ""] + _table(params)
    body = op.get("requestBody")
    if body:
        ref = body["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
        schema = doc["components"]["schemas"][ref]
        required = set(schema.get("required", []))
        rows = []
        for name, prop in schema["properties"].items():
            meaning = " ".join(x for x in (prop.get("description", ""), _constraints(prop)) if x)
            rows.append((name, _type(prop, doc) + (", required" if name in required else ""), meaning))
        lines += [f"JSON body ({ref}; any other field is refused):", ""] + _table(rows)
    answers = []
    for code, response in op["responses"].items():
        if code == "default":
            continue
        if "$ref" in response:
            response = doc["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
        schema = response.get("content", {}).get("application/json", {}).get("schema")
        what = f" ({_type(schema, doc)})" if schema else ""
        answers.append(f"- `{code}`: {response['description']}{what}")
    lines += ["Answers:", ""] + answers + [""]
    return lines


def api_markdown() -> list[str]:
    """The API as Markdown: every operation, then the objects its answers contain."""
    doc = openapi_document(API)
    lines: list[str] = []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            lines += _operation_md(method, path, op, doc)
    lines += ["### Objects in answers", ""]
    for name, schema in doc["components"]["schemas"].items():
        if name.startswith("New"):
            continue  # request bodies are described with their operations
        lines += [f"**{name}**", ""]
        if schema.get("description"):
            lines += [schema["description"], ""]
        rows = [(prop, _type(sub, doc), " ".join(x for x in (sub.get("description", ""), _constraints(sub)) if x))
                for prop, sub in schema.get("properties", {}).items()]
        if rows:
            lines += _table(rows)
    return lines


class NPUHubOpenAPI(SphinxDirective):
    """``npuhub-openapi``: every operation of the API, in Markdown (use it in a MyST page)."""

    def run(self):
        node = nodes.section()
        node.document = self.state.document
        self.state.nested_parse(StringList(api_markdown(), source="npuhub-openapi"), self.content_offset, node,
                                match_titles=True)
        return node.children


class NPUHubOpenAPIJSON(SphinxDirective):
    """``npuhub-openapi-json``: the whole document, as the service serves it."""

    def run(self):
        text = json.dumps(openapi_document(API), indent=2, ensure_ascii=False)
        return [nodes.literal_block(text, text, language="json")]


def setup(app):
    app.add_directive("npuhub-openapi", NPUHubOpenAPI)
    app.add_directive("npuhub-openapi-json", NPUHubOpenAPIJSON)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
