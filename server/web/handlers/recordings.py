"""Recordings of brokered SSH sessions (/orgs/{org}/session-recordings, issue 30 item 5):
for the org's administrators and auditors (read_audit)."""

from __future__ import annotations

from aiohttp import web

from server.services import brokered
from server.services.access import OrgArg
from server.services.context import Actor, Env
from server.store import paging
from server.web.api import operation
from server.web.models.common import Page
from server.web.models.recordings import SessionRecording, SessionRecordingCast
from server.web.problem import json_response

READER = {403: "not_audit_reader (only administrators and auditors)"}


@paging.paged_list
@operation(answers={200: Page[SessionRecording]}, errors=READER)
async def list_recordings(
    *, env: Env, actor: Actor, org: OrgArg, page: paging.Page
) -> web.Response:
    """The org's session recordings, newest first (without content), paged."""
    return json_response(await brokered.list_recordings(env, actor, org, page))


@operation(answers={200: SessionRecordingCast}, errors=READER)
async def get_recording(*, env: Env, actor: Actor, org: OrgArg, id: str) -> web.Response:
    """One recording, decrypted (asciicast v2 in ``cast``); audited."""
    return json_response(await brokered.get_recording(env, actor, org, id))
