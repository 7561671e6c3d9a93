"""The Generate panel: pick a checkpoint, write a prompt, sample (as a job, cancellable)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QFont, QKeySequence, QShortcut
from PySide6.QtWidgets import (QDoubleSpinBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit,
                               QPlainTextEdit, QPushButton, QSpinBox, QVBoxLayout, QWidget)


class GeneratePanel(QWidget):
    def __init__(self, ctx, parent=None):
        super().__init__(parent)
        self.ctx = ctx
        self.run_id: str | None = None
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
        QShortcut(QKeySequence("Ctrl+Return"), self, activated=self.generate)
        layout.addWidget(self.button)
        self.status = QLabel(wordWrap=True)
        layout.addWidget(self.status)
        self.output = QPlainTextEdit(readOnly=True, objectName="trainer:output")
        self.output.setFont(QFont("monospace"))
        layout.addWidget(self.output, 1)
        saved = ctx.settings().get("generate", {})
        self.checkpoint.setText(saved.get("checkpoint", ""))
        self.prompt.setPlainText(saved.get("prompt", ""))

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Checkpoint folder", str(self.ctx.workspace / "runs"))
        if folder:
            self.checkpoint.setText(folder)

    def open_path(self, path: Path) -> None:
        path = Path(path)
        self.checkpoint.setText(str(path.parent if path.is_file() else path))

    def generate(self) -> None:
        params = {"checkpoint": self.checkpoint.text().strip(), "prompt": self.prompt.toPlainText() or "\n",
                  "max_new_tokens": self.tokens.value(), "temperature": self.temperature.value(),
                  "top_k": self.top_k.value() or None}
        if not params["checkpoint"]:
            self.status.setText("Choose a checkpoint first.")
            return
        try:
            self.run_id = self.ctx.submit_job("trainer.generate", params)
        except Exception as exc:
            self.status.setText(f"Not started: {exc}")
            return
        self.ctx.save_settings({**self.ctx.settings(), "generate": {"checkpoint": params["checkpoint"],
                                                                    "prompt": self.prompt.toPlainText()}})
        self.status.setText("Generating…")
        self.output.clear()

    def handle_events(self, run_id: str, events: list[dict]) -> None:
        if run_id != self.run_id:
            return
        for event in events:
            if event.get("kind") == "span" and event.get("span_kind") == "sample":
                self.output.setPlainText(event["inputs"].get("prompt", "") + event["outputs"].get("text", ""))
            elif event.get("kind") == "status" and event.get("status") in ("succeeded", "failed", "cancelled"):
                error = event.get("error")
                self.status.setText(f"Failed: {error}" if event["status"] == "failed" else event["status"].capitalize())


def create(ctx) -> QWidget:
    return GeneratePanel(ctx)
