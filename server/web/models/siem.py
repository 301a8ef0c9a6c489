"""SIEM destinations of an org's audit trail (issue 31, item 1): request bodies and answers.

Request bodies carry no docstring (a comment says what they are): pydantic would make it
the schema's description, and the OpenAPI document states only their fields.
"""

from __future__ import annotations

from typing import Literal

from server.web.models.common import Answer, Body, Patch, integer, text

Pem = text(20000, multiline=True)


# ``POST /orgs/{org}/siem-destinations``: where the org's audit events go, and how.
# ``start``: "beginning" sends the whole chain first, "now" only events from now on.
class SiemDestinationBody(Body):
    name: text(64, non_empty=True)
    host: text(253, non_empty=True)
    port: integer(1, 65535)
    transport: Literal["tls", "tcp", "udp"] = "tls"
    format: Literal["json", "cef"] = "json"
    ca_pem: Pem = ""
    client_cert_pem: Pem = ""
    client_key_pem: Pem = ""
    enabled: bool = True
    start: Literal["beginning", "now"] = "beginning"


# ``PATCH /orgs/{org}/siem-destinations/{id}``: pause or resume, or edit where and how
# it sends (absent fields are kept; the cursor stays: the chain continues). A new client
# certificate comes with its key; "" for both removes them.
class SiemDestinationPatch(Patch):
    enabled: bool = None  # type: ignore[assignment]
    host: text(253, non_empty=True) = None  # type: ignore[assignment]
    port: integer(1, 65535) = None  # type: ignore[assignment]
    transport: Literal["tls", "tcp", "udp"] = None  # type: ignore[assignment]
    format: Literal["json", "cef"] = None  # type: ignore[assignment]
    ca_pem: Pem = None  # type: ignore[assignment]
    client_cert_pem: Pem = None  # type: ignore[assignment]
    client_key_pem: Pem = None  # type: ignore[assignment]


class SiemDestination(Answer):
    """A destination and its delivery state: ``sent_seq`` is the cursor (links up to it
    delivered), ``lag`` how many chained events wait, ``last_error`` the latest failure
    in words (a refused certificate, a receiver away), ``failures`` in a row."""

    id: str
    name: str
    host: str
    port: int
    transport: str
    format: str
    enabled: bool
    own_ca: bool
    client_certificate: bool
    created_at: str | None
    created_by: str
    sent_seq: int
    head_seq: int
    lag: int
    sent_at: str | None
    last_error: str | None
    last_error_at: str | None
    failures: int


class SiemDestinationCreated(SiemDestination):
    """The new destination with its verification key (hex), shown this once: the
    receiver's check (``strongroom audit verify-stream --key``) needs it."""

    verify_key: str


class SiemTestResult(Answer):
    """Whether the test message left and the connection stood; else why not."""

    delivered: bool
    error: str | None
