"""A form built from a pydantic model's fields, so any job kind gets a "Run job…" dialog.

bool → check box, int/float → spin box, Literal/Enum → combo box, Path/str → line edit,
optional numbers and anything else (lists, dicts, nested models) → a line edit read as
JSON, empty meaning None. Validation is pydantic's; ``error_text`` says what it found in
words a person reads, one line per field (``describe_validation_error``).
"""

from __future__ import annotations

import enum
import json
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import to_jsonable_python
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QLineEdit, QSpinBox, QWidget

INT_LIMIT = 2**31 - 1

#: the widgets a form edits a field with
Editor = QCheckBox | QSpinBox | QDoubleSpinBox | QComboBox | QLineEdit


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return annotation, False


class ParamsForm(QWidget):
    """``exclude`` leaves fields out of the form (``values()`` then lacks them); ``choices``
    turns a text field into an editable combo box offering the given values."""

    changed = Signal()

    def __init__(
        self,
        model: type[BaseModel],
        values: dict[str, Any] | None = None,
        parent=None,
        *,
        exclude: tuple[str, ...] = (),
        choices: dict[str, list[str]] | None = None,
    ):
        super().__init__(parent)
        self.model = model
        self.editors: dict[str, tuple[Editor, Any, bool]] = {}
        layout = QFormLayout(self)
        values = values or {}
        choices = choices or {}
        for name, field in model.model_fields.items():
            if name in exclude:
                continue
            annotation, optional = _unwrap_optional(field.annotation)
            default = values.get(name, None if field.is_required() else field.get_default(call_default_factory=True))
            editor: Editor
            if name in choices:
                editor = QComboBox(editable=True)
                editor.addItems(choices[name])
                editor.setCurrentText("" if default is None else str(default))
            else:
                editor = self._editor(annotation, default, field, optional)
            self._connect_changed(editor)
            editor.setObjectName(f"param:{name}")
            if field.description:
                editor.setToolTip(field.description)
            self.editors[name] = (editor, annotation, optional)
            layout.addRow(name.replace("_", " ") + (" *" if field.is_required() else ""), editor)

    def _editor(self, annotation: Any, default: Any, field, optional: bool) -> Editor:
        if optional and annotation in (int, float):  # a spin box cannot say "none"
            edit = QLineEdit("" if default is None else str(default))
            edit.setPlaceholderText("empty = none")
            return edit
        if annotation is bool:
            box = QCheckBox()
            box.setChecked(bool(default))
            return box
        if annotation is int:
            spin = QSpinBox()
            lo, hi = _bounds(field, -INT_LIMIT, INT_LIMIT)
            spin.setRange(int(max(lo, -INT_LIMIT)), int(min(hi, INT_LIMIT)))
            spin.setValue(int(default or 0))
            return spin
        if annotation is float:
            double_spin = QDoubleSpinBox(decimals=6)
            lo, hi = _bounds(field, -1e12, 1e12)
            double_spin.setRange(lo, hi)
            double_spin.setValue(float(default or 0.0))
            return double_spin
        choices = _choices(annotation)
        if choices is not None:
            combo = QComboBox()
            for choice in choices:
                combo.addItem(str(getattr(choice, "value", choice)), choice)
            if default in choices:
                combo.setCurrentIndex(choices.index(default))
            return combo
        edit = QLineEdit()
        if annotation in (str, Path):
            edit.setText("" if default is None else str(default))
        else:
            # a nested model, a tuple, a path in a list…: JSON as pydantic writes it
            edit.setText("" if default is None else json.dumps(to_jsonable_python(default)))
            edit.setPlaceholderText("JSON")
        return edit

    def _connect_changed(self, editor: QWidget) -> None:
        for signal in ("toggled", "valueChanged", "currentTextChanged", "textChanged"):
            if hasattr(editor, signal):
                getattr(editor, signal).connect(self.changed)
                return

    def values(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, (editor, annotation, optional) in self.editors.items():
            if isinstance(editor, QCheckBox):
                out[name] = editor.isChecked()
            elif isinstance(editor, (QSpinBox, QDoubleSpinBox)):
                out[name] = editor.value()
            elif isinstance(editor, QComboBox):
                out[name] = editor.currentText() if editor.isEditable() else editor.currentData()
            else:
                text = editor.text().strip()
                if not text and optional:
                    out[name] = None
                elif annotation in (str, Path):
                    out[name] = text
                else:
                    try:
                        out[name] = json.loads(text) if text else None
                    except json.JSONDecodeError:
                        out[name] = text  # pydantic reports what is wrong with it
        return out

    def validate(self) -> BaseModel:
        """The model, or ValidationError: show it with ``error_text``."""
        return self.model.model_validate(self.values())

    def error_text(self, exc: ValidationError) -> str:
        """What is wrong, one line per field, named as the form names it."""
        return describe_validation_error(self.model, exc)


#: pydantic's error types, said in a few words (the limit from the error's context)
PROBLEMS: dict[str, str] = {
    "missing": "is required",
    "int_parsing": "must be a whole number",
    "int_type": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "finite_number": "must be a finite number",
    "bool_parsing": "must be true or false",
    "bool_type": "must be true or false",
    "greater_than_equal": "must be at least {ge}",
    "greater_than": "must be more than {gt}",
    "less_than_equal": "must be at most {le}",
    "less_than": "must be less than {lt}",
    "multiple_of": "must be a multiple of {multiple_of}",
    "literal_error": "must be one of {expected}",
    "enum": "must be one of {expected}",
    "string_too_short": "must have at least {min_length} character(s)",
    "string_too_long": "must have at most {max_length} characters",
    "too_short": "must have at least {min_length} item(s)",
    "too_long": "must have at most {max_length} items",
    "list_type": "must be a list (JSON, like [1, 2])",
    "dict_type": 'must be a mapping (JSON, like {{"key": 1}})',
    "extra_forbidden": "is not a setting of this form",
    "string_type": "must be text",
    "path_type": "must be a path",
}


def field_title(model: type[BaseModel], loc: tuple[int | str, ...]) -> str:
    """A field as a form labels it (``fail_at_step`` → "Fail at step"), nested fields and
    list items joined: "Model › n layer", "Tags [2]"."""
    parts: list[str] = []
    current: Any = model
    for key in loc:
        if isinstance(key, int):
            parts[-1:] = [f"{parts[-1]} [{key + 1}]" if parts else f"[{key + 1}]"]
            continue
        fields = getattr(current, "model_fields", {}) if isinstance(current, type) else {}
        field = fields.get(key)
        title = field.title if field is not None and field.title else str(key).replace("_", " ")
        parts.append(title)
        annotation = _unwrap_optional(field.annotation)[0] if field is not None else None
        current = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    text = " › ".join(parts) or "the settings"
    return text[:1].upper() + text[1:]


def describe_validation_error(model: type[BaseModel], exc: ValidationError) -> str:
    """One line per field that is wrong, "Field: what is wrong", in the form's order; only
    the first problem of a field (a field that may be empty or a number reports both)."""
    lines: dict[str, str] = {}
    for err in exc.errors():
        title = field_title(model, tuple(err.get("loc", ())))
        if title in lines:
            continue
        template = PROBLEMS.get(str(err.get("type")))
        context = err.get("ctx") or {}
        if err.get("type") == "string_too_short" and context.get("min_length") == 1:
            template = "must not be empty"
        try:
            problem = template.format(**context) if template else ""
        except (KeyError, IndexError, ValueError):
            problem = ""
        if not problem:  # a validator's own words, without pydantic's prefix
            message = (
                str(err.get("msg", "is not valid")).removeprefix("Value error, ").removeprefix("Assertion failed, ")
            )
            problem = message[:1].lower() + message[1:] if message[:2] != message[:2].upper() else message
        lines[title] = f"{title}: {problem}"
    return "\n".join(lines.values())


def _bounds(field, lo: float, hi: float) -> tuple[float, float]:
    for meta in field.metadata:
        ge, gt, le, lt = (getattr(meta, bound, None) for bound in ("ge", "gt", "le", "lt"))
        if ge is not None:
            lo = ge
        if gt is not None:
            lo = gt
        if le is not None:
            hi = le
        if lt is not None:
            hi = lt
    return float(lo), float(hi)


def _choices(annotation: Any) -> list[Any] | None:
    if typing.get_origin(annotation) is typing.Literal:
        return list(typing.get_args(annotation))
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return list(annotation)
    return None
