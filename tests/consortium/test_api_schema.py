"""What the OpenAPI schema promises, checked over every operation: one list envelope."""

import pytest
from drf_spectacular.generators import SchemaGenerator

METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def _resolve(schema, node):
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def _operations(schema):
    for path, item in schema["paths"].items():
        for method in METHODS:
            if method in item:
                yield f"{method.upper()} {path}", item[method]


def test_every_list_is_documented_as_the_paginated_envelope(schema):
    """No operation answers a bare array: lists come as {count, next, previous, results}."""
    lists = []
    for name, operation in _operations(schema):
        for code, response in operation["responses"].items():
            body = response.get("content", {}).get("application/json", {}).get("schema")
            if not code.startswith("2") or body is None:
                continue
            body = _resolve(schema, body)
            assert body.get("type") != "array", f"{name} {code} answers a bare array"
            if "results" in body.get("properties", {}):
                lists.append(name)
                assert {"count", "next", "previous", "results"} <= set(body["properties"]), name
                assert {"count", "results"} <= set(body["required"]), name
                assert body["properties"]["results"]["type"] == "array", name
    for expected in (
        "GET /api/v1/directory/groups/",
        "GET /api/v1/registry/patients/{register_number}/episodes/",
        "GET /api/v1/registry/episodes/{episode_id}/surgeries/",
        "GET /api/v1/registry/episodes/{episode_id}/markers/",
        "GET /api/v1/registry/worklist/",
        "GET /api/v1/screening/requests/{request_id}/samples/",
        "GET /api/v1/screening/shipments/{shipment_id}/handovers/",
        "GET /api/v1/screening/shipments/{shipment_id}/readings/",
        "GET /api/v1/screening/requests/{request_id}/reports/",
        "GET /api/v1/trials/matches/",
    ):
        assert expected in lists, expected


def test_every_operation_documents_the_shared_errors_in_the_one_error_shape(schema):
    error = schema["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"message", "extra"}
    for name, operation in _operations(schema):
        method = name.split()[0]
        public = name.startswith("GET /api/v1/directory/")
        expected = {"400", "404", "429", "503"}
        expected |= set() if public else {"401", "403"}
        expected |= {"409"} if method != "GET" else set()
        expected |= {"415"} if method in ("POST", "PUT", "PATCH") else set()
        documented = {
            code
            for code, response in operation["responses"].items()
            if response.get("content", {}).get("application/json", {}).get("schema")
            == {"$ref": "#/components/schemas/Error"}
            and response["description"]
        }
        assert documented == expected, name


@pytest.mark.django_db
def test_an_api_url_without_a_route_answers_in_the_error_shape(client):
    response = client.get("/api/v1/registry/episodes/-5/")  # <int:> takes no sign
    assert response.status_code == 404
    assert response.json() == {"message": "Not found.", "extra": {}}
    page = client.get("/no-such-page/")
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")


def test_each_register_section_documents_its_own_fields(schema):
    """The section views are built from one base class; each must keep its own schema."""
    for section, component in [
        ("surgeries", "Surgery"),
        ("radiotherapy", "RadiotherapyCourse"),
        ("systemic", "SystemicTherapy"),
        ("performance", "PerformanceStatus"),
        ("follow-ups", "FollowUp"),
    ]:
        path = f"/api/v1/registry/episodes/{{episode_id}}/{section}/"
        listed = _resolve(
            schema,
            schema["paths"][path]["get"]["responses"]["200"]["content"]["application/json"][
                "schema"
            ],
        )
        assert listed["properties"]["results"]["items"] == {
            "$ref": f"#/components/schemas/{component}"
        }, section
        detail = schema["paths"][path + "{id}/"]["get"]["responses"]["200"]["content"][
            "application/json"
        ]["schema"]
        assert detail == {"$ref": f"#/components/schemas/{component}"}, section
