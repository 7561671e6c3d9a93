"""A form built from a pydantic model's fields, so any job kind gets a "Run job…" dialog.

bool → check box, int/float → spin box, Literal/Enum → combo box, Path/str → line edit,
optional numbers and anything else (lists, dicts, nested models) → a line edit read as
JSON, empty meaning None. Validation is pydantic's.
"""

from __future__ import annotations

import enum
import json
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel
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
            edit.setText("" if default is None else json.dumps(default))
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
        return self.model.model_validate(self.values())


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
