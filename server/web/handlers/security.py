"""Issue 27: an org's security settings (/orgs/{org}/security-settings), recovery codes
(/me/totp/recovery-codes), another user's 2FA reset (/orgs/{org}/users/{username}/totp),
deleted orgs in their recovery window (/orgs/deleted, /orgs/{org}/delete-preview), and who
a share can reach (/orgs/{org}/share-targets)."""

from __future__ import annotations

from aiohttp import web

from server.services import account, orgs, sharing, two_factor, users
from server.services.access import OrgArg
from server.services.context import Actor, Env
from server.store import paging
from server.web.api import operation
from server.web.handlers.common import before_totp_setup
from server.web.models.auth import (
    RecoveryCodes,
    RecoveryCodesBody,
    SecuritySettings,
    SecuritySettingsBody,
)
from server.web.models.common import Page
from server.web.models.orgs import DeletedOrg, DeletePreview, Org
from server.web.models.users import User
from server.web.models.vault import ShareTargets
from server.web.problem import json_response


@operation(answers={200: SecuritySettings})
async def get_security_settings(*, env: Env, actor: Actor, org: OrgArg) -> web.Response:
    """The org's two-factor policy (its built-in administrators)."""
    return json_response(await two_factor.get_settings(env, actor, org))


@operation(
    body=SecuritySettingsBody,
    answers={200: SecuritySettings},
    errors={403: "client_confirms (lowering a client org's policy: its confirmed administrator)"},
)
async def put_security_settings(
    *, env: Env, actor: Actor, org: OrgArg, body: SecuritySettingsBody
) -> web.Response:
    """Set who must use two-factor authentication: none, administrators or everyone."""
    return json_response(await two_factor.put_settings(env, actor, org, body.totp_policy))


@before_totp_setup
@operation(
    body=RecoveryCodesBody,
    answers={200: RecoveryCodes},
    errors={
        400: "invalid_otp",
        403: "session_required",
        409: "totp_not_enabled",
        422: "validation_failed",
        429: "rate_limited",
    },
)
async def regenerate_recovery_codes(
    *, env: Env, actor: Actor, body: RecoveryCodesBody
) -> web.Response:
    """Replace my ten recovery codes (my current password and a current TOTP code); the old
    ones stop working and the new ones are shown this once."""
    return json_response(
        await account.regenerate_recovery_codes(env, actor, body.current_password, body.otp)
    )


@operation(
    answers={200: User},
    errors={
        403: "outranks_you, client_confirms",
        409: "dual_control_required (the user reaches a client org), totp_not_enabled",
    },
)
async def reset_user_totp(*, env: Env, actor: Actor, org: OrgArg, username: str) -> web.Response:
    """Turn another user's two-factor authentication off (the person rules of a password
    reset); it enrols again at its next login if it must."""
    return json_response(await users.reset_totp(env, actor, org, username))


@operation(answers={200: DeletePreview})
async def delete_preview(*, env: Env, actor: Actor, org: OrgArg) -> web.Response:
    """What deleting the org would take with it, all of it counted (for whoever may delete
    it)."""
    return json_response(await orgs.delete_preview(env, actor, org))


@paging.paged_list
@operation(answers={200: Page[DeletedOrg]})
async def list_deleted_orgs(*, env: Env, actor: Actor, page: paging.Page) -> web.Response:
    """Client orgs deleted and not yet purged: who deleted each, when, and when it will be
    purged (MSPOrg administrators)."""
    items = await orgs.list_deleted(env, actor)
    for item in items:
        item["created_at"] = item["deleted_at"]  # the order paging.newest_first reads
    found = paging.paged(items, page, paging.newest_first)
    for item in found["items"]:
        del item["created_at"]
    return json_response(found)


@operation(answers={200: Org})
async def restore_deleted_org(*, env: Env, actor: Actor, id: str) -> web.Response:
    """Restore a deleted client org as it was (any MSPOrg administrator)."""
    return json_response(await orgs.restore_org(env, actor, id))


@operation(answers={200: ShareTargets})
async def share_targets(*, env: Env, actor: Actor, org: OrgArg) -> web.Response:
    """Who a share in the org can reach: its users (confirmed or not), its groups (whether
    they reach anybody yet) and the MSPOrg users who act in it."""
    return json_response(await sharing.share_targets(env, actor, org))
