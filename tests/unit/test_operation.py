"""@operation without a server: it hands a handler what its keyword parameters name (env,
actor, path parameters, the validated body), the route table agrees with every handler, and
the settings bodies that used to be field dicts answer as they did."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from server.core.errors import ValidationFailed
from server.web.api import operation
from server.web.handlers import vault
from server.web.handlers.common import public
from server.web.keys import ACTOR, ENV
from server.web.models.cluster import EnrollBody
from server.web.models.common import Body, validate_body
from server.web.models.org_settings import FieldDefinitionBody, RoleBody, RoleUpdateBody
from server.web.models.password_requests import AccessControlBody, PasswordRequestBody
from server.web.routes import ROOT_ROUTES, ROUTES, check_route


class _Named(Body):
    name: str


async def test_handler_receives_what_it_names():
    """env, actor and the path parameters arrive by keyword; request only when asked.
    (``org`` of an /orgs/{org} route is resolved first: tests/server/test_org_reach.py.)"""
    seen = {}

    @operation(answers={204: None})
    async def handler(*, env, actor, name: str, id: str) -> web.Response:
        seen.update(env=env, actor=actor, name=name, id=id)
        return web.Response(status=204)

    app = web.Application()
    app[ENV] = "the env"  # type: ignore[misc]
    request = make_mocked_request(
        "GET", "/groups/Ops/members/x", match_info={"name": "Ops", "id": "x"}, app=app
    )
    request[ACTOR] = "the actor"  # type: ignore[misc]
    response = await handler(request)
    assert response.status == 204
    assert seen == {"env": "the env", "actor": "the actor", "name": "Ops", "id": "x"}
    assert handler.path_parameters == ("name", "id")
    assert handler.takes_actor


def test_a_declared_body_must_be_taken():
    """A handler that declares a body model but takes no ``body`` is refused at import."""
    with pytest.raises(TypeError, match="body"):

        @operation(body=_Named, answers={204: None})
        async def handler(*, env) -> web.Response:
            raise AssertionError


def test_every_route_gives_what_its_handler_asks_for():
    """Each handler's path parameters are in its path; no public handler asks for an actor."""
    for method, path, handler in [*ROUTES, *ROOT_ROUTES]:
        check_route(method, path, handler)
    with pytest.raises(RuntimeError, match="asks for"):
        check_route("GET", "/orgs/{org}", vault.get_account)  # takes {id}: not in this path

    @public
    @operation(answers={204: None})
    async def who(*, actor) -> web.Response:
        raise AssertionError

    with pytest.raises(RuntimeError, match="public"):
        check_route("GET", "/who", who)


def _errors(model, data) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as caught:
        validate_body(model, data)
    return {e["field"]: e["message"] for e in caught.value.extra["errors"]}


def test_settings_bodies_answer_as_before():
    """The bodies once declared as field dicts keep their rules and messages."""
    assert _errors(RoleBody, {"name": "1x", "permissions": []}) == {
        "name": "must be letters, digits, - and _ (starting with a letter)"
    }
    assert _errors(RoleBody, {}) == {"name": "is required", "permissions": "is required"}
    assert RoleUpdateBody.model_validate({"description": " d "}).given() == {"description": "d"}
    assert _errors(FieldDefinitionBody, {"applies_to": "x", "name": "a", "kind": "text"}) == {
        "applies_to": "must be one of resource, account"
    }
    assert _errors(AccessControlBody, {"enabled": "yes"}) == {"enabled": "must be true or false"}
    assert _errors(PasswordRequestBody, {"account": " ", "reason": "r", "window_minutes": 5}) == {
        "account": "must not be empty"
    }
    good = {"secret": "s", "name": "n", "url": "u", "db_host": "h", "db_port": 5.0}
    assert EnrollBody.model_validate(good).db_port == 5
    assert _errors(EnrollBody, {**good, "db_port": True}) == {"db_port": "must be an integer"}
