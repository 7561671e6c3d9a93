"""Quantizer panel: pick a checkpoint and a scheme, quantize, and see what it costs and gains.

Quantizing runs as a job (a worker process; this panel never imports torch). When it
finishes, the run's ``report.json`` fills the panel: the whole-model summary (sizes, bits
per weight, and loss / latency before and after when a text was given), a table of layers
(bits, scale range, MSE, SNR), and for the selected layer the histogram of its weights with
the quantization grid and the histogram of its round-trip error. Comparing schemes and the
sensitivity sweep fill their tabs from the rows their jobs return.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from studio.api import JobOutcome, Panel, PanelContext, StudioFileError, resolve_model
from studio.widgets import JobTracker, ModelPicker, ParamsForm

from ..config import QuantizeParams
from ..report import loss_text, read_report
from ..scheme import scheme_problems

COLUMNS = ("tensor", "bits", "granularity", "scale min", "scale max", "MSE", "SNR dB")
COMPARE_TAB, SENSITIVITY_TAB = 1, 2
SPLITTER_MIN_HEIGHT = 200  # pixels: the settings and the results, a few rows of each
GROUP_SIZE_OFF = "Used only with granularity 'group': a per-channel or per-tensor scale has no groups"


def human_size(n: float) -> str:
    """Bytes as people read them: 812 B, 3.4 KiB, 1.25 MiB, 2.00 GiB."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}" if abs(n) < 100 else f"{n:.1f} {unit}"
        n /= 1024
    return ""  # not reached


@dataclass(frozen=True)
class Column:
    """A column of a rows table: the row's key, its title, how a value reads, what it means."""

    key: str
    title: str
    show: Callable[[Any], str] = str
    tip: str = ""


def _signed(digits: int) -> Callable[[Any], str]:
    return lambda v: f"{v:+.{digits}f}"


#: the comparison's columns, in the order people read them (keys a job adds later go last)
COMPARE_COLUMNS = (
    Column("scheme", "Scheme", tip="bits, symmetric or not, granularity, and what runs quantized"),
    Column("model_bytes", "Model size", human_size, "the whole checkpoint after quantizing (embeddings kept)"),
    Column("linear_ratio", "Size vs fp32", lambda v: f"{v:.3f}×", "the Linear weights' size as a share of fp32"),
    Column("bits_per_weight", "Bits / weight", lambda v: f"{v:.2f}", "scales and zero points included"),
    Column("loss_change", "Loss Δ", _signed(4), "the loss on the measure text minus the fp32 model's"),
    Column("loss", "Loss", lambda v: f"{v:.4f}", "the loss on the measure text"),
    Column("worst_snr_db", "Worst SNR", lambda v: f"{v:.1f} dB", "the signal-to-noise ratio of the worst layer"),
)
SENSITIVITY_COLUMNS = (
    Column("name", "Layer"),
    Column("loss_change", "Loss Δ", _signed(4), "the loss change of quantizing this layer alone"),
    Column("bits", "Bits"),
    Column("snr_db", "SNR", lambda v: f"{v:.1f} dB", "signal-to-noise ratio of the layer's round trip"),
)


def create(ctx: PanelContext) -> QuantizerPanel:
    return QuantizerPanel(ctx)


class QuantizerPanel(QWidget, Panel):
    def __init__(self, ctx: PanelContext):
        super().__init__()
        self.ctx = ctx
        self.setObjectName("quantizer:panel")
        self.report: dict[str, Any] = {}
        last = ctx.settings().get("last", {})
        # the model: a run id, run folder or checkpoint folder, typed, picked or browsed
        self.checkpoint = ModelPicker(ctx, placeholder="a run id, run folder or checkpoint folder")
        self.checkpoint.setObjectName("checkpoint")
        self.checkpoint.set_value(last.get("checkpoint", ""))
        self.form = ParamsForm(QuantizeParams, last, exclude=("checkpoint",))
        self.quantize_button = QPushButton("Quantize", objectName="quantize")
        self.quantize_button.clicked.connect(self.quantize)
        open_report = QPushButton("Open…", objectName="open-report")
        open_report.setToolTip("Open report…: a quantize run's report.json")
        open_report.clicked.connect(self._choose_report)
        self.schemes = QLineEdit(  # Compare saves them beside "last"
            ctx.settings().get("schemes") or "int8,int8-tensor,int4-g32,int4-g128,int4-g32-asym,int3-g32",
            objectName="schemes",
        )
        self.compare_button = QPushButton("Compare", objectName="compare")
        self.compare_button.clicked.connect(self.compare)
        self.sweep_button = QPushButton("Sweep", objectName="sweep")
        self.sweep_button.setToolTip(
            "Sensitivity sweep: quantize one layer at a time with the first scheme and measure the loss"
        )
        self.sweep_button.clicked.connect(self.sweep)
        self.cancel_button = QPushButton("Cancel", objectName="cancel")
        self.progress = QProgressBar(objectName="progress")
        self.compare_table = QTableWidget(0, 0, objectName="comparison")
        self.sweep_table = QTableWidget(0, 0, objectName="sensitivity")
        self.summary = QLabel("Quantize a checkpoint to see its report.", wordWrap=True, objectName="summary")
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # runs the three jobs: progress, Cancel, and what went wrong in the summary line
        self.tracker = JobTracker(ctx, self, progress=self.progress, cancel=self.cancel_button, status=self.summary)
        self.tracker.started.connect(lambda _run_id: self._set_busy(True))
        self.tracker.finished.connect(lambda _outcome: self._set_busy(self.tracker.busy))
        self.table = QTableWidget(0, len(COLUMNS), objectName="layers")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.currentCellChanged.connect(lambda row, *_: self.show_layer(row))
        base = QApplication.palette().color(QPalette.ColorRole.Base)  # follow the light / dark theme
        self.weights_plot = pg.PlotWidget(title="weights and the quantization grid", background=base)
        self.error_plot = pg.PlotWidget(title="round-trip error", background=base)
        settings = QWidget(objectName="settings")  # the model, the form and the schemes: they scroll
        settings_layout = QVBoxLayout(settings)
        settings_layout.setContentsMargins(0, 0, 0, 0)
        settings_layout.addWidget(self.checkpoint)
        settings_layout.addWidget(self.form)
        schemes_row = QHBoxLayout()  # the schemes Compare and the sweep use, on a line of their own
        schemes_row.addWidget(QLabel("Schemes"))
        schemes_row.addWidget(self.schemes, 1)
        settings_layout.addLayout(schemes_row)
        settings_layout.addStretch(1)
        settings_scroll = QScrollArea(objectName="settings-scroll")
        settings_scroll.setFrameShape(QFrame.Shape.NoFrame)
        settings_scroll.setWidgetResizable(True)
        settings_scroll.setWidget(settings)
        plots = QSplitter(Qt.Orientation.Vertical)
        plots.addWidget(self.weights_plot)
        plots.addWidget(self.error_plot)
        lower = QSplitter()
        lower.addWidget(self.table)
        lower.addWidget(plots)
        self.tabs = QTabWidget()
        self.tabs.addTab(lower, "Layers")
        self.tabs.addTab(self.compare_table, "Compare schemes")
        self.tabs.addTab(self.sweep_table, "Sensitivity")
        # the settings above the results, the user moving the line between them; only these
        # scroll: the summary, progress and buttons below stay in sight however small the panel,
        # and the panel asks for little room, so the shell's scroll area around it never scrolls
        self.splitter = QSplitter(Qt.Orientation.Vertical, objectName="splitter")
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(settings_scroll)
        self.splitter.addWidget(self.tabs)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([1000, 1000])  # half each at first
        self.splitter.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Ignored)
        self.splitter.setMinimumHeight(SPLITTER_MIN_HEIGHT)
        for part in (settings_scroll, self.tabs):
            part.setMinimumHeight(SPLITTER_MIN_HEIGHT // 2 - 10)
        self.tabs.setUsesScrollButtons(False)  # the tabs' names are elided instead (Qt's arrows overlap)
        self.tabs.setElideMode(Qt.TextElideMode.ElideRight)
        running = QHBoxLayout()  # Cancel at the right, as wide as its name (the bar is hidden when idle)
        running.addWidget(self.progress, 1)
        running.addStretch(0)
        running.addWidget(self.cancel_button)
        self.cancel_button.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Fixed)
        buttons = QHBoxLayout()  # narrow panels: short names, the long ones in their tooltips
        buttons.addWidget(self.quantize_button)
        buttons.addWidget(open_report)
        buttons.addStretch(1)
        buttons.addWidget(self.compare_button)
        buttons.addWidget(self.sweep_button)
        for button in (self.quantize_button, self.compare_button, self.sweep_button, self.cancel_button, open_report):
            button.setMinimumWidth(button.fontMetrics().horizontalAdvance(button.text()) + 16)
        layout = QVBoxLayout(self)
        layout.addWidget(self.splitter, 1)
        layout.addWidget(self.summary)
        layout.addLayout(running)
        layout.addLayout(buttons)
        self.before_problems: str | None = None  # the summary line, while it shows what the schemes lack
        self.schemes.setToolTip("Schemes to compare, separated by commas: int8, int8-tensor, int4-g32, int4-g128-asym…")
        self.schemes.textChanged.connect(self.check_schemes)
        granularity = self.form.editors["granularity"][0]
        assert isinstance(granularity, QComboBox)
        granularity.currentIndexChanged.connect(self._granularity_changed)
        self._granularity_changed()
        self.check_schemes()

    def _granularity_changed(self) -> None:
        """The group size is for groups only: off (saying why) for per-channel or per-tensor scales."""
        group_size = self.form.editors["group_size"][0]
        grouped = self.form.values().get("granularity") == "group"
        group_size.setEnabled(grouped)
        group_size.setToolTip("values per group: 32, 64, 128…" if grouped else GROUP_SIZE_OFF)

    def check_schemes(self) -> list[str]:
        """What is wrong with the scheme names, one line each, shown under the field; Compare
        waits until they are right."""
        problems = scheme_problems(self.schemes.text())
        self.compare_button.setEnabled(not problems and not self.tracker.busy)
        self.compare_button.setToolTip("\n".join(problems) or "Quantize with each scheme and compare them")
        if problems:
            if self.before_problems is None:  # what the line said before: back once the names are right
                self.before_problems = self.summary.text()
            self.summary.setText("<br>".join(f"⚠ {html.escape(p)}" for p in problems))
        elif self.before_problems is not None:
            self.summary.setText(self.before_problems)
            self.before_problems = None
        return problems

    # ---- running

    def params(self) -> dict[str, Any]:
        return {**self.form.values(), "checkpoint": self.checkpoint.value()}

    def model_found(self, ref: str) -> bool:
        """Whether ``ref`` names a model (a run id, run folder or checkpoint folder): checked
        on disk before a job starts, so a name that is none says why in one line, and no job
        fails and leaves a run behind."""
        if not ref:
            self.summary.setText("Choose a checkpoint folder first.")
            return False
        try:
            resolve_model(ref, self.ctx.folders)
        except StudioFileError as exc:
            self.summary.setText(f"⚠ Not started: {html.escape(str(exc).splitlines()[0], quote=False)}")
            return False
        return True

    def quantize(self) -> str | None:
        """Start the quantize job; its report fills the panel when it succeeds."""
        params = self.params()
        if not self.model_found(params["checkpoint"]):
            return None
        self.ctx.save_settings({**self.ctx.settings(), "last": params})
        return self.tracker.start("quantizer.quantize", params, title="Quantizing", on_done=self._quantized)

    def compare(self) -> str | None:
        if self.check_schemes():
            return None
        return self._start(
            "quantizer.compare", {"schemes": self.schemes.text()}, "Comparing schemes", self.compare_table, COMPARE_TAB
        )

    def sweep(self) -> str | None:
        text = self.form.values().get("measure_text", "")
        if not text:
            self.summary.setText("The sensitivity sweep measures loss: fill in “measure text” first.")
            return None
        scheme = self.schemes.text().split(",")[0].strip() or "int4-g32"
        if scheme_problems(scheme):  # the sweep quantizes with the first scheme named
            self.check_schemes()
            return None
        return self._start(
            "quantizer.sensitivity", {"scheme": scheme}, "Sensitivity sweep", self.sweep_table, SENSITIVITY_TAB
        )

    def _start(self, kind: str, extra: dict[str, Any], title: str, table: QTableWidget, tab: int) -> str | None:
        """Compare or sweep: the rows the job returns fill ``table`` on tab ``tab``."""
        params = self.params()
        if not self.model_found(params["checkpoint"]):
            return None
        self.ctx.save_settings({**self.ctx.settings(), "last": params, "schemes": self.schemes.text()})

        def done(outcome: JobOutcome) -> None:
            if outcome.succeeded:
                rows = outcome.result["rows"]
                self.fill(table, rows, COMPARE_COLUMNS if table is self.compare_table else SENSITIVITY_COLUMNS)
                self.tabs.setCurrentIndex(tab)
                self.summary.setText(f"{title}: {len(rows)} rows (run {outcome.run_id}).")

        return self.tracker.start(
            kind,
            {"checkpoint": params["checkpoint"], "measure_text": params.get("measure_text", ""), **extra},
            title=title,
            on_done=done,
        )

    def _quantized(self, outcome: JobOutcome) -> None:
        if outcome.succeeded:
            self.open_report(outcome.run_dir / "report.json")

    def _set_busy(self, busy: bool) -> None:
        for button in (self.quantize_button, self.compare_button, self.sweep_button):
            button.setEnabled(not busy)
        if not busy:
            self.compare_button.setEnabled(not scheme_problems(self.schemes.text()))

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt naming
        """A theme switch: the plots take the new palette's background (the shell re-tones
        their axes and titles), as the Metrics panel's do."""
        super().changeEvent(event)
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            base = QApplication.palette().color(QPalette.ColorRole.Base)
            for plot in (self.weights_plot, self.error_plot):
                plot.setBackground(base)

    # ---- the report

    def load_report(self, path: Path) -> None:
        self.report = read_report(path)
        s = self.report["summary"]
        lines = [
            (
                f"<b>{s['scheme']}</b> · {s['quantized_tensors']} tensors · Linear weights "
                f"{s['linear_fp32_bytes'] / 1e6:.2f} → {s['linear_bytes'] / 1e6:.2f} MB ({s['linear_ratio']:.3f}×, "
                f"{s['bits_per_weight']:.2f} bits per weight) · model {s['model_fp32_bytes'] / 1e6:.2f} → "
                f"{s['model_bytes'] / 1e6:.2f} MB · saved in {s['saved']}"
            )
        ]
        for label, m in self.report.get("measured", {}).items():
            lines.append(
                f"{label}: {loss_text(m)}latency {m['latency_ms_b1']:.1f} ms (batch 1), "
                f"{m['latency_ms_b8']:.1f} ms (batch 8)"
            )
        self.summary.setText("<br>".join(lines))
        rows = self.report["layers"]
        self.table.setRowCount(len(rows))
        for i, row in enumerate(rows):
            values = (
                row["name"],
                str(row["bits"]),
                row["granularity"],
                f"{row['scale_min']:.3g}",
                f"{row['scale_max']:.3g}",
                f"{row['mse']:.3g}",
                f"{row['snr_db']:.1f}",
            )
            for j, value in enumerate(values):
                self.table.setItem(i, j, QTableWidgetItem(value))
        self.table.resizeColumnsToContents()
        if rows:
            self.table.setCurrentCell(0, 0)
            self.show_layer(0)

    def show_layer(self, row: int) -> None:
        layers = self.report.get("layers", [])
        if not 0 <= row < len(layers):
            return
        hist = self.report.get("histograms", {}).get(layers[row]["name"])
        self.weights_plot.clear()
        self.error_plot.clear()
        if not hist:
            return
        for plot, data in ((self.weights_plot, hist["weights"]), (self.error_plot, hist["error"])):
            plot.plot(data["edges"], data["counts"], stepMode="center", fillLevel=0, brush=(80, 130, 200, 120))
        for level in hist.get("grid", []):
            self.weights_plot.addItem(pg.InfiniteLine(level, angle=90, pen=pg.mkPen((200, 90, 60, 150))))

    @staticmethod
    def fill(table: QTableWidget, rows: list[dict[str, Any]], columns: tuple[Column, ...] = ()) -> None:
        """``rows`` in ``columns``' order, titles and formats (sizes in KiB/MiB); the exact
        value of a cell is its tooltip. Keys without a column follow, titled from their name."""
        keys = list(dict.fromkeys(k for row in rows for k in row))
        shown = [c for c in columns if c.key in keys] + [
            Column(k, k.replace("_", " ").capitalize()) for k in keys if k not in {c.key for c in columns}
        ]
        table.clear()
        table.setColumnCount(len(shown))
        table.setRowCount(len(rows))
        for j, column in enumerate(shown):
            header = QTableWidgetItem(column.title)
            header.setToolTip(column.tip)
            table.setHorizontalHeaderItem(j, header)
        for i, row in enumerate(rows):
            for j, column in enumerate(shown):
                value = row.get(column.key)
                number = isinstance(value, (int, float)) and not isinstance(value, bool)
                try:
                    text = "" if value is None else column.show(value)
                except (TypeError, ValueError):  # a value of another type than the column's
                    text = str(value)
                if number and column.show is str and isinstance(value, float):
                    text = f"{value:.4g}"
                item = QTableWidgetItem(text)
                if number:
                    item.setToolTip(f"{value:,} bytes" if column.show is human_size else repr(value))
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                table.setItem(i, j, item)
        table.resizeColumnsToContents()

    # ---- files and state

    def _choose_report(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open a quantize run's report.json", str(self.ctx.folders.runs), "Report (report.json)"
        )
        if path:
            self.open_report(Path(path))

    def open_report(self, path: Path) -> None:
        """``load_report``, with a file that is not a readable report shown as an error."""
        try:
            self.load_report(path)
        except (OSError, ValueError, KeyError, StudioFileError) as exc:
            self.ctx.show_message(f"Could not read {path}: {exc}", "error")
