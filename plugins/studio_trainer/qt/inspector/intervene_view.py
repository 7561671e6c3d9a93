"""Intervene view: ablate a head or a layer (zero or mean), patch the residual stream at
one position from a second prompt, or steer along the direction from a second prompt to
this text; re-run on the worker, and show the change in the chosen position's next-token
distribution (KL, the target's log-probability, top-k before/after). "Save as
intervention…" writes the current intervention as a file a workflow's local model call
applies (``inspect/program.py``); a residual patch cannot be saved (it is tied to this
text's positions)."""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from studio.widgets import set_tone

from .common import View, id_text, listed, prob_text
from .runner import Runner

KINDS = (
    "Ablate a head",
    "Ablate a layer",
    "Patch the residual stream from another prompt",
    "Steer: add (this text − a second text) after a block",
)
STEER = 3
PATCH_UNSAVED = (
    "A patch cannot be saved: it is tied to this prompt's positions. "
    "To carry a change into a program, use a steering direction (Steer)."
)


def make_interventions(
    kind: int, layer: int, head: int, part: str, mode: str, source: str, position: int, insp: Any = None, scale=1.0
) -> list:
    """The engine's intervention objects (imported here, on the worker: they need torch).
    A steering direction is this text's mean residual stream after block ``layer`` minus
    the second text's (``steering.py``), from ``insp``'s model."""
    from ...inspect.intervene import HeadAblation, LayerAblation, ResidualPatch

    if kind == 0:
        return [HeadAblation(layer, head, mode)]
    if kind == 1:
        return [LayerAblation(layer, part, mode)]
    if kind == STEER:
        from ...inspect.inspection import InspectError
        from ...inspect.steering import steering_between

        if insp is None or insp._model is None:
            raise InspectError("steering needs the model: this inspection was loaded without it (inspect again)")
        text = insp._tokenizer.decode(insp.ids)
        return [steering_between(insp._model, insp._tokenizer, text, source, layer, scale)]
    return [ResidualPatch(layer, position, source)]


class InterveneView(View):
    title = "Intervene"

    def __init__(self, runner: Runner, parent: QWidget | None = None):
        super().__init__(parent)
        self.runner = runner
        self.effect: Any = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        form = QFormLayout()
        self.kind = QComboBox(objectName="trainer:inspector-intervention")
        self.kind.addItems(KINDS)
        self.kind.currentIndexChanged.connect(self._kind_changed)
        form.addRow("change", self.kind)
        self.layer = QSpinBox(objectName="trainer:inspector-intervene-layer")
        self.head = QSpinBox(objectName="trainer:inspector-intervene-head")
        self.part = QComboBox(objectName="trainer:inspector-intervene-part")
        self.part.addItems(["attn", "mlp", "block"])
        self.mode = QComboBox(objectName="trainer:inspector-intervene-mode")
        self.mode.addItems(["zero", "mean"])
        self.source = QLineEdit(objectName="trainer:inspector-patch-source", placeholderText="the second prompt")
        self.scale = QDoubleSpinBox(
            objectName="trainer:inspector-steer-scale", minimum=-100.0, maximum=100.0, value=1.0, decimals=2
        )
        self.scale.setToolTip("How far to steer: the direction (this text − the second text) times this")
        where = QHBoxLayout()
        where.addWidget(QLabel("layer"))
        where.addWidget(self.layer)
        where.addWidget(QLabel("head"))
        where.addWidget(self.head)
        where.addWidget(self.part)
        where.addWidget(self.mode)
        where.addWidget(QLabel("×"))
        where.addWidget(self.scale)
        where.addStretch(1)
        form.addRow("where", where)
        form.addRow("second text", self.source)
        layout.addLayout(form)
        run_row = QHBoxLayout()
        self.run_button = QPushButton("Run", objectName="trainer:inspector-intervene-run")
        self.run_button.clicked.connect(self.run)
        self.status = QLabel(wordWrap=True, objectName="trainer:inspector-intervene-status")
        self.save_button = QPushButton("Save as intervention…", objectName="trainer:inspector-intervene-save")
        self.save_button.clicked.connect(self.save)
        run_row.addWidget(self.run_button)
        run_row.addWidget(self.save_button)
        run_row.addWidget(self.status, 1)
        layout.addLayout(run_row)
        self.result = QTextBrowser(objectName="trainer:inspector-effect")
        layout.addWidget(self.result, 1)
        self._kind_changed(0)

    def _kind_changed(self, kind: int) -> None:
        layers = self.inspection.n_layer if self.inspection is not None else 0
        self.layer.setMaximum(max(0, layers if kind == 2 else layers - 1))  # a patch: 0 = the embeddings
        self.layer.setToolTip(
            {2: "0: the embeddings; n: after block n-1", STEER: "added after this block"}.get(kind, "the block")
        )
        self.head.setEnabled(kind == 0)
        self.part.setEnabled(kind == 1)
        self.mode.setEnabled(kind in (0, 1))
        self.source.setEnabled(kind in (2, STEER))
        self.scale.setEnabled(kind == STEER)
        self.save_button.setEnabled(kind != 2)
        self.save_button.setToolTip(
            PATCH_UNSAVED
            if kind == 2
            else "Save this intervention as a file (JSON + safetensors) that a workflow node's local model "
            "call applies (its 'intervention' setting)"
        )
        if kind == 2:  # greyed out: say why where it is seen, not only on hover
            self.status.setText(PATCH_UNSAVED)
            set_tone(self.status, "muted")
        elif self.status.text() == PATCH_UNSAVED:
            self.status.clear()
            set_tone(self.status, None)

    def choose_head(self, layer: int, head: int) -> None:
        """The head opened in Attention becomes the one to ablate (the user changes it here)."""
        self.layer.setMaximum(max(self.layer.maximum(), layer))
        self.head.setMaximum(max(self.head.maximum(), head))
        self.layer.setValue(layer)
        self.head.setValue(head)

    def set_inspection(self, inspection: Any) -> None:
        if inspection is not self.inspection:
            self.result.clear()  # an effect measured on the previous inspection is not this one's
        super().set_inspection(inspection)

    def draw(self) -> None:
        insp = self.inspection
        self.head.setMaximum(max(0, (insp.n_head or 1) - 1))
        self.status.setText(f"Effect on the prediction after position {self.position}.")
        set_tone(self.status, None)
        self._kind_changed(self.kind.currentIndex())  # a patch: why it cannot be saved

    def run(self) -> None:
        insp = self.inspection
        if insp is None:
            return
        kind, layer, head = self.kind.currentIndex(), self.layer.value(), self.head.value()
        part, mode, source, position = (
            self.part.currentText(),
            self.mode.currentText(),
            self.source.text(),
            self.position,
        )
        if kind in (2, STEER) and not source.strip():
            self.status.setText("Type the second prompt to patch from." if kind == 2 else "Type the second text.")
            set_tone(self.status, "error")
            return
        scale = self.scale.value()

        def go() -> Any:
            from ...inspect.intervene import intervene

            items = make_interventions(kind, layer, head, part, mode, source, position, insp, scale)
            return intervene(insp, items, position=position)

        self.status.setText("Running…")
        set_tone(self.status, None)
        self.run_button.setEnabled(False)
        self.runner.submit("intervene", go, self._show, self._failed)

    def save(self) -> None:
        """Write the current intervention as a program file (on the worker: a mean ablation
        stores the means over this text, a steering direction its vector)."""
        insp = self.inspection
        if insp is None:
            return
        kind = self.kind.currentIndex()
        if kind == STEER and not self.source.text().strip():
            self.status.setText("Type the second text to steer from.")
            set_tone(self.status, "error")
            return
        name, _ = QFileDialog.getSaveFileName(self, "Save as intervention", "", "Intervention files (*.json)")
        if not name:
            return
        path = name if name.endswith(".json") else name + ".json"
        args = (
            kind,
            self.layer.value(),
            self.head.value(),
            self.part.currentText(),
            self.mode.currentText(),
            self.source.text(),
            self.position,
            insp,
            self.scale.value(),
        )

        def go() -> Any:
            from ...inspect.program import save_program, summary

            items = make_interventions(*args)
            save_program(path, items, insp._model, ids=insp.ids)
            return f"Saved {summary(items)} to {path}."

        self.status.setText("Saving…")
        set_tone(self.status, None)
        self.runner.submit("save-intervention", go, self._saved, self._failed)

    def _saved(self, message: str) -> None:
        self.status.setText(message)
        set_tone(self.status, None)

    def _failed(self, message: str) -> None:
        self.run_button.setEnabled(True)
        self.status.setText(f"⚠ {message}")
        set_tone(self.status, "error")

    def _show(self, effect: Any) -> None:
        self.run_button.setEnabled(True)
        self.effect = effect
        target_id = getattr(effect, "target_id", -1)
        name = listed(id_text(self.inspection, target_id)) if target_id >= 0 else ""
        target = f" of <code>{html.escape(name)}</code>" if name else ""
        self.status.setText(
            f"KL {effect.kl:.4g} nats · log p{target} {effect.logprob_before:.3f} → {effect.logprob_after:.3f} "
            f"(Δ {effect.delta:+.3f})"
        )
        set_tone(self.status, None)

        self.result.setHtml(
            "<table cellspacing=8><tr><th>before</th><th></th><th>after</th><th></th></tr>"
            + "".join(
                f"<tr><td><code>{html.escape(listed(str(a[0])))}</code></td><td>{prob_text(float(a[1]))}</td>"
                f"<td><code>{html.escape(listed(str(b[0])))}</code></td><td>{prob_text(float(b[1]))}</td></tr>"
                for a, b in zip(effect.top_before, effect.top_after, strict=False)
            )
            + "</table>"
        )

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"view": "intervene", "kind": KINDS[self.kind.currentIndex()], "position": self.position}
        effect = self.effect
        if effect is not None:
            data.update(
                kl=float(effect.kl),
                logprob_before=float(effect.logprob_before),
                logprob_after=float(effect.logprob_after),
                delta=float(effect.delta),
                top_before=[[str(t), float(p)] for t, p in effect.top_before],
                top_after=[[str(t), float(p)] for t, p in effect.top_after],
            )
        return data
