"""The Trainer panel: presets, data, model, training and fine-tuning settings, a live model
summary, a Train button, and Resume for runs that stopped early. The settings are kept
across restarts."""

from __future__ import annotations

import functools
from pathlib import Path

from pydantic import ValidationError
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from studio.api import Panel, PanelContext
from studio.widgets import JobTracker, ParamsForm

from ..config import DataConfig, ModelConfig, TrainParams
from ..model.summary import estimate
from ..presets import PresetError, list_presets, load_preset, save_preset, user_dir
from ..resumable import resumable_runs

TRAINING_FIELDS_ELSEWHERE = ("data", "model", "init_from", "lora", "distill", "resume")
FINE_TUNE_FIELDS = ("init_from", "lora", "distill", "resume")
PROGRESS_WIDTH = 220  # pixels: the bar shares the status line


def _scroll(widget: QWidget) -> QScrollArea:
    area = QScrollArea()
    area.setWidget(widget)
    area.setWidgetResizable(True)
    return area


class TrainPanel(QWidget, Panel):
    def __init__(self, ctx: PanelContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        layout = QVBoxLayout(self)
        presets_row = QHBoxLayout()
        self.presets = QComboBox(objectName="trainer:presets")
        self.presets.setToolTip("Named settings: built-in, or saved in the workspace's trainer/presets folder")
        load_button = QPushButton("Load", clicked=self.load_selected_preset)
        save_button = QPushButton("Save as preset…", clicked=self._ask_and_save_preset)
        presets_row.addWidget(QLabel("Preset"))
        presets_row.addWidget(self.presets, 1)
        presets_row.addWidget(load_button)
        presets_row.addWidget(save_button)
        layout.addLayout(presets_row)
        self.tabs = QTabWidget()
        layout.addWidget(self.tabs)
        self.summary = QLabel(wordWrap=True, objectName="trainer:summary")
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.summary)
        self.status = QLabel(wordWrap=True, objectName="trainer:status")
        self.progress = QProgressBar(objectName="trainer:progress", visible=False)
        self.progress.setMaximumWidth(PROGRESS_WIDTH)
        self.cancel_button = QPushButton("Cancel", objectName="trainer:cancel")
        self.cancel_button.setToolTip("Stop the run started here; its latest checkpoint stays, for Resume")
        running = QHBoxLayout()  # the status line, and while a run goes its progress and Cancel
        running.addWidget(self.status, 1)
        running.addWidget(self.progress)
        running.addWidget(self.cancel_button)
        layout.addLayout(running)
        buttons = QHBoxLayout()
        self.defaults_button = QPushButton("Reset to defaults")
        self.defaults_button.clicked.connect(lambda: self.restore_state({}))
        self.train_button = QPushButton("Train", objectName="trainer:train-button")
        self.train_button.setToolTip("Start a training run (Ctrl+Return)")
        self.train_button.clicked.connect(self.start)
        self.resume_menu = QMenu(self)
        self.resume_menu.aboutToShow.connect(self.fill_resume_menu)
        self.resume_button = QToolButton(
            text="Resume", objectName="trainer:resume-button", popupMode=QToolButton.ToolButtonPopupMode.InstantPopup
        )
        self.resume_button.setToolTip(
            "Continue a run that stopped early (cancelled, interrupted, failed) from its "
            "latest checkpoint, with its own settings"
        )
        self.resume_button.setMenu(self.resume_menu)
        buttons.addWidget(self.defaults_button)
        buttons.addStretch(1)
        buttons.addWidget(self.resume_button)
        buttons.addWidget(self.train_button)
        layout.addLayout(buttons)
        # says how the runs started here go; one at a time: Train and Resume wait for it to end
        self.tracker = JobTracker(
            ctx,
            self,
            progress=self.progress,
            cancel=self.cancel_button,
            status=self.status,
            busy_disabled=(self.train_button, self.resume_button),
        )
        self.tracker.finished.connect(lambda _outcome: self.update_summary())  # Train again only if the form is valid
        # only while the focus is in this panel: other panels have their own Ctrl+Return
        QShortcut(
            QKeySequence("Ctrl+Return"), self, context=Qt.ShortcutContext.WidgetWithChildrenShortcut
        ).activated.connect(self.start)
        self.restore_state(ctx.settings().get("last", {}))
        self.refresh_presets()

    # ---------------------------------------------------------------- presets

    def refresh_presets(self) -> None:
        self.presets.clear()
        self.presets.addItem("— choose a preset —", None)  # nothing is loaded until Load is pressed
        for preset in list_presets(self._presets_dir()):
            label = preset.name + ("" if preset.builtin else "  (workspace)")
            self.presets.addItem(label, str(preset.path))
            self.presets.setItemData(self.presets.count() - 1, preset.description, Qt.ItemDataRole.ToolTipRole)

    def workspace_changed(self, workspace: Path) -> None:
        self.refresh_presets()

    def _presets_dir(self, create: bool = False) -> Path:
        """The user's presets, in the plugin's folder of the workspace (made only to save one)."""
        return user_dir(self.ctx.data_dir if create else self.ctx.folders.plugin_dir(self.ctx.plugin_id, create=False))

    def load_selected_preset(self) -> None:
        path = self.presets.currentData()
        if not path:
            return
        try:
            values = load_preset(Path(path))
        except PresetError as exc:
            self.status.setText(f"Not loaded: {exc}")
            return
        self.restore_state(values)
        self.status.setText(f"Loaded preset {Path(path).stem}; press Train to start.")

    def save_as_preset(self, name: str, overwrite: bool = False) -> Path:
        """Save the current settings as a workspace preset (refused if it exists, unless overwrite)."""
        path = save_preset(self._presets_dir(create=True), name, self.values(), overwrite=overwrite)
        self.refresh_presets()
        self.presets.setCurrentIndex(self.presets.findData(str(path)))
        self.status.setText(f"Saved preset {path.stem} to {path}")
        return path

    def _ask_and_save_preset(self) -> None:
        name, ok = QInputDialog.getText(self, "Save preset", "Preset name:")
        if not ok or not name.strip():
            return
        try:
            self.save_as_preset(name)
        except FileExistsError:
            answer = QMessageBox.question(self, "Save preset", f"A preset named {name!r} exists. Replace it?")
            if answer == QMessageBox.StandardButton.Yes:
                self.save_as_preset(name, overwrite=True)
        except (PresetError, ValidationError) as exc:
            self.status.setText(f"Not saved: {exc}")

    # ---------------------------------------------------------------- forms

    def restore_state(self, state: dict) -> None:
        """Rebuild the forms with ``state`` (a TrainParams dict; missing keys take defaults)."""
        from ..model.registry import parts

        index = self.tabs.currentIndex()
        self.tabs.clear()
        attention = [p.id for p in parts("attention")]
        blocks = [p.id for p in parts("block")]
        self.data_form = ParamsForm(DataConfig, state.get("data", {}))
        self.model_form = ParamsForm(
            ModelConfig,
            state.get("model", {}),
            exclude=("vocab_size",),
            choices={"attention": attention, "block": blocks},
        )
        self.train_form = ParamsForm(TrainParams, state, exclude=TRAINING_FIELDS_ELSEWHERE)
        self.tune_form = ParamsForm(
            TrainParams, state, exclude=tuple(n for n in TrainParams.model_fields if n not in FINE_TUNE_FIELDS)
        )
        for form, title in (
            (self.data_form, "Data"),
            (self.model_form, "Model"),
            (self.train_form, "Training"),
            (self.tune_form, "Fine-tune / resume"),
        ):
            form.changed.connect(self.update_summary)
            self.tabs.addTab(_scroll(form), title)
        self.tabs.setCurrentIndex(max(0, index))
        self.update_summary()

    def values(self) -> dict:
        return {
            **self.train_form.values(),
            **self.tune_form.values(),
            "data": self.data_form.values(),
            "model": self.model_form.values(),
        }

    def save_state(self) -> dict:
        return self.values()

    def update_summary(self) -> None:
        try:
            params = TrainParams.model_validate(self.values())
        except ValidationError as exc:
            err = exc.errors()[0]
            self.summary.setText(f"⚠ {'.'.join(map(str, err['loc']))}: {err['msg']}")
            self.train_button.setEnabled(False)
            return
        self.train_button.setEnabled(not self.tracker.busy)
        m, d = params.model, params.data
        if params.init_from or params.resume:
            self.summary.setText("The model and tokenizer come from the checkpoint.")
            return
        vocab = d.vocab_size if d.tokenizer == "bpe" else 100
        cost = estimate(m, vocab, params.batch_size, params.grad_checkpointing)
        n, flops, memory = cost.total_params, cost.flops_per_token, cost.train_bytes
        vocab_note = "" if d.tokenizer == "bpe" else " (char vocabulary ≈100; exact once the corpus is read)"
        self.summary.setText(
            f"≈{n / 1e6:.2f} M parameters{vocab_note} · {flops / 1e6:.1f} MFLOPs per training token · "
            f"≈{memory / 2**20:.0f} MiB to train" + (" per process" if params.processes > 1 else "") + " · "
            f"{params.batch_size * params.grad_accum * m.block_size * params.processes:,} tokens per step"
        )

    # ---------------------------------------------------------------- actions

    def start(self) -> None:
        if self.tracker.busy:  # Ctrl+Return while a run goes (the button is disabled)
            return
        values = self.values()
        run_id = self.tracker.start("trainer.train", values, title="Training")
        if run_id is not None:  # else the tracker said why; the form is kept
            self.ctx.save_settings({**self.ctx.settings(), "last": values})
            self.status.setText(f"Started run {run_id}. Curves appear in Metrics, samples in Samples.")

    def fill_resume_menu(self) -> None:
        self.resume_menu.clear()
        runs = resumable_runs(self.ctx.folders.runs)
        for run in runs:
            self.resume_menu.addAction(run.describe(), functools.partial(self.resume, run.run_id))
        if not runs:
            self.resume_menu.addAction("No run stopped before its last step").setEnabled(False)

    def resume(self, run_id: str) -> None:
        """A new run that continues ``run_id`` from its latest checkpoint, with its settings;
        the forms are left as they are."""
        if self.tracker.busy:
            return
        new_id = self.tracker.start("trainer.train", {"resume": run_id}, title=f"Resuming {run_id}")
        if new_id is not None:
            self.status.setText(f"Resuming {run_id} as run {new_id}; its curve continues in Metrics.")


def create(ctx: PanelContext) -> QWidget:
    return TrainPanel(ctx)
