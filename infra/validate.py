#!/usr/bin/env python3
"""Validates the Kubernetes manifests of infra/ offline (no cluster needed).

Core kinds (CronJob, StatefulSet, Service, ...) are checked with the Kubernetes JSON schemas bundled by the
`kubernetes-validate` package, strictly (unknown fields are errors). Knative and KEDA kinds are checked with the
hand-written schemas in infra/schemas/<group>/<kind>-<version>.json, which embed the Kubernetes definitions for
what they carry (a KEDA ScaledJob's JobSpec, a Knative Service's containers). A kind with no schema is an error.

Before trusting the result it proves it can fail: for every kind it validates a copy with an unknown field and a
copy without a required field, and stops if either passes.

Usage: infra/validate.py [FILE.yaml ...]   (default: infra/{knative,keda,stores}/*.yaml)
"""
import copy
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


def errors(document):
    """The validation errors of one document, as text (empty when it is valid)."""
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


def broken_copies(document):
    """Copies that must fail: an unknown field in the spec (or at the top) and a missing required field."""
    unknown = copy.deepcopy(document)
    (unknown["spec"] if isinstance(unknown.get("spec"), dict) else unknown)["notAField"] = "x"
    yield "with an unknown field", unknown
    if crd_schema(document) is not None:
        missing = copy.deepcopy(document)
        del missing["metadata"]
        yield "without metadata", missing
    if isinstance(document.get("spec"), dict) and document["spec"]:
        required = copy.deepcopy(document)
        first = {
            ("serving.knative.dev/v1", "Service"): "template",
            ("eventing.knative.dev/v1", "Trigger"): "subscriber",
            ("keda.sh/v1alpha1", "ScaledJob"): "jobTargetRef",
            ("keda.sh/v1alpha1", "TriggerAuthentication"): None,
            ("sources.knative.dev/v1", "SinkBinding"): "sink",
            ("apps/v1", "StatefulSet"): "selector",
            ("batch/v1", "CronJob"): "jobTemplate",
        }.get((document["apiVersion"], document["kind"]))
        if first and first in required["spec"]:
            del required["spec"][first]
            yield f"without spec.{first}", required


def main(arguments):
    files = [pathlib.Path(a) for a in arguments] or sorted(
        p for folder in ("knative", "keda", "stores") for p in (INFRA / folder).glob("*.yaml"))
    if not files:
        print("validate: no manifests found", file=sys.stderr)
        return 1
    failures = 0
    checked = 0
    probed = set()
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
                probed.add(key)
                for what, broken in broken_copies(document):
                    if not errors(broken):
                        print(f"{name}: the schema accepts it {what}; the check cannot fail", file=sys.stderr)
                        failures += 1
    kinds = ", ".join(sorted(f"{kind} ({api})" for api, kind in probed))
    print(f"validate: {checked} documents in {len(files)} files, {failures} invalid; kinds: {kinds}", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
