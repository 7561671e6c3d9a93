"""Starting and stopping the GUI.

qasync runs asyncio inside Qt's event loop, so jobs, the event bus and widgets share the
GUI thread and need no locks. The exit order matters (qasync + PySide6 can crash at
interpreter exit otherwise): window closes → jobs are cancelled and their workers
reaped → the loop stops and is closed → the window and the application are deleted.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

T_IMPORT = time.perf_counter()


def ensure_app():
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1])
        app.setApplicationName("Tensor Studio")
        app.setOrganizationName("Tensor Studio")
        app.setDesktopFileName("tensor-studio")
        icon = Path(__file__).resolve().parents[2] / "resources" / "icons" / "tensor-studio.svg"
        if icon.exists():  # a source checkout or editable install
            from PySide6.QtGui import QIcon

            app.setWindowIcon(QIcon(str(icon)))
    install_wheel_guard(app)
    return app


def install_wheel_guard(app) -> None:
    """Once per application: the mouse wheel over a spin box, combo box or slider in a
    scrolling panel scrolls the panel, unless that field has the keyboard focus (click
    it, or Tab to it, to change it with the wheel). Without this, scrolling down a long
    form changed whichever value passed under the pointer."""
    if getattr(app, "_studio_wheel_guard", None) is None:
        app._studio_wheel_guard = _wheel_guard()
        app.installEventFilter(app._studio_wheel_guard)


def _wheel_guard():
    from PySide6.QtCore import QEvent, QObject, Qt
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import (
        QAbstractScrollArea,
        QAbstractSlider,
        QAbstractSpinBox,
        QApplication,
        QComboBox,
        QScrollBar,
    )

    wheel, polish = QEvent.Type.Wheel, QEvent.Type.Polish

    def guarded(obj) -> bool:
        return isinstance(obj, (QAbstractSpinBox, QComboBox)) or (
            isinstance(obj, QAbstractSlider) and not isinstance(obj, QScrollBar)
        )

    class WheelGuard(QObject):
        def eventFilter(self, obj, event):  # noqa: N802 - Qt naming
            kind = event.type()
            if kind == polish and guarded(obj) and obj.focusPolicy() == Qt.FocusPolicy.WheelFocus:
                obj.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # the wheel no longer takes the focus
            elif kind == wheel and guarded(obj) and not obj.hasFocus():
                area = obj.parentWidget()
                while area is not None and not isinstance(area, QAbstractScrollArea):
                    area = area.parentWidget()
                if area is not None:  # the panel scrolls instead
                    viewport = area.viewport()
                    position = viewport.mapFromGlobal(obj.mapToGlobal(event.position()))
                    QApplication.sendEvent(
                        viewport,
                        QWheelEvent(
                            position,
                            event.globalPosition(),
                            event.pixelDelta(),
                            event.angleDelta(),
                            event.buttons(),
                            event.modifiers(),
                            event.phase(),
                            event.inverted(),
                        ),
                    )
                    return True
            return False

    return WheelGuard()


def run_gui(studio, paths: list[Path] | None = None, ready=None) -> int:
    """Open the main window and run until it is closed. ``ready(window)`` is called once
    the window is shown (scripts and tests drive the real start-up path through it)."""
    import qasync

    from studio.qt.main_window import MainWindow
    from studio.qt.theme import apply_theme

    app = ensure_app()
    apply_theme(app, studio.settings.theme)
    collecting = gc.isenabled()
    collector = _collect_on_the_gui_thread(app)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    window = MainWindow(studio)
    window.show()
    for path in paths or []:
        window.open_path(Path(path))
    if ready is not None:
        ready(window)
    quit_requested = asyncio.Event()
    app.aboutToQuit.connect(quit_requested.set)
    previous_handler = _close_on_ctrl_c(window)
    try:
        with loop:
            loop.run_until_complete(quit_requested.wait())
    finally:
        signal.signal(signal.SIGINT, previous_handler)
        studio.jobs.terminate_all()  # a quit that bypassed the window's close (SIGTERM, app.quit)
        asyncio.set_event_loop(None)
        window.deleteLater()
        del window
        collector.stop()
        if collecting:  # as it was (a test session keeps it off)
            gc.enable()
    studio.save_settings()
    return 0


def _collect_on_the_gui_thread(app):
    """The cycle collector runs here only (``studio.core.garbage``): off automatically, and
    a timer on the GUI thread collects what is due, ten times a second."""
    from PySide6.QtCore import QTimer

    from studio.core.garbage import collect_due

    gc.disable()
    timer = QTimer(app)
    timer.timeout.connect(collect_due)
    timer.start(100)
    return timer


def _close_on_ctrl_c(window):
    """Ctrl-C in the terminal that started the studio closes the window as its close button
    does (running jobs are cancelled and recorded; the workers ignore the key themselves).
    Without this, the KeyboardInterrupt surfaced in whichever callback ran next, printed a
    traceback and left the studio running. Python runs a signal handler only between
    bytecodes, so a timer wakes the interpreter while Qt waits. Returns the old handler."""
    from PySide6.QtCore import QTimer

    window._ctrl_c_wakeup = QTimer(window, interval=200)
    window._ctrl_c_wakeup.timeout.connect(lambda: None)
    window._ctrl_c_wakeup.start()
    return signal.signal(signal.SIGINT, lambda *_: QTimer.singleShot(0, window.close))


def probe_gui(studio, timeout_s: float = 20.0) -> dict[str, Any]:
    """Open the main window offscreen with every panel created, wait for its first paint,
    close it and report timings (``tensor-studio doctor --gui``)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QEvent, QObject, QTimer

    from studio.qt.main_window import MainWindow
    from studio.qt.theme import apply_theme

    t0 = time.perf_counter()
    app = ensure_app()
    apply_theme(app, studio.settings.theme)
    window = MainWindow(studio, restore_layout=False, show_all_panels=True)
    painted: dict[str, float] = {}

    class PaintSpy(QObject):
        def eventFilter(self, obj, event):  # noqa: N802 - Qt naming
            if event.type() == QEvent.Type.Paint and "t" not in painted:
                painted["t"] = time.perf_counter()
                QTimer.singleShot(0, app.quit)
            return False

    spy = PaintSpy()
    window.installEventFilter(spy)
    QTimer.singleShot(int(timeout_s * 1000), app.quit)
    window.show()
    app.exec()
    t1 = painted.get("t", time.perf_counter())
    report = {
        "startup_s": t1 - t0,
        "since_process_start_s": _since_process_start(t1),
        "panels": window.created_panel_count(),
        "panel_problems": window.panel_problems(),
        "painted": "t" in painted,
        "rss_mb": _rss_mb(),
    }
    window.removeEventFilter(spy)
    window.close_without_prompt()
    window.deleteLater()
    app.processEvents()
    return report


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def _since_process_start(t_perf: float) -> float:
    import psutil

    created = psutil.Process().create_time()
    return time.time() - (time.perf_counter() - t_perf) - created


def _probe_main() -> None:
    """``python -m studio.qt.app --probe``: cold-start the GUI offscreen, print a JSON report."""
    import json

    from studio.session import Studio

    studio = Studio.load()
    report = probe_gui(studio)
    print(json.dumps(report), flush=True)


if __name__ == "__main__" and "--probe" in sys.argv:
    _probe_main()
