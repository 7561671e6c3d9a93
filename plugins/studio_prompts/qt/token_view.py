"""The Tokens tab of a model-call span: the prompt and the reply as tokens, each reply
token shaded by its probability (the less likely, the stronger the tint), its top-k
alternatives, rank and entropy on hover and click.

The record (``studio.api.TokenRecord``, the span's ``token_record``) is read when the tab
is shown for the span, never when the trace loads; a missing or corrupt record, or a call
whose provider sent no logprobs, is said in the view. Colours come from the theme's tints
(``studio.widgets.tint``, ``probability_tint``), so both themes stay readable. A token's
tooltip is plain text shown just under it. A local model whose context is shorter than the
prompt saw only its last tokens: the others are dimmed and the view says so. *Inspect…* hands a local model's
record to whichever plugin claims it (the trainer's Inspector) through ``ctx.open_path``.
"""

from __future__ import annotations

import bisect
import html
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QObject, QPoint, QRect, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QHelpEvent,
    QMouseEvent,
    QTextBlockFormat,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
)
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QTextBrowser,
    QTextEdit,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from studio.api import TokenRecord, TokenRecordError
from studio.widgets import probability_tint, set_tone, text_colour, tint, tone

from ..intervention import is_local  # a model run in this process (studio/, hf/): inspectable

NO_PROMPT_TOKENS = "prompt tokens: only local models report them"
DETAIL_ROWS = 8  # alternatives the detail area shows without scrolling
VISIBLE = {"\n": "↵", "\t": "⇥", "\r": "␍"}
GAP = "\u200a"  # a hair space in the base colour between shaded tokens: the boundaries show


def probability(logprob: float) -> float:
    return math.exp(min(logprob, 0.0)) if math.isfinite(logprob) else 0.0  # a record's 1e30 would overflow


def shade(p: float) -> QColor:
    """The background of a reply token of probability ``p``: the theme's probability scale
    (``studio.widgets.probability_tint``, shared with the Inspector), faint (likely) to the
    strongest readable tint (unlikely)."""
    return probability_tint(p)


def _shown(token: str, breaks: bool = True) -> str:
    """A token as HTML text: whitespace marked where it would vanish (newline, tab), and an
    empty token as ∅; a newline also breaks the line where ``breaks``."""
    if not token:
        return "∅"
    out = html.escape(token)
    for char, mark in VISIBLE.items():
        out = out.replace(char, mark + ("<br>" if char == "\n" and breaks else ""))
    return out.replace(" ", "&nbsp;")


def step_summary(record: TokenRecord, i: int) -> str:
    """One line about reply token ``i``: probability, rank among the top-k, entropy."""
    p = probability(record.logprobs[i])
    rank = record.rank(i)
    k = len(record.top_tokens[i])
    ranked = f"rank {rank + 1} of top {k}" if rank is not None else (f"rank >{k}" if k else "no alternatives")
    value, exact = record.step_entropy(i)
    if value is None:
        entropy = "entropy unknown"
    elif exact:
        entropy = f"entropy {value:.3f} nats"
    else:
        entropy = f"entropy ≥ {value:.3f} nats (estimated from the top {k})"
    return f"{record.reply_tokens[i]!r}: p = {p:.4f} (logprob {record.logprobs[i]:.4f}) · {ranked} · {entropy}"


def context_note(record: TokenRecord) -> str:
    """Says that the model saw only the last ``context`` prompt tokens, or "" when it saw all."""
    start = record.seen_from()
    if not start:
        return ""
    n, c = len(record.prompt_tokens), record.context
    return f"the model's context is {c} tokens: it saw only the last {c} of the {n} prompt tokens (dimmed before)"


def tokens_html(record: TokenRecord, selected: int | None = None) -> str:
    """The token text as HTML (``tokens_document`` is what the view shows; this is for
    export and checks)."""
    return tokens_document(record, selected)[0].toHtml()


def tokens_document(
    record: TokenRecord, selected: int | None = None, font: QFont | None = None
) -> tuple[QTextDocument, list[int]]:
    """The prompt tokens (alternately tinted, no probabilities; those before the model's
    context window dimmed) and the reply tokens shaded by probability, built in one pass
    with a cursor (a 10,000-token reply: ~0.1 s, where HTML took ~0.5 s), and the document
    position where each reply token starts (for hit-tests: ``bisect``). Formats are shared
    per shade (64 levels), so the layout stays cheap. ``selected`` is drawn by the view
    (an extra selection), never by rebuilding this."""
    doc = QTextDocument()
    doc.setUndoRedoEnabled(False)
    if font is not None:
        doc.setDefaultFont(font)
    cursor = QTextCursor(doc)
    cursor.beginEditBlock()
    plain = QTextCharFormat()
    bold, italic = QTextCharFormat(), QTextCharFormat()
    bold.setFontWeight(QFont.Weight.Bold)
    italic.setFontItalic(True)
    spaced = QTextBlockFormat()
    spaced.setLineHeight(140, QTextBlockFormat.LineHeightTypes.ProportionalHeight.value)
    first = [True]

    def paragraph(block_format: QTextBlockFormat | None = None) -> None:
        if not first[0]:
            cursor.insertBlock(block_format or QTextBlockFormat(), plain)
        elif block_format is not None:
            cursor.setBlockFormat(block_format)
        first[0] = False

    def heading(title: str, note: str) -> None:
        paragraph()
        cursor.insertText(title, bold)
        cursor.insertText(" ", plain)
        cursor.insertText(note, italic)

    if record.prompt_tokens:
        heading("Prompt", "(tokens alternately tinted)")
        start = record.seen_from()
        if start:
            paragraph()
            warn = QTextCharFormat()
            warn.setForeground(tone("warning"))
            cursor.insertText(context_note(record), warn)
        paragraph(spaced)
        if start:  # unseen: no tint, the muted tone (still readable)
            muted = QTextCharFormat()
            muted.setForeground(tone("muted"))
            cursor.insertText("".join(_plain(token) + GAP for token in record.prompt_tokens[:start]), muted)
        tints = []
        for name in ("shade", "shade-alt"):
            fmt = QTextCharFormat()
            fmt.setBackground(tint(name, 0.18))
            tints.append(fmt)
        for i, token in enumerate(record.prompt_tokens[start:], start):
            cursor.insertText(_plain(token), tints[i % 2])
            cursor.insertText(GAP, plain)
    elif record.prompt:
        heading("Prompt", "")
        paragraph()
        fixed = QTextCharFormat()  # as typed: a fixed-pitch font, its own line breaks
        fixed.setFontFixedPitch(True)
        fixed.setFontFamilies(["monospace"])
        cursor.insertText(record.prompt, fixed)
    if not record.prompt_tokens and not is_local(record.model):
        paragraph()
        cursor.insertText(NO_PROMPT_TOKENS, italic)
    heading("Reply", "(shaded by probability: the stronger the tint, the less likely; hover or click a token)")
    paragraph(spaced)
    text = text_colour()
    shades: dict[int, QTextCharFormat] = {}  # 64 levels of probability: 64 formats at most
    starts = []
    for i, token in enumerate(record.reply_tokens):
        level = round(probability(record.logprobs[i]) * 63)
        if level not in shades:
            fmt = shades[level] = QTextCharFormat()
            fmt.setAnchor(True)
            fmt.setAnchorHref("tok")
            fmt.setForeground(text)
            fmt.setBackground(shade(level / 63))
        fmt = shades[level]
        starts.append(cursor.position())
        cursor.insertText(_plain(token), fmt)
        cursor.insertText(GAP, plain)
    cursor.endEditBlock()
    return doc, starts


def _plain(token: str) -> str:
    """``_shown`` for a document built with a cursor: marks, no-break spaces, and a
    newline token breaking the line (a line separator: the paragraph stays one)."""
    if not token:
        return "∅"
    for char, mark in VISIBLE.items():
        token = token.replace(char, mark + ("\u2028" if char == "\n" else ""))
    return token.replace(" ", "\u00a0")


def step_html(record: TokenRecord, i: int) -> str:
    """Token ``i``'s alternatives (likeliest first) with probabilities, the chosen one marked."""
    esc = html.escape
    rows = []
    chosen = record.rank(i)
    for j, (token, lp) in enumerate(zip(record.top_tokens[i], record.top_logprobs[i], strict=False)):
        p = probability(lp)
        bar = "█" * max(1, round(p * 20)) if p > 0 else ""
        mark = " ◀ chosen" if j == chosen else ""
        rows.append(
            f"<tr><td>{j + 1}</td><td><code>{_shown(token, breaks=False)}</code></td><td align='right'>{p:.4f}</td>"
            f"<td>{bar}{esc(mark)}</td></tr>"
        )
    table = (  # compact rows: ~8 alternatives show in the detail area of a 1366×768 screen
        "<table cellspacing='0' cellpadding='2'><tr><th>#</th><th>token</th><th>p</th><th></th></tr>"
        + "".join(rows)
        + "</table>"
        if rows
        else "<p><i>The provider sent no alternatives for this token.</i></p>"
    )
    return f"<p style='margin:0'><b>Token {i + 1} of {len(record)}</b> · {esc(step_summary(record, i))}</p>{table}"


def _inside_run(ref: str) -> bool:
    """A span's ``token_record`` is a relative path inside the run folder, to a .json file:
    never absolute, never up and out (a trace file is data; it does not choose what is read)."""
    parts = Path(ref).parts
    return not Path(ref).is_absolute() and ".." not in parts and ref.endswith(".json") and "\\" not in ref


class TokenView(QWidget):
    """The Tokens tab: ``show_span(record, run_dir)`` when a span is picked; the record is
    read when the tab is visible (``load``)."""

    def __init__(self, open_path: Callable[[Path], Any] | None = None):
        super().__init__()
        self.setObjectName("tokens")
        self.open_path = open_path
        self.record: TokenRecord | None = None
        self.selected: int | None = None
        self._span: dict[str, Any] | None = None
        self._run_dir: Path | None = None
        self._loaded_for: tuple[str, str] | None = None
        self.message = QLabel(objectName="token_message", wordWrap=True)
        self.message.setTextFormat(Qt.TextFormat.PlainText)  # notes and paths come from a trace file: never markup
        self.text = QTextBrowser(objectName="token_text", openLinks=False)
        # the scroll bar always there: a long reply is laid out once, not again when it appears
        self.text.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)
        self._doc: QTextDocument | None = None  # the record's token text, built once (``tokens_document``)
        self._starts: list[int] = []  # document position of each reply token
        # hovering shows the token's tooltip: plain text, just under the token (``token_tip``);
        # a click selects the token under the mouse (``token_at``)
        self.text.viewport().installEventFilter(self)
        self.detail = QTextBrowser(objectName="token_detail")
        # the top-k table: room for DETAIL_ROWS alternatives (header, summary and rows) on a small screen
        line = self.detail.fontMetrics().lineSpacing()
        self._detail_height = (line + 5) * (DETAIL_ROWS + 1) + 2 * line + 28
        self.text.setMinimumHeight(3 * line)
        self.copy = QPushButton("Copy as JSON", objectName="copy_tokens")
        self.copy.clicked.connect(self.copy_json)
        self.inspect = QPushButton("Inspect…", objectName="inspect_tokens")
        self.inspect.setToolTip("Open this call in the Inspector: one forward pass over prompt and reply")
        self.inspect.clicked.connect(self.open_inspector)
        self.split = split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.text)
        split.addWidget(self.detail)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        self._arrange(wide=False)
        buttons = QHBoxLayout()
        buttons.addWidget(self.copy)
        buttons.addWidget(self.inspect)
        buttons.addStretch()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.message)
        layout.addWidget(split, 1)
        layout.addLayout(buttons)
        self.show_span(None, None)

    # ---- layout

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        """A wide, low tab (Traces on a 1366×768 screen) puts the detail beside the tokens,
        a tall one below them: either way ~8 alternatives show and the tokens keep room."""
        super().resizeEvent(event)
        wide = self.width() >= 1.5 * self.height()
        if wide != (self.split.orientation() == Qt.Orientation.Horizontal):
            self._arrange(wide)

    def _arrange(self, wide: bool) -> None:
        if wide:
            self.split.setOrientation(Qt.Orientation.Horizontal)
            self.detail.setMinimumHeight(0)
            self.detail.setMinimumWidth(240)
            self.split.setSizes([max(1, self.width() * 11 // 20), max(240, self.width() * 9 // 20)])
        else:
            self.split.setOrientation(Qt.Orientation.Vertical)
            self.detail.setMinimumWidth(0)
            self.detail.setMinimumHeight(self._detail_height)
            self.split.setSizes([max(300, self.height() - self._detail_height), self._detail_height])

    # ---- the span

    def show_span(self, span: dict[str, Any] | None, run_dir: Path | None) -> None:
        """Remember the span; read its record now if the tab is visible, else when shown."""
        self._span, self._run_dir = span, run_dir
        if self.isVisible():
            self.load()

    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(event)
        self.load()

    def changeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        """A theme switch: the shading is drawn again from the new palette's tints."""
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange and self.record is not None and len(self.record):
            self._build()

    def record_path(self) -> Path | None:
        span = self._span or {}
        ref = span.get("token_record")
        if not isinstance(ref, str) or not ref or self._run_dir is None or not _inside_run(ref):
            return None
        return self._run_dir / ref

    def load(self) -> None:
        """Read the span's record (once per span) and show it, or say why there is none."""
        span = self._span
        key = (str((span or {}).get("id")), str(self.record_path()))
        if key == self._loaded_for:
            return
        self._loaded_for = key
        self.record, self.selected = None, None
        self._clear_text()
        self.detail.clear()
        model = str((span or {}).get("model") or "")
        self.inspect.setVisible(is_local(model))
        path = self.record_path()
        if span is None:
            self._say("Select a model call to see its tokens.", "muted")
        elif span.get("kind") != "llm":
            self._say("Select a model call (an llm span) to see its tokens.", "muted")
        elif path is None and span.get("token_record"):  # a trace file naming a file elsewhere: not read
            self._say(f"No tokens: the span names {span['token_record']!r}, not a file of its run's tensors/.", "error")
        elif path is None:
            note = span.get("token_note") or "no token data was recorded for this call"
            self._say(f"No tokens: {note}.", "warning")
        else:
            try:
                self.record = TokenRecord.load(path)
            except TokenRecordError as exc:
                self._say(f"The token data cannot be shown: {exc}", "error")
            else:
                self._show_record()
        self.copy.setEnabled(self.record is not None)
        self.inspect.setEnabled(path is not None and path.is_file())

    def _say(self, text: str, tone_name: str) -> None:
        self.message.setText(text)
        set_tone(self.message, tone_name)  # re-toned on a theme switch: readable in either theme
        self.message.setVisible(True)

    def _show_record(self) -> None:
        record = self.record
        assert record is not None
        if not len(record):
            self._say(f"No tokens: {record.note or 'the record holds none'}.", "warning")
            return
        ps = [probability(lp) for lp in record.logprobs]
        self._say(
            f"{len(record)} reply tokens"
            + (f", {len(record.prompt_tokens)} prompt tokens" if record.prompt_tokens else "")
            + f" · mean p {sum(ps) / len(ps):.3f} · least likely {min(ps):.4f}"
            + (f" · {record.note}" if record.note else ""),
            "muted",
        )
        self.selected = None
        self._build()
        self.select_token(0)

    def _build(self) -> None:
        """The record's token text, once per record (and per theme): a click or a hover
        never rebuilds it. The scroll position and the selected token stay."""
        assert self.record is not None
        bar = self.text.verticalScrollBar()
        where = bar.value()
        doc, self._starts = tokens_document(self.record, font=self.text.font())
        doc.setParent(self.text)
        old, self._doc = self._doc, doc
        self.text.setExtraSelections([])
        self.text.setDocument(doc)
        if old is not None:
            old.deleteLater()
        bar.setValue(where)
        self._mark(self.selected)

    def _clear_text(self) -> None:
        self._starts = []
        self.text.setExtraSelections([])
        self.text.clear()

    # ---- tokens

    def select_token(self, i: int) -> None:
        """Token ``i`` picked: only its mark in the text and the detail area change."""
        if self.record is None or not 0 <= i < len(self.record):
            return
        if i != self.selected:
            self._mark(i)
        self.selected = i
        self.detail.setHtml(step_html(self.record, i))

    def _span_of(self, i: int) -> tuple[int, int]:
        """Reply token ``i``'s document positions [start, end) (without the gap after it)."""
        start = self._starts[i]
        end = self._starts[i + 1] - 1 if i + 1 < len(self._starts) else self.text.document().characterCount() - 2
        return start, max(start, end)

    def _mark(self, i: int | None) -> None:
        """The selected token underlined and bold: an extra selection, drawn over the text
        without laying it out again (a char-format change re-laid the whole reply)."""
        if i is None or not 0 <= i < len(self._starts):
            self.text.setExtraSelections([])
            return
        start, end = self._span_of(i)
        mark = QTextEdit.ExtraSelection()
        cursor = QTextCursor(self.text.document())
        cursor.setPosition(start)
        cursor.setPosition(end, QTextCursor.MoveMode.KeepAnchor)
        mark.cursor = cursor
        fmt = QTextCharFormat()
        fmt.setFontUnderline(True)
        fmt.setUnderlineStyle(QTextCharFormat.UnderlineStyle.SingleUnderline)
        fmt.setUnderlineColor(text_colour())
        mark.format = fmt
        self.text.setExtraSelections([mark])

    def marked(self) -> list[tuple[int, int]]:
        """The [start, end) document positions the view marks as selected (for checks)."""
        return [(s.cursor.selectionStart(), s.cursor.selectionEnd()) for s in self.text.extraSelections()]

    def token_at(self, pos: QPoint) -> int | None:
        """The reply token under ``pos`` (viewport coordinates), if any: Qt's hit-test, then
        the token whose start is the last at or before the cursor (``bisect``)."""
        if self.record is None or not self._starts or not self.text.anchorAt(pos):
            return None
        position = self.text.cursorForPosition(pos).position()
        i = bisect.bisect_right(self._starts, position) - 1
        return i if 0 <= i < len(self.record) else None

    def token_rect(self, i: int, near: QPoint | None = None) -> QRect:
        """Reply token ``i``'s box in viewport coordinates."""
        if not 0 <= i < len(self._starts):
            return QRect(near or QPoint(), near or QPoint())
        start, end = self._span_of(i)
        at = QTextCursor(self.text.document())
        at.setPosition(start)
        first = self.text.cursorRect(at)
        at.setPosition(end)
        last = self.text.cursorRect(at)
        return first.united(last)

    def token_tip(self, pos: QPoint) -> tuple[str, QRect] | None:
        """The plain-text tooltip of the token under ``pos`` and the token's box."""
        i = self.token_at(pos)
        if i is None or self.record is None:
            return None
        return step_summary(self.record, i), self.token_rect(i, pos)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt's name)
        """A tooltip over a reply token: its summary as plain text (no HTML escapes shown),
        placed just under the token, hidden when the mouse leaves it."""
        if watched is self.text.viewport() and event.type() == QEvent.Type.ToolTip:
            assert isinstance(event, QHelpEvent)
            tip = self.token_tip(event.pos())
            if tip is None:
                QToolTip.hideText()
            else:
                text, rect = tip
                viewport = self.text.viewport()
                # rich text, escaped: shown as the plain characters, on one line
                shown = "<p style='white-space:pre'>" + html.escape(text) + "</p>"
                QToolTip.showText(viewport.mapToGlobal(rect.bottomLeft() + QPoint(0, 4)), shown, viewport, rect)
            return True
        if (
            watched is self.text.viewport()
            and event.type() == QEvent.Type.MouseButtonRelease
            and isinstance(event, QMouseEvent)
            and event.button() == Qt.MouseButton.LeftButton
        ):
            i = self.token_at(event.position().toPoint())
            if i is not None:
                self.select_token(i)
        return super().eventFilter(watched, event)

    # ---- actions

    def copy_json(self) -> str:
        if self.record is None:
            return ""
        data = self.record.to_json()
        if self.selected is not None:
            data["selected"] = self.selected
        text = json.dumps(data, indent=2, ensure_ascii=False)
        QApplication.clipboard().setText(text)
        return text

    def open_inspector(self) -> None:
        path = self.record_path()
        if path is not None and self.open_path is not None:
            self.open_path(path)
