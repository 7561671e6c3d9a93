"""Plugins panel: every discovered plugin, where it came from, whether it works and why not."""

from __future__ import annotations

from typing import cast

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QLabel,
    QPlainTextEdit,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

STATUS_MARK = {"loaded": "✔ loaded", "error": "⚠ error", "failed": "✖ failed", "disabled": "○ disabled"}


def create(ctx) -> PluginsPanel:
    return PluginsPanel(ctx)


class PluginsPanel(QWidget):
    def __init__(self, ctx):
        super().__init__()
        self.ctx = ctx
        self.tree = QTreeWidget(objectName="plugins")
        self.tree.setHeaderLabels(("Plugin", "Version", "Status", "Source"))
        self.tree.setRootIsDecorated(False)
        self.tree.currentItemChanged.connect(lambda *_: self._show_details())
        self.enabled = QCheckBox("Enabled (takes effect on the next start)", objectName="enabled")
        self.enabled.toggled.connect(self._toggle)
        self.details = QPlainTextEdit(readOnly=True, objectName="details")
        bottom = QWidget()
        bl = QVBoxLayout(bottom)
        bl.setContentsMargins(0, 0, 0, 0)
        bl.addWidget(self.enabled)
        bl.addWidget(self.details)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.tree)
        split.addWidget(bottom)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(QLabel("Installed plugins"))
        layout.addWidget(split)
        self.refresh()

    def refresh(self) -> None:
        self.tree.clear()
        for record in self.ctx._studio.host.records.values():
            item = QTreeWidgetItem(
                [
                    record.title,
                    record.version or "-",
                    STATUS_MARK.get(record.display_status, record.display_status),
                    record.source,
                ]
            )
            item.setData(0, Qt.ItemDataRole.UserRole, record.id)
            if record.problems:
                item.setToolTip(2, record.problems[-1].message)
            self.tree.addTopLevelItem(item)
        for col in range(4):
            self.tree.resizeColumnToContents(col)
        self._show_details()

    def showEvent(self, event) -> None:  # noqa: N802 - problems can appear after start (panel factories)
        self.refresh()
        super().showEvent(event)

    def _record(self):
        item = cast("QTreeWidgetItem | None", self.tree.currentItem())  # stubs omit None (no current item)
        return self.ctx._studio.host.records.get(item.data(0, Qt.ItemDataRole.UserRole)) if item is not None else None

    def _show_details(self) -> None:
        record = self._record()
        self.enabled.setEnabled(record is not None and record.id != "studio")
        if record is None:
            self.details.setPlainText("Select a plugin to see its details.")
            return
        self.enabled.blockSignals(True)
        self.enabled.setChecked(record.id not in self.ctx._studio.settings.disabled_plugins)
        self.enabled.blockSignals(False)
        lines = [
            f"{record.title} ({record.id}) {record.version}",
            f"module: {record.module}",
            f"source: {record.source}",
            f"status: {record.display_status}",
        ]
        if record.info and record.info.description:
            lines += ["", record.info.description]
        for problem in record.problems:
            lines += ["", f"Problem in {problem.where}: {problem.message}", problem.traceback]
        self.details.setPlainText("\n".join(lines))

    def _toggle(self, enabled: bool) -> None:
        record = self._record()
        if record is None:
            return

        def change(settings) -> None:  # merged with the file: another process may have changed it
            disabled = set(settings.disabled_plugins)
            (disabled.discard if enabled else disabled.add)(record.id)
            settings.disabled_plugins = sorted(disabled)

        self.ctx._studio.update_settings(change)
