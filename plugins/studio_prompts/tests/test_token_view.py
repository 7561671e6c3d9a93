"""The Tokens tab of Traces, offscreen: a model call's reply tokens shaded by probability,
alternatives / rank / entropy of a clicked token, read lazily when the span is opened; a
missing or corrupt record and a call without logprobs said in the view; Copy as JSON;
Inspect… for local models; the node inspector's 'token probabilities' setting."""

from __future__ import annotations

import json
import math

import pytest

from studio.api import TokenRecord
from studio.widgets import low_contrast, themed

from .helpers import predict_node, write_workflow

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
    tips = _tooltips(tokens.text)
    assert "p = 0.9000" in tips["\u00a0Paris"] and "rank 1 of top 2" in tips["\u00a0Paris"]  # shown on hover
    newline = next(colour for text, colour in fmt_colours.items() if text.startswith("↵"))
    assert fmt_colours["\u00a0Paris"] != newline and _strength(newline) > _strength(fmt_colours["\u00a0Paris"])
    # the hovered / clicked token: alternatives, rank, entropy estimated from the top-k (no exact entropy)
    tokens.select_token(1)
    underlined = {text for text, on in _fragments(tokens.text, lambda fmt: fmt.fontUnderline()).items() if on}
    assert [text[0] for text in underlined] == ["↵"]  # the picked token is marked in the text
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
    assert "Pick a model call" in tokens.message.text()
    assert len(panel.models[run.name].tree) == 7


def _strength(colour: str) -> float:
    """How far a tint is from the base colour (the palette's base)."""
    from PySide6.QtGui import QColor, QPalette
    from PySide6.QtWidgets import QApplication

    a, b = QColor(colour), QApplication.palette().color(QPalette.ColorRole.Base)
    return sum(abs(x - y) for x, y in zip(a.getRgb()[:3], b.getRgb()[:3], strict=True))


def _tooltips(browser) -> dict[str, str]:
    return _fragments(browser, lambda fmt: fmt.toolTip())


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
    path = write_workflow(
        tmp_path / "one.workflow.json",
        nodes={"ask": predict_node("question -> answer", {"question": "input.question"})},
        inputs={"question": "str"},
        outputs={"answer": "ask.answer"},
    )
    editor.open_path(path)
    editor.select_node("ask")
    inspector = editor.inspector
    assert inspector.top_logprobs.value() == 0 and inspector.top_logprobs.text() == "off"
    inspector.top_logprobs.setValue(5)
    assert inspector.commit() is True
    assert editor.doc.to_spec().nodes["ask"].params["config"] == {"logprobs": True, "top_logprobs": 5}
    editor.select_node("ask")
    assert inspector.top_logprobs.value() == 5
    inspector.top_logprobs.setValue(0)
    assert inspector.commit() is True
    assert not editor.doc.to_spec().nodes["ask"].params.get("config")
