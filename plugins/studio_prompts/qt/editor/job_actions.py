"""Run, Evaluate, Optimize and Export from the workflow editor: the forms, the consent
dialog, starting the job through the editor's JobTracker, and what is shown when it ends.
What the jobs are given, whether they may start and how their end reads are
``workflow/runs.py``'s; this module asks the user and shows the answers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from PySide6.QtWidgets import QDialog, QFileDialog, QLineEdit, QWidget

from studio.api import JobOutcome, PanelContext, RunStatus
from studio.widgets import JobTracker, ModelPicker

from ...workflow import runs
from ...workflow.runs import EVAL, JOB_KINDS, OPTIMIZE
from ...workflow.schema import SUFFIX, WorkflowError, workflow_suffix
from .dialogs import Choice, FilePath, FormDialog, ModelName, studio_model_prefix
from .nodes import MissingNode

if TYPE_CHECKING:
    from ...workflow.runs import NodeState
    from ...workflow.session import WorkflowSession
    from ...workflow.trust import CodeRef
    from .banner import ErrorBanner
    from .convert import WorkflowDocument

DATASET_FILTER = "Datasets (*.csv *.tsv *.json *.jsonl *.parquet);;All files (*)"
MODEL_FIELD, API_BASE_FIELD = "model (optional)", "API base URL (optional)"
# the CLI's --model / --api-base: a model for nodes without their own, and its server (Ollama, vLLM…);
# the Run, Evaluate and Optimize forms share the last ones (the picker's key, and this setting)
MODEL_KEY, API_BASE_KEY = "workflow", "last_api_base"
API_BASE_MODEL_KEY = "last_api_base_model"  # the model the remembered API base was given for
STUDIO_BASE_NOTE = "not used: a studio/ model runs inside the studio"
OTHER_BASE_NOTE = "the server of this model, if it needs one (Ollama, vLLM…)"
TITLES = {"run": "Run", EVAL: "Evaluation", OPTIMIZE: "Optimization"}  # what the tracker calls each job


class JobActions:
    """The editor's jobs (mixed into ``WorkflowEditor``)."""

    ctx: PanelContext
    session: WorkflowSession
    doc: WorkflowDocument
    tracker: JobTracker
    result_views: list[QDialog]
    banner: ErrorBanner
    say: Callable[..., None]
    ensure_saved: Callable[[], Path | None]
    paint_state: Callable[[NodeState], None]

    @property
    def _widget(self) -> QWidget:
        """The editor, as the parent of the dialogs it opens."""
        return cast(QWidget, self)

    # ---- checks before a form or a job

    def ready(self) -> Path | None:
        """Checks made before a Run / Evaluate / Optimize form is shown: every node's plugin is
        installed, the file is saved, and the Python code it names is agreed to (``consent``),
        so nobody types inputs for a run that would then be refused; and no job started here
        is still running (one at a time). The saved path, or None."""
        if self.tracker.busy:  # the toolbar's buttons are off meanwhile
            self.say("A job started here is still running: wait for it to end, or Cancel it.", "warning")
            return None
        path = self._runnable()
        if path is None or self.consent(path) is None:
            return None
        return path

    def _runnable(self) -> Path | None:
        """The saved file, if every node's plugin is there and enabled (else said)."""
        problem = runs.missing_problem(
            {n.name(): n.get_property("missing_type") for n in self.doc.workflow_nodes() if isinstance(n, MissingNode)}
        )
        if problem:
            self.say(problem, "error")
            return None
        return self.ensure_saved()

    def lacks_model(self, path: Path, model: str, dialog: str) -> bool:
        """True (and said) when no model reaches some predictor: the job would fail at its
        first call; the message says where a model is set instead."""
        problem = runs.model_problem(path, model, dialog)
        if problem:
            self.say(problem, "error")
        return problem is not None

    def consent(self, path: Path, metric: str = "") -> str | None:
        """The ``trusted`` fingerprint for a job on ``path``. When the workflow names Python
        code not yet agreed to for this content, ``ask_trust`` names it; the answer is
        remembered in the plugin's settings. None: not agreed, or the file cannot be read —
        said in the status line."""
        try:
            consent = runs.consent_for(path, metric)
        except WorkflowError as exc:
            self.say(f"Not started: {exc}", "error")
            return None
        if consent.asked(self.ctx.settings()):
            if not self.ask_trust(path, consent.code):
                self.say(runs.refusal_text(path, consent.code), "warning")
                return None
            self.ctx.save_settings(runs.remember(self.ctx.settings(), consent.digest, path, consent.code))
        return consent.fingerprint

    def ask_trust(self, path: Path, code: list[CodeRef]) -> bool:
        """A dialog naming each callable: Run or Cancel."""
        from .consent import TrustDialog

        return TrustDialog(self._widget, path, code).ask()

    # ---- jobs

    def run(self, inputs: dict[str, Any], model: str = "", api_base: str = "") -> str | None:
        """Save if needed, start a ``prompts.run`` job, and colour nodes as its spans arrive."""
        path = self._runnable()
        if path is None or self.lacks_model(path, model, "Run"):
            return None
        trusted = self.consent(path)
        if trusted is None:
            return None
        run_id = self.tracker.start(
            JOB_KINDS["run"],
            runs.run_params(path, inputs, model, api_base, trusted),
            title=TITLES["run"],
            on_done=self.run_finished,
        )
        if run_id is None:
            return None
        self.banner.hide()  # the last run's failure is no longer the news
        for state in self.session.start_run(run_id, [n.name() for n in self.doc.workflow_nodes()]):
            self.paint_state(state)
        self.say(f"Running {path.name} (run {run_id})…")
        return run_id

    def run_finished(self, outcome: JobOutcome) -> None:
        """The run's end in the status line; a failure in the banner too, with its trace
        (the JobTracker put it in the studio's log). No dialog: nothing waits on the user."""
        if outcome.run_id == self.session.run_id:
            text = runs.run_finished_text(outcome)
            self.say(text)
            if outcome.status == RunStatus.FAILED:
                self.banner.show_error(text, outcome.run_id)

    def evaluate(
        self, data: str, metric: str = "exact_match", model: str = "", resume: str = "", api_base: str = ""
    ) -> str | None:
        """Start an evaluation; ``resume`` (an earlier evaluation's run folder) keeps its
        scored examples and runs only the rest (its errored ones included)."""
        path = self._dataset_job_path(data, model, "evaluate", "Evaluate")
        trusted = self.consent(path, metric) if path is not None else None
        if path is None or trusted is None:
            return None
        run_id = self._start(EVAL, runs.eval_params(path, data, metric, model, api_base, resume, trusted))
        if run_id is not None:
            self.say(f"Evaluating on {Path(data).name} (run {run_id}); progress in Jobs.")
        return run_id

    def optimize(
        self,
        data: str,
        optimizer: str = "bootstrap",
        metric: str = "exact_match",
        max_calls: int | None = 200,
        model: str = "",
        api_base: str = "",
    ) -> str | None:
        path = self._dataset_job_path(data, model, "optimize", "Optimize")
        trusted = self.consent(path, metric) if path is not None else None
        if path is None or trusted is None:
            return None
        run_id = self._start(
            OPTIMIZE, runs.optimize_params(path, data, metric, optimizer, max_calls, model, api_base, trusted)
        )
        if run_id is not None:
            self.say(f"Optimizing with {optimizer} (run {run_id}): the result is saved as a new file beside this one.")
        return run_id

    def _dataset_job_path(self, data: str, model: str, verb: str, dialog: str) -> Path | None:
        """The saved file, when a dataset is chosen and a model reaches every predictor."""
        path = self.ensure_saved()
        if path is None:
            return None
        problem = runs.dataset_problem(data, verb)
        if problem:
            self.say(problem, "error")
            return None
        return None if self.lacks_model(path, model, dialog) else path

    def _start(self, kind: str, params: dict[str, Any]) -> str | None:
        """Start an evaluation or optimization; its result is shown when it ends."""
        return self.tracker.start(
            JOB_KINDS[kind], params, title=TITLES[kind], on_done=lambda outcome: self.job_finished(kind, outcome)
        )

    def job_finished(self, kind: str, outcome: JobOutcome) -> None:
        """An evaluation or optimization ended: its score (or why not) in the status line,
        and its result in a window."""
        text = runs.finished_text(kind, outcome)
        self.say(text)  # not "Evaluating…" any more
        if outcome.status == RunStatus.FAILED:
            self.banner.show_error(text, outcome.run_id)
        self.show_result(kind, outcome)

    def show_result(self, kind: str, outcome: JobOutcome) -> QDialog:
        """A window with an evaluation's scores table or an optimization's diff."""
        from .results import ResultView

        view = ResultView(self._widget, outcome.run_dir, kind, outcome)
        self.result_views.append(view)
        view.show()
        return view

    # ---- forms

    def _ask(self, title: str, fields: dict) -> dict[str, str] | None:
        dialog = FormDialog(self._widget, title, fields)  # its model picker remembers the model on OK
        self.link_api_base(dialog)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return None
        values = dialog.values()
        if API_BASE_FIELD in values:
            settings = self.ctx.settings()
            base, model = values[API_BASE_FIELD].strip(), values.get(MODEL_FIELD, "").strip()
            if (base, model) != (settings.get(API_BASE_KEY, ""), settings.get(API_BASE_MODEL_KEY)):
                self.ctx.save_settings({**settings, API_BASE_KEY: base, API_BASE_MODEL_KEY: model})
        return values

    def link_api_base(self, dialog: FormDialog) -> None:
        """The API base follows the model: off and empty for a studio/ model (it runs in the
        studio), the remembered one for the model it was given for, else empty (a server
        remembered for one model never silently routes another)."""
        picker, base = dialog.edits.get(MODEL_FIELD), dialog.edits.get(API_BASE_FIELD)
        if not isinstance(picker, ModelPicker) or not isinstance(base, QLineEdit):
            return
        settings = self.ctx.settings()
        remembered = str(settings.get(API_BASE_KEY, ""))
        # settings from before this key: the base was given for the model the form starts with
        for_model = str(settings.get(API_BASE_MODEL_KEY, picker.text().strip()))
        prefix = studio_model_prefix() or "studio/"

        def follow(model: str) -> None:
            model = model.strip()
            if model.startswith(prefix):
                base.clear()
                base.setEnabled(False)
                base.setPlaceholderText(STUDIO_BASE_NOTE)
                return
            base.setEnabled(True)
            base.setPlaceholderText(OTHER_BASE_NOTE)
            if model == for_model:
                base.setText(remembered)
            elif base.text().strip() == remembered:  # not typed in this form: not this model's
                base.clear()

        picker.changed.connect(follow)
        follow(picker.text())

    def model_fields(self) -> dict:
        """The model — the shell's picker: typed, or one of the workspace's models, the last
        one used first — and its server (the last one used)."""
        return {
            MODEL_FIELD: ModelName(self.ctx, MODEL_KEY),
            API_BASE_FIELD: str(self.ctx.settings().get(API_BASE_KEY, "")),
        }

    def run_dialog(self) -> None:
        if self.ready() is None:  # consent before the form, not after the user typed the inputs
            return
        spec = self.doc.to_spec()
        last = self.ctx.settings().get("last_inputs", {})
        answers = self._ask("Run workflow", {**{n: str(last.get(n, "")) for n in spec.inputs}, **self.model_fields()})
        if answers is None:
            return
        model = answers.pop(MODEL_FIELD, "").strip()
        api_base = answers.pop(API_BASE_FIELD, "").strip()
        inputs = runs.form_inputs(answers)
        self.ctx.save_settings({**self.ctx.settings(), "last_inputs": inputs})
        self.run(inputs, model, api_base)

    def evaluation_fields(self) -> dict:
        """The dataset (typed, browsed or dropped; the last one dropped on the canvas first)
        and the metric (a known one, or ``module:function``)."""
        from ...evaluate import METRICS

        return {
            "dataset file": FilePath(self.session.dataset, DATASET_FILTER),
            "metric": Choice(list(METRICS), "exact_match"),
        }

    def evaluate_dialog(self) -> None:
        if self.ready() is None:  # consent before the form
            return
        answers = self._ask("Evaluate workflow", {**self.evaluation_fields(), **self.model_fields()})
        if answers:
            self.evaluate(
                answers["dataset file"],
                answers["metric"],
                answers[MODEL_FIELD].strip(),
                api_base=answers[API_BASE_FIELD],
            )

    def optimize_dialog(self) -> None:
        from ...optimizers import OPTIMIZERS

        if self.ready() is None:  # consent before the form
            return
        answers = self._ask(
            "Optimize workflow",
            {
                **self.evaluation_fields(),
                "optimizer": Choice(list(OPTIMIZERS), "bootstrap"),
                "max model calls": "200",
                **self.model_fields(),
            },
        )
        if answers:
            try:
                max_calls = runs.max_calls(answers["max model calls"])
            except ValueError as exc:
                self.say(str(exc), "error")
                return
            self.optimize(
                answers["dataset file"],
                answers["optimizer"],
                answers["metric"],
                max_calls,
                answers[MODEL_FIELD].strip(),
                answers[API_BASE_FIELD],
            )

    def export_dialog(self) -> None:
        path = self.ensure_saved()
        if path is None:
            return
        suggested = path.with_name(path.name.removesuffix(workflow_suffix(path) or SUFFIX) + ".py")
        target, _ = QFileDialog.getSaveFileName(self._widget, "Export Python", str(suggested), "Python (*.py)")
        if target:
            from ...jobs import export

            try:
                # the save dialog asked before replacing a file
                self.say(f"Exported {export(str(path), target, force=True)}")
            except WorkflowError as exc:
                self.say(str(exc), "error")
