"""The Generate panel: pick a checkpoint or a Hugging Face model, write a prompt, sample (as a
job, cancellable). The dtype choice applies to Hugging Face models only (a studio checkpoint
computes in its own dtype), so it is disabled unless the model field names one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
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

DEVICES = ("auto", "cpu", "cuda", "mps")  # GenerateParams.device
DTYPES = ("auto", "float32", "bfloat16", "float16")  # GenerateParams.dtype (Hugging Face models)
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
        self.device = QComboBox(objectName="trainer:generate-device")
        self.device.addItems(DEVICES)
        self.device.setToolTip("auto: CUDA, else MPS, else the CPU")
        self.dtype = QComboBox(objectName="trainer:generate-dtype")
        self.dtype.addItems(DTYPES)
        self.dtype.setToolTip(
            "Hugging Face models: auto is bfloat16 where the device computes it natively, else float32"
        )
        form.addRow("device", self.device)
        form.addRow("dtype", self.dtype)
        self.checkpoint.changed.connect(self._model_changed)
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
        for combo, key in ((self.device, "device"), (self.dtype, "dtype")):
            if saved.get(key) in [combo.itemText(i) for i in range(combo.count())]:
                combo.setCurrentText(saved[key])
        self._model_changed()

    def _model_changed(self, *_: object) -> None:
        """The dtype choice only for a Hugging Face model (a studio checkpoint keeps its own)."""
        hf = is_hf_model(self.checkpoint.value(), self.ctx)
        self.dtype.setEnabled(hf)
        if not hf:
            self.dtype.setToolTip("Hugging Face models only: a studio checkpoint computes in its own dtype")

    def open_path(self, path: Path) -> None:
        path = Path(path)
        folder = path.parent if path.is_file() else path
        self.checkpoint.setText(str(resolve_hf(folder) or folder))  # a hub cache's models--org--name: its snapshot
        self._model_changed()

    def generate(self) -> None:
        if self.tracker.busy:  # Ctrl+Return while one samples (the button is disabled)
            return
        params: dict[str, Any] = {
            "checkpoint": self.checkpoint.value(),
            "prompt": self.prompt.toPlainText() or "\n",
            "max_new_tokens": self.tokens.value(),
            "temperature": self.temperature.value(),
            "top_k": self.top_k.value() or None,
            "device": self.device.currentText(),
        }
        if self.dtype.isEnabled():
            params["dtype"] = self.dtype.currentText()
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
                "generate": {
                    "checkpoint": params["checkpoint"],
                    "prompt": self.prompt.toPlainText(),
                    "device": self.device.currentText(),
                    "dtype": self.dtype.currentText(),
                },
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


def resolve_hf(folder: Path) -> Path | None:
    from ..hf.listing import resolve

    return resolve(folder)


def is_hf_model(value: str, ctx: PanelContext) -> bool:
    """Whether the model field names a Hugging Face folder (reads its config.json only)."""
    from studio.api import resolve_model

    from ..hf.folder import is_hf_folder

    if not value:
        return False
    try:
        return is_hf_folder(resolve_model(value, ctx.folders))
    except Exception:  # a half-typed or unknown ref is simply not a Hugging Face model
        return False


def create(ctx: PanelContext) -> QWidget:
    return GeneratePanel(ctx)
