"""What the RAG panel shows, without Qt: a collection's sources and its summary line, the
parameters of an indexing job, a search and its results (table cells, preview, the
command that opens a hit), and the window of chunks the inspector shades.

The panel (``qt/collections_panel.py``) only puts these into widgets; everything here is
tested without a window.
"""

from __future__ import annotations

import html
import math
import re
import shlex
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .collection_files import collection_path
from .doc_keys import doc_key, doc_path, is_utf8
from .search import Hit, Searcher
from .store import SUFFIX, ChunkRow, SQLiteStore, StoreError, query_words
from .wording import plural

SOURCE_COLUMNS = ("status", "chunks", "reason", "document")  # the reason in sight: a tooltip went unseen
LEFT_OUT = ("skipped", "failed")  # documents not indexed, counted apart in the summary line
INSPECT_CHUNKS = 400  # chunks the inspector shades at most (around the chosen one)
INSPECT_BYTES = 4_000_000  # a larger file is shown as its chunks' texts
PREVIEW_CHARS = 200  # of a result's text in the results table


# ---- a collection and its sources


@dataclass(frozen=True)
class SourceRow:
    """One document of a collection, as a row of the Sources table."""

    status: str
    chunks: int
    reason: str
    document: str

    def cells(self) -> tuple[str, str, str, str]:
        """The row's texts, in ``SOURCE_COLUMNS`` order."""
        return self.status, str(self.chunks), self.reason, self.document


@dataclass
class OpenedCollection:
    """What opening a collection by name found: its store (None if there is none or it
    cannot be read), its sources, and the line to show (None: leave the status as it is)."""

    store: SQLiteStore | None = None
    rows: list[SourceRow] | None = None
    message: str | None = None


def open_collection(name: str, folder: Path) -> OpenedCollection:
    """Open ``name`` (a name in ``folder``, or a path) for browsing; a damaged or foreign
    file is reported and left as it is."""
    try:
        path = collection_path(name, folder)
        store = SQLiteStore(path) if path.exists() else None
    except StoreError as exc:
        return OpenedCollection(message=str(exc))
    if store is None:
        return OpenedCollection()
    try:
        docs = store.documents()
        rows = source_rows(docs)
        message = collection_summary(name, docs, store.count(), store.meta())
    except sqlite3.DatabaseError as exc:
        store.close()
        return OpenedCollection(message=f"{name}: cannot be read ({exc}); the file was left as it is")
    return OpenedCollection(store, rows, message)


def source_rows(docs: dict[str, dict[str, Any]]) -> list[SourceRow]:
    return [SourceRow(doc["status"], doc["chunks"], doc["error"], path) for path, doc in sorted(docs.items())]


def collection_summary(name: str, docs: dict[str, dict[str, Any]], chunks: int, meta: dict[str, Any]) -> str:
    """``docs: 5 documents, 12 chunks, 1 skipped (see Sources) · embedder minilm (fp32)``."""
    counts = {status: sum(d["status"] == status for d in docs.values()) for status in LEFT_OUT}
    left_out = ", ".join(f"{n} {status}" for status, n in counts.items() if n)
    return (
        f"{name}: {plural(len(docs) - sum(counts.values()), 'document')}, {plural(chunks, 'chunk')}"
        + (f", {left_out} (see Sources)" if left_out else "")
        + f" · embedder {meta.get('embedder')} ({meta.get('precision', 'fp32')})"
    )


NO_COLLECTION = (
    "No collection yet: index a folder (or drop one on the window), or build the sample collection of "
    "the Python documentation."
)


def collection_field(path: Path, folder: Path) -> str:
    """What the collection box shows for an opened ``.rag.sqlite`` file: its name when it
    is in the collections folder, else its path."""
    path = Path(path)
    return path.name.removesuffix(SUFFIX) if path.parent == folder else str(path)


def index_params(source: Path, collection: str, folder: Path) -> dict[str, Any]:
    """The ``rag.index`` parameters for indexing one folder into a collection; a folder
    whose name is not UTF-8 is refused (ValueError): job parameters are JSON."""
    if not is_utf8(str(source)):
        raise ValueError(f"{doc_key(source)}: the folder's name is not valid UTF-8; rename it to index it.")
    return {"sources": [str(source)], "collection": str(collection_path(collection, folder))}


def sample_index_params(data_dir: Path, folder: Path) -> dict[str, Any]:
    """Write the sample documents into the plugin's folder (``data_dir``) and return the
    ``rag.index`` parameters that build the sample collection from them."""
    from .sample import SAMPLE_COLLECTION, sample_sources_folder, write_sample_sources

    sources = write_sample_sources(sample_sources_folder(data_dir, SAMPLE_COLLECTION))
    return {"sources": [str(sources)], "collection": str(collection_path(SAMPLE_COLLECTION, folder))}


# ---- search


def search(
    store: SQLiteStore, text: str, options: dict[str, Any], vector: np.ndarray | None = None
) -> tuple[list[Hit] | None, str]:
    """Search with ``options`` (k, mode); ``vector`` is the query's embedding, needed for
    vector and hybrid modes. The hits (None if the search failed) and the line to show."""
    encode: Callable[[str], np.ndarray] | None = None if vector is None else (lambda _q: vector)
    try:
        hits = Searcher(store, encode).search(text, **options)
    except (sqlite3.DatabaseError, ValueError) as exc:  # a collection damaged since it was opened
        return None, f"Search failed: {exc}"
    return hits, (f"{plural(len(hits), 'result')} for '{text}'" if hits else f"No results for '{text}'.")


def place(hit: Hit) -> str:
    """Where in its file a hit is, after the file's name: `` p. 3`` (a PDF) or ``:12``."""
    return f" p. {hit.page}" if hit.page else f":{hit.line}"


RESULT_COLUMNS = ("#", "relevance", "source", "heading", "text")
BEST = "best match"
TIED = "tied best"  # a later result whose score equals the best one's
HIGHLIGHT_MIN_CHARS = 3  # shorter query words (a, of, to…) are not highlighted


def relevance(hits: list[Hit]) -> list[float]:
    """Each hit's score as a fraction of the best one's, 0 to 1: what a fusion score of
    0.0328 or a BM25 of 7.1 means to a reader (how close to the best match it is)."""
    if not hits:
        return []
    top = max(hit.score for hit in hits)
    if top <= 0:  # cosines at or below zero: nothing is related; the first is still the best
        return [1.0 if hit.score == top else 0.0 for hit in hits]
    return [max(0.0, min(1.0, hit.score / top)) for hit in hits]


def relevance_text(rank: int, fraction: float) -> str:
    """``best match`` for the first result, ``tied best`` for one whose score ties it, else
    its relevance in percent of the best, rounded down: a second result at 99.8% read
    "100%", a perfect match it is not."""
    if rank == 1:
        return BEST
    if fraction >= 1.0:
        return TIED
    return f"{min(99, math.floor(100 * fraction + 1e-9))}%"  # 1e-9: 0.29 * 100 is 28.999…


def score_tip(hit: Hit, mode: str) -> str:
    """The raw score, and what it is, for a tooltip."""
    if mode == "vector":
        return f"cosine similarity {hit.score:.4f} between the query and this chunk (1 is identical)"
    if mode == "keyword":
        return f"BM25 keyword score {hit.score:.4f} (higher is better; it has no fixed scale)"
    ranks = f"vector #{hit.vector_rank or '–'}, keyword #{hit.keyword_rank or '–'}"
    return (
        f"fusion score {hit.score:.4f}: reciprocal-rank fusion of the two rankings ({ranks}); "
        f"first in both would be {2 / 61:.4f}"
    )


def result_cells(hit: Hit, rank: int = 1, fraction: float = 1.0) -> tuple[str, str, str, str, str]:
    """rank, relevance (``best match``, ``tied best`` or % of the best), source (file name and place),
    heading, the text on one line (shortened); in ``RESULT_COLUMNS`` order."""
    return (
        str(rank),
        relevance_text(rank, fraction),
        f"{Path(hit.path).name}{place(hit)}",
        hit.heading,
        " ".join(hit.text.split())[:PREVIEW_CHARS],
    )


def preview_html(hit: Hit, query: str, match: tuple[str, str] = ("", "")) -> str:
    """The hit as HTML, the query's words marked; ``match``: the (background, text) colours
    of a mark, taken from the theme by the panel (bold only when empty)."""
    ranks = f"vector #{hit.vector_rank or '–'} · keyword #{hit.keyword_rank or '–'}"
    where = f"page {hit.page}" if hit.page else f"line {hit.line}"
    return (
        f"<p><b>{html.escape(hit.path)}</b> · {where} · {ranks}<br><i>{html.escape(hit.heading)}</i></p>"
        f"<pre style='white-space: pre-wrap'>{highlight(hit.text, query, *match)}</pre>"
    )


def highlight_words(query: str) -> list[str]:
    """The query's words worth marking, longest first: no stop words (the, and, with…: they
    match everywhere and the search leaves them out too) and none under
    ``HIGHLIGHT_MIN_CHARS`` letters. A query of stop words only keeps them."""
    words = {w for w in query_words(query) if len(w) >= HIGHLIGHT_MIN_CHARS}
    return sorted(words, key=lambda w: (-len(w), w))


def highlight(text: str, query: str, background: str = "", colour: str = "") -> str:
    """HTML of ``text`` with the query's words (``highlight_words``) in bold, on
    ``background`` in ``colour`` when given."""
    words = highlight_words(query)
    if not words:
        return html.escape(text)
    style = ";".join(f"{key}:{value}" for key, value in (("background", background), ("color", colour)) if value)
    tag = f"<b style='{style}'>" if style else "<b>"
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, words)) + r")", re.IGNORECASE)
    parts, at = [], 0  # matched in the text itself, then escaped: a word never lands inside "&amp;"
    for match in pattern.finditer(text):
        parts += [html.escape(text[at : match.start()]), tag, html.escape(match.group(1)), "</b>"]
        at = match.end()
    return "".join(parts) + html.escape(text[at:])


def open_command(command: str, hit: Hit) -> list[str]:
    """The arguments that open ``hit`` with ``command`` (``{path}``, ``{line}``, ``{page}``
    filled in; the path is the file itself, for a name stored with escapes)."""
    file = str(doc_path(hit.path))
    return [part.format(path=file, line=hit.line, page=hit.page or 1) for part in shlex.split(command)]


# ---- the chunk inspector


@dataclass
class ChunkView:
    """A document as the inspector shows it: ``text`` with each chunk's ``spans`` in it."""

    text: str
    spans: list[tuple[int, int]]
    chunks: list[ChunkRow]
    label: str


def chunk_view(
    path: str, chunks: list[ChunkRow], chunk_id: int | None = None, read: Callable[[str], str | None] | None = None
) -> ChunkView:
    """The document with its chunks in turn and ``chunk_id`` to be outlined; text formats
    show the file itself (``read``, by default ``document_text``), others the chunk texts.
    A long document shows the ``INSPECT_CHUNKS`` chunks around the chosen one (a 20 MB
    file has thousands: shading them all froze the window)."""
    total, first = len(chunks), 0
    if total > INSPECT_CHUNKS:
        chosen = next((i for i, c in enumerate(chunks) if c.id == chunk_id), 0)
        first = max(0, min(chosen - INSPECT_CHUNKS // 2, total - INSPECT_CHUNKS))
        chunks = chunks[first : first + INSPECT_CHUNKS]
    text = (read or document_text)(path) if len(chunks) == total else None
    if text is None or any(text[c.start : c.end] != c.text for c in chunks):
        parts, spans, at = [], [], 0  # show the chunks one after another
        for c in chunks:
            spans.append((at, at + len(c.text)))
            parts.append(c.text + "\n\n")
            at += len(parts[-1])
        text = "".join(parts)
    else:
        spans = [(c.start, c.end) for c in chunks]
    shown = (
        plural(len(chunks), "chunk") if len(chunks) == total else f"chunks {first + 1}–{first + len(chunks)} of {total}"
    )
    label = f"{path}: {shown} (shaded in turn" + ("; the result is outlined" if chunk_id else "") + ")"
    return ChunkView(text, spans, chunks, label)


def document_text(path: str) -> str | None:
    """The text file itself when it is small enough to show (never a pipe or device)."""
    from .parse import ParseError, read_text

    file = doc_path(path)
    try:
        if (
            Path(path).suffix.lower() in (".pdf", ".html", ".htm")
            or not file.is_file()
            or file.stat().st_size > INSPECT_BYTES
        ):
            return None
        return read_text(file)
    except (ParseError, OSError):
        return None
