"""The workflow editor as a newcomer meets it (issue 17): a failed run said in a banner,
not a dialog, and timed by its work; a dropped node in the inspector; titles, kinds and
signatures on the nodes; undo back to the saved file is saved; the inspector scrolls; the
Run form's first field ready to type over; nodes of a disabled plugin say so; shortcuts
anywhere in the editor; the sample workflows in the workspace."""

from __future__ import annotations

import itertools
import json
import time

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QFileDialog, QLineEdit, QScrollArea, QWidget

from studio.api import RunStatus, Span, read_events
from studio.testing import loop_until

from .helpers import predict_node, write_workflow
from .test_editor_panel import drop, rag_file

pytestmark = pytest.mark.gui


def test_a_failed_run_is_said_in_a_banner_not_a_dialog_and_timed_by_its_work(
    window, editor, qasync_loop, tmp_path, monkeypatch
):
    """A failed node popped a modal dialog (in a real session: the offscreen platform
    skips it, so the platform is said to be another here) and the run's recorded time
    included how long it stayed open (17.0 s against the trace's 1.48 s)."""
    from PySide6.QtWidgets import QMessageBox

    dialogs: list[str] = []

    def modal(_parent, _title, text):  # a user who reads the dialog for a second
        dialogs.append(text)
        time.sleep(1.0)

    monkeypatch.setattr(QMessageBox, "warning", staticmethod(modal))
    monkeypatch.setattr(QApplication, "platformName", staticmethod(lambda: "xcb"))
    monkeypatch.setattr(editor, "ask_trust", lambda _path, _code: True)  # the test's own function may run
    path = write_workflow(
        tmp_path / "fails.workflow.json",
        nodes={
            "look_up": {
                "type": "prompts.python",
                "inputs": {"country": "input.question"},
                "params": {"function": "studio_prompts.tests.helpers:unknown_country"},
            }
        },
        inputs={"question": "str"},
        outputs={"capital": "look_up.result"},
    )
    editor.open_path(path)

    async def go():
        run_id = editor.run({"question": "Atlantis"})
        job = window.studio.jobs.jobs[run_id]
        await window.studio.jobs.wait(job)
        return job

    job = qasync_loop.run_until_complete(go())
    assert job.status == RunStatus.FAILED
    loop_until(qasync_loop, lambda: not editor.tracker.busy)
    assert dialogs == [] and QApplication.activeModalWidget() is None
    assert editor.banner.isVisibleTo(editor) and "no capital known for Atlantis" in editor.banner.text.text()
    assert "Show trace" in editor.banner.text.text()
    (workflow,) = [
        e.record
        for e in read_events(job.run.dir)
        if isinstance(e, Span) and e.span_kind == "workflow" and e.record.get("duration") is not None
    ]
    recorded = json.loads((job.run.dir / "run.json").read_text())
    # the run's time is its work's: the trace's workflow span, not that plus a dialog
    assert recorded["finished"] - recorded["started"] == pytest.approx(workflow["duration"], abs=0.5)

    traces = window.show_panel("prompts:traces")
    editor.banner._link("show-trace")  # the banner's link: the run's trace, its failed span selected
    selected = traces.view.current_record()
    assert traces.view.run_id == job.id and selected is not None and selected["status"] == "error"


def test_a_dropped_node_is_shown_in_the_inspector(editor):
    editor.select_node("predict")
    assert editor.inspector.node is editor.graph.get_node_by_name("predict")
    node = drop(editor, "prompts.chain_of_thought", QPoint(300, 50))
    assert editor.inspector.node is node and editor.graph.selected_nodes() == [node]
    assert editor.inspector.signature.text() == "question -> answer"


def header(node) -> list[str]:
    return node.view.text_item.toPlainText().splitlines()


def test_node_headers_show_titles_kinds_and_signatures(editor, tmp_path):
    path = write_workflow(
        tmp_path / "t.workflow.json",
        nodes={
            "facts": {**predict_node("question -> facts: list[str]", {"question": "input.question"}), "title": "Facts"},
            "answer": predict_node("question, facts: list[str] -> answer", {"question": "input.question"}),
        },
        inputs={"question": "str"},
        outputs={"answer": "answer.answer"},
    )
    editor.open_path(path)
    facts, answer = (editor.graph.get_node_by_name(n) for n in ("facts", "answer"))
    assert header(facts) == ["Facts", "facts · Predict · question -> facts: list[str]"]
    assert header(answer) == ["answer", "Predict · question, facts: list[str] -> answer"]  # no title: the id
    assert header(editor.graph.get_node_by_name("inputs")) == ["Workflow inputs"]

    editor.select_node("answer")  # a title set in the inspector, one undoable step
    editor.inspector.node_title.setText("The answer")
    assert editor.inspector.commit()
    answer = editor.graph.get_node_by_name("answer")
    assert header(answer)[0] == "The answer" and editor.doc.to_spec().nodes["answer"].title == "The answer"
    editor.graph.undo_stack().undo()
    assert header(editor.graph.get_node_by_name("answer"))[0] == "answer" and not editor.dirty
    editor.graph.undo_stack().redo()
    editor.select_node("answer")  # a kind change keeps the title
    editor.inspector.kind.setCurrentIndex(editor.inspector.kind.findData("prompts.chain_of_thought"))
    assert editor.inspector.commit()
    assert header(editor.graph.get_node_by_name("answer"))[:1] == ["The answer"]
    assert "Chain of thought" in header(editor.graph.get_node_by_name("answer"))[1]
    assert editor.graph.get_node_by_name("answer").title == "The answer"


def test_undoing_back_to_the_saved_file_is_saved_and_offers_no_recovery(editor, tmp_path):
    path = rag_file(tmp_path)
    editor.open_path(path)
    stack = editor.graph.undo_stack()
    drop(editor, "prompts.predict")
    auto = editor.autosave()  # the 30 s timer, or the window closing
    assert auto is not None and auto.exists() and editor.dirty
    stack.undo()
    assert not editor.dirty
    assert editor.autosave() is None and not auto.exists()  # nothing unsaved: the old autosave goes
    editor.open_path(path)  # as on the next start
    assert editor.recovery is None and "recovered" not in editor.status.text()

    # an autosave that holds the file as it is (written by another version, say) is not offered either
    auto.parent.mkdir(parents=True, exist_ok=True)
    auto.write_text(json.dumps(json.loads(path.read_text()), indent=4))
    editor.open_path(path)
    assert editor.recovery is None

    # saved, undone past the save, then edited differently: not the saved file
    drop(editor, "prompts.predict")
    assert editor.save()
    stack.undo()
    assert editor.dirty
    drop(editor, "prompts.chain_of_thought")  # the same undo index as the save, another workflow
    assert editor.dirty


def test_the_inspector_scrolls_instead_of_squashing_its_rows(editor, qtbot):
    from studio_prompts.qt.editor.inspector import Inspector

    holder = QWidget()  # a dock squeezed by the window: the inspector gets less than its layout asks for
    qtbot.addWidget(holder)
    inspector = Inspector(editor)
    inspector.setParent(holder)
    inspector.setGeometry(0, 0, 320, 260)
    holder.resize(320, 260)
    holder.show()
    editor.select_node("predict")
    inspector.show_node(editor.graph.get_node_by_name("predict"))
    QApplication.processEvents()
    rows = [inspector.kind, inspector.signature, inspector.fields, inspector.instructions, inspector.params]
    tops = [(w.mapTo(inspector, QPoint(0, 0)).y(), w.height()) for w in rows]
    for (top, height), (next_top, _) in itertools.pairwise(tops):
        assert top + height <= next_top  # each row below the last, none drawn over another
    for row in rows:  # and none squashed below what it needs (they were 14 px each, text cut)
        assert row.height() >= row.minimumSizeHint().height(), row.objectName()
    lines = inspector.instructions.fontMetrics().lineSpacing()
    assert min(inspector.instructions.height(), inspector.params.height()) >= 3 * lines
    (area,) = inspector.findChildren(QScrollArea)
    assert area.verticalScrollBar().maximum() > 0  # they scroll instead
    assert inspector.apply.isVisible() and inspector.apply.geometry().bottom() <= inspector.height()


def test_the_run_form_focuses_its_first_field_with_its_text_selected(editor, qtbot):
    from studio_prompts.qt.editor.dialogs import FormDialog

    dialog = FormDialog(editor, "Run workflow", {"question": "the last question", "other": ""})
    qtbot.addWidget(dialog)
    dialog.show()
    QApplication.processEvents()
    first = dialog.edits["question"]
    assert isinstance(first, QLineEdit)
    assert dialog.focusWidget() is first and first.selectedText() == "the last question"


@pytest.fixture
def without_rag(monkeypatch):
    """The RAG plugin installed but contributing nothing, as when it is disabled in Plugins."""
    import studio_prompts.qt.workflow_panel as workflow_panel
    import studio_prompts.workflow.graph as graph
    from studio.api import contributions

    def enabled(hook):
        return [item for item in contributions(hook) if not str(getattr(item, "id", "")).startswith("rag.")]

    for module in (workflow_panel, graph):
        monkeypatch.setattr(module, "contributions", enabled)


def test_nodes_of_a_disabled_plugin_say_so(without_rag, editor, tmp_path):
    path = write_workflow(
        tmp_path / "r.workflow.json",
        nodes={
            "retrieve": {"type": "rag.retrieve", "inputs": {"query": "input.question"}, "params": {}},
            "other": {"type": "nosuchplugin.thing", "inputs": {}, "params": {}},
        },
        inputs={"question": "str"},
        outputs={"passages": "retrieve.passages"},
    )
    editor.open_path(path)
    status = editor.status.text()
    assert "retrieve (rag.retrieve): plugin rag is disabled or did not load (enable it in Plugins)" in status
    assert "other (nosuchplugin.thing): not available (plugin missing or disabled)" in status
    assert "not installed" not in status
    editor.select_node("retrieve")
    assert "plugin rag is disabled" in editor.inspector.title.text()
    assert header(editor.graph.get_node_by_name("retrieve"))[1] == "rag.retrieve (not available)"


def test_the_editor_shortcuts_work_anywhere_in_it(window, editor, monkeypatch):
    """Only the toolbar had them: Ctrl+S in the canvas or the inspector did nothing, and
    Ctrl+O went to the window's Open file."""
    asked: list[str] = []
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda _p, title, *a, **k: (asked.append(title), ("", ""))[1])
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda _p, title, *a, **k: (asked.append(title), ("", ""))[1])
    window.activateWindow()
    editor.select_node("predict")

    def press(widget, key, modifier=Qt.KeyboardModifier.ControlModifier):
        widget.setFocus()
        QApplication.processEvents()
        focused = QApplication.focusWidget()
        assert focused is not None and (focused is widget or widget.isAncestorOf(focused))
        QTest.keyClick(focused, key, modifier)
        QApplication.processEvents()

    signature = editor.inspector.signature
    press(signature, Qt.Key.Key_S)
    press(editor.graph.viewer(), Qt.Key.Key_S)
    press(editor.graph.viewer(), Qt.Key.Key_O)
    assert asked == ["Save workflow", "Save workflow", "Open workflow"]
    QTest.keyClicks(signature, " x")
    press(signature, Qt.Key.Key_Z)  # the text field's own undo, not the canvas's
    assert signature.text() == "question -> answer" and editor.graph.get_node_by_name("predict") is not None
    press(editor.inspector.fields, Qt.Key.Key_Delete, Qt.KeyboardModifier.NoModifier)  # not the selected node
    assert editor.graph.get_node_by_name("predict") is not None


def test_the_sample_workflows_are_in_a_new_workspace_and_open_from_the_home_page(window, editor):
    from PySide6.QtGui import QAction

    folder = editor.ctx.folders.workflows
    assert {p.name for p in folder.iterdir()} >= {"qa.workflow.json", "rag.workflow.json"}
    (folder / "qa.workflow.json").unlink()  # deleted by the user: the action copies it again
    (action,) = [a for a in window.findChildren(QAction) if a.text() == "Open sample workflow"]
    action.trigger()
    assert editor.session.path == folder / "qa.workflow.json" and not editor.dirty
    assert header(editor.graph.get_node_by_name("facts"))[0] == "Facts needed"


def test_open_sample_says_what_is_in_the_way_and_never_writes_the_studios_own_file(window, editor, monkeypatch):
    """It said "The sample workflows are not installed" when the workspace's workflows/ was a
    file (or read-only), and opened a file of the user's named qa.workflow.json as the sample."""
    from PySide6.QtGui import QAction

    from studio_prompts.samples import SAMPLE, SAMPLES_DIR

    shipped = (SAMPLES_DIR / SAMPLE).read_bytes()
    folder = editor.ctx.folders.workflows
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()
    folder.write_text("a file where the folder goes")
    (action,) = [a for a in window.findChildren(QAction) if a.text() == "Open sample workflow"]
    action.trigger()
    # no copy can be made: the shipped sample, unsaved and untitled; Save asks where
    assert editor.session.path is None and header(editor.graph.get_node_by_name("facts"))[0] == "Facts needed"
    assert editor.status.text() == (
        f"The sample workflow is open unsaved ({folder} is a file, not a folder, so the sample cannot be copied "
        "there): Save as… keeps it where you choose."
    )
    asked: list[str] = []
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda _p, title, *a, **k: (asked.append(title), ("", ""))[1])
    assert editor.save() is False and asked == ["Save workflow"]
    assert (SAMPLES_DIR / SAMPLE).read_bytes() == shipped

    folder.unlink()
    folder.mkdir()
    (folder / SAMPLE).write_text('{"not": "a workflow of mine"}')
    action.trigger()  # a file of the user's has the name: a copy beside it, and said
    assert editor.session.path == folder / "qa-sample.workflow.json" and not editor.dirty
    assert (folder / SAMPLE).read_text() == '{"not": "a workflow of mine"}'
    assert window.statusBar().currentMessage().startswith("workflows/qa.workflow.json is not the sample")
