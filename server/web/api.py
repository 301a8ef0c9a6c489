"""What a handler takes and answers, declared once: ``@operation(body=..., query=...,
answers=...)`` validates the request into the models before the handler runs and leaves
the declaration on the handler, where ``server.web.openapi`` reads it to document the route.

A handler stays thin: it names what it needs as keyword parameters and ``@operation``
hands them over (the handler's signature is read once, when it is decorated):

- ``body``, ``query``: the validated models (``body.given()`` is what the client sent);
- ``page``: the page asked for, on a ``@paging.paged_list`` route;
- ``env``: the service environment; ``actor``: the authenticated caller (never on a
  ``@public`` route, which has none);
- ``request``: the request itself, for the few that read a raw body, headers or the path;
- any other name: the route's path parameter of that name (``org``, ``username``,
  ``id``, ``name``, ``share_id``, ``key_id``, ``display_name``), as the text in the path;
  except ``org`` of an ``/orgs/{org}`` route, resolved once before the handler runs
  (``server.web.org_scope``): the handler receives the ``OrgRef`` (or the name as written
  when the org is missing or out of reach, which the service then refuses as before).

It passes plain values to one service and answers.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from server.core.errors import StrongroomError
from server.web import org_scope
from server.web.keys import ACTOR, DEFERRED_TOKEN, ENV, REFUSED_BY
from server.web.models.common import validate_body, validate_query
from server.web.problem import read_json

# What a handler may ask for by name, taken from the request: the request itself, the
# service environment (request.app[ENV]) and the authenticated caller (request[ACTOR]).
FROM_REQUEST = ("request", "env", "actor")
# What @operation (body, query) or @paging.paged_list (page) hands over itself.
VALIDATED = frozenset({"body", "query", "page"})


@dataclass(frozen=True)
class Spec:
    """One operation's contract.

    Attributes:
        body: the JSON body model, or None when the operation takes no body.
        query: the query-string model, or None.
        answers: success status -> answer model (None: no body, e.g. 204).
        errors: status -> the stable codes this operation answers beyond the usual ones.
        raw_body: content types of a raw (non-JSON) body, e.g. the org import file.
    """

    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    answers: Mapping[int, type[BaseModel] | Any | None] = field(default_factory=dict)
    errors: Mapping[int, str] = field(default_factory=dict)
    raw_body: tuple[str, ...] = ()


Handler = Callable[..., Awaitable[web.StreamResponse]]


def operation(
    *,
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    answers: Mapping[int, Any],
    errors: Mapping[int, str] | None = None,
    raw_body: tuple[str, ...] = (),
    resolve_org: bool = True,
) -> Callable[[Handler], Handler]:
    """Declare a handler's request and answer models; validate the request into them and
    hand the handler what its keyword parameters name (see the module docstring).

    Args:
        body: model of the JSON body; the handler receives ``body=`` (an empty body is {}).
        query: model of the query string; the handler receives ``query=``.
        answers: success status -> answer model or None (no body).
        errors: extra status -> codes to document (the usual ones are added by OpenAPI).
        raw_body: content types of a raw body the handler reads itself (from ``request``).
        resolve_org: False hands the handler ``{org}`` as written, unresolved: for a
            service whose one statement resolves the org and decides the reach itself
            (the reveal, issue 28), so the request makes no separate lookup for it.

    Returns:
        The wrapped handler, called as ``handler(request)`` (``page=`` too on a paged
        route), carrying ``spec`` and ``path_parameters`` (the path names it reads; the
        route table checks them). Invalid input raises ValidationFailed (422) or the
        strict JSON reader's 4xx before the handler runs.

    Raises:
        TypeError: at decoration, when the handler takes ``*args``/``**kwargs``, or does
            not take the ``body``/``query`` it declares.
    """
    spec = Spec(body, query, dict(answers), dict(errors or {}), raw_body)

    def wrap(handler: Handler) -> Handler:
        names = _parameters(handler)
        for declared, model in (("body", body), ("query", query)):
            if model is not None and declared not in names:
                raise TypeError(f"{handler.__qualname__} declares a {declared} it does not take")
        path = tuple(n for n in names if n not in FROM_REQUEST and n not in VALIDATED)
        takes_request, takes_env, takes_actor = (n in names for n in FROM_REQUEST)
        takes_org = "org" in path and resolve_org

        @functools.wraps(handler)
        async def run(request: web.Request, **kwargs: Any) -> web.StreamResponse:
            # kwargs holds what an outer decorator handed over (page=); add the rest.
            if takes_request:
                kwargs["request"] = request
            if takes_env:
                kwargs["env"] = request.app[ENV]
            if takes_actor:
                kwargs["actor"] = request[ACTOR]
            if path:
                match = request.match_info
                for name in path:
                    kwargs[name] = match[name]
            if query is not None or body is not None:
                try:
                    if query is not None:
                        kwargs["query"] = validate_query(query, dict(request.query))
                    if body is not None:
                        kwargs["body"] = validate_body(body, await read_json(request))
                except StrongroomError:
                    if DEFERRED_TOKEN in request:  # the token answers before the body
                        await request[DEFERRED_TOKEN].authenticate()
                    request[REFUSED_BY] = "request"
                    raise
            if takes_org:
                await org_scope.resolve(request)  # the org of /orgs/{org}, once
                kwargs["org"] = org_scope.org_of(request)
            return await handler(**kwargs)

        run.spec = spec  # type: ignore[attr-defined]
        run.path_parameters = path  # type: ignore[attr-defined]
        run.takes_actor = takes_actor  # type: ignore[attr-defined]
        return run

    return wrap


def _parameters(handler: Handler) -> tuple[str, ...]:
    """The names a handler takes; each is handed over by keyword."""
    out = []
    for param in inspect.signature(handler).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise TypeError(f"{handler.__qualname__} must name what it takes (no *args)")
        out.append(param.name)
    return tuple(out)
