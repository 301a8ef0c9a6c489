"""The one form dialog: labels, text fields and pickers, inline errors, input kept on failure.

Every dialog that asks for something is a ``FormModal``: the first field has focus,
Tab/Shift+Tab move between fields, Enter (or Ctrl+S) submits, Esc cancels. When the
form has a ``submit`` coroutine the dialog stays open until it succeeds; the server's
``validation_failed`` errors are shown under each field's own label, all at once.

Keys typed after the Enter that sends the form, while the server answers, wait in order
(``tui.keyboard``): on a refusal they go into the form again; on success to what comes
next, the list under the form or the next dialog of the flow that opened it (issue 35).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Input, Label, Select, Static
from textual.worker import NoActiveWorker, Worker, get_current_worker

from tui.client import SESSION_ENDED, ApiError, read_only_sentence
from tui.controls.multi_picker import MultiPicker
from tui.controls.picker import Picker
from tui.logic.fields import (  # the fields a form is made of (re-exported for the dialogs)
    REPEAT,
    Choices,
    Field,
    new_password,
    new_password_fields,
    refusal,
    typed_confirmation,
)
from tui.text import inert, inert_lines
from tui.wording import field_label, field_refusal
from tui.workers import api_worker

__all__ = [
    "FOCUS_MARK",
    "REPEAT",
    "Choices",
    "Field",
    "FormModal",
    "focus_label",
    "humanize",
    "new_password",
    "new_password_fields",
    "refusal",
    "typed_confirmation",
]


MARKED = "Please correct the fields marked below."
_NOTHING = object()  # no problem was shown under the field
FOCUS_MARK = "▶ "  # before the focused field's label: seen without colour (over SSH)


def focus_label(text: str, focused: bool) -> str:
    """A field's label as drawn: ``text`` with ``FOCUS_MARK`` before it while its field has
    the focus, so the field being typed in is seen on a terminal without colour (newcomer
    pass 10 on the login screen: a password typed into Organization, shown in clear; every
    form since). The login screen and every ``FormModal`` draw their labels with it."""
    return FOCUS_MARK + text if focused else text


def humanize(name: str) -> str:
    """'full_name' → 'Full name', 'fields.serial' → 'Serial' (for server fields the form
    does not show: never a field path)."""
    return field_label(name)


class FormModal(ModalScreen[Any]):
    """A titled form; dismissed with ``submit``'s result (or the values), None on Esc."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="form-cancel"),
        Binding("ctrl+s", "submit", "Save", id="form-save"),
    ]

    def __init__(
        self,
        title: str,
        fields: list[Field],
        submit: Callable[[dict[str, Any]], Awaitable[Any]] | None = None,
        note: str = "",
        action: str = "save",
        danger: bool = False,
        figure: str = "",
        wide: bool = False,
    ) -> None:
        super().__init__()
        self._title, self._fields, self._submit = title, fields, submit
        self._note, self._action, self._danger = note, action, danger
        self._figure, self._wide = figure, wide
        self._busy = False
        self._typed_ahead: object = None  # the keys' hold while the server answers
        try:  # the flow that opens the form (its next dialog takes the keys typed ahead)
            self._flow: Worker | None = get_current_worker()
        except NoActiveWorker:
            self._flow = None
        self._resumed = False  # shown once already (see _on_screen_resume)
        self._laid_out = False  # the first resize came (see _on_resize)
        self._summary = ""  # the form's error line
        self._refused_value: dict[str, Any] = {}  # field → its value when a problem showed
        # The first field has the focus from the first frame on (a focus() call would
        # land later, after keys typed at once).
        self.AUTO_FOCUS = f"#f-{fields[0].name}" if fields else ""
        self._marked = fields[0].name if fields else None  # the label with the focus mark

    def compose(self) -> ComposeResult:
        """Title, note, then each field's label, control and error line."""
        classes = "dialog" + (" danger" if self._danger else "") + (" wide" if self._wide else "")
        with VerticalScroll(classes=classes):
            yield Static(inert(self._title), classes="dialog-title")
            if self._figure:
                yield Static(inert_lines(self._figure), id="figure")
            if self._note:
                yield Static(inert_lines(self._note), classes="dialog-note")
            yield Static("", id="form-error", classes="field-error")
            for f in self._fields:
                marked = f.name == self._marked  # the first field: AUTO_FOCUS, first frame on
                yield Label(
                    focus_label(self._label_text(f), marked),
                    id=f"l-{f.name}",
                    classes="field-label",
                )
                if f.choices is not None and f.multiple:
                    yield MultiPicker(
                        *((inert(label), value, value in f.chosen) for label, value in f.choices),
                        id=f"f-{f.name}",
                        compact=True,
                    )
                elif f.choices is not None or f.load is not None:
                    options = f.choices or ([(f.value, f.value)] if f.value else [])
                    picker = Picker(
                        options,
                        value=f.value if f.value in {v for _, v in options} else Select.NULL,
                        prompt=f.placeholder or "Enter or type to choose",
                        allow_blank=True,
                        id=f"f-{f.name}",
                        compact=True,
                    )
                    picker.lone = len(self._fields) == 1  # Enter submits its choice
                    yield picker
                else:
                    yield Input(
                        value=f.value,
                        placeholder=f.placeholder,
                        password=f.password,
                        id=f"f-{f.name}",
                        compact=True,
                    )
                yield Static("", id=f"e-{f.name}", classes="field-error")
            yield Static(self._keys_line(), id="form-keys", classes="dialog-keys")

    def on_mount(self) -> None:
        """Tab moves between the fields only, not to the dialog's frame; pickers whose
        choices come from the server start loading them."""
        self.query_one(".dialog").can_focus = False
        for f in self._fields:
            if f.load is not None:
                self.load_choices(f)

    def _on_screen_resume(self, event: events.ScreenResume) -> None:
        """The first time the form shows, its widgets were styled as they mounted a moment
        ago: Textual's restyling of the whole screen on resume would do it all again
        (a third of the time to the first frame: issue 35, item 8). Later resumes (a
        dialog over the form closed) restyle as usual."""
        if not self._resumed:
            self._resumed = True
            event.refresh_styles = False

    def _on_resize(self, event: events.Resize) -> None:
        """The first layout of the form sends the form its own size as a resize, and
        Textual would lay out the form and the screen under it once more for it: the
        size has not changed, so that second layout is skipped (issue 35, item 8). A
        real resize of the terminal (another size) is handled as usual."""
        echo = not self._laid_out and event.size == self.size
        self._laid_out = True
        if echo:
            event.stop()
            event.prevent_default()

    def scroll_to_center(self, widget: Widget, *args: Any, **options: Any) -> None:
        """A focused field is brought into view by centring it, except the first field
        while it shows with the dialog at its top: then the dialog stays at its top (title,
        note and the first label on a 24-line screen)."""
        dialog = self.query_one(".dialog")
        if self._fields and widget is self.query_one(f"#f-{self._fields[0].name}"):
            if widget.virtual_region.bottom <= dialog.scrollable_content_region.height:
                dialog.scroll_home(animate=False)
                return
        super().scroll_to_center(widget, *args, **options)

    @api_worker(group="form-choices")
    async def load_choices(self, spec: Field) -> None:
        """Fill ``spec``'s picker from the server, keeping what is chosen already (or the
        field's preset value); a refusal is shown under the field."""
        try:
            options = await spec.load()
        except ApiError as error:
            self._show(spec.name, error.detail)
            return
        spec.choices = options
        picker = self.query_one(f"#f-{spec.name}", Picker)
        keep = picker.value
        known = {value for _label, value in options}
        with picker.prevent(Select.Changed):
            picker.set_options(options)
            if keep in known:
                picker.value = keep
            elif spec.value in known:
                picker.value = spec.value
        picker.refilled()  # a list already open searches what was typed among them

    def values(self) -> dict[str, Any]:
        """The form's current values: text for inputs, '' for an unchosen picker, the list
        of checked values for a checklist."""
        out: dict[str, Any] = {}
        for f in self._fields:
            widget = self.query_one(f"#f-{f.name}")
            if isinstance(widget, MultiPicker):
                ticked = set(widget.selected)
                out[f.name] = [value for _label, value in f.choices or () if value in ticked]
            elif isinstance(widget, Select):
                out[f.name] = "" if widget.value is Select.NULL else str(widget.value)
            else:
                out[f.name] = widget.value
        return out

    def _show(self, name: str, message: str) -> None:
        if message:  # the value the problem is about (a change to it clears the problem)
            widget = self.query_one(f"#f-{name}")
            self._refused_value[name] = getattr(widget, "value", None)
        line = self.query_one(f"#e-{name}", Static)
        line.update(inert(message))
        line.set_class(bool(message), "shown")

    def _show_form_error(self, message: str) -> None:
        self._summary = message
        line = self.query_one("#form-error", Static)
        line.update(inert(message))
        line.set_class(bool(message), "shown")

    def _keys_line(self, focused: object = None) -> str:
        """The dialog's key line; on a picker not chosen in yet, Enter opens its list
        (and Ctrl+S saves), and the line says so (issue 35)."""
        toggle = "   Space: tick" if any(f.multiple for f in self._fields) else ""
        if isinstance(focused, Picker) and not focused.enter_submits:
            return f"Enter: open the list   Ctrl+S: {self._action}   Esc: cancel"
        return f"Enter: {self._action}   Tab: next field{toggle}   Esc: cancel"

    @staticmethod
    def _label_text(spec: Field) -> str:
        """A field's label without the focus mark: a required field's ends with ' *'."""
        return spec.label + (" *" if spec.required else "")

    def _focused_field(self, widget: object) -> str | None:
        """The name of the form's field that ``widget`` is (or is inside of), else None."""
        names = {f"f-{f.name}": f.name for f in self._fields}
        node = widget
        while isinstance(node, Widget) and node is not self:
            if node.id in names:
                return names[node.id]
            node = node.parent
        return None

    @on(events.DescendantFocus)
    def _focus_moved(self, event: events.DescendantFocus) -> None:
        """The key line follows the focused field, and so does the focus mark: the focused
        field's label starts with ``FOCUS_MARK`` and the others lose it (Tab, Shift+Tab, a
        refused save that moves the focus to the first field marked)."""
        for line in self.query("#form-keys").results(Static):  # a dialog's own line stays
            line.update(self._keys_line(event.widget))
        self._mark(self._focused_field(event.widget))

    @on(events.DescendantBlur)
    def _focus_left(self, _event: events.DescendantBlur) -> None:
        """The focus left the fields for nothing (the field it was on was hidden or
        removed): no label keeps the mark."""
        if self.focused is None:
            self._mark(None)

    def _mark(self, name: str | None) -> None:
        """Put the focus mark on field ``name``'s label (None: on no label); only the
        labels whose mark changes are drawn again."""
        if name == self._marked:
            return
        for f in self._fields:
            if f.name in (name, self._marked):
                for label in self.query(f"#l-{f.name}").results(Label):
                    label.update(focus_label(self._label_text(f), f.name == name))
        self._marked = name

    @on(Select.Changed)
    @on(MultiPicker.SelectedChanged)
    def choice_made(self, event: Select.Changed | MultiPicker.SelectedChanged) -> None:
        """A new choice answers the problem shown under its picker: clear it."""
        widget = event.control
        if widget is not None and widget.id and widget.id.startswith("f-"):
            name = widget.id.removeprefix("f-")
            refused = self._refused_value.get(name, _NOTHING)
            unchanged = isinstance(widget, Select) and widget.value == refused
            if not unchanged:  # the choice the problem was about is no longer the one shown
                self._cleared(name)
        if widget is not None and widget is self.focused:
            for line in self.query("#form-keys").results(Static):
                line.update(self._keys_line(widget))

    @on(Input.Changed)
    def live_check(self, event: Input.Changed) -> None:
        """Show a field's problem as the user types; a field without a check of its own
        loses the problem shown under it (the server's, or 'is required') once changed."""
        spec = next((f for f in self._fields if f"f-{f.name}" == event.input.id), None)
        if spec is None:
            return
        if spec.check:
            self._show(spec.name, (spec.check(event.value) or "") if event.value else "")
        elif event.value != self._refused_value.get(spec.name, event.value):
            self._cleared(spec.name)

    def _cleared(self, name: str) -> None:
        """The field ``name`` was changed: its problem goes, and the form's summary too
        once no field is marked (issue 35: errors stayed after the field was fixed)."""
        self._show(name, "")
        marked = [line for line in self.query(".field-error.shown") if line.id != "form-error"]
        if not marked and self._summary.startswith(MARKED):
            self._show_form_error("")

    @on(Input.Submitted)
    def enter_pressed(self, event: Input.Submitted) -> None:
        """Enter in a text field submits the form."""
        event.stop()
        self.action_submit()

    def action_submit(self) -> None:
        """Check locally, then send; the dialog closes only on success."""
        if self._busy:
            return
        values = self.values()
        problems = {}
        for f in self._fields:
            value = values[f.name]
            if f.required and not (value if f.multiple else value.strip()):
                problems[f.name] = "is required"
            elif f.check and value and (problem := f.check(value)):
                problems[f.name] = problem
        for f in self._fields:
            self._show(f.name, problems.get(f.name, ""))
        if problems:
            self._show_form_error(MARKED)
            self.set_focus(self.query_one(f"#f-{next(iter(problems))}"))
            return
        self._show_form_error("")
        if self._submit is None:
            self.dismiss(values)
            return
        self._busy = True
        self._hold_keys()
        self.send(values)

    @api_worker(exclusive=True, group="form")
    async def send(self, values: dict[str, Any]) -> None:
        """Run the form's request; show the server's refusal in place."""
        try:
            result = await self._submit(values)
        except ApiError as error:
            self._busy = False
            self._release_keys()  # into the form, after the refusal is shown below
            if error.code == SESSION_ENDED:
                self.app.show_error(error)  # the login screen takes over
                return
            self.show_refusal(error)
            return
        except BaseException:
            self._busy = False
            self._release_keys()
            raise
        self._busy = False
        self.dismiss(result if result is not None else values)
        self._release_keys(closed=True)

    def _hold_keys(self) -> None:
        """The form was sent: keys typed from now on wait for its answer."""
        queue = getattr(self.app, "keys_queue", None)
        if queue is not None:
            self._typed_ahead = queue.hold()

    def _release_keys(self, closed: bool = False) -> None:
        """The answer came: the keys typed ahead go on, in order. A form that ``closed``
        hands them to its flow's next step: they wait while the flow that opened the form
        still runs (it may open another dialog, whose push hands them on at once)."""
        queue = getattr(self.app, "keys_queue", None)
        if queue is None or self._typed_ahead is None:
            return
        flow = self._flow
        if closed and flow is not None and flow.is_running:
            queue.hold_while(lambda: flow.is_running)
        queue.release(self._typed_ahead)
        self._typed_ahead = None

    def show_refusal(self, error: ApiError) -> None:
        """Put each field error under its field; anything else on the form's error line.

        A read-only server's refusal says that nothing was saved and names the primary.
        """
        if error.code == "read_only":
            for f in self._fields:
                self._show(f.name, "")
            self._show_form_error(read_only_sentence(error))
            return
        by_api_name = {n: f for f in self._fields for n in (f.name, *f.api_names)}
        errors = error.body.get("errors") or []
        shown, elsewhere = {}, []
        for item in errors:
            target = by_api_name.get(item.get("field", ""))
            if target is None:
                elsewhere.append(field_refusal(item.get("field", ""), item.get("message", "")))
            else:
                shown.setdefault(target.name, item.get("message", ""))
        if not errors and len(self._fields) == 1:
            shown[self._fields[0].name] = error.detail  # a one-field form: it is about that
        for f in self._fields:
            self._show(f.name, shown.get(f.name, ""))
        if shown:
            summary = MARKED
            if elsewhere:
                summary += " Also: " + " ".join(elsewhere)
            self.set_focus(self.query_one(f"#f-{next(iter(shown))}"))
        else:
            summary = " ".join(elsewhere) or error.detail
        self._show_form_error(summary)

    def action_cancel(self) -> None:
        """Close without a result."""
        self.dismiss(None)
