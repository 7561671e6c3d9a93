"""The workflow editor, offscreen: palette drag creates a node, typed connections, undo /
redo of add, delete, connect and edit, save → load round trip, a run that colours nodes
and fills the Traces panel, placeholders for missing plugins, autosave and recovery,
a file changed on disk."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest
from PySide6.QtCore import QMimeData, QPoint

from studio.api import JobError, JobOutcome, RunStatus, Status
from studio.testing import loop_until
from studio_prompts.workflow import load_workflow

from .conftest import fields, input_value
from .helpers import code_workflow, predict_node, write_workflow

pytestmark = pytest.mark.gui


def rag_file(tmp_path, url=None):
    nodes = {
        "rewrite": predict_node("question -> query", {"question": "input.question"}),
        "answer": predict_node(
            "question, query -> answer, confidence: float",
            {"question": "input.question", "query": "rewrite.query"},
            instructions="Answer briefly.",
        ),
    }
    model = {"model": "openai/fake-model", "api_base": url} if url else None
    return write_workflow(
        tmp_path / "rag.workflow.json",
        nodes=nodes,
        inputs={"question": "str"},
        outputs={"answer": "answer.answer"},
        model=model,
    )


def drop(editor, type_id, pos=QPoint(50, 50)):
    from NodeGraphQt.constants import MIME_TYPE, URN_SCHEME

    from studio_prompts.qt.editor.nodes import node_class_name

    mime = QMimeData()  # what the palette puts on a drag
    mime.setData(MIME_TYPE, f"{URN_SCHEME}node:workflow.{node_class_name(type_id)}".encode())
    before = {n.name() for n in editor.graph.all_nodes()}
    editor.graph._on_node_data_dropped(mime, pos)
    (new,) = [n for n in editor.graph.all_nodes() if n.name() not in before]
    return new


def viewer_connect(editor, out_port, in_port):
    """Connect the way a drag on the canvas does (through the viewer's signal)."""
    editor.graph._on_connection_changed([], [(out_port.view, in_port.view)])


def test_palette_drop_creates_an_initialised_node_and_undo_redo(editor):
    stack = editor.graph.undo_stack()
    start = stack.index()
    node = drop(editor, "prompts.chain_of_thought")
    assert node.name() == "chain_of_thought" and list(node.inputs()) == ["question"]
    assert list(node.outputs()) == ["reasoning", "answer"] and editor.dirty
    stack.undo()
    assert editor.graph.get_node_by_name("chain_of_thought") is None and stack.index() == start
    stack.redo()
    assert editor.graph.get_node_by_name("chain_of_thought") is not None


def test_typed_ports_refuse_incompatible_connections(editor):
    refused: list[str] = []
    editor.graph.refused.connect(refused.append)
    counter = drop(editor, "prompts.predict")
    editor.set_params(counter, {"signature": "text -> n: int"})
    counter = editor.graph.get_node_by_name("predict_2")
    consumer = drop(editor, "prompts.predict", QPoint(300, 0))
    editor.set_params(consumer, {"signature": "items: list[str] -> answer"})
    consumer = editor.graph.get_node_by_name("predict_3")
    viewer_connect(editor, counter.outputs()["n"], consumer.inputs()["items"])
    assert consumer.inputs()["items"].connected_ports() == [] and "n (int) cannot connect" in refused[-1]
    inputs = editor.graph.get_node_by_name("inputs")  # workflow input question: str → text: str
    viewer_connect(editor, inputs.outputs()["question"], counter.inputs()["text"])
    assert counter.inputs()["text"].connected_ports()[0].name() == "question"
    editor.graph.undo_stack().undo()  # undo the connection
    assert counter.inputs()["text"].connected_ports() == []
    editor.graph.undo_stack().redo()
    assert counter.inputs()["text"].connected_ports()


def test_undo_redo_of_delete_and_edit(editor, tmp_path):
    editor.open_path(rag_file(tmp_path))
    stack = editor.graph.undo_stack()
    answer = editor.graph.get_node_by_name("answer")
    editor.set_params(answer, {**answer.params(), "signature": "question, query -> answer"})  # drops `confidence`
    answer = editor.graph.get_node_by_name("answer")
    assert list(answer.outputs()) == ["answer"]
    assert answer.inputs()["query"].connected_ports()[0].node().name() == "rewrite"  # wires kept
    assert editor.doc.to_spec().outputs == {"answer": "answer.answer"}
    stack.undo()
    answer = editor.graph.get_node_by_name("answer")
    assert list(answer.outputs()) == ["answer", "confidence"] and not editor.dirty
    editor.graph.clear_selection()
    editor.graph.get_node_by_name("rewrite").set_selected(True)
    editor.delete_selected()
    assert editor.graph.get_node_by_name("rewrite") is None
    stack.undo()
    assert editor.graph.get_node_by_name("rewrite") is not None
    assert editor.doc.to_spec().nodes["answer"].inputs["query"] == "rewrite.query"


def test_inspector_edits_and_refuses_bad_signatures(editor, tmp_path):
    editor.open_path(rag_file(tmp_path))
    editor.select_node("rewrite")
    inspector = editor.inspector
    assert inspector.signature.text() == "question -> query"
    inspector.signature.setText("question -> -> query")
    assert inspector.commit() is False and "one arrow" in inspector.problem.text()
    inspector.signature.setText("question -> query, keywords: list[str]")
    inspector.instructions.setPlainText("Rewrite as a search query.")
    assert inspector.commit() is True
    spec = editor.doc.to_spec()
    assert spec.nodes["rewrite"].params["signature"] == "question -> query, keywords: list[str]"
    assert spec.nodes["rewrite"].params["instructions"] == "Rewrite as a search query."


def test_save_load_round_trip_equal(editor, tmp_path):
    path = rag_file(tmp_path)
    original = load_workflow(path).spec
    editor.open_path(path)
    out = tmp_path / "again.workflow.json"
    assert editor.save_to(out) and not editor.dirty
    again = load_workflow(out).spec
    assert again.model_dump(exclude={"layout", "name"}) == original.model_dump(exclude={"layout", "name"})
    editor.open_path(out)
    third = tmp_path / "third.workflow.json"
    editor.save_to(third)
    assert third.read_text() == out.read_text()  # stable: saving again changes nothing


def test_missing_plugin_node_is_a_placeholder_kept_on_save(editor, tmp_path):
    nodes = {
        "search": {"type": "someplugin.search", "inputs": {"q": "input.question"}, "params": {"k": 3}},
        "answer": predict_node(
            "question, passages -> answer", {"question": "input.question", "passages": "search.passages"}
        ),
    }
    path = write_workflow(
        tmp_path / "m.workflow.json", nodes=nodes, inputs={"question": "str"}, outputs={"answer": "answer.answer"}
    )
    editor.open_path(path)
    from studio_prompts.qt.editor.nodes import MissingNode

    search = editor.graph.get_node_by_name("search")
    assert isinstance(search, MissingNode) and "not available (plugin missing or disabled)" in editor.status.text()
    assert editor.run({"question": "x"}) is None and "cannot run" in editor.status.text().lower()
    saved = tmp_path / "saved.workflow.json"
    editor.save_to(saved)
    spec = load_workflow(saved).spec
    assert spec.nodes["search"].type == "someplugin.search" and spec.nodes["search"].params == {"k": 3}
    assert spec.nodes["answer"].inputs["passages"] == "search.passages"


def test_bad_file_is_reported_and_the_open_workflow_stays(editor, tmp_path):
    editor.open_path(rag_file(tmp_path))
    bad = tmp_path / "bad.workflow.json"
    bad.write_text("{ nope")
    from studio_prompts.workflow import WorkflowError

    with pytest.raises(WorkflowError, match="not valid JSON"):
        editor.open_path(bad)
    assert editor.graph.get_node_by_name("rewrite") is not None and bad.read_text() == "{ nope"
    binary = tmp_path / "x.workflow.json"
    binary.write_bytes(b"\x00\x01\x02\xc0\xff" * 20)
    with pytest.raises(WorkflowError) as info:
        editor.open_path(binary)
    assert str(info.value) == "x.workflow.json is not a text file (binary?), so not a workflow"
    assert editor.graph.get_node_by_name("rewrite") is not None


def test_autosave_recovery_and_change_on_disk(editor, tmp_path, qtbot):
    path = rag_file(tmp_path)
    editor.open_path(path)
    original = path.read_text()
    drop(editor, "prompts.predict")
    auto = editor.autosave()
    assert auto is not None and auto.exists() and path.read_text() == original  # the user's file untouched
    editor.open_path(path)  # as after a crash: the autosave is newer than the file
    assert editor.recovery == auto and "recovered" in editor.status.text()
    editor.recover()
    assert editor.graph.get_node_by_name("predict") is not None and editor.dirty
    # not dirty + changed on disk → reloaded
    editor.open_path(path)
    editor.recovery = None
    data = json.loads(path.read_text())
    data["nodes"]["rewrite"]["params"]["instructions"] = "changed elsewhere"
    path.write_text(json.dumps(data))
    qtbot.waitUntil(
        lambda: editor.doc.to_spec().nodes["rewrite"].params.get("instructions") == "changed elsewhere", timeout=5000
    )


def test_run_colours_nodes_and_fills_the_traces(window, editor, qasync_loop, qtbot, tmp_path, llm_server, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # placeholder key

    def script(request):
        if "`query` (str)" in request["messages"][0]["content"].split("Your output fields")[1]:
            return fields(query="q:" + input_value(request, "question"))
        return "garbled"  # the answer node fails: its error must point at it

    llm_server.reset(script=script)
    traces = window.show_panel("prompts:traces")
    editor.open_path(rag_file(tmp_path, llm_server.url))

    async def go():
        run_id = editor.run({"question": "why?"})
        job = (
            window.studio.jobs.jobs[run_id]
            if isinstance(run_id, str) and run_id in window.studio.jobs.jobs
            else list(window.studio.jobs.jobs.values())[-1]
        )
        await window.studio.jobs.wait(job)
        return job

    job = qasync_loop.run_until_complete(go())
    assert job.status == RunStatus.FAILED
    loop_until(qasync_loop, lambda: getattr(editor.graph.get_node_by_name("answer"), "run_state", "") == "error")
    assert editor.graph.get_node_by_name("rewrite").run_state == "ok"
    stack = editor.graph.undo_stack()
    assert not editor.dirty, [stack.text(i) for i in range(stack.count())]  # colouring nodes is not an edit
    # the run's end is the last word, and it names the failing node
    assert RunStatus.FAILED in editor.status.text() and "node 'answer'" in editor.status.text()
    assert "q:why?" in editor.graph.get_node_by_name("rewrite").view.toolTip()
    assert "q:why?" in editor.graph.get_node_by_name("rewrite").output_label.text()  # on the canvas too
    assert editor.graph.get_node_by_name("answer").output_label.text()  # the error, under the failed node
    assert job.id in traces.models and len(traces.models[job.id].tree) >= 5
    # clicking a node selects its spans in the Traces panel
    editor.graph.clear_selection()
    editor.graph.get_node_by_name("rewrite").set_selected(True)
    editor._selection_changed([], [])
    selected = traces.view.tree.selectionModel().selectedRows()
    assert selected and selected[0].data() == "rewrite"


def test_open_path_routes_workflow_files_to_the_editor(window, tmp_path):
    path = rag_file(tmp_path)
    assert window.open_path(path) is True
    editor = window.panels["prompts:editor"]
    assert editor.doc.path == path and editor.graph.get_node_by_name("answer") is not None


def test_a_yaml_workflow_opens_edits_saves_and_groups_as_yaml(window, tmp_path):
    from studio_prompts.workflow.schema import read_workflow_file

    path = tmp_path / "rag.workflow.yaml"
    read_workflow_file(rag_file(tmp_path)).save(path)
    assert window.open_path(path) is True
    editor = window.panels["prompts:editor"]
    node = editor.graph.get_node_by_name("answer")
    editor.set_params(node, {**node.params(), "instructions": "Answer briefly.\nQuote the query."})
    assert editor.save()
    text = path.read_text()
    assert "Quote the query." in text and not text.lstrip().startswith("{")  # still YAML
    assert read_workflow_file(path).nodes["answer"].params["instructions"] == "Answer briefly.\nQuote the query."
    editor.graph.clear_selection()
    editor.graph.get_node_by_name("rewrite").set_property("selected", True, push_undo=False)
    sub = editor.group_selected()
    assert sub.name == "rag.group.workflow.yaml" and read_workflow_file(sub).nodes.keys() == {"rewrite"}


def test_copy_paste_keeps_params_and_typed_ports(editor, tmp_path):
    editor.open_path(rag_file(tmp_path))
    editor.select_node("answer")
    editor.copy_selected()
    (pasted,) = editor.paste()
    assert pasted.name().isidentifier() and pasted.name() != "answer"
    assert pasted.params()["signature"] == "question, query -> answer, confidence: float"
    assert pasted.port_type("out", "confidence") == "float"
    editor.graph.undo_stack().undo()
    assert editor.graph.get_node_by_name(pasted.name()) is None


def test_group_into_a_sub_workflow_and_open_it(editor, tmp_path, llm_server, lm):
    from studio_prompts import context

    path = rag_file(tmp_path)
    editor.open_path(path)
    editor.graph.clear_selection()
    for name in ("rewrite", "answer"):
        editor.graph.get_node_by_name(name).set_property("selected", True, push_undo=False)
    before = editor.doc.to_spec()
    sub = editor.group_selected()
    assert sub is not None and sub.exists()
    assert editor.dirty and load_workflow(path).spec == before  # an edit like any other: saved when the user saves
    grouped = editor.doc.to_spec()
    editor.graph.undo_stack().undo()  # one step back: the nodes and their wires return
    assert editor.doc.to_spec().model_dump(exclude={"layout"}) == before.model_dump(exclude={"layout"})
    assert not editor.dirty and sub.exists()  # the written sub-workflow stays: nothing is deleted
    editor.graph.undo_stack().redo()
    assert editor.doc.to_spec().model_dump(exclude={"layout"}) == grouped.model_dump(exclude={"layout"})
    assert editor.save()
    parent = load_workflow(path)
    assert set(parent.spec.nodes) == {"group"} and parent.spec.outputs == {"answer": "group.answer_answer"}
    assert parent.spec.nodes["group"].inputs == {"input_question": "input.question"}
    llm_server.reset(
        script=lambda r: (
            fields(query="q")
            if "`query` (str)" in r["messages"][0]["content"].split("Your output fields")[1]
            else fields(answer="A", confidence="0.5")
        )
    )
    with context(lm=lm):
        assert parent(question="why?") == {"answer": "A"}  # the grouped workflow runs the same
    editor.open_subworkflow(editor.graph.get_node_by_name("group"))
    assert editor.doc.path == sub and editor.graph.get_node_by_name("rewrite") is not None


def test_dropped_dataset_feeds_evaluate_and_results_are_shown(
    window, editor, qasync_loop, qtbot, tmp_path, llm_server, monkeypatch
):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # placeholder key
    llm_server.reset(
        script=lambda r: fields(capital={"France": "Paris", "Italy": "Rome"}.get(input_value(r, "country"), "?"))
    )
    path = write_workflow(
        tmp_path / "cap.workflow.json",
        nodes={"ask": predict_node("country -> capital", {"country": "input.country"})},
        inputs={"country": "str"},
        outputs={"capital": "ask.capital"},
        model={"model": "openai/fake-model", "api_base": llm_server.url},
    )
    data = tmp_path / "caps.jsonl"
    data.write_text('{"country": "France", "capital": "Paris"}\n{"country": "Spain", "capital": "Madrid"}\n')
    editor.open_path(path)
    mime = QMimeData()
    from PySide6.QtCore import QUrl

    mime.setUrls([QUrl.fromLocalFile(str(data))])
    editor.graph._on_node_data_dropped(mime, QPoint(0, 0))
    assert editor.dataset == str(data)

    def start_and_wait(start):
        async def go():
            start()
            job = list(window.studio.jobs.jobs.values())[-1]
            await window.studio.jobs.wait(job)
            return job

        return qasync_loop.run_until_complete(go())

    assert start_and_wait(lambda: editor.evaluate(editor.dataset)).status == RunStatus.SUCCEEDED
    loop_until(qasync_loop, lambda: bool(editor.result_views))
    view = editor.result_views[-1]
    assert "Score 0.500 over 2 of 2 examples" in view.summary.text() and view.table.rowCount() == 2
    assert editor.status.text().startswith("Evaluation finished: score 0.500 over 2 of 2 examples")

    assert start_and_wait(lambda: editor.optimize(str(data), optimizer="labeled")).status == RunStatus.SUCCEEDED
    loop_until(qasync_loop, lambda: len(editor.result_views) == 2)
    diff = editor.result_views[-1]
    assert diff.saved.name == "cap.labeled.workflow.json" and '"demos"' in diff.diff.toPlainText()
    assert editor.status.text().startswith("Optimization finished: saved as cap.labeled.workflow.json")


def test_the_status_line_says_when_an_evaluation_ends(editor, monkeypatch):
    monkeypatch.setattr(editor, "show_result", lambda *args: None)
    run = editor.ctx.folders.run_dir("r1")
    run.mkdir(parents=True)
    (run / "summary.json").write_text(json.dumps({"score": 0.25, "examples": 6, "scored": 4, "errors": 2}))
    editor.status.setText("Evaluating on mixed.jsonl (run r1); progress in Jobs.")
    editor.job_finished("eval", JobOutcome("r1", RunStatus.FAILED, run, error="2 of 6 examples errored"))
    assert editor.status.text() == "Evaluation finished: score 0.250 over 4 of 6 examples (2 errored) (run r1)."
    failed = JobOutcome("r2", RunStatus.FAILED, editor.ctx.folders.run_dir("r2"), error="no such dataset x.csv")
    editor.job_finished("eval", failed)  # failed before any example: no summary
    assert editor.status.text() == "Evaluation failed: no such dataset x.csv (run r2)."


def test_evaluate_form_takes_a_dropped_dataset_and_offers_known_metrics(editor, tmp_path):
    from PySide6.QtCore import QPointF, Qt, QUrl
    from PySide6.QtGui import QDropEvent
    from PySide6.QtWidgets import QComboBox

    from studio_prompts.qt.editor.dialogs import FormDialog, PathEdit

    editor.dataset = str(tmp_path / "first.csv")  # the last one dropped on the canvas comes first
    dialog = FormDialog(editor, "Evaluate workflow", {**editor.evaluation_fields(), "model (optional)": ""})
    metric, path_edit = dialog.edits["metric"], dialog.edits["dataset file"]
    assert isinstance(metric, QComboBox) and isinstance(path_edit, PathEdit)
    assert [metric.itemText(i) for i in range(metric.count())][:3] == ["exact_match", "contains", "f1"]
    assert dialog.values()["dataset file"] == str(tmp_path / "first.csv")
    dropped = tmp_path / "second.jsonl"
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(dropped))])
    line = path_edit.line
    line.dropEvent(
        QDropEvent(
            QPointF(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
        )
    )
    metric.setCurrentText("my_metrics:score")  # any module:function is still allowed
    assert dialog.values() == {"dataset file": str(dropped), "metric": "my_metrics:score", "model (optional)": ""}


def test_evaluate_and_optimize_refuse_bad_forms_with_a_message(editor, tmp_path, monkeypatch):
    editor.open_path(rag_file(tmp_path, url="http://127.0.0.1:9/v1"))
    assert editor.evaluate("  ") is None and "choose a dataset file" in editor.status.text()
    monkeypatch.setattr(
        editor,
        "_ask",
        lambda title, fields: {
            "dataset file": "d.csv",
            "metric": "exact_match",
            "optimizer": "bootstrap",
            "max model calls": "lots",
        },
    )
    editor.optimize_dialog()
    assert "max model calls must be a whole number" in editor.status.text()

    def refuse(kind, params):
        raise JobError("the job queue is full")

    monkeypatch.setattr(editor.ctx, "submit_job", refuse)
    assert editor.evaluate(str(tmp_path / "d.csv")) is None
    assert editor.status.text() == "Evaluation could not start: the job queue is full"
    assert editor.run({"question": "q"}) is None and "the job queue is full" in editor.status.text()


def test_a_workflow_without_a_model_is_refused_before_the_job_saying_where_to_set_one(editor, tmp_path, monkeypatch):
    from studio_prompts.qt.editor.job_actions import API_BASE_FIELD, MODEL_FIELD

    editor.open_path(rag_file(tmp_path))  # no model in the file, none on its nodes
    submitted, forms = [], []
    monkeypatch.setattr(editor.ctx, "submit_job", lambda kind, params: submitted.append((kind, params)) or "run-1")
    ended = JobOutcome("run-1", RunStatus.CANCELLED, tmp_path)  # each ends at once: one job at a time
    monkeypatch.setattr(editor.ctx, "when_finished", lambda run_id, callback: callback(ended))
    answer = {MODEL_FIELD: "", API_BASE_FIELD: ""}
    data = {
        "dataset file": str(tmp_path / "d.jsonl"),
        "metric": "exact_match",
        "optimizer": "labeled",
        "max model calls": "10",
    }
    monkeypatch.setattr(
        editor,
        "_ask",
        lambda title, fields: (
            forms.append(list(fields))
            or ({"question": "why?", **answer} if title == "Run workflow" else {**data, **answer})
        ),
    )
    editor.run_dialog()
    assert submitted == [] and forms[-1] == ["question", MODEL_FIELD, API_BASE_FIELD]
    text = editor.status.text()
    assert text.startswith("Not started: rag.workflow.json: no model set for nodes rewrite, answer")
    assert "Run dialog's model field" in text and "node's model in the inspector" in text
    assert (
        editor.evaluate(str(tmp_path / "d.jsonl")) is None
        and "Evaluate dialog's model field" in editor.status.text()
        and submitted == []
    )

    answer.update({MODEL_FIELD: "ollama_chat/llama3.2", API_BASE_FIELD: " http://127.0.0.1:11434 "})
    editor.run_dialog()
    ((kind, params),) = submitted
    assert kind == "prompts.run" and params["model"] == "ollama_chat/llama3.2"
    assert params["api_base"] == "http://127.0.0.1:11434" and params["inputs"] == {"question": "why?"}

    editor.evaluate_dialog()  # the Evaluate and Optimize forms offer the API base too
    editor.optimize_dialog()
    assert all(MODEL_FIELD in f and API_BASE_FIELD in f for f in forms[-2:])
    assert [p["api_base"] for _k, p in submitted[1:]] == ["http://127.0.0.1:11434"] * 2

    editor.select_node("rewrite")  # a model on every node is enough
    for name in ("rewrite", "answer"):
        editor.select_node(name)
        editor.inspector.model.setText("openai/gpt-4o-mini")
        assert editor.inspector.commit()
    answer.update({MODEL_FIELD: "", API_BASE_FIELD: ""})
    editor.run_dialog()
    assert len(submitted) == 4 and submitted[-1][1]["model"] == ""


def test_a_function_node_shows_the_callable_it_names_on_the_canvas(editor, tmp_path):
    path = code_workflow(tmp_path / "code.workflow.json")
    editor.open_path(path)
    shell = editor.graph.get_node_by_name("shell")
    label = shell.code_label
    assert label.text() == "calls os:system" and label.parentItem() is shell.view and label.isVisible()
    assert label.pos().y() < 0  # above the node, clear of its ports and of the run's output line
    params = shell.params()
    editor.set_params(shell, {**params, "function": "shutil:rmtree"})
    assert shell.code_label.text() == "calls shutil:rmtree"
    editor.graph.undo_stack().undo()
    assert editor.graph.get_node_by_name("shell").code_label.text() == "calls os:system"
    fresh = drop(editor, "prompts.python")
    assert fresh.code_label.text() == "calls (no function set)"
    assert not hasattr(editor.graph.get_node_by_name("inputs"), "code_label")  # only nodes that name code


def test_opening_another_workflow_clears_the_inspector(editor, tmp_path):
    editor.open_path(rag_file(tmp_path))
    editor.select_node("answer")
    inspector = editor.inspector
    assert inspector.instructions.toPlainText() == "Answer briefly." and inspector.fields.rowCount() > 0
    (tmp_path / "other").mkdir()
    editor.open_path(
        write_workflow(
            tmp_path / "other" / "cap.workflow.json",
            nodes={"ask": predict_node("country -> capital", {"country": "input.country"})},
            inputs={"country": "str"},
            outputs={"capital": "ask.capital"},
        )
    )
    assert inspector.node is None and not inspector.apply.isEnabled()
    assert (
        inspector.signature.text(),
        inspector.instructions.toPlainText(),
        inspector.model.text(),
        inspector.params.toPlainText(),
        inspector.fields.rowCount(),
    ) == ("", "", "", "", 0)
    assert inspector.demos.demos() == []


def test_demos_are_edited_in_a_table_typed_by_the_signature_and_undo(editor, tmp_path):
    from PySide6.QtWidgets import QTableWidgetItem

    editor.open_path(rag_file(tmp_path))
    node = editor.graph.get_node_by_name("answer")
    editor.set_params(node, {**node.params(), "demos": [{"question": "q0", "answer": "a0", "reasoning": ["r", 1]}]})
    editor.select_node("answer")
    demos = editor.inspector.demos
    assert demos.isEnabled()
    # a key beyond the signature stays
    assert demos.columns() == ["question", "query", "answer", "confidence", "reasoning"]
    demos.add_row()
    for column, text in enumerate(("why?", "", "because", "0.9")):
        demos.table.setItem(1, column, QTableWidgetItem(text))
    demos.add_row()  # left empty: no demo
    assert editor.inspector.commit() is True
    node = editor.graph.get_node_by_name("answer")
    assert node.params()["demos"] == [
        {"question": "q0", "answer": "a0", "reasoning": ["r", 1]},
        {"question": "why?", "answer": "because", "confidence": 0.9},
    ]
    editor.graph.undo_stack().undo()
    assert editor.graph.get_node_by_name("answer").params()["demos"] == [
        {"question": "q0", "answer": "a0", "reasoning": ["r", 1]}
    ]
    editor.select_node("answer")  # demos edited in the JSON box, not in the table: the JSON's stand
    params = json.loads(editor.inspector.params.toPlainText())
    params["demos"].append({"question": "q1", "answer": "a1"})
    editor.inspector.params.setPlainText(json.dumps(params))
    assert editor.inspector.commit() is True
    assert editor.graph.get_node_by_name("answer").params()["demos"][-1] == {"question": "q1", "answer": "a1"}
    editor.graph.undo_stack().undo()
    editor.select_node("answer")
    editor.inspector.signature.setText("question -> answer, confidence: float")
    editor.inspector._signature_edited()  # the columns follow the signature line; typed demos stay
    assert demos.columns() == ["question", "answer", "confidence", "reasoning"] and len(demos.demos()) == 1
    editor.inspector.show_node(editor.graph.get_node_by_name("inputs"))
    assert not demos.isEnabled() and demos.columns() == []


def test_switch_predictor_kind_keeps_wires_and_undoes(editor, tmp_path):
    editor.open_path(rag_file(tmp_path))
    editor.select_node("answer")
    inspector = editor.inspector
    inspector.kind.setCurrentIndex(inspector.kind.findData("prompts.chain_of_thought"))
    assert inspector.commit() is True
    answer = editor.graph.get_node_by_name("answer")
    assert answer.get_property("workflow_type") == "prompts.chain_of_thought"
    assert list(answer.outputs()) == ["reasoning", "answer", "confidence"]
    spec = editor.doc.to_spec()
    assert spec.nodes["answer"].type == "prompts.chain_of_thought" and spec.outputs == {"answer": "answer.answer"}
    assert spec.nodes["answer"].inputs == {"question": "input.question", "query": "rewrite.query"}
    editor.graph.undo_stack().undo()
    assert editor.graph.get_node_by_name("answer").get_property("workflow_type") == "prompts.predict"


def test_inspector_field_descriptions_and_sampling(editor, tmp_path):
    editor.open_path(rag_file(tmp_path))
    editor.select_node("answer")
    inspector = editor.inspector
    assert inspector.fields.rowCount() == 4  # question, query in; answer, confidence out
    assert [inspector.fields.item(r, 1).text() for r in range(4)] == ["question", "query", "answer", "confidence"]
    inspector.fields.item(3, 3).setText("0 to 1, how sure")
    inspector.temperature.setValue(0.3)
    inspector.max_tokens.setValue(256)
    assert inspector.commit() is True
    params = editor.doc.to_spec().nodes["answer"].params
    assert params["outputs"][1] == {"name": "confidence", "type": "float", "desc": "0 to 1, how sure"}
    assert "signature" not in params and params["config"] == {"temperature": 0.3, "max_tokens": 256}
    assert params["instructions"] == "Answer briefly."
    editor.select_node("rewrite")
    editor.select_node("answer")  # shown again from the list form
    assert inspector.signature.text() == "question, query -> answer, confidence: float"
    assert inspector.fields.item(3, 3).text() == "0 to 1, how sure"
    assert editor.save() and editor.doc.path is not None
    spec = load_workflow(editor.doc.path).spec
    assert spec.nodes["answer"].params["outputs"][1]["desc"] == "0 to 1, how sure"


def test_the_editor_imports_nodegraphqt_without_distutils():
    """NodeGraphQt's one import of distutils is answered by packaging (gone from Python
    3.12's standard library; slow through setuptools on 3.11), and no stand-in is left behind."""
    code = (
        "import sys; import studio_prompts.qt.workflow_panel; from NodeGraphQt.base import menu; "
        "from packaging.version import Version; "
        "assert 'distutils' not in sys.modules and 'distutils.version' not in sys.modules, sorted(sys.modules); "
        "assert menu.LooseVersion is Version"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_a_run_shows_progress_and_cancel_and_run_evaluate_optimize_wait(
    window, editor, qasync_loop, tmp_path, llm_server, monkeypatch
):
    """The editor showed no progress bar and no Cancel while a job ran, and Run / Evaluate /
    Optimize stayed on, so a second click silently queued another job."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    llm_server.reset(script=lambda request: fields(query="q", answer="a", confidence="1"), latency=30)
    editor.open_path(rag_file(tmp_path, llm_server.url))
    actions = [editor.toolbar_actions[key] for key in ("run", "evaluate", "optimize")]
    assert not editor.progress.isVisibleTo(editor) and not editor.cancel_button.isEnabled()
    assert all(a.isEnabled() for a in actions)

    running = asyncio.Event()  # the first model call waits 30 s: Cancel is clicked while it runs
    editor.ctx.subscribe(
        lambda _run_id, events: (
            any(isinstance(e, Status) and e.status == RunStatus.RUNNING for e in events) and running.set()
        )
    )

    async def run_then_cancel():
        run_id = editor.run({"question": "why?"})
        job = window.studio.jobs.jobs[run_id]
        busy = editor.progress.isVisibleTo(editor), editor.cancel_button.isEnabled(), [a.isEnabled() for a in actions]
        editor.run_dialog()  # Ctrl+Return meanwhile: said, no form, no second job
        said = editor.status.text()
        await running.wait()
        editor.cancel_button.click()
        await window.studio.jobs.wait(job)
        return job, busy, said

    job, busy, said = qasync_loop.run_until_complete(asyncio.wait_for(run_then_cancel(), 60))
    assert busy == (True, True, [False, False, False])
    assert "still running" in said and list(window.studio.jobs.jobs) == [job.id]
    loop_until(qasync_loop, lambda: not editor.tracker.busy)
    assert job.status == RunStatus.CANCELLED and editor.status.text().startswith(f"Run {job.id}: cancelled")
    assert not editor.progress.isVisibleTo(editor) and not editor.cancel_button.isEnabled()
    assert all(a.isEnabled() for a in actions)


def test_ctrl_return_applies_in_the_inspector_and_runs_on_the_canvas(window, editor, tmp_path, monkeypatch):
    """The inspector's Apply and the toolbar's Run were both window-wide Ctrl+Return: Qt
    found them ambiguous and neither fired."""
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    editor.open_path(rag_file(tmp_path))
    runs: list[str] = []
    monkeypatch.setattr(editor, "ready", lambda: runs.append("run"))  # the Run form's first step
    window.activateWindow()

    def ctrl_return(widget):
        widget.setFocus()
        QApplication.processEvents()
        focused = QApplication.focusWidget()
        assert focused is not None and (focused is widget or widget.isAncestorOf(focused))
        QTest.keyClick(focused, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)

    editor.select_node("rewrite")
    stack = editor.graph.undo_stack()
    before = stack.index()
    editor.inspector.instructions.setPlainText("Rewrite as a search query.")
    ctrl_return(editor.inspector.instructions)
    assert editor.doc.to_spec().nodes["rewrite"].params["instructions"] == "Rewrite as a search query."
    assert stack.index() == before + 1 and runs == []  # applied, one undoable step; no run
    ctrl_return(editor.graph.viewer())
    assert runs == ["run"]
    ctrl_return(editor.node_palette.tab_widget())
    assert runs == ["run", "run"]


def invalid_file(tmp_path):
    """Node a's input q is bound to an input the workflow does not declare, output x to a
    node that does not exist: ``tensor-studio workflow show`` refuses it."""
    return write_workflow(
        tmp_path / "invalid.workflow.json",
        nodes={"a": predict_node("q -> y", {"q": "input.nope"})},
        inputs={"question": "str"},
        outputs={"x": "zz.y"},
    )


def test_an_invalid_workflow_is_refused_and_never_rewritten(window, editor, tmp_path, monkeypatch):
    """The editor opened it without a word, and Save (even with no edits) wrote the file
    back with a's inputs and the workflow's outputs emptied."""
    from studio_prompts.workflow import WorkflowError

    opened = rag_file(tmp_path)
    editor.open_path(opened)
    bad = invalid_file(tmp_path)
    before = bad.read_bytes()
    messages: list[tuple[str, str]] = []
    monkeypatch.setattr(window, "show_message", lambda text, level="info": messages.append((level, text)))
    cli_says = f"{bad}: node 'a' input 'q': the workflow has no input 'nope'"  # the words of `workflow show`

    assert window.open_path(bad) is False  # as the shell opens a file (File > Open, a drop on the window)
    assert messages[-1][0] == "error" and cli_says in messages[-1][1] and cli_says in editor.status.text()
    editor._open_reporting(bad)  # as the editor's Open… and a drop on the canvas do
    assert messages[-1] == ("error", cli_says) and editor.status.text() == cli_says
    with pytest.raises(WorkflowError, match="the workflow has no input 'nope'"):
        editor.open_path(bad)
    assert editor.doc.path == opened and editor.graph.get_node_by_name("rewrite") is not None  # the open one stays
    assert editor.graph.get_node_by_name("a") is None and not editor.dirty
    assert editor.save() and bad.read_bytes() == before

    bad.write_text(bad.read_text().replace("input.nope", "input.question"))  # the input fixed, the output not
    with pytest.raises(WorkflowError, match="output 'x': there is no node 'zz'"):
        editor.open_path(bad)


def test_a_binding_the_canvas_has_no_port_for_is_refused_and_save_never_writes_less(editor, tmp_path):
    """A predictor bound by an input its signature does not have (the CLI runs it: the
    value is not used): the canvas has no port to draw it on, so saving would drop it."""
    from studio_prompts.workflow import WorkflowError
    from studio_prompts.workflow.schema import read_workflow_file

    path = write_workflow(
        tmp_path / "extra.workflow.json",
        nodes={"a": predict_node("question -> answer", {"question": "input.question", "hint": "input.hint"})},
        inputs={"question": "str", "hint": "str"},
        outputs={"answer": "a.answer"},
    )
    before = path.read_bytes()
    with pytest.raises(WorkflowError, match=r"node 'a' input 'hint': a prompts\.predict node has no input 'hint'"):
        editor.open_path(path)
    assert editor.doc.path is None  # still the untitled workflow

    # drawn anyway (as a reload or a recovery would, without the check): Save refuses
    editor.load_spec(read_workflow_file(path), path)
    assert "could not show node 'a' input 'hint' ← input.hint" in editor.status.text()
    assert editor.save() is False and editor.save_to(tmp_path / "copy.workflow.json") is False
    assert "Not saved" in editor.status.text() and path.read_bytes() == before
    assert not (tmp_path / "copy.workflow.json").exists()
    drop(editor, "prompts.predict")
    assert editor.autosave() is None  # nor an autosave to be recovered as the file
    editor.new()
    assert editor.save_to(tmp_path / "new.workflow.json")  # another workflow saves again
