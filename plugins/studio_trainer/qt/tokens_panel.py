"""The Tokenizer panel: how a text splits into tokens, with each token's id."""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import (
    QLabel,
    QPlainTextEdit,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from studio.api import Panel, PanelContext, resolve_model
from studio.widgets import ModelPicker, tone

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
        # a tokenizer.json, or a model: run id, run folder, checkpoint or quantized folder
        self.path = ModelPicker(
            ctx,
            placeholder="a run id, a checkpoint folder or a tokenizer.json",
            file_filter="Tokenizer (tokenizer.json);;All files (*)",
        )
        self.path.setObjectName("trainer:tokenizer-path")
        self.path.chosen.connect(self.load)
        layout.addWidget(self.path)
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

    def open_path(self, path: Path) -> None:
        self.load(str(path))

    def load(self, path: str) -> None:
        """A tokenizer.json, or the tokenizer of the model ``path`` names (the shell's resolver:
        a run id of the workspace, a run folder, a checkpoint or a quantized folder)."""
        from ..data.tokenizer import load_tokenizer

        self.path.set_value(path)
        try:
            file = Path(path).expanduser()
            if not file.is_file():
                file = resolve_model(path, self.ctx.folders) / "tokenizer.json"
            self.tokenizer = load_tokenizer(file)
        except Exception as exc:
            self.tokenizer = None
            self.info.setText(f"⚠ {exc}")
            self.view.clear()
            return
        self.ctx.save_settings({**self.ctx.settings(), "tokenizer": path})
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
            f'<p style="font-family:monospace;color:{tone("muted").name()}">{ids}</p>'
        )


def create(ctx: PanelContext) -> QWidget:
    return TokensPanel(ctx)
