"""Examples and predictions, and datasets read from CSV, JSON(L), Parquet or a saved HF dataset."""

from __future__ import annotations

import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from studio.api import read_table


class Prediction(dict):
    """A predictor's outputs: a dict whose keys also read as attributes (``pred.answer``)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"the prediction has no field {name!r}; it has {', '.join(self) or 'none'}") from None


class Example(dict):
    """One data point. ``with_inputs("question")`` marks which keys are inputs; the others are labels."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.input_keys: tuple[str, ...] = ()

    __getattr__ = Prediction.__getattr__

    def with_inputs(self, *keys: str) -> Example:
        example = Example(self)
        example.input_keys = tuple(keys)
        return example

    def inputs(self) -> dict[str, Any]:
        return {k: self[k] for k in self.input_keys if k in self}

    def labels(self) -> dict[str, Any]:
        return {k: v for k, v in self.items() if k not in self.input_keys}


MAX_TEXT_BYTES = 512 * 2**20  # a CSV / JSON(L) dataset read whole: more is not an eval set
TEXT_SUFFIXES = (".csv", ".tsv", ".json", ".jsonl")


def load_dataset(path: str | Path, inputs: Iterable[str], *, limit: int | None = None) -> list[Example]:
    """Rows of a CSV/TSV/JSON/JSONL/Parquet file or a ``save_to_disk`` folder as Examples.
    Raises ``StudioFileError`` naming the file and what is wrong: missing, a FIFO or device,
    too large, not UTF-8, malformed (an unterminated CSV quote too), nested too deeply, or
    a row without a column the workflow needs."""
    from studio.api import StudioFileError

    rows = read_rows(Path(path))
    keys = tuple(inputs)
    for i, row in enumerate(rows[:limit]):
        missing = [k for k in keys if k not in row]
        if missing:
            where = "" if i == 0 else f"row {i + 1} has "
            raise StudioFileError(
                f"{path}: {where}no column {missing[0]!r} (the workflow's input); "
                f"columns are: {', '.join(map(str, row)) or 'none'}"
            )
    return [Example(row).with_inputs(*keys) for row in rows[:limit]]


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The dataset's rows, read safely (``files.py``): text formats here, whole and checked;
    Parquet and saved dataset folders through ``studio.api.read_table``."""
    from studio.api import StudioFileError

    from .input_files import check_regular, parse_guarded, read_capped

    what = "dataset file"
    suffix = path.suffix.lower()
    if suffix in TEXT_SUFFIXES:
        data = read_capped(path, MAX_TEXT_BYTES, what)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise StudioFileError(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
        if "\x00" in text:
            raise StudioFileError(f"{path}: not a text file (binary?), so not a {suffix[1:].upper()} dataset")
        records = parse_guarded(lambda: _parse_text(text, suffix, path), str(path))
    else:
        info = check_regular(path, what, folder_ok=True)
        if stat.S_ISDIR(info.st_mode) and not any((path / n).is_file() for n in ("state.json", "dataset_dict.json")):
            raise StudioFileError(
                f"{path}: is a folder, not a saved dataset (no state.json); give a CSV, JSON, JSONL or Parquet file"
            )
        try:
            records = parse_guarded(lambda: read_table(path), str(path))
        except StudioFileError:
            raise
        except Exception as exc:  # pyarrow's many error types: a bad file, said in one line
            raise StudioFileError(
                f"{path}: not a readable dataset ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0][:200] if str(exc) else ''})"
            ) from None
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise StudioFileError(f"{path}: not a list of records (objects with the same keys)")
    return records


def _parse_text(text: str, suffix: str, path: Path) -> Any:
    import csv
    import io
    import json

    from studio.api import StudioFileError

    kind = suffix[1:].upper()
    try:
        if suffix in (".csv", ".tsv"):
            reader = csv.DictReader(
                io.StringIO(text, newline=""), delimiter="\t" if suffix == ".tsv" else ",", strict=True
            )
            rows = list(reader)
            if any(None in row for row in rows):
                line_no = next(i for i, row in enumerate(rows) if None in row) + 2
                raise StudioFileError(f"{path}: row on line {line_no} has more values than the header has columns")
            return rows
        if suffix == ".jsonl":
            rows = []
            for n, line in enumerate(text.splitlines(), 1):
                if line.strip():
                    try:
                        rows.append(json.loads(line))
                    except ValueError as exc:
                        raise StudioFileError(f"{path}: line {n} is not JSON ({exc})") from None
            return rows
        return json.loads(text)
    except csv.Error as exc:
        raise StudioFileError(f"{path}: could not be read as {kind} ({exc}; an unterminated quote?)") from None
    except ValueError as exc:
        raise StudioFileError(f"{path}: could not be read as {kind}: {exc}") from None
