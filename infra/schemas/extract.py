#!/usr/bin/env python3
"""Writes infra/schemas/<group>/<kind>-<version>.json from the platforms' published CustomResourceDefinitions.

For every CustomResourceDefinition in the given YAML files and every version it serves, the version's
`schema.openAPIV3Schema` is turned into a JSON Schema (draft 2020-12) that infra/validate.py applies the way the API
server does with strict field validation (`kubectl apply --validate=strict`, the default):

- an object schema without `x-kubernetes-preserve-unknown-fields: true` and without `additionalProperties` gets
  `additionalProperties: false`: the API server prunes unknown fields there, and strict validation reports them;
  one with `x-kubernetes-preserve-unknown-fields: true` keeps unknown fields (JSON Schema's default);
- `x-kubernetes-int-or-string: true` becomes `type: [integer, string]` (its `anyOf` of the two is dropped);
- `nullable: true` adds `null` to the type (and to an `enum`);
- `x-kubernetes-embedded-resource: true` allows the embedded object's apiVersion, kind and metadata;
- `x-kubernetes-list-type: set` becomes `uniqueItems: true` (the API server refuses duplicates in a set);
- OpenAPI 3.0's boolean `exclusiveMinimum`/`exclusiveMaximum` become the numeric draft-2020-12 form;
- `description`, `example`, `externalDocs` and the list/map merge hints (`x-kubernetes-list-map-keys`,
  `x-kubernetes-map-type`, `x-kubernetes-list-type: atomic|map`) are dropped; `default` and `format` stay as
  annotations (the API server applies defaults, it does not reject on them);
- `x-kubernetes-validations` (CEL rules) cannot be evaluated here: they are kept as an annotation and counted in
  the schema's `$comment` (none of the vendored CRDs has any);
- any other keyword is an error, so a new one is handled on purpose rather than silently ignored.

At the root, as for every custom resource: `apiVersion` and `kind` must be this group/version and kind, and
`metadata` is checked against the Kubernetes ObjectMeta definition (bundled by kubernetes-validate, resolved by
validate.py) with the name the API server requires (a DNS-1123 subdomain); the three are required.

The CRD files are vendored under infra/schemas/crds/; each starts with comment lines naming its source
(`repository:`, `path:`, `commit:`, optionally `release:`), which become the schema's provenance.

Usage: infra/schemas/extract.py [CRD.yaml ...]   (default: infra/schemas/crds/*.yaml)
"""
import json
import pathlib
import re
import sys

import yaml

SCHEMAS = pathlib.Path(__file__).resolve().parent
OBJECT_META = "https://kubernetes.io/api/_definitions.json#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"

# Keywords copied as they are (same meaning in OpenAPI v3 schemas and JSON Schema 2020-12).
KEPT = {"type", "enum", "pattern", "minLength", "maxLength", "minimum", "maximum", "multipleOf", "minItems",
        "maxItems", "uniqueItems", "minProperties", "maxProperties", "required", "format", "default"}
DROPPED = {"description", "example", "externalDocs", "title", "x-kubernetes-list-map-keys", "x-kubernetes-map-type"}


class Unsupported(Exception):
    pass


def convert(node, path, notes):
    """One OpenAPI v3 (structural) schema node as JSON Schema, as the API server applies it."""
    if not isinstance(node, dict):
        raise Unsupported(f"{path}: not a schema: {node!r}")
    out = {}
    for key, value in node.items():
        if key in KEPT:
            out[key] = value
        elif key in DROPPED or key in {"nullable", "x-kubernetes-int-or-string", "x-kubernetes-preserve-unknown-fields",
                                       "x-kubernetes-embedded-resource", "x-kubernetes-list-type", "anyOf",
                                       "exclusiveMinimum", "exclusiveMaximum", "properties", "additionalProperties",
                                       "items", "allOf", "oneOf", "not", "x-kubernetes-validations"}:
            pass
        else:
            raise Unsupported(f"{path}: keyword {key!r} is not handled by extract.py")

    if node.get("x-kubernetes-int-or-string"):
        out["type"] = ["integer", "string"]
        alternatives = node.get("anyOf")
        if alternatives is not None and sorted(a.get("type") for a in alternatives) != ["integer", "string"]:
            raise Unsupported(f"{path}: int-or-string with an unexpected anyOf {alternatives!r}")
    elif "anyOf" in node:
        out["anyOf"] = [convert(a, f"{path}/anyOf/{i}", notes) for i, a in enumerate(node["anyOf"])]
    for key in ("allOf", "oneOf"):
        if key in node:
            out[key] = [convert(a, f"{path}/{key}/{i}", notes) for i, a in enumerate(node[key])]
    if "not" in node:
        out["not"] = convert(node["not"], f"{path}/not", notes)

    for key, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if node.get(key) is True:
            out[key] = out.pop(bound)
        elif node.get(key) not in (None, False):
            raise Unsupported(f"{path}: {key} {node[key]!r}")

    if node.get("nullable"):
        kind = out.get("type")
        if kind is not None:
            out["type"] = (kind if isinstance(kind, list) else [kind]) + ["null"]
        if "enum" in out:
            out["enum"] = out["enum"] + [None]

    if node.get("x-kubernetes-list-type") == "set":
        out["uniqueItems"] = True
    elif node.get("x-kubernetes-list-type") not in (None, "atomic", "map"):
        raise Unsupported(f"{path}: x-kubernetes-list-type {node['x-kubernetes-list-type']!r}")

    if "items" in node:
        out["items"] = convert(node["items"], f"{path}[]", notes)

    if "properties" in node:
        out["properties"] = {name: convert(sub, f"{path}/{name}", notes) for name, sub in node["properties"].items()}
    if node.get("x-kubernetes-embedded-resource"):
        properties = out.setdefault("properties", {})
        properties.setdefault("apiVersion", {"type": "string"})
        properties.setdefault("kind", {"type": "string"})
        properties.setdefault("metadata", {"$ref": OBJECT_META})
    if isinstance(node.get("additionalProperties"), dict):
        out["additionalProperties"] = convert(node["additionalProperties"], f"{path}{{}}", notes)
    elif "additionalProperties" in node:
        out["additionalProperties"] = node["additionalProperties"]
    elif node.get("type") == "object" and not node.get("x-kubernetes-preserve-unknown-fields"):
        # The API server prunes fields this schema does not declare; strict field validation reports them.
        out["additionalProperties"] = False
    elif node.get("x-kubernetes-preserve-unknown-fields"):
        notes["open"].append(path or "/")

    if "x-kubernetes-validations" in node:
        out["x-kubernetes-validations"] = node["x-kubernetes-validations"]
        notes["cel"] += len(node["x-kubernetes-validations"])
    return out


def provenance(text):
    source = {}
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        match = re.match(r"#\s+(repository|path|commit|release):\s*(.+?)\s*$", line)
        if match:
            source[match.group(1)] = match.group(2)
    missing = {"repository", "path", "commit"} - set(source)
    if missing:
        raise Unsupported(f"the header names no {', '.join(sorted(missing))} of the source")
    return source


def schema_of(crd, version, source):
    group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
    notes = {"open": [], "cel": 0}
    root = convert(version["schema"]["openAPIV3Schema"], "", notes)
    root["type"] = "object"
    properties = root.setdefault("properties", {})
    properties["apiVersion"] = {"const": f"{group}/{version['name']}"}
    properties["kind"] = {"const": kind}
    properties["metadata"] = {"allOf": [
        {"$ref": OBJECT_META},
        {"type": "object", "required": ["name"],
         "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 253, "pattern": DNS_SUBDOMAIN}}},
    ]}
    root["required"] = ["apiVersion", "kind", "metadata"] + [r for r in root.get("required", [])
                                                             if r not in ("apiVersion", "kind", "metadata")]
    where = f"{source['repository']}, {source['path']}, commit {source['commit']}"
    if "release" in source:
        where += f" ({source['release']})"
    comment = (
        f"Generated by infra/schemas/extract.py from the openAPIV3Schema of version {version['name']} of the "
        f"CustomResourceDefinition {crd['metadata']['name']} as published in {where}; vendored in "
        "infra/schemas/crds/. Do not edit: change extract.py or the vendored CRD and regenerate. Objects are strict "
        "(additionalProperties false) unless the CRD preserves unknown fields; metadata is checked against the "
        "Kubernetes ObjectMeta.")
    if notes["open"]:
        comment += " Unknown fields are accepted (x-kubernetes-preserve-unknown-fields) in: " + ", ".join(
            sorted(p.lstrip("/").replace("/", ".") for p in notes["open"] if not p.startswith("/status"))) + "."
    if notes["cel"]:
        comment += f" {notes['cel']} x-kubernetes-validations (CEL) rules are not evaluated."
    head = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://ml-connector.local/schemas/{group}/{kind.lower()}-{version['name']}.json",
        "$comment": comment,
        "title": f"{kind} ({group}/{version['name']})",
        "x-source": dict(source, crd=crd["metadata"]["name"], version=version["name"]),
    }
    return group, kind, head | root


def generated(files):
    """(file, CRD name, version, target path, JSON text) of every served version of every CRD in the files."""
    for file in files:
        text = file.read_text()
        source = provenance(text)
        for crd in yaml.safe_load_all(text):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            for version in crd["spec"]["versions"]:
                if version.get("served", True):
                    group, kind, schema = schema_of(crd, version, source)
                    target = SCHEMAS / group / f"{kind.lower()}-{version['name']}.json"
                    yield file, crd["metadata"]["name"], version["name"], target, json.dumps(schema, indent=2) + "\n"


def vendored():
    return sorted((SCHEMAS / "crds").glob("*.yaml"))


def main(arguments):
    files = [pathlib.Path(a) for a in arguments] or vendored()
    if not files:
        print("extract: no CRD files", file=sys.stderr)
        return 1
    try:
        for file, crd, version, target, text in generated(files):
            target.parent.mkdir(exist_ok=True)
            target.write_text(text)
            print(f"extract: {file.name}: {crd} {version} -> {target.relative_to(SCHEMAS.parent.parent)}")
    except (Unsupported, KeyError) as error:
        print(f"extract: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
