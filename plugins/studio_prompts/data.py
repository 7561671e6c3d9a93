"""Examples and predictions, and datasets read from CSV, JSON(L), Parquet or a saved HF dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

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

    def with_inputs(self, *keys: str) -> "Example":
        example = Example(self)
        example.input_keys = tuple(keys)
        return example

    def inputs(self) -> dict[str, Any]:
        return {k: self[k] for k in self.input_keys if k in self}

    def labels(self) -> dict[str, Any]:
        return {k: v for k, v in self.items() if k not in self.input_keys}


def load_dataset(path: str | Path, inputs: Iterable[str], *, limit: int | None = None) -> list[Example]:
    """Rows of a CSV/TSV/JSON/JSONL/Parquet file or a ``save_to_disk`` folder as Examples.
    Raises ``StudioFileError`` naming the file and what is wrong (missing input column…)."""
    from studio.api import StudioFileError

    rows = read_table(Path(path))
    keys = tuple(inputs)
    if rows:
        missing = [k for k in keys if k not in rows[0]]
        if missing:
            raise StudioFileError(f"{path}: no column {missing[0]!r}; columns are: {', '.join(rows[0])}")
    return [Example(row).with_inputs(*keys) for row in rows[:limit]]
