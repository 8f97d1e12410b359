import re

import pytest
from openapi_spec_validator import validate

pytestmark = pytest.mark.django_db

ANY_CALL = {
    "400",
    "401",
    "413",
    "429",
    "500",
}  # a malformed request, the key, a big body, the rate limit, a bug


@pytest.fixture
def spec(anonymous):
    response = anonymous.get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.json()


def test_the_openapi_document_is_public_and_valid(spec):
    validate(spec)
    assert spec["info"]["title"] == "Smile loyalty lists API"
    assert spec["info"]["version"] == "1"


def test_every_endpoint_of_the_issue_is_documented(spec):
    operations = {(method.upper(), path) for path, ops in spec["paths"].items() for method in ops}
    assert operations == {
        ("GET", "/api/v1/lists"),
        ("POST", "/api/v1/lists"),
        ("GET", "/api/v1/lists/{list_id}"),
        ("DELETE", "/api/v1/lists/{list_id}"),
        ("POST", "/api/v1/lists/{list_id}/sync"),
        ("GET", "/api/v1/lists/{list_id}/items"),
        ("GET", "/api/v1/lists/{list_id}/members/{email}"),
        ("POST", "/api/v1/lookups"),
        ("GET", "/api/v1/sync-runs"),
        ("GET", "/api/v1/changes"),
        ("GET", "/api/v1/changes/position"),
        ("GET", "/api/v1/webhook-endpoints"),
        ("POST", "/api/v1/webhook-endpoints"),
        ("GET", "/api/v1/webhook-endpoints/{endpoint_id}"),
        ("PATCH", "/api/v1/webhook-endpoints/{endpoint_id}"),
        ("DELETE", "/api/v1/webhook-endpoints/{endpoint_id}"),
        ("POST", "/api/v1/webhook-endpoints/{endpoint_id}/rotate-secret"),
        ("GET", "/api/v1/webhook-endpoints/{endpoint_id}/deliveries"),
        ("POST", "/api/v1/webhook-endpoints/{endpoint_id}/deliveries/{sequence}/replay"),
    }


def test_every_operation_declares_the_errors_it_can_answer_with_the_error_schema_and_needs_a_key(spec):
    assert spec["components"]["securitySchemes"]["ApiKeyAuth"] == {"type": "http", "scheme": "bearer"}
    # beyond ANY_CALL: an id that is not the merchant's (404), a body not sent as JSON (415), a bad value
    expected = {
        ("GET", "/api/v1/lists"): set(),
        ("POST", "/api/v1/lists"): {"404", "415", "422"},
        ("GET", "/api/v1/lists/{list_id}"): {"404", "422"},
        ("DELETE", "/api/v1/lists/{list_id}"): {"404", "422"},
        ("POST", "/api/v1/lists/{list_id}/sync"): {"404", "422"},
        ("GET", "/api/v1/lists/{list_id}/items"): {"404", "422"},
        ("GET", "/api/v1/lists/{list_id}/members/{email}"): {"404", "422"},
        ("POST", "/api/v1/lookups"): {"404", "415", "422"},
        ("GET", "/api/v1/sync-runs"): {"422"},
        # the change feed: a list that is not the merchant's (404), a cursor past retention (410)
        ("GET", "/api/v1/changes"): {"404", "410", "422"},
        ("GET", "/api/v1/changes/position"): set(),
        ("GET", "/api/v1/webhook-endpoints"): set(),
        ("POST", "/api/v1/webhook-endpoints"): {"404", "415", "422"},
        ("GET", "/api/v1/webhook-endpoints/{endpoint_id}"): {"404", "422"},
        ("PATCH", "/api/v1/webhook-endpoints/{endpoint_id}"): {"404", "415", "422"},
        ("DELETE", "/api/v1/webhook-endpoints/{endpoint_id}"): {"404", "422"},
        ("POST", "/api/v1/webhook-endpoints/{endpoint_id}/rotate-secret"): {"404", "422"},
        ("GET", "/api/v1/webhook-endpoints/{endpoint_id}/deliveries"): {"404", "422"},
        ("POST", "/api/v1/webhook-endpoints/{endpoint_id}/deliveries/{sequence}/replay"): {"404", "422"},
    }
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            errors = {status for status in op["responses"] if int(status) >= 400}
            assert errors == ANY_CALL | expected[(method.upper(), path)], (method, path)
            for status in errors:
                schema = op["responses"][status]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorOut"}
            assert op["security"] == [{"ApiKeyAuth": []}]
    assert "204" in spec["paths"]["/api/v1/lists/{list_id}"]["delete"]["responses"]
    assert "201" in spec["paths"]["/api/v1/lists"]["post"]["responses"]
    assert "202" in spec["paths"]["/api/v1/lists/{list_id}/sync"]["post"]["responses"]


def test_the_docs_page_works_offline_and_under_the_csp(anonymous):
    response = anonymous.get("/api/v1/docs")
    assert response.status_code == 200
    html = response.content.decode()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html), (
        "the docs page must not load external assets"
    )
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert scripts
    for attrs, body in scripts:
        assert "src=" in attrs or 'type="application/json"' in attrs, f"inline script: {attrs} {body[:80]}"
        assert "src=" not in attrs or not body.strip()
    for asset in re.findall(r"""<(?:script|link)\b[^>]*?(?:src|href)="([^"]+)""", html):  # not the links
        served = anonymous.get(asset)
        assert served.status_code == 200, asset
        assert b"".join(served.streaming_content)


def test_the_docs_page_gets_the_sites_csp_without_inline_script_allowances(anonymous, settings):
    if "csp.middleware.CSPMiddleware" not in settings.MIDDLEWARE:  # the production engineer's setting
        settings.MIDDLEWARE = [*settings.MIDDLEWARE, "csp.middleware.CSPMiddleware"]
        settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, "csp"]
        settings.CONTENT_SECURITY_POLICY = {
            "DIRECTIVES": {"default-src": ["'self'"], "script-src": ["'self'"]}
        }
    policy = anonymous.get("/api/v1/docs")["Content-Security-Policy"]
    script_src = re.search(r"script-src ([^;]*)", policy).group(1)
    assert "unsafe-inline" not in script_src and "unsafe-eval" not in script_src


def test_only_the_bundled_docs_assets_are_served(anonymous):
    assert anonymous.get("/api/v1/docs/assets/swagger-ui-bundle.js").status_code == 200
    assert anonymous.get("/api/v1/docs/assets/redoc.standalone.js").status_code == 404
    assert anonymous.get("/api/v1/docs/assets/..%2F..%2F__init__.py").status_code == 404


def test_every_example_in_the_document_is_valid_against_its_schema(spec):
    from jsonschema import Draft202012Validator

    checked = 0
    for name, schema in spec["components"]["schemas"].items():
        for example in schema.get("examples", []):
            document = {"$ref": f"#/components/schemas/{name}", "components": spec["components"]}
            validator = Draft202012Validator(document, format_checker=Draft202012Validator.FORMAT_CHECKER)
            validator.validate(example)
            checked += 1
    assert checked >= 9


def test_every_operation_shows_an_example_request_or_answer(spec):
    schemas = spec["components"]["schemas"]
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            shown = [p for p in op.get("parameters", []) if "example" in p]
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
            answers = [
                r["content"]["application/json"]["schema"]
                for status, r in op["responses"].items()
                if status.startswith("2") and "content" in r
            ]
            refs = [s.get("$ref") or s.get("items", {}).get("$ref") for s in [body, *answers]]
            shown += [ref for ref in refs if ref and "examples" in schemas[ref.rsplit("/", 1)[-1]]]
            assert shown or method == "delete", (method, path)
