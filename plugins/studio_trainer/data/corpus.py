"""Read a corpus: plain text, a folder of text, a column of a table, or a saved HF dataset.

``load_texts`` returns a list of documents (strings). Everything is read locally; the
default corpus, ``"stdlib"``, is the Python standard library's own source files, which are
on every machine that runs the studio. Errors are ``CorpusError`` with a message a user
can act on (which file, what is wrong, what to do).
"""

from __future__ import annotations

import sysconfig
from pathlib import Path

from studio.api import StudioFileError, read_columns

TEXT_SUFFIXES = {
    ".txt",
    ".md",
    ".rst",
    ".py",
    ".text",
    ".tex",
    ".html",
    ".xml",
    ".c",
    ".h",
    ".js",
    ".ts",
    ".java",
    ".rs",
    ".go",
    ".toml",
    ".yaml",
    ".yml",
    ".cfg",
    ".ini",
    ".csv",
    ".tsv",
    ".json",
    "",
}
TABLE_SUFFIXES = {".csv", ".tsv", ".json", ".jsonl", ".parquet"}


class CorpusError(ValueError):
    pass


def stdlib_folder() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def load_texts(corpus: str, column: str = "text", max_chars: int = 5_000_000) -> list[str]:
    """Documents of the corpus, at most ``max_chars`` characters in all."""
    if corpus == "stdlib":
        return _folder(stdlib_folder(), max_chars, pattern="*.py")
    path = Path(corpus).expanduser()
    if not path.exists():
        raise CorpusError(f"corpus {path} does not exist")
    _check_readable(path)
    if path.is_dir():
        if (path / "state.json").exists() or (path / "dataset_dict.json").exists():
            return _limit(load_table(path, [column])[column], max_chars)
        return _folder(path, max_chars)
    if path.suffix.lower() in TABLE_SUFFIXES - {".json"} or (path.suffix.lower() == ".json" and _is_json_table(path)):
        return _limit(load_table(path, [column])[column], max_chars)
    return [_read_text(path, max_chars)]


def load_pairs(corpus: str, prompt_column: str, response_column: str, max_chars: int) -> list[tuple[str, str]]:
    """(prompt, response) pairs for fine-tuning, from any table format."""
    path = Path(corpus).expanduser()
    if not path.exists():
        raise CorpusError(f"corpus {path} does not exist")
    _check_readable(path)
    columns = load_table(path, [prompt_column, response_column])
    pairs, total = [], 0
    for p, r in zip(columns[prompt_column], columns[response_column], strict=True):
        total += len(p) + len(r)
        if total > max_chars:
            break
        pairs.append((p, r))
    if not pairs:
        raise CorpusError(f"{corpus} has no prompt/response pairs")
    return pairs


def _check_readable(path: Path) -> None:
    """A folder or a regular file: reading a FIFO, socket or device would block or never end."""
    if not (path.is_dir() or path.is_file()):
        raise CorpusError(
            f"corpus {path} is not a regular file or a folder (a pipe, socket or device); "
            "give a text file, a table or a folder of text files"
        )


def _limit(texts: list[str], max_chars: int) -> list[str]:
    out, total = [], 0
    for text in texts:
        if total >= max_chars:
            break
        out.append(text[: max_chars - total])
        total += len(out[-1])
    if not any(t.strip() for t in out):
        raise CorpusError("the corpus has no text in it")
    return out


def _read_text(path: Path, max_chars: int) -> str:
    with path.open("rb") as f:  # no more than max_chars can be used: never read more
        raw = f.read(max_chars * 4)
    if b"\x00" in raw[:65536]:
        raise CorpusError(f"{path} looks like a binary file (it contains NUL bytes), not text")
    text = raw.decode("utf-8", errors="replace")[:max_chars]
    if text.count("\ufffd") > max(10, len(text) // 100):
        raise CorpusError(f"{path} is not UTF-8 text (too many undecodable bytes)")
    if not text.strip():
        raise CorpusError(f"{path} is empty")
    return text


def _folder(folder: Path, max_chars: int, pattern: str = "*") -> list[str]:
    texts, total, skipped = [], 0, 0
    for path in sorted(p for p in folder.rglob(pattern) if p.is_file()):
        if "__pycache__" in path.parts or path.suffix.lower() not in TEXT_SUFFIXES:
            continue
        try:
            text = _read_text(path, max_chars - total)
        except (CorpusError, OSError):
            skipped += 1
            continue
        texts.append(text)
        total += len(text)
        if total >= max_chars:
            break
    if not texts:
        raise CorpusError(
            f"no readable text files in {folder}" + (f" ({skipped} skipped as binary or empty)" if skipped else "")
        )
    return texts


def _is_json_table(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(64).lstrip()[:1] == b"["


def load_table(path: Path, columns: list[str]) -> dict[str, list[str]]:
    """The named columns of a CSV/TSV/JSON/JSONL/Parquet file or a saved HF dataset, as strings."""
    try:
        rows = read_columns(path, columns)
    except StudioFileError as exc:
        raise CorpusError(str(exc)) from None
    missing = [c for c in columns if c not in rows]
    if missing:
        raise CorpusError(f"{path} has no column {missing[0]!r}; columns are: {', '.join(rows) or 'none'}")
    return {c: ["" if v is None else str(v) for v in rows[c]] for c in columns}
