"""Metrics panel: live and past scalar metrics as curves (pyqtgraph), one plot per metric.

Runs are listed on the left, newest first, each with a tick box, its colour, kind, start
and status. As in TensorBoard and W&B, the newest run is in focus and drawn; older runs
stay listed and are drawn when the user ticks them (``studio.core.curves.RunTicks``, kept
across restarts). The workspace's past runs that logged metrics are listed too; a run's
curves are read from its ``events.jsonl`` when it is first ticked.

Plots are grouped in one section per job kind (a self-test never squeezes a training
curve), only ticked runs are drawn, and each plot's x range follows its ticked runs. Plots
keep ``MIN_PLOT_HEIGHT`` and the panel scrolls rather than squash them. Smoothing
(debiased EMA, like TensorBoard) draws the raw curve faintly behind the smoothed one; a
metric with a single point is drawn as a marker, and a sparse one (fewer than
``SPARSE_POINTS``, say four validation losses) raw, as markers and a line. Plots of a
kind come losses first, then ``val/`` metrics, then the rest by name. Log scale, hover read-out, PNG and CSV
export.

Events append to growable NumPy arrays (amortised O(1), no per-redraw copies); curves
are redrawn by a 2 Hz timer only when their data changed, with pyqtgraph's peak
downsampling and clip-to-view, so a run streaming tens of thousands of points a second
does not stall the GUI.
"""

from __future__ import annotations

import csv
import math
import zlib
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtGui import QColor, QIcon, QPalette, QPixmap, QWheelEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QCheckBox,
    QDoubleSpinBox,
    QFileDialog,
    QGraphicsItem,
    QGridLayout,
    QLabel,
    QScrollArea,
    QSplitter,
    QToolBar,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.api import Event, Metric, Panel, Status
from studio.core.curves import (
    ACTIVE_STATUSES,
    OTHER_KIND,
    RunTicks,
    Series,
    logs_metrics,
    plot_sections,
    run_kind,
    run_name,
    run_started,
    short_label,
)
from studio.core.runs import Run, RunStore
from studio.qt.panels.ranges import RangeFollower
from studio.qt.theme import readable

REDRAW_MS = 500  # 2 Hz: live enough for curves; painting is the GUI's main cost while a run trains
MIN_PLOT_HEIGHT = 160  # below this a plot's labels overlap: the panel scrolls instead
MIN_PLOT_WIDTH = 320  # a section has as many columns as fit at this width (1 to MAX_COLUMNS)
MAX_COLUMNS = 3
RAW_ALPHA = 60  # of 255: the raw curve, drawn faintly behind a smoothed one
MARKER_SIZE = 8  # a metric with a single point is a marker of this size
SPARSE_MARKER_SIZE = 5  # the points of a sparse series (drawn raw, not smoothed)
LISTED_RUNS = 60  # past runs with metrics listed from the workspace, newest first
SCANNED_RUNS = 300  # run folders looked at to find them
# Run colours: matplotlib's tab10 less its grey (the hover line is grey), each darkened or
# lightened just enough for 3:1 against the plot background (WCAG's floor for graphics).
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf")
COLORS = len(PALETTE)
LINE_CONTRAST = 3.0
COLUMNS = ("Started", "Kind", "Status", "Run")
NARROW = 640  # below this width the run list goes above the plots instead of beside them


def create(ctx) -> MetricsPanel:
    return MetricsPanel(ctx)


def background() -> QColor:
    return QApplication.palette().color(QPalette.ColorRole.Base)


def run_color(index: int) -> QColor:
    return readable(PALETTE[index % COLORS], background(), minimum=LINE_CONTRAST)


def swatch(color: QColor) -> QIcon:
    pixmap = QPixmap(12, 12)
    pixmap.fill(color)
    return QIcon(pixmap)


class RunCurves:
    """One listed run: its series (once loaded), the curves drawn for it and its row."""

    def __init__(self, run_id: str, color_index: int, info: dict | None = None, folder: Path | None = None):
        info = info or {}
        self.run_id = run_id
        self.label = short_label(run_id)
        self.color_index = color_index
        self.color = run_color(color_index)
        kind = info.get("kind")
        self.kind = kind if isinstance(kind, str) and kind != "?" else run_kind(run_id)
        self.section = self.kind or OTHER_KIND
        self.sort_key, started = run_started(run_id, info.get("created"))
        status = info.get("status")
        self.status = status if isinstance(status, str) else ""
        self.folder = folder  # where its curves are read from when first ticked
        self.loaded = folder is None  # a live run's curves come as events
        self.visible = False  # ticked and drawn
        self.series: dict[str, Series] = {}
        self.curves: dict[str, pg.PlotDataItem] = {}  # the drawn line: smoothed, or raw without smoothing
        self.raw: dict[str, pg.PlotDataItem] = {}  # the raw line, faint, behind the smoothed one
        self.item = QTreeWidgetItem([started or "—", self.kind, self.status, run_name(run_id)])
        title = info.get("title")
        tip = f"{title}\n{run_id}" if isinstance(title, str) and title else run_id
        for column in range(len(COLUMNS)):
            self.item.setToolTip(column, tip)
        self.item.setData(0, Qt.ItemDataRole.UserRole, run_id)
        self.item.setFlags(self.item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        self.item.setCheckState(0, Qt.CheckState.Unchecked)
        self.item.setIcon(0, swatch(self.color))


class MetricPlot:
    """The plot of one metric of one job kind."""

    def __init__(self, section: str, name: str, log_y: bool, grid: bool, background: QColor):
        self.section, self.name = section, name
        self.widget = pg.PlotWidget(title=name)
        self.widget.setObjectName(f"plot:{section}:{name}")
        self.widget.setMinimumSize(MIN_PLOT_WIDTH // 2, MIN_PLOT_HEIGHT)
        self.widget.setBackground(background)
        self.item: pg.PlotItem = self.widget.getPlotItem()
        self.item.showGrid(x=grid, y=grid, alpha=0.2)
        for axis in ("left", "bottom"):  # painting axes was most of the GUI's CPU while a run streams:
            self.item.getAxis(axis).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)  # cache them,
            self.item.getAxis(axis).enableAutoSIPrefix(False)  # and keep labels fixed (no relayout per update)
        self.item.setLogMode(y=log_y)
        self.hover_line = pg.InfiniteLine(
            angle=90, movable=False, pen=pg.mkPen((128, 128, 128), style=Qt.PenStyle.DashLine)
        )
        self.hover_line.hide()
        self.item.addItem(self.hover_line, ignoreBounds=True)
        self.follower = RangeFollower(self.item)


class Section:
    """A job kind's header and the grid of its plots."""

    def __init__(self, kind: str):
        self.widget = QWidget(objectName=f"section:{kind}")
        self.header = QLabel(f"<b>{kind}</b>")
        self.grid = QGridLayout()
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setSpacing(4)
        layout = QVBoxLayout(self.widget)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.header)
        layout.addLayout(self.grid, 1)


class MetricsPanel(QWidget, Panel):
    def __init__(self, ctx):
        super().__init__()
        self.ctx = ctx
        self.setObjectName("studio:metrics:panel")
        self.runs: dict[str, RunCurves] = {}
        self.ticks = RunTicks()
        self.plots: dict[tuple[str, str], MetricPlot] = {}
        self.sections: dict[str, Section] = {}
        self.dirty: set[tuple[str, str]] = set()
        self._layout_key: object = None
        self._newest_seen: str | None = None  # the newest run the last session listed (restore_state)
        # colours that are not a run's own (its id's): chosen when two drawn runs had the
        # same, and kept across restarts so a run keeps its colour
        self.colours: dict[str, int] = {}

        self.smoothing = QDoubleSpinBox(
            objectName="smoothing",
            decimals=3,
            minimum=0.0,
            maximum=0.999,
            singleStep=0.05,
            value=0.6,
            prefix="smoothing ",
        )
        self.smoothing.setToolTip("Smoothed curves are drawn over the raw ones, which stay faintly visible")
        self.smoothing.valueChanged.connect(self._smoothing_changed)
        self.log_y = QCheckBox("log scale", objectName="log_y")
        self.log_y.toggled.connect(self._log_changed)
        # Off by default: under Qt's software rasteriser the grid is ~2/3 of a repaint's CPU
        # (56 → 20 ms for six plots), which a live run takes straight from training.
        self.grid = QCheckBox("grid", objectName="grid")
        self.grid.toggled.connect(self._grid_changed)
        self.hover = QLabel(objectName="hover")
        self.hover.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        top = QToolBar(objectName="metrics:toolbar")  # folds what does not fit into a » menu
        top.addAction("Open run…", self._choose_run)
        top.addWidget(self.smoothing)
        top.addWidget(self.log_y)
        top.addWidget(self.grid)
        top.addAction("Export PNG…", lambda: self._export("png"))
        top.addAction("Export CSV…", lambda: self._export("csv"))

        self.run_list = QTreeWidget(objectName="runs")
        self.run_list.setHeaderLabels(COLUMNS)
        self.run_list.setRootIsDecorated(False)
        self.run_list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.run_list.setToolTip(
            "Tick the runs to draw; a new run is ticked when it starts. Double-click a run to draw it alone."
        )
        self.run_list.itemChanged.connect(self._run_toggled)
        self.run_list.itemDoubleClicked.connect(self._only_this_run)

        self.content = QWidget(objectName="plots")
        self.content_layout = QVBoxLayout(self.content)
        self.content_layout.setContentsMargins(2, 0, 2, 2)
        self.plots_area = QScrollArea(objectName="plots:scroll", widgetResizable=True)
        self.plots_area.setWidget(self.content)
        self.plots_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.plots_area.viewport().installEventFilter(self)
        self.empty = QLabel(alignment=Qt.AlignmentFlag.AlignCenter, wordWrap=True)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(self.empty)
        rl.addWidget(self.plots_area, 1)
        rl.addWidget(self.hover)
        self.split = QSplitter(objectName="metrics:split")
        self.split.addWidget(self.run_list)
        self.split.addWidget(right)
        self.split.setStretchFactor(1, 1)
        self.split.setSizes([230, 700])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(top)
        layout.addWidget(self.split, 1)
        self.timer = QTimer(self, interval=REDRAW_MS, timeout=self.redraw)
        self.timer.start()
        self._update_empty()
        QTimer.singleShot(0, self, self.list_workspace_runs)  # after the window's first paint

    # ------------------------------------------------------------------ runs

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
        run = self.runs.get(run_id)
        if run is None and not by_name:
            return  # a run without metrics (yet) is not listed
        new = run is None
        if run is None:
            run = self._add_run(run_id, self._live_info(run_id))
        if status:
            run.status = str(status)
            self._set_status(run)
        if not run.loaded:
            return  # listed from disk and not drawn yet: read from its event log when ticked
        for name, (xs, ys) in by_name.items():
            self._series(run, name).extend(xs, ys)
            self.dirty.add((run_id, name))
        if new:
            self.focus(run_id)

    def _live_info(self, run_id: str) -> dict:
        try:
            run = Run(self.ctx.folders.run_dir(run_id))
        except (ValueError, AttributeError, TypeError):
            return {}
        return run.info() if (run.dir / "run.json").exists() else {}

    def open_path(self, path: Path) -> None:
        folder = path if path.is_dir() else path.parent
        self.load_run(Run(folder))

    def load_run(self, run: Run) -> RunCurves:
        """(Re)load a run's metrics from its event log, and bring it into focus."""
        curves = self.runs.get(run.id)
        if curves is not None:
            self._remove_curves(curves)
            curves.series.clear()
            curves.folder, curves.loaded = run.dir, False
        else:
            curves = self._add_run(run.id, run.info(), run.dir)
        self._load(curves)
        self.focus(run.id)
        return curves

    def focus(self, run_id: str) -> None:
        """Tick ``run_id`` and untick the runs ticked automatically before it (not those the
        user ticked, nor other runs still active)."""
        active = [r.run_id for r in self.runs.values() if r.status in ACTIVE_STATUSES]
        self.ticks.focus(run_id, keep=active)
        self._apply_ticks()

    def list_workspace_runs(self) -> None:
        """List the workspace's past runs that logged metrics (unticked, not read yet); tick
        those remembered, or else the newest."""
        try:
            folder = Path(self.ctx.folders.runs)
        except (AttributeError, TypeError):
            return
        listed: list[str] = []
        for run in RunStore(folder).list()[:SCANNED_RUNS]:
            if len(listed) >= LISTED_RUNS:
                break
            if run.id in self.runs or not _is_text(run.id):
                continue  # a folder name that is not UTF-8 would lose its bad byte in the list's rows
            info = run.info()
            if info.get("status") in ACTIVE_STATUSES or not logs_metrics(run.events_path):
                continue  # an active run's curves come live
            self._add_run(run.id, info, run.dir)
            listed.append(run.id)
        if listed:
            self.ticks.listed(listed[0], self.runs, self._newest_seen)
        self._newest_seen = None  # the last session's: used once
        self._apply_ticks()

    def workspace_changed(self, workspace: Path) -> None:
        """Show the new workspace's runs; runs still active stay."""
        for run in list(self.runs.values()):
            if run.status not in ACTIVE_STATUSES:
                self._remove_run(run)
        self.list_workspace_runs()

    def runs_deleted(self, run_ids: list[str]) -> None:
        """Deleted runs leave the list and the plots (an active run cannot be deleted)."""
        gone = [self.runs[r] for r in run_ids if r in self.runs and self.runs[r].status not in ACTIVE_STATUSES]
        for run in gone:
            self._remove_run(run)
        if not gone:
            return
        self.hover.clear()  # it may read out a deleted run
        if self.runs and not self.ticks.ticked & set(self.runs):  # the run in view was deleted: the newest left
            self.focus(max(self.runs.values(), key=lambda r: r.sort_key).run_id)
        else:
            self._apply_ticks()

    def _add_run(self, run_id: str, info: dict, folder: Path | None = None) -> RunCurves:
        old = self.runs.get(run_id)
        if old is not None:
            self._remove_run(old)
        for i in range(self.run_list.topLevelItemCount()):  # a row left without its run
            row = self.run_list.topLevelItem(i)
            if row is not None and row.data(0, Qt.ItemDataRole.UserRole) == run_id:
                self.run_list.takeTopLevelItem(i)
                break
        colour = zlib.crc32(run_id.encode("utf-8", "surrogateescape")) % COLORS  # the same each session
        run = RunCurves(run_id, colour, info, folder)
        self.runs[run_id] = run
        if run_id in self.colours:  # a colour chosen for it in an earlier session
            self._set_color(run, self.colours[run_id])
        index = 0  # newest first; a run without a date goes on top
        while run.sort_key and index < self.run_list.topLevelItemCount():
            row = self.run_list.topLevelItem(index)
            other = self.runs.get(row.data(0, Qt.ItemDataRole.UserRole)) if row is not None else None
            if other is not None and 0 < other.sort_key <= run.sort_key:
                break
            index += 1
        self.run_list.blockSignals(True)
        self.run_list.insertTopLevelItem(index, run.item)
        self.run_list.blockSignals(False)
        for column in range(len(COLUMNS)):
            self.run_list.resizeColumnToContents(column)
        return run

    def _remove_run(self, run: RunCurves) -> None:
        self._remove_curves(run)
        self.runs.pop(run.run_id, None)
        self.ticks.remove(run.run_id)
        index = self.run_list.indexOfTopLevelItem(run.item)
        if index >= 0:
            self.run_list.takeTopLevelItem(index)
        self._layout_key = None

    def _load(self, run: RunCurves) -> bool:
        if run.loaded or run.folder is None:
            return True
        try:
            stored = Run(run.folder)
            metrics = stored.metrics()
        except Exception as exc:
            self.ctx.show_message(f"Could not read the curves of {run.run_id}: {exc}", "error")
            return False
        for name, (steps, values) in metrics.items():
            self._series(run, name).extend(steps, [math.nan if v is None else v for v in values])
        run.loaded = True
        status = stored.info().get("status")
        if isinstance(status, str):
            run.status = status
            self._set_status(run)
        return True

    def _series(self, run: RunCurves, name: str) -> Series:
        series = run.series.get(name)
        if series is None:
            series = run.series[name] = Series(self.smoothing.value())
        return series

    def _set_status(self, run: RunCurves) -> None:
        self.run_list.blockSignals(True)
        run.item.setText(2, run.status)
        self.run_list.blockSignals(False)

    # ------------------------------------------------------------------ ticks

    def _run_toggled(self, item: QTreeWidgetItem, column: int) -> None:
        run_id = item.data(0, Qt.ItemDataRole.UserRole)
        if run_id not in self.runs:
            return
        on = item.checkState(0) == Qt.CheckState.Checked
        if on != (run_id in self.ticks):
            self.ticks.set_ticked(run_id, on)
            self._apply_ticks()

    def _only_this_run(self, item: QTreeWidgetItem, _column: int = 0) -> None:
        """Double-click: draw this run alone."""
        run_id = item.data(0, Qt.ItemDataRole.UserRole)
        if run_id in self.runs:
            for other in list(self.ticks.ticked):
                self.ticks.set_ticked(other, False)
            self.ticks.focus(run_id)
            self._apply_ticks()

    def set_ticked(self, run_id: str, on: bool) -> None:
        """Tick or untick a run, as the user does in the run list."""
        self.runs[run_id].item.setCheckState(0, Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)

    def _apply_ticks(self) -> None:
        """Make the drawn runs, their check boxes and the plots follow ``self.ticks``."""
        self.run_list.blockSignals(True)
        try:
            for run in self.runs.values():
                on = run.run_id in self.ticks
                if on and not self._load(run):
                    self.ticks.remove(run.run_id)
                    on = False
                if on != run.visible:
                    run.visible = on
                    if on:
                        self._distinct_color(run)
                        self.dirty.update((run.run_id, name) for name in run.series)
                    else:
                        for curve in (*run.curves.values(), *run.raw.values()):
                            curve.hide()
                run.item.setCheckState(0, Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
        finally:
            self.run_list.blockSignals(False)
        self.redraw()
        self._relayout()
        self._fit_all()
        self._update_empty()

    def _distinct_color(self, run: RunCurves) -> None:
        """A colour no other drawn run has, while there is one."""
        taken = {r.color_index % COLORS for r in self.runs.values() if r.visible and r is not run}
        if run.color_index % COLORS not in taken:
            return
        free = [i for i in range(COLORS) if i not in taken]
        if not free:
            return
        self._set_color(run, free[0])
        self.colours[run.run_id] = free[0]  # kept, also across restarts

    def _set_color(self, run: RunCurves, index: int) -> None:
        run.color_index = index
        run.color = run_color(index)
        run.item.setIcon(0, swatch(run.color))
        for name, curve in run.curves.items():
            curve.setPen(pg.mkPen(run.color, width=1))
            curve.setSymbolBrush(run.color)
            curve.setSymbolPen(run.color)
            run.raw[name].setPen(pg.mkPen(self._faint(run.color), width=1))

    @staticmethod
    def _faint(color: QColor) -> QColor:
        faint = QColor(color)
        faint.setAlpha(RAW_ALPHA)
        return faint

    # ------------------------------------------------------------------ drawing

    def redraw(self) -> None:
        if not self.dirty:
            return
        dirty, self.dirty = self.dirty, set()
        smoothed = self.smoothing.value() > 0
        touched: set[tuple[str, str]] = set()
        for run_id, name in dirty:
            run = self.runs.get(run_id)
            if run is None or not run.visible or name not in run.series:
                continue  # an unticked run is drawn when ticked (ticking marks its series dirty)
            key = (run.section, name)
            plot = self._plot(key)
            curve = run.curves.get(name)
            if curve is None:
                raw = plot.item.plot(pen=pg.mkPen(self._faint(run.color), width=1))
                curve = plot.item.plot(pen=pg.mkPen(run.color, width=1), name=run.label)  # 1 px: cosmetic, fastest
                for item in (raw, curve):
                    item.setDownsampling(auto=True, method="peak")
                    item.setClipToView(True)
                raw.setZValue(-1)  # behind the smoothed curve
                run.curves[name], run.raw[name] = curve, raw
            series = run.series[name]
            curve.setData(*series.arrays(smoothed))
            curve.show()
            # a lone point draws no line, and a sparse series (a few validation points) is
            # not smoothed: both are drawn raw with a marker on each point
            if series.sparse != (curve.opts["symbol"] is not None):
                if series.sparse:
                    curve.setSymbol("o")
                    curve.setSymbolBrush(run.color)
                    curve.setSymbolPen(run.color)
                else:
                    curve.setSymbol(None)
            if series.sparse:
                size = MARKER_SIZE if series.n == 1 else SPARSE_MARKER_SIZE
                if curve.opts["symbolSize"] != size:
                    curve.setSymbolSize(size)
            raw = run.raw[name]
            if smoothed and not series.sparse:
                raw.setData(*series.arrays(False))
                raw.show()
            elif raw.isVisible():
                raw.hide()
                raw.setData([], [])
            touched.add(key)
        self._relayout()  # a no-op unless the set of plots to show changed
        for key in touched:
            self._fit(key)
        self._update_empty()

    def _fit(self, key: tuple[str, str]) -> None:
        """Step the plot's range over its ticked runs' data, then settle it now rather than in
        the paint (pyqtgraph would queue a second paint for a range it finds while painting)."""
        section, name = key
        smoothed, log_y = self.smoothing.value() > 0, self.log_y.isChecked()
        xs, ys = [], []
        for run in self.runs.values():
            if run.visible and run.section == section and name in run.series:
                x, y = run.series[name].arrays(smoothed)
                xs.append(x)
                ys.append(np.log10(y[y > 0]) if log_y else y)
        plot = self.plots[key]
        plot.follower.fit(xs, ys)
        plot.item.getViewBox().prepareForPaint()

    def _fit_all(self) -> None:
        for key, plot in self.plots.items():
            if not plot.widget.isHidden():
                self._fit(key)

    def _plot(self, key: tuple[str, str]) -> MetricPlot:
        plot = self.plots.get(key)
        if plot is None:
            plot = MetricPlot(*key, self.log_y.isChecked(), self.grid.isChecked(), background())
            plot.widget.scene().sigMouseMoved.connect(lambda pos, k=key: self._on_hover(k, pos))
            plot.widget.viewport().installEventFilter(self)  # the wheel scrolls the panel (eventFilter)
            plot.widget.setToolTip("Ctrl+wheel zooms, drag pans, the A button fits the curves again")
            plot.widget.hide()
            self.plots[key] = plot
        return plot

    def plot(self, name: str, kind: str | None = None) -> pg.PlotItem:
        """The plot of metric ``name`` (in the section of ``kind``, or the first that has it)."""
        for (section, metric), plot in self.plots.items():
            if metric == name and kind in (None, section):
                return plot.item
        raise KeyError(name)

    def visible_sections(self) -> list[tuple[str, list[str]]]:
        """The sections and plots drawn now: the ticked runs' kinds and metrics, the focused
        run's kind first, then by newest run."""
        focused = self.ticks.focused
        ordered = sorted(self.runs.values(), key=lambda r: (r.run_id == focused, r.sort_key or math.inf), reverse=True)
        return plot_sections((r.section, r.series) for r in ordered if r.visible)

    def _columns(self) -> int:
        return max(1, min(MAX_COLUMNS, self.plots_area.viewport().width() // MIN_PLOT_WIDTH))

    def _relayout(self) -> None:
        """Place the plots of the ticked runs in their sections; hide the others."""
        sections, columns = self.visible_sections(), self._columns()
        key = (tuple((kind, tuple(names)) for kind, names in sections), columns)
        if key == self._layout_key:
            return
        self._layout_key = key
        wanted = {(kind, name) for kind, names in sections for name in names}
        for plot_key, plot in self.plots.items():
            if plot_key not in wanted:
                plot.widget.hide()
        for section in self.sections.values():
            self.content_layout.removeWidget(section.widget)
            section.widget.hide()
        for kind, names in sections:
            if kind not in self.sections:
                self.sections[kind] = Section(kind)
                self.sections[kind].widget.setParent(self.content)
            section = self.sections[kind]
            for plot in self.plots.values():
                if plot.section == kind:
                    section.grid.removeWidget(plot.widget)
            cols = min(columns, len(names))
            for c in range(MAX_COLUMNS):
                section.grid.setColumnStretch(c, 1 if c < cols else 0)
            for i, name in enumerate(names):
                plot = self._plot((kind, name))
                section.grid.addWidget(plot.widget, i // cols, i % cols)
                plot.widget.show()
            self.content_layout.addWidget(section.widget, (len(names) + cols - 1) // cols)
            section.widget.show()

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt naming
        """A narrow panel (a dock beside others on a laptop screen) puts the run list above
        the plots, so the plots keep the panel's width."""
        super().resizeEvent(event)
        orientation = Qt.Orientation.Vertical if self.width() < NARROW else Qt.Orientation.Horizontal
        if orientation != self.split.orientation():
            self.split.setOrientation(orientation)
            vertical = orientation == Qt.Orientation.Vertical
            total = self.split.height() if vertical else self.split.width()
            first = 130 if vertical else 260
            self.split.setSizes([first, max(total - first, 100)])

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt naming
        if event.type() == QEvent.Type.Resize and watched is self.plots_area.viewport():
            QTimer.singleShot(0, self, self._relayout)  # columns follow the width
        elif (
            event.type() == QEvent.Type.Wheel
            and isinstance(event, QWheelEvent)
            and not event.modifiers() & Qt.KeyboardModifier.ControlModifier
        ):
            # The wheel scrolls the panel, as on a web page; Ctrl+wheel zooms the plot under it.
            QApplication.sendEvent(self.plots_area.verticalScrollBar(), event)
            return True
        return False

    def _remove_curves(self, run: RunCurves) -> None:
        for name, curve in run.curves.items():
            plot = self.plots.get((run.section, name))
            if plot is not None:
                plot.item.removeItem(curve)
                plot.item.removeItem(run.raw[name])
        run.curves.clear()
        run.raw.clear()
        run.visible = False

    def _update_empty(self) -> None:
        shown = any(not plot.widget.isHidden() for plot in self.plots.values())
        if not self.runs:
            text = "No metrics yet. Run a job (Jobs → Run job…) or open a past run."
        elif not any(run.visible for run in self.runs.values()):
            text = "Tick a run on the left to draw its curves."
        else:
            text = "The ticked runs have no metrics yet."
        self.empty.setText(text)
        self.empty.setVisible(not shown)
        self.plots_area.setVisible(shown)

    def changeEvent(self, event) -> None:  # noqa: N802 - follow theme switches
        if event.type() == QEvent.Type.PaletteChange:
            for plot in self.plots.values():
                plot.widget.setBackground(background())
            for run in self.runs.values():  # readable on the new background
                self._set_color(run, run.color_index)
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
            plot.item.setLogMode(y=on)
        self._fit_all()

    def _grid_changed(self, on: bool) -> None:
        for plot in self.plots.values():
            plot.item.showGrid(x=on, y=on, alpha=0.2)

    def _on_hover(self, key: tuple[str, str], pos) -> None:
        plot = self.plots.get(key)
        if plot is None or not plot.item.sceneBoundingRect().contains(pos):
            return
        x = plot.item.vb.mapSceneToView(pos).x()
        plot.hover_line.setPos(x)
        plot.hover_line.show()
        self.hover.setText(self.hover_text(key[1], x, key[0]))

    def hover_text(self, name: str, x: float, kind: str | None = None) -> str:
        parts = []
        for run in self.runs.values():
            series = run.series.get(name)
            if series is None or not run.visible or kind not in (None, run.section):
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
        """All the drawn plots, those scrolled out of view too."""
        self.redraw()
        if not self.content.grab().save(str(path)):
            self.ctx.show_message(f"Could not write {path}", "error")

    def export_csv(self, path: Path) -> None:
        """Long format: one row per point of every ticked run's curves, raw and smoothed."""
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
        return {
            "smoothing": self.smoothing.value(),
            "log_y": self.log_y.isChecked(),
            "grid": self.grid.isChecked(),
            **self.ticks.state(),
            "newest": max(self.runs.values(), key=lambda r: r.sort_key).run_id if self.runs else None,
            "colours": {run_id: index for run_id, index in self.colours.items() if run_id in self.runs},
        }

    def restore_state(self, state: dict) -> None:
        self.smoothing.setValue(float(state.get("smoothing", self.smoothing.value())))
        self.log_y.setChecked(bool(state.get("log_y", False)))
        self.grid.setChecked(bool(state.get("grid", False)))
        remembered = RunTicks()  # runs listed later are ticked when listed
        remembered.restore(state)
        self.ticks.by_hand |= remembered.by_hand
        self.ticks.ticked |= remembered.ticked
        if remembered.focused:
            self.ticks.focused = remembered.focused
        colours = state.get("colours")
        if isinstance(colours, dict):
            self.colours.update(
                (run_id, index)
                for run_id, index in colours.items()
                if isinstance(run_id, str) and isinstance(index, int) and 0 <= index < COLORS
            )
        newest = state.get("newest")
        self._newest_seen = newest if isinstance(newest, str) else None
        self._apply_ticks()


def _is_text(name: str) -> bool:
    """Whether a file name is UTF-8 (Qt can hold it as it is)."""
    try:
        name.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False
