"""The Generate panel: pick a checkpoint, write a prompt, sample (as a job, cancellable)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtGui import QFont, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from studio.api import JobOutcome, Panel, PanelContext
from studio.widgets import JobTracker


class GeneratePanel(QWidget, Panel):
    def __init__(self, ctx: PanelContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        layout = QVBoxLayout(self)
        form = QFormLayout()
        row = QHBoxLayout()
        self.checkpoint = QLineEdit(objectName="trainer:checkpoint")
        self.checkpoint.setPlaceholderText("checkpoint folder, run folder or run id")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row.addWidget(self.checkpoint)
        row.addWidget(browse)
        form.addRow("checkpoint", row)
        self.prompt = QPlainTextEdit(objectName="trainer:prompt")
        self.prompt.setPlaceholderText("prompt")
        self.prompt.setMaximumHeight(90)
        form.addRow("prompt", self.prompt)
        self.tokens = QSpinBox(minimum=1, maximum=100_000, value=200)
        self.temperature = QDoubleSpinBox(minimum=0.01, maximum=5.0, value=0.8, singleStep=0.1)
        self.top_k = QSpinBox(minimum=0, maximum=1_000_000, value=200, specialValueText="off")
        form.addRow("new tokens", self.tokens)
        form.addRow("temperature", self.temperature)
        form.addRow("top-k", self.top_k)
        layout.addLayout(form)
        self.button = QPushButton("Generate", objectName="trainer:generate-button")
        self.button.setToolTip("Sample a continuation (Ctrl+Return)")
        self.button.clicked.connect(self.generate)
        QShortcut(QKeySequence("Ctrl+Return"), self).activated.connect(self.generate)
        layout.addWidget(self.button)
        self.status = QLabel(wordWrap=True)
        layout.addWidget(self.status)
        self.tracker = JobTracker(ctx, self, status=self.status)
        self.output = QPlainTextEdit(readOnly=True, objectName="trainer:output")
        self.output.setFont(QFont("monospace"))
        layout.addWidget(self.output, 1)
        saved = ctx.settings().get("generate", {})
        self.checkpoint.setText(saved.get("checkpoint", ""))
        self.prompt.setPlainText(saved.get("prompt", ""))

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Checkpoint folder", str(self.ctx.folders.runs))
        if folder:
            self.checkpoint.setText(folder)

    def open_path(self, path: Path) -> None:
        path = Path(path)
        self.checkpoint.setText(str(path.parent if path.is_file() else path))

    def generate(self) -> None:
        params: dict[str, Any] = {
            "checkpoint": self.checkpoint.text().strip(),
            "prompt": self.prompt.toPlainText() or "\n",
            "max_new_tokens": self.tokens.value(),
            "temperature": self.temperature.value(),
            "top_k": self.top_k.value() or None,
        }
        if not params["checkpoint"]:
            self.status.setText("Choose a checkpoint first.")
            return
        prompt = params["prompt"]
        run_id = self.tracker.start(
            "trainer.generate", params, title="Generation", on_done=lambda outcome: self._show(prompt, outcome)
        )
        if run_id is None:  # the tracker says why
            return
        self.ctx.save_settings(
            {
                **self.ctx.settings(),
                "generate": {"checkpoint": params["checkpoint"], "prompt": self.prompt.toPlainText()},
            }
        )
        self.output.clear()

    def _show(self, prompt: str, outcome: JobOutcome) -> None:
        """The prompt and its continuation (the generate job's result)."""
        if outcome.succeeded and isinstance(outcome.result, dict):
            self.output.setPlainText(prompt + str(outcome.result.get("text", "")))


def create(ctx: PanelContext) -> QWidget:
    return GeneratePanel(ctx)
