"""The workflow editor on a laptop screen (offscreen): the canvas takes the free space, the
toolbar keeps Run, Open and Save in view, only the inspector scrolls (one scroll area), and
the panel asks for so little room that the shell's scroll area around it never scrolls."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QScrollArea, QSplitter

import studio_prompts.hooks as prompts_hooks

pytestmark = pytest.mark.gui


@pytest.mark.parametrize("screen", [(1366, 768), (1024, 640)])
def test_the_canvas_takes_the_free_space_and_only_the_inspector_scrolls(make_window, qapp, screen):
    window = make_window(("prompts", prompts_hooks))
    editor = window.show_panel("prompts:editor")
    window.resize(*screen)
    window.docks["prompts:editor"].raise_()
    for _ in range(3):
        qapp.processEvents()
    hint = editor.minimumSizeHint()
    assert hint.width() <= 300 and hint.height() <= 250, hint
    canvas = editor.graph.widget
    # the canvas gets most of the panel: ≥ 60 % of its width, all the height below the toolbar
    assert canvas.width() >= 0.6 * editor.width() - 10, (canvas.size(), editor.size())
    assert canvas.height() >= editor.height() - 120, (canvas.size(), editor.size())
    assert canvas.height() >= (250 if screen == (1366, 768) else 150), canvas.size()
    outer = window.docks["prompts:editor"].widget()
    if isinstance(outer, QScrollArea):  # the shell's: it never scrolls the editor
        assert outer.verticalScrollBar().maximum() == 0 and outer.horizontalScrollBar().maximum() == 0
    # Run, Open and Save are in view, not in the toolbar's overflow menu
    toolbar = editor.toolbar
    for key in ("run", "open", "save"):
        button = toolbar.widgetForAction(editor.toolbar_actions[key])
        assert button is not None and button.isVisible(), key
        assert toolbar.rect().contains(button.geometry()), key
    # the canvas and the inspector share a splitter, the inspector collapsible; one scroll area in it
    split = editor.splitter
    assert isinstance(split, QSplitter) and split.isCollapsible(split.indexOf(editor.side))
    assert len(editor.inspector.findChildren(QScrollArea)) == 1
    # a workflow opened is framed: every node in the canvas' view, none cut at its edge
    from studio_prompts.samples import SAMPLE, SAMPLES_DIR

    editor.open_unsaved(SAMPLES_DIR / SAMPLE)
    for _ in range(3):
        qapp.processEvents()
    viewer = editor.graph.viewer()
    for node in editor.graph.all_nodes():
        shown = viewer.mapFromScene(node.view.sceneBoundingRect()).boundingRect()
        assert viewer.viewport().rect().contains(shown), (node.name(), shown, viewer.viewport().rect())


def test_the_api_base_follows_the_model_in_the_run_form(make_window):
    """A remembered API base stayed when the user picked another model: off and empty for a
    studio/ model, kept only for the model it was given for."""
    from PySide6.QtWidgets import QLineEdit

    from studio.widgets import ModelPicker
    from studio_prompts.qt.editor.dialogs import FormDialog
    from studio_prompts.qt.editor.job_actions import API_BASE_FIELD, API_BASE_KEY, API_BASE_MODEL_KEY, MODEL_FIELD

    window = make_window(("prompts", prompts_hooks))
    editor = window.show_panel("prompts:editor")
    server = "http://127.0.0.1:11434"
    editor.ctx.save_settings({**editor.ctx.settings(), API_BASE_KEY: server, API_BASE_MODEL_KEY: "ollama_chat/llama3"})
    dialog = FormDialog(editor, "Run workflow", editor.model_fields())
    editor.link_api_base(dialog)
    picker, base = dialog.edits[MODEL_FIELD], dialog.edits[API_BASE_FIELD]
    assert isinstance(base, QLineEdit) and isinstance(picker, ModelPicker)
    picker.set_value("ollama_chat/llama3")
    assert base.text() == server and base.isEnabled()
    picker.set_value("studio/20261201-033638-trainer.train-ba6e")
    assert base.text() == "" and not base.isEnabled() and "studio" in base.placeholderText()
    picker.set_value("openai/gpt-4o-mini")  # another provider: not the server given for llama3
    assert base.text() == "" and base.isEnabled()
    picker.set_value("ollama_chat/llama3")
    assert base.text() == server
    base.setText("http://other:8000")  # typed in this form: kept while the model changes
    picker.set_value("openai/gpt-4o-mini")
    assert base.text() == "http://other:8000"
    dialog.deleteLater()
