"""The Inspector on a model call longer than the model's context (the span route, through
the local provider's real reply), the model named as the workflow named it, Generate →
Inspect without a record, and a restarted panel's hint and restored head settings."""

from __future__ import annotations

import shutil

import pytest

from studio.api import JobOutcome, RunStatus, TokenRecord

from .test_inspector_panel import checkpoint, inspected, window  # noqa: F401 - shared fixtures

pytestmark = pytest.mark.gui


def provider_record(model: str, prompt: str, folder, max_tokens: int = 12):
    """What a workflow's local model call records: the provider's reply as a TokenRecord."""
    from studio_trainer.provider import TOKENS_FIELD, complete

    reply = complete(model, [{"role": "user", "content": prompt}], max_tokens=max_tokens, temperature=0.0)
    extra = reply[TOKENS_FIELD]
    record = TokenRecord.from_openai(
        reply["model"],
        extra["prompt"],
        reply["choices"][0]["message"]["content"],
        reply["choices"][0]["logprobs"]["content"],
        prompt_tokens=extra["prompt_tokens"],
        prompt_ids=extra["prompt_ids"],
        reply_ids=extra["reply_ids"],
        entropy=extra["entropy"],
        sampling={"temperature": 0.0},
    )
    return record, record.save(folder, "span-1")


def test_a_call_longer_than_the_context_is_inspected_over_its_last_window(window, qtbot, checkpoint, tmp_path):  # noqa: F811
    panel = window.show_panel("trainer:inspector")
    runs = panel.ctx.folders.runs
    best = runs / "run-long" / "checkpoints" / "best"
    shutil.copytree(checkpoint, best)  # a run of the workspace, as a workflow names it: studio/<run id>
    prompt = "abc def ghi jkl mno pqr abc"  # 27 tokens + 12 > the context of 24
    record, path = provider_record("studio/run-long", prompt, runs / "run-long" / "tensors")
    assert record.model == f"studio/{best.resolve()}"  # the provider's resolved folder (see the report)
    assert window.open_path(path)
    inspection = inspected(qtbot, panel)
    total = len(record.prompt_ids) + len(record.reply_ids)
    assert inspection.T == 24 and inspection.window_start == total - 24
    text = panel.banner.text()
    assert text.startswith("✓") and f"over {len(record)} tokens" in text and len(record) >= 4, text
    assert f"the text is {total} tokens; the model's context is 24: inspecting the last 24" in text, text
    assert panel.model.value() == "run-long"  # not studio//…/checkpoints/best
    panel.open_path(panel.save_to(tmp_path / "saved"))  # a saved window says it is one
    qtbot.waitUntil(lambda: panel.banner.text().startswith("Opened"), timeout=10_000)
    assert f"(the text is {total} tokens; the model's context is 24: inspecting the last 24)" in panel.banner.text()


def test_generate_then_inspect_says_there_is_no_record(window, qtbot, checkpoint):  # noqa: F811
    generate = window.show_panel("trainer:generate")
    generate.checkpoint.set_value(str(checkpoint))
    generate._show("abc ", JobOutcome("run-1", RunStatus.SUCCEEDED, checkpoint, result={"text": "defg"}))
    generate.inspect_button.click()
    panel = window.panels["trainer:inspector"]
    inspected(qtbot, panel)
    assert panel.banner.text().startswith("no record to check against"), panel.banner.text()
    assert panel.model.value() == str(checkpoint)
    prompt = "abc def ghi jkl "  # + the output: 32 characters (tokens) > the context of 24
    panel.inspect(str(checkpoint), prompt + "mno pqr abc def ", prompt=prompt)
    inspection = inspected(qtbot, panel)
    assert inspection.window_start == 8 and inspection.reply_start == len(prompt) - 8


def test_a_generate_job_saves_its_tokens_and_generate_then_inspect_checks_them(window, qtbot, checkpoint, job_context):  # noqa: F811
    from studio_trainer.config import GenerateParams
    from studio_trainer.jobs import generate as generate_job

    ctx = job_context("gen")
    params = GenerateParams(checkpoint=str(checkpoint), prompt="abc ", max_new_tokens=8, temperature=0.7, seed=3)
    result = generate_job(params, ctx)
    record = TokenRecord.load(result["token_record"])
    assert record.reply == result["text"] and len(record) == len(record.reply_ids or []) > 0
    assert ctx.of_kind("span")[-1].record["token_record"] == "tensors/generate.json"
    generate = window.show_panel("trainer:generate")
    generate.checkpoint.set_value(str(checkpoint))
    generate._show("abc ", JobOutcome("gen", RunStatus.SUCCEEDED, ctx.run_dir, result=result))
    generate.inspect_button.click()
    panel = window.panels["trainer:inspector"]
    inspected(qtbot, panel)
    assert panel.banner.text().startswith("✓"), panel.banner.text()  # a sampled reply, scored as the model sees it


def test_a_restored_panel_hints_and_brings_back_its_head_settings(window, qtbot, checkpoint):  # noqa: F811
    panel = window.show_panel("trainer:inspector")
    state = {
        "model": str(checkpoint),
        "text": "abc def",
        "view": "Attention",
        "head": [1, 0],
        "intervene": {"kind": 0, "layer": 1, "head": 1},
    }
    panel.restore_state(state)
    assert panel.inspection is None and panel.banner.text() == "Press Inspect (Ctrl+Return) to inspect this text again."
    assert panel.attention.status.text() == panel.banner.text()  # the blank view says it too
    panel.inspect_text()
    inspected(qtbot, panel)
    assert panel.attention.head == (1, 0)
    assert (panel.intervene.layer.value(), panel.intervene.head.value()) == (1, 1)
    saved = panel.save_state()
    assert saved["head"] == [1, 0] and saved["intervene"] == {"kind": 0, "layer": 1, "head": 1}
