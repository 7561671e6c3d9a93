"""The model picker: one field for naming a model, the same in every panel.

An editable combo box — type a run id, a folder, or any model string — whose list is the
workspace's models (``studio.api.list_models``: trained runs, quantized folders, and
whatever other plugins' model sources add), newest first, with their name, kind, size and
date. The list is read again each time it opens, so a run that just finished is there.
*Browse…* picks a folder (or, with ``file_filter``, a file).

``prefix`` is put before a picked model's ref: the prompt engine's model strings name a
studio model as ``studio/<run id or folder>``, so its fields use ``prefix="studio/"`` and
the value is a complete model string; other fields leave it empty and get the bare ref.

The last choice is remembered per ``key`` in the plugin's own settings (the
``PanelContext`` settings, under ``"model_picker"``), not in QSettings: the studio's
settings file is the one place panel state lives, it follows ``TENSOR_STUDIO_HOME`` (so
tests and several installs never share it), and it is written through the same
read-modify-write path as the panel's other settings. The picker remembers a model when
one is picked from the list or browsed; a typed one when the panel calls
:meth:`ModelPicker.remember` (as it starts a job with it), so half-typed text is not kept.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QTreeView,
    QWidget,
)

if TYPE_CHECKING:
    from studio.api import Folders, ModelEntry, PanelContext

log = logging.getLogger(__name__)

SETTINGS_KEY = "model_picker"  # in the plugin's settings: {picker key: last value}
COLUMNS = ("model", "name", "kind", "size", "date")  # column 0 (the value) is what the line shows
EMPTY_TEXT = "No trained or quantized models in this workspace yet: type a run id or a folder, or Browse…"
ValueRole = Qt.ItemDataRole.UserRole + 1


def human_size(size: int | float) -> str:
    """Bytes in the unit a file manager uses: ``"980 B"``, ``"110 kB"``, ``"1.2 MB"``."""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" or value >= 100 else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"  # not reached


def human_date(timestamp: float) -> str:
    """A local date and time, minutes precision."""
    return datetime.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M")


class _Combo(QComboBox):
    """A combo box that asks for its list again just before it shows it."""

    about_to_open = Signal()

    def showPopup(self) -> None:  # noqa: N802 - Qt naming
        self.about_to_open.emit()
        super().showPopup()


class ModelPicker(QWidget):
    """``ModelPicker(ctx, key, prefix="", placeholder="", file_filter=None)``.

    ``value()`` is the text of the field (stripped), ``set_value(text)`` sets it,
    ``entry()`` is the listed model it names (or None), ``remember()`` keeps the value as
    this key's last choice, ``refresh()`` reads the list again. ``changed(str)`` is emitted
    whenever the value changes (typed, picked or browsed); ``chosen(str)`` when the user
    settles on one (Enter or leaving the field after an edit, a pick from the list, Browse). ``lister`` replaces
    ``studio.api.list_models`` (a panel that lists its own models; tests)."""

    changed = Signal(str)
    chosen = Signal(str)  # a value the user settled on: Enter, leaving the field, a pick, Browse

    def __init__(
        self,
        ctx: PanelContext | None = None,
        key: str = "",
        *,
        prefix: str = "",
        placeholder: str = "a run id or a folder",
        file_filter: str | None = None,
        folders: Folders | None = None,
        lister: Callable[[Folders], list[ModelEntry]] | None = None,
        parent: QWidget | None = None,
    ):
        super().__init__(parent)
        self.ctx, self.key, self.prefix, self.file_filter = ctx, key, prefix, file_filter
        self._folders, self._lister = folders, lister
        self.entries: list[ModelEntry] = []
        self.combo = _Combo(editable=True, objectName=f"model_picker:{key}" if key else "model_picker")
        self.combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)  # Enter does not add the typed text
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.combo.setMinimumContentsLength(16)  # long run ids must not widen the panel
        self.line = QLineEdit(placeholderText=placeholder, clearButtonEnabled=True)
        self.combo.setLineEdit(self.line)
        self.model = QStandardItemModel(0, len(COLUMNS), self)
        self.model.setHorizontalHeaderLabels(list(COLUMNS))
        self.view = view = QTreeView()
        view.setRootIsDecorated(False)
        view.setUniformRowHeights(True)
        view.setAllColumnsShowFocus(True)
        view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        view.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.combo.setModel(self.model)
        self.combo.setView(view)
        self.combo.setModelColumn(0)
        view.header().moveSection(0, len(COLUMNS) - 1)  # name, kind, size, date, then the ref itself
        view.header().setStretchLastSection(True)
        self.combo.about_to_open.connect(self.refresh)
        self.combo.activated.connect(self._picked)
        self.combo.editTextChanged.connect(lambda text: self.changed.emit(text.strip()))
        self.line.editingFinished.connect(self._edited)
        self._settled = ""
        self.browse_button = QPushButton("Browse…", objectName="model_picker:browse")
        self.browse_button.setToolTip("Choose a folder" if file_filter is None else "Choose a file or folder")
        self.browse_button.clicked.connect(self.browse)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.combo, 1)
        layout.addWidget(self.browse_button)
        self.setFocusProxy(self.combo)
        self.refresh()
        last = self.remembered()
        if last:
            self.set_value(last)

    # ---- the value

    def value(self) -> str:
        return self.combo.currentText().strip()

    def set_value(self, text: str) -> None:
        self._settled = text or ""
        self.combo.setEditText(text or "")
        self.line.setCursorPosition(0)  # a long run id or path shows its start, not its end

    # QLineEdit's names, so code written for a line edit keeps working
    def text(self) -> str:
        return self.value()

    def setText(self, text: str) -> None:  # noqa: N802 - Qt naming
        self.set_value(text)

    def clear(self) -> None:
        self.set_value("")

    def entry(self) -> ModelEntry | None:
        """The listed model the value names (its ref, with the prefix when there is one)."""
        value = self.value()
        return next((e for e in self.entries if self.value_of(e) == value or str(e.path) == value), None)

    def value_of(self, entry: ModelEntry) -> str:
        """What picking ``entry`` puts in the field: its ref after the picker's prefix, or after
        the entry's own provider prefix when the picker takes provider model strings (``hf/``)."""
        return (entry.provider_prefix if self.prefix and entry.provider_prefix else self.prefix) + entry.ref

    # ---- the list

    @property
    def folders(self) -> Folders:
        if self.ctx is not None:
            return self.ctx.folders
        if self._folders is not None:
            return self._folders
        from studio.api import workspace_folders

        return workspace_folders()

    def refresh(self) -> None:
        """Read the models again (each time the list opens); the typed text stays."""
        text = self.combo.currentText()
        try:
            if self._lister is not None:
                entries = list(self._lister(self.folders))
            else:
                from studio.api import list_models

                entries = list_models(self.folders)
        except Exception as exc:  # a broken workspace folder: the field still takes typed text
            log.warning("the model list could not be read: %s", exc)
            entries = []
        self.entries = sorted(entries, key=lambda e: e.modified, reverse=True)
        self.model.removeRows(0, self.model.rowCount())
        for entry in self.entries:
            self.model.appendRow(self._row(entry))
        if not self.entries:
            empty = QStandardItem(EMPTY_TEXT)
            empty.setFlags(Qt.ItemFlag.NoItemFlags)  # not pickable: it is a hint, not a model
            self.model.appendRow([empty, *(QStandardItem("") for _ in COLUMNS[1:])])
            self.view.setFirstColumnSpanned(0, self.model.invisibleRootItem().index(), True)
        else:
            view = self.view
            for column in range(1, len(COLUMNS)):
                view.resizeColumnToContents(column)
            width = sum(view.columnWidth(c) for c in range(len(COLUMNS)))
            view.setMinimumWidth(min(max(width + 24, self.combo.width()), 900))
        self.combo.setCurrentIndex(-1)  # nothing picked: the text is what was typed
        self.combo.setEditText(text)

    def _row(self, entry: ModelEntry) -> list[QStandardItem]:
        value = self.value_of(entry)
        # a folder name that is not UTF-8 cannot be a model string (Qt would drop its bad
        # byte, and the value would name another folder): listed, escaped, not pickable
        usable = _is_text(value) and _is_text(str(entry.path))
        tip = f"{entry.name} — {entry.kind}\n{entry.path}" + (f"\n{entry.detail}" if entry.detail else "")
        if not usable:
            tip = f"{_escaped(tip)}\n\nIts folder name is not UTF-8 text: rename the folder to use this model."
        cells = [value, entry.name, entry.kind, human_size(entry.size_bytes), human_date(entry.modified)]
        items = []
        for text in cells:
            item = QStandardItem(_escaped(text))
            item.setToolTip(tip)
            item.setData(value if usable else None, ValueRole)
            item.setEditable(False)
            if not usable:
                item.setFlags(Qt.ItemFlag.NoItemFlags)
            items.append(item)
        items[3].setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return items

    def _picked(self, row: int) -> None:
        if 0 <= row < len(self.entries) and _is_text(self.value_of(self.entries[row])):
            self.set_value(self.value_of(self.entries[row]))
            self._choose()

    def _edited(self) -> None:
        if self.value() != self._settled:  # leaving the field unchanged settles nothing
            self._settled = self.value()
            self.chosen.emit(self.value())

    def _choose(self) -> None:
        self.remember()
        self._settled = self.value()
        self.chosen.emit(self.value())

    # ---- browsing

    def browse(self) -> None:
        start = str(self.folders.runs if self.folders.runs.is_dir() else self.folders.workspace)
        if self.file_filter is not None:
            path, _ = QFileDialog.getOpenFileName(self, "Choose a model file", start, self.file_filter)
        else:
            path = QFileDialog.getExistingDirectory(self, "Choose a model folder", start)
        if path:
            self.set_value(self.prefix + str(Path(path)))
            self._choose()

    # ---- remembering

    def remembered(self) -> str:
        if self.ctx is None or not self.key:
            return ""
        saved = self.ctx.settings().get(SETTINGS_KEY, {})
        value = saved.get(self.key, "") if isinstance(saved, dict) else ""
        return value if isinstance(value, str) else ""

    def remember(self) -> None:
        """Keep the value as this key's last choice (in the plugin's settings)."""
        if self.ctx is None or not self.key or self.remembered() == self.value():
            return
        settings = self.ctx.settings()
        saved = settings.get(SETTINGS_KEY, {})
        saved = dict(saved) if isinstance(saved, dict) else {}
        saved[self.key] = self.value()
        self.ctx.save_settings({**settings, SETTINGS_KEY: saved})


def _is_text(text: str) -> bool:
    """Whether ``text`` is UTF-8 (no lone surrogate standing for a file name's bad byte)."""
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def _escaped(text: str) -> str:
    """``text`` as Qt can show it: a file name's bytes that are not UTF-8 as ``\\xff``."""
    return text if _is_text(text) else text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
