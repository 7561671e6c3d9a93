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
