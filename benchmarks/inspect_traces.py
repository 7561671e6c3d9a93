"""A 10,000-span trace with token data opens in Traces in under a second, and token data is
read only when a span is opened (issue 18's speed target).

Writes a run folder: ``events.jsonl`` with one workflow, 3,333 nodes, each with an ``llm``
span (messages, reply, ``token_record``) and a ``parse`` span — 10,000 spans — and the
token records (JSON + safetensors) of some of those calls (``--records``; the point is
that opening reads none). Then, offscreen, in a fresh Traces panel each time:

* ``past run``: a panel shown on a workspace whose newest prompt run is that trace: from
  ``show()`` to the spans read, the tree model populated and painted;
* ``open``: from ``open_path(run folder)`` (*Open…*) to the tree model populated and the
  panel's first paint (``repaint``); both with the number of token records read meanwhile
  (must be 0);
* ``span``: opening one call's Tokens tab (a 512-token reply with the top 20 alternatives
  per token): the record read, rendered and painted;
* ``span 10k``: the same for a 10,000-token reply (top 20), then clicks on tokens (each: the
  detail and the token's mark changed, painted; the text is never rebuilt).

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/inspect_traces.py [--repeats 5]

Results: ``benchmarks/inspect-traces-results.json`` (with the CPU model).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from machine import cpu_model  # benchmarks/machine.py (this folder is on the path)

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "plugins"))

from studio.api import Folders, TokenRecord  # noqa: E402

TARGET_OPEN_S = 1.0
TARGET_LONG_SPAN_S = 0.3  # a 10,000-token record opened in the Tokens tab
TARGET_CLICK_S = 0.03  # a click on one of its tokens
LONG = 10_000


def synthetic_record(model: str, n: int, k: int = 20) -> TokenRecord:
    """A reply of ``n`` tokens with ``k`` alternatives each, probabilities decreasing."""
    tokens = [f" w{i % 97}" for i in range(n)]
    top_lp = [[math.log(0.5 * 0.6**j) for j in range(k)] for _ in range(n)]
    return TokenRecord(
        model=model,
        prompt="",
        reply="".join(tokens),
        reply_tokens=tokens,
        logprobs=[row[i % 3] for i, row in enumerate(top_lp)],
        top_tokens=[[tokens[i] if j == i % 3 else f" a{j}" for j in range(k)] for i in range(n)],
        top_logprobs=top_lp,
    )


def write_trace(run: Path, nodes: int, records: int) -> list[str]:
    """The run folder; returns the ids of the llm spans that have a record on disk."""
    span = {"t": 0.0, "kind": "span", "status": "ok", "duration": 0.01, "total_tokens": 0, "total_cost": 0.0}
    lines = [json.dumps({**span, "id": "w", "parent": None, "span_kind": "workflow", "name": "wf", "start": 0.0})]
    with_records = []
    small = synthetic_record("openai/gpt-4o-mini", 24, 5)
    for i in range(nodes):
        node, llm, parse = f"n{i}", f"l{i}", f"p{i}"
        start = i * 0.01
        lines.append(json.dumps({**span, "id": node, "parent": "w", "span_kind": "node", "name": node, "start": start}))
        lines.append(
            json.dumps(
                {
                    **span,
                    "id": llm,
                    "parent": node,
                    "span_kind": "llm",
                    "name": node,
                    "start": start,
                    "model": "openai/gpt-4o-mini",
                    "messages": [{"role": "user", "content": f"question {i}: what is the capital?"}],
                    "reply": small.reply,
                    "tokens": {"prompt": 12, "completion": 24},
                    "token_record": f"tensors/{llm}.json",
                }
            )
        )
        lines.append(
            json.dumps({**span, "id": parse, "parent": node, "span_kind": "parse", "name": "chat", "start": start})
        )
        if i < records:
            small.save(run / "tensors", llm)
            with_records.append(llm)
    (run / "events.jsonl").write_text("\n".join(lines) + "\n")
    return with_records


class Ctx:
    """The little of a PanelContext the Traces panel uses."""

    def __init__(self, workspace: Path):
        self.folders = Folders(workspace)
        self.opened: list[Path] = []

    def open_path(self, path: Path) -> bool:
        self.opened.append(path)
        return True

    def show_message(self, text: str, level: str = "info") -> None:
        print(f"[{level}] {text}")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--records", type=int, default=200, help="token records written to disk (of 3,333 calls)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "inspect-traces-results.json"))
    args = parser.parse_args(argv)

    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    from studio_prompts.qt.trace_panel import TracePanel

    reads = 0
    original = TokenRecord.load.__func__  # type: ignore[attr-defined]

    def counting(cls, path):
        nonlocal reads
        reads += 1
        return original(cls, path)

    TokenRecord.load = classmethod(counting)  # type: ignore[method-assign, assignment]

    with tempfile.TemporaryDirectory() as tmp:
        workspace = Path(tmp)
        run = workspace / "runs" / "20261201-000000-prompts.run-bench"
        (run / "tensors").mkdir(parents=True)
        with_records = write_trace(run, nodes=3333, records=args.records)
        big = with_records[0]
        synthetic_record("openai/gpt-4o-mini", 512, 20).save(run / "tensors", big)
        long_span = with_records[1]
        synthetic_record("openai/gpt-4o-mini", LONG, 20).save(run / "tensors", long_span)
        n_spans = sum(1 for _ in (run / "events.jsonl").open())
        size = (run / "events.jsonl").stat().st_size

        empty = workspace / "other-workspace"
        empty.mkdir()
        open_s, model_s, paint_s, past_s, span_s, reads_on_open = [], [], [], [], [], []
        open_cpu, past_cpu = [], []  # process CPU seconds: less swayed by other work on the machine
        long_s, long_cpu, click_s = [], [], []
        for _ in range(args.repeats):
            # a past run of the workspace: read and painted when the panel is shown
            panel = TracePanel(Ctx(workspace))  # type: ignore[arg-type]
            panel.resize(1280, 800)
            reads = 0
            t0, c0 = time.perf_counter(), time.process_time()
            panel.show()
            app.processEvents()
            panel.repaint()
            past_s.append(time.perf_counter() - t0)
            past_cpu.append(time.process_time() - c0)
            assert len(panel.models[run.name].tree) == n_spans
            reads_on_open.append(reads)
            panel.close()
            panel.deleteLater()
            app.processEvents()

            # Open… a run folder
            panel = TracePanel(Ctx(empty))  # type: ignore[arg-type]
            panel.resize(1280, 800)
            panel.show()
            app.processEvents()
            reads = 0
            t0, c0 = time.perf_counter(), time.process_time()
            panel.open_path(run)
            t1 = time.perf_counter()
            panel.repaint()
            t2 = time.perf_counter()
            open_cpu.append(time.process_time() - c0)
            app.processEvents()
            reads_on_open.append(reads)
            assert len(panel.models[run.name].tree) == n_spans
            open_s.append(t2 - t0)
            model_s.append(t1 - t0)
            paint_s.append(t2 - t1)

            # one call's Tokens tab
            view = panel.view
            view.right.setCurrentWidget(view.tokens)
            app.processEvents()
            t3 = time.perf_counter()
            view.select_span(big)
            view.tokens.repaint()
            span_s.append(time.perf_counter() - t3)
            assert view.tokens.record is not None and len(view.tokens.record) == 512, view.tokens.message.text()

            # a 10,000-token call's Tokens tab, then clicks on its tokens
            t3, c3 = time.perf_counter(), time.process_time()
            view.select_span(long_span)
            view.tokens.repaint()
            long_s.append(time.perf_counter() - t3)
            long_cpu.append(time.process_time() - c3)
            assert view.tokens.record is not None and len(view.tokens.record) == LONG, view.tokens.message.text()
            for i in (7, 2500, 5000, LONG - 1, 123):
                t3 = time.perf_counter()
                view.tokens.select_token(i)
                view.tokens.repaint()
                click_s.append(time.perf_counter() - t3)
                assert view.tokens.selected == i
            panel.close()
            panel.deleteLater()
            app.processEvents()

    results = {
        "spans": n_spans,
        "events_jsonl_mb": round(size / 2**20, 2),
        "token_records_on_disk": args.records + 0,
        "past_run_show_s_median": round(statistics.median(past_s), 4),
        "past_run_show_s_best": round(min(past_s), 4),
        "past_run_show_cpu_s_median": round(statistics.median(past_cpu), 4),
        "open_s_median": round(statistics.median(open_s), 4),
        "open_cpu_s_median": round(statistics.median(open_cpu), 4),
        "open_s_best": round(min(open_s), 4),
        "open_model_s_median": round(statistics.median(model_s), 4),
        "open_first_paint_s_median": round(statistics.median(paint_s), 4),
        "token_records_read_while_opening": max(reads_on_open),
        "target_open_s": TARGET_OPEN_S,
        "meets_target": max(statistics.median(open_s), statistics.median(past_s)) < TARGET_OPEN_S
        and max(reads_on_open) == 0,
        "span_token_view_s_median": round(statistics.median(span_s), 4),
        "span_token_view_tokens": 512,
        "span_token_view_top_k": 20,
        "long_span_token_view_tokens": LONG,
        "long_span_token_view_s_median": round(statistics.median(long_s), 4),
        "long_span_token_view_s_best": round(min(long_s), 4),
        "long_span_token_view_cpu_s_median": round(statistics.median(long_cpu), 4),
        "long_span_click_s_median": round(statistics.median(click_s), 4),
        "long_span_click_s_max": round(max(click_s), 4),
        "target_long_span_s": TARGET_LONG_SPAN_S,
        "target_click_s": TARGET_CLICK_S,
        "long_span_meets_target": statistics.median(long_s) <= TARGET_LONG_SPAN_S
        and statistics.median(click_s) <= TARGET_CLICK_S,
        "repeats": args.repeats,
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "qt_platform": os.environ.get("QT_QPA_PLATFORM"),
    }
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    for key, value in results.items():
        print(f"{key:36} {value}")
    return results


if __name__ == "__main__":
    main()
