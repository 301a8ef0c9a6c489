"""Notifications (issue 31, item 2): SMTP relay, webhooks, templates, mutes, deliveries.

Request bodies carry no docstring (a comment says what they are): pydantic would make it
the schema's description, and the OpenAPI document states only their fields.
"""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict

from server.web.models.common import Answer, Body, JsonObject, Patch, integer, text

Pem = text(20000, multiline=True)


# ``PUT /orgs/{org}/notifications/smtp`` (MSPOrg): the relay; a password left out is kept.
class SmtpBody(Body):
    host: text(253, non_empty=True)
    port: integer(1, 65535)
    security: Literal["starttls", "tls"] = "starttls"
    username: text(254) = ""
    password: text(1024, strip=False) = None  # type: ignore[assignment]
    sender: text(254, non_empty=True)
    ca_pem: Pem = ""


class Smtp(Answer):
    """The SMTP relay (never its password): ``configured`` false when none is set."""

    model_config = ConfigDict(extra="allow")

    configured: bool


# ``POST /orgs/{org}/notifications/webhooks``: an HTTPS endpoint (and the CAs to trust).
class WebhookBody(Body):
    name: text(64, non_empty=True)
    url: text(2000, non_empty=True)
    ca_pem: Pem = ""


# ``PATCH /orgs/{org}/notifications/webhooks/{id}``: a new URL, CAs, pause or resume
# (absent fields are kept, the signing secret too).
class WebhookPatch(Patch):
    url: text(2000, non_empty=True) = None  # type: ignore[assignment]
    ca_pem: Pem = None  # type: ignore[assignment]
    enabled: bool = None  # type: ignore[assignment]


class Webhook(Answer):
    """A webhook (never its secret)."""

    id: str
    name: str
    url: str
    enabled: bool
    own_ca: bool
    created_at: str


class WebhookCreated(Webhook):
    """The new webhook with its signing secret, shown this once: the receiver checks
    ``X-Strongroom-Signature: sha256=HMAC(secret, timestamp + "." + body)``."""

    secret: str


class Template(Answer):
    """A kind's template as the org uses it (``custom``: the org's own)."""

    kind: str
    security: bool
    description: str
    subject: str
    body: str
    custom: bool


class Templates(Answer):
    """Every kind's template."""

    items: list[Template]


# ``PUT /orgs/{org}/notifications/templates``: {kind: {"subject", "body"} | null (reset)}.
class TemplatesBody(Body):
    templates: JsonObject


class Mutes(Answer):
    """The kinds I muted, and the kinds I may mute (security ones cannot be)."""

    muted: list[str]
    mutable: list[str]


# ``PUT /me/notification-mutes``: the kinds to mute (replaces the list).
class MutesBody(Body):
    muted: list[text(64)]


class Delivery(Answer):
    """One message and its delivery state."""

    id: str
    kind: str
    channel: Literal["email", "webhook"]
    recipient: str
    subject: str
    status: Literal["pending", "sent", "failed"]
    attempts: int
    last_error: str | None
    created_at: str
    sent_at: str | None
