"""Intervene view: ablate a head or a layer (zero or mean), or patch the residual stream at
one position from a second prompt, re-run on the worker, and show the change in the chosen
position's next-token distribution (KL, the target's log-probability, top-k before/after)."""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtWidgets import (
    QComboBox,
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

KINDS = ("Ablate a head", "Ablate a layer", "Patch the residual stream from another prompt")


def make_interventions(kind: int, layer: int, head: int, part: str, mode: str, source: str, position: int) -> list:
    """The engine's intervention objects (imported here, on the worker: they need torch)."""
    from ...inspect.intervene import HeadAblation, LayerAblation, ResidualPatch

    if kind == 0:
        return [HeadAblation(layer, head, mode)]
    if kind == 1:
        return [LayerAblation(layer, part, mode)]
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
        where = QHBoxLayout()
        where.addWidget(QLabel("layer"))
        where.addWidget(self.layer)
        where.addWidget(QLabel("head"))
        where.addWidget(self.head)
        where.addWidget(self.part)
        where.addWidget(self.mode)
        where.addStretch(1)
        form.addRow("where", where)
        form.addRow("patch from", self.source)
        layout.addLayout(form)
        run_row = QHBoxLayout()
        self.run_button = QPushButton("Run", objectName="trainer:inspector-intervene-run")
        self.run_button.clicked.connect(self.run)
        self.status = QLabel(wordWrap=True, objectName="trainer:inspector-intervene-status")
        run_row.addWidget(self.run_button)
        run_row.addWidget(self.status, 1)
        layout.addLayout(run_row)
        self.result = QTextBrowser(objectName="trainer:inspector-effect")
        layout.addWidget(self.result, 1)
        self._kind_changed(0)

    def _kind_changed(self, kind: int) -> None:
        layers = self.inspection.n_layer if self.inspection is not None else 0
        self.layer.setMaximum(max(0, layers if kind == 2 else layers - 1))  # a patch: 0 = the embeddings
        self.layer.setToolTip("0: the embeddings; n: after block n-1" if kind == 2 else "the block")
        self.head.setEnabled(kind == 0)
        self.part.setEnabled(kind == 1)
        self.mode.setEnabled(kind in (0, 1))
        self.source.setEnabled(kind == 2)

    def draw(self) -> None:
        insp = self.inspection
        self._kind_changed(self.kind.currentIndex())
        self.head.setMaximum(max(0, (insp.n_head or 1) - 1))
        self.status.setText(f"Effect on the prediction after position {self.position}.")
        set_tone(self.status, None)

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
        if kind == 2 and not source.strip():
            self.status.setText("Type the second prompt to patch from.")
            set_tone(self.status, "error")
            return

        def go() -> Any:
            from ...inspect.intervene import intervene

            return intervene(
                insp, make_interventions(kind, layer, head, part, mode, source, position), position=position
            )

        self.status.setText("Running…")
        set_tone(self.status, None)
        self.run_button.setEnabled(False)
        self.runner.submit("intervene", go, self._show, self._failed)

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
