"""Code a workflow file names is never imported by loading, showing, editing or exporting
it, and runs only with consent: the Python API, the prompts.* jobs (``trusted``
fingerprint, bound to the content) and the editor's dialog (remembered across restarts).

Every test names code in a module of its own whose import writes a marker file, so "was
it imported?" is a file on disk, not a guess."""

from __future__ import annotations

import json
import sys
import uuid
from types import SimpleNamespace

import pytest

from studio.api import RunStatus
from studio_prompts import LM
from studio_prompts.workflow import NodeError, WorkflowError, load_workflow
from studio_prompts.workflow.export import export_python
from studio_prompts.workflow.trust import UntrustedCode, callables, content_digest, fingerprint

from .helpers import predict_node, write_workflow


@pytest.fixture
def sidefx(tmp_path, monkeypatch):
    """A module on sys.path whose top-level code writes ``marker`` when it is imported."""
    name = f"sidefx_{uuid.uuid4().hex[:10]}"
    marker = tmp_path / "imported.marker"
    folder = tmp_path / "modules"
    folder.mkdir()
    (folder / f"{name}.py").write_text(f'''
import pathlib
pathlib.Path({str(marker)!r}).write_text("imported at top level")


def shout(text):
    """Upper-case the text."""
    return text.upper()


def score(example, prediction):
    return float(prediction["out"] == example.out)
''')
    monkeypatch.syspath_prepend(str(folder))
    yield SimpleNamespace(name=name, marker=marker)
    sys.modules.pop(name, None)


def python_node(ref: str, inputs: dict) -> dict:
    return {"type": "prompts.python", "inputs": inputs, "params": {"function": ref}}


def runnable(tmp_path, mod: str):
    """A function node feeding a sub-workflow that names the same module: no model needed."""
    write_workflow(
        tmp_path / "sub.workflow.json",
        nodes={"inner": python_node(f"{mod}:shout", {"text": "input.text"})},
        inputs={"text": "str"},
        outputs={"loud": "inner.result"},
        name="sub",
    )
    nodes = {
        "f": python_node(f"{mod}:shout", {"text": "input.question"}),
        "sub": {"type": "prompts.workflow", "inputs": {"text": "f.result"}, "params": {"path": "sub.workflow.json"}},
    }
    return write_workflow(
        tmp_path / "code.workflow.json",
        nodes=nodes,
        inputs={"question": "str"},
        outputs={"out": "sub.loud"},
        name="code",
    )


def with_agent(tmp_path, mod: str):
    path = runnable(tmp_path, mod)
    data = json.loads(path.read_text())
    data["nodes"]["agent"] = predict_node(
        f"question -> answer: {mod}.Answer",
        {"question": "input.question"},
        kind="prompts.react",
        tools=[f"{mod}:shout", "os:system"],
    )
    path.write_text(json.dumps(data))
    return path


def test_load_show_export_never_import_and_an_untrusted_run_is_refused(tmp_path, sidefx, capsys):
    from studio_prompts.cli import _show
    from studio_prompts.jobs import export

    path = with_agent(tmp_path, sidefx.name)
    workflow = load_workflow(path)
    listed = [(r.ref, r.role, r.where) for r in callables(workflow)]
    assert listed == [
        (f"{sidefx.name}:shout", "function of node 'f'", "code.workflow.json"),
        (f"{sidefx.name}:shout", "function of node 'inner'", "sub.workflow.json"),
        (f"{sidefx.name}.Answer", "type of field 'answer' of node 'agent'", "code.workflow.json"),
        (f"{sidefx.name}:shout", "tool of ReAct node 'agent'", "code.workflow.json"),
        ("os:system", "tool of ReAct node 'agent'", "code.workflow.json"),
    ]
    assert _show(str(path)) == 0
    shown = capsys.readouterr().out
    assert "os:system" in shown and "tool of ReAct node 'agent'" in shown and "sub.workflow.json" in shown
    assert f"calls {sidefx.name}:shout" in shown and fingerprint(workflow) in shown
    script = export_python(workflow, "code.py")
    assert f"from {sidefx.name} import shout as tool_agent_shout" in script  # written as text only
    assert f"from {sidefx.name} import shout as fn_f_shout" in script
    assert export(str(path)).exists()
    with pytest.raises(UntrustedCode, match="os:system") as refused:
        workflow(question="hi")
    assert refused.value.fingerprint == content_digest(workflow)
    assert not sidefx.marker.exists() and sidefx.name not in sys.modules


def test_a_trusted_workflow_imports_its_code_and_runs(tmp_path, sidefx):
    workflow = load_workflow(runnable(tmp_path, sidefx.name))
    assert not sidefx.marker.exists()
    assert workflow.trust()(question="hi") == {"out": "HI"}
    assert sidefx.marker.exists()


def test_the_studios_own_metrics_need_no_consent(tmp_path):
    path = write_workflow(
        tmp_path / "m.workflow.json",
        nodes={"f": python_node("studio_prompts.evaluate:contains", {"example": "input.a", "prediction": "input.b"})},
        inputs={"a": "str", "b": "str"},
        outputs={"r": "f.result"},
    )
    workflow = load_workflow(path)
    assert callables(workflow) and workflow.untrusted_code() == []
    with pytest.raises(NodeError, match="node 'f'"):
        workflow(a="x", b="y")  # it runs (and fails on plain strings): no consent was asked


def test_bad_code_references_are_load_errors_and_nothing_is_imported(tmp_path):
    for bad in ("os.system", "os:system; import evil", "", ":x"):
        path = write_workflow(
            tmp_path / "bad.workflow.json",
            nodes={"f": python_node(bad, {"t": "input.q"})},
            inputs={"q": "str"},
            outputs={},
        )
        with pytest.raises(WorkflowError, match="not a 'module:function' reference"):
            load_workflow(path)


def test_jobs_refuse_untrusted_code_unless_the_fingerprint_matches(tmp_path, sidefx, make_studio, run_job):
    import studio_prompts.hooks as hooks

    studio = make_studio(hooks)
    path = runnable(tmp_path, sidefx.name)
    params = {"workflow": str(path), "inputs": {"question": "hi"}}
    refused = run_job(studio, "prompts.run", params)
    assert refused.status == RunStatus.FAILED
    assert f"{sidefx.name}:shout" in refused.error and "trusted=" in refused.error
    assert not sidefx.marker.exists()
    digest = fingerprint(load_workflow(path))
    # the sub-workflow changes after it was reviewed: the old consent no longer holds
    sub = tmp_path / "sub.workflow.json"
    reviewed = sub.read_text()
    sub.write_text(reviewed.replace('"name": "sub"', '"name": "sub2"'))
    stale = run_job(studio, "prompts.run", {**params, "trusted": digest})
    assert stale.status == RunStatus.FAILED and "changed since it was trusted" in stale.error
    assert not sidefx.marker.exists()
    sub.write_text(reviewed)
    ok = run_job(studio, "prompts.run", {**params, "trusted": digest})
    assert ok.status == RunStatus.SUCCEEDED, ok.error
    assert ok.result == {"out": "HI"} and sidefx.marker.exists()


def test_a_module_function_metric_in_job_params_needs_the_fingerprint_too(tmp_path, sidefx, make_studio, run_job):
    import studio_prompts.hooks as hooks

    studio = make_studio(hooks)
    path = write_workflow(
        tmp_path / "echo.workflow.json", nodes={}, inputs={"question": "str"}, outputs={"out": "input.question"}
    )
    data = tmp_path / "d.jsonl"
    data.write_text('{"question": "a", "out": "a"}\n')
    metric = f"{sidefx.name}:score"
    params = {"workflow": str(path), "data": str(data), "metric": metric}
    assert run_job(studio, "prompts.eval", {**params, "metric": "exact_match"}).status == RunStatus.SUCCEEDED
    refused = run_job(studio, "prompts.eval", params)
    assert refused.status == RunStatus.FAILED and f"{metric} (metric)" in refused.error and not sidefx.marker.exists()
    wrong = run_job(studio, "prompts.eval", {**params, "trusted": fingerprint(load_workflow(path))})
    # the workflow's digest does not cover the metric
    assert wrong.status == RunStatus.FAILED and not sidefx.marker.exists()
    ok = run_job(studio, "prompts.eval", {**params, "trusted": fingerprint(load_workflow(path), metric)})
    assert ok.status == RunStatus.SUCCEEDED, ok.error
    assert ok.result["score"] == 1.0 and sidefx.marker.exists()


# ----------------------------------------------------------------------------- the editor


@pytest.mark.gui
def test_the_editor_asks_before_running_code_and_remembers_the_answer(
    make_window, make_studio, tmp_path, sidefx, qasync_loop
):
    import studio_prompts.hooks as prompts_hooks
    from studio_prompts.qt.editor.consent import SETTINGS_KEY

    window = make_window(("prompts", prompts_hooks))
    editor = window.show_panel("prompts:editor")
    editor.open_path(with_agent(tmp_path, sidefx.name))
    editor.select_node("agent")  # its ports and the inspector read the signature, which names a class
    assert editor.inspector.signature.text() == f"question -> answer: {sidefx.name}.Answer"
    assert not sidefx.marker.exists()  # opening, drawing and inspecting it imported nothing
    path = runnable(tmp_path, sidefx.name)
    editor.open_path(path)
    asked = []
    answer = False
    editor.ask_trust = lambda p, code: asked.append([r.ref for r in code]) or answer
    jobs_before = len(window.studio.jobs.jobs)
    assert editor.run({"question": "hi"}) is None and len(window.studio.jobs.jobs) == jobs_before
    assert asked == [[f"{sidefx.name}:shout"] * 2] and "Not run" in editor.status.text()
    assert editor.evaluate(str(tmp_path / "d.jsonl")) is None and len(asked) == 2  # Evaluate asks too
    assert not sidefx.marker.exists()

    answer = True

    async def run_and_wait():
        run_id = editor.run({"question": "hi"})
        job = window.studio.jobs.jobs[run_id]
        await window.studio.jobs.wait(job)
        return job

    job = qasync_loop.run_until_complete(run_and_wait())
    assert job.status == RunStatus.SUCCEEDED, job.error
    assert job.result == {"out": "HI"} and sidefx.marker.exists() and len(asked) == 3
    again = qasync_loop.run_until_complete(run_and_wait())
    assert again.status == RunStatus.SUCCEEDED and len(asked) == 3  # remembered
    digest = content_digest(load_workflow(path))
    # kept in the plugin's settings on disk: a restarted studio remembers it
    assert digest in make_studio().settings.plugin_settings["prompts"][SETTINGS_KEY]
    # a changed file is asked about again
    data = json.loads(path.read_text())
    data["description"] = "changed"
    path.write_text(json.dumps(data))
    answer = False
    assert editor.run({"question": "hi"}) is None and len(asked) == 4


def test_the_editor_asks_for_consent_before_showing_a_form(make_window, tmp_path, sidefx, monkeypatch):
    import studio_prompts.hooks as prompts_hooks

    window = make_window(("prompts", prompts_hooks))
    editor = window.show_panel("prompts:editor")
    editor.open_path(runnable(tmp_path, sidefx.name))
    steps, answer = [], {"trust": False}
    editor.ask_trust = lambda p, code: steps.append("consent") or answer["trust"]
    monkeypatch.setattr(editor, "_ask", lambda title, fields: steps.append(title) or None)  # the form, cancelled
    for dialog in (editor.run_dialog, editor.evaluate_dialog, editor.optimize_dialog):
        steps.clear()
        dialog()
        assert steps == ["consent"] and "Not run" in editor.status.text()  # refused: no form at all
    answer["trust"] = True
    steps.clear()
    editor.run_dialog()
    assert steps == ["consent", "Run workflow"]  # asked first, then the form
    steps.clear()
    editor.evaluate_dialog()
    editor.optimize_dialog()
    assert steps == ["Evaluate workflow", "Optimize workflow"]  # remembered for this content
    assert not sidefx.marker.exists()


@pytest.mark.gui
def test_the_trust_dialog_names_each_callable_and_defaults_to_cancel(make_window, tmp_path):
    from PySide6.QtCore import QTimer

    import studio_prompts.hooks as prompts_hooks
    from studio_prompts.qt.editor.consent import TrustDialog
    from studio_prompts.workflow.trust import CodeRef

    window = make_window(("prompts", prompts_hooks))
    code = [
        CodeRef("os:system", "function of node 'f'", "x.workflow.json"),
        CodeRef("tools:search", "tool of ReAct node 'agent'", "sub.workflow.json"),
    ]
    dialog = TrustDialog(window, tmp_path / "x.workflow.json", code)
    text = dialog.text() + dialog.informativeText()
    assert "x.workflow.json" in text and "os:system — function of node 'f'" in text
    assert "tools:search — tool of ReAct node 'agent' in sub.workflow.json" in text
    assert dialog.defaultButton() is dialog.cancel_button and dialog.run_button.text() == "Run"
    QTimer.singleShot(0, dialog.run_button.click)
    assert dialog.ask() is True
    again = TrustDialog(window, tmp_path / "x.workflow.json", code)
    QTimer.singleShot(0, again.cancel_button.click)
    assert again.ask() is False


def test_a_model_object_in_a_file_sets_only_known_keys_and_its_server_gets_no_key_unasked(monkeypatch):
    from studio_prompts.lm import PLACEHOLDER_KEY, LMError
    from studio_prompts.workflow.graph import make_lm

    for bad in (
        {"model": "openai/x", "backend": "os:system"},
        {"model": "openai/x", "base_url": "http://h"},
        {"model": "openai/x", "api_base": 5},
        {"model": "openai/x", "api_key_env": "A B"},
    ):
        with pytest.raises(WorkflowError):
            make_lm(bad)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-users-own")
    monkeypatch.setenv("TS_SECRET", "s3cret")
    named = make_lm({"model": "openai/x", "api_base": "http://127.0.0.1:9/v1"})
    assert named is not None and named._api_key() == PLACEHOLDER_KEY  # never the user's key, never left to litellm
    keyed = make_lm({"model": "openai/x", "api_base": "http://127.0.0.1:9/v1", "api_key_env": "TS_SECRET"})
    assert keyed is not None
    with pytest.raises(LMError, match="not sending"):
        keyed._api_key()
    keyed.allow_key()
    assert keyed._api_key() == "s3cret" and keyed.copy()._api_key() == "s3cret"
    own = make_lm({"model": "openai/x"})
    assert own is not None and own._api_key() == "sk-users-own"  # the provider's own server
    monkeypatch.delenv("OPENAI_API_KEY")
    assert LM("openai/x", api_base="http://127.0.0.1:9/v1")._api_key() == PLACEHOLDER_KEY


def test_the_editor_asks_before_a_server_the_file_names_gets_a_key(
    make_window, tmp_path, llm_server, monkeypatch, qasync_loop
):
    import studio_prompts.hooks as prompts_hooks

    from .conftest import fields

    monkeypatch.setenv("TS_SECRET", "s3cret")
    llm_server.reset(script=[fields(answer="ok")])
    seen = llm_server.authorizations  # the key each request carried
    path = write_workflow(
        tmp_path / "k.workflow.json",
        nodes={"x": predict_node("question -> answer", {"question": "input.question"})},
        inputs={"question": "str"},
        outputs={"answer": "x.answer"},
        model={"model": "openai/x", "api_base": llm_server.url, "api_key_env": "TS_SECRET"},
    )
    window = make_window(("prompts", prompts_hooks))
    editor = window.show_panel("prompts:editor")
    editor.open_path(path)
    asked, answer = [], {"yes": False}
    editor.ask_trust = lambda p, code: asked.append([f"{r.ref} {r.role}" for r in code]) or answer["yes"]
    assert editor.run({"question": "hi"}) is None and "Not run" in editor.status.text()
    assert asked == [[f"model endpoint {llm_server.url} receives $TS_SECRET, the workflow's model"]] and seen == []
    answer["yes"] = True

    async def run_and_wait():
        job = window.studio.jobs.jobs[editor.run({"question": "hi"})]
        await window.studio.jobs.wait(job)
        return job

    job = qasync_loop.run_until_complete(run_and_wait())
    assert job.status == RunStatus.SUCCEEDED, job.error
    assert seen == ["Bearer s3cret"]
