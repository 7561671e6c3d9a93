"""``tensor-studio rag index|search|status|remove|sample``.

Bad input is refused before anything runs, with exit 2 and one ``error:`` line: flags out
of range at parse time, paths that do not exist, text that is not UTF-8, an embedder
folder whose config would not fit in memory, a collection file SQLite cannot read.
"""

from __future__ import annotations

import argparse
import json
import math
import sqlite3
import textwrap
from pathlib import Path

from studio.api import CliContext

from .wording import plural


def _int_in(low: int, high: int | None = None):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(
                f"{value} is out of range ({low} to {high})"
                if high is not None
                else f"{value} is out of range (at least {low})"
            )
        return value

    return parse


def _float_in(low: float, high: float | None, low_open: bool = False):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if (
            not math.isfinite(value)
            or value < low
            or (low_open and value == low)
            or (high is not None and value > high)
        ):
            bounds = f"from {low:g} to {high:g}" if high is not None else f"above {low:g}"
            raise argparse.ArgumentTypeError(f"{text} is out of range ({bounds})")
        return value

    return parse


def configure(parser) -> None:
    sub = parser.add_subparsers(dest="rag_command", required=True)  # one-line errors: the shell's parser class
    index = sub.add_parser("index", help="index files or folders into a collection (resumes, skips unchanged files)")
    index.add_argument("paths", nargs="+")
    _collection(index)
    index.add_argument(
        "--embedder",
        default=None,
        help="minilm (default), a sentence-transformers folder, litellm:<model>, python:module:function",
    )
    index.add_argument("--precision", choices=["fp32", "bf16", "int8"], default="fp32")
    index.add_argument("--include", default="*", help="comma-separated file name patterns")
    index.add_argument("--exclude", default="", help="comma-separated patterns to leave out")
    index.add_argument("--chunk-size", type=_int_in(8, 2048), default=200, help="tokens per chunk (8-2048)")
    index.add_argument(
        "--overlap",
        type=_int_in(0, 1024),
        default=30,
        help="tokens shared by neighbouring chunks (less than --chunk-size)",
    )
    index.add_argument("--batch-size", type=_int_in(1, 1024), default=32)
    index.add_argument(
        "--file-timeout", type=_float_in(0, 86400, low_open=True), default=60.0, help="seconds before a file is skipped"
    )
    index.add_argument("--rebuild", action="store_true", help="start the collection afresh")
    index.add_argument("--watch", action="store_true", help="keep running and re-index what changes (Ctrl-C stops)")
    search = sub.add_parser("search", help="search a collection")
    search.add_argument("query")
    _collection(search)
    search.add_argument("-k", type=_int_in(1, 1000), default=5, help="results (1-1000)")
    search.add_argument("--mode", choices=["hybrid", "vector", "keyword"], default="hybrid")
    search.add_argument("--path", default="", help="only documents whose path matches this glob")
    search.add_argument("--heading", default="", help="only chunks whose heading contains this")
    search.add_argument(
        "--mmr",
        type=_float_in(0, 1),
        default=None,
        metavar="WEIGHT",
        help="diversify: relevance weight 0..1 (e.g. 0.7; 1 is plain relevance)",
    )
    search.add_argument("--approximate", action="store_true", help="use the approximate vector index")
    search.add_argument(
        "--embedder",
        default=None,
        help="the collection's own embedder, named: needed when it is Python code (python:module:function) "
        "or an API at a server the collection names (a collection file alone never runs code)",
    )
    search.add_argument("--json", action="store_true")
    status = sub.add_parser("status", help="list collections, or one collection's documents")
    status.add_argument("--collection", "-c", default=None)
    status.add_argument("--json", action="store_true")
    remove = sub.add_parser("remove", help="remove documents under PATH from a collection")
    remove.add_argument("path")
    _collection(remove)
    sample = sub.add_parser("sample", help="build the sample collection: the Python standard library's documentation")
    sample.add_argument("--collection", "-c", default="python-docs")


def _collection(parser) -> None:
    parser.add_argument("--collection", "-c", default="docs", help="a collection name or a .rag.sqlite path")


def run(args, ctx: CliContext) -> int:
    from .collection_files import collections_folder
    from .doc_keys import is_utf8

    for name, value in vars(args).items():  # SQLite, JSON and the terminal take UTF-8 only
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str) and not is_utf8(text):
                raise ValueError(
                    f"the {name.replace('_', ' ')} {text.encode('utf-8', 'backslashreplace').decode()!r} "
                    "is not valid UTF-8 text"
                )
    folder = collections_folder(ctx.folders)  # named collections; not created by reading
    try:
        return _run(args, ctx, folder)
    except OSError as exc:  # a file or folder the system refused (permissions, a full disk): one line
        from .store import os_problem

        if exc.filename is None:
            raise
        raise os_problem(exc, "use") from None
    except sqlite3.DatabaseError as exc:  # damage found past the pages read on opening
        from .collection_files import collection_path
        from .store import StoreError, unreadable

        if getattr(args, "collection", None) is None:
            raise StoreError(f"a collection in {folder} cannot be read ({exc})") from None
        raise unreadable(collection_path(args.collection, folder), exc) from None


def _run(args, ctx: CliContext, folder: Path) -> int:
    from .collection_files import collection_path

    if args.rag_command == "index":
        _check_index(args, folder)
        params = {
            "sources": [str(Path(p).expanduser().resolve()) for p in args.paths],
            "collection": str(collection_path(args.collection, folder)),
            "precision": args.precision,
            "include": args.include,
            "exclude": args.exclude,
            "chunk_size": args.chunk_size,
            "overlap": args.overlap,
            "batch_size": args.batch_size,
            "file_timeout": args.file_timeout,
            "rebuild": args.rebuild,
            "watch": args.watch,
        }
        if args.embedder:
            params["embedder"] = args.embedder
        return ctx.run_job("rag.index", params)
    if args.rag_command == "search":
        return _search(args, folder)
    if args.rag_command == "status":
        return _status(args, folder)
    if args.rag_command == "remove":
        return _remove(args, folder)
    if args.rag_command == "sample":
        from .collection_files import collection_name
        from .sample import sample_sources_folder, write_sample_sources

        path = collection_path(args.collection, folder)  # a bad name is refused before anything is written
        sources = write_sample_sources(sample_sources_folder(ctx.data_dir, collection_name(path)))
        print(f"wrote the sample documents to {sources}")
        return ctx.run_job("rag.index", {"sources": [str(sources)], "collection": str(path)})
    return 2


def _check_index(args, folder: Path) -> None:
    """What would only fail inside the job, refused here: sources that do not exist, an
    embedder folder that is missing or whose config cannot be built, a damaged collection."""
    from .collection_files import collection_path
    from .config import overlap_error
    from .embedder import DEFAULT_EMBEDDER, model_folder
    from .index import check_sources
    from .modelcheck import check_model_folder

    if args.overlap >= args.chunk_size:
        raise ValueError(overlap_error(args.overlap, args.chunk_size, ("--overlap", "--chunk-size")))

    check_sources(collection_path(args.collection, folder), [Path(p) for p in args.paths], args.rebuild, folder)
    spec = args.embedder or DEFAULT_EMBEDDER
    model_dir = model_folder(spec) if spec != DEFAULT_EMBEDDER else None
    if model_dir is not None:
        check_model_folder(model_dir)


def _search(args, folder: Path) -> int:
    from .browse import relevance, relevance_text
    from .collection_files import collection_path
    from .search import open_searcher

    searcher = open_searcher(
        collection_path(args.collection, folder), need_vectors=args.mode != "keyword", embedder=args.embedder
    )
    hits = searcher.search(args.query, args.k, args.mode, args.path, args.heading, args.mmr, args.approximate)
    if args.json:
        print(json.dumps([h.to_json() for h in hits], indent=2, ensure_ascii=False))
        return 0
    if not hits:
        print("no results")
    for rank, (hit, fraction) in enumerate(zip(hits, relevance(hits), strict=True), 1):
        place = ("page", hit.page) if hit.page else ("line", hit.line)
        ranks = f"vector #{hit.vector_rank or '-'}, keyword #{hit.keyword_rank or '-'}"
        print(
            f"{rank}. {relevance_text(rank, fraction)}  {hit.path}:{place[1]} "
            f"({place[0]} {place[1]}; {ranks}; score {hit.score:.4f})"
        )
        if hit.heading:
            print(f"   § {hit.heading}")
        print(textwrap.indent(textwrap.shorten(" ".join(hit.text.split()), 300), "   "))
    return 0


def _status(args, folder: Path) -> int:
    from .collection_files import collection_path, list_collections
    from .store import SQLiteStore, check_folder

    if args.collection is None:
        check_folder(folder)  # a file or link in its place, or not readable: said, not "no collections"
        rows = list_collections(folder)
        if args.json:
            print(json.dumps(rows, indent=2))
            return 0
        if not rows:
            print(f"no collections in {folder} (create one with `tensor-studio rag index PATH`)")
        for row in rows:
            if "error" in row:
                print(f"{row['name']:20} unreadable: {row['error']}")
            else:
                print(
                    f"{row['name']:20} {plural(row['documents'], 'document'):>15} {plural(row['chunks'], 'chunk'):>14} "
                    f"{row['failed']:4} not indexed  embedder {row['embedder']}"
                )
        return 0
    store = SQLiteStore(collection_path(args.collection, folder), read_only=True)
    try:
        docs = store.documents()
        if args.json:
            print(json.dumps({"meta": store.meta(), "documents": docs}, indent=2))
            return 0
        meta = store.meta()
        print(
            f"{store.path}: embedder {meta['embedder']} ({meta['dim']} dims), chunks of {meta['chunk_size']} "
            f"tokens, {plural(store.count(), 'chunk')}"
        )
        for path, doc in sorted(docs.items()):
            note = plural(doc["chunks"], "chunk") if doc["status"] == "indexed" else doc["error"]
            print(f"  {doc['status']:8} {path}  {note}")
    finally:
        store.close()
    return 0


def _remove(args, folder: Path) -> int:
    from .collection_files import collection_path
    from .doc_keys import doc_key
    from .store import SQLiteStore

    store = SQLiteStore(collection_path(args.collection, folder))
    try:
        try:
            root = Path(doc_key(Path(args.path).expanduser().resolve()))
        except RuntimeError:  # a symbolic link loop (Python < 3.13)
            raise ValueError(f"{args.path}: a symbolic link loop, not a folder or file") from None
        gone = [p for p in store.documents() if Path(p) == root or Path(p).is_relative_to(root)]
        store.remove_documents(gone)
        print(f"removed {plural(len(gone), 'document')} from {store.path.name}")
    finally:
        store.close()
    return 0
