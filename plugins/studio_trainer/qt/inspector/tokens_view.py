"""Tokens view: the text as tokens shaded by how unlikely the model found each one (the
Traces view's scale, ``probability_tint``); click a token to choose the position
the other views look at, hover one to see its alternatives."""

from __future__ import annotations

import bisect
import html
import math
from typing import Any

import numpy as np
from PySide6.QtCore import QEvent, QObject, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import QLabel, QTextBrowser, QTextEdit, QVBoxLayout, QWidget

from studio.widgets import set_tone, text_colour, tint, tone

from .common import View, id_text, listed, prob_text, shade_colours, shade_of, token_html

REPLY_MARK = "▶"


def _p(logprob: float) -> float:
    """exp of a log-probability, clipped at 0 (a saved file's 1e30 would overflow)."""
    return math.exp(min(float(logprob), 0.0))


class TokensView(View):
    title = "Tokens"

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.text = QTextBrowser(objectName="trainer:inspector-tokens", openLinks=False)
        self.text.setMinimumHeight(60)
        self.text.setMouseTracking(True)
        self.text.viewport().setMouseTracking(True)
        self.text.viewport().setCursor(Qt.CursorShape.PointingHandCursor)
        self.text.viewport().installEventFilter(self)  # a click or hover is mapped to its token
        layout.addWidget(self.text, 3)
        self.legend = QLabel(objectName="trainer:inspector-token-legend")  # what each shade means
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(self.legend)
        self.detail = QLabel(wordWrap=True, objectName="trainer:inspector-token-detail")
        self.detail.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(self.detail, 1)
        self.offsets: list[tuple[int, int]] = []  # each token's (start, length) in the document
        self.starts: list[int] = []

    def draw(self) -> None:
        insp = self.inspection
        fg = text_colour().name()
        styles = {-1: f"color:{fg}"} | {i: f"color:{fg};background:{c.name()}" for i, c in enumerate(shade_colours())}
        parts: list[str] = []
        bucket = -1
        self.offsets = []
        at = 0
        probs = np.exp(np.asarray(insp.logprobs, dtype=np.float64))
        reply_start = getattr(insp, "reply_start", None)
        run: list[str] = []  # tokens of one shade in a row: one span (4,096 anchors took 170 ms to lay out)
        for i, token in enumerate(insp.tokens):
            if reply_start is not None and i == reply_start:
                if run:
                    parts.append(f'<span style="{styles[bucket]}">{"".join(run)}</span>')
                    run = []
                parts.append(f'<b style="color:{tone("info").name()}">{REPLY_MARK}</b>')
                at += len(REPLY_MARK)
            body, length = token_html(token)
            shade = shade_of(float(probs[i]))
            if run and shade != bucket:
                parts.append(f'<span style="{styles[bucket]}">{"".join(run)}</span>')
                run = []
            bucket = shade
            run.append(body)
            self.offsets.append((at, length))
            at += length
        if run:
            parts.append(f'<span style="{styles[bucket]}">{"".join(run)}</span>')
        self.starts = [start for start, _ in self.offsets]
        self.legend.setText(legend_html(fg, [c.name() for c in shade_colours()]))
        self.text.setHtml(f'<div style="font-family:monospace">{"".join(parts)}</div>')
        self._select(self.position)
        self.describe(self.position)

    def set_position(self, position: int) -> None:
        super().set_position(position)
        if not self.stale or self.offsets:  # already drawn: move the selection only
            self.stale = False
            self._select(position)
            self.describe(position)

    def set_inspection(self, inspection: Any) -> None:
        super().set_inspection(inspection)
        self.offsets = []

    def _select(self, position: int) -> None:
        if not 0 <= position < len(self.offsets):
            self.text.setExtraSelections([])
            return
        start, length = self.offsets[position]
        cursor = QTextCursor(self.text.document())
        cursor.setPosition(start)
        cursor.setPosition(start + length, QTextCursor.MoveMode.KeepAnchor)
        selection = QTextEdit.ExtraSelection()
        selection.cursor = cursor
        fmt = QTextCharFormat()
        fmt.setBackground(tint("shade-alt", 0.6))  # blue: the shading is the "chosen" orange, as in Traces
        fmt.setFontUnderline(True)
        selection.format = fmt
        self.text.setExtraSelections([selection])
        view_cursor = QTextCursor(cursor)
        view_cursor.clearSelection()
        self.text.setTextCursor(view_cursor)
        self.text.ensureCursorVisible()

    def selected_text(self) -> str:
        """The text of the chosen token as the document holds it (tests)."""
        selections = self.text.extraSelections()
        return selections[0].cursor.selectedText() if selections else ""

    def token_at(self, point: QPoint) -> int | None:
        """The token under a point of the viewport (None between lines, past the end)."""
        offset = QPointF(self.text.horizontalScrollBar().value(), self.text.verticalScrollBar().value())
        at = self.text.document().documentLayout().hitTest(QPointF(point) + offset, Qt.HitTestAccuracy.ExactHit)
        if at < 0 or not self.starts:
            return None
        i = bisect.bisect_right(self.starts, at) - 1
        if i >= 0 and at < self.offsets[i][0] + self.offsets[i][1]:
            return i
        return None

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt naming
        kind = event.type()
        if kind == QEvent.Type.MouseButtonRelease and isinstance(event, QMouseEvent):
            if event.button() == Qt.MouseButton.LeftButton and not self.text.textCursor().hasSelection():
                position = self.token_at(event.position().toPoint())
                if position is not None:
                    self.position_chosen.emit(position)
        elif kind == QEvent.Type.MouseMove and isinstance(event, QMouseEvent):
            position = self.token_at(event.position().toPoint())
            self.describe(self.position if position is None else position)
        elif kind == QEvent.Type.Leave:
            self.describe(self.position)
        return super().eventFilter(watched, event)

    def describe(self, t: int) -> None:
        """One token: its probability, rank among the alternatives, the entropy, and the
        model's likeliest tokens at that step."""
        insp = self.inspection
        if insp is None or not 0 <= t < len(insp.tokens):
            self.detail.clear()
            return
        self.detail.setText(self.detail_html(t))
        set_tone(self.detail, None)

    def detail_html(self, t: int) -> str:
        insp = self.inspection
        token = insp.tokens[t]
        lp = float(insp.logprobs[t])
        head = f"<b>#{t}</b> <code>{html.escape(listed(token))}</code>"
        if not math.isfinite(lp):
            return f"{head} · the first token: nothing predicts it"
        alternatives = [id_text(insp, i) for i in insp.top_ids[t - 1]]
        rank = next((r for r, i in enumerate(insp.top_ids[t - 1]) if int(i) == int(insp.ids[t])), None)
        rank_text = f"rank {rank + 1}" if rank is not None else f"not in the top {len(alternatives)}"
        entropy = float(insp.entropy[t - 1])
        top = ", ".join(
            f"<code>{html.escape(listed(a))}</code> {prob_text(_p(p))}"
            for a, p in zip(alternatives, insp.top_logprobs[t - 1], strict=False)
        )
        return (
            f"{head} · p {prob_text(_p(lp))} (log {lp:.3f}) · {rank_text} · entropy {entropy:.2f} nats"
            f"<br>alternatives: {top}"
        )

    def as_json(self) -> dict[str, Any]:
        insp = self.inspection
        if insp is None:
            return {}
        return {
            "view": "tokens",
            "model": insp.model,
            "reply_start": getattr(insp, "reply_start", None),
            "tokens": [
                {"token": tok, "logprob": None if not math.isfinite(float(lp)) else float(lp)}
                for tok, lp in zip(insp.tokens, insp.logprobs, strict=False)
            ],
        }


LEGEND = (1.0, 0.8, 0.6, 0.4, 0.2, 0.0)  # the probabilities the legend shows a swatch of


def legend_html(fg: str, colours: list[str]) -> str:
    """Swatches of the shading at a few probabilities, likely to unlikely."""
    swatches = "".join(
        f'<span style="color:{fg};background:{colours[shade_of(p)]}">&nbsp;{p:g}&nbsp;</span>' for p in LEGEND
    )
    return f"probability of each token: {swatches}"
