"""Every route of the REST API, assembled in one place (the OpenAPI document comes from here)."""

from __future__ import annotations

import functools
from typing import Any

from aiohttp import web

from server.web.api import operation
from server.web.handlers import (
    audit,
    auth,
    cluster,
    directory,
    health,
    me,
    msp,
    notifications,
    org_login,
    org_settings,
    orgs,
    password_requests,
    recordings,
    rotation,
    security,
    siem,
    ssh_keys,
    users,
    vault,
)
from server.web.handlers.common import public, works_read_only
from server.web.models.common import OpenApiDocument
from server.web.openapi import build as build_openapi
from server.web.problem import json_response

API = "/api/v1"

ROUTES = [
    ("GET", "/health", health.health),
    ("GET", "/cluster", cluster.cluster),
    ("POST", "/cluster/enroll", cluster.enroll),
    ("POST", "/cluster/spool", cluster.receive_spool),
    ("POST", "/cluster/spool/collect", cluster.hand_over_spool),
    ("POST", "/cluster/standby-stopping", cluster.standby_stopping),
    ("POST", "/cluster/spool/delivered", cluster.spool_delivered),
    ("POST", "/cluster/sessions", cluster.receive_sessions),
    ("POST", "/cluster/anchors", cluster.receive_anchors),
    ("POST", "/cluster/remove-node", cluster.remove_node_by_peer),
    ("POST", "/cluster/nodes/{name}/remove", cluster.remove_node),
    ("POST", "/auth/login", auth.login),
    ("POST", "/auth/logout", auth.logout),
    ("POST", "/auth/refresh", auth.refresh),
    ("GET", "/me", me.get_me),
    ("POST", "/me/notices/acknowledge", me.acknowledge_notices),
    ("POST", "/me/password", me.change_password),
    ("POST", "/me/totp", me.begin_totp),
    ("POST", "/me/totp/confirm", me.confirm_totp),
    ("POST", "/me/totp/disable", me.disable_totp),
    ("POST", "/me/totp/recovery-codes", security.regenerate_recovery_codes),
    ("GET", "/me/api-keys", me.list_api_keys),
    ("POST", "/me/api-keys", me.create_api_key),
    ("DELETE", "/me/api-keys/{key_id}", me.delete_api_key),
    ("GET", "/me/ssh-keys", ssh_keys.list_ssh_keys),
    ("POST", "/me/ssh-keys", ssh_keys.add_ssh_key),
    ("DELETE", "/me/ssh-keys/{key_id}", ssh_keys.delete_ssh_key),
    ("GET", "/orgs", orgs.list_orgs),
    ("POST", "/orgs", orgs.create_org),
    ("POST", "/orgs/import", orgs.import_orgs),
    ("GET", "/orgs/deleted", security.list_deleted_orgs),
    ("POST", "/orgs/deleted/{id}/restore", security.restore_deleted_org),
    ("GET", "/orgs/{org}", orgs.get_org),
    ("PATCH", "/orgs/{org}", orgs.update_org),
    ("DELETE", "/orgs/{org}", orgs.delete_org),
    ("GET", "/orgs/{org}/report", orgs.report),
    ("GET", "/orgs/{org}/delete-preview", security.delete_preview),
    ("GET", "/orgs/{org}/security-settings", security.get_security_settings),
    ("GET", "/orgs/{org}/share-targets", security.share_targets),
    ("PUT", "/orgs/{org}/security-settings", security.put_security_settings),
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
    ("DELETE", "/orgs/{org}/users/{username}/totp", security.reset_user_totp),
    ("POST", "/orgs/{org}/users/{username}/activation", users.issue_activation),
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
    ("GET", "/orgs/{org}/directory", directory.get_directory),
    ("PUT", "/orgs/{org}/directory", directory.put_directory),
    ("DELETE", "/orgs/{org}/directory", directory.delete_directory),
    ("POST", "/orgs/{org}/directory/test", directory.test_directory),
    ("POST", "/orgs/{org}/directory/sync", directory.sync_directory),
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
    # Passwords changed on the systems they open (issue 29).
    ("GET", "/connectors", rotation.list_connectors),
    ("GET", "/orgs/{org}/resources/{id}/connection", rotation.get_connection),
    ("PUT", "/orgs/{org}/resources/{id}/connection", rotation.set_connection),
    ("DELETE", "/orgs/{org}/resources/{id}/connection", rotation.delete_connection),
    ("POST", "/orgs/{org}/resources/{id}/connection/scan", rotation.scan_host_key),
    ("PUT", "/orgs/{org}/resources/{id}/rotation-schedule", rotation.set_resource_schedule),
    ("POST", "/orgs/{org}/accounts/{id}/rotation/reset", rotation.reset),
    ("POST", "/orgs/{org}/accounts/{id}/rotation/verify", rotation.verify),
    ("GET", "/orgs/{org}/accounts/{id}/password-history", rotation.list_history),
    (
        "POST",
        "/orgs/{org}/accounts/{id}/password-history/{history_id}/reveal",
        rotation.reveal_history,
    ),
    ("PUT", "/orgs/{org}/accounts/{id}/rotation-schedule", rotation.set_account_schedule),
    ("PUT", "/orgs/{org}/resource-groups/{name}/rotation-schedule", rotation.set_group_schedule),
    ("GET", "/orgs/{org}/rotation-report", rotation.report),
    ("GET", "/orgs/{org}/accounts/{id}/access-control", password_requests.get_account_control),
    ("PUT", "/orgs/{org}/accounts/{id}/access-control", password_requests.put_account_control),
    ("GET", "/orgs/{org}/resources/{id}/access-control", password_requests.get_resource_control),
    ("PUT", "/orgs/{org}/resources/{id}/access-control", password_requests.put_resource_control),
    ("POST", "/orgs/{org}/password-requests", password_requests.file_request),
    ("GET", "/orgs/{org}/password-requests", password_requests.list_requests),
    (
        "GET",
        "/orgs/{org}/password-requests/eligible-approvers",
        password_requests.checkout_approvers,
    ),
    ("POST", "/orgs/{org}/password-requests/{id}/approve", password_requests.approve),
    ("POST", "/orgs/{org}/password-requests/{id}/reject", password_requests.reject),
    ("POST", "/orgs/{org}/password-requests/{id}/withdraw", password_requests.withdraw),
    ("POST", "/orgs/{org}/password-requests/{id}/check-in", password_requests.check_in),
    ("GET", "/orgs/{org}/password-holds", password_requests.list_holds),
    ("GET", "/orgs/{org}/access-control-requests", password_requests.list_control_requests),
    (
        "POST",
        "/orgs/{org}/access-control-requests/{id}/approve",
        password_requests.approve_control_request,
    ),
    (
        "POST",
        "/orgs/{org}/access-control-requests/{id}/reject",
        password_requests.reject_control_request,
    ),
    (
        "POST",
        "/orgs/{org}/access-control-requests/{id}/withdraw",
        password_requests.withdraw_control_request,
    ),
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
    ("GET", "/orgs/{org}/password-expiry", vault.list_password_expiry),
    ("GET", "/audit/operations", audit.audit_operations),
    ("GET", "/audit/deleted-orgs", audit.list_deleted_orgs),
    ("GET", "/audit/deleted-orgs/{id}", audit.list_deleted_audit),
    ("GET", "/audit/deleted-orgs/{id}/verify", audit.verify_deleted_audit),
    ("GET", "/orgs/{org}/audit", audit.list_audit),
    ("GET", "/orgs/{org}/audit/verify", audit.verify_audit),
    ("GET", "/orgs/{org}/audit/settings", audit.get_audit_settings),
    ("PUT", "/orgs/{org}/audit/settings", audit.put_audit_settings),
    ("GET", "/orgs/{org}/audit/alerts", audit.list_alerts),
    ("GET", "/orgs/{org}/session-recordings", recordings.list_recordings),
    ("GET", "/orgs/{org}/session-recordings/{id}", recordings.get_recording),
    ("POST", "/orgs/{org}/audit/purge", audit.purge_audit),
    ("GET", "/orgs/{org}/siem-destinations", siem.list_destinations),
    ("POST", "/orgs/{org}/siem-destinations", siem.create_destination),
    ("PATCH", "/orgs/{org}/siem-destinations/{id}", siem.update_destination),
    ("DELETE", "/orgs/{org}/siem-destinations/{id}", siem.delete_destination),
    ("POST", "/orgs/{org}/siem-destinations/{id}/test", siem.send_test),
    ("GET", "/orgs/{org}/notifications/smtp", notifications.get_smtp),
    ("PUT", "/orgs/{org}/notifications/smtp", notifications.put_smtp),
    ("GET", "/orgs/{org}/notifications/webhooks", notifications.list_webhooks),
    ("POST", "/orgs/{org}/notifications/webhooks", notifications.create_webhook),
    ("PATCH", "/orgs/{org}/notifications/webhooks/{id}", notifications.update_webhook),
    ("DELETE", "/orgs/{org}/notifications/webhooks/{id}", notifications.delete_webhook),
    ("GET", "/orgs/{org}/notifications/templates", notifications.get_templates),
    ("PUT", "/orgs/{org}/notifications/templates", notifications.put_templates),
    ("GET", "/orgs/{org}/notifications/deliveries", notifications.list_deliveries),
    ("GET", "/me/notification-mutes", notifications.get_mutes),
    ("PUT", "/me/notification-mutes", notifications.put_mutes),
]


# Outside /api/v1: a client org's login address, https://host:7272/<display_name>.
ROOT_ROUTES = [("GET", "/{display_name}", org_login.org_login)]


@functools.cache
def openapi_document() -> dict:
    """OpenAPI 3.1 for every route, from the handlers' declared models (server.web.openapi)."""
    return build_openapi([*ROUTES, ("GET", "/openapi.json", openapi), *ROOT_ROUTES], API)


@public
@operation(answers={200: OpenApiDocument})
async def openapi(request: web.Request) -> web.Response:
    """This API as an OpenAPI 3.1 document."""
    return json_response(openapi_document())


HOT_ROUTES = frozenset({("POST", "/orgs/{org}/accounts/{id}/reveal")})


def setup_routes(app: web.Application) -> None:
    """Register the API's routes on ``app``, then a 405 for every other method of each path
    (so ``Allow`` names exactly that path's methods, even where /orgs/import and
    /orgs/{org} overlap)."""
    methods: dict[str, list[str]] = {}
    # aiohttp tries the /orgs/{org}/... routes in the order they were added: the reveal,
    # the hot path, first (issue 28: it was the 57th, 6-10 % of a reveal's server time).
    # No other route matches its paths, so only the time to find it changes.
    for method, path, handler in sorted(ROUTES, key=lambda r: (r[0], r[1]) not in HOT_ROUTES):
        check_route(method, path, handler)
        app.router.add_route(method, API + path, handler)
        methods.setdefault(API + path, []).append(method)
    app.router.add_get(API + "/openapi.json", openapi)
    methods[API + "/openapi.json"] = ["GET"]
    # Last: a client org's login address, https://host:7272/<display_name>.
    login_path = "/{display_name:[A-Za-z0-9]{1,64}}"
    check_route("GET", login_path, org_login.org_login)
    app.router.add_get(login_path, org_login.org_login)
    methods[login_path] = ["GET"]
    for path, allowed in methods.items():
        app.router.add_route("*", path, _method_not_allowed(allowed))


def check_route(method: str, path: str, handler: Any) -> None:
    """Refuse, when the server starts, a route whose handler asks for what the route cannot
    give: a path parameter not in its path, or the actor on a public route (nobody is
    authenticated there). Raises RuntimeError naming the route."""
    placeholders = {part[1:-1].split(":")[0] for part in path.split("/") if part.startswith("{")}
    missing = set(getattr(handler, "path_parameters", ())) - placeholders
    if missing:
        raise RuntimeError(f"{method} {path}: the handler asks for {sorted(missing)}")
    if getattr(handler, "public", False) and getattr(handler, "takes_actor", False):
        raise RuntimeError(f"{method} {path}: a public handler has no actor")


def _method_not_allowed(allowed: list[str]):
    @public
    @works_read_only
    async def not_allowed(request: web.Request) -> web.Response:
        raise web.HTTPMethodNotAllowed(request.method, allowed)

    return not_allowed
