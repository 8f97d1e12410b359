"""Validate JSON bodies against Smile's published OpenAPI spec (``smile-openapi.yml``, OpenAPI 3.1).

Test-only helper (needs ``jsonschema`` + ``pyyaml``; the server never imports it). Response schemas
are taken from the spec's paths and resolved with a JSON Schema 2020-12 validator (3.1 schemas are
2020-12 with ``type: [x, "null"]`` instead of 3.0's ``nullable``). Formats (date-time, date) are checked.

Deliberate deviation: the spec types ``Customer.email`` as a non-null string, but Smile's own FAQ
and Loop's integration say some customers have no email, so the sandbox sends ``null`` for ~1 %.
``validate(..., allow_null_email=True)`` ignores exactly those errors (and nothing else).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_PATH = Path(__file__).resolve().parents[2] / "integrations" / "smile" / "sandbox" / "smile-openapi.yml"
SPEC_URI = "urn:smile-openapi"
# Smile's documented REST error body (dev.smile.io/api/errors); the spec has no schema for it.
ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "additionalProperties": False,
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "request_id"],
            "additionalProperties": False,
            "properties": {
                "message": {"type": "string", "minLength": 1},
                "request_id": {"type": "string", "format": "uuid"},
            },
        }
    },
}


@lru_cache(maxsize=1)
def load_spec() -> dict:
    return yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _registry() -> Registry:
    return Registry().with_resource(SPEC_URI, Resource(contents=load_spec(), specification=DRAFT202012))


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


@lru_cache(maxsize=32)
def response_validator(path: str, method: str = "get", status: str = "200") -> Draft202012Validator:
    """Validator for a documented response, e.g. ``response_validator("/customers")``."""
    load_spec()["paths"][path][method]["responses"][status]  # KeyError for undocumented responses
    pointer = "/".join(
        [
            "paths",
            _escape(path),
            method,
            "responses",
            status,
            "content",
            _escape("application/json"),
            "schema",
        ]
    )
    return Draft202012Validator(
        {"$ref": f"{SPEC_URI}#/{pointer}"},
        registry=_registry(),
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def error_validator() -> Draft202012Validator:
    return Draft202012Validator(ERROR_SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)


def errors(validator: Draft202012Validator, payload, *, allow_null_email: bool = True) -> list[str]:
    """Every schema violation as 'path: message' (empty when valid)."""
    out = []
    for err in validator.iter_errors(payload):
        if allow_null_email and err.path and err.path[-1] == "email" and err.instance is None:
            continue
        out.append(f"{'/'.join(str(p) for p in err.path)}: {err.message}")
    return out


def customer_properties() -> set[str]:
    return set(load_spec()["components"]["schemas"]["Customer"]["properties"])


def vip_status_properties() -> set[str]:
    return set(load_spec()["components"]["schemas"]["Customer"]["properties"]["vip_status"]["properties"])


def documents(schema: dict, *, formats: dict | None = None, extra_keys: bool = True):
    """A Hypothesis strategy of JSON documents the (OpenAPI 3.1) ``schema`` allows: every property
    present or missing (unless ``required``), ``type: [x, "null"]`` as either, enums, ``minimum`` /
    ``maximum``, ``pattern``, formats from ``formats`` (else any string), ``$ref`` into the spec's
    components, and — where the schema does not forbid them — extra properties of any JSON value.
    (The subset Smile's schemas use; hypothesis-jsonschema would do, but does not run on this
    Hypothesis.)"""
    from hypothesis import strategies as st

    formats = formats or {}
    json_values = st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
        max_leaves=6,
    )

    def build(node: dict):
        if "$ref" in node:
            return st.deferred(lambda: build(_resolve(node["$ref"])))
        if "enum" in node:
            return st.sampled_from(node["enum"])
        types = node.get("type", ["object"] if "properties" in node else None)
        if types is None:
            return json_values
        types = [types] if isinstance(types, str) else types
        return st.one_of(*(of_type(t, node) for t in types))

    def of_type(kind: str, node: dict):
        if kind == "null":
            return st.none()
        if kind == "boolean":
            return st.booleans()
        if kind == "integer":
            return st.integers(min_value=node.get("minimum"), max_value=node.get("maximum"))
        if kind == "number":
            floats = st.floats(
                node.get("minimum"), node.get("maximum"), allow_nan=False, allow_infinity=False
            )
            return floats | st.integers(min_value=node.get("minimum"), max_value=node.get("maximum"))
        if kind == "string":
            if node.get("format") in formats:
                return formats[node["format"]]
            if "pattern" in node:
                return st.from_regex(node["pattern"], fullmatch=True)
            return st.text()
        if kind == "array":
            return st.lists(build(node.get("items", {})), max_size=3)
        properties = {name: build(sub) for name, sub in node.get("properties", {}).items()}
        required = set(node.get("required", ()))
        known = st.fixed_dictionaries(
            {k: v for k, v in properties.items() if k in required},
            optional={k: v for k, v in properties.items() if k not in required},
        )
        if not extra_keys or node.get("additionalProperties") is False:
            return known
        extra = st.dictionaries(
            st.text(max_size=12).filter(lambda k: k not in properties), json_values, max_size=3
        )
        return st.tuples(extra, known).map(lambda pair: pair[0] | pair[1])

    return build(schema)


def _resolve(ref: str) -> dict:
    node = load_spec()
    for token in ref.removeprefix("#/").split("/"):
        node = node[token.replace("~1", "/").replace("~0", "~")]
    return node
