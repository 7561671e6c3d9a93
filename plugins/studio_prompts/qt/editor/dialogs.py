"""Small forms the editor asks with (Run, Evaluate, Optimize): named fields, each a line of
text, a choice among known values (still editable: a ``module:function`` metric is allowed),
or a file that can be typed, browsed for, or dropped from the file manager."""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass
class Choice:
    options: list[str]
    value: str = ""


@dataclass
class FilePath:
    value: str = ""
    filter: str = "All files (*)"


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
    def __init__(self, parent, title: str, fields: dict[str, str | Choice | FilePath]):
        super().__init__(parent)
        self.setWindowTitle(title)
        form = QFormLayout(self)
        self.edits: dict[str, QComboBox | PathEdit | QLineEdit] = {}
        for name, field in fields.items():
            edit: QComboBox | PathEdit | QLineEdit
            if isinstance(field, Choice):
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

    def values(self) -> dict[str, str]:
        return {
            name: edit.currentText() if isinstance(edit, QComboBox) else edit.text()
            for name, edit in self.edits.items()
        }
