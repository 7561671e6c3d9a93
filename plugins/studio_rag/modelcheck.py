"""Sanity checks of a sentence-transformers folder, before any model is built from it.

Why: building a model allocates every layer its ``config.json`` names before a single
weight is read, so a config of 100,000 layers hung indexing (hundreds of GB asked for)
instead of failing. Here the config is read as data (JSON only: no code from the folder
runs), its size estimated and compared with the weights the folder really holds (the
safetensors headers: names and shapes, never the data) and with this machine's memory.
"""

from __future__ import annotations

import json
import os
import re
import struct
from pathlib import Path
from typing import Any

from .embedder import EmbedderError

# far beyond any sentence embedder (the largest have 32-48 layers of 4096), far below a hang
LIMITS = {
    "num_hidden_layers": 256,
    "hidden_size": 16384,
    "intermediate_size": 65536,
    "num_attention_heads": 512,
    "vocab_size": 1_000_000,
    "max_position_embeddings": 1_048_576,
}
LAYER_NAME = re.compile(r"(?:^|\.)(?:layer|layers|h|block|blocks)\.(\d+)\.")
MAX_HEADER = 100_000_000


class ModelCheckError(EmbedderError):
    """A model folder whose configuration cannot be (or should not be) built."""


def check_model_folder(folder: Path) -> None:
    """Raise ``ModelCheckError`` saying why ``folder``'s model must not be built."""
    folder = Path(folder)
    config_path = _transformer_folder(folder) / "config.json"
    if not config_path.is_file():
        return  # sentence-transformers says what is missing, without allocating anything
    config = _json(config_path)
    if not isinstance(config, dict):
        raise ModelCheckError(f"{config_path}: not a model configuration (a JSON object is expected)")
    sizes = {}
    for key, limit in LIMITS.items():
        value = config.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ModelCheckError(f"{config_path}: {key} is {value!r}; a positive whole number is expected")
        if value > limit:
            raise ModelCheckError(
                f"{config_path}: {key} is {value:,}, beyond any sentence embedder (at most "
                f"{limit:,}); the model was not built"
            )
        sizes[key] = value
    _check_memory(config_path, sizes)
    weights = _weight_shapes(folder)
    if weights:
        _compare(config_path, sizes, weights)


def _transformer_folder(folder: Path) -> Path:
    """Where the transformer's config is: the Transformer module's path in modules.json."""
    modules = folder / "modules.json"
    if modules.is_file():
        listed = _json(modules)
        for module in listed if isinstance(listed, list) else []:
            if isinstance(module, dict) and str(module.get("type", "")).endswith("Transformer"):
                sub = (folder / str(module.get("path", ""))).resolve()
                if sub.is_relative_to(folder.resolve()):
                    return sub
    return folder


def _json(path: Path) -> Any:
    try:
        if path.stat().st_size > 10_000_000:
            raise ModelCheckError(f"{path}: {path.stat().st_size / 1e6:.0f} MB is far too large for a configuration")
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ModelCheckError(f"{path}: not readable JSON ({exc})") from None


def estimated_parameters(sizes: dict[str, int]) -> int:
    """Parameters of a BERT-like encoder of these sizes (embeddings + layers)."""
    hidden = sizes.get("hidden_size", 768)
    inner = sizes.get("intermediate_size", 4 * hidden)
    embeddings = (sizes.get("vocab_size", 30522) + min(sizes.get("max_position_embeddings", 512), 8192)) * hidden
    return embeddings + sizes.get("num_hidden_layers", 12) * (4 * hidden * hidden + 2 * hidden * inner)


def _check_memory(config_path: Path, sizes: dict[str, int]) -> None:
    need = 4 * estimated_parameters(sizes)  # float32 while building
    free = available_memory()
    if free and need > free:
        raise ModelCheckError(
            f"{config_path}: building this model needs about {need / 2**30:.1f} GiB "
            f"({estimated_parameters(sizes):,} parameters); {free / 2**30:.1f} GiB is free"
        )


def available_memory() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def _weight_shapes(folder: Path) -> dict[str, list[int]]:
    """Tensor names and shapes from the folder's safetensors headers (the data is not read)."""
    shapes: dict[str, list[int]] = {}
    for path in sorted(folder.glob("*.safetensors")):
        shapes.update(safetensors_header(path))
    return shapes


def safetensors_header(path: Path) -> dict[str, list[int]]:
    try:
        with open(path, "rb") as f:
            raw = f.read(8)
            (length,) = struct.unpack("<Q", raw) if len(raw) == 8 else (-1,)
            if not 0 < length <= min(MAX_HEADER, path.stat().st_size - 8):
                raise ModelCheckError(f"{path}: not a safetensors file (header length {length})")
            header = json.loads(f.read(length))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ModelCheckError(f"{path}: not a readable safetensors file ({exc})") from None
    if not isinstance(header, dict):
        raise ModelCheckError(f"{path}: not a safetensors file (its header is not a table of tensors)")
    return {
        name: list(info.get("shape", []))
        for name, info in header.items()
        if name != "__metadata__" and isinstance(info, dict)
    }


def _compare(config_path: Path, sizes: dict[str, int], weights: dict[str, list[int]]) -> None:
    """The config must describe the weights it sits beside: as many layers, the same width."""
    layers = {int(m.group(1)) for name in weights for m in [LAYER_NAME.search(name)] if m}
    stated = sizes.get("num_hidden_layers")
    if stated is not None and layers and stated != max(layers) + 1:
        raise ModelCheckError(
            f"{config_path}: num_hidden_layers is {stated:,} but the weights hold "
            f"{max(layers) + 1} layers; the model was not built"
        )
    hidden = sizes.get("hidden_size")
    for name, shape in weights.items():
        if (
            re.search(r"(word_embeddings|embed_tokens|wte)\.weight$", name)
            and len(shape) == 2
            and hidden is not None
            and shape[1] != hidden
        ):
            raise ModelCheckError(
                f"{config_path}: hidden_size is {hidden:,} but {name} is {shape[0]}×{shape[1]}; the model was not built"
            )
