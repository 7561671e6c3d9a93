"""Tables from disk: CSV / TSV / JSON (a list of records) / JSONL / Parquet, or a Hugging Face
dataset written by ``save_to_disk`` (read with pyarrow; the ``datasets`` package is not
needed). Used by the trainer (corpora, prompt–response pairs), the prompt engine (eval
datasets) and any plugin, through ``studio.api.read_table`` / ``read_columns``.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from studio.core.files import StudioFileError

TABLE_SUFFIXES = {".csv", ".tsv", ".json", ".jsonl", ".parquet"}


class TableError(StudioFileError):
    """A table that cannot be read; the message names the file and the problem."""


def read_columns(path: Path, columns: list[str] | None = None) -> dict[str, list[Any]]:
    """Column name → values (in file order). ``columns`` limits what is read (Parquet reads only those)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise TableError(f"{path} does not exist")
    suffix = path.suffix.lower()
    if path.is_dir():
        table = _arrow_dataset(path)
    elif suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            names = pq.read_schema(path).names
            table = pq.read_table(path, columns=[c for c in columns if c in names] if columns else None)
        except (OSError, pa.ArrowInvalid) as exc:
            raise TableError(f"{path} is not a readable Parquet file: {exc}") from None
    elif suffix in TABLE_SUFFIXES:
        return _text_table(path, suffix)
    else:
        raise TableError(
            f"{path}: not a table (expected {', '.join(sorted(TABLE_SUFFIXES))} or a saved dataset folder)"
        )
    return {name: table.column(name).to_pylist() for name in table.column_names if columns is None or name in columns}


def read_table(path: Path) -> list[dict[str, Any]]:
    """The rows of a table as dicts."""
    cols = read_columns(path)
    names = list(cols)
    n = len(cols[names[0]]) if names else 0
    return [{name: cols[name][i] for name in names} for i in range(n)]


def _text_table(path: Path, suffix: str) -> dict[str, list]:
    records: object  # what the file holds; checked below
    try:
        if suffix in (".csv", ".tsv"):
            with path.open(newline="", encoding="utf-8") as f:
                records = list(csv.DictReader(f, delimiter="\t" if suffix == ".tsv" else ","))
        elif suffix == ".jsonl":
            records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        else:
            records = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, csv.Error) as exc:
        raise TableError(f"{path} could not be read as {suffix.lstrip('.').upper()}: {exc}") from None
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise TableError(f"{path} is not a list of records")
    names = list(dict.fromkeys(k for r in records for k in r))
    return {n: [r.get(n) for r in records] for n in names}


def _arrow_dataset(folder: Path):
    """Arrow stream files listed in state.json (a DatasetDict has one such folder per split;
    ``train`` is used)."""
    import pyarrow as pa

    if (folder / "dataset_dict.json").exists():
        splits = json.loads((folder / "dataset_dict.json").read_text()).get("splits", [])
        if not splits:
            raise TableError(f"{folder}/dataset_dict.json lists no splits")
        folder = folder / ("train" if "train" in splits else splits[0])
    try:
        state = json.loads((folder / "state.json").read_text())
        files = [folder / entry["filename"] for entry in state["_data_files"]]
        tables = []
        for file in files:
            with pa.memory_map(str(file)) as source:
                tables.append(pa.ipc.open_stream(source).read_all())
    except (OSError, KeyError, ValueError, pa.ArrowInvalid) as exc:
        raise TableError(f"{folder} is not a readable saved dataset: {exc}") from None
    return pa.concat_tables(tables)
