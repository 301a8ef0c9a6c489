"""Notifications (issue 31, item 2): /orgs/{org}/notifications/…, /me/notification-mutes."""

from __future__ import annotations

from aiohttp import web

from server.services import notifications
from server.services.access import OrgArg
from server.services.context import Actor, Env
from server.store import paging
from server.web.api import operation
from server.web.models.common import Page
from server.web.models.notifications import (
    Delivery,
    Mutes,
    MutesBody,
    Smtp,
    SmtpBody,
    Templates,
    TemplatesBody,
    Webhook,
    WebhookBody,
    WebhookCreated,
    WebhookPatch,
)
from server.web.problem import json_response

OWN_ADMINS = {403: "notifications_own_administrators (only the org's own administrators)"}
MSP_ONLY = {403: "notifications_own_administrators, smtp_msp_only (MSPOrg's relay only)"}


@operation(answers={200: Smtp}, errors=MSP_ONLY)
async def get_smtp(*, env: Env, actor: Actor, org: OrgArg) -> web.Response:
    """The installation's SMTP relay (MSPOrg), never its password."""
    return json_response(await notifications.get_smtp(env, actor, org))


@operation(body=SmtpBody, answers={200: Smtp}, errors=MSP_ONLY)
async def put_smtp(*, env: Env, actor: Actor, org: OrgArg, body: SmtpBody) -> web.Response:
    """Set the SMTP relay (STARTTLS or implicit TLS, authenticated)."""
    return json_response(await notifications.put_smtp(env, actor, org, body.given()))


@paging.paged_list
@operation(answers={200: Page[Webhook]}, errors=OWN_ADMINS)
async def list_webhooks(*, env: Env, actor: Actor, org: OrgArg, page: paging.Page) -> web.Response:
    """The org's webhooks, by name."""
    items = await notifications.list_webhooks(env, actor, org)
    return json_response(paging.paged(items, page, paging.by_name("name")))


@operation(
    body=WebhookBody,
    answers={201: WebhookCreated},
    errors={
        **OWN_ADMINS,
        409: "webhook_exists",
        422: "webhook_url_userinfo (user:password in the URL), destination_not_allowed",
    },
)
async def create_webhook(*, env: Env, actor: Actor, org: OrgArg, body: WebhookBody) -> web.Response:
    """Add a webhook; its signing secret is in this answer only."""
    answer = await notifications.create_webhook(env, actor, org, body.model_dump())
    return json_response(answer, status=201)


@operation(
    body=WebhookPatch,
    answers={200: Webhook},
    errors={
        **OWN_ADMINS,
        422: "webhook_url_userinfo (user:password in the URL), destination_not_allowed",
    },
)
async def update_webhook(
    *, env: Env, actor: Actor, org: OrgArg, id: str, body: WebhookPatch
) -> web.Response:
    """Edit a webhook's URL, CAs or enabled (its secret stays; pending messages go to the
    new URL)."""
    changes = {k: v for k, v in body.given().items() if v is not None}
    return json_response(await notifications.update_webhook(env, actor, org, id, changes))


@operation(answers={204: None}, errors=OWN_ADMINS)
async def delete_webhook(*, env: Env, actor: Actor, org: OrgArg, id: str) -> web.Response:
    """Remove a webhook."""
    await notifications.delete_webhook(env, actor, org, id)
    return web.Response(status=204)


@operation(answers={200: Templates}, errors=OWN_ADMINS)
async def get_templates(*, env: Env, actor: Actor, org: OrgArg) -> web.Response:
    """Every notification kind with the org's template for it."""
    return json_response({"items": await notifications.get_templates(env, actor, org)})


@operation(body=TemplatesBody, answers={200: Templates}, errors=OWN_ADMINS)
async def put_templates(
    *, env: Env, actor: Actor, org: OrgArg, body: TemplatesBody
) -> web.Response:
    """Set (or reset, with null) the org's templates by kind."""
    items = await notifications.put_templates(env, actor, org, body.templates)
    return json_response({"items": items})


@paging.paged_list
@operation(answers={200: Page[Delivery]}, errors=OWN_ADMINS)
async def list_deliveries(
    *, env: Env, actor: Actor, org: OrgArg, page: paging.Page
) -> web.Response:
    """The org's latest messages and their delivery state, newest first."""
    items = await notifications.list_deliveries(env, actor, org)
    return json_response(paging.paged(items, page, lambda i: (-int(i["id"]),)))


@operation(answers={200: Mutes})
async def get_mutes(*, env: Env, actor: Actor) -> web.Response:
    """The notification kinds I muted."""
    return json_response(await notifications.get_mutes(env, actor))


@operation(body=MutesBody, answers={200: Mutes}, errors={422: "notification_not_mutable"})
async def put_mutes(*, env: Env, actor: Actor, body: MutesBody) -> web.Response:
    """Mute these kinds (security kinds cannot be muted)."""
    return json_response(await notifications.put_mutes(env, actor, body.muted))
