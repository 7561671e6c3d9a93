"""The trainer's panels, offscreen: Train from the form, live curves and samples,
generation, the tokenizer view, opening a checkpoint, settings kept across restarts."""

from __future__ import annotations

import pytest

import studio_trainer.hooks as trainer_hooks
from studio.api import Folders, RunStatus

from .helpers import curve, loss_at, tiny

pytestmark = pytest.mark.gui


@pytest.fixture
def window(make_window):
    return make_window(("trainer", trainer_hooks))


def editor(form, name):
    return form.editors[name][0]


def click_and_wait(window, loop, button):
    """Click a button that submits a job (inside the running loop, as in the studio) and wait for the job."""

    async def go():
        button.click()
        job = list(window.studio.jobs.jobs.values())[-1]
        await window.studio.jobs.wait(job)
        return job

    return loop.run_until_complete(go())


def test_train_from_the_panel_then_generate_and_tokenize(window, qasync_loop, qtbot, corpus):
    panel = window.panels["trainer:train"]
    editor(panel.data_form, "corpus").setText(str(corpus))
    for name, value in {"n_layer": 1, "n_head": 2, "n_embd": 16, "block_size": 16}.items():
        editor(panel.model_form, name).setValue(value)
    for name, value in {
        "max_steps": 20,
        "batch_size": 4,
        "eval_interval": 10,
        "eval_iters": 2,
        "sample_interval": 10,
        "sample_tokens": 10,
        "checkpoint_interval": 10,
        "log_interval": 5,
        "warmup_steps": 2,
    }.items():
        editor(panel.train_form, name).setValue(value)
    assert "parameters" in panel.summary.text() and panel.train_button.isEnabled()
    job = click_and_wait(window, qasync_loop, panel.train_button)
    assert job.status == RunStatus.SUCCEEDED, job.error
    qtbot.waitUntil(lambda: panel.status.text().startswith(f"Finished run {job.id}: 20 steps"), timeout=5000)
    assert f"validation loss {job.result['val_loss']:.4f}" in panel.status.text()
    metrics = window.panels["studio:metrics"]
    qtbot.waitUntil(lambda: job.id in metrics.runs and metrics.runs[job.id].series["train/loss"].n == 4, timeout=5000)
    samples = window.panels["trainer:samples"]
    qtbot.waitUntil(lambda: samples.list.count() == 2, timeout=5000)
    assert "step 20" in samples.list.item(0).text() and samples.text.toPlainText()

    # the settings survive a restart of the panel
    assert window.studio.settings.plugin_settings["trainer"]["last"]["data"]["corpus"] == str(corpus)

    # open the best checkpoint: the Generate panel takes it
    best = job.run.dir / "checkpoints" / "best"
    assert window.open_path(best)
    gen = window.panels["trainer:generate"]
    assert gen.checkpoint.text() == str(best)
    gen.prompt.setPlainText("First")
    gen.tokens.setValue(12)
    click_and_wait(window, qasync_loop, gen.button)
    qtbot.waitUntil(
        lambda: gen.output.toPlainText().startswith("First") and "Generation: done" in gen.status.text(), timeout=5000
    )

    tokens = window.show_panel("trainer:tokens")
    tokens.load(str(best))
    tokens.text.setPlainText("Speak, speak.")
    assert tokens.info.text().startswith("13 tokens for 13 characters")
    ids = " ".join(str(i) for i in tokens.tokenizer.encode("Speak, speak."))
    assert ids in tokens.view.toPlainText() and "Speak," in tokens.view.toPlainText()


def test_invalid_settings_disable_train_and_say_why(window):
    panel = window.panels["trainer:train"]
    editor(panel.model_form, "n_embd").setValue(30)
    assert not panel.train_button.isEnabled()
    assert "multiple of n_head" in panel.summary.text()
    editor(panel.model_form, "n_embd").setValue(32)
    assert panel.train_button.isEnabled()
    state = panel.save_state()
    editor(panel.model_form, "n_embd").setValue(64)
    panel.restore_state(state)
    assert editor(panel.model_form, "n_embd").value() == 32


def test_presets_load_into_the_forms_and_save_to_the_workspace(window):
    panel = window.panels["trainer:train"]
    names = [panel.presets.itemText(i) for i in range(panel.presets.count())]
    assert "gpu-char-6x384" in names and "cpu-char-small" in names
    before = panel.values()
    panel.load_selected_preset()  # the placeholder is selected at first: nothing changes
    assert panel.values() == before
    panel.presets.setCurrentIndex(names.index("gpu-char-6x384"))
    panel.load_selected_preset()
    values = panel.values()
    assert values["model"]["n_embd"] == 384 and values["precision"] == "bf16"
    assert values["compile_mode"] == "reduce-overhead"
    assert "Loaded preset gpu-char-6x384" in panel.status.text()

    editor(panel.model_form, "n_layer").setValue(3)
    path = panel.save_as_preset("my run")
    assert path == Folders(window.studio.workspace.root).plugin_dir("trainer") / "presets" / "my-run.json"
    assert panel.presets.currentText() == "my-run  (workspace)"
    with pytest.raises(FileExistsError):
        panel.save_as_preset("my run")  # the panel asks before replacing
    editor(panel.model_form, "n_layer").setValue(5)
    panel.load_selected_preset()
    assert editor(panel.model_form, "n_layer").value() == 3

    path.write_text("{not json")  # a broken preset: the forms keep what they have, the panel says why
    panel.load_selected_preset()
    assert "is not valid JSON" in panel.status.text() and editor(panel.model_form, "n_layer").value() == 3


def test_tokenizer_panel_reports_a_broken_file(window, tmp_path):
    bad = tmp_path / "tokenizer.json"
    bad.write_text("{broken")
    tokens = window.show_panel("trainer:tokens")
    tokens.load(str(bad))
    assert "not valid JSON" in tokens.info.text()


def test_resume_lists_runs_that_stopped_early_and_continues_one(window, qasync_loop, qtbot, corpus):
    from studio.api import JobCancelled
    from studio.testing import RecordingContext
    from studio_trainer.config import TrainParams
    from studio_trainer.train.loop import train

    panel = window.panels["trainer:train"]
    panel.fill_resume_menu()
    assert [a.text() for a in panel.resume_menu.actions()] == ["No run stopped before its last step"]
    early = RecordingContext(Folders(window.studio.workspace.root).run_dir("20260101-000000-trainer.train-abcd"))
    early.cancel_when(loss_at(10))
    with pytest.raises(JobCancelled):
        train(TrainParams.model_validate(tiny(corpus, max_steps=20)), early)
    panel.fill_resume_menu()
    (action,) = panel.resume_menu.actions()
    assert action.text() == "20260101-000000-trainer.train-abcd — step 10 of 20"

    async def go():
        action.trigger()
        job = list(window.studio.jobs.jobs.values())[-1]
        await window.studio.jobs.wait(job)
        return job

    job = qasync_loop.run_until_complete(go())
    assert job.status == RunStatus.SUCCEEDED, job.error
    assert panel.status.text().startswith(f"Finished run {job.id} (continuing 20260101-000000-trainer.train-abcd): 20")
    assert [s for s, _ in curve(job.run.events())] == [5, 10, 15, 20]  # the curve continues where the first run stopped


def test_a_run_shows_progress_and_cancel_and_train_waits_for_it(window, qasync_loop, corpus):
    """The panel showed no progress and no Cancel, and a second Train (or Ctrl+Return)
    silently queued another run. While a run goes: the bar, Cancel, Train and Resume off."""
    from studio.testing import loop_until

    panel = window.panels["trainer:train"]
    panel.restore_state(tiny(corpus, max_steps=100_000, log_interval=1, eval_interval=100_000))
    assert not panel.progress.isVisibleTo(panel) and not panel.cancel_button.isEnabled()
    assert panel.train_button.isEnabled() and panel.resume_button.isEnabled()

    async def train():
        panel.train_button.click()
        return list(window.studio.jobs.jobs.values())[-1]

    job = qasync_loop.run_until_complete(train())
    assert panel.progress.isVisibleTo(panel) and panel.cancel_button.isEnabled()
    assert not panel.train_button.isEnabled() and not panel.resume_button.isEnabled()
    panel.start()  # Ctrl+Return while it runs: nothing more is queued
    assert list(window.studio.jobs.jobs) == [job.id]
    loop_until(qasync_loop, lambda: panel.progress.maximum() == 1000, timeout=60)  # steps are counted
    editor(panel.model_form, "n_embd").setValue(31)  # an invalid form while it runs (2 heads)
    assert not panel.train_button.isEnabled() and "multiple of n_head" in panel.summary.text()
    panel.cancel_button.click()
    loop_until(qasync_loop, lambda: job.status.finished, timeout=60)
    loop_until(qasync_loop, lambda: not panel.tracker.busy)
    assert job.status == RunStatus.CANCELLED
    assert panel.status.text().startswith(f"Cancelled run {job.id} at step ")
    assert "Resume continues it" in panel.status.text()
    assert not panel.progress.isVisibleTo(panel) and not panel.cancel_button.isEnabled()
    assert panel.resume_button.isEnabled() and not panel.train_button.isEnabled()  # the form is still invalid
    editor(panel.model_form, "n_embd").setValue(32)
    assert panel.train_button.isEnabled()


def test_generate_shows_progress_and_cancel_and_waits_for_the_sample(window, qasync_loop, tmp_path):
    from studio.testing import loop_until

    gen = window.show_panel("trainer:generate")
    fake = tmp_path / "fake-checkpoint"  # passes the check at submit (files only), fails when read
    fake.mkdir()
    (fake / "config.json").write_text("{}")
    (fake / "model.safetensors").write_bytes(b"not safetensors")
    gen.checkpoint.setText(str(fake))
    assert not gen.progress.isVisibleTo(gen) and not gen.cancel_button.isEnabled() and gen.button.isEnabled()

    async def generate_then_cancel():
        gen.button.click()
        job = list(window.studio.jobs.jobs.values())[-1]
        busy = gen.progress.isVisibleTo(gen), gen.cancel_button.isEnabled(), gen.button.isEnabled()
        gen.generate()  # Ctrl+Return while it samples: nothing more is queued
        gen.cancel_button.click()  # before it could fail on the checkpoint
        await window.studio.jobs.wait(job)
        return job, busy

    job, busy = qasync_loop.run_until_complete(generate_then_cancel())
    assert busy == (True, True, False) and list(window.studio.jobs.jobs) == [job.id]
    loop_until(qasync_loop, lambda: not gen.tracker.busy)
    assert job.status == RunStatus.CANCELLED and gen.status.text() == "Generation: cancelled"
    assert not gen.progress.isVisibleTo(gen) and not gen.cancel_button.isEnabled() and gen.button.isEnabled()


def test_ctrl_return_starts_the_panel_that_has_the_focus(window, monkeypatch):
    """Train and Generate each had a window-wide Ctrl+Return: Qt called it ambiguous and
    neither fired. Each now answers only while the focus is in its own panel."""
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    train, gen = window.panels["trainer:train"], window.show_panel("trainer:generate")
    calls: list[str] = []
    monkeypatch.setattr(train.tracker, "start", lambda *a, **k: calls.append("train"))
    monkeypatch.setattr(gen.tracker, "start", lambda *a, **k: calls.append("generate"))
    gen.checkpoint.setText("some-checkpoint")
    window.activateWindow()
    for widget, expected in ((editor(train.train_form, "max_steps"), "train"), (gen.prompt, "generate")):
        widget.setFocus()
        QApplication.processEvents()
        focused = QApplication.focusWidget()
        assert focused is not None and focused is widget
        QTest.keyClick(focused, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
        assert calls[-1:] == [expected]
    assert calls == ["train", "generate"]


def test_the_status_line_says_how_a_run_ended(window, tmp_path):
    """It kept saying "Started run…" after the run had ended."""
    from studio.api import JobOutcome, Metric, Progress

    panel = window.panels["trainer:train"]
    done = {"steps": 200, "val_loss": 1.5, "best_val_loss": 1.25, "checkpoint": None}
    panel.show_outcome(JobOutcome("r1", RunStatus.SUCCEEDED, tmp_path, result=done))
    assert panel.status.text().startswith("Finished run r1: 200 steps, validation loss 1.5000 (best 1.2500).")
    panel._follow(Progress(70, 200, "step 70/200"))
    panel._follow(Metric("val/loss", 50, 2.0))
    panel.show_outcome(JobOutcome("r2", RunStatus.CANCELLED, tmp_path))
    assert panel.status.text() == "Cancelled run r2 at step 70, validation loss 2.0000; Resume continues it."
    panel.show_outcome(JobOutcome("r3", RunStatus.FAILED, tmp_path, error="ran out of memory\nTraceback…"))
    assert panel.status.text() == "Run r3 failed at step 70, validation loss 2.0000: ran out of memory"


def test_a_run_too_short_for_its_warmup_and_validation_is_warned_before_it_starts(window):
    panel = window.panels["trainer:train"]
    assert "Short run" not in panel.summary.text()  # the defaults: 2000 steps
    editor(panel.train_form, "max_steps").setValue(100)
    text = panel.summary.text()
    assert "⚠ Short run: warmup 10 steps, not 200; validation every 25 steps, not 250; 25 validation batches" in text
    assert "warmup_steps 200 shortened to 10, a tenth of this 100-step run" in panel.summary.toolTip()  # why
    assert panel.train_button.isEnabled()


def test_lora_settings_that_are_wrong_read_as_one_line(window):
    """The LoRA field showed pydantic's own words (Input should be a valid dictionary…)."""
    panel = window.panels["trainer:train"]
    editor(panel.tune_form, "init_from").setText("some-run")
    editor(panel.tune_form, "lora").setText("rank 4")
    text = panel.summary.text()
    assert text.startswith('⚠ LoRA: not JSON settings; write them as {"rank": 8, "alpha": 16.0')
    assert "Input should" not in text and "\n" not in text and not panel.train_button.isEnabled()
    editor(panel.tune_form, "lora").setText('{"rank": 0, "targets": "attn.qkv"}')
    assert panel.summary.text() == "⚠ LoRA rank: must be at least 1 (and 1 more)"
    assert panel.summary.toolTip().splitlines()[1] == 'LoRA targets: must be a list, such as ["a", "b"]'
    editor(panel.tune_form, "lora").setText('{"rank": 4}')
    assert panel.train_button.isEnabled() and not panel.summary.text().startswith("⚠")


def test_the_corpus_can_be_browsed_for_as_a_file_or_a_folder(window, monkeypatch, tmp_path):
    import studio_trainer.qt.train_panel as train_panel

    panel = window.panels["trainer:train"]
    monkeypatch.setattr(train_panel.QFileDialog, "getOpenFileName", lambda *a: (str(tmp_path / "a.txt"), ""))
    monkeypatch.setattr(train_panel.QFileDialog, "getExistingDirectory", lambda *a: str(tmp_path))
    panel.corpus_file.click()
    assert editor(panel.data_form, "corpus").text() == str(tmp_path / "a.txt")
    panel.corpus_folder.click()
    assert panel.values()["data"]["corpus"] == str(tmp_path)
    assert panel.corpus_file.isVisibleTo(panel.data_form) and panel.corpus_folder.isVisibleTo(panel.data_form)


def test_train_a_model_on_the_home_page_shows_the_trainer_ready_to_train(window):
    (action,) = [a for menu in window.menuBar().actions() for a in menu.menu().actions() if a.text() == "Train a model"]
    window.docks["trainer:train"].hide()
    action.trigger()
    panel = window.panels["trainer:train"]
    assert window.docks["trainer:train"].isVisible()
    assert panel.status.text().startswith("Ready: press Train. The default settings (Defaults) train a small")
    editor(panel.train_form, "max_steps").setValue(50)
    action.trigger()  # settings of the person's own are kept
    assert panel.values()["max_steps"] == 50


def test_samples_show_the_newest_and_follow_unless_an_older_one_is_picked(window):
    """Samples selected the oldest sample, not the newest."""
    from studio.api import Span

    samples = window.panels["trainer:samples"]

    def sample(step: int) -> Span:
        return Span("sample", f"sample at step {step}", outputs={"text": f"text {step}"}, record={"step": step})

    for step in (10, 20, 30):
        samples.handle_events("run-1", [sample(step)])
        assert samples.list.currentItem().text().endswith(f"step {step}")
        assert samples.text.toPlainText().endswith(f"text {step}")
    samples.list.setCurrentRow(2)  # the person picks the oldest: it stays shown
    samples.handle_events("run-1", [sample(40)])
    assert samples.list.currentItem().text().endswith("step 10") and samples.list.count() == 4
    samples.list.setCurrentRow(0)  # back to the newest: it follows again
    samples.handle_events("run-1", [sample(50)])
    assert samples.list.currentItem().text().endswith("step 50")


def test_samples_of_past_runs_are_read_at_the_first_show_and_labelled_readably(make_window, studio_home, qtbot):
    """After a restart the Samples panel was empty for past runs (opening one did not help),
    and read 'r.train-ba6e · step 200'."""
    import json

    from studio_trainer.qt.samples_panel import run_label

    runs = studio_home / "workspace" / "runs"  # runs of an earlier session, then the studio starts
    for run_id, steps in (
        ("20261201-032806-trainer.train-ba6e", (100, 200)),
        ("20261130-101500-trainer.train-0f3c", (5,)),
    ):
        (runs / run_id).mkdir(parents=True)
        lines = [
            {"kind": "span", "span_kind": "sample", "name": "s", "outputs": {"text": f"t{s}"}, "step": s} for s in steps
        ]
        (runs / run_id / "events.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    window = make_window(("trainer", trainer_hooks))
    samples = window.show_panel("trainer:samples")  # first shown: the latest runs' samples are read
    qtbot.waitUntil(lambda: samples.list.count() == 3, timeout=2000)
    newest = samples.list.item(0)
    assert (
        newest.text() == "12-01 03:28 train-ba6e · step 200"
        and newest.toolTip() == "20261201-032806-trainer.train-ba6e"
    )
    assert samples.text.toPlainText().endswith("t200")
    samples.open_path(runs / "20261201-032806-trainer.train-ba6e")  # opened again: not listed twice
    assert samples.list.count() == 3
    samples.runs_deleted(["20261130-101500-trainer.train-0f3c"])
    assert samples.list.count() == 2
    assert run_label("my-own-run-with-a-rather-long-name-and-more") == "my-own-run-wi…name-and-more"


def test_the_panels_shortcuts_are_named_in_help(window):
    """Help → Keyboard shortcuts listed the trainer's Ctrl+Return as '(a command of the panel)'."""
    from PySide6.QtGui import QShortcut

    for panel_id, name in (("trainer:train", "Train"), ("trainer:generate", "Generate")):
        shortcuts = window.panels[panel_id].findChildren(QShortcut)
        assert shortcuts and all(s.whatsThis().startswith(f"{name}: ") for s in shortcuts), panel_id
