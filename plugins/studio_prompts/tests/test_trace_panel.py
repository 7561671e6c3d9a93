"""The Traces panel, offscreen: a live workflow run fills it; details, filters, totals,
timeline, copy as JSON, node links, compare, opening a past run; 10,000 spans load fast."""

from __future__ import annotations

import json
import shutil

import pytest

from studio.api import RunStatus
from studio.testing import loop_until

from .conftest import fields, input_value
from .helpers import predict_node, write_workflow
from .test_trace_tree import spans as synthetic_spans

pytestmark = pytest.mark.gui


def two_step(tmp_path, url):
    nodes = {
        "rewrite": predict_node("question -> query", {"question": "input.question"}),
        "answer": predict_node("question, query -> answer", {"question": "input.question", "query": "rewrite.query"}),
    }
    return write_workflow(
        tmp_path / "two.workflow.json",
        nodes=nodes,
        inputs={"question": "str"},
        outputs={"answer": "answer.answer"},
        model={"model": "openai/fake-model", "api_base": url},
    )


def script(request):
    if "`query` (str)" in request["messages"][0]["content"].split("Your output fields")[1]:
        return fields(query="q:" + input_value(request, "question"))
    return fields(answer="A")


def test_a_live_run_fills_the_trace_view(window, qasync_loop, qtbot, tmp_path, llm_server, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # placeholder key
    llm_server.reset(script=script)
    panel = window.show_panel("prompts:traces")
    path = two_step(tmp_path, llm_server.url)

    async def go():
        job = window.submit_job("prompts.run", {"workflow": str(path), "inputs": {"question": "why?"}})
        await window.studio.jobs.wait(job)
        return job

    job = qasync_loop.run_until_complete(go())
    assert job.status == RunStatus.SUCCEEDED, job.error
    loop_until(qasync_loop, lambda: job.id in panel.models and len(panel.models[job.id].tree) >= 9)
    view = panel.view
    assert view.run_id == job.id
    tree = panel.models[job.id].tree
    (root,) = tree.children()
    assert tree.record(root)["kind"] == "workflow" and tree.record(root)["status"] == "ok"
    assert [tree.record(n)["name"] for n in tree.children(root)] == ["rewrite", "answer"]
    assert "2 model calls" in view.totals.text() and "0 errors" in view.totals.text()

    # details of the first llm span: messages by role and the raw reply
    llm_id = next(s for s in tree.walk() if tree.record(s)["kind"] == "llm")
    view.select_span(llm_id)
    html = view.details.toHtml()
    assert "Message — system" in html and "Raw reply" in html and "q:why?" in html
    assert json.loads(view.copy_json())["id"] == llm_id

    # clicking a span of a node names the node; selecting a node selects its spans
    seen: list[str] = []
    panel.node_selected.connect(seen.append)
    view.select_span(root)
    view.select_span(llm_id)
    assert seen[-1] == "rewrite"
    assert panel.select_node("answer")[0] == tree.children(root)[1]

    # filters keep matches and their ancestors
    view.kind_box.setCurrentIndex(view.kind_box.findText("llm"))
    visible = []

    def collect(parent):
        for row in range(view.proxy.rowCount(parent)):
            index = view.proxy.index(row, 0, parent)
            visible.append(index.siblingAtColumn(1).data())  # the kind column
            collect(index)

    from PySide6.QtCore import QModelIndex

    collect(QModelIndex())
    assert visible.count("llm") == 2 and "parse" not in visible  # llm spans and their ancestors only
    assert set(visible) == {"workflow", "node", "predictor", "llm"}
    view.kind_box.setCurrentIndex(0)
    view.search.setText("q:why?")
    assert view.proxy.rowCount() == 1
    assert len(view.timeline.rows) == len(tree)


def test_open_a_past_run_and_compare(window, tmp_path):
    panel = window.show_panel("prompts:traces")
    run = tmp_path / "runs" / "20261122-000000-prompts.run-abcd"
    run.mkdir(parents=True)
    with (run / "events.jsonl").open("w") as fh:
        for record in synthetic_spans(3, 2):
            event = {
                "t": 0.0,
                "kind": "span",
                **{k: v for k, v in record.items() if k != "kind"},
                "span_kind": record["kind"],
            }
            fh.write(json.dumps(event) + "\n")
        fh.write('{"t": 0, "kind": "log", "text": "not a span"}\n{"cut off')
    panel.open_path(run)
    run_id = run.name
    assert panel.view.run_id == run_id and len(panel.models[run_id].tree) == 13
    panel.compare.setChecked(True)
    assert panel.other.isVisible() and panel.other.run_box.count() == 1
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(ValueError, match="holds no spans"):
        panel.open_path(empty)


def test_ten_thousand_spans_load_in_the_model_at_once_and_live(qtbot):
    """The same tree whether loaded at once or live, span by span, in end order (children
    first). How fast is benchmarks/inspect_traces.py's to measure (no timed unit tests)."""
    from studio_prompts.qt.trace_model import SpanTreeModel

    records = synthetic_spans(n_nodes=2000, calls=3)
    model = SpanTreeModel()
    model.load(records)
    assert model.rowCount(model.index(0, 0)) == 2000
    live = SpanTreeModel()
    live.add_spans(records)
    assert live.rowCount(live.index(0, 0)) == 2000


def test_a_whitespace_only_or_empty_reply_is_shown_not_blank():
    """A reply of two spaces and a newline showed as an empty "Raw reply"."""
    from studio_prompts.qt.trace_panel import render_details

    shown = render_details({"kind": "llm", "name": "answer", "reply": "  \n"})
    assert "Raw reply</b> <i>(whitespace only: 2 spaces, 1 newline)</i>" in shown
    assert "\u2420\u2420\u21b5" in shown  # a mark per character
    assert "Raw reply</b> <i>(empty)</i>" in render_details({"kind": "llm", "reply": ""})
    assert "(whitespace only: 1 tab)" in render_details({"kind": "parse", "outputs": {"a": 1}, "reply": "\t"})
    plain = render_details({"kind": "llm", "reply": " Paris "})
    assert "whitespace only" not in plain and "> Paris </pre>" in plain


def test_the_timeline_has_a_time_axis_and_a_legend(qtbot):
    from studio_prompts.qt.timeline import HEADER, Timeline

    timeline = Timeline()
    qtbot.addWidget(timeline)
    timeline.resize(700, 300)
    t = 1_700_000_000.0
    timeline.set_spans(
        [
            {"id": "w", "kind": "workflow", "name": "run", "start": t, "duration": 2.5},
            {"id": "l", "kind": "llm", "name": "answer", "start": t + 0.1, "duration": 2.2},
            {"id": "m", "kind": "load", "name": "load run", "start": t + 0.1, "duration": 1.9},
            {"id": "p", "kind": "parse", "name": "chat", "start": t + 2.3, "duration": 0.01, "status": "error"},
        ]
    )
    timeline.show()
    labels = [label for _x, label in timeline.ticks()]
    assert labels[0] in ("0 s", "0.0 s") and labels[-1] in ("2 s", "2.5 s", "2.0 s") and len(labels) >= 3
    assert all(label.endswith(" s") for label in labels)
    xs = [x for x, _label in timeline.ticks()]
    assert xs == sorted(xs) and xs[0] == pytest.approx(timeline._x(t, timeline.viewport().width()))
    assert [kind for kind, _color in timeline.legend()] == ["workflow", "llm", "load", "parse", "error"]
    timeline.set_spans([{"id": "a", "kind": "llm", "name": "a", "start": t, "duration": 0.12}])
    assert all(label.endswith(" ms") for _x, label in timeline.ticks())  # under a second: ms
    assert timeline.row_at(HEADER - 1) == -1 and timeline.row_at(HEADER + 1) == 0  # the header stays on top
    timeline.grab()  # paints the header, axis and rows without error


def write_span_run(runs, run_id: str, n: int = 2) -> None:
    run = runs / run_id
    run.mkdir(parents=True)
    with (run / "events.jsonl").open("w") as fh:
        for record in synthetic_spans(n, 1):
            event = {"t": 0.0, "kind": "span", **{k: v for k, v in record.items() if k != "kind"}}
            fh.write(json.dumps({**event, "span_kind": record["kind"]}) + "\n")


def test_past_prompt_runs_are_listed_newest_first_read_when_picked_and_dropped_when_deleted(window):
    panel = window.show_panel("prompts:traces")
    runs = panel.ctx.folders.runs
    older, newer = "20261120-090000-prompts.run-aaaa", "20261121-090000-prompts.evaluate-bbbb"
    write_span_run(runs, older)
    write_span_run(runs, newer, 3)
    write_span_run(runs, "20261122-090000-trainer.train-cccc")  # not a prompt run
    (runs / "20261123-090000-prompts.run-dddd").mkdir()  # no event log
    dock = window.docks["prompts:traces"]
    dock.hide()
    panel.workspace_changed(panel.ctx.workspace)  # as after a restart: nothing streamed in
    box = panel.view.run_box
    assert [box.itemData(i) for i in range(box.count())] == [newer, older]
    assert panel.view.run_id == newer and not panel.models  # nothing read while the panel is hidden
    dock.show()
    assert newer in panel.models and older not in panel.models  # the one shown, once the panel is
    box.setCurrentIndex(1)
    assert panel.view.run_id == older and len(panel.models[older].tree) > 0
    shutil.rmtree(runs / older)  # as the shell does, before telling the panels
    panel.runs_deleted([older])
    assert older not in panel.models and box.findData(older) < 0 and panel.view.run_id == newer
    panel.runs_deleted([newer])
    assert box.count() == 0 and panel.view.run_id == "" and not panel.models
