"""The RAG plugin's embedder as a model of the quantizer plugin (the model-loader hook)."""

from __future__ import annotations

import pytest

from studio_quantizer.pipeline import run_quantization
from studio_quantizer.scheme import Scheme
from studio_rag.embedder import minilm_path, open_embedder


def test_quantizer_measures_and_saves_the_embedder(tmp_path):
    """The quantizer loads the embedder through the model-loader hook; its 'loss' is the
    embedding drift; the quantized folder opens again as an embedder."""
    text = tmp_path / "text.txt"
    text.write_text("\n".join(f"Sentence number {i} talks about rivers, mountains and the sea." for i in range(200)))
    report = run_quantization(minilm_path(), Scheme(bits=8), tmp_path / "q8", str(text), repeats=2)
    measured = report["measured"]
    assert measured["fp32"]["loss"] == pytest.approx(0.0, abs=1e-6)
    assert measured["fp32"]["loss_name"].startswith("1 − cosine") and "perplexity" not in measured["fp32"]
    assert 0 < measured["dynamic_int8"]["loss"] < 0.05 and 0 < measured["weight_only"]["loss"] < 0.01
    assert not any(row["name"].startswith("embeddings.") for row in report["layers"])  # skipped by default
    quantized = open_embedder(str(tmp_path / "q8"))
    fp32 = open_embedder("minilm")
    sentences = ["rivers and mountains", "the deep blue sea"]
    assert (quantized.encode(sentences) * fp32.encode(sentences)).sum(axis=1).min() > 0.99
