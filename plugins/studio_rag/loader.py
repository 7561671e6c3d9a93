"""Sentence-embedding models as measurable models for the quantizer (``studio_model_loaders``).

``model`` is the transformer inside (its parameter names are those of the folder's
``model.safetensors``, so the quantizer's tensors map onto it). An embedder predicts no
tokens, so its ``loss`` is the embedding drift: 1 − the mean cosine similarity between the
candidate's embeddings and the loaded model's, over the lines of the held-out 10 % of the
text (0 for the model as loaded).
"""

from __future__ import annotations

from pathlib import Path

from studio.api import LoadedModel, StudioFileError

VAL_FRACTION = 0.1
MAX_SENTENCES = 512
LOSS_NAME = "1 − cosine to fp32"


def is_sentence_transformer(folder: Path) -> bool:
    return (folder / "modules.json").exists() and (folder / "config.json").exists()


def load(path: Path) -> LoadedModel | None:
    import torch

    from .embedder import SentenceTransformerEmbedder

    folder = Path(path)
    if not folder.is_dir() or not is_sentence_transformer(folder):
        return None
    embedder = SentenceTransformerEmbedder(str(folder), folder)
    st = embedder.model
    transformer = st[0].auto_model
    reference: dict[str, torch.Tensor] = {}

    holder = st[0]
    slot = next(name for name, child in holder.named_children() if child is transformer)

    def encode_with(candidate, sentences: list[str]) -> torch.Tensor:
        setattr(holder, slot, candidate)  # run the pipeline (tokenize, pool, normalize) with the candidate inside
        try:
            vectors = st.encode(sentences, batch_size=32, convert_to_tensor=True, show_progress_bar=False)
            return torch.nn.functional.normalize(vectors.float(), dim=1)  # in float32: bf16 norms are off by 1e-3
        finally:
            setattr(holder, slot, transformer)

    def loss(candidate, text: str) -> float:
        sentences = held_out_sentences(text)
        if text not in reference:
            reference.clear()
            reference[text] = encode_with(transformer, sentences)
        cosine = (encode_with(candidate, sentences) * reference[text]).sum(dim=1)
        return float(1.0 - cosine.mean())

    def example_input(batch_size: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(0)
        return torch.randint(1000, 20000, (batch_size, 128), generator=generator)

    return LoadedModel(
        transformer, loss, example_input, f"sentence embedder {folder.name} ({embedder.dim} dims)", loss_name=LOSS_NAME
    )


def held_out_sentences(text: str) -> list[str]:
    lines = [line.strip() for line in text.splitlines() if len(line.strip()) > 20]
    held_out = lines[int(len(lines) * (1 - VAL_FRACTION)) :][:MAX_SENTENCES]
    if not held_out:
        raise StudioFileError("the held-out 10 % of the text has no line longer than 20 characters to embed")
    return held_out
