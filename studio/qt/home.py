"""The central home page: where am I, what can I do, what ran recently."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout, QWidget

if TYPE_CHECKING:
    from studio.qt.main_window import MainWindow

RECENT_RUNS = 30


class HomePage(QWidget):
    def __init__(self, window: MainWindow):
        super().__init__()
        self.main_window = window
        self.setObjectName("studio:home")
        title = QLabel("<h2>Tensor Studio</h2>")
        self.summary = QLabel(wordWrap=True, textInteractionFlags=Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons = QHBoxLayout()
        for text, slot in (
            ("Run job…", window.run_job_dialog),
            ("Open file or run…", window.choose_file),
            ("Open workspace…", window.choose_workspace),
            ("Settings…", window.open_settings),
        ):
            button = QPushButton(text)
            button.clicked.connect(lambda _c=False, s=slot: s())
            buttons.addWidget(button)
        buttons.addStretch()
        self.runs = QListWidget()
        self.runs.setObjectName("studio:home:runs")
        self.runs.itemActivated.connect(self._open_run)
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(self.summary)
        layout.addLayout(buttons)
        layout.addWidget(QLabel("Recent runs — double-click to show their curves; drop files or run folders anywhere"))
        layout.addWidget(self.runs, 1)
        self.refresh()

    def refresh(self) -> None:
        studio = self.main_window.studio
        kinds = len(studio.host.job_kinds())
        loaded = sum(1 for r in studio.host.records.values() if r.status == "loaded")
        broken = sum(1 for r in studio.host.records.values() if not r.ok and r.status != "disabled")
        self.summary.setText(
            f"Workspace <b>{studio.workspace.name}</b> — {studio.workspace.root}<br>"
            f"{loaded} plugins loaded"
            + (f", <b>{broken} with problems</b> (see Plugins)" if broken else "")
            + f", {kinds} job kinds available."
        )
        self.runs.clear()
        for run in studio.store.list()[:RECENT_RUNS]:
            info = run.info()
            created = info.get("created")
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(created)) if isinstance(created, (int, float)) else ""
            item = QListWidgetItem(f"{when}   {info.get('kind', '?')}   {info.get('status', '?')}   {run.id}")
            item.setData(Qt.ItemDataRole.UserRole, str(run.dir))
            self.runs.addItem(item)

    def _open_run(self, item: QListWidgetItem) -> None:
        from pathlib import Path

        self.main_window.open_path(Path(item.data(Qt.ItemDataRole.UserRole)))
