"""Run the real GUI start-up, optionally start a long job, close the window: used by
test_gui_exit to check the process exits cleanly and leaves no worker behind."""

import sys

from PySide6.QtCore import QTimer

from studio.qt.app import run_gui
from studio.session import Studio


def main() -> int:
    with_job = sys.argv[1] == "job"
    studio = Studio.load()

    def ready(window):
        if with_job:
            QTimer.singleShot(100, lambda: print("JOB", window.submit_job(
                "diagnostics.stream", {"steps": 1_000_000, "rate": 200}).id, flush=True))
        QTimer.singleShot(2500, window.close)

    code = run_gui(studio, ready=ready)
    print("EXIT", code, flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
