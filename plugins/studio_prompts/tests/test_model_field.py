"""The editor's model fields (issue 17 §1): the Run form's model is the shell's model picker
and the form remembers the model (and its server) between runs; a workspace model picked
there or in the node inspector becomes a model string with the provider's prefix."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QDialog

import studio_prompts.hooks as prompts_hooks
from studio.api import Folders, JobOutcome, ModelEntry, RunStatus
from studio.widgets import ModelPicker
from studio_prompts.qt.editor import dialogs
from studio_prompts.qt.editor.dialogs import FormDialog
from studio_prompts.qt.editor.job_actions import API_BASE_FIELD, MODEL_FIELD

from .helpers import predict_node, write_workflow

pytestmark = pytest.mark.gui


def workspace_models(folders: Folders) -> list[ModelEntry]:
    return [ModelEntry("20260101-000000-trainer.train-abcd", "tiny.txt", "trained run", folders.runs, 1000, 1.0)]


@pytest.fixture
def editor(make_window, monkeypatch, tmp_path):
    # a provider whose model strings name the workspace's models, with a listing of one model
    monkeypatch.setattr(dialogs, "studio_model_prefix", lambda: "studio/")
    real = ModelPicker.__init__

    def listing(self, *args, **kwargs):
        real(self, *args, **{**kwargs, "lister": kwargs.get("lister") or workspace_models})

    monkeypatch.setattr(ModelPicker, "__init__", listing)
    editor = make_window(("prompts", prompts_hooks)).show_panel("prompts:editor")
    path = write_workflow(
        tmp_path / "one.workflow.json",
        nodes={"answer": predict_node("question -> answer", {"question": "input.question"})},
        inputs={"question": "str"},
        outputs={"answer": "answer.answer"},
    )
    editor.open_path(path)
    submitted: list[dict] = []
    monkeypatch.setattr(editor.ctx, "submit_job", lambda kind, params: submitted.append(params) or "run-1")
    ended = JobOutcome("run-1", RunStatus.SUCCEEDED, tmp_path)
    monkeypatch.setattr(editor.ctx, "when_finished", lambda run_id, callback: callback(ended))
    editor.submitted = submitted
    return editor


def answer_forms(monkeypatch, answers: list[dict[str, str]]) -> list[dict[str, str]]:
    """Each form shown is answered with the next of ``answers`` (its fields set, then OK);
    what each form showed first is returned."""
    shown: list[dict[str, str]] = []

    def exec_(self):
        shown.append(self.values())
        for name, value in answers.pop(0).items():
            self.edits[name].setText(value)
        self.accept()
        return QDialog.DialogCode.Accepted

    monkeypatch.setattr(FormDialog, "exec", exec_)
    return shown


def test_the_run_form_remembers_the_model_between_runs(editor, monkeypatch):
    shown = answer_forms(
        monkeypatch,
        [
            {"question": "why?", MODEL_FIELD: "ollama_chat/llama3.2", API_BASE_FIELD: "http://127.0.0.1:11434"},
            {},  # the second run: OK as the form comes
        ],
    )
    editor.run_dialog()
    editor.run_dialog()
    assert shown[0][MODEL_FIELD] == "" and shown[1][MODEL_FIELD] == "ollama_chat/llama3.2"
    assert shown[1][API_BASE_FIELD] == "http://127.0.0.1:11434" and shown[1]["question"] == "why?"
    assert [p["model"] for p in editor.submitted] == ["ollama_chat/llama3.2"] * 2
    assert editor.submitted[1]["api_base"] == "http://127.0.0.1:11434"


def test_a_workspace_model_is_picked_as_a_provider_model_string(editor, monkeypatch):
    shown: list[str] = []

    def exec_(self):
        picker = self.edits[MODEL_FIELD]
        assert isinstance(picker, ModelPicker)
        shown.append(picker.model.item(0, 0).text())
        picker.combo.activated.emit(0)  # the listed trained run, picked
        self.accept()
        return QDialog.DialogCode.Accepted

    monkeypatch.setattr(FormDialog, "exec", exec_)
    editor.run_dialog()
    assert shown == ["studio/20260101-000000-trainer.train-abcd"]
    assert editor.submitted[-1]["model"] == "studio/20260101-000000-trainer.train-abcd"

    editor.select_node("answer")  # the node inspector's model field is the same picker
    inspector = editor.inspector
    assert isinstance(inspector.model, ModelPicker) and inspector.model.prefix == "studio/"
    inspector.model.combo.activated.emit(0)
    assert inspector.commit()
    assert editor.doc.to_spec().nodes["answer"].params["model"] == "studio/20260101-000000-trainer.train-abcd"
