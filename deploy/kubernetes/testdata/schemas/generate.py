#!/usr/bin/env python3
"""Writes the vendored JSON schemas kubeconform validates deploy/kubernetes against.

The files are what yannh/kubernetes-json-schema publishes as
<version>-standalone-strict/<kind>[-<group>]-<version>.json (kubeconform's
default schema source), made the same way its generator (openapi2jsonschema
--expanded --kubernetes --stand-alone --strict) makes them, from the same
input: api/openapi-spec/swagger.json of the Kubernetes release. That file
comes with the k8s.io/kubernetes module, so the Go module proxy is the only
network needed:

  v=v1.35.4
  dir=$(cd /tmp && go mod download -json k8s.io/kubernetes@$v | jq -r .Dir)
  python3 deploy/kubernetes/testdata/schemas/generate.py "$dir/api/openapi-spec/swagger.json" "$v"

Only the kinds the manifests use are written (TYPES below); a manifest with
another kind fails validation until its type is added here. Standard
library only. Nothing in CI runs this: the output is committed.
"""

import json
import os
import sys

# OpenAPI definition names of the kinds deploy/kubernetes uses.
TYPES = [
    "io.k8s.api.apps.v1.Deployment",
    "io.k8s.api.core.v1.ConfigMap",
    "io.k8s.api.core.v1.PersistentVolumeClaim",
    "io.k8s.api.core.v1.Secret",
    "io.k8s.api.core.v1.Service",
    "io.k8s.api.networking.v1.NetworkPolicy",
]

PREFIX = "_definitions.json"


# The four transformations below are openapi2jsonschema's (util.py), kept
# as they are so the output matches the published schemas.

def additional_properties(data):
    """additionalProperties: false on every object schema that has properties (mutates, like upstream)."""
    new = {}
    try:
        for k, v in data.items():
            new_v = v
            if isinstance(v, dict):
                if "properties" in v:
                    if "additionalProperties" not in v:
                        v["additionalProperties"] = False
                new_v = additional_properties(v)
            new[k] = new_v
        return new
    except AttributeError:
        return data


def replace_int_or_string(data):
    new = {}
    try:
        for k, v in data.items():
            new_v = v
            if isinstance(v, dict):
                if "format" in v and v["format"] == "int-or-string":
                    new_v = {"oneOf": [{"type": "string"}, {"type": "integer"}]}
                else:
                    new_v = replace_int_or_string(v)
            elif isinstance(v, list):
                new_v = [replace_int_or_string(x) for x in v]
            new[k] = new_v
        return new
    except AttributeError:
        return data


def allow_null_optional_fields(data, parent=None, grand_parent=None, key=None):
    """A field not listed in its object's required may be null."""
    new = {}
    try:
        for k, v in data.items():
            new_v = v
            if isinstance(v, dict):
                new_v = allow_null_optional_fields(v, data, parent, k)
            elif isinstance(v, list):
                new_v = [allow_null_optional_fields(x, v, parent, k) for x in v]
            elif isinstance(v, str):
                is_non_null_type = k == "type" and v != "null"
                has_required_fields = grand_parent and "required" in grand_parent
                is_required_field = has_required_fields and key in grand_parent["required"]
                if is_non_null_type and not is_required_field:
                    new_v = [v, "null"]
            new[k] = new_v
        return new
    except AttributeError:
        return data


def change_dict_values(d, prefix):
    """Points every $ref at the shared definitions file."""
    new = {}
    try:
        for k, v in d.items():
            new_v = v
            if isinstance(v, dict):
                new_v = change_dict_values(v, prefix)
            elif isinstance(v, list):
                new_v = [change_dict_values(x, prefix) for x in v]
            elif isinstance(v, str) and k == "$ref":
                new_v = prefix + v
            new[k] = new_v
        return new
    except AttributeError:
        return d


def append_no_duplicates(obj, key, value):
    if key not in obj:
        obj[key] = []
    if value not in obj[key]:
        obj[key].append(value)


def replace_refs(node, definitions):
    """What jsonref.JsonRef.replace_refs does here: a {"$ref": ...} object,
    siblings and all, becomes the (itself dereferenced) definition. Inside
    the definitions file, references are relative to it: "#/definitions/..."."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            name = ref.removeprefix(PREFIX)
            if not name.startswith("#/definitions/"):
                raise ValueError("unexpected $ref " + ref)
            return replace_refs(definitions[name[len("#/definitions/"):]], definitions)
        return {k: replace_refs(v, definitions) for k, v in node.items()}
    if isinstance(node, list):
        return [replace_refs(x, definitions) for x in node]
    return node


def file_name(title):
    parts = title.split(".")
    kind, group, version = parts[-1].lower(), parts[-3].lower(), parts[-2].lower()
    if group in ("core", "api"):
        return "%s-%s.json" % (kind, version)
    return "%s-%s-%s.json" % (kind, group, version)


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit("usage: generate.py SWAGGER_JSON VERSION [--not-strict]")
    swagger, version = sys.argv[1], sys.argv[2]
    strict = len(sys.argv) == 3
    with open(swagger) as f:
        data = json.load(f)
    definitions = data["definitions"]
    definitions["io.k8s.apimachinery.pkg.util.intstr.IntOrString"] = {
        "oneOf": [{"type": "string"}, {"type": "integer"}]
    }
    definitions["io.k8s.apimachinery.pkg.api.resource.Quantity"] = {
        "oneOf": [{"type": "string"}, {"type": "number"}]
    }
    for type_def in definitions.values():
        if "properties" not in type_def:
            continue
        for gvk in type_def.get("x-kubernetes-group-version-kind", []):
            if "apiVersion" in type_def["properties"]:
                api_version = gvk["group"] + "/" + gvk["version"] if gvk["group"] else gvk["version"]
                append_no_duplicates(type_def["properties"]["apiVersion"], "enum", api_version)
            if "kind" in type_def["properties"]:
                append_no_duplicates(type_def["properties"]["kind"], "enum", gvk["kind"])
    if strict:
        additional_properties(definitions)
    # Upstream writes _definitions.json and resolves against that file:
    # a snapshot taken here.
    shared = json.loads(json.dumps(definitions))

    out = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                       version + ("-standalone-strict" if strict else "-standalone"))
    os.makedirs(out, exist_ok=True)
    for title in TYPES:
        spec = definitions[title]
        spec["$schema"] = "http://json-schema.org/schema#"
        spec.setdefault("type", "object")
        if strict:
            spec["additionalProperties"] = False
        spec = change_dict_values(spec, PREFIX)
        spec = replace_refs(spec, shared)
        if strict and "properties" in spec:
            spec["properties"] = additional_properties(spec["properties"])
        if "properties" in spec:
            props = replace_int_or_string(spec["properties"])
            spec["properties"] = allow_null_optional_fields(props)
        path = os.path.join(out, file_name(title))
        with open(path, "w") as f:
            json.dump(spec, f, indent=2)
        print(path)


if __name__ == "__main__":
    main()
