"""The OpenAPI document is generated from the handlers' models and stays in step with the
routes: every route documented with its parameters, body and answers."""

from __future__ import annotations

from server.core import permissions
from server.web.routes import ROOT_ROUTES, ROUTES


async def test_openapi_lists_every_route(api, live_server):
    """Every route the server answers (the API and the org login address) is in
    openapi.json, and nothing else."""
    status, doc = await api.call("GET", "/openapi.json")
    assert status == 200
    assert doc["openapi"].startswith("3.1")
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    served = set()
    for route in live_server.app.router.routes():
        path = route.resource.canonical if route.resource else ""
        if route.method not in ("HEAD", "*") and path:
            served.add((route.method, path))
    assert served == documented
    login = doc["paths"]["/api/v1/auth/login"]["post"]
    assert login["security"] == []
    assert login["summary"]
    assert "/{display_name}" in doc["paths"]


async def test_every_operation_documents_body_answers_and_errors(api):
    """Each operation names its success answers (a schema, or none for 204), its problem
    answers, its parameters with types, and a JSON body wherever the handler reads one."""
    _, doc = await api.call("GET", "/openapi.json")
    schemas = doc["components"]["schemas"]
    for method, path, handler in [*ROUTES, *ROOT_ROUTES]:
        full = path if path.startswith("/{") else "/api/v1" + path
        op = doc["paths"][full][method.lower()]
        spec = handler.spec
        assert spec.answers, (method, path)
        for status, model in spec.answers.items():
            answer = op["responses"][str(status)]
            if model is None:
                assert "content" not in answer, (method, path, status)
            else:
                ref = answer["content"]["application/json"]["schema"]["$ref"]
                assert ref.rsplit("/", 1)[-1] in schemas
        errors = [s for s in op["responses"] if s.startswith(("4", "5"))]
        assert "400" in errors and "500" in errors
        for status in errors:
            content = op["responses"][status]["content"]["application/problem+json"]
            assert content["schema"]["$ref"].endswith("/Problem")
        for param in op["parameters"]:
            assert param["schema"].get("type"), (method, path, param)
        if method in ("POST", "PUT", "PATCH") and (spec.body or spec.raw_body):
            assert op["requestBody"]["content"], (method, path)
        if "{" in full:
            assert any(p["in"] == "path" for p in op["parameters"])
        assert ("security" in op) == bool(getattr(handler, "public", False))


async def test_every_write_with_a_body_declares_it(api):
    """POST/PUT/PATCH operations that take input declare a body model (none reads raw JSON)."""
    bodiless = {
        ("POST", "/auth/logout"),
        ("POST", "/auth/refresh"),
        ("POST", "/orgs/{org}/users/{username}/confirm"),
        ("POST", "/orgs/{org}/password-policies/{name}/generate"),
        ("POST", "/orgs/{org}/password-requests/{id}/withdraw"),
        ("POST", "/orgs/{org}/password-requests/{id}/check-in"),
        ("POST", "/orgs/{org}/access-control-requests/{id}/withdraw"),
        ("POST", "/orgs/{org}/audit/purge"),
        ("POST", "/orgs/deleted/{id}/restore"),
        ("POST", "/cluster/nodes/{name}/remove"),
        ("POST", "/orgs/{org}/directory/test"),
        ("POST", "/orgs/{org}/directory/sync"),
        ("POST", "/orgs/{org}/siem-destinations/{id}/test"),
        ("POST", "/orgs/{org}/resources/{id}/connection/scan"),
        ("POST", "/orgs/{org}/accounts/{id}/rotation/verify"),
        ("POST", "/cluster/spool/collect"),
    }
    for method, path, handler in ROUTES:
        if method in ("POST", "PUT", "PATCH") and (method, path) not in bodiless:
            assert handler.spec.body or handler.spec.raw_body, (method, path)


async def test_every_list_route_is_paged_and_documented(api):
    """A route that lists things takes ?limit= and ?cursor=, and OpenAPI says so."""
    lists = [(m, p) for m, p, h in ROUTES if h.__name__.startswith("list_")]  # {"items": …}
    assert len(lists) >= 10
    _, doc = await api.call("GET", "/openapi.json")
    for method, path in lists:
        params = {p["name"] for p in doc["paths"]["/api/v1" + path][method.lower()]["parameters"]}
        assert {"limit", "cursor"} <= params, path
        limit = next(
            p
            for p in doc["paths"]["/api/v1" + path][method.lower()]["parameters"]
            if p["name"] == "limit"
        )
        assert (limit["schema"]["minimum"], limit["schema"]["maximum"]) == (1, 1000)
    me = doc["paths"]["/api/v1/me"]["get"]["parameters"]
    assert "limit" not in {p["name"] for p in me}


async def test_me_documents_capabilities_per_org(api):
    """GET /me's ``capabilities``: org display name -> list of capability names, each one
    of permissions.ORG_CAPABILITIES, described for a reader."""
    _, doc = await api.call("GET", "/openapi.json")
    me = doc["components"]["schemas"]["Me"]
    assert "capabilities" in me["required"]
    caps = me["properties"]["capabilities"]
    assert caps["type"] == "object" and "display name" in caps["description"]
    names = caps["additionalProperties"]["items"]
    assert set(names["enum"]) == set(permissions.ORG_CAPABILITIES)


async def test_resource_group_bodies_document_extend_shares(api):
    """Adding resources to a shared resource group: ``extend_shares`` in both bodies and
    409 shares_would_extend among the answers."""
    _, doc = await api.call("GET", "/openapi.json")
    schemas = doc["components"]["schemas"]
    for model in ("ResourceGroupCreate", "ResourceGroupUpdate"):
        prop = schemas[model]["properties"]["extend_shares"]
        assert prop["type"] == "boolean" and "shares_would_extend" in prop["description"]
    for method in ("post", "patch"):
        path = "/api/v1/orgs/{org}/resource-groups" + ("/{name}" if method == "patch" else "")
        assert (
            "shares_would_extend" in doc["paths"][path][method]["responses"]["409"]["description"]
        )
