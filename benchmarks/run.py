"""Shell benchmarks (issue 2), each with a baseline measured in the same run.

1. GUI cold start to first paint, and idle RSS — baseline: an empty Qt window.
2. Longest GUI event-loop stall while a CPU-heavy process job streams 200 metrics/s —
   baseline: the same probe with no job running.
3. Event throughput from a worker process to the UI (events reaching the Metrics panel),
   checking that the run log holds every event — baseline: the job's own emit rate.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]

BARE_QT = r"""
import json, time, psutil
t0 = time.perf_counter()
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QMainWindow
app = QApplication([])
w = QMainWindow(); w.resize(1400, 880)
seen = {}
class Spy(QObject):
    def eventFilter(self, o, e):
        if e.type() == QEvent.Type.Paint and "t" not in seen:
            seen["t"] = time.perf_counter(); QTimer.singleShot(0, app.quit)
        return False
spy = Spy(); w.installEventFilter(spy); w.show(); app.exec()
created = psutil.Process().create_time()
since = time.time() - (time.perf_counter() - seen["t"]) - created
print(json.dumps({"since_process_start_s": since, "rss_mb": psutil.Process().memory_info().rss / 2**20}))
"""


def _run_json(args: list[str], env: dict) -> dict:
    out = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def bench_startup(repeats: int) -> dict:
    home = tempfile.mkdtemp(prefix="ts-bench-")
    env = {**os.environ, "TENSOR_STUDIO_HOME": home}
    _run_json([sys.executable, "-m", "studio.qt.app", "--probe"], env)  # warm the OS file cache once
    studio_runs = [_run_json([sys.executable, "-m", "studio.qt.app", "--probe"], env) for _ in range(repeats)]
    bare_runs = [_run_json([sys.executable, "-c", BARE_QT], env) for _ in range(repeats)]
    studio_s = statistics.median(r["since_process_start_s"] for r in studio_runs)
    bare_s = statistics.median(r["since_process_start_s"] for r in bare_runs)
    studio_mb = statistics.median(r["rss_mb"] for r in studio_runs)
    bare_mb = statistics.median(r["rss_mb"] for r in bare_runs)
    return {
        "cold_start_to_first_paint_s": studio_s,
        "bare_qt_window_s": bare_s,
        "start_ratio": studio_s / bare_s,
        "idle_rss_mb": studio_mb,
        "bare_qt_rss_mb": bare_mb,
        "rss_ratio": studio_mb / bare_mb,
        "panels": studio_runs[0]["panels"],
    }


def _window():
    from studio.qt.app import ensure_app
    from studio.qt.main_window import MainWindow
    from studio.session import Studio

    os.environ["TENSOR_STUDIO_HOME"] = tempfile.mkdtemp(prefix="ts-bench-")
    studio = Studio.load()
    app = ensure_app()
    window = MainWindow(studio, restore_layout=False, quit_on_close=False, confirm_close=False)
    window.resize(1400, 880)
    window.show()
    return app, window


async def _stall_probe(seconds: float, interval_ms: int = 1) -> float:
    """Longest gap between ticks of a 1 ms QTimer, minus the interval: the GUI's worst stall."""
    from PySide6.QtCore import QTimer

    gaps: list[float] = []
    last = [time.perf_counter()]

    def tick() -> None:
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer(interval=interval_ms, timeout=tick)
    timer.start()
    await asyncio.sleep(seconds)
    timer.stop()
    return max(gaps[1:]) - interval_ms / 1000 if len(gaps) > 1 else float("nan")


async def bench_stall(window, seconds: float) -> dict:
    idle = await _stall_probe(min(seconds, 5.0))
    steps = int(200 * (seconds + 3))
    job = window.submit_job("diagnostics.stream", {"steps": steps, "rate": 200, "busy": True})
    while job.status != "running" or job.progress_done < 50:  # measure once metrics flow
        await asyncio.sleep(0.05)
    loaded = await _stall_probe(seconds)
    window.studio.jobs.cancel(job.id)
    await window.studio.jobs.wait(job)
    points = window.panels["studio:metrics"].runs[job.id].series["train/loss"].n
    return {
        "longest_stall_ms_200_metrics_per_s": loaded * 1000,
        "longest_stall_ms_idle": idle * 1000,
        "stall_job_points_drawn": points,
    }


async def bench_throughput(window, events: int) -> dict:
    from studio.api import Event, Metric

    received = {"n": 0, "first": None, "last": None}

    def count(run_id: str, batch: list[Event]) -> None:
        now = time.perf_counter()
        n = sum(1 for e in batch if isinstance(e, Metric))
        if n:
            received["first"] = received["first"] or now
            received["last"] = now
            received["n"] += n

    unsubscribe = window.studio.bus.subscribe(count, (Metric,))
    job = window.submit_job("diagnostics.stream", {"steps": events, "rate": 0, "busy": False})
    await window.studio.jobs.wait(job)
    unsubscribe()
    on_disk = sum(1 for e in job.run.events() if isinstance(e, Metric))
    panel_points = window.panels["studio:metrics"].runs[job.id].series["train/loss"].n
    ui_rate = received["n"] / (received["last"] - received["first"])
    emit_rate = job.result["events"] / job.result["seconds"]
    return {
        "events": events,
        "received_by_ui": received["n"],
        "in_run_log": on_disk,
        "in_metrics_panel": panel_points,
        "ui_events_per_s": ui_rate,
        "worker_emit_events_per_s": emit_rate,
        "throughput_ratio": ui_rate / emit_rate,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--suite",
        choices=["all", "shell", "trainer", "prompts"],
        default="all",
        help="shell: start-up, stalls, event throughput; trainer: the reference workload (~12 min); "
        "prompts: prompt-engine overhead and concurrency (~1 min)",
    )
    parser.add_argument("--dspy-python", default=None, help="prompts: a Python with dspy installed, for comparison")
    args = parser.parse_args()
    if args.suite in ("all", "prompts"):
        sys.path.insert(0, str(Path(__file__).parent))
        import prompts

        prompts.main(
            (["--quick"] if args.quick else []) + (["--dspy-python", args.dspy_python] if args.dspy_python else [])
        )
        if args.suite == "prompts":
            return
    if args.suite in ("all", "trainer"):
        sys.path.insert(0, str(Path(__file__).parent))
        import trainer

        trainer.main(["--iters", "300" if args.quick else "2000"])
        if args.suite == "trainer":
            return
    results: dict = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]}}
    results["startup"] = bench_startup(3 if args.quick else 5)

    import qasync

    app, window = _window()
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with loop:
        results["stall"] = loop.run_until_complete(bench_stall(window, 4.0 if args.quick else 10.0))
        results["throughput"] = loop.run_until_complete(bench_throughput(window, 100_000 if args.quick else 500_000))
    window.close_without_prompt()

    s, st, tp = results["startup"], results["stall"], results["throughput"]
    rows = [
        (
            "cold start to first paint",
            f"{s['cold_start_to_first_paint_s'] * 1000:.0f} ms",
            f"bare Qt window {s['bare_qt_window_s'] * 1000:.0f} ms",
            f"{s['start_ratio']:.2f}x",
            "<= 1500 ms",
        ),
        (
            "idle memory (RSS)",
            f"{s['idle_rss_mb']:.0f} MB",
            f"bare Qt window {s['bare_qt_rss_mb']:.0f} MB",
            f"{s['rss_ratio']:.2f}x",
            "<= 250 MB",
        ),
        (
            "longest GUI stall, 200 metrics/s job",
            f"{st['longest_stall_ms_200_metrics_per_s']:.1f} ms",
            f"idle GUI {st['longest_stall_ms_idle']:.1f} ms",
            "",
            "<= 50 ms",
        ),
        (
            "worker -> UI events/s",
            f"{tp['ui_events_per_s']:,.0f}",
            f"worker emit rate {tp['worker_emit_events_per_s']:,.0f}",
            f"{tp['throughput_ratio']:.2f}x",
            ">= 50,000",
        ),
        (
            "events lost",
            (
                f"{tp['events'] - tp['in_run_log']} of {tp['events']:,} in run log, "
                f"{tp['events'] - tp['received_by_ui']} at UI"
            ),
            "",
            "",
            "0",
        ),
    ]
    print(f"\n{'benchmark':<38} {'result':<26} {'baseline (same run)':<30} {'ratio':<7} target")
    for row in rows:
        print(f"{row[0]:<38} {row[1]:<26} {row[2]:<30} {row[3]:<7} {row[4]}")
    out = ROOT / "benchmarks" / "results.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
