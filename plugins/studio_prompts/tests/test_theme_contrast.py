"""The prompt engine's coloured text (a span's error, span statuses, errored evaluation
rows) keeps 4.5:1 contrast in the light and the dark theme (issue 17 §4: colours chosen for
white were too dark on the dark theme's base)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from studio.api import JobOutcome, RunStatus
from studio.widgets import coloured_text, low_contrast, themed

pytestmark = pytest.mark.gui

THEMES = ("light", "dark")


@pytest.mark.parametrize("theme", THEMES)
def test_a_spans_error_is_readable(qtbot, theme):
    from PySide6.QtWidgets import QTextBrowser

    from studio_prompts.qt.trace_panel import render_details

    view = QTextBrowser(objectName="details")
    qtbot.addWidget(view)
    with themed(theme):
        view.setHtml(render_details({"name": "ask", "kind": "llm", "status": "error", "error": "LMError: down"}))
        assert [p.text for p in coloured_text(view)] == ["Error"]
        assert not low_contrast(view), [str(p) for p in low_contrast(view)]


@pytest.mark.parametrize("theme", THEMES)
def test_span_statuses_are_readable(qtbot, theme):
    from PySide6.QtWidgets import QTreeView

    from studio_prompts.qt.trace_model import SpanTreeModel

    records: list[dict[str, Any]] = [
        {"id": "w", "parent": None, "kind": "workflow", "name": "wf", "start": 0.0, "status": "running"},
        {"id": "a", "parent": "w", "kind": "llm", "name": "a", "start": 0.0, "duration": 0.1, "status": "error"},
        {"id": "b", "parent": "w", "kind": "llm", "name": "b", "start": 0.1, "duration": 0.1, "status": "cached"},
        {"id": "c", "parent": "w", "kind": "llm", "name": "c", "start": 0.2, "duration": 0.1, "status": "cancelled"},
    ]
    view = QTreeView(objectName="spans")
    qtbot.addWidget(view)
    model = SpanTreeModel(view)
    model.load(records)
    view.setModel(model)
    with themed(theme):
        statuses = {p.text for p in coloured_text(view)}
        assert statuses == {"running", "error", "cached", "cancelled"}
        assert not low_contrast(view), [str(p) for p in low_contrast(view)]


@pytest.mark.parametrize("theme", THEMES)
def test_errored_evaluation_rows_are_readable(qtbot, tmp_path, theme):
    from studio_prompts.qt.editor.results import ResultView

    run_dir = tmp_path / "20250101-000000-prompts.eval-abcd"
    run_dir.mkdir()
    (run_dir / "summary.json").write_text(
        json.dumps({"score": 1.0, "examples": 2, "scored": 1, "errors": 1, "first_error": "LMError: down"})
    )
    rows = [{"index": 0, "status": "ok", "score": 1.0}, {"index": 1, "status": "error", "error": "LMError: down"}]
    (run_dir / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    with themed(theme):
        view = ResultView(None, run_dir, "eval", JobOutcome(run_dir.name, RunStatus.FAILED, run_dir, error="…"))
        qtbot.addWidget(view)
        assert "error" in {p.text for p in coloured_text(view.table)}
        assert not low_contrast(view), [str(p) for p in low_contrast(view)]


@pytest.mark.parametrize("theme", THEMES)
def test_the_banners_show_trace_link_is_readable(qtbot, theme):
    """Drawn in a colour readable on the banner, even where the palette's link colour is
    Qt's default blue (1.6:1 on the dark theme's window: the newcomer's walk saw it)."""
    from PySide6.QtGui import QColor, QPalette

    from studio.widgets import contrast_ratio
    from studio_prompts.qt.editor.banner import ErrorBanner

    banner = ErrorBanner()
    qtbot.addWidget(banner)
    with themed(theme):
        palette = banner.text.palette()
        palette.setColor(QPalette.ColorRole.Link, QColor("#0000ff"))
        banner.text.setPalette(palette)
        banner.show_error("Node ask failed: ParseError", "run-1")
        banner.show()
        qtbot.waitExposed(banner)
        window = palette.color(QPalette.ColorRole.Window)
        image = banner.text.grab().toImage()
        drawn = {image.pixelColor(x, y).name() for x in range(image.width()) for y in range(image.height())}
        if contrast_ratio(QColor("#0000ff"), window) < 4.5:  # the dark theme: never drawn in it
            assert "#0000ff" not in drawn
        assert contrast_ratio(banner.link_colour(), window) >= 4.5
        assert banner.link_colour().name() in drawn
        assert not low_contrast(banner), [str(p) for p in low_contrast(banner)]
