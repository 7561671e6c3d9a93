"""The Tokens tab of Traces, offscreen: a model call's reply tokens shaded by probability,
alternatives / rank / entropy of a clicked token, read lazily when the span is opened; a
missing or corrupt record and a call without logprobs said in the view; Copy as JSON;
Inspect… for local models; the node inspector's 'token probabilities' setting."""

from __future__ import annotations

import json
import math
import shutil

import pytest
from PySide6.QtWidgets import QLabel

from studio.api import TokenRecord
from studio.widgets import low_contrast, themed

from .helpers import open_one_question_node

pytestmark = pytest.mark.gui


def _record(model: str) -> TokenRecord:
    return TokenRecord(
        model=model,
        prompt="Q: capital of France?\nA:",
        reply=" Paris\n!",
        reply_tokens=[" Paris", "\n", "!"],
        logprobs=[math.log(0.9), math.log(0.05), math.log(0.5)],
        top_tokens=[[" Paris", " Lyon"], [" is", ".", "\n"], ["?", "."]],
        top_logprobs=[[math.log(0.9), math.log(0.05)], [math.log(0.6), math.log(0.2), math.log(0.05)], [-0.2, -3.0]],
        prompt_tokens=["Q", ":", " capital"] if model.startswith("studio/") else [],
        prompt_ids=[1, 2, 3] if model.startswith("studio/") else None,
        entropy=[0.4, 1.3, 0.9] if model.startswith("studio/") else None,
    )


def _span(span_id: str, parent: str | None, kind: str, **fields) -> dict:
    return {"t": 0.0, "kind": "span", "id": span_id, "parent": parent, "span_kind": kind, "name": span_id,
            "start": 0.0, "duration": 0.1, "status": "ok", **fields}  # fmt: skip


@pytest.fixture
def run(tmp_path):
    """A run folder: four llm spans — a local call, a remote call, one whose record is gone,
    one without logprobs — and a corrupt record for a fifth."""
    run = tmp_path / "runs" / "20261201-000000-prompts.run-abcd"
    tensors = run / "tensors"
    _record("studio/run-1").save(tensors, "local")
    _record("openai/gpt-4o-mini").save(tensors, "remote")
    (tensors / "broken.json").write_text('{"format": "studio.token-record/1", "reply_tokens": [')
    spans = [
        _span("w", None, "workflow"),
        _span("local", "w", "llm", model="studio/run-1", reply=" Paris\n!", token_record="tensors/local.json"),
        _span("remote", "w", "llm", model="openai/gpt-4o-mini", reply=" Paris\n!", token_record="tensors/remote.json"),
        _span("gone", "w", "llm", model="openai/x", reply="r", token_record="tensors/gone.json"),
        _span("none", "w", "llm", model="openai/x", reply="r", token_note="the provider returned no logprobs"),
        _span("broken", "w", "llm", model="openai/x", reply="r", token_record="tensors/broken.json"),
        _span("escape", "w", "llm", model="studio/x", reply="r", token_record="../../secret.json"),
    ]
    (run / "events.jsonl").write_text("".join(json.dumps(s) + "\n" for s in spans))
    return run


def test_the_tokens_tab(window, run, monkeypatch):
    loads: list = []
    original = TokenRecord.load
    monkeypatch.setattr(TokenRecord, "load", classmethod(lambda cls, path: loads.append(path) or original(path)))
    panel = window.show_panel("prompts:traces")
    panel.open_path(run)
    view = panel.view
    assert loads == []  # opening the trace reads no token record
    tokens = view.tokens
    view.select_span("remote")
    assert loads == []  # the Tokens tab is not shown yet
    view.right.setCurrentWidget(tokens)
    assert loads == [run / "tensors" / "remote.json"]
    html = tokens.text.toHtml()
    assert "Paris" in html and "↵" in html  # the newline token is marked, not lost
    # shading: the unlikely "\n" (p 0.05) gets a stronger tint than " Paris" (p 0.9)
    fmt_colours = _backgrounds(tokens.text)
    tip, _where, _box = _hover(tokens, "\u00a0Paris")
    assert "p = 0.9000" in tip and "rank 1 of top 2" in tip  # shown on hover
    # plain text, never HTML escapes; shown just under the hovered token, not far from it
    tip, _where, _box = _hover(tokens, "!")
    assert tip.startswith("'!': p = 0.5000") and "rank >2" in tip and "&#" not in tip and "&gt;" not in tip
    assert "prompt tokens: only local models report them" in tokens.text.toPlainText()  # a remote call
    newline = next(colour for text, colour in fmt_colours.items() if text.startswith("↵"))
    assert fmt_colours["\u00a0Paris"] != newline and _strength(newline) > _strength(fmt_colours["\u00a0Paris"])
    # the hovered / clicked token: alternatives, rank, entropy estimated from the top-k (no exact entropy)
    tokens.select_token(1)
    marked = [_marked_text(tokens, start, end) for start, end in tokens.marked()]
    assert [text[0] for text in marked] == ["↵"]  # the picked token is marked in the text (underlined)
    assert all(sel.format.fontUnderline() for sel in tokens.text.extraSelections())
    detail = tokens.detail.toPlainText()
    assert "rank 3 of top 3" in detail and "0.0500" in detail and "estimated from the top 3" in detail
    assert "entropy ≥" in detail
    assert not tokens.inspect.isVisible()  # a remote model: nothing to inspect
    copied = json.loads(tokens.copy_json())
    assert [t["token"] for t in copied["tokens"]] == [" Paris", "\n", "!"] and copied["selected"] == 1
    assert copied["tokens"][1]["rank"] == 2

    # a local model: prompt tokens, exact entropy, and Inspect… opens the record through the studio
    opened: list = []
    tokens.open_path = opened.append
    view.select_span("local")
    assert tokens.inspect.isVisible() and tokens.inspect.isEnabled()
    assert "capital" in tokens.text.toPlainText() and "Prompt" in tokens.text.toPlainText()
    tokens.select_token(0)
    assert "entropy 0.400 nats" in tokens.detail.toPlainText() and "rank 1 of top 2" in tokens.detail.toPlainText()
    tokens.inspect.click()
    assert opened == [run / "tensors" / "local.json"]

    # what cannot be shown is said; the trace itself stays
    view.select_span("gone")
    assert "is missing" in tokens.message.text() and tokens.text.toPlainText() == ""
    view.select_span("broken")
    assert "not valid JSON" in tokens.message.text()
    view.select_span("none")
    assert "the provider returned no logprobs" in tokens.message.text()
    assert not tokens.copy.isEnabled()
    loads.clear()
    view.select_span("escape")
    assert "not a file of its run's tensors/" in tokens.message.text() and loads == []
    assert not tokens.inspect.isEnabled()
    view.select_span("w")
    assert "Select a model call (an llm span)" in tokens.message.text()
    assert len(panel.models[run.name].tree) == 7

    # another run shown (as after a new workflow run): no span of it picked, so not the last run's tokens
    view.select_span("local")
    assert "capital" in tokens.text.toPlainText()
    second = shutil.copytree(run, run.parent / "20261201-000001-prompts.run-efgh")
    panel.open_path(second)
    assert view.run_id == second.name and view.current_record() is None
    assert tokens.text.toPlainText() == "" and tokens.message.text() == "Select a model call to see its tokens."


def _marked_text(tokens, start: int, end: int) -> str:
    from PySide6.QtGui import QTextCursor

    cursor = QTextCursor(tokens.text.document())
    cursor.setPosition(start)
    cursor.setPosition(end, QTextCursor.MoveMode.KeepAnchor)
    return cursor.selectedText()


def test_a_10000_token_record_opens_and_a_click_picks_its_token(qtbot, tmp_path):
    """A long reply (10,000 tokens, as a hostile tester opened) is built once: a click on a
    token picks that token (its detail, its mark) without rebuilding the text. Speed is
    benchmarks/inspect_traces.py's."""
    from PySide6.QtCore import QPoint, Qt

    from studio_prompts.qt.token_view import TokenView

    n = 10_000
    tokens = [f" t{i}" for i in range(n)]
    record = TokenRecord("openai/x", "p", "".join(tokens), tokens, [-0.1 * (i % 7) for i in range(n)],
                         [[t] for t in tokens], [[-0.1 * (i % 7)] for i in range(n)])  # fmt: skip
    record.save(tmp_path / "tensors", "long")
    view = TokenView()
    qtbot.addWidget(view)
    view.resize(800, 500)
    view.show()
    view.show_span({"kind": "llm", "id": "long", "model": "openai/x", "token_record": "tensors/long.json"}, tmp_path)
    assert view.record is not None and f"{n} reply tokens" in view.message.text()
    doc = view.text.document()
    view.text.verticalScrollBar().setValue(view.text.verticalScrollBar().maximum() // 2)
    # a click in the middle of a token seen halfway down: that token, its detail and its mark
    box = None
    for i in range(0, n, 37):
        box = view.token_rect(i)
        if view.text.viewport().rect().contains(box.center()) and box.width() > 4:
            break
    assert box is not None and view.text.viewport().rect().contains(box.center())
    qtbot.mouseClick(view.text.viewport(), Qt.MouseButton.LeftButton, pos=box.center())
    assert view.selected == i, (view.selected, i)
    assert view.text.document() is doc  # not rebuilt
    assert f"Token {i + 1} of {n}" in view.detail.toPlainText() and f"'{tokens[i]}'" in view.detail.toPlainText()
    assert [_marked_text(view, *span) for span in view.marked()] == [tokens[i].replace(" ", "\u00a0")]
    assert view.token_at(box.center()) == i and view.token_at(QPoint(-5, -5)) is None
    view.select_token(n - 1)  # the last token, by the keyboard-free API
    assert [_marked_text(view, *span) for span in view.marked()] == [tokens[-1].replace(" ", "\u00a0")]


def _strength(colour: str) -> float:
    """How far a tint is from the base colour (the palette's base)."""
    from PySide6.QtGui import QColor, QPalette
    from PySide6.QtWidgets import QApplication

    a, b = QColor(colour), QApplication.palette().color(QPalette.ColorRole.Base)
    return sum(abs(x - y) for x, y in zip(a.getRgb()[:3], b.getRgb()[:3], strict=True))


def _hover(tokens, text: str):
    """Hover the reply token whose fragment starts with ``text``: the tooltip's plain text,
    the tooltip window's box and the token's box (global coordinates)."""
    from PySide6.QtCore import QEvent, QPoint
    from PySide6.QtGui import QHelpEvent, Qt, QTextCursor, QTextDocument
    from PySide6.QtWidgets import QApplication, QToolTip

    browser = tokens.text
    block = browser.document().begin()
    while block.isValid():
        it = block.begin()
        while not it.atEnd():
            fragment = it.fragment()
            if fragment.text().startswith(text) and fragment.charFormat().isAnchor():
                cursor = QTextCursor(browser.document())
                cursor.setPosition(fragment.position())
                left = browser.cursorRect(cursor)
                cursor.setPosition(fragment.position() + fragment.length())
                box = left.united(browser.cursorRect(cursor))
                inside = box.center() + QPoint(1, 0)
                viewport = browser.viewport()
                global_pos = viewport.mapToGlobal(inside)
                QApplication.sendEvent(viewport, QHelpEvent(QEvent.Type.ToolTip, inside, global_pos))
                doc = QTextDocument()
                shown = QToolTip.text()  # rich text is shown decoded, plain text as it is
                doc.setHtml(shown) if Qt.mightBeRichText(shown) else doc.setPlainText(shown)
                label = next(w for w in QApplication.topLevelWidgets() if w.objectName() == "qtooltip_label")
                box.moveTopLeft(viewport.mapToGlobal(box.topLeft()))
                return doc.toPlainText(), label.frameGeometry(), box
            it += 1
        block = block.next()
    raise AssertionError(f"no token {text!r}")


def _backgrounds(browser) -> dict[str, str]:
    return _fragments(browser, lambda fmt: fmt.background().color().name())


def _fragments(browser, what) -> dict[str, str]:
    """Each text fragment of the browser's document → ``what(its char format)``."""
    out = {}
    block = browser.document().begin()
    while block.isValid():
        it = block.begin()
        while not it.atEnd():
            fragment = it.fragment()
            out[fragment.text()] = what(fragment.charFormat())
            it += 1
        block = block.next()
    return out


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_shaded_tokens_are_readable(qtbot, theme):
    from studio_prompts.qt.token_view import TokenView

    view = TokenView()
    qtbot.addWidget(view)
    view.show()
    record = _record("studio/run-1")
    with themed(theme):
        view.record = record
        view._show_record()
        assert not low_contrast(view.text), [str(p) for p in low_contrast(view.text)]


def test_the_inspector_sets_token_probabilities(editor, tmp_path):
    inspector = open_one_question_node(editor, tmp_path)
    assert inspector.top_logprobs.value() == 0 and inspector.top_logprobs.text() == "off"
    # a label short enough for the narrow form (it was cut: "token probabilities (top-"), explained in its tooltip
    label = inspector.findChild(QLabel, "top_logprobs_label")
    assert label.text() == "logprobs (top-k)" and "probability" in label.toolTip() and label.wordWrap()
    inspector.top_logprobs.setValue(5)
    assert inspector.commit() is True
    assert editor.doc.to_spec().nodes["ask"].params["config"] == {"logprobs": True, "top_logprobs": 5}
    editor.select_node("ask")
    assert inspector.top_logprobs.value() == 5
    inspector.top_logprobs.setValue(0)
    assert inspector.commit() is True
    assert not editor.doc.to_spec().nodes["ask"].params.get("config")


def _long_record(context: int | None) -> TokenRecord:
    """A local call whose prompt (30 tokens) is longer than the model's context (8), with
    ten alternatives per step and reply tokens of probability 0.3 and 0.6."""
    alternatives = [f"alt{j}" for j in range(10)]
    return TokenRecord(
        model="studio/run-1",
        prompt="",
        reply="ab",
        reply_tokens=["alt0", "alt1"],
        logprobs=[math.log(0.3), math.log(0.6)],
        top_tokens=[alternatives, alternatives],
        top_logprobs=[[math.log(0.3) - j * 0.1 for j in range(10)]] * 2,
        prompt_tokens=[f"w{i:02d}" for i in range(30)],
        context=context,
    )


def test_tooltip_by_the_token_context_window_and_the_top_k_rows(qtbot):
    """At the size of the Tokens tab on a 1366×768 screen: the tooltip is just under the hovered
    token; the prompt tokens the model did not see (outside its context) are dimmed, and
    the view says so; eight alternatives show without scrolling."""
    from studio.widgets import tone
    from studio_prompts.qt.token_view import TokenView

    view = TokenView()
    qtbot.addWidget(view)
    view.resize(610, 340)
    view.move(20, 20)
    view.show()
    view.record = _long_record(context=8)
    view._show_record()
    plain = view.text.toPlainText()
    assert "the model's context is 8 tokens: it saw only the last 8 of the 30 prompt tokens (dimmed before)" in plain
    colours = _fragments(view.text, lambda fmt: fmt.foreground().color().name())
    muted = tone("muted").name()
    dimmed = [text for text, colour in colours.items() if colour == muted]
    assert dimmed and all(f"w{i:02d}" in "".join(dimmed) for i in range(22))
    assert not any(f"w{i:02d}" in "".join(dimmed) for i in range(22, 30))
    # the tooltip: just under the token (or over it, where the screen ends)
    _tip, where, box = _hover(view, "alt1")
    gap = max(where.top() - box.bottom(), box.top() - where.bottom())
    assert abs(where.left() - box.left()) <= 30 and 0 <= gap <= 30, (where, box)
    # eight rows of alternatives visible in the detail area (the top of its document)
    view.select_token(0)
    cursor = view.detail.document().find("alt7")
    assert not cursor.isNull()
    row = view.detail.cursorRect(cursor)
    assert row.bottom() <= view.detail.viewport().height(), (row, view.detail.viewport().height())
    line = view.text.fontMetrics().lineSpacing()
    assert view.text.viewport().height() >= 8 * line  # and the tokens keep their room
    # a model that saw the whole prompt: nothing dimmed, nothing said
    view.record = _long_record(context=64)
    view._show_record()
    assert "context is" not in view.text.toPlainText()
    assert muted not in _fragments(view.text, lambda fmt: fmt.foreground().color().name()).values()


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_shading_and_the_summary_in_either_theme(qtbot, theme):
    """p 0.3 and 0.6 get clearly different shades; the summary line stays readable after a
    theme switch (it kept the light theme's grey on the dark window)."""
    from PySide6.QtGui import QPalette
    from PySide6.QtWidgets import QApplication

    from studio.widgets import contrast_ratio, probability_tint
    from studio_prompts.qt.token_view import TokenView, shade

    view = TokenView()
    qtbot.addWidget(view)
    view.show()
    view.record = _long_record(context=None)
    view._show_record()  # in the light theme
    with themed(theme):
        assert contrast_ratio(shade(0.3), shade(0.6)) >= 1.25  # the Tokens tab's shading: the theme's scale
        assert shade(0.3) == probability_tint(0.3)
        window = QApplication.palette().color(QPalette.ColorRole.Window)  # what the label is drawn on
        colour = view.message.palette().color(QPalette.ColorRole.WindowText)
        assert "mean p" in view.message.text() and contrast_ratio(colour, window) >= 4.5
        assert not low_contrast(view), [str(p) for p in low_contrast(view)]
