"""Adding and editing resources in the vault pane (mixed into ``VaultPane``): the type
from the org's catalogue, then the org's additional fields for it."""

from __future__ import annotations

from tui.client import ApiError
from tui.logic import choices
from tui.logic import vault_fields as extra
from tui.screens.form import Field, FormModal, refusal, typed_confirmation
from tui.wording import counted
from tui.workers import api_worker


def about_first_form(error: ApiError, second_names: set[str]) -> bool:
    """Whether a refusal of the create is about the first form (the name taken, a wrong
    address…) rather than about the type's own fields of the second one."""
    if error.code == "read_only":
        return False
    fields = {e.get("field", "") for e in error.body.get("errors") or []}
    return not fields or not fields <= second_names


def under_name(error: ApiError) -> ApiError:
    """A taken name, said under the Name field."""
    if error.code == "resource_name_taken" and not error.body.get("errors"):
        return refusal("name", error.detail)
    return error


class RefusedForm(FormModal):
    """The first form again, filled in as typed, with the server's refusal shown."""

    def __init__(self, error: ApiError, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._refused = error

    def on_mount(self) -> None:
        """Show the refusal as the form opens; a taken name goes under Name."""
        self.show_refusal(under_name(self._refused))


class TypeFieldsForm(FormModal):
    """The second form (the type's own fields): Esc goes back to the first form and
    keeps what was typed here for the way back."""

    def action_cancel(self) -> None:
        """Back to the first form, with this form's values."""
        self.dismiss({"cancelled": self.values()})


class ResourceActions:
    """n new resource, e edit the highlighted one, D delete it."""

    async def _settings(self) -> tuple[list, list[dict]]:
        """(the org's resource types, its field definitions)."""
        client = self.app.client
        types = await choices.resource_types(client, self.org)
        try:
            definitions = await client.field_definitions(self.org)
        except ApiError:
            definitions = []  # a server without them, or a user who may not list them
        return types, definitions

    @api_worker("Cannot add a resource")
    async def action_new_resource(self) -> None:
        """Add a resource: name, type (from the org's catalogue), address, description and
        the additional fields for every type; a type with its own fields asks for them next."""
        client = self.app.client
        types, definitions = await self._settings()
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
                await self._name_free(v["name"])  # refused here, not in the next form
                return {"next": v}  # the type's own fields come in the next form
            try:
                return await client.create_resource(self.org, body(v, []))
            except ApiError as error:
                raise under_name(error) from None

        def first_fields(typed: dict) -> list[Field]:
            fields = [
                Field("name", "Name", required=True),
                Field("type", "Type", value="Linux", choices=types, required=True),
                Field("url", "Address (DNS name or URL)"),
                Field("description", "Description"),
                *extra.form_fields(common),
            ]
            for f in fields:
                f.value = typed.get(f.name, f.value)
            return fields

        typed: dict = {}
        typed_more: dict = {}  # the second form's values, kept across a way back
        refused: ApiError | None = None
        while True:
            title = f"New resource in {self.org}"
            if refused is None:
                result = await self.form(title, first_fields(typed), first, action="add")
            else:
                result = await self.app.push_screen_wait(
                    RefusedForm(refused, title, first_fields(typed), first, action="add")
                )
            if not result or "next" not in result:
                break
            typed = result["next"]
            more = own(typed["type"])
            second_names = {n for f in extra.form_fields(more) for n in f.api_names}

            async def second(w: dict, v: dict = typed, more: list = more, names=second_names):
                try:
                    return await client.create_resource(self.org, body(v, more, w))
                except ApiError as error:
                    if about_first_form(error, names):
                        return {"back": error, "typed": w}  # the first form shows it
                    raise

            more_fields = extra.form_fields(more)
            for f in more_fields:
                f.value = typed_more.get(f.name, f.value)
            result = await self.app.push_screen_wait(
                TypeFieldsForm(
                    f"New {typed['type']} resource {typed['name']}: its fields",
                    more_fields,
                    second,
                    note="Esc: back to the first form (what you typed here is kept).",
                    action="add",
                )
            )
            if result and "cancelled" in result:
                typed_more, refused, result = result["cancelled"], None, None
                continue
            refused = result.get("back") if result else None
            if refused is not None:
                typed_more = result["typed"]
            if result and refused is None:
                break
        if result:
            # The new resource is the highlighted one before the keys typed meanwhile go
            # on (they wait for this action): `a` then adds its account to it, not to the
            # row that was highlighted before (newcomer pass 11).
            await self.show_resource(result["id"])
            self.changed("resources", f"Resource {result['name']} added.")

    async def _name_free(self, name: str) -> None:
        """Refuse, under Name, a name a resource I can see already has."""
        taken = await self.app.client.resources(self.org, name)
        if any(r["name"].lower() == name.strip().lower() for r in taken):
            raise refusal("name", f"{self.org} already has a resource named {name!r}")

    @api_worker()
    async def action_edit_resource(self) -> None:
        """Edit the selected resource and its additional fields (needs full permission)."""
        resource = self._need("resources", "a resource")
        if resource is None:
            return
        client = self.app.client
        current = await client.resource(self.org, resource)
        types, definitions = await self._settings()
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

    @api_worker("Cannot delete the resource")
    async def action_delete_resource(self) -> None:
        """Delete the highlighted resource and its accounts (type its name first; needs
        full permission)."""
        resource = self._need("resources", "a resource")
        if resource is None:
            return
        name = self.selected_cell("resources", 0)
        cell = self.selected_cell("resources", 3)  # the Accounts column, as drawn
        accounts = int(cell) if cell and cell.isdigit() else 0

        async def submit(_v: dict) -> bool:
            await self.app.client.delete_resource(self.org, resource)
            return True

        if await self.form(
            f"Delete resource {name}?",
            [typed_confirmation(name, f"Type {name} to delete it (Esc keeps it)", strip=True)],
            submit,
            note=(
                f"Its {counted(accounts, 'account')} and their passwords are gone for good."
                if accounts
                else "It holds no account."
            ),
            action="delete",
            danger=True,
        ):
            self.changed("resources", f"Resource {name} deleted.")
