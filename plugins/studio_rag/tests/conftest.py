"""Fixtures for the RAG tests: a toy embedder and a folder of small documents."""

from __future__ import annotations

import pytest

from studio_rag.tests.toy import HashEmbedder


@pytest.fixture
def toy():
    return HashEmbedder()


DOCS = {
    "guide.md": "# Guide\n\nInstall the package with pip.\n\n## Cooking\n\nBoil the pasta for ten minutes, "
    "then drain it.\n\n## Gardening\n\nWater tomatoes every morning in summer.\n",
    "notes.txt": "The quarterly report is due on Friday.\n\nAsk Maria about the budget spreadsheet.\n",
    "page.html": "<html><body><h1>Weather</h1><p>Rain is expected in Lisbon tomorrow.</p>"
    "<script>var secret = 1;</script></body></html>",
    "tool.py": 'import os\n\n\ndef frobnicate(x):\n    """Frobnicate x twice."""\n    return x * 2\n\n\n'
    'class Widget:\n    """A widget that spins."""\n',
    "sub/deep.rst": "Deep\n====\n\nThe submarine dives to three hundred metres.\n",
}


@pytest.fixture
def docs(tmp_path):
    root = tmp_path / "docs"
    for name, text in DOCS.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root
