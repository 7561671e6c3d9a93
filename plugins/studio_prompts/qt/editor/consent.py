"""Asking before a workflow's Python code runs, and remembering the answer.

Why: a workflow file may come from anyone, and its function nodes and ReAct tools name
code that runs with your rights. The editor never imports that code to show or edit a
file; before Run, Evaluate or Optimize it names each callable in a dialog (Run / Cancel).
The answer is kept per content digest (the bytes of the file and of its sub-workflows,
``workflow/trust.py``) in the plugin's settings, so a restart keeps it, and a changed file
— a new callable, or anything else — is asked about again.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QMessageBox, QWidget

from ...workflow.trust import CodeRef

SETTINGS_KEY = "trusted_workflows"  # content digest → {"path", "code", "when"}
KEEP = 500  # remembered answers (the oldest are forgotten first)


class TrustDialog(QMessageBox):
    """Names each callable; *Run* agrees, *Cancel* (the default) does not."""

    def __init__(self, parent: QWidget | None, path: Path, code: list[CodeRef]):
        super().__init__(parent)
        self.setObjectName("prompts:trust")
        self.setIcon(QMessageBox.Icon.Warning)
        servers = any(ref.ref.startswith("model endpoint ") for ref in code)
        only_servers = all(ref.ref.startswith("model endpoint ") for ref in code)
        self.setWindowTitle("Send your API keys to servers a workflow names?" if only_servers
                            else "Run Python code from a workflow?")
        what = "sends your API keys to servers it names" if only_servers else \
            "runs Python code it names" + (" and sends your API keys to servers it names" if servers else "")
        self.setText(f"<b>{path.name}</b> {what}. Only run it if you trust where the file came from.")
        self.setInformativeText("\n".join(f"• {ref.ref} — {ref.role}" + (f" in {ref.where}" if ref.where else "")
                                          for ref in code))
        self.run_button = self.addButton("Run", QMessageBox.ButtonRole.AcceptRole)
        self.cancel_button = self.addButton(QMessageBox.StandardButton.Cancel)
        self.setDefaultButton(self.cancel_button)
        self.setEscapeButton(self.cancel_button)

    def ask(self) -> bool:
        self.exec()
        return self.clickedButton() is self.run_button


def remembered(settings: dict[str, Any], digest: str) -> bool:
    return digest in (settings.get(SETTINGS_KEY) or {})


def remember(settings: dict[str, Any], digest: str, path: Path, code: list[CodeRef]) -> dict[str, Any]:
    """The plugin's settings with this answer added (to save with ``save_settings``)."""
    known = dict(settings.get(SETTINGS_KEY) or {})
    known.pop(digest, None)
    known[digest] = {"path": str(path), "code": [ref.ref for ref in code], "when": time.strftime("%Y-%m-%d %H:%M")}
    return {**settings, SETTINGS_KEY: dict(list(known.items())[-KEEP:])}
