"""The Inspector panel: one forward pass with hooks over a text (or a recorded model call's
prompt + reply), seen as tokens, attention, the logit lens, attribution, activations, the
layer's source, and interventions. The inspection runs on a worker thread (torch is
imported there, never when this module loads); the views draw lazily, when shown."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from studio.api import Panel, PanelContext
from studio.widgets import ModelPicker, set_tone

from .inspector.activations_view import ActivationsView
from .inspector.attention_view import AttentionView
from .inspector.attribution_view import AttributionView
from .inspector.code_view import CodeView
from .inspector.common import View
from .inspector.intervene_view import InterveneView
from .inspector.lens_view import LensView
from .inspector.runner import Runner
from .inspector.tasks import json_safe, load_inspection, model_ref, run_inspection, shown_model
from .inspector.tokens_view import TokensView

TAB_TIPS = {
    "Tokens": "The tokens shaded by how unlikely each was; click one to choose the position",
    "Attention": "Every layer × head; click one for its full map",
    "Lens": "Logit lens: each layer's prediction of the next token",
    "Attribution": "How much each layer and head pushed toward the chosen position's target",
    "Activations": "Residual and MLP norms per layer; a layer's MLP histogram",
    "Code": "The source of a layer's attention or block type",
    "Intervene": "Ablate a head or a layer, or patch the residual stream, and see the change",
}
#: a restored panel has its model and text but no inspection (not re-run unasked: it may be seconds of work)
RESTORED_HINT = "Press Inspect (Ctrl+Return) to inspect this text again."


class InspectorPanel(QWidget, Panel):
    def __init__(self, ctx: PanelContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.inspection: Any = None
        self.position = 0
        self._restored: dict[str, Any] = {}  # the chosen head, the Intervene settings: applied to the next inspection
        self._checking = False  # the running inspection has a record to check against
        self._from_generation = False  # ... or is a generation's prompt + output, with none
        self.runner = Runner(self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)

        inputs = QHBoxLayout()
        self.model = ModelPicker(ctx, "inspector", placeholder="a run id, run folder or checkpoint folder")
        self.model.setObjectName("trainer:inspector-model")
        self.top_k = QSpinBox(minimum=1, maximum=50, value=10, prefix="top-k ", objectName="trainer:inspector-top-k")
        inputs.addWidget(self.model, 1)
        inputs.addWidget(self.top_k)
        layout.addLayout(inputs)
        self.text = QPlainTextEdit(objectName="trainer:inspector-text")
        self.text.setPlaceholderText("the text to inspect (Ctrl+Return inspects it)")
        self.text.setMaximumHeight(64)
        self.text.setMinimumHeight(36)
        layout.addWidget(self.text)

        actions = QHBoxLayout()
        self.inspect_button = QPushButton("Inspect", objectName="trainer:inspector-inspect")
        self.inspect_button.setToolTip("One forward pass with hooks over the text (Ctrl+Return)")
        self.inspect_button.clicked.connect(self.inspect_text)
        self.cancel_button = QPushButton("Cancel", objectName="trainer:inspector-cancel", visible=False)
        self.cancel_button.clicked.connect(self.cancel)
        self.busy = QProgressBar(objectName="trainer:inspector-busy", visible=False, maximumWidth=80)
        self.busy.setRange(0, 0)
        self.copy_button = QPushButton("Copy as JSON", objectName="trainer:inspector-copy")
        self.copy_button.setToolTip("What the current view shows, as JSON, to the clipboard")
        self.copy_button.clicked.connect(self.copy_json)
        self.save_button = QPushButton("Save…", objectName="trainer:inspector-save")
        self.save_button.setToolTip("Save the inspection (a folder of safetensors + JSON)")
        self.save_button.clicked.connect(self.save_dialog)
        self.open_button = QPushButton("Open…", objectName="trainer:inspector-open")
        self.open_button.setToolTip("Open a saved inspection folder or a token record (.json)")
        self.open_button.clicked.connect(self.open_dialog)
        for widget in (self.inspect_button, self.cancel_button, self.busy):
            actions.addWidget(widget)
        actions.addStretch(1)
        for widget in (self.copy_button, self.save_button, self.open_button):
            actions.addWidget(widget)
        layout.addLayout(actions)
        key = QShortcut(QKeySequence("Ctrl+Return"), self, context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
        key.setWhatsThis("Inspect: one forward pass with hooks over the Inspector's text")
        key.activated.connect(self.inspect_text)

        self.banner = QLabel(wordWrap=True, objectName="trainer:inspector-banner")
        self.banner.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.banner.setTextFormat(Qt.TextFormat.PlainText)  # model names and paths come from files: never markup
        layout.addWidget(self.banner)

        self.tabs = QTabWidget(objectName="trainer:inspector-tabs")
        self.tabs.setUsesScrollButtons(False)  # every view's tab shows: the panel asks for their width
        self.tokens = TokensView()
        self.attention = AttentionView(self.runner)
        self.lens = LensView()
        self.attribution = AttributionView()
        self.activations = ActivationsView()
        self.code = CodeView()
        self.intervene = InterveneView(self.runner)
        self.views: list[View] = [
            self.tokens,
            self.attention,
            self.lens,
            self.attribution,
            self.activations,
            self.code,
            self.intervene,
        ]
        for view in self.views:
            index = self.tabs.addTab(view, view.title)
            self.tabs.setTabToolTip(index, TAB_TIPS.get(view.title, view.title))
            view.position_chosen.connect(self.set_position)
            view.show_code.connect(self.show_code)
        self.attention.head_chosen.connect(self.intervene.choose_head)
        self.tabs.currentChanged.connect(lambda _: self.current_view().refresh())
        layout.addWidget(self.tabs, 1)
        self._set_busy(False)
        self._update_actions()

    # ---- running an inspection

    def inspect_text(self) -> None:
        """Inspect the text box's text with the chosen model (the button, Ctrl+Return)."""
        self.inspect(self.model.value(), self.text.toPlainText())

    def inspect(
        self,
        model: str,
        text: str,
        reply_start: int | None = None,
        *,
        prompt: str | None = None,
        record: Any = None,
        note: str = "",
    ) -> None:
        """Inspect ``text`` with ``model`` (a run id, folder, or ``studio/<ref>``): the public
        entry of other panels (Generate). ``reply_start`` (a token index) or ``prompt`` (the
        text before the reply) marks where the reply begins; ``record``: a TokenRecord whose
        logprobs are checked against the recomputed ones."""
        model = shown_model(model, self.ctx.folders)  # "studio/<a run's folder>" → the run id
        if self.model.value() != model:
            self.model.set_value(model)
        if self.text.toPlainText() != text:
            self.text.setPlainText(text)
        ref = model_ref(model)
        if not ref:
            self.error("Choose a model first: a trained run, a checkpoint or a quantized folder.")
            return
        if not text:
            self.error("Type a text to inspect.")
            return
        self.model.remember()
        self._save_settings()
        top_k, folders = self.top_k.value(), self.ctx.folders
        self._checking, self._from_generation = record is not None, record is None and prompt is not None
        self._set_busy(True)
        self.say(f"Inspecting {len(text)} characters with {ref}…{note}")
        self.runner.submit(
            "inspect",
            lambda: run_inspection(ref, text, top_k, folders, reply_start, prompt, record),
            self._inspected,
            self._failed,
        )

    def cancel(self) -> None:
        """Stop waiting: the running pass finishes on its thread and is dropped."""
        self.runner.cancel("inspect")
        self._set_busy(False)
        self.say("Cancelled.")

    def _failed(self, message: str) -> None:
        self._set_busy(False)
        self.error(message)

    def _inspected(self, result: tuple[Any, tuple[bool, str] | None]) -> None:
        self._set_busy(False)
        inspection, verdict = result
        self.show_inspection(inspection)
        unavailable = getattr(inspection, "unavailable", []) or []
        missing = f" · not available: {'; '.join(unavailable)}" if unavailable else ""
        summary = (
            f"{len(inspection.tokens)} tokens · {inspection.n_layer} layers × {inspection.n_head or '?'} heads{missing}"
        )
        window = getattr(inspection, "window_note", lambda: "")()
        if window:  # longer than the context: the last window (the one generation saw last)
            summary = f"{window} · {summary}"
        if verdict is None and self._from_generation:
            self.say(f"no record to check against (the generation kept no log-probabilities) · {summary}")
        elif verdict is None:
            self.say(summary)
        else:
            match, message = verdict
            self.say(f"{'✓' if match else '⚠'} {message} · {summary}", "success" if match else "warning")

    def show_inspection(self, inspection: Any) -> None:
        """Show an inspection (its data ready): the current view draws now, the others when shown."""
        self.inspection = inspection
        self.position = max(0, len(inspection.tokens) - 1)
        for view in self.views:
            view.set_inspection(inspection)
            view.position = self.position
        self._update_actions()
        self._apply_restored(inspection)
        self.current_view().refresh()
        self._compute_lens(inspection)
        self._compute_histograms(inspection)

    def _compute_lens(self, inspection: Any) -> None:
        """The logit lens of the layers before the last, on the worker once the inspection
        shows (a vocabulary × every layer: with a 50k vocabulary most of the inspection's work)."""
        if getattr(inspection, "lens_ready", True):
            return

        def done(_result: Any) -> None:
            if self.inspection is inspection:
                self.lens.stale = True
                if self.lens.isVisible():
                    self.lens.refresh()

        self.runner.submit("lens", lambda: inspection.lens_top_ids, done, self.error)

    def _compute_histograms(self, inspection: Any) -> None:
        """The activation histograms, on the worker once the inspection shows (the engine
        leaves them to the first reader; the model is only ever run on the worker)."""
        hist = inspection.mlp_hist
        if not hasattr(hist, "ready") or all(hist.ready(i) for i in range(len(hist))):
            return

        def done(_result: Any) -> None:
            if self.inspection is inspection:
                self.activations.stale = True
                if self.activations.isVisible():
                    self.activations.refresh()

        self.runner.submit("histograms", lambda: [hist[i] for i in range(len(hist))], done, self.error)

    def _apply_restored(self, inspection: Any) -> None:
        """The head and Intervene settings of the last session, on the first inspection after it."""
        state, self._restored = self._restored, {}
        layers, heads = int(getattr(inspection, "n_layer", 0)), int(getattr(inspection, "n_head", 0) or 0)
        chosen = state.get("head")
        if (
            isinstance(chosen, list)
            and len(chosen) == 2
            and all(type(v) is int for v in chosen)
            and 0 <= chosen[0] < layers
            and 0 <= chosen[1] < heads
            and getattr(inspection, "attention_available", False)
        ):
            self.attention.open_head(chosen[0], chosen[1])  # Intervene follows it; its own settings below win
        intervene = state.get("intervene")
        if isinstance(intervene, dict):
            kind, layer, head = (intervene.get(k) for k in ("kind", "layer", "head"))
            if type(kind) is int and 0 <= kind < self.intervene.kind.count():
                self.intervene.kind.setCurrentIndex(kind)
            if type(layer) is int and 0 <= layer <= layers:
                self.intervene.layer.setMaximum(max(self.intervene.layer.maximum(), layers))
                self.intervene.layer.setValue(layer)
            if type(head) is int and 0 <= head < heads:
                self.intervene.head.setMaximum(max(self.intervene.head.maximum(), heads - 1))
                self.intervene.head.setValue(head)

    def set_position(self, position: int) -> None:
        """The position the views look at (a token clicked, a query row pinned, a lens column)."""
        if self.inspection is None:
            return
        self.position = max(0, min(position, len(self.inspection.tokens) - 1))
        for view in self.views:
            view.set_position(self.position)
        self.current_view().refresh()

    def current_view(self) -> View:
        widget = self.tabs.currentWidget()
        return widget if isinstance(widget, View) else self.tokens

    def show_code(self, layer: int, part: str) -> None:
        if self.inspection is None:
            return
        try:
            file, line, name = self.inspection.code_location(layer, part)
        except Exception as exc:  # a type without a source file: said in the Code view
            self.code.where.setText(f"⚠ {exc}")
        else:
            self.code.show_location(file, line, name)
        self.tabs.setCurrentWidget(self.code)

    # ---- files

    def open_path(self, path: Path) -> None:
        """A saved inspection folder, or a token record (``*.json``) of a local model call."""
        path = Path(path)
        if path.is_file() and path.name == "inspection.json":
            path = path.parent
        if path.is_dir():
            self._set_busy(True)
            self.say(f"Opening {path}…")
            self.runner.submit("inspect", lambda: load_inspection(path), self._opened, self._failed)
            return
        self.open_record(path)

    def _opened(self, result: tuple[Any, None]) -> None:
        self._set_busy(False)
        inspection = result[0]
        self.model.set_value(str(inspection.model))
        self.text.setPlainText("".join(inspection.tokens))
        self.show_inspection(inspection)
        window = getattr(inspection, "window_note", lambda: "")()
        shown = f" ({window})" if window else ""
        self.say(f"Opened a saved inspection: {len(inspection.tokens)} tokens of {inspection.model}{shown}")

    def open_record(self, path: Path) -> None:
        """Inspect a recorded call's prompt + reply with its model, and check its logprobs."""
        from studio.api import TokenRecord

        try:
            record = TokenRecord.load(path)
        except Exception as exc:
            self.error(f"cannot open {path.name}: {exc}")
            return
        reply_start = len(record.prompt_ids) if record.prompt_ids else None
        self.inspect(
            record.model,
            record.prompt + record.reply,
            reply_start,
            prompt=record.prompt,
            record=record,
            note=" (checking the recorded log-probabilities)",
        )

    def save_to(self, folder: Path) -> Path:
        return Path(self.inspection.save(Path(folder)))

    def save_dialog(self) -> None:
        if self.inspection is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save the inspection as a folder", str(self.ctx.workspace))
        if not path:
            return
        try:
            saved = self.save_to(Path(path))
        except Exception as exc:
            self.error(f"could not save: {exc}")
            return
        self.say(f"Saved to {saved}")

    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Open an inspection or a token record",
            str(self.ctx.workspace),
            "Inspections and token records (*.json)",
        )
        if path:
            self.open_path(Path(path))

    def view_json(self, view: View | None = None) -> str:
        return json.dumps(json_safe((view or self.current_view()).as_json()), indent=1, ensure_ascii=False)

    def copy_json(self) -> None:
        QApplication.clipboard().setText(self.view_json())
        self.say(f"Copied the {self.current_view().title} view as JSON.")

    # ---- the banner, the busy state, settings

    def say(self, text: str, tone: str | None = None) -> None:
        self.banner.setText(text)
        set_tone(self.banner, tone)

    def error(self, text: str) -> None:
        self.say(f"⚠ {' '.join(str(text).split())}", "error")

    def _set_busy(self, busy: bool) -> None:
        self.busy.setVisible(busy)
        self.cancel_button.setVisible(busy)
        self.inspect_button.setEnabled(not busy)

    def _update_actions(self) -> None:
        has = self.inspection is not None
        self.copy_button.setEnabled(has)
        self.save_button.setEnabled(has)

    def _save_settings(self) -> None:
        self.ctx.save_settings({**self.ctx.settings(), "inspector": self.save_state()})

    def save_state(self) -> dict[str, Any]:
        return {
            "model": self.model.value(),
            "text": self.text.toPlainText()[:20_000],
            "top_k": self.top_k.value(),
            "view": self.current_view().title,
            "head": list(self.attention.head) if self.attention.head else None,
            "intervene": {
                "kind": self.intervene.kind.currentIndex(),
                "layer": self.intervene.layer.value(),
                "head": self.intervene.head.value(),
            },
        }

    def restore_state(self, state: dict[str, Any]) -> None:
        if isinstance(state.get("model"), str):
            self.model.set_value(state["model"])
        if isinstance(state.get("text"), str):
            self.text.setPlainText(state["text"])
        if isinstance(state.get("top_k"), int):
            self.top_k.setValue(state["top_k"])
        titles = [view.title for view in self.views]
        if state.get("view") in titles:
            self.tabs.setCurrentIndex(titles.index(state["view"]))
        self._restored = {k: state[k] for k in ("head", "intervene") if k in state}
        if self.inspection is None and self.text.toPlainText() and self.model.value():
            self.say(RESTORED_HINT, "muted")
            for view in self.views:  # the views that have a status line say it where the eye is
                status = getattr(view, "status", None)
                if isinstance(status, QLabel):
                    status.setText(RESTORED_HINT)

    def heightForWidth(self, width: int) -> int:  # noqa: N802 - Qt naming
        """The shell's scroll area asks this: the views' plots share whatever height there
        is, so the panel scrolls only below its minimum, not below its preferred height."""
        return self.minimumSizeHint().height()

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt naming
        self.runner.cancel("inspect")
        super().closeEvent(event)


def create(ctx: PanelContext) -> QWidget:
    return InspectorPanel(ctx)
