"""Metrics panel: live and past scalar metrics as curves (pyqtgraph), one plot per metric.

Several runs overlay in each plot; smoothing (debiased EMA, like TensorBoard), log scale,
hover read-out, PNG and CSV export; past runs reopen from their ``events.jsonl``.

Events append to growable NumPy arrays (amortised O(1), no per-redraw copies); curves
are redrawn by a 2 Hz timer only when their data changed, with pyqtgraph's peak
downsampling and clip-to-view, so a run streaming tens of thousands of points a second
does not stall the GUI.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QDoubleSpinBox,
    QFileDialog,
    QGraphicsItem,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.api import Event, Metric, Panel, Status
from studio.core.curves import Series, short_label
from studio.core.runs import Run
from studio.qt.panels.ranges import RangeFollower

REDRAW_MS = 500  # 2 Hz: live enough for curves; painting is the GUI's main cost while a run trains
PLOT_COLUMNS = 2


def create(ctx) -> MetricsPanel:
    return MetricsPanel(ctx)


class RunCurves:
    def __init__(self, run_id: str, label: str, color: QColor):
        self.run_id = run_id
        self.label = label
        self.color = color
        self.series: dict[str, Series] = {}
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.visible = True
        self.status = ""
        self.item = QTreeWidgetItem([label, ""])  # the run's row in the run list


class MetricsPanel(QWidget, Panel):
    def __init__(self, ctx):
        super().__init__()
        self.ctx = ctx
        self.setObjectName("studio:metrics:panel")
        self.runs: dict[str, RunCurves] = {}
        self.plots: dict[str, pg.PlotItem] = {}
        self.dirty: set[tuple[str, str]] = set()
        self._hover_lines: dict[str, pg.InfiniteLine] = {}
        self._followers: dict[str, RangeFollower] = {}

        self.open_button = QPushButton("Open run…")
        self.open_button.clicked.connect(self._choose_run)
        self.smoothing = QDoubleSpinBox(
            objectName="smoothing",
            decimals=3,
            minimum=0.0,
            maximum=0.999,
            singleStep=0.05,
            value=0.6,
            prefix="smoothing ",
        )
        self.smoothing.valueChanged.connect(self._smoothing_changed)
        self.log_y = QCheckBox("log scale", objectName="log_y")
        self.log_y.toggled.connect(self._log_changed)
        # Off by default: under Qt's software rasteriser the grid is ~2/3 of a repaint's CPU
        # (56 → 20 ms for six plots), which a live run takes straight from training.
        self.grid = QCheckBox("grid", objectName="grid")
        self.grid.toggled.connect(self._grid_changed)
        png = QPushButton("Export PNG…")
        png.clicked.connect(lambda: self._export("png"))
        csv_button = QPushButton("Export CSV…")
        csv_button.clicked.connect(lambda: self._export("csv"))
        self.hover = QLabel(objectName="hover")
        self.hover.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        top = QHBoxLayout()
        for w in (self.open_button, self.smoothing, self.log_y, self.grid, png, csv_button):
            top.addWidget(w)
        top.addStretch()

        self.run_list = QTreeWidget(objectName="runs")
        self.run_list.setHeaderLabels(("Run", "Status"))
        self.run_list.setRootIsDecorated(False)
        self.run_list.itemChanged.connect(self._run_toggled)
        self.run_list.itemDoubleClicked.connect(lambda item, _col: self.run_list.setCurrentItem(item))
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setObjectName("plots")
        self._apply_background()
        self.empty = QLabel(
            "No metrics yet. Run a job (Jobs → Run job…) or open a past run.", alignment=Qt.AlignmentFlag.AlignCenter
        )
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(self.empty)
        rl.addWidget(self.graphics, 1)
        rl.addWidget(self.hover)
        split = QSplitter()
        split.addWidget(self.run_list)
        split.addWidget(right)
        split.setSizes([220, 700])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(top)
        layout.addWidget(split, 1)
        self.timer = QTimer(self, interval=REDRAW_MS, timeout=self.redraw)
        self.timer.start()
        self._update_empty()

    # ------------------------------------------------------------------ data in

    def handle_events(self, run_id: str, events: list[Event]) -> None:
        by_name: dict[str, tuple[list, list]] = {}
        status = None
        for e in events:
            if isinstance(e, Metric):
                xs, ys = by_name.setdefault(e.name, ([], []))
                xs.append(e.step)
                ys.append(e.value)
            elif isinstance(e, Status):
                status = e.status
        if by_name or run_id in self.runs:
            run = self._run(run_id)
            for name, (xs, ys) in by_name.items():
                self._series(run, name).extend(xs, ys)
                self.dirty.add((run_id, name))
            if status:
                run.status = status
                self._set_status(run)

    def open_path(self, path: Path) -> None:
        folder = path if path.is_dir() else path.parent
        self.load_run(Run(folder))

    def load_run(self, run: Run) -> RunCurves:
        """(Re)load a run's metrics from its event log."""
        old = self.runs.pop(run.id, None)
        if old is not None:
            self._remove_curves(old)
            for i in range(self.run_list.topLevelItemCount()):
                row = self.run_list.topLevelItem(i)
                if row is not None and row.data(0, Qt.ItemDataRole.UserRole) == run.id:
                    self.run_list.takeTopLevelItem(i)
                    break
        curves = self._run(run.id)
        for name, (steps, values) in run.metrics().items():
            self._series(curves, name).extend(steps, [math.nan if v is None else v for v in values])
            self.dirty.add((run.id, name))
        curves.status = run.info().get("status", "")
        self._set_status(curves)
        self.redraw()
        return curves

    def workspace_changed(self, workspace: Path) -> None:
        pass  # runs already shown stay until removed; new runs come from the new workspace

    def _run(self, run_id: str, label: str | None = None) -> RunCurves:
        run = self.runs.get(run_id)
        if run is None:
            color = pg.intColor(len(self.runs), hues=9, values=1, maxValue=230)
            run = RunCurves(run_id, label or short_label(run_id), color)
            self.runs[run_id] = run
            item = run.item
            item.setToolTip(0, run_id)
            item.setData(0, Qt.ItemDataRole.UserRole, run_id)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(0, Qt.CheckState.Checked)
            item.setForeground(0, color)
            self.run_list.blockSignals(True)
            self.run_list.insertTopLevelItem(0, item)
            self.run_list.blockSignals(False)
            self.run_list.resizeColumnToContents(0)
        return run

    def _series(self, run: RunCurves, name: str) -> Series:
        series = run.series.get(name)
        if series is None:
            series = run.series[name] = Series(self.smoothing.value())
        return series

    def _set_status(self, run: RunCurves) -> None:
        self.run_list.blockSignals(True)
        run.item.setText(1, run.status)
        self.run_list.blockSignals(False)

    # ------------------------------------------------------------------ drawing

    def redraw(self) -> None:
        if not self.dirty:
            return
        dirty, self.dirty = self.dirty, set()
        smoothed = self.smoothing.value() > 0
        touched: set[str] = set()
        for run_id, name in dirty:
            run = self.runs.get(run_id)
            if run is None or name not in run.series:
                continue
            plot = self._plot(name)
            curve = run.curves.get(name)
            if curve is None:
                curve = plot.plot(pen=pg.mkPen(run.color, width=1), name=run.label)  # 1 px: cosmetic, fastest
                curve.setDownsampling(auto=True, method="peak")
                curve.setClipToView(True)
                curve.setVisible(run.visible)
                run.curves[name] = curve
            x, y = run.series[name].arrays(smoothed)
            curve.setData(x, y)
            touched.add(name)
        for name in touched:
            self._fit(name)
        self._update_empty()

    def _fit(self, name: str) -> None:
        """Step the plot's range over its visible data, then settle it now rather than in the
        paint (pyqtgraph would queue a second paint for a range it finds while painting)."""
        smoothed, log_y = self.smoothing.value() > 0, self.log_y.isChecked()
        xs, ys = [], []
        for run in self.runs.values():
            if run.visible and name in run.series:
                x, y = run.series[name].arrays(smoothed)
                xs.append(x)
                ys.append(np.log10(y[y > 0]) if log_y else y)
        self._followers[name].fit(xs, ys)
        self.plots[name].getViewBox().prepareForPaint()

    def _fit_all(self) -> None:
        for name in self.plots:
            self._fit(name)

    def _plot(self, name: str) -> pg.PlotItem:
        plot = self.plots.get(name)
        if plot is None:
            index = len(self.plots)
            plot = self.graphics.addPlot(row=index // PLOT_COLUMNS, col=index % PLOT_COLUMNS, title=name)
            self._show_grid(plot, self.grid.isChecked())
            plot.setLabel("bottom", "step")
            for axis in ("left", "bottom"):  # painting axes was most of the GUI's CPU while a run streams:
                plot.getAxis(axis).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)  # cache them,
                plot.getAxis(axis).enableAutoSIPrefix(False)  # and keep labels fixed (no relayout per update)
            plot.setLogMode(y=self.log_y.isChecked())
            line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen((128, 128, 128), style=Qt.PenStyle.DashLine))
            line.hide()
            plot.addItem(line, ignoreBounds=True)
            self._hover_lines[name] = line
            plot.scene().sigMouseMoved.connect(lambda pos, n=name: self._on_hover(n, pos))
            self.plots[name] = plot
            self._followers[name] = RangeFollower(plot)
        return plot

    def _remove_curves(self, run: RunCurves) -> None:
        for name, curve in run.curves.items():
            if name in self.plots:
                self.plots[name].removeItem(curve)
        run.curves.clear()

    def _update_empty(self) -> None:
        has = bool(self.plots)
        self.empty.setVisible(not has)
        self.graphics.setVisible(has)

    def _apply_background(self) -> None:
        palette = QApplication.palette()
        self.graphics.setBackground(palette.color(QPalette.ColorRole.Base))

    def changeEvent(self, event) -> None:  # noqa: N802 - follow theme switches
        if event.type() == event.Type.PaletteChange:
            self._apply_background()
        super().changeEvent(event)

    # ------------------------------------------------------------------ controls

    def _smoothing_changed(self, value: float) -> None:
        for run in self.runs.values():
            for name, series in run.series.items():
                series.set_alpha(value)
                self.dirty.add((run.run_id, name))
        self.redraw()

    def _log_changed(self, on: bool) -> None:
        for plot in self.plots.values():
            plot.setLogMode(y=on)
        self._fit_all()

    def _grid_changed(self, on: bool) -> None:
        for plot in self.plots.values():
            self._show_grid(plot, on)

    @staticmethod
    def _show_grid(plot: pg.PlotItem, on: bool) -> None:
        plot.showGrid(x=on, y=on, alpha=0.2)

    def _run_toggled(self, item: QTreeWidgetItem, column: int) -> None:
        run = self.runs.get(item.data(0, Qt.ItemDataRole.UserRole))
        if run is None:
            return
        run.visible = item.checkState(0) == Qt.CheckState.Checked
        for curve in run.curves.values():
            curve.setVisible(run.visible)
        self._fit_all()

    def _on_hover(self, name: str, pos) -> None:
        plot = self.plots.get(name)
        if plot is None or not plot.sceneBoundingRect().contains(pos):
            return
        x = plot.vb.mapSceneToView(pos).x()
        line = self._hover_lines[name]
        line.setPos(x)
        line.show()
        self.hover.setText(self.hover_text(name, x))

    def hover_text(self, name: str, x: float) -> str:
        parts = []
        for run in self.runs.values():
            series = run.series.get(name)
            if series is None or not run.visible:
                continue
            hit = series.nearest(x)
            if hit is not None:
                parts.append(f"{run.label}: step {hit[0]:g} = {hit[1]:.5g}")
        return f"{name} — " + "   ".join(parts) if parts else ""

    def _choose_run(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open run folder", str(self.ctx.folders.runs))
        if folder:
            try:
                self.load_run(Run(Path(folder)))
            except Exception as exc:
                self.ctx.show_message(f"Could not open run {folder}: {exc}", "error")

    # ------------------------------------------------------------------ export

    def _export(self, fmt: str) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, f"Export {fmt.upper()}", f"metrics.{fmt}", f"{fmt.upper()} (*.{fmt})"
        )
        if path:
            (self.export_png if fmt == "png" else self.export_csv)(Path(path))

    def export_png(self, path: Path) -> None:
        self.redraw()
        if not self.graphics.grab().save(str(path)):
            self.ctx.show_message(f"Could not write {path}", "error")

    def export_csv(self, path: Path) -> None:
        """Long format: one row per point of every visible curve, raw and smoothed."""
        with open(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["run", "metric", "step", "value", "smoothed"])
            for run in self.runs.values():
                if not run.visible:
                    continue
                for name, series in run.series.items():
                    writer.writerows([run.run_id, name, *row] for row in series.csv_rows())

    # ------------------------------------------------------------------ state

    def save_state(self) -> dict:
        return {"smoothing": self.smoothing.value(), "log_y": self.log_y.isChecked(), "grid": self.grid.isChecked()}

    def restore_state(self, state: dict) -> None:
        self.smoothing.setValue(float(state.get("smoothing", self.smoothing.value())))
        self.log_y.setChecked(bool(state.get("log_y", False)))
        self.grid.setChecked(bool(state.get("grid", False)))
