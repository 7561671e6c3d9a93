"""The Tokenizer panel: how a text splits into tokens, with each token's id."""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from studio.api import Panel, PanelContext

if TYPE_CHECKING:
    from ..data.tokenizer import Tokenizer

COLOURS = ("#f4cccc", "#d9ead3", "#cfe2f3", "#fff2cc", "#d9d2e9", "#fce5cd")
SAMPLE = "To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer"


class TokensPanel(QWidget, Panel):
    def __init__(self, ctx: PanelContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.tokenizer: Tokenizer | None = None
        layout = QVBoxLayout(self)
        row = QHBoxLayout()
        self.path = QLineEdit(objectName="trainer:tokenizer-path")
        self.path.setPlaceholderText("tokenizer.json, or a checkpoint folder")
        self.path.editingFinished.connect(lambda: self.load(self.path.text()))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row.addWidget(self.path)
        row.addWidget(browse)
        layout.addLayout(row)
        self.text = QPlainTextEdit(SAMPLE, objectName="trainer:tokenize-text")
        self.text.setMaximumHeight(100)
        self.text.textChanged.connect(self.show_tokens)
        layout.addWidget(self.text)
        self.info = QLabel(wordWrap=True)
        layout.addWidget(self.info)
        self.view = QTextBrowser(objectName="trainer:tokens-view")
        layout.addWidget(self.view, 1)
        last = ctx.settings().get("tokenizer")
        if last:
            self.load(last)

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Tokenizer", str(self.ctx.workspace), "Tokenizer (tokenizer.json)")
        if path:
            self.load(path)

    def open_path(self, path: Path) -> None:
        self.load(str(path))

    def load(self, path: str) -> None:
        from ..data.tokenizer import load_tokenizer

        file = Path(path)
        if file.is_dir():
            file = file / "tokenizer.json"
        self.path.setText(str(file))
        try:
            self.tokenizer = load_tokenizer(file)
        except Exception as exc:
            self.tokenizer = None
            self.info.setText(f"⚠ {exc}")
            self.view.clear()
            return
        self.ctx.save_settings({**self.ctx.settings(), "tokenizer": str(file)})
        self.show_tokens()

    def show_tokens(self) -> None:
        """The text in coloured tokens, their ids below (not QWidget.render: that paints the widget)."""
        if self.tokenizer is None:
            return
        text = self.text.toPlainText()
        pieces = self.tokenizer.pieces(text)
        spans = []
        for i, (token_id, piece) in enumerate(pieces):
            shown = html.escape(piece).replace("\n", "↵<br>").replace(" ", "&nbsp;")
            colour = COLOURS[i % len(COLOURS)]
            spans.append(f'<span style="background:{colour};color:#000" title="id {token_id}">{shown}</span>')
        ids = " ".join(str(t) for t, _ in pieces)
        unknown = self.tokenizer.unknown(text)
        warn = f" · not in the vocabulary (dropped): {html.escape(''.join(sorted(unknown)))}" if unknown else ""
        self.info.setText(
            f"{len(pieces)} tokens for {len(text)} characters · {self.tokenizer.kind}, "
            f"vocabulary {self.tokenizer.vocab_size}{warn}"
        )
        self.view.setHtml(
            f'<div style="font-family:monospace">{"".join(spans)}</div>'
            f'<p style="font-family:monospace;color:gray">{ids}</p>'
        )


def create(ctx: PanelContext) -> QWidget:
    return TokensPanel(ctx)
