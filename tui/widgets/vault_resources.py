"""Adding and editing resources in the vault pane (mixed into ``VaultPane``): the type
from the org's catalogue, then the org's additional fields for it."""

from __future__ import annotations

from textual import work

from tui.client import ApiError
from tui.screens.form import Field
from tui.widgets import choices
from tui.widgets import vault_fields as extra


class ResourceActions:
    """n new resource, e edit the highlighted one."""

    async def _settings(self) -> tuple[list, list[dict]]:
        """(the org's resource types, its field definitions)."""
        client = self.app.client
        types = await choices.resource_types(client, self.org)
        try:
            definitions = await client.field_definitions(self.org)
        except ApiError:
            definitions = []  # a server without them, or a user who may not list them
        return types, definitions

    @work(exit_on_error=False)
    async def action_new_resource(self) -> None:
        """Add a resource: name, type (from the org's catalogue), address, description and
        the additional fields for every type; a type with its own fields asks for them next."""
        client = self.app.client
        try:
            types, definitions = await self._settings()
        except ApiError as error:
            self.app.show_error(error, "Cannot add a resource")
            return
        common = extra.applicable(definitions, "resource", "\0")  # those of every type

        def body(v: dict, more: list[dict], more_values: dict | None = None) -> dict:
            data = {k: v[k] for k in ("name", "type", "url", "description") if v[k]}
            fields = extra.field_values(common, v) | extra.field_values(more, more_values or {})
            return data | ({"fields": fields} if fields else {})

        def own(type_name: str) -> list[dict]:
            return [
                d for d in extra.applicable(definitions, "resource", type_name) if d not in common
            ]

        async def first(v: dict) -> dict:
            if own(v["type"]):
                return {"next": v}  # the type's own fields come in the next form
            return await client.create_resource(self.org, body(v, []))

        fields = [
            Field("name", "Name", required=True),
            Field("type", "Type", value="Linux", choices=types, required=True),
            Field("url", "Address (DNS name or URL)"),
            Field("description", "Description"),
            *extra.form_fields(common),
        ]
        result = await self.form(f"New resource in {self.org}", fields, first, action="add")
        if result and "next" in result:
            v = result["next"]
            more = own(v["type"])
            result = await self.form(
                f"New {v['type']} resource {v['name']}: its fields",
                extra.form_fields(more),
                lambda w: client.create_resource(self.org, body(v, more, w)),
                action="add",
            )
        if result:
            self.changed("resources", f"Resource {result['name']} added.")

    @work(exit_on_error=False)
    async def action_edit_resource(self) -> None:
        """Edit the selected resource and its additional fields (needs full permission)."""
        resource = self._need("resources", "a resource")
        if resource is None:
            return
        client = self.app.client
        try:
            current = await client.resource(self.org, resource)
            types, definitions = await self._settings()
        except ApiError as error:
            self.app.show_error(error)
            return
        labels = {"name": "Name", "type": "Type", "url": "Address", "description": "Description"}
        fields = [Field(k, label, value=current.get(k) or "") for k, label in labels.items()]
        fields[1].choices = types
        defs = extra.applicable(definitions, "resource", current["type"])
        fields += extra.form_fields(defs, current.get("fields") or {})

        async def submit(v: dict) -> dict:
            data = {k: v[k] for k in labels if v[k] != (current.get(k) or "")}
            values = extra.field_values(defs, v)
            if values != (current.get("fields") or {}):
                data["fields"] = values
            return await client.update_resource(self.org, resource, data)

        result = await self.form(f"Edit {current['name']}", fields, submit)
        if result:
            self.changed("resources", "Resource updated.")
