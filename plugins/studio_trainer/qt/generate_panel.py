"""The Generate panel: pick a checkpoint, write a prompt, sample (as a job, cancellable)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from studio.api import JobOutcome, Panel, PanelContext
from studio.widgets import JobTracker, ModelPicker

PROGRESS_WIDTH = 220  # pixels: the bar shares the row of the Generate button


class GeneratePanel(QWidget, Panel):
    def __init__(self, ctx: PanelContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        layout = QVBoxLayout(self)
        form = QFormLayout()
        # a run id, run folder, checkpoint or quantized folder: typed, picked from the
        # workspace's models (newest first) or browsed
        self.checkpoint = ModelPicker(ctx, placeholder="run id, run folder or checkpoint folder")
        self.checkpoint.setObjectName("trainer:checkpoint")
        form.addRow("model", self.checkpoint)
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
        # only while the focus is in this panel: other panels have their own Ctrl+Return
        generate_key = QShortcut(
            QKeySequence("Ctrl+Return"), self, context=Qt.ShortcutContext.WidgetWithChildrenShortcut
        )
        generate_key.setWhatsThis("Generate: sample text from the checkpoint")  # Help → Keyboard shortcuts
        generate_key.activated.connect(self.generate)
        self.status = QLabel(wordWrap=True, objectName="trainer:generate-status")
        self.progress = QProgressBar(objectName="trainer:generate-progress", visible=False)
        self.progress.setMaximumWidth(PROGRESS_WIDTH)
        self.cancel_button = QPushButton("Cancel", objectName="trainer:generate-cancel")
        running = QHBoxLayout()  # Generate, what it is doing, and while it samples its progress and Cancel
        running.addWidget(self.button)
        running.addWidget(self.status, 1)
        running.addWidget(self.progress)
        running.addWidget(self.cancel_button)
        self.inspect_button = QPushButton("Inspect", objectName="trainer:generate-inspect", enabled=False)
        self.inspect_button.setToolTip("Open the prompt and the generated text in the Inspector")
        self.inspect_button.clicked.connect(self.inspect)
        running.addWidget(self.inspect_button)
        layout.addLayout(running)
        self.tracker = JobTracker(
            ctx,
            self,
            progress=self.progress,
            cancel=self.cancel_button,
            status=self.status,
            busy_disabled=(self.button,),  # one generation at a time
        )
        self.output = QPlainTextEdit(readOnly=True, objectName="trainer:output")
        self.output.setFont(QFont("monospace"))
        layout.addWidget(self.output, 1)
        # (model, prompt, the run's token record) of the output shown
        self.generated: tuple[str, str, Path | None] | None = None
        saved = ctx.settings().get("generate", {})
        self.checkpoint.setText(saved.get("checkpoint", ""))
        self.prompt.setPlainText(saved.get("prompt", ""))

    def open_path(self, path: Path) -> None:
        path = Path(path)
        self.checkpoint.setText(str(path.parent if path.is_file() else path))

    def generate(self) -> None:
        if self.tracker.busy:  # Ctrl+Return while one samples (the button is disabled)
            return
        params: dict[str, Any] = {
            "checkpoint": self.checkpoint.value(),
            "prompt": self.prompt.toPlainText() or "\n",
            "max_new_tokens": self.tokens.value(),
            "temperature": self.temperature.value(),
            "top_k": self.top_k.value() or None,
        }
        if not params["checkpoint"]:
            self.status.setText("Choose a model first: a trained run, a checkpoint or a quantized folder.")
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
        self.inspect_button.setEnabled(False)

    def _show(self, prompt: str, outcome: JobOutcome) -> None:
        """The prompt and its continuation (the generate job's result)."""
        if outcome.succeeded and isinstance(outcome.result, dict):
            self.output.setPlainText(prompt + str(outcome.result.get("text", "")))
            record = outcome.result.get("token_record")
            self.generated = (self.checkpoint.value(), prompt, Path(record) if isinstance(record, str) else None)
            self.inspect_button.setEnabled(True)

    def inspect(self) -> None:
        """The last generation (prompt + output) in the Inspector, its reply marked."""
        if self.generated is None:
            return
        model, prompt, record = self.generated
        if record is not None and record.is_file() and self.ctx.open_path(record):
            return  # the Inspector opens the run's token record: it checks the log-probabilities too
        inspector = self.ctx.show_panel("trainer:inspector")
        if inspector is not None and hasattr(inspector, "inspect"):
            inspector.inspect(model, self.output.toPlainText(), prompt=prompt)


def create(ctx: PanelContext) -> QWidget:
    return GeneratePanel(ctx)
