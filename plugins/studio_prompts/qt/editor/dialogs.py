"""Small forms the editor asks with (Run, Evaluate, Optimize): named fields, each a line of
text, a choice among known values (still editable: a ``module:function`` metric is allowed),
a file that can be typed, browsed for, or dropped from the file manager, or a model (the
shell's model picker: any model string, or one of the workspace's models)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QWidget,
)

from studio.widgets import ModelPicker


@dataclass
class Choice:
    options: list[str]
    value: str = ""


@dataclass
class FilePath:
    value: str = ""
    filter: str = "All files (*)"


@dataclass
class ModelName:
    """A model string; the picker remembers the last one per ``key`` (the plugin's settings)."""

    ctx: Any  # the editor's PanelContext
    key: str
    value: str = ""


MODEL_PLACEHOLDER = "e.g. openai/gpt-4o-mini, ollama_chat/llama3.2, or a trained model from the list"


def studio_model_prefix() -> str | None:
    """The prefix of the provider whose model strings name the workspace's models
    (``LLMProvider.model_refs``: the trainer's ``studio/``), or None when none is enabled."""
    from studio.api import contributions

    return next((p.prefix for p in contributions("studio_llm_providers") if p.model_refs), None)


def model_picker(ctx: Any, key: str = "", placeholder: str = MODEL_PLACEHOLDER) -> ModelPicker:
    """A model field: any model string typed, or a workspace model picked as ``studio/<run id>``
    (the provider's prefix). With no such provider enabled the list stays empty: a model
    picked there could not be called."""
    prefix = studio_model_prefix()
    return ModelPicker(
        ctx,
        key,
        prefix=prefix or "",
        placeholder=placeholder,
        lister=None if prefix is not None else (lambda _folders: []),
    )


class DropLineEdit(QLineEdit):
    """A line edit that takes the path of a file or folder dropped on it."""

    def dragEnterEvent(self, event):  # noqa: N802 - Qt naming
        if event.mimeData().hasUrls():
            event.acceptProposedAction()
        else:
            super().dragEnterEvent(event)

    def dropEvent(self, event):  # noqa: N802 - Qt naming
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.toLocalFile()]
        if paths:
            self.setText(paths[0])
            event.acceptProposedAction()
        else:
            super().dropEvent(event)


class PathEdit(QWidget):
    def __init__(self, field: FilePath, parent=None):
        super().__init__(parent)
        self.filter = field.filter
        self.line = DropLineEdit(field.value, placeholderText="drop a file here, or Browse…")
        browse = QPushButton("Browse…", clicked=self.browse)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.line, 1)
        layout.addWidget(browse)

    def browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a file", self.line.text(), self.filter)
        if path:
            self.line.setText(path)

    def text(self) -> str:
        return self.line.text()


class FormDialog(QDialog):
    def __init__(self, parent, title: str, fields: dict[str, str | Choice | FilePath | ModelName]):
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setMinimumWidth(520)  # model strings and paths are long
        form = QFormLayout(self)
        self.edits: dict[str, QComboBox | PathEdit | QLineEdit | ModelPicker] = {}
        for name, field in fields.items():
            edit: QComboBox | PathEdit | QLineEdit | ModelPicker
            if isinstance(field, ModelName):
                edit = model_picker(field.ctx, field.key)
                if field.value:
                    edit.set_value(field.value)
            elif isinstance(field, Choice):
                edit = QComboBox(editable=True)
                edit.addItems(field.options)
                edit.setCurrentText(field.value or (field.options[0] if field.options else ""))
            elif isinstance(field, FilePath):
                edit = PathEdit(field)
            else:
                edit = QLineEdit(field)
            edit.setObjectName(name)
            self.edits[name] = edit
            form.addRow(name, edit)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def showEvent(self, event) -> None:  # noqa: N802 - Qt naming
        """The first field has the focus, its text selected: typing replaces the last answer."""
        super().showEvent(event)
        first = next(iter(self.edits.values()), None)
        line: QLineEdit | None
        if isinstance(first, (PathEdit, ModelPicker)):
            line = first.line
        else:
            line = first.lineEdit() if isinstance(first, QComboBox) else first
        if line is not None:
            line.setFocus(Qt.FocusReason.TabFocusReason)
            line.selectAll()

    def accept(self) -> None:
        for edit in self.edits.values():
            if isinstance(edit, ModelPicker):
                edit.remember()  # the next form starts with this model
        super().accept()

    def values(self) -> dict[str, str]:
        return {
            name: edit.currentText() if isinstance(edit, QComboBox) else edit.text()
            for name, edit in self.edits.items()
        }
