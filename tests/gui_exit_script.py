"""Run the real GUI start-up, optionally start a long job, close the window: used by
test_gui_exit to check the process exits cleanly and leaves no worker behind."""

import sys

from PySide6.QtCore import QTimer

from studio.qt.app import run_gui
from studio.session import Studio


def start_prompt_run(window) -> None:
    """Open the workflow editor and the Traces panel, and start a run whose model call
    takes 30 s: the window closes in the middle of it."""
    import json
    import os
    import tempfile
    from pathlib import Path

    from studio.fake_llm import FakeLLMServer

    server = FakeLLMServer(["[[ ## answer ## ]] late"], latency=30).start()
    window._test_server = server
    os.environ.pop("OPENAI_API_KEY", None)  # a key here would make the file's api_base ask for consent
    path = Path(tempfile.mkdtemp()) / "slow.workflow.json"
    path.write_text(
        json.dumps(
            {
                "format": "tensor-studio.workflow",
                "version": 1,
                "name": "slow",
                "model": {"model": "openai/fake", "api_base": server.url},
                "inputs": {"question": {"type": "str"}},
                "outputs": {"answer": "a.answer"},
                "nodes": {
                    "a": {
                        "type": "prompts.predict",
                        "inputs": {"question": "input.question"},
                        "params": {"signature": "question -> answer"},
                    }
                },
            }
        )
    )
    window.show_panel("prompts:traces")
    editor = window.show_panel("prompts:editor")
    editor.open_path(path)
    print("JOB", editor.run({"question": "x"}), flush=True)


def main() -> int:
    mode = sys.argv[1]
    with_job = mode in ("job", "ctrl-c")
    studio = Studio.load()

    def ready(window):
        if mode == "prompts":
            QTimer.singleShot(100, lambda: start_prompt_run(window))
        if with_job:
            QTimer.singleShot(
                100,
                lambda: print(
                    "JOB", window.submit_job("diagnostics.stream", {"steps": 1_000_000, "rate": 200}).id, flush=True
                ),
            )
        if mode != "ctrl-c":  # there the test presses Ctrl-C (SIGINT to the process group)
            QTimer.singleShot(2500, window.close)

    code = run_gui(studio, ready=ready)
    print("EXIT", code, flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
