"""Issue 18's speed targets in one command: runs the four inspection benchmarks, each in its
own process (each measures its variants against each other in the same run), then prints
every figure against its target.

    .venv/bin/python benchmarks/inspection.py [--quick]

1. ``inspect_generation.py`` — recording logprobs + top-20 costs ≤ 3 % of tokens/s; the
   key/value cache's speed-up at identical outputs.
2. ``inspect_engine.py``     — a full inspection of 256 tokens ≤ 1.5 × a bare forward pass.
3. ``inspect_gui.py``        — the Inspector's first paint ≤ 100 ms after the data is ready;
   the longest GUI stall at 4,096 tokens ≤ 50 ms.
4. ``inspect_traces.py``     — a 10,000-span trace opens in < 1 s, reading no token data.

Each writes its own ``benchmarks/inspect-*-results.json``; the summary reads them back.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run(script: str, *args: str) -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")}
    print(f"--- {script} {' '.join(args)}", flush=True)
    subprocess.run([sys.executable, str(HERE / script), *args], check=True, env=env)


def read(name: str) -> dict:
    return json.loads((HERE / f"inspect-{name}-results.json").read_text())


def summary() -> list[tuple[str, str, str, bool | None]]:
    rows: list[tuple[str, str, str, bool | None]] = []
    gen = read("generation")
    overhead = gen["recording_overhead_no_cache_pct"]
    rows.append(("recording overhead, no cache", f"{overhead:+.1f} %", "≤ 3 %", overhead <= 3))
    cached = gen["recording_overhead_cache_pct"]
    rows.append(("recording overhead, with the cache", f"{cached:+.1f} %", "(≤ 3 %)", cached <= 3))
    rows.append(("recorder alone, per token", f"{gen['recorder_alone_us_per_token']:.0f} µs", "", None))
    speedup = gen["cache_speedup_vs_b"]
    same = gen["identical_greedy"] and gen["identical_seeded_samples"]
    rows.append(("key/value cache speed-up (240 tokens)", f"{speedup:.1f}×", "identical outputs", same))
    engine = read("engine")
    for key, entry in sorted(engine.items()):
        ratio = entry.get("cpu_ratio", entry["ratio"])
        rows.append((f"full inspection / bare forward ({key})", f"{ratio:.2f}×", "≤ 1.5×", ratio <= 1.5))
    gui = read("gui")
    paint = gui["first_paint"]["median_ms"]
    rows.append(("Inspector first paint (256 tokens)", f"{paint:.0f} ms", "≤ 100 ms", paint <= 100))
    stall = gui["attention_4096"]["longest_stall_ms"]
    rows.append(("longest GUI stall, 4,096-token attention", f"{stall:.0f} ms", "≤ 50 ms", stall <= 50))
    traces = read("traces")
    opened = traces["open_s_median"]
    rows.append(("open a 10,000-span trace", f"{opened:.2f} s", "< 1 s", opened < 1.0))
    rows.append(("token records read while opening", str(traces["token_records_read_while_opening"]), "0", None))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer runs (a smoke test, not figures)")
    parser.add_argument("--summary", action="store_true", help="only print the last results")
    args = parser.parse_args()
    if not args.summary:
        quick = ["--quick"] if args.quick else []
        run("inspect_generation.py", *quick)
        run("inspect_engine.py", "--threads", "1", *(["--runs", "5"] if args.quick else []))
        run("inspect_engine.py", "--threads", "1", "--attention", "xcorr", *(["--runs", "5"] if args.quick else []))
        run("inspect_gui.py", *(["--quick", "--runs", "3", "--repeats", "1"] if args.quick else []))
        run("inspect_traces.py", *(["--repeats", "2"] if args.quick else []))
    width = max(len(r[0]) for r in summary())
    for name, value, target, ok in summary():
        mark = "" if ok is None else ("ok" if ok else "MISSED")
        print(f"{name:<{width}}  {value:>10}  {target:<18} {mark}")


if __name__ == "__main__":
    main()
