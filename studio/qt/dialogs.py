"""Dialogs: run a job of any kind (form built from its params model), and settings."""

from __future__ import annotations

from pydantic import BaseModel, ValidationError
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
)

from studio.core import secrets
from studio.qt.params_form import ParamsForm
from studio.qt.theme import set_tone


class RunJobDialog(QDialog):
    def __init__(self, jobs, parent=None, kind: str | None = None):
        super().__init__(parent)
        self.setWindowTitle("Run job")
        self.setMinimumWidth(480)
        self.jobs = jobs
        self.kind_id: str = ""
        self.params: BaseModel | None = None
        self.kind_box = QComboBox(objectName="kind")
        for kind_id, kind in sorted(jobs.kinds.items()):
            self.kind_box.addItem(f"{kind.title}  ({kind_id})", kind_id)
        self.description = QLabel(wordWrap=True)
        self.form_holder = QVBoxLayout()
        self.error = QLabel(wordWrap=True, objectName="error")
        set_tone(self.error, "error")  # readable in either theme, re-toned when it changes
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Run")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.kind_box)
        layout.addWidget(self.description)
        layout.addLayout(self.form_holder)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self.form: ParamsForm | None = None
        self.kind_box.currentIndexChanged.connect(self._show_kind)
        if kind is not None and self.kind_box.findData(kind) >= 0:
            self.kind_box.setCurrentIndex(self.kind_box.findData(kind))
        self._show_kind()

    def _show_kind(self) -> None:
        kind = self.jobs.kinds[self.kind_box.currentData()]
        if self.form is not None:
            self.form.setParent(None)
            self.form.deleteLater()
        self.form = ParamsForm(kind.params)
        self.form_holder.addWidget(self.form)
        self.description.setText(kind.description or (kind.params.__doc__ or "").strip())
        self.error.clear()

    def accept(self) -> None:
        kind = self.jobs.kinds[self.kind_box.currentData()]
        assert self.form is not None  # _show_kind made one in __init__
        try:
            self.params = self.form.validate()
        except ValidationError as exc:
            self.error.setText(self.form.error_text(exc))
            return
        self.kind_id = kind.id
        super().accept()


class SettingsDialog(QDialog):
    def __init__(self, studio, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setMinimumWidth(520)
        self.studio = studio
        s = studio.settings
        general = QGroupBox("General")
        form = QFormLayout(general)
        self.theme = QComboBox(objectName="theme")
        self.theme.addItems(["system", "light", "dark"])
        self.theme.setCurrentText(s.theme)
        self.device = QComboBox(objectName="device")
        self.device.addItems(["auto", "cpu", "cuda", "mps"])
        self.device.setCurrentText(s.device)
        self.max_process = QSpinBox(objectName="max_process", minimum=1, maximum=64, value=s.max_process_jobs)
        form.addRow("Theme", self.theme)
        form.addRow("Default device", self.device)
        form.addRow("Process jobs at once", self.max_process)
        form.addRow("Workspace", QLabel(str(studio.workspace.root), wordWrap=True))

        keys = QGroupBox("LLM provider keys")
        key_layout = QVBoxLayout(keys)
        self.keyring = secrets.keyring_status()
        note = QLabel(self.keyring.explanation, wordWrap=True, objectName="keyring_note")
        key_layout.addWidget(note)
        row = QHBoxLayout()
        self.provider = QComboBox(objectName="provider")
        self.provider.addItems(sorted(secrets.PROVIDER_ENV))
        self.key = QLineEdit(objectName="key", echoMode=QLineEdit.EchoMode.Password)
        self.key.setPlaceholderText("paste a key to store it in the OS keyring")
        self.store = QPushButton("Store in keyring")
        self.store.setEnabled(self.keyring.available)
        self.store.clicked.connect(self._store_key)
        row.addWidget(self.provider)
        row.addWidget(self.key, 1)
        row.addWidget(self.store)
        key_layout.addLayout(row)
        self.key_state = QLabel(objectName="key_state")
        key_layout.addWidget(self.key_state)
        self.provider.currentTextChanged.connect(self._show_key_state)
        self._show_key_state()

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(general)
        layout.addWidget(keys)
        layout.addWidget(buttons)

    def _show_key_state(self) -> None:
        provider = self.provider.currentText()
        _, where = secrets.get_secret(provider)
        self.key_state.setText(f"{provider}: key {where}; environment variable {secrets.env_var(provider)}")

    def _store_key(self) -> None:
        try:
            secrets.set_secret(self.provider.currentText(), self.key.text())
        except secrets.SecretsUnavailable as exc:
            self.key_state.setText(str(exc))
            return
        self.key.clear()
        self._show_key_state()

    def accept(self) -> None:
        s = self.studio.settings
        s.theme = self.theme.currentText()
        s.device = self.device.currentText()
        s.max_process_jobs = self.max_process.value()
        super().accept()
