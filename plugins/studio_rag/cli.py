"""``tensor-studio rag index|search|status|remove|sample``."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path


def configure(parser) -> None:
    sub = parser.add_subparsers(dest="rag_command", required=True)
    index = sub.add_parser("index", help="index files or folders into a collection (resumes, skips unchanged files)")
    index.add_argument("paths", nargs="+")
    _collection(index)
    index.add_argument("--embedder", default=None, help="minilm (default), a sentence-transformers folder, "
                                                        "litellm:<model>, python:module:function")
    index.add_argument("--precision", choices=["fp32", "bf16", "int8"], default="fp32")
    index.add_argument("--include", default="*", help="comma-separated file name patterns")
    index.add_argument("--exclude", default="", help="comma-separated patterns to leave out")
    index.add_argument("--chunk-size", type=int, default=200, help="tokens per chunk")
    index.add_argument("--overlap", type=int, default=30, help="tokens shared by neighbouring chunks")
    index.add_argument("--batch-size", type=int, default=32)
    index.add_argument("--file-timeout", type=float, default=60.0, help="seconds before a file is skipped")
    index.add_argument("--rebuild", action="store_true", help="start the collection afresh")
    index.add_argument("--watch", action="store_true", help="keep running and re-index what changes (Ctrl-C stops)")
    search = sub.add_parser("search", help="search a collection")
    search.add_argument("query")
    _collection(search)
    search.add_argument("-k", type=int, default=5)
    search.add_argument("--mode", choices=["hybrid", "vector", "keyword"], default="hybrid")
    search.add_argument("--path", default="", help="only documents whose path matches this glob")
    search.add_argument("--heading", default="", help="only chunks whose heading contains this")
    search.add_argument("--mmr", type=float, default=None, metavar="WEIGHT",
                        help="diversify: relevance weight 0..1 (e.g. 0.7)")
    search.add_argument("--approximate", action="store_true", help="use the approximate vector index")
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


def run(args) -> int:
    from .collections import collection_path

    if args.rag_command == "index":
        params = {"sources": [str(Path(p).expanduser().resolve()) for p in args.paths],
                  "collection": str(collection_path(args.collection, args.workspace)),
                  "precision": args.precision, "include": args.include, "exclude": args.exclude,
                  "chunk_size": args.chunk_size, "overlap": args.overlap, "batch_size": args.batch_size,
                  "file_timeout": args.file_timeout, "rebuild": args.rebuild, "watch": args.watch}
        if args.embedder:
            params["embedder"] = args.embedder
        return args.run_job("rag.index", params)
    if args.rag_command == "search":
        return _search(args)
    if args.rag_command == "status":
        return _status(args)
    if args.rag_command == "remove":
        return _remove(args)
    if args.rag_command == "sample":
        from .sample import write_sample_sources

        folder = write_sample_sources(Path(args.workspace) / "rag" / "sources" / args.collection)
        print(f"wrote the sample documents to {folder}")
        return args.run_job("rag.index", {"sources": [str(folder)],
                                          "collection": str(collection_path(args.collection, args.workspace))})
    return 2


def _search(args) -> int:
    from .collections import collection_path
    from .searching import open_searcher

    searcher = open_searcher(collection_path(args.collection, args.workspace), need_vectors=args.mode != "keyword")
    hits = searcher.search(args.query, args.k, args.mode, args.path, args.heading, args.mmr, args.approximate)
    if args.json:
        print(json.dumps([h.to_json() for h in hits], indent=2, ensure_ascii=False))
        return 0
    if not hits:
        print("no results")
    for rank, hit in enumerate(hits, 1):
        place = ("page", hit.page) if hit.page else ("line", hit.line)
        ranks = f"vector #{hit.vector_rank or '-'}, keyword #{hit.keyword_rank or '-'}"
        print(f"{rank}. {hit.score:.4f}  {hit.path}:{place[1]} ({place[0]} {place[1]}; {ranks})")
        if hit.heading:
            print(f"   § {hit.heading}")
        print(textwrap.indent(textwrap.shorten(" ".join(hit.text.split()), 300), "   "))
    return 0


def _status(args) -> int:
    from .collections import collection_path, list_collections
    from .store import SQLiteStore

    if args.collection is None:
        rows = list_collections(args.workspace)
        if args.json:
            print(json.dumps(rows, indent=2))
            return 0
        if not rows:
            print(f"no collections in {Path(args.workspace) / 'rag'} (create one with `tensor-studio rag index PATH`)")
        for row in rows:
            if "error" in row:
                print(f"{row['name']:20} unreadable: {row['error']}")
            else:
                print(f"{row['name']:20} {row['documents']:6} documents {row['chunks']:8} chunks "
                      f"{row['failed']:4} failed  embedder {row['embedder']}")
        return 0
    store = SQLiteStore(collection_path(args.collection, args.workspace))
    try:
        docs = store.documents()
        if args.json:
            print(json.dumps({"meta": store.meta(), "documents": docs}, indent=2))
            return 0
        meta = store.meta()
        print(f"{store.path}: embedder {meta['embedder']} ({meta['dim']} dims), chunks of {meta['chunk_size']} "
              f"tokens, {store.count()} chunks")
        for path, doc in sorted(docs.items()):
            note = f"{doc['chunks']} chunks" if doc["status"] == "indexed" else f"FAILED: {doc['error']}"
            print(f"  {doc['status']:8} {path}  {note}")
    finally:
        store.close()
    return 0


def _remove(args) -> int:
    from .collections import collection_path
    from .store import SQLiteStore

    store = SQLiteStore(collection_path(args.collection, args.workspace))
    try:
        root = Path(args.path).expanduser().resolve()
        gone = [p for p in store.documents() if Path(p) == root or Path(p).is_relative_to(root)]
        store.remove_documents(gone)
        print(f"removed {len(gone)} documents from {store.path.name}")
    finally:
        store.close()
    return 0
