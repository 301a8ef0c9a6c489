"""Every route of the REST API, assembled in one place (the OpenAPI document comes from here)."""

from __future__ import annotations

from aiohttp import web

from server import paging
from server.handlers import (
    audit,
    auth,
    cluster,
    health,
    me,
    msp,
    org_login,
    org_settings,
    orgs,
    password_requests,
    users,
    vault,
)
from server.handlers.common import public
from server.problem import json_response

API = "/api/v1"

ROUTES = [
    ("GET", "/health", health.health),
    ("GET", "/cluster", cluster.cluster),
    ("POST", "/cluster/enroll", cluster.enroll),
    ("POST", "/cluster/spool", cluster.receive_spool),
    ("POST", "/cluster/anchors", cluster.receive_anchors),
    ("POST", "/auth/login", auth.login),
    ("POST", "/auth/logout", auth.logout),
    ("POST", "/auth/refresh", auth.refresh),
    ("GET", "/me", me.get_me),
    ("POST", "/me/password", me.change_password),
    ("POST", "/me/totp", me.begin_totp),
    ("POST", "/me/totp/confirm", me.confirm_totp),
    ("GET", "/me/api-keys", me.list_api_keys),
    ("POST", "/me/api-keys", me.create_api_key),
    ("DELETE", "/me/api-keys/{key_id}", me.delete_api_key),
    ("GET", "/orgs", orgs.list_orgs),
    ("POST", "/orgs", orgs.create_org),
    ("POST", "/orgs/import", orgs.import_orgs),
    ("GET", "/orgs/{org}", orgs.get_org),
    ("PATCH", "/orgs/{org}", orgs.update_org),
    ("DELETE", "/orgs/{org}", orgs.delete_org),
    ("GET", "/orgs/{org}/report", orgs.report),
    ("GET", "/orgs/{org}/access", orgs.get_access),
    ("DELETE", "/orgs/{org}/access/users/{username}", orgs.revoke_user),
    ("DELETE", "/orgs/{org}/access/groups/{name}", orgs.revoke_group),
    ("GET", "/msp/replicate-settings", msp.get_replicate_settings),
    ("PUT", "/msp/replicate-settings", msp.put_replicate_settings),
    ("POST", "/org-access-requests", orgs.file_request),
    ("GET", "/org-access-requests/eligible-approvers", orgs.eligible_approvers),
    ("GET", "/org-access-requests", orgs.list_requests),
    ("POST", "/org-access-requests/{id}/approve", orgs.approve_request),
    ("POST", "/org-access-requests/{id}/reject", orgs.reject_request),
    ("POST", "/org-access-requests/{id}/cancel", orgs.cancel_request),
    ("GET", "/orgs/{org}/users", users.list_users),
    ("POST", "/orgs/{org}/users", users.create_user),
    ("GET", "/orgs/{org}/users/{username}", users.get_user),
    ("PATCH", "/orgs/{org}/users/{username}", users.update_user),
    ("DELETE", "/orgs/{org}/users/{username}", users.delete_user),
    ("POST", "/orgs/{org}/users/{username}/confirm", users.confirm_user),
    ("GET", "/orgs/{org}/roles", org_settings.list_roles),
    ("POST", "/orgs/{org}/roles", org_settings.create_role),
    ("PATCH", "/orgs/{org}/roles/{name}", org_settings.update_role),
    ("DELETE", "/orgs/{org}/roles/{name}", org_settings.delete_role),
    ("GET", "/orgs/{org}/resource-types", org_settings.list_types),
    ("POST", "/orgs/{org}/resource-types", org_settings.create_type),
    ("DELETE", "/orgs/{org}/resource-types/{name}", org_settings.delete_type),
    ("GET", "/orgs/{org}/field-definitions", org_settings.list_definitions),
    ("POST", "/orgs/{org}/field-definitions", org_settings.create_definition),
    ("DELETE", "/orgs/{org}/field-definitions/{id}", org_settings.delete_definition),
    ("GET", "/orgs/{org}/groups", users.list_groups),
    ("POST", "/orgs/{org}/groups", users.create_group),
    ("GET", "/orgs/{org}/groups/{name}", users.get_group),
    ("PATCH", "/orgs/{org}/groups/{name}", users.update_group),
    ("DELETE", "/orgs/{org}/groups/{name}", users.delete_group),
    ("GET", "/orgs/{org}/resources", vault.list_resources),
    ("POST", "/orgs/{org}/resources", vault.create_resource),
    ("GET", "/orgs/{org}/resources/{id}", vault.get_resource),
    ("PATCH", "/orgs/{org}/resources/{id}", vault.update_resource),
    ("DELETE", "/orgs/{org}/resources/{id}", vault.delete_resource),
    ("POST", "/orgs/{org}/resources/{id}/accounts", vault.create_account),
    ("GET", "/orgs/{org}/resources/{id}/shares", vault.list_shares),
    ("POST", "/orgs/{org}/resources/{id}/shares", vault.add_share),
    ("DELETE", "/orgs/{org}/resources/{id}/shares/{share_id}", vault.remove_share),
    ("GET", "/orgs/{org}/accounts/{id}", vault.get_account),
    ("PATCH", "/orgs/{org}/accounts/{id}", vault.update_account),
    ("DELETE", "/orgs/{org}/accounts/{id}", vault.delete_account),
    ("POST", "/orgs/{org}/accounts/{id}/reveal", vault.reveal),
    ("PUT", "/orgs/{org}/accounts/{id}/password", vault.change_password),
    ("GET", "/orgs/{org}/accounts/{id}/access-control", password_requests.get_account_control),
    ("PUT", "/orgs/{org}/accounts/{id}/access-control", password_requests.put_account_control),
    ("GET", "/orgs/{org}/resources/{id}/access-control", password_requests.get_resource_control),
    ("PUT", "/orgs/{org}/resources/{id}/access-control", password_requests.put_resource_control),
    ("POST", "/orgs/{org}/password-requests", password_requests.file_request),
    ("GET", "/orgs/{org}/password-requests", password_requests.list_requests),
    ("POST", "/orgs/{org}/password-requests/{id}/approve", password_requests.approve),
    ("POST", "/orgs/{org}/password-requests/{id}/reject", password_requests.reject),
    ("POST", "/orgs/{org}/password-requests/{id}/withdraw", password_requests.withdraw),
    ("POST", "/orgs/{org}/password-requests/{id}/check-in", password_requests.check_in),
    ("GET", "/orgs/{org}/password-holds", password_requests.list_holds),
    ("GET", "/orgs/{org}/accounts/{id}/shares", vault.list_shares),
    ("POST", "/orgs/{org}/accounts/{id}/shares", vault.add_share),
    ("DELETE", "/orgs/{org}/accounts/{id}/shares/{share_id}", vault.remove_share),
    ("GET", "/orgs/{org}/resource-groups", vault.list_resource_groups),
    ("POST", "/orgs/{org}/resource-groups", vault.create_resource_group),
    ("GET", "/orgs/{org}/resource-groups/{name}", vault.get_resource_group),
    ("PATCH", "/orgs/{org}/resource-groups/{name}", vault.update_resource_group),
    ("DELETE", "/orgs/{org}/resource-groups/{name}", vault.delete_resource_group),
    ("GET", "/orgs/{org}/resource-groups/{name}/shares", vault.list_shares),
    ("POST", "/orgs/{org}/resource-groups/{name}/shares", vault.add_share),
    ("DELETE", "/orgs/{org}/resource-groups/{name}/shares/{share_id}", vault.remove_share),
    ("GET", "/orgs/{org}/password-policies", vault.list_policies),
    ("POST", "/orgs/{org}/password-policies", vault.create_policy),
    ("POST", "/orgs/{org}/password-policies/{name}/generate", vault.generate_password),
    ("GET", "/orgs/{org}/audit", audit.list_audit),
    ("GET", "/orgs/{org}/audit/verify", audit.verify_audit),
    ("GET", "/orgs/{org}/audit/settings", audit.get_audit_settings),
    ("PUT", "/orgs/{org}/audit/settings", audit.put_audit_settings),
    ("GET", "/orgs/{org}/audit/alerts", audit.list_alerts),
    ("POST", "/orgs/{org}/audit/purge", audit.purge_audit),
]


def openapi_document() -> dict:
    """OpenAPI 3.1 for the routes above, summaries taken from the handlers' docstrings."""
    paths: dict[str, dict] = {}
    for method, path, handler in ROUTES:
        summary = (handler.__doc__ or "").strip().splitlines()[0] if handler.__doc__ else ""
        params = [
            {"name": part[1:-1], "in": "path", "required": True, "schema": {"type": "string"}}
            for part in path.split("/")
            if part.startswith("{")
        ]
        if getattr(handler, "paged", False):
            params += [
                {
                    "name": "limit",
                    "in": "query",
                    "schema": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": paging.MAX_LIMIT,
                        "default": paging.DEFAULT_LIMIT,
                    },
                },
                {"name": "cursor", "in": "query", "schema": {"type": "string"}},
            ]
        operation = {
            "operationId": f"{handler.__module__.rsplit('.', 1)[-1]}_{handler.__name__}",
            "summary": summary,
            "parameters": params,
            "responses": {
                "default": {
                    "description": "problem+json on failure",
                    "content": {"application/problem+json": {}},
                },
            },
        }
        if getattr(handler, "public", False):
            operation["security"] = []
        paths.setdefault(API + path, {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "Strongroom REST API", "version": "1"},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
        "paths": paths,
    }


@public
async def openapi(request: web.Request) -> web.Response:
    """This API as an OpenAPI 3.1 document."""
    return json_response(openapi_document())


def setup_routes(app: web.Application) -> None:
    """Register the API's routes on ``app``."""
    for method, path, handler in ROUTES:
        app.router.add_route(method, API + path, handler)
    app.router.add_get(API + "/openapi.json", openapi)
    # Last: a client org's login address, https://host:7272/<display_name>.
    app.router.add_get("/{display_name:[A-Za-z0-9]{1,64}}", org_login.org_login)
