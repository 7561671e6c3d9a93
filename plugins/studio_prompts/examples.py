"""Small building blocks the sample workflows use, runnable offline with nothing installed.

``stdlib_search`` is a keyword retriever over the docstrings of the Python standard
library's own modules (read with ``ast``, nothing imported) — a stand-in retriever until a
RAG collection is indexed (the RAG plugin's retriever node replaces it).
"""

from __future__ import annotations

import ast
import re
import sysconfig
from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=1)
def _stdlib_docs() -> list[tuple[str, str]]:
    docs = []
    root = Path(sysconfig.get_paths()["stdlib"])
    for path in sorted([*root.glob("*.py"), *root.glob("*/__init__.py")]):
        name = path.parent.name if path.name == "__init__.py" else path.stem
        try:
            doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8", errors="replace")))
        except (SyntaxError, ValueError):
            continue
        if doc:
            docs.append((name, " ".join(doc.split())[:1200]))
    return docs


def stdlib_search(query: str, k: int = 3) -> dict[str, list[str]]:
    """The ``k`` standard-library module docstrings sharing the most words with ``query``."""
    words = set(re.findall(r"[a-z]{3,}", str(query).lower()))
    scored = []
    for name, doc in _stdlib_docs():
        text = doc.lower()
        score = sum(text.count(w) for w in words) + 5 * sum(w in name for w in words)
        if score:
            scored.append((score, name, doc))
    scored.sort(key=lambda item: (-item[0], item[1]))
    return {"passages": [f"{name}: {doc}" for _score, name, doc in scored[:k]]}
