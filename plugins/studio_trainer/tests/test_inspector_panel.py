"""The Inspector panel, offscreen, on a tiny random model with the real engine: a token
record opens with its verdict, heads open full maps, the lens and attribution fill, Show
code jumps to the attention class, an ablation moves the distribution, bad input is one
error line, Copy as JSON is JSON; the trainer's open hook claims what it should."""

from __future__ import annotations

import json
import math

import pytest

import studio_trainer.hooks as trainer_hooks
from studio.api import JobOutcome, RunStatus, TokenRecord
from studio.testing import assert_fits, assert_no_overlap
from studio.widgets import coloured_text, low_contrast, themed

pytestmark = pytest.mark.gui

CHARS = list("abcdefghijklmnopqrs ")
PROMPT, REPLY = "abc def ", "ghij"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A 2-layer, 2-head, 32-wide random model with a 24-token context, saved once."""
    import torch

    from studio_trainer.config import ModelConfig
    from studio_trainer.data.tokenizer import CharTokenizer
    from studio_trainer.model.gpt import GPT
    from studio_trainer.train.checkpoint import save_checkpoint

    torch.manual_seed(0)
    config = ModelConfig(n_layer=2, n_head=2, n_embd=32, block_size=24, vocab_size=len(CHARS) + 1)
    return save_checkpoint(
        tmp_path_factory.mktemp("inspector") / "ckpt", GPT(config), CharTokenizer(CHARS), step=1, val_loss=None
    )


def record_of(checkpoint, folder, shift: float = 0.0):
    """A token record of PROMPT → REPLY whose logprobs are the engine's own (plus ``shift``)."""
    from studio_trainer.inspect import inspect_text

    inspection = inspect_text(checkpoint, PROMPT + REPLY, top_k=3)
    start = len(PROMPT)
    logprobs = [float(v) + shift for v in inspection.logprobs[start:]]
    top = [[inspection.token(int(i)) for i in row] for row in inspection.top_ids[start - 1 : -1]]
    top_lp = [[float(v) for v in row] for row in inspection.top_logprobs[start - 1 : -1]]
    record = TokenRecord(
        model=f"studio/{checkpoint}",
        prompt=PROMPT,
        reply=REPLY,
        reply_tokens=list(REPLY),
        logprobs=logprobs,
        top_tokens=top,
        top_logprobs=top_lp,
        prompt_tokens=list(PROMPT),
        prompt_ids=list(inspection.ids[:start]),
        reply_ids=list(inspection.ids[start:]),
    )
    return record.save(folder, "call-1" if not shift else "call-2")


@pytest.fixture
def window(make_window):
    return make_window(("trainer", trainer_hooks))


def token_point(view, position):
    """A point inside the token's first character, in the viewport's coordinates."""
    from PySide6.QtCore import QPoint
    from PySide6.QtGui import QTextCursor

    cursor = QTextCursor(view.text.document())
    cursor.setPosition(view.offsets[position][0])
    rect = view.text.cursorRect(cursor)
    return QPoint(rect.x() + 3, rect.center().y())


def click_token(qtbot, view, position):
    """A real mouse click on the token's text."""
    from PySide6.QtCore import Qt

    qtbot.mouseClick(view.text.viewport(), Qt.MouseButton.LeftButton, pos=token_point(view, position))


def move_mouse(widget, point):
    """A mouse move with no button held (what hovering sends; QTest's needs a real window)."""
    from PySide6.QtCore import QEvent, QPointF, Qt
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    point = QPointF(point)
    event = QMouseEvent(
        QEvent.Type.MouseMove,
        point,
        QPointF(widget.mapToGlobal(point.toPoint())),
        Qt.MouseButton.NoButton,
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(widget, event)


def hover(qtbot, heatmap, row, col):
    """Move the mouse over a heat map's cell (through the widget, as a user does)."""
    from PySide6.QtCore import QPointF

    move_mouse(heatmap.viewport(), heatmap.mapFromScene(heatmap.view.mapViewToScene(QPointF(col + 0.5, row + 0.5))))


def inspected(qtbot, panel):
    qtbot.waitUntil(lambda: not panel.runner.busy("inspect"), timeout=10_000)
    assert panel.inspection is not None, panel.banner.text()
    return panel.inspection


def test_a_token_record_opens_in_the_inspector_and_every_view_fills(window, qtbot, checkpoint, tmp_path):
    json_path = record_of(checkpoint, tmp_path)
    assert window.open_path(json_path)
    panel = window.panels["trainer:inspector"]
    inspection = inspected(qtbot, panel)
    # the tokens, the reply marked, the recomputed logprobs said to match
    assert inspection.tokens == list(PROMPT + REPLY) and inspection.reply_start == len(PROMPT)
    assert "▶" in panel.tokens.text.toPlainText() and "ghij" in panel.tokens.text.toPlainText()
    assert panel.banner.text().startswith("✓"), panel.banner.text()
    assert panel.tokens.selected_text() == "j"  # the last position is chosen
    click_token(qtbot, panel.tokens, 4)
    assert panel.position == 4 and panel.tokens.selected_text() == "d"
    assert "rank" in panel.tokens.detail.text()
    move_mouse(panel.tokens.text.viewport(), token_point(panel.tokens, 9))  # hovering another token describes it
    assert panel.tokens.detail.text().startswith("<b>#9</b>") and panel.position == 4

    # attention: the grid, then a head's full map
    panel.tabs.setCurrentWidget(panel.attention)
    qtbot.waitUntil(lambda: panel.attention.grid.rowCount() == 2, timeout=10_000)
    panel.attention.grid.cellClicked.emit(1, 1)
    qtbot.waitUntil(panel.attention.map_shown, timeout=10_000)
    assert panel.attention.full.shape == (12, 12) and panel.attention.head == (1, 1)
    assert (panel.intervene.layer.value(), panel.intervene.head.value()) == (1, 1)  # the head to ablate follows
    assert panel.attention.map.image.image is not None
    assert "query 4" in panel.attention.strip.toPlainText()  # the chosen position
    hover(qtbot, panel.attention.map, row=9, col=2)  # the mouse over another query row
    qtbot.waitUntil(lambda: "query 9" in panel.attention.strip.toPlainText(), timeout=2000)
    attention = json.loads(panel.view_json())
    assert attention["layer"] == 1 and math.isclose(sum(k["weight"] for k in attention["top_keys"]), 1, abs_tol=1e-4)

    # the shaded tokens and the attended text stay readable in both themes
    for theme in ("light", "dark"):
        with themed(theme):
            panel.tokens.draw()
            panel.attention._show_query()
            assert "ghij" in "".join(p.text for p in coloured_text(panel.tokens.text))  # the shaded tokens are checked
            problems = low_contrast(panel.tokens) + low_contrast(panel.attention.strip)
            assert not problems, (theme, [str(p) for p in problems])

    # the code of the attention type, at its class line
    panel.attention.code_button.click()
    assert panel.tabs.currentWidget() is panel.code
    assert panel.code.top_line().startswith("class CausalSelfAttention"), panel.code.top_line()

    # the logit lens (its earlier layers computed on the worker after the inspection showed) and the attribution fill
    panel.tabs.setCurrentWidget(panel.lens)
    qtbot.waitUntil(lambda: panel.lens.map.image.image is not None and panel.lens.map.image.image.shape == (3, 12))
    assert "top" in panel.lens.detail.text()
    lens = json.loads(panel.view_json())
    assert [row["layer"] for row in lens["layers"]] == [0, 1, 2]
    panel.tabs.setCurrentWidget(panel.attribution)
    attribution = json.loads(panel.view_json())
    assert len(attribution["attn"]) == 2 and len(attribution["heads"]) == 2
    assert any(abs(v) > 0 for v in attribution["attn"] + attribution["mlp"])
    panel.tabs.setCurrentWidget(panel.activations)
    assert len(json.loads(panel.view_json())["resid_norm"]) == 3

    # an ablation moves the next-token distribution
    panel.tabs.setCurrentWidget(panel.intervene)
    panel.intervene.layer.setValue(1)
    panel.intervene.head.setValue(0)
    panel.intervene.run_button.click()
    qtbot.waitUntil(lambda: panel.intervene.effect is not None, timeout=10_000)
    effect = json.loads(panel.view_json())
    assert effect["kl"] > 0 and "KL" in panel.intervene.status.text()
    panel.copy_json()
    from PySide6.QtWidgets import QApplication

    assert json.loads(QApplication.clipboard().text())["view"] == "intervene"

    # readable at 1366×768: nothing drawn over anything
    window.resize(1366, 768)
    window.show_panel("trainer:inspector")  # widened to its content, as when first opened
    qtbot.wait(10)
    assert_fits(window, 1366, 768)
    assert_no_overlap(panel)
    assert panel.tabs.tabBar().sizeHint().width() <= panel.tabs.width(), "the view tabs do not all show"

    # an attention type without maps (a plugin's): the view says why instead of drawing
    inspection.attention_available, inspection.unavailable = False, ["attention: MeanAttention has no maps"]
    panel.show_inspection(inspection)
    panel.tabs.setCurrentWidget(panel.attention)
    assert "MeanAttention has no maps" in panel.attention.status.text() and panel.attention.grid.rowCount() == 0

    # saved and opened again: the same tokens, no model needed for the lens
    saved = panel.save_to(tmp_path / "saved")
    assert trainer_hooks.studio_open_path(saved) is not None
    assert window.open_path(saved)
    qtbot.waitUntil(lambda: panel.inspection is not inspection, timeout=10_000)
    assert panel.inspection.tokens == inspection.tokens and "saved inspection" in panel.banner.text()


def test_a_record_that_does_not_match_says_so(window, qtbot, checkpoint, tmp_path):
    assert window.open_path(record_of(checkpoint, tmp_path, shift=0.5))
    panel = window.panels["trainer:inspector"]
    inspected(qtbot, panel)
    assert panel.banner.text().startswith("⚠"), panel.banner.text()


def test_the_generate_panel_opens_its_output_in_the_inspector(window, qtbot, checkpoint):
    generate = window.show_panel("trainer:generate")
    assert not generate.inspect_button.isEnabled()  # nothing generated yet
    generate.checkpoint.set_value(str(checkpoint))
    generate._show(
        "abc ", JobOutcome("run-1", RunStatus.SUCCEEDED, checkpoint, result={"text": "defg"})
    )  # what a finished job hands it
    assert generate.inspect_button.isEnabled()
    generate.inspect_button.click()
    panel = window.panels["trainer:inspector"]
    inspection = inspected(qtbot, panel)
    assert "".join(inspection.tokens) == "abc defg" and inspection.reply_start == 4


def test_bad_input_is_one_error_line_and_state_is_kept(window, qtbot, checkpoint, tmp_path):
    from PySide6.QtCore import Qt

    panel = window.show_panel("trainer:inspector")
    panel.model.set_value(str(tmp_path / "no-such-model"))
    panel.text.setPlainText("abc")
    window.activateWindow()
    panel.text.setFocus()
    qtbot.waitUntil(lambda: panel.text.hasFocus(), timeout=2000)
    qtbot.keyClick(panel.text, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)  # Ctrl+Return inspects
    qtbot.waitUntil(lambda: not panel.runner.busy("inspect"), timeout=10_000)
    assert panel.banner.text().startswith("⚠") and "\n" not in panel.banner.text()
    assert panel.inspection is None

    panel.top_k.setValue(4)
    panel.inspect(str(checkpoint), "abcdefghij" * 3)  # 30 tokens; the context is 24: the last 24, said
    qtbot.waitUntil(lambda: not panel.runner.busy("inspect"), timeout=10_000)
    assert panel.banner.text().startswith("the text is 30 tokens; the model's context is 24: inspecting the last 24")
    panel.inspection = None

    panel.inspect(str(checkpoint), "abc")  # cancelled: the pass ends on its thread and is dropped
    assert panel.cancel_button.isVisible() and not panel.inspect_button.isEnabled()
    panel.cancel_button.click()
    assert panel.inspect_button.isEnabled() and panel.banner.text() == "Cancelled."
    panel.runner.wait()
    qtbot.wait(20)
    assert panel.inspection is None and panel.banner.text() == "Cancelled."

    panel.tabs.setCurrentWidget(panel.lens)
    state = panel.save_state()
    other = window.show_panel("trainer:inspector").__class__(panel.ctx)
    other.restore_state(state)
    assert (other.model.value(), other.text.toPlainText(), other.top_k.value()) == (str(checkpoint), "abc", 4)
    assert other.current_view() is other.lens


def test_the_trainer_claims_inspections_and_local_token_records_only(tmp_path, checkpoint):
    local = record_of(checkpoint, tmp_path)
    action = trainer_hooks.studio_open_path(local)
    assert action is not None and action.panel == "trainer:inspector"
    remote = tmp_path / "remote.json"
    remote.write_text(json.dumps({"format": "studio.token-record/1", "model": "openai/gpt-4o-mini"}))
    assert trainer_hooks.studio_open_path(remote) is None
    other = tmp_path / "other.json"
    other.write_text("{not json")
    assert trainer_hooks.studio_open_path(other) is None
    folder = tmp_path / "insp"
    folder.mkdir()
    (folder / "inspection.json").write_text("{}")
    action = trainer_hooks.studio_open_path(folder)
    assert action is not None and action.panel == "trainer:inspector"


def test_the_views_say_what_they_show(window, qtbot, checkpoint):
    """The newcomer's walk: heads laid out layer by row, token names on zoomed axes and the
    query outlined, the heads' colour scale, block numbering, shading levels, the Code tab
    filled, a patch's Save greyed out with its reason, and a theme switch redrawn."""
    from PySide6.QtGui import QTextDocument

    from studio.widgets import probability_tint
    from studio_trainer.qt.inspector.common import SHADES, shade_colours, shade_of

    panel = window.show_panel("trainer:inspector")
    panel.inspect(str(checkpoint), PROMPT + REPLY)
    inspection = inspected(qtbot, panel)
    n = len(inspection.tokens)

    # the attention grid: one row per layer, one column per head, labelled
    panel.tabs.setCurrentWidget(panel.attention)
    grid = panel.attention.grid
    qtbot.waitUntil(lambda: grid.item(1, 1) is not None, timeout=10_000)
    assert (grid.rowCount(), grid.columnCount()) == (inspection.n_layer, inspection.n_head)
    assert [grid.verticalHeaderItem(i).text() for i in range(2)] == ["L0", "L1"]
    assert [grid.horizontalHeaderItem(h).text() for h in range(2)] == ["H0", "H1"]
    grid.cellClicked.emit(1, 0)
    qtbot.waitUntil(panel.attention.map_shown, timeout=10_000)
    assert panel.attention.head == (1, 0)

    # the map: the chosen query row outlined; token names on the axes once zoomed in
    heatmap = panel.attention.map
    heatmap.resize(600, 400)
    assert heatmap.marker.isVisible() and heatmap.marker.rect().top() == panel.attention.query - 0.5
    heatmap.view.setRange(xRange=(-0.5, n - 0.5), yRange=(-0.5, n - 0.5), padding=0)
    heatmap.view.setRange(xRange=(1.5, 4.5), yRange=(1.5, 4.5), padding=0)
    assert heatmap.labelled("bottom") and heatmap.labelled("left")
    ticks = heatmap.plot.getAxis("bottom")._tickLevels[0]
    assert [label for _, label in ticks] == [inspection.tokens[i].replace(" ", "\u2423") for i in range(2, 5)]
    before = panel.attention.query
    hover(qtbot, heatmap, row=3, col=1)  # the outline follows the hovered query
    qtbot.waitUntil(lambda: heatmap.marker.rect().top() == panel.attention.query - 0.5 != before - 0.5, timeout=2000)

    # the lens: positions named by tokens when they fit; the chosen position outlined
    panel.tabs.setCurrentWidget(panel.lens)
    panel.lens.map.resize(40 * n, 300)
    panel.lens.draw()
    assert panel.lens.map.labelled("bottom") and panel.lens.map.marker.isVisible()

    # attribution: the heads' colour scale spans their own largest value, said beside the bars'
    panel.tabs.setCurrentWidget(panel.attribution)
    heads = json.loads(panel.view_json())["heads"]
    largest = max(abs(v) for row in heads for v in row)
    low, high = panel.attribution.colour_bar.levels()
    assert math.isclose(high, largest, rel_tol=1e-5) and math.isclose(low, -largest, rel_tol=1e-5)
    assert f"{largest:.3g}" in panel.attribution.scale_note.text()
    panel.attribution.shared.setChecked(True)  # the bars' scale: wider
    assert panel.attribution.colour_bar.levels()[1] >= largest

    # activations: the residual stream's first point is the embeddings, MLPs start at block 0
    panel.tabs.setCurrentWidget(panel.activations)
    residual, mlp = [
        item
        for item in panel.activations.norms.getPlotItem().listDataItems()
        if item.name().endswith(f"at {panel.position}")
    ]
    assert list(residual.xData) == [-1, 0, 1] and list(mlp.xData) == [0, 1]
    labels = dict(panel.activations.norms.getPlotItem().getAxis("bottom")._tickLevels[0])
    assert labels[-1.0] == "emb" and labels[0.0] == "0"
    assert "block 0" in panel.activations.note.text()
    qtbot.waitUntil(lambda: "values" in panel.activations.note.text(), timeout=10_000)  # computed on the worker
    assert panel.activations.hist.getPlotItem().listDataItems()  # and drawn
    assert json.loads(panel.view_json())["histogram"]["counts"]

    # the Code tab shows layer 0's attention class before any Show code
    panel.tabs.setCurrentWidget(panel.code)
    assert panel.code.top_line().startswith("class CausalSelfAttention"), panel.code.top_line()
    assert "layer 0" in panel.code.where.text()

    # a residual patch cannot be saved: said next to the greyed-out button, and on hover
    panel.tabs.setCurrentWidget(panel.intervene)
    panel.intervene.kind.setCurrentIndex(2)
    assert not panel.intervene.save_button.isEnabled()
    assert "steering" in panel.intervene.save_button.toolTip() and "steering" in panel.intervene.status.text()
    panel.intervene.kind.setCurrentIndex(0)
    assert panel.intervene.save_button.isEnabled() and "steering" not in panel.intervene.status.text()

    # the shading: the Traces view's scale; 0.6 and 0.3 clearly apart; the first token
    # (unshaded) is redrawn in the new theme's text colour after a switch
    assert shade_of(float("nan")) == -1 and shade_of(1.0) == 0 and shade_of(0.0) == SHADES - 1
    panel.tabs.setCurrentWidget(panel.tokens)
    for theme in ("light", "dark"):
        with themed(theme):
            colours = shade_colours()
            assert colours[shade_of(0.3)] == probability_tint(0.3) and colours[shade_of(0.6)] == probability_tint(0.6)
            apart = sum(
                abs(a - b)
                for a, b in zip(colours[shade_of(0.3)].getRgb(), colours[shade_of(0.6)].getRgb(), strict=True)
            )
            assert apart >= 40, (theme, apart)
            problems = low_contrast(panel.tokens)  # not drawn again by hand: the switch redraws
            assert not problems, (theme, [str(p) for p in problems])
            first = [p for p in coloured_text(panel.tokens.text) if p.text.startswith(PROMPT[0])]
            assert first and all(p.ratio >= 4.5 for p in first), [str(p) for p in first]
            legend = QTextDocument()  # the legend: swatches of the theme's scale
            legend.setHtml(panel.tokens.legend.text())
            assert legend.toPlainText().split()[-3:] == ["0.4", "0.2", "0"]
            assert colours[shade_of(0.6)].name() in panel.tokens.legend.text()


def test_the_lens_tab_waits_for_its_worker_and_then_draws(window, qtbot, checkpoint, monkeypatch):
    """The layers' lens is computed on the panel's worker after the inspection shows; until
    then the tab says so instead of running the model on the GUI thread."""
    import threading

    from studio_trainer.inspect import inspection as inspection_module

    gate = threading.Event()
    original = inspection_module.LayerLens.arrays

    def slow(self):
        if not self.ready():
            assert threading.current_thread() is not threading.main_thread()  # never on the GUI thread
            gate.wait(10)
        return original(self)

    monkeypatch.setattr(inspection_module.LayerLens, "arrays", slow)
    panel = window.show_panel("trainer:inspector")
    panel.tabs.setCurrentWidget(panel.lens)
    panel.inspect(str(checkpoint), PROMPT + REPLY)
    inspected(qtbot, panel)
    assert "computing the logit lens of 3 layers" in panel.lens.detail.text()
    gate.set()
    qtbot.waitUntil(lambda: "top" in panel.lens.detail.text(), timeout=10_000)
    assert panel.lens.map.image.image.shape == (3, len(PROMPT + REPLY))
