"""The Trainer panel: presets, data, model, training and fine-tuning settings, a live model
summary (with the warmup and validation a short run really uses), a Train button, and Resume
for runs that stopped early. The status line follows a run to its end: finished with its
validation loss, failed with the reason, or cancelled at its step. The settings are kept
across restarts."""

from __future__ import annotations

import functools
from pathlib import Path

from pydantic import ValidationError
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from studio.api import Event, JobOutcome, Metric, Panel, PanelContext, Progress, RunStatus
from studio.widgets import JobTracker, ParamsForm

from ..config import DataConfig, ModelConfig, TrainParams, readable_errors
from ..model.summary import estimate
from ..presets import PresetError, list_presets, load_preset, save_preset, user_dir
from ..resumable import resumable_runs
from ..train.schedule import plan

TRAINING_FIELDS_ELSEWHERE = ("data", "model", "init_from", "lora", "distill", "resume")
FINE_TUNE_FIELDS = ("init_from", "lora", "distill", "resume")
PROGRESS_WIDTH = 220  # pixels: the bar shares the status line
TABS_MIN_WIDTH, TABS_MIN_HEIGHT = 200, 110  # pixels: the tab bar and a few rows of a form
CORPUS_FILES = "Text and tables (*.txt *.md *.py *.csv *.json *.jsonl *.parquet);;All files (*)"


def _scroll(form: ParamsForm) -> QScrollArea:
    """A tab page: ``form`` in a frameless scroll area, the only one in the panel. Long rows put
    their field under the label when the page is narrow, so it seldom scrolls sideways."""
    layout = form.layout()
    if isinstance(layout, QFormLayout):
        layout.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
    area = QScrollArea()
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setWidget(form)
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
        # the combo box shrinks with the panel (its names elided) rather than widening it
        self.presets.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.presets.setMinimumContentsLength(8)
        load_button = QToolButton(text="Load", objectName="trainer:load-preset")
        load_button.setToolTip("Fill the forms with the preset chosen")
        load_button.clicked.connect(self.load_selected_preset)
        save_button = QToolButton(text="Save…", objectName="trainer:save-preset")
        save_button.setToolTip("Save as preset…: the current settings, under a name, in the workspace")
        save_button.clicked.connect(self._ask_and_save_preset)
        presets_row.addWidget(QLabel("Preset"))
        presets_row.addWidget(self.presets, 1)
        presets_row.addWidget(load_button)
        presets_row.addWidget(save_button)
        layout.addLayout(presets_row)
        # only the tab pages scroll (each its own scroll area): the status line and the buttons
        # below stay in sight however small the panel, and the panel asks for little room, so
        # the shell's scroll area around it never has to scroll
        self.tabs = QTabWidget(objectName="trainer:tabs")
        self.tabs.setUsesScrollButtons(False)  # the tabs' names are elided instead (Qt's arrows overlap)
        self.tabs.setElideMode(Qt.TextElideMode.ElideRight)
        self.tabs.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Ignored)
        self.tabs.setMinimumSize(TABS_MIN_WIDTH, TABS_MIN_HEIGHT)
        layout.addWidget(self.tabs, 1)
        self.summary = QLabel(wordWrap=True, objectName="trainer:summary")
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.summary)
        self.status = QLabel(wordWrap=True, objectName="trainer:status")
        self.progress = QProgressBar(objectName="trainer:progress", visible=False)
        self.progress.setMaximumWidth(PROGRESS_WIDTH)
        self.progress.setMinimumWidth(60)
        running = QHBoxLayout()  # the status line, and while a run goes its progress
        running.addWidget(self.status, 1)
        running.addWidget(self.progress)
        layout.addLayout(running)
        buttons = QHBoxLayout()
        self.defaults_button = QToolButton(text="Defaults", objectName="trainer:defaults")
        self.defaults_button.setToolTip("Reset to defaults: every setting back to its default")
        self.defaults_button.clicked.connect(lambda: self.restore_state({}))
        self.cancel_button = QPushButton("Cancel", objectName="trainer:cancel")
        self.cancel_button.setToolTip("Stop the run started here; its latest checkpoint stays, for Resume")
        self.train_button = QPushButton("Train", objectName="trainer:train-button")
        self.train_button.setToolTip("Start a training run (Ctrl+Return)")
        self.train_button.clicked.connect(self.start)
        self.last_step = 0  # of the run going: where it was cancelled
        self.last_val: float | None = None  # its latest validation loss
        self.resumed: str | None = None  # the run it continues
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
        for button in (self.cancel_button, self.train_button):  # in a narrow panel, as narrow as their text
            button.setMinimumWidth(button.fontMetrics().horizontalAdvance(button.text()) + 24)
        buttons.addWidget(self.defaults_button)
        buttons.addStretch(1)
        buttons.addWidget(self.resume_button)
        buttons.addWidget(self.cancel_button)
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
        train_key = QShortcut(QKeySequence("Ctrl+Return"), self, context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
        train_key.setWhatsThis("Train: start a training run with these settings")  # Help → Keyboard shortcuts
        train_key.activated.connect(self.start)
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
        self.corpus_file = add_browse(self.data_form, "corpus", "Browse…", "Corpus file", CORPUS_FILES)
        self.corpus_folder = add_browse(self.data_form, "corpus", "Folder…", "Corpus folder")
        self.corpus_file.setToolTip("A text file, or a CSV / JSON / JSONL / Parquet table")
        self.corpus_folder.setToolTip(
            "A folder of text files (read recursively), or a Hugging Face dataset saved with save_to_disk"
        )
        add_browse(
            self.data_form, "tokenizer_file", "Browse…", "Tokenizer", "Tokenizer (tokenizer.json);;JSON (*.json)"
        )
        add_browse(self.tune_form, "init_from", "Folder…", "Checkpoint or run folder to fine-tune")
        for form, title, tip in (
            (self.data_form, "Data", "The corpus and its tokenizer"),
            (self.model_form, "Model", "The model's size and parts"),
            (self.train_form, "Training", "Steps, batch, learning rate, evaluation, checkpoints"),
            (self.tune_form, "Fine-tune", "Fine-tune / resume: start from a checkpoint, LoRA, distillation"),
        ):
            form.changed.connect(self.update_summary)
            self.tabs.setTabToolTip(self.tabs.addTab(_scroll(form), title), tip)  # short names: a narrow panel
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
            problems = readable_errors(exc, TrainParams)
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            self.summary.setText(f"⚠ {problems[0]}{more}")
            self.summary.setToolTip("\n".join(problems))
            self.train_button.setEnabled(False)
            return
        self.train_button.setEnabled(not self.tracker.busy)
        m, d = params.model, params.data
        schedule = plan(params)  # what the run will use: warmup and validation fit to its length
        short = f"<br>⚠ Short run: {'; '.join(schedule.brief)}." if schedule.changes else ""
        self.summary.setToolTip("\n".join(schedule.changes))
        if params.resume:
            self.summary.setText("The model, tokenizer and settings come from the run being resumed.")
            return
        if params.init_from:
            self.summary.setText("The model and tokenizer come from the checkpoint." + short)
            return
        vocab = d.vocab_size if d.tokenizer == "bpe" else 100
        cost = estimate(m, vocab, params.batch_size, params.grad_checkpointing)
        n, flops, memory = cost.total_params, cost.flops_per_token, cost.train_bytes
        vocab_note = "" if d.tokenizer == "bpe" else " (char vocabulary ≈100; exact once the corpus is read)"
        self.summary.setText(
            f"≈{n / 1e6:.2f} M parameters{vocab_note} · {flops / 1e6:.1f} MFLOPs per training token · "
            f"≈{memory / 2**20:.0f} MiB to train" + (" per process" if params.processes > 1 else "") + " · "
            f"{params.batch_size * params.grad_accum * m.block_size * params.processes:,} tokens per step" + short
        )

    # ---------------------------------------------------------------- actions

    def start(self) -> None:
        if self.tracker.busy:  # Ctrl+Return while a run goes (the button is disabled)
            return
        values = self.values()
        self.last_step, self.last_val, self.resumed = 0, None, None
        run_id = self.tracker.start(
            "trainer.train", values, title="Training", on_done=self.show_outcome, on_event=self._follow
        )
        if run_id is not None:  # else the tracker said why; the form is kept
            self.ctx.save_settings({**self.ctx.settings(), "last": values})
            self.status.setText(f"Started run {run_id}. Curves appear in Metrics, samples in Samples.")

    def _follow(self, event: Event) -> None:
        if isinstance(event, Progress) and event.total:
            self.last_step = int(event.done)
        elif isinstance(event, Metric) and event.name == "val/loss":
            self.last_val = event.value

    def show_outcome(self, outcome: JobOutcome) -> None:
        """The status line when a run has ended: how, and with what validation loss."""
        result = outcome.result if isinstance(outcome.result, dict) else {}
        run = outcome.run_id + (f" (continuing {self.resumed})" if self.resumed else "")
        val = result.get("val_loss", self.last_val)
        val_text = f", validation loss {val:.4f}" if isinstance(val, float) else ""
        if outcome.status == RunStatus.SUCCEEDED:
            best = result.get("best_val_loss")
            best_text = f" (best {best:.4f})" if isinstance(best, float) and best != val else ""
            steps = result.get("steps", self.last_step)
            self.status.setText(
                f"Finished run {run}: {steps} steps{val_text}{best_text}. "
                "Its checkpoint opens in Generate (File → Open)."
            )
        elif outcome.status == RunStatus.CANCELLED:
            self.status.setText(f"Cancelled run {run} at step {self.last_step}{val_text}; Resume continues it.")
        else:
            reason = (outcome.error or "no reason given").strip().splitlines()[0]
            self.status.setText(f"Run {run} {outcome.status} at step {self.last_step}{val_text}: {reason}")

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
        self.last_step, self.last_val, self.resumed = 0, None, run_id
        new_id = self.tracker.start(
            "trainer.train",
            {"resume": run_id},
            title=f"Resuming {run_id}",
            on_done=self.show_outcome,
            on_event=self._follow,
        )
        if new_id is not None:
            self.status.setText(f"Resuming {run_id} as run {new_id}; its curve continues in Metrics.")


def add_browse(form: ParamsForm, name: str, text: str, title: str, files: str | None = None) -> QToolButton:
    """A button beside the text field ``name`` of ``form`` that fills it with a file chosen
    (``files``: the dialog's filter) or, without ``files``, a folder."""
    edit = form.editors[name][0]
    assert isinstance(edit, QLineEdit)  # a text field
    layout = form.layout()
    assert isinstance(layout, QFormLayout)
    box: QWidget | None = edit.parentWidget()
    if box is form or box is None:  # the first button: the field and its buttons share a row
        row, _ = layout.getWidgetPosition(edit)
        label = layout.labelForField(edit)
        layout.takeRow(row)
        box = QWidget()
        line = QHBoxLayout(box)
        line.setContentsMargins(0, 0, 0, 0)
        line.addWidget(edit, 1)
        layout.insertRow(row, label, box)
    button = QToolButton(text=text, objectName=f"trainer:browse-{name}-{'file' if files else 'folder'}")
    box_layout = box.layout()
    assert box_layout is not None
    box_layout.addWidget(button)

    def choose() -> None:
        current = edit.text().strip()
        start = str(Path(current).expanduser().parent if files else Path(current).expanduser()) if current else ""
        if files:
            chosen, _ = QFileDialog.getOpenFileName(form, title, start, files)
        else:
            chosen = QFileDialog.getExistingDirectory(form, title, start)
        if chosen:
            edit.setText(chosen)

    button.clicked.connect(choose)
    return button


def train_a_model(ctx: PanelContext) -> TrainPanel | None:
    """Home page and Tools menu: show the Trainer, ready to train. Its defaults train a small
    character-level model on Python's own sources in about a minute on a laptop CPU."""
    panel = ctx.show_panel("trainer:train")
    if not isinstance(panel, TrainPanel):
        return None
    if not panel.tracker.busy:
        panel.status.setText(
            "Ready: press Train. The default settings (Defaults) train a small model on Python's "
            "sources in about a minute on a laptop CPU."
        )
        panel.train_button.setFocus()
    return panel


def create(ctx: PanelContext) -> QWidget:
    return TrainPanel(ctx)
