"""The tokenizer view's coloured text keeps 4.5:1 contrast in the light and the dark theme
(issue 17 §4): the tokens on their shades, and the ids under them (grey was 3.9:1)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from studio.api import Folders
from studio.widgets import coloured_text, low_contrast, themed

pytestmark = pytest.mark.gui


def test_the_token_view_is_readable_in_both_themes(qtbot, tmp_path):
    from studio_trainer.qt.tokens_panel import TokensPanel

    ctx = SimpleNamespace(folders=Folders(tmp_path), settings=dict, save_settings=lambda values: None)
    tokens = TokensPanel(ctx)  # the little of a PanelContext the view uses
    qtbot.addWidget(tokens)
    tokens.tokenizer = SimpleNamespace(  # type: ignore[assignment]  # what show_tokens asks of one
        pieces=lambda text: [(7, "To"), (8, " be")], unknown=lambda text: set(), kind="char", vocab_size=9
    )
    for theme in ("light", "dark"):
        with themed(theme):
            tokens.show_tokens()
            assert {p.text for p in coloured_text(tokens.view)} == {"To", "be", "7 8"}
            assert not low_contrast(tokens), (theme, [str(p) for p in low_contrast(tokens)])
