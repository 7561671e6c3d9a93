"""The real default embedder (all-MiniLM-L6-v2 from its offline wheel); quantized through
the quantizer plugin: tests/integration/test_rag_and_quantizer.py."""

from __future__ import annotations

import numpy as np
import pytest

from studio_rag.embedder import EmbedderError, open_embedder, token_counter


@pytest.fixture(scope="module")
def minilm():
    return open_embedder("minilm")


def test_minilm_embeds_offline_and_meaning_is_near(minilm):
    vectors = minilm.encode(
        ["A cat sits on the mat.", "A kitten is resting on a rug.", "Quarterly revenue grew by ten percent."]
    )
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.3
    counter = token_counter("minilm")
    assert counter.exact and len(counter.spans(["unbelievable tokenization"])[0]) > 2
    assert minilm.max_tokens == 256


def test_int8_embedder_stays_close_to_fp32(minilm):
    sentences = ["How do I read a CSV file?", "Parse command line options.", "Sort a list in place."]
    int8 = open_embedder("minilm", precision="int8")
    cosine = (minilm.encode(sentences) * int8.encode(sentences)).sum(axis=1)
    assert cosine.min() > 0.95  # measured 0.97-0.98 (BENCHMARKS.md)
    bf16 = open_embedder("minilm", precision="bf16").encode(sentences)
    assert np.allclose(np.linalg.norm(bf16, axis=1), 1.0, atol=1e-5)


def test_bad_embedder_specs_are_explained(tmp_path):
    with pytest.raises(EmbedderError, match="no such model folder"):
        open_embedder(str(tmp_path / "nothing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(EmbedderError, match="not a sentence-transformers model"):
        open_embedder(str(tmp_path / "empty"))
    with pytest.raises(EmbedderError, match="precision"):
        open_embedder("minilm", precision="int3")
