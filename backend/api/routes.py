"""The API's route table: each route declares who may call it and what it takes and returns;
the OpenAPI document is generated from the same table."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel, TypeAdapter

from backend.settings import Role

View = Callable[[web.Request], Awaitable[web.StreamResponse]]

READ = frozenset({Role.OPS, Role.MARKETER, Role.ANALYST})
MARKETING = frozenset({Role.OPS, Role.MARKETER})
OPS = frozenset({Role.OPS})


@dataclass(frozen=True)
class Body:
    """A request body: JSON of a model, or raw text of a media type."""

    media_type: str
    model: Any = None
    description: str = ""


@dataclass
class RouteSpec:
    method: str
    path: str
    view: View
    summary: str
    tag: str
    #: Roles allowed; None marks a public route (health checks).
    roles: frozenset[Role] | None
    body: Body | None = None
    response: Any = None
    response_media_type: str = "application/json"
    parameters: list[dict[str, Any]] = field(default_factory=list)
    statuses: dict[int, str] = field(default_factory=dict)


class RouteTable:
    """Collect routes with their metadata, then register them and describe them."""

    def __init__(self) -> None:
        self.specs: list[RouteSpec] = []

    @classmethod
    def joined(cls, *tables: RouteTable) -> RouteTable:
        """One table with the routes of ``tables``, in order."""
        table = cls()
        for part in tables:
            table.specs.extend(part.specs)
        return table

    def route(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        tag: str,
        roles: frozenset[Role] | None,
        body: Body | None = None,
        response: Any = None,
        response_media_type: str = "application/json",
        query: dict[str, tuple[str, str]] | None = None,
        statuses: dict[int, str] | None = None,
    ) -> Callable[[View], View]:
        def decorate(view: View) -> View:
            parameters = [
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                for name in _path_params(path)
            ]
            for name, (kind, description) in (query or {}).items():
                parameters.append(
                    {
                        "name": name,
                        "in": "query",
                        "required": False,
                        "schema": {"type": kind},
                        "description": description,
                    }
                )
            self.specs.append(
                RouteSpec(
                    method,
                    path,
                    view,
                    summary,
                    tag,
                    roles,
                    body,
                    response,
                    response_media_type,
                    parameters,
                    statuses or {},
                )
            )
            view.__dict__["api_roles"] = roles
            return view

        return decorate

    def register(self, app: web.Application) -> None:
        for spec in self.specs:
            app.router.add_route(spec.method, spec.path, spec.view)

    def openapi(self, *, title: str, version: str) -> dict[str, Any]:
        paths: dict[str, dict[str, Any]] = {}
        schemas: dict[str, Any] = {}
        for spec in self.specs:
            operation: dict[str, Any] = {
                "summary": spec.summary,
                "tags": [spec.tag],
                "operationId": spec.view.__name__,
                "parameters": spec.parameters,
                "responses": _responses(spec, schemas),
            }
            if spec.roles is None:
                operation["security"] = []
            else:
                roles = ", ".join(sorted(r.value for r in spec.roles))
                operation["description"] = f"Roles: {roles}."
            if spec.body is not None:
                operation["requestBody"] = {
                    "required": True,
                    "description": spec.body.description,
                    "content": {
                        spec.body.media_type: {"schema": _schema(spec.body.model, schemas)}
                    },
                }
            paths.setdefault(spec.path, {})[spec.method.lower()] = operation
        return {
            "openapi": "3.1.0",
            "info": {"title": title, "version": version},
            "paths": paths,
            "components": {
                "schemas": schemas,
                "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            },
            "security": [{"bearer": []}],
        }


def _path_params(path: str) -> list[str]:
    return [part[1:-1].split(":")[0] for part in path.split("/") if part.startswith("{")]


def _schema(model: Any, schemas: dict[str, Any]) -> dict[str, Any]:
    if model is None:
        return {"type": "string"}
    if isinstance(model, dict):
        return model
    if isinstance(model, type) and issubclass(model, BaseModel):
        generated = model.model_json_schema(ref_template="#/components/schemas/{model}")
    else:
        generated = TypeAdapter(model).json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(generated.pop("$defs", {}))
    if isinstance(model, type) and issubclass(model, BaseModel):
        schemas[model.__name__] = generated
        return {"$ref": f"#/components/schemas/{model.__name__}"}
    return generated


ERROR_SCHEMA = {
    "type": "object",
    "properties": {"error": {"type": "string"}, "details": {"type": "object"}},
    "required": ["error"],
}


def _responses(spec: RouteSpec, schemas: dict[str, Any]) -> dict[str, Any]:
    content = {spec.response_media_type: {"schema": _schema(spec.response, schemas)}}
    responses: dict[str, Any] = {"200": {"description": "OK", "content": content}}
    error = {"application/json": {"schema": ERROR_SCHEMA}}
    if spec.roles is not None:
        responses["401"] = {"description": "missing or wrong token", "content": error}
        responses["403"] = {"description": "the token's role may not do this", "content": error}
    for status, description in spec.statuses.items():
        responses[str(status)] = {"description": description, "content": error}
    return responses
