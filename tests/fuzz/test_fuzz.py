"""The fuzz stage (issue 14): schemathesis against a live server built for it, every
operation of the served OpenAPI document, every check, bounded in examples and time.

It fails on any 5xx, any answer that breaks its documented schema or status, and any
schema-valid request the request models refuse (hook in tests/fuzz/hooks.py). The server
also carries the answer checker of the other server tests (tests/contract.py).
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import sys
import time
from pathlib import Path

import pytest
from aiohttp import web

from server.web.app import create_app
from server.web.keys import REFUSED_BY
from server.web.routes import openapi_document
from tests import contract
from tests.conftest import start_server
from tests.server.conftest import ADMIN, ADMIN_PASSWORD, Api, make_user

pytestmark = [pytest.mark.fuzz, pytest.mark.timeout(900)]

HERE = Path(__file__).parent
MAX_EXAMPLES = 20  # per operation and phase
RUN_TIMEOUT = 600  # seconds: the stage is killed (and fails) past this
SEED = 1414


@web.middleware
async def tell_refusals(request: web.Request, handler) -> web.StreamResponse:
    """Mark answers whose request the models or the JSON reader refused (for the hook)."""
    response = await handler(request)
    refused = request.get(REFUSED_BY)
    if refused:
        response.headers["X-Refused-By"] = refused
    return response


async def build_world(api: Api) -> dict[str, list[str]]:
    """Users, a client org, groups, a resource, an account under access control, a share, a
    resource group and a policy; answer the values each path parameter may take."""
    admin = await api.login(ADMIN, ADMIN_PASSWORD)
    await make_user(admin, "fuzzuser", "password_user")
    status, org = await admin.call(
        "POST",
        "/orgs",
        {"name": "Fuzz Co", "display_name": "FuzzCo", "account_manager": ADMIN},
    )
    assert status == 201, org
    for where in ("MSPOrg", "FuzzCo"):
        status, body = await admin.call(
            "POST", f"/orgs/{where}/groups", {"name": "fuzzgroup", "members": []}
        )
        assert status == 201, body
    status, resource = await admin.call(
        "POST", "/orgs/MSPOrg/resources", {"name": "FuzzBox", "type": "Linux"}
    )
    assert status == 201, resource
    rid = resource["id"]
    status, account = await admin.call(
        "POST", f"/orgs/MSPOrg/resources/{rid}/accounts", {"username": "root", "generate": True}
    )
    assert status == 201, account
    status, share = await admin.call(
        "POST", f"/orgs/MSPOrg/resources/{rid}/shares", {"user": "fuzzuser", "permission": "view"}
    )
    assert status == 201, share
    status, body = await admin.call(
        "POST", "/orgs/MSPOrg/resource-groups", {"name": "fuzzrg", "resources": [rid]}
    )
    assert status == 201, body
    status, body = await admin.call(
        "POST",
        "/orgs/MSPOrg/password-policies",
        {"name": "fuzzpolicy", "min_length": 8, "max_length": 32},
    )
    assert status == 201, body
    status, control = await admin.call(
        "PUT",
        f"/orgs/MSPOrg/accounts/{account['id']}/access-control",
        {"enabled": True, "approvers": ["fuzzuser"], "max_window_minutes": 60},
    )
    assert status == 200, control
    status, spare = await admin.call("POST", "/me/api-keys", {"name": "spare"})
    assert status == 201, spare
    status, key = await admin.call("POST", "/me/api-keys", {"name": "fuzz"})
    assert status == 201, key
    return {
        "token": [key["key"]],
        "org": ["MSPOrg", "FuzzCo"],
        "display_name": ["FuzzCo"],
        "username": ["fuzzuser"],
        "groups": ["fuzzgroup"],
        "resource-groups": ["fuzzrg"],
        "password-policies": ["fuzzpolicy", "strong"],
        "resources": [rid],
        "accounts": [account["id"]],
        "org-access-requests": ["00000000-0000-4000-8000-000000000000"],
        # (a request needs an approver independent of its requester: two people)
        "password-requests": ["00000000-0000-4000-8000-000000000000"],
        "key_id": [spare["id"]],
        "share_id": [share["id"]],
    }


def fuzz_schema(world: dict[str, list[str]]) -> dict:
    """The served document, with examples of path parameters that exist in the world (a
    random id only ever reaches the 404 path; the examples phase reaches the rest)."""
    doc = copy.deepcopy(openapi_document())
    for path, operations in doc["paths"].items():
        parts = path.split("/")
        for operation in operations.values():
            for param in operation["parameters"]:
                if param["in"] != "path":
                    continue
                name = param["name"]
                if name in ("id", "name"):
                    collection = parts[parts.index("{" + name + "}") - 1]
                    values = world.get(collection, [])
                else:
                    values = world.get(name, [])
                if values:
                    param["example"] = values[0]
                    param["schema"] = {**param["schema"], "examples": values}
    return doc


async def test_fuzz_every_operation(pg_server, install_files, database, msp, config, tmp_path):
    """schemathesis finds no 5xx, no answer off its schema, no valid request refused."""
    app = create_app(config)
    mismatches = contract.install(app)
    app.middlewares.insert(0, tell_refusals)
    runner, live = await start_server(app, config)
    try:
        import aiohttp

        connector = aiohttp.TCPConnector(ssl=live.ssl)
        async with aiohttp.ClientSession(live.url, connector=connector) as session:
            world = await build_world(Api(session))
        schema_path = tmp_path / "openapi.json"
        schema_path.write_text(json.dumps(fuzz_schema(world)))
        command = [
            str(Path(sys.executable).parent / "schemathesis"),
            "--config-file",
            str(HERE / "schemathesis.toml"),
            "run",
            str(schema_path),
            "--url",
            live.url,
            "--checks",
            "all",
            "--max-examples",
            str(MAX_EXAMPLES),
            "--seed",
            str(SEED),
            "--generation-deterministic",
            "--phases",
            "examples,coverage,fuzzing,stateful",
            "--workers",
            "1",
            "--request-timeout",
            "30",
            "--tls-verify",
            str(config.path(config.server.tls_cert)),
            "--header",
            f"Authorization: Bearer {world['token'][0]}",
            "--no-color",
            "--warnings",
            "off",
        ]
        env = {
            **os.environ,
            "SCHEMATHESIS_HOOKS": "tests.fuzz.hooks",
            "PYTHONPATH": str(HERE.parent.parent),
        }
        started = time.monotonic()
        process = await asyncio.create_subprocess_exec(
            *command,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
            cwd=tmp_path,
        )
        try:
            output, _ = await asyncio.wait_for(process.communicate(), RUN_TIMEOUT)
        except TimeoutError:
            process.kill()
            await process.wait()
            pytest.fail(f"the fuzz stage ran past {RUN_TIMEOUT} s")
        text = output.decode(errors="replace")
        elapsed = time.monotonic() - started
        print(text[-4000:])
        print(f"fuzz stage: {elapsed:.0f} s")
        assert process.returncode == 0, text[-20000:]
    finally:
        await runner.cleanup()
    assert not mismatches, "\n".join(mismatches[:50])
