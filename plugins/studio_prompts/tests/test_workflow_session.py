"""The workflow editor's logic without a widget: the session (unsaved edits, save and
rename, autosave and recovery, a change on disk, dropped files), the editing rules (ports,
names, which wires survive), grouping, the parameters and consent of its jobs, node states
from a run's spans, and the line that says how a job ended. No QApplication, no canvas."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from studio.api import JobOutcome, NodeType, Port, RunStatus, Span, Status
from studio_prompts.signature import SignatureError
from studio_prompts.workflow import WorkflowError, load_workflow, runs
from studio_prompts.workflow.editing import (
    default_params,
    fresh_name,
    identifier_name,
    io_ports,
    kept_wires,
    node_ports,
    ports_for,
)
from studio_prompts.workflow.grouping import plan_group
from studio_prompts.workflow.schema import read_workflow_file
from studio_prompts.workflow.session import UNTITLED, WorkflowSession, untitled_workflow

from .helpers import code_workflow, predict_node, write_workflow

BUILTIN = ("prompts.predict", "prompts.chain_of_thought", "prompts.react", "prompts.python", "prompts.workflow")


class Edits:
    """Stands in for the canvas's undo stack: a number that changes with every edit."""

    def __init__(self) -> None:
        self.index = 0

    def edit(self) -> None:
        self.index += 1

    def undo(self) -> None:
        self.index -= 1


@pytest.fixture
def edits() -> Edits:
    return Edits()


@pytest.fixture
def session(tmp_path, edits) -> WorkflowSession:
    types = {t: NodeType(t, t, "x:y") for t in BUILTIN}
    return WorkflowSession(tmp_path / "ws" / "prompts" / "autosave", types, revision=lambda: edits.index)


def rag_file(tmp_path: Path, name: str = "rag.workflow.json", model=None) -> Path:
    nodes = {
        "rewrite": predict_node("question -> query", {"question": "input.question"}),
        "answer": predict_node("question, query -> answer", {"question": "input.question", "query": "rewrite.query"}),
    }
    return write_workflow(
        tmp_path / name,
        nodes=nodes,
        inputs={"question": "str"},
        outputs={"answer": "answer.answer"},
        name="rag",
        model=model,
    )


def open_file(session: WorkflowSession, path: Path) -> list[tuple[str, str]]:
    """What the editor does to open a file, less the drawing."""
    spec, text = session.read(path)
    session.loading(spec, path)
    session.mark_saved()
    return session.opened(path, spec, text)


# ------------------------------------------------------------------ unsaved edits, saving


def test_dirty_follows_the_edits_since_the_last_save(session, edits, tmp_path):
    assert not session.dirty and session.title() == "untitled" and session.status_text() == "untitled"
    edits.edit()
    assert session.dirty and session.title() == "untitled *" and session.status_text() == "untitled — unsaved changes"
    edits.undo()  # back to the saved revision: nothing unsaved
    assert not session.dirty
    edits.edit()
    session.save(untitled_workflow(), tmp_path / "mine.workflow.json")
    assert not session.dirty and session.title() == "mine.workflow.json"
    edits.edit()
    assert session.dirty


def test_saving_an_untitled_workflow_names_it_after_the_file_and_reads_back_equal(session, tmp_path):
    spec = untitled_workflow()
    session.loading(spec, None)
    assert session.header["name"] == UNTITLED and session.path is None
    target = tmp_path / "capitals.workflow.yaml"
    session.save(spec, target)
    assert session.path == target and session.header["name"] == "capitals" and spec.name == "capitals"
    again, text = session.read(target)
    assert again == spec and not text.lstrip().startswith("{")  # YAML stays YAML
    named = read_workflow_file(rag_file(tmp_path))
    session.loading(named, tmp_path / "rag.workflow.json")
    session.save(named, tmp_path / "other.workflow.json")
    assert session.header["name"] == "rag"  # a named workflow keeps its name under another file name


def test_a_bad_file_raises_and_leaves_the_session_as_it_was(session, tmp_path):
    path = rag_file(tmp_path)
    open_file(session, path)
    bad = tmp_path / "bad.workflow.json"
    bad.write_text("{ nope")
    with pytest.raises(WorkflowError, match="not valid JSON"):
        session.read(bad)
    assert session.path == path and session.header["name"] == "rag"


@pytest.mark.parametrize(
    ("nodes", "outputs", "message"),
    [
        (
            {"a": predict_node("q -> y", {"q": "input.nope"})},
            {},
            "node 'a' input 'q': the workflow has no input 'nope'",
        ),
        ({"a": predict_node("question -> y", {"question": "input.question"})}, {"x": "zz.y"}, "there is no node 'zz'"),
        ({"a": predict_node("question -> y", {"question": "input.question"})}, {"x": "a.z"}, "node 'a' has no output"),
        ({"a": predict_node("question -> y", {"question": "input.question"})}, {"x": "a"}, "is not 'input.<name>'"),
        (
            {"a": predict_node("question -> y", {"question": "input.question", "hint": "input.question"})},
            {},
            "node 'a' input 'hint': a prompts.predict node has no input 'hint' (it has question)",
        ),
        ({"inputs": predict_node("question -> y", {"question": "input.question"})}, {}, "keeps that name"),
    ],
)
def test_a_file_the_editor_cannot_show_whole_is_refused_as_the_cli_refuses_it(
    session, tmp_path, nodes, outputs, message
):
    """Bindings to what does not exist (the CLI's own check, in its words) or to a port the
    canvas would not draw: opening them would have lost them at the first Save."""
    path = rag_file(tmp_path)
    open_file(session, path)
    bad = write_workflow(tmp_path / "bad.workflow.json", nodes=nodes, inputs={"question": "str"}, outputs=outputs)
    with pytest.raises(WorkflowError, match=re.escape(message)) as info:
        session.read(bad)
    assert str(info.value).startswith(f"{bad}: ")
    assert session.path == path and session.header["name"] == "rag"


def test_an_unfinished_workflow_the_editor_saved_opens_again(session, tmp_path):
    """The CLI refuses to run these (an input not connected, no function named, no file for
    the sub-workflow yet, a signature being written), but they are drafts the editor saves:
    they open, and so do nodes of a missing plugin with whatever they are bound by."""
    path = write_workflow(
        tmp_path / "draft.workflow.json",
        nodes={
            "a": predict_node("question, context -> answer", {"question": "input.question"}),
            "f": {"type": "prompts.python", "inputs": {"x": "a.answer"}, "params": {"function": "", "outputs": []}},
            "sub": {"type": "prompts.workflow", "inputs": {"q": "input.question"}, "params": {"path": ""}},
            "b": predict_node("question -> -> broken", {"question": "input.question"}),
            "search": {"type": "someplugin.search", "inputs": {"q": "input.question"}, "params": {}},
        },
        inputs={"question": "str"},
        outputs={"s": "sub.answer", "b": "b.broken", "r": "search.passages", "f": "f.result"},
    )
    with pytest.raises(WorkflowError):
        load_workflow(path)
    spec, _text = session.read(path)
    assert set(spec.nodes) == {"a", "f", "sub", "b", "search"}


def test_save_refuses_while_the_canvas_lacks_part_of_the_file(session, tmp_path):
    from studio_prompts.workflow.session import lost_parts

    path = rag_file(tmp_path)
    open_file(session, path)
    loaded = read_workflow_file(path)
    assert session.drawn(loaded, loaded.model_copy(deep=True)) == []
    drawn = loaded.model_copy(deep=True)
    drawn.nodes["answer"].inputs.pop("query")
    drawn.outputs = {}
    drawn.nodes["rewrite"].params["instructions"] = "changed"
    assert lost_parts(loaded, drawn) == [
        "node 'rewrite''s parameters",
        "node 'answer' input 'query' ← rewrite.query",
        "output 'answer' ← answer.answer",
    ]
    before = path.read_bytes()
    assert session.drawn(loaded, drawn)
    with pytest.raises(WorkflowError, match=r"Not saved: the editor could not show node 'rewrite''s parameters; "):
        session.save(drawn, path)
    assert path.read_bytes() == before
    session.loading(loaded, path)  # another file drawn: saving works again
    session.save(loaded, path)


def test_missing_plugins_are_named_when_a_file_opens(session, tmp_path):
    path = write_workflow(
        tmp_path / "m.workflow.json",
        nodes={
            "search": {"type": "someplugin.search", "inputs": {"q": "input.question"}, "params": {}},
            "answer": predict_node("question -> answer", {"question": "input.question"}),
        },
        inputs={"question": "str"},
        outputs={"answer": "answer.answer"},
    )
    ((message, level),) = open_file(session, path)
    assert level == "warning" and "nodes search (someplugin.search): not available (plugin missing or" in message
    assert session.missing_types(session.read(path)[0]) == ["search"]


# ------------------------------------------------------------------ autosave and recovery


def test_autosave_writes_unsaved_edits_apart_and_only_when_there_are_some(session, edits, tmp_path):
    path = rag_file(tmp_path)
    original = path.read_text()
    open_file(session, path)
    built = []
    assert session.autosave(lambda: built.append(1) or session.read(path)[0]) is None and built == []
    edits.edit()
    spec = session.read(path)[0]
    spec.nodes["rewrite"].params["instructions"] = "edited"
    auto = session.autosave(lambda: spec)
    assert auto == tmp_path / "ws" / "prompts" / "autosave" / "rag.workflow.json"
    assert read_workflow_file(auto).nodes["rewrite"].params["instructions"] == "edited"
    assert path.read_text() == original  # never over the user's file
    session.save(spec, path)
    assert not auto.exists()  # saved: nothing left to recover


def test_a_newer_different_autosave_is_offered_for_recovery(session, edits, tmp_path):
    path = rag_file(tmp_path)
    open_file(session, path)
    edits.edit()
    spec = session.read(path)[0]
    spec.nodes["answer"].params["instructions"] = "unsaved"
    auto = session.autosave(lambda: spec)
    assert auto is not None
    os.utime(auto, (time.time() + 10, time.time() + 10))  # as after a crash: newer than the file
    edits.undo()
    messages = open_file(session, path)
    assert session.recovery == auto and "recovered" in messages[-1][0] and messages[-1][1] == "warning"
    recovered = session.recovered_spec()
    assert recovered is not None and recovered.nodes["answer"].params["instructions"] == "unsaved"
    session.recovered()
    assert session.recovery is None and session.dirty  # recovered edits are unsaved until saved
    assert session.recovered_spec() is None

    session.recovery = None
    os.utime(auto, (time.time() - 100, time.time() - 100))  # older than the file: not offered
    assert open_file(session, path) == [] and session.recovery is None
    auto.write_text(path.read_text())
    os.utime(auto, (time.time() + 10, time.time() + 10))  # newer, but the same text: nothing to recover
    assert open_file(session, path) == [] and session.recovery is None


# ------------------------------------------------------------------ a change on disk, dropped files


def test_a_change_on_disk_reloads_keeps_edits_or_keeps_the_editors_version(session, edits, tmp_path):
    path = rag_file(tmp_path)
    open_file(session, path)
    assert session.disk_change(tmp_path / "other.workflow.json").message == ""  # not the open file
    data = json.loads(path.read_text())
    data["nodes"]["rewrite"]["params"]["instructions"] = "changed elsewhere"
    path.write_text(json.dumps(data))
    change = session.disk_change(path)
    assert change.reload is not None and change.rewatch and change.level == "info"
    assert change.reload.nodes["rewrite"].params["instructions"] == "changed elsewhere"
    edits.edit()
    kept = session.disk_change(path)
    assert kept.reload is None and not kept.rewatch and kept.level == "warning" and "edits are kept" in kept.message
    edits.undo()
    path.write_text("{ half written")
    broken = session.disk_change(path)
    assert broken.reload is None and broken.rewatch and "cannot be read now" in broken.message
    path.unlink()
    assert session.disk_change(path).message == ""  # gone (being replaced): wait for the new file


def test_dropped_files_open_a_workflow_or_choose_the_dataset(session, tmp_path):
    data = tmp_path / "caps.jsonl"
    assert session.dropped([data]) == ("dataset", data) and session.dataset == str(data)
    workflow = tmp_path / "x.workflow.yaml"
    assert session.dropped([workflow, data]) == ("workflow", workflow)
    assert session.dropped([tmp_path / "notes.txt"]) == ("", None) and session.dataset == str(data)
    assert session.dropped([tmp_path]) == ("dataset", tmp_path)  # a saved dataset folder


# ------------------------------------------------------------------ ports, names, wires


def test_ports_follow_the_signature_and_the_node_kind():
    params = {"signature": "question, context: list[str] -> answer, confidence: float"}
    inputs, outputs = ports_for("prompts.predict", params)
    assert inputs == [("question", "str"), ("context", "list[str]")]
    assert outputs == [("answer", "str"), ("confidence", "float")]
    assert ports_for("prompts.chain_of_thought", params)[1][0] == ("reasoning", "str")
    assert ports_for("prompts.react", params)[1][-1] == ("trajectory", "list[str]")
    assert ports_for("prompts.predict", {"signature": "-> ->"}, bound=["q"]) == ([("q", "any")], [("error", "any")])
    assert ports_for("prompts.python", {"outputs": ["a", "b"]}, bound=["x"]) == (
        [("x", "any")],
        [("a", "any"), ("b", "any")],
    )
    plugin = NodeType("rag.search", "Search", "x:y", inputs=(Port("query", "str"),), outputs=(Port("hits", "list"),))
    assert ports_for("rag.search", {}, plugin) == ([("query", "str")], [("hits", "list")])


def test_a_sub_workflow_node_has_the_ports_of_the_file_it_names(session, tmp_path):
    sub = rag_file(tmp_path, "sub.workflow.json")
    assert node_ports("prompts.workflow", {"path": sub.name}, [], base=tmp_path) == (
        [("question", "str")],
        [("answer", "any")],
    )
    assert node_ports("prompts.workflow", {"path": "gone.workflow.json"}, ["q"], base=tmp_path) == ([("q", "any")], [])
    session.loading(untitled_workflow(), tmp_path / "parent.workflow.json")  # relative to the open file
    assert session.ports_of("prompts.workflow", {"path": sub.name}, [])[0] == [("question", "str")]
    assert session.subworkflow_path({"path": sub.name}) == sub


def test_only_wires_whose_ports_still_exist_are_made_again():
    others = {"inputs": ([], ["question", "topic"]), "report": (["answer", "confidence"], [])}
    wires_in = {"question": [("inputs", "question")], "topic": [("inputs", "topic")]}
    wires_out = {"answer": [("report", "answer")], "confidence": [("report", "confidence")]}
    kept = kept_wires("answer", wires_in, wires_out, [("question", "str")], [("answer", "str")], others.get)
    assert kept == [("inputs", "question", "answer", "question"), ("answer", "answer", "report", "answer")]
    gone = kept_wires("answer", wires_in, wires_out, [("question", "str")], [("answer", "str")], lambda name: None)
    assert gone == []  # the other ends were deleted


def test_names_defaults_and_io_fields():
    assert fresh_name("prompts.predict", {"inputs", "predict", "predict_2"}) == "predict_3"
    assert fresh_name("rag.search", set()) == "search"
    assert identifier_name("predict 1") == "predict_1" and identifier_name("ok") == "ok"
    assert identifier_name("--") == "node"
    assert default_params("prompts.python", "{}") == {"function": "", "outputs": ["result"]}
    assert default_params("prompts.python", '{"function": "m:f"}') is None
    assert io_ports("question, context: list[str]") == [("question", "str"), ("context", "list[str]")]
    assert io_ports("  ") == []
    with pytest.raises(SignatureError):
        io_ports("a -> b")


def test_grouping_plans_the_node_its_place_and_its_wires(tmp_path):
    path = rag_file(tmp_path)
    spec = read_workflow_file(path)
    spec.layout = {"rewrite": [0.0, 0.0], "answer": [200.0, 100.0]}
    plan = plan_group(spec, path, ["rewrite", "answer"])
    assert plan.node_id == "group" and plan.node.type == "prompts.workflow" and plan.pos == [100.0, 50.0]
    assert plan.sub_path == tmp_path / "rag.group.workflow.json" and plan.sub_path.exists()
    assert plan.node.params == {"path": "rag.group.workflow.json"}
    assert plan.wires == [("input.question", "group", "input_question"), ("group.answer_answer", "outputs", "answer")]
    assert set(plan.spec.nodes) == {"group"} and read_workflow_file(plan.sub_path).nodes.keys() == {"rewrite", "answer"}
    one = plan_group(read_workflow_file(path), path, ["rewrite"])
    assert one.node_id == "group" and one.pos is None  # no layout: the editor puts it where the first node was
    assert ("group.rewrite_query", "answer", "query") in one.wires
    with pytest.raises(WorkflowError, match="no node 'nope'"):
        plan_group(read_workflow_file(path), path, ["nope"])


# ------------------------------------------------------------------ node states from a run's spans


def node_span(name: str, **fields) -> Span:
    return Span(
        "node",
        name,
        record={"kind": "node", "name": name, **fields},
        **{k: v for k, v in fields.items() if k in ("status", "error", "duration", "outputs")},
    )


def test_node_states_from_spans():
    running = runs.node_state(node_span("rewrite", status="running"), "prompts.predict")
    assert (running.state, running.preview) == ("running", "")  # announced: no output yet
    done = runs.node_state(node_span("rewrite", duration=0.5, outputs={"query": "q"}, total_calls=1), "prompts.predict")
    assert (done.state, done.preview) == ("ok", '{"query": "q"}')
    cached = node_span("rewrite", duration=0.01, outputs={"query": "q"}, total_calls=0)
    assert runs.node_state(cached, "prompts.predict").state == "cached"
    assert runs.node_state(cached, "prompts.python").state == "ok"  # code makes no model calls: not the cache
    failed = runs.node_state(node_span("answer", status="error", error="no reply", duration=1.0), "prompts.predict")
    assert (failed.state, failed.preview, failed.error) == ("error", "no reply", "no reply")
    long = runs.node_state(node_span("x", duration=1.0, outputs={"a": "y" * 1000}), "prompts.python")
    assert len(long.preview) == runs.PREVIEW_CHARS


def test_the_session_follows_only_the_node_spans_of_its_run(session):
    queued = session.start_run("r1", ["rewrite", "answer"])
    assert [(s.name, s.state) for s in queued] == [("rewrite", "queued"), ("answer", "queued")]
    types = {"rewrite": "prompts.predict", "answer": "prompts.predict"}
    events = [
        node_span("rewrite", duration=0.1, outputs={"query": "q"}, total_calls=1),
        Span("llm", "openai/x", duration=0.1),
        Status(RunStatus.RUNNING),
        node_span("gone", duration=0.1),
        node_span("answer", status="error", error="bad", duration=0.2),
    ]
    assert session.run_events("r0", events, types.get) == []  # another run
    changed = session.run_events("r1", events, types.get)
    assert [(s.name, s.state) for s in changed] == [("rewrite", "ok"), ("answer", "error")]
    assert session.node_states["answer"].error == "bad" and session.node_states["rewrite"].preview == '{"query": "q"}'


# ------------------------------------------------------------------ job parameters and consent


def test_job_parameters_from_the_forms(tmp_path):
    path = tmp_path / "w.workflow.json"
    assert runs.run_params(path, {"q": 1}, "m", " http://h ", "t") == {
        "workflow": str(path),
        "inputs": {"q": 1},
        "model": "m",
        "api_base": "http://h",
        "trusted": "t",
    }
    assert runs.eval_params(path, "d.csv", "f1", "", "", "runs/r1", "t") == {
        "workflow": str(path),
        "data": "d.csv",
        "metric": "f1",
        "model": "",
        "api_base": "",
        "resume": "runs/r1",
        "trusted": "t",
    }
    assert runs.optimize_params(path, "d.csv", "f1", "labeled", None, "m", "", "t")["max_calls"] is None
    assert runs.form_inputs({"q": "why?", "ctx": '["a", "b"]', "bad": "[not json", "obj": ' {"k": 1}'}) == {
        "q": "why?",
        "ctx": ["a", "b"],
        "bad": "[not json",
        "obj": {"k": 1},
    }
    assert runs.max_calls("") is None and runs.max_calls("0") is None and runs.max_calls("20") == 20
    with pytest.raises(ValueError, match="must be a whole number, not 'lots'"):
        runs.max_calls("lots")
    assert runs.dataset_problem(" ", "evaluate") == (
        "Not started: choose a dataset file (CSV, JSON, JSONL, Parquet) to evaluate on."
    )
    assert runs.dataset_problem("d.csv", "evaluate") is None
    assert runs.missing_problem({}) is None
    assert runs.missing_problem({"a": "x.t", "b": "x.t"}) == (
        "Cannot run: nodes a (x.t), b (x.t): not available (plugin missing or disabled)."
    )


def test_nodes_no_plugin_provides_say_whether_their_plugin_is_disabled(monkeypatch):
    """They said "need a plugin that is not installed" when the plugin was only disabled."""
    import studio_prompts.workflow.graph as graph

    monkeypatch.setattr(graph, "contributions", lambda _hook: [])  # rag is installed, but contributes nothing
    assert runs.missing_problem({"r": "rag.retrieve", "s": "nosuchplugin.find"}) == (
        "Cannot run: nodes r (rag.retrieve): plugin rag is disabled or did not load (enable it in Plugins); "
        "s (nosuchplugin.find): not available (plugin missing or disabled)."
    )
    monkeypatch.setattr(graph, "contributions", lambda _hook: [NodeType("rag.retrieve", "Retrieve", "x:y")])
    assert runs.missing_problem({"r": "rag.nothing"}) == (
        "Cannot run: nodes r (rag.nothing): plugin rag has no such node type (another version of it?)."
    )


def test_a_workflow_without_a_model_is_refused_saying_where_to_set_one(tmp_path):
    path = rag_file(tmp_path)
    problem = runs.model_problem(path, "", "Run")
    assert problem is not None and problem.startswith(
        "Not started: rag.workflow.json: no model set for nodes rewrite, answer"
    )
    assert "Run dialog's model field" in problem
    assert runs.model_problem(path, "ollama_chat/llama3.2", "Run") is None  # the form's model reaches every node
    assert runs.model_problem(rag_file(tmp_path, "m.workflow.json", model="openai/x"), "", "Run") is None


def test_consent_is_asked_for_named_code_and_remembered_per_content(tmp_path):
    path = code_workflow(tmp_path / "code.workflow.json")
    consent = runs.consent_for(path)
    assert [r.ref for r in consent.code] == ["os:system"] and consent.asked({})
    assert "os:system" in runs.refusal_text(path, consent.code)
    settings = runs.remember({"other": 1}, consent.digest, path, consent.code)
    assert settings["other"] == 1 and not consent.asked(settings)
    assert settings[runs.SETTINGS_KEY][consent.digest]["code"] == ["os:system"]
    path.write_text(path.read_text().replace('"description": ""', '"description": "changed"'))
    assert runs.consent_for(path).asked(settings)  # another content: asked again
    plain = runs.consent_for(rag_file(tmp_path))
    assert plain.code == [] and not plain.asked({})
    assert runs.consent_for(rag_file(tmp_path), "my_metrics:score").fingerprint != plain.fingerprint
    with pytest.raises(WorkflowError):
        runs.consent_for(tmp_path / "missing.workflow.json")


# ------------------------------------------------------------------ how a job ended


def test_the_line_that_says_how_a_job_ended(tmp_path):
    run = tmp_path / "r1"
    run.mkdir()
    (run / "summary.json").write_text(json.dumps({"score": 0.25, "examples": 6, "scored": 4, "errors": 2}))
    failed = JobOutcome("r1", RunStatus.FAILED, run, error="2 of 6 examples errored")
    assert (
        runs.finished_text("eval", failed)
        == "Evaluation finished: score 0.250 over 4 of 6 examples (2 errored) (run r1)."
    )  # errors do not hide the score
    (run / "summary.json").write_text(json.dumps({"score": None, "examples": 2, "scored": 0}))
    assert runs.finished_text("eval", failed) == "Evaluation finished: no example was scored (run r1)."
    nothing = JobOutcome("r2", RunStatus.FAILED, tmp_path / "r2", error="no such dataset x.csv")
    assert runs.finished_text("eval", nothing) == "Evaluation failed: no such dataset x.csv (run r2)."
    assert (
        runs.finished_text("optimize", JobOutcome("r2", RunStatus.CANCELLED, tmp_path / "r2"))
        == "Optimization cancelled (run r2)."
    )
    (run / "report.json").write_text(json.dumps({"saved": str(tmp_path / "cap.labeled.workflow.json")}))
    assert (
        runs.finished_text("optimize", JobOutcome("r1", RunStatus.SUCCEEDED, run))
        == "Optimization finished: saved as cap.labeled.workflow.json (run r1)."
    )
    assert (
        runs.run_finished_text(JobOutcome("r3", RunStatus.FAILED, run, error="node 'answer': no reply"))
        == f"Run r3: {RunStatus.FAILED} — node 'answer': no reply"
    )
    assert runs.run_finished_text(JobOutcome("r3", RunStatus.SUCCEEDED, run)) == f"Run r3: {RunStatus.SUCCEEDED}"


def test_the_editors_logic_imports_no_qt():
    code = (
        "import sys; import studio_prompts.workflow.session, studio_prompts.workflow.runs, "
        "studio_prompts.workflow.editing, studio_prompts.workflow.grouping; "
        "assert not {'PySide6', 'NodeGraphQt', 'shiboken6'} & set(sys.modules), sorted(sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


# ------------------------------------------------------------------ sample workflows


def test_samples_are_copied_once_into_a_workspace_never_over_a_users_file(tmp_path):
    from studio.api import Folders
    from studio_prompts.samples import SAMPLE, copy_samples, sample_files, sample_path

    source = tmp_path / "samples"
    source.mkdir()
    for name in (SAMPLE, "rag.workflow.json"):
        (source / name).write_text(f'{{"sample": "{name}"}}')
    folders = Folders(tmp_path / "ws")
    folders.workflows.mkdir(parents=True)
    mine = folders.workflows / "rag.workflow.json"
    mine.write_text("the user's own")
    copied = copy_samples(folders, "prompts", source)
    assert copied == [folders.workflows / SAMPLE] and mine.read_text() == "the user's own"
    (folders.workflows / SAMPLE).unlink()  # the user deletes the sample: it stays deleted
    assert copy_samples(folders, "prompts", source) == [] and not (folders.workflows / SAMPLE).exists()
    assert sample_path(folders, source).path == folders.workflows / SAMPLE  # asked for: copied again
    assert (folders.workflows / SAMPLE).read_text() == f'{{"sample": "{SAMPLE}"}}'
    assert {p.name for p in sample_files()} >= {SAMPLE, "rag.workflow.json"}  # the studio's own samples
