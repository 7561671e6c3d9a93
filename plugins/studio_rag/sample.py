"""The sample collection's sources: documentation of the installed Python standard library,
written as Markdown (one file per module; a heading per class and function), so the
studio has something real to search on a fresh machine, offline."""

from __future__ import annotations

import importlib
import inspect
import warnings
from pathlib import Path

MODULES = (
    "abc",
    "argparse",
    "asyncio",
    "base64",
    "bisect",
    "collections",
    "contextlib",
    "copy",
    "csv",
    "dataclasses",
    "datetime",
    "decimal",
    "difflib",
    "enum",
    "fnmatch",
    "fractions",
    "functools",
    "glob",
    "gzip",
    "hashlib",
    "heapq",
    "hmac",
    "html",
    "http.client",
    "inspect",
    "io",
    "itertools",
    "json",
    "logging",
    "math",
    "multiprocessing",
    "operator",
    "os",
    "os.path",
    "pathlib",
    "pickle",
    "pprint",
    "queue",
    "random",
    "re",
    "secrets",
    "shlex",
    "shutil",
    "socket",
    "sqlite3",
    "statistics",
    "string",
    "struct",
    "subprocess",
    "tarfile",
    "tempfile",
    "textwrap",
    "threading",
    "time",
    "timeit",
    "tokenize",
    "traceback",
    "typing",
    "unittest",
    "urllib.parse",
    "uuid",
    "warnings",
    "weakref",
    "zipfile",
    "zlib",
)


def module_markdown(name: str) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = importlib.import_module(name)
    lines = [f"# {name}", "", inspect.getdoc(module) or "", ""]
    public = getattr(module, "__all__", None) or [n for n in dir(module) if not n.startswith("_")]
    for attr in sorted(set(public)):
        obj = getattr(module, attr, None)
        if not (inspect.isclass(obj) or inspect.isfunction(obj) or inspect.isbuiltin(obj)):
            continue
        doc = inspect.getdoc(obj)
        home = (getattr(obj, "__module__", None) or name).split(".")[0]
        if not doc or home not in (name.split(".")[0], "_" + name.split(".")[0], "posix", "posixpath"):
            continue
        lines += [f"## {name}.{attr}{_signature(obj)}", "", doc, ""]
        if inspect.isclass(obj):
            for method_name, method in sorted(vars(obj).items()):
                if method_name.startswith("_") or not callable(method):
                    continue
                method_doc = inspect.getdoc(method)
                if method_doc:
                    lines += [f"### {name}.{attr}.{method_name}{_signature(method)}", "", method_doc, ""]
    return "\n".join(lines)


def _signature(obj) -> str:
    """The signature, without memory addresses of sentinel defaults (``<object at 0x…>``),
    so the files are the same on every run and re-indexing skips them."""
    import re

    try:
        return re.sub(r" at 0x[0-9a-fA-F]+", "", str(inspect.signature(obj)))
    except (TypeError, ValueError):
        return ""


SAMPLE_COLLECTION = "python-docs"


def sample_sources_folder(data_dir: Path, collection: str = SAMPLE_COLLECTION) -> Path:
    """Where the sample documents of ``collection`` are written: ``sources/<collection>/``
    in the plugin's folder (``data_dir``)."""
    return data_dir / "sources" / collection


def write_sample_sources(folder: Path, modules: tuple[str, ...] = MODULES) -> Path:
    """Write (or refresh) one Markdown file per module; unchanged files keep their bytes,
    so re-indexing skips them."""
    from .store import os_problem

    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name in modules:
            target = folder / f"{name}.md"
            try:
                text = module_markdown(name)
            except ImportError:
                continue
            if not target.exists() or target.read_text(encoding="utf-8") != text:
                target.write_text(text, encoding="utf-8")
    except OSError as exc:  # a folder not writable, a file where a folder should be, a full disk
        raise os_problem(exc, "write") from None
    return folder
