#!/usr/bin/env python3
"""Validates the Kubernetes manifests of infra/ offline (no cluster needed).

Core kinds (CronJob, StatefulSet, Service, ...) are checked with the Kubernetes JSON schemas bundled by the
`kubernetes-validate` package, strictly (unknown fields are errors). Knative and KEDA kinds are checked with
infra/schemas/<group>/<kind>-<version>.json, which infra/schemas/extract.py generates from the platforms' published
CustomResourceDefinitions (vendored in infra/schemas/crds/, each naming its repository, path and commit): each
served version's openAPIV3Schema, applied as the API server does with strict field validation (fields the CRD does
not declare are errors, except where it preserves unknown fields), with metadata checked against the Kubernetes
ObjectMeta. A kind with no schema is an error, and so is a schema that differs from what extract.py makes of the
vendored CRDs (regenerate with `infra/schemas/extract.py`).

Before trusting the result it proves it can fail: for every kind it validates a copy with an unknown field (in the
spec, or in the first object under it whose schema is strict where the published schema leaves the spec open) and
a copy without a required field (the first field the published schema requires that the document has, looked for
breadth first under the spec; for a custom resource also a copy without metadata), and stops if one passes. It
prints what each kind refused.

Usage: infra/validate.py [FILE.yaml ...]   (default: infra/{knative,keda,fission,stores}/*.yaml)
"""
import copy
import importlib.util
import json
import pathlib
import sys

import importlib_resources
import jsonschema
import kubernetes_validate
import yaml
from referencing import Registry, Resource

KUBERNETES = "1.34"
INFRA = pathlib.Path(__file__).resolve().parent
SCHEMAS = INFRA / "schemas"


def kubernetes_definitions():
    path = f"kubernetes-json-schema/v{KUBERNETES}.0-local-strict/_definitions.json"
    with importlib_resources.as_file(importlib_resources.files("kubernetes_validate").joinpath(path)) as file:
        return json.loads(pathlib.Path(file).read_text())


REGISTRY = Resource.from_contents(kubernetes_definitions()) @ Registry()


def stale_schemas():
    """The schema files that differ from what extract.py generates from the vendored CRDs."""
    spec = importlib.util.spec_from_file_location("extract", SCHEMAS / "extract.py")
    extract = importlib.util.module_from_spec(spec)
    sys.dont_write_bytecode = True  # no __pycache__ in the work tree
    spec.loader.exec_module(extract)
    return [f"{target.relative_to(INFRA.parent)} is not what extract.py makes of {file.relative_to(INFRA.parent)}"
            for file, _, _, target, text in extract.generated(extract.vendored())
            if not target.exists() or target.read_text() != text]


def crd_schema(document):
    group, _, version = document["apiVersion"].rpartition("/")
    if "." not in group:
        return None  # core or a Kubernetes API group without a domain: kubernetes-validate's business
    path = SCHEMAS / group / f"{document['kind'].lower()}-{version}.json"
    if not path.exists():
        if group.endswith(".k8s.io"):
            return None
        raise LookupError(f"no schema for {document['kind']} {document['apiVersion']} (expected {path.relative_to(INFRA.parent)})")
    return json.loads(path.read_text())


# Fields a published CRD keeps open (x-kubernetes-preserve-unknown-fields) but its controller decodes into a
# Kubernetes type: Fission merges `runtime.container` into the pod's container (a corev1.Container), and so on. They
# are checked against that type's strict definition, as the controller would fail to decode them.
EMBEDDED = {
    ("fission.io/v1", "Environment"): {
        ("spec", "runtime", "container"): "io.k8s.api.core.v1.Container",
        ("spec", "runtime", "podspec"): "io.k8s.api.core.v1.PodSpec",
        ("spec", "builder", "container"): "io.k8s.api.core.v1.Container",
        ("spec", "builder", "podspec"): "io.k8s.api.core.v1.PodSpec",
        ("spec", "resources"): "io.k8s.api.core.v1.ResourceRequirements",
    },
    ("fission.io/v1", "Function"): {("spec", "resources"): "io.k8s.api.core.v1.ResourceRequirements"},
}
# What the controller sets itself in an embedded object, so it need not be there: Fission overrides a container's
# name (and image, termination message path and pull policy).
SET_BY_CONTROLLER = {"io.k8s.api.core.v1.Container": {"name", "image", "terminationMessagePath", "imagePullPolicy"}}


def embedded(document):
    """(path, definition, value) of each embedded Kubernetes object the document has."""
    for path, definition in EMBEDDED.get((document.get("apiVersion"), document.get("kind")), {}).items():
        value = document
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, dict):
            yield path, definition, value


def errors(document):
    """The validation errors of one document, as text (empty when it is valid)."""
    problems = crd_errors(document)
    for path, definition, value in embedded(document) if not problems else ():
        validator = jsonschema.Draft202012Validator(
            {"$ref": f"https://kubernetes.io/api/_definitions.json#/$defs/{definition}"}, registry=REGISTRY)
        set_by_controller = SET_BY_CONTROLLER.get(definition, set())
        problems += [
            f"{'/'.join(map(str, path + tuple(error.absolute_path)))}: {error.message}"
            for error in sorted(validator.iter_errors(value), key=lambda e: list(map(str, e.absolute_path)))
            if not (error.validator == "required" and not error.absolute_path
                    and set(error.validator_value) - set(value) <= set_by_controller)
        ]
    return problems


def crd_errors(document):
    """The validation errors of one document against its CRD's schema (or Kubernetes' own), as text."""
    if not isinstance(document, dict) or "apiVersion" not in document or "kind" not in document:
        return ["not a Kubernetes object (no apiVersion/kind)"]
    try:
        schema = crd_schema(document)
    except LookupError as error:
        return [str(error)]
    if schema is None:
        try:
            kubernetes_validate.validate(document, KUBERNETES, strict=True)
            return []
        except kubernetes_validate.utils.SchemaNotFoundError as error:
            return [error.message]
        except jsonschema.ValidationError as error:
            return [f"{'/'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}"]
    validator = jsonschema.Draft202012Validator(schema, registry=REGISTRY)
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}"
        for error in sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))
    ]


def dotted(path):
    return "".join(f"[{key}]" if isinstance(key, int) else f".{key}" for key in path).lstrip(".")


def under_spec(document, schema):
    """(path, value, sub-schema) of the spec and every object and list in it, breadth first."""
    def child(sub, key):
        if not isinstance(sub, dict):
            return None
        return sub.get("items") if isinstance(key, int) else (sub.get("properties") or {}).get(key)
    queue = [(("spec",), document["spec"], child(schema, "spec"))]
    while queue:
        path, value, sub = queue.pop(0)
        yield path, value, sub
        entries = value.items() if isinstance(value, dict) else enumerate(value)
        queue.extend((path + (key,), item, child(sub, key)) for key, item in entries if isinstance(item, (dict, list)))


def remove(document, path):
    copied = copy.deepcopy(document)
    parent = copied
    for key in path[:-1]:
        parent = parent[key]
    del parent[path[-1]]
    return copied


def with_unknown_field(document, path):
    """A copy with the field `notAField` added to the object at `path`."""
    copied = copy.deepcopy(document)
    target = copied
    for key in path:
        target = target[key]
    target["notAField"] = "x"
    return copied


def broken_copies(document):
    """Copies that must fail: one with an unknown field, one without a required field (and, for a custom
    resource, one without metadata). The unknown field goes into the spec where its schema is strict, else into the
    first strict object under it (a published schema may preserve unknown fields in the spec itself); the required
    field is the first one the schema requires that the document has, looked for breadth first under the spec."""
    schema = crd_schema(document)
    has_spec = isinstance(document.get("spec"), dict) and bool(document["spec"])
    if schema is None:
        unknown = copy.deepcopy(document)
        (unknown["spec"] if has_spec else unknown)["notAField"] = "x"
        yield f"with an unknown field in {'spec' if has_spec else 'the object'}", unknown
        first = {("apps/v1", "StatefulSet"): "selector", ("apps/v1", "Deployment"): "selector",
                 ("batch/v1", "CronJob"): "jobTemplate"}.get(
            (document["apiVersion"], document["kind"]))
        if has_spec and first in document["spec"]:
            yield f"without spec.{first}", remove(document, ("spec", first))
        return
    nodes = list(under_spec(document, schema)) if has_spec else []
    strict = next((path for path, value, sub in nodes if isinstance(value, dict) and isinstance(sub, dict)
                   and sub.get("additionalProperties") is False), ())
    yield f"with an unknown field in {dotted(strict) or 'the object'}", with_unknown_field(document, strict)
    yield "without metadata", remove(document, ("metadata",))
    required = next((path + (key,) for path, value, sub in nodes if isinstance(value, dict) and isinstance(sub, dict)
                     for key in sub.get("required", []) if key in value), None)
    if required:
        yield f"without {dotted(required)}", remove(document, required)
    for path, _, _ in embedded(document):
        yield f"with an unknown field in {dotted(path)}", with_unknown_field(document, path)


def main(arguments):
    files = [pathlib.Path(a) for a in arguments] or sorted(
        p for folder in ("knative", "keda", "fission", "stores") for p in (INFRA / folder).glob("*.yaml"))
    if not files:
        print("validate: no manifests found", file=sys.stderr)
        return 1
    failures = 0
    for problem in stale_schemas():
        print(f"validate: {problem}; regenerate with infra/schemas/extract.py", file=sys.stderr)
        failures += 1
    checked = 0
    probed = {}
    for file in files:
        for index, document in enumerate(yaml.safe_load_all(file.read_text())):
            if document is None:
                continue
            checked += 1
            name = f"{file}: document {index + 1} ({document.get('kind')} {document.get('metadata', {}).get('name')})"
            problems = errors(document)
            for problem in problems:
                print(f"{name}: {problem}", file=sys.stderr)
            failures += bool(problems)
            key = (document.get("apiVersion"), document.get("kind"))
            if not problems and key not in probed:
                refused = []
                for what, broken in broken_copies(document):
                    if errors(broken):
                        refused.append(what)
                    else:
                        print(f"{name}: the schema accepts it {what}; the check cannot fail", file=sys.stderr)
                        failures += 1
                probed[key] = refused
    for (api, kind), refused in sorted(probed.items(), key=lambda item: (item[0][1], item[0][0])):
        print(f"validate: {kind} ({api}) refused " + ", ".join(refused), flush=True)
    kinds = ", ".join(sorted(f"{kind} ({api})" for api, kind in probed))
    print(f"validate: {checked} documents in {len(files)} files, {failures} problems; kinds: {kinds}", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
