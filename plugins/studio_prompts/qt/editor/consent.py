"""Asking before a workflow's Python code runs: the dialog that names each callable.

Why it asks, and how the answer is remembered per content digest, is in
``workflow/runs.py`` (``consent_for``, ``remember``), which the editor calls around it.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QMessageBox, QWidget

from ...workflow.runs import SETTINGS_KEY
from ...workflow.trust import CodeRef

__all__ = ["SETTINGS_KEY", "TrustDialog"]  # the settings key where answers are kept, for tests


class TrustDialog(QMessageBox):
    """Names each callable; *Run* agrees, *Cancel* (the default) does not."""

    def __init__(self, parent: QWidget | None, path: Path, code: list[CodeRef]):
        super().__init__(parent)
        self.setObjectName("prompts:trust")
        self.setIcon(QMessageBox.Icon.Warning)
        servers = any(ref.ref.startswith("model endpoint ") for ref in code)
        only_servers = all(ref.ref.startswith("model endpoint ") for ref in code)
        self.setWindowTitle(
            "Send your API keys to servers a workflow names?" if only_servers else "Run Python code from a workflow?"
        )
        what = (
            "sends your API keys to servers it names"
            if only_servers
            else "runs Python code it names" + (" and sends your API keys to servers it names" if servers else "")
        )
        self.setText(f"<b>{path.name}</b> {what}. Only run it if you trust where the file came from.")
        self.setInformativeText(
            "\n".join(f"• {ref.ref} — {ref.role}" + (f" in {ref.where}" if ref.where else "") for ref in code)
        )
        self.run_button = self.addButton("Run", QMessageBox.ButtonRole.AcceptRole)
        self.cancel_button = self.addButton(QMessageBox.StandardButton.Cancel)
        self.setDefaultButton(self.cancel_button)
        self.setEscapeButton(self.cancel_button)

    def ask(self) -> bool:
        self.exec()
        return self.clickedButton() is self.run_button
