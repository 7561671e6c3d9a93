"""Colours that follow the theme, their contrast floor (WCAG AA, 4.5:1), and progress text
that fits its bar (issue 17: white on pastel in the dark theme; text spilling out of bars)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from studio.api import RunStatus

pytestmark = pytest.mark.gui

THEMES = ("light", "dark")


def test_contrast_ratio_follows_wcag(qapp):
    from studio.widgets import contrast_ratio

    assert contrast_ratio("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast_ratio("#ffffff", "#000000") == pytest.approx(21.0)  # order-free
    assert contrast_ratio("#3d7bd9", "#3d7bd9") == pytest.approx(1.0)
    assert contrast_ratio("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)  # WCAG's own example
    assert contrast_ratio("#e6e6e6", "#fff3a0") < 1.2  # the dark theme's text on the old RAG mark


@pytest.mark.parametrize("theme", THEMES)
def test_every_tone_and_tint_is_readable_in_both_themes(qapp, theme):
    from PySide6.QtGui import QPalette

    from studio.qt.theme import TINTS, TONES
    from studio.widgets import contrast_ratio, text_colour, themed, tint, tone

    role = QPalette.ColorRole
    with themed(theme):
        palette = qapp.palette()
        for name in TONES:
            for background in (role.Base, role.AlternateBase, role.Window):
                assert contrast_ratio(tone(name), palette.color(background)) >= 4.5, (name, background)
        for name in TINTS:
            for strength in (0.2, 0.35, 0.6, 1.0):
                assert contrast_ratio(text_colour(), tint(name, strength)) >= 4.5, (name, strength)
        assert tint("shade") != tint("shade-alt") != palette.color(role.Base)  # still a visible shade
        assert tone("error").red() > tone("error").green()  # a red stays red


def test_a_toned_label_is_retoned_when_the_theme_changes(qapp):
    from PySide6.QtWidgets import QLabel

    from studio.widgets import coloured_text, low_contrast, set_tone, themed

    label = QLabel("the file cannot be read")
    with themed("light"):
        set_tone(label, "error")
        (light,) = coloured_text(label)
        with themed("dark"):
            (dark,) = coloured_text(label)
            assert not low_contrast(label) and dark.fg != light.fg and dark.ratio >= 4.5
        assert not low_contrast(label)
    set_tone(label, None)
    assert not list(coloured_text(label)) and label.styleSheet() == ""


def test_coloured_text_finds_marks_selections_and_item_colours(qapp):
    """The walker the contrast tests rely on sees each kind of coloured text (and the old
    RAG colours fail in the dark theme)."""
    from PySide6.QtGui import QColor, QTextCharFormat, QTextCursor
    from PySide6.QtWidgets import (
        QPlainTextEdit,
        QTableWidget,
        QTableWidgetItem,
        QTextBrowser,
        QTextEdit,
        QVBoxLayout,
        QWidget,
    )

    from studio.widgets import coloured_text, low_contrast, themed

    root = QWidget()
    layout = QVBoxLayout(root)
    browser = QTextBrowser(objectName="preview")
    browser.setHtml("plain <b style='background:#fff3a0'>pasta</b> and <span style='color:#c83c3c'>error</span>")
    plain = QPlainTextEdit("a chunk of text", objectName="inspector")
    selection = QTextEdit.ExtraSelection()
    fmt = QTextCharFormat()
    fmt.setBackground(QColor("#fff3c4"))
    selection.format = fmt
    cursor = QTextCursor(plain.document())
    cursor.setPosition(0)
    cursor.setPosition(7, QTextCursor.MoveMode.KeepAnchor)
    selection.cursor = cursor
    plain.setExtraSelections([selection])
    table = QTableWidget(1, 2, objectName="table")
    item = QTableWidgetItem("failed")
    item.setForeground(QColor("#c0392b"))
    table.setItem(0, 0, item)
    table.setItem(0, 1, QTableWidgetItem("uncoloured"))
    for widget in (browser, plain, table):
        layout.addWidget(widget)
    with themed("dark"):
        found = {(piece.where, piece.text) for piece in coloured_text(root)}
        assert found == {
            ("preview", "pasta"),
            ("preview", "error"),
            ("inspector (selection)", "a chunk"),
            ("table (0, 0)", "failed"),
        }
        assert {(p.where, p.text) for p in low_contrast(root)} == found  # every old colour fails here


def test_progress_text_is_elided_to_fit_its_bar(qapp):
    from studio.widgets import ElidingProgressBar

    bar = ElidingProgressBar(maximumHeight=16)
    bar.setRange(0, 100)
    bar.setValue(30)
    bar.setFormat("1234/5678 files · 72 min left")
    bar.resize(90, 16)
    metrics = bar.fontMetrics()
    assert bar.text().endswith("…") and metrics.horizontalAdvance(bar.text()) <= bar.contentsRect().width()
    assert bar.toolTip() == "1234/5678 files · 72 min left" == bar.full_text()
    bar.resize(600, 16)
    assert bar.text() == "1234/5678 files · 72 min left"
    bar.setFormat("%p%")
    assert bar.text() == "30%" and bar.toolTip() == ""


def test_the_jobs_panel_elides_a_long_progress_message(qapp):
    from studio.qt.panels.jobs import JobsPanel

    message = "loading the embedder sentence-transformers/all-MiniLM-L6-v2 from the cache"
    job = SimpleNamespace(
        kind=SimpleNamespace(title="Index documents"),
        status=RunStatus.RUNNING,
        error=None,
        elapsed=1.0,
        fraction=0.3,
        progress_message=message,
        active=True,
        cancel_requested=False,
    )
    ctx = SimpleNamespace(_window=None, _studio=SimpleNamespace(jobs=SimpleNamespace(jobs={"fake-run": job})))
    panel = JobsPanel(ctx)
    panel.refresh()
    bar = panel.bars["fake-run"]
    bar.resize(180, 16)
    assert bar.text() != message and bar.text().endswith("…") and bar.toolTip() == message
    assert bar.fontMetrics().horizontalAdvance(bar.text()) <= bar.contentsRect().width()
    panel.timer.stop()


def test_the_run_job_dialogs_error_is_readable_in_both_themes(qtbot, make_studio):
    import sample_plugins

    from studio.qt.dialogs import RunJobDialog
    from studio.widgets import low_contrast, themed

    dialog = RunJobDialog(make_studio(("t", sample_plugins.good)).jobs)
    qtbot.addWidget(dialog)
    dialog.error.setText("steps: Input should be greater than 0")
    for theme in THEMES:
        with themed(theme):
            assert not low_contrast(dialog), (theme, [str(p) for p in low_contrast(dialog)])


def test_plot_titles_and_axes_take_the_themes_muted_tone(qapp):
    """pyqtgraph's own grey was 2.9:1 on the light theme's white plots."""
    import pyqtgraph as pg
    from PySide6.QtGui import QColor, QPalette

    from studio.widgets import contrast_ratio, themed

    plot = pg.PlotWidget(title="chunks_per_s")
    try:
        for theme in THEMES:
            with themed(theme):
                base = qapp.palette().color(QPalette.ColorRole.Base)
                axis = plot.getPlotItem().getAxis("bottom")
                title = QColor(plot.getPlotItem().titleLabel.opts["color"])
                for colour in (
                    axis.textPen().color(),
                    axis.pen().color(),
                    title,
                    QColor(pg.getConfigOption("foreground")),
                ):
                    assert contrast_ratio(colour, base) >= 4.5, (theme, colour.name())
    finally:
        plot.close()
        plot.deleteLater()


def _most_contrast(image, background) -> float:
    """The highest contrast of any pixel of ``image`` against ``background``."""
    from PySide6.QtGui import QColor

    from studio.widgets import contrast_ratio

    seen = {image.pixel(x, y) for x in range(image.width()) for y in range(image.height())}
    colours = [QColor.fromRgba(rgba) for rgba in seen]
    return max(contrast_ratio(colour, background) for colour in colours if colour.alpha() > 128)


@pytest.mark.parametrize("theme", THEMES)
def test_an_unticked_check_box_and_the_toolbar_overflow_button_can_be_seen(qapp, theme):
    """WCAG 1.4.11 (3:1 for the parts of a control): the dark theme's empty check box was a
    #1e1f22 box outlined #222326 on #2b2d31; its toolbar » button grey on grey."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QPalette
    from PySide6.QtWidgets import QCheckBox, QStyle, QStyleOptionButton, QTreeWidget, QTreeWidgetItem

    from studio.qt.theme import indicator_border
    from studio.widgets import contrast_ratio, themed

    role = QPalette.ColorRole
    with themed(theme):
        palette = qapp.palette()
        for background in (role.Window, role.Base):
            assert contrast_ratio(indicator_border(), palette.color(background)) >= 3.0, background
        box = QCheckBox()  # no text: only the box is drawn
        box.setFixedSize(box.sizeHint())
        assert _most_contrast(box.grab().toImage(), palette.color(role.Window)) >= 3.0
        tree = QTreeWidget()  # the Metrics run list's ticks
        tree.resize(200, 60)
        item = QTreeWidgetItem([""])
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        item.setCheckState(0, Qt.CheckState.Unchecked)
        tree.addTopLevelItem(item)
        tree.show()
        check = tree.style().subElementRect(QStyle.SubElement.SE_ItemViewItemCheckIndicator, QStyleOptionButton(), tree)
        rect = tree.visualItemRect(item)
        shot = tree.viewport().grab(rect.adjusted(0, 0, -(rect.width() - check.width() - 12), 0)).toImage()
        assert _most_contrast(shot, palette.color(role.Base)) >= 3.0
        tree.close()
        extension = QStyle.StandardPixmap.SP_ToolBarHorizontalExtensionButton  # the » button's icon
        icon = qapp.style().standardIcon(extension).pixmap(16, 16).toImage()
        assert _most_contrast(icon, palette.color(role.Window)) >= 3.0
