"""Quantize a model's weights and keep them in a readable folder.

A quantized checkpoint is a folder:

* ``quantized.safetensors`` — for each quantized tensor ``<name>.qcodes`` (uint8, packed
  when the width divides 8), ``<name>.scale`` (fp16) and, when asymmetric,
  ``<name>.zero_point`` (uint8); every other tensor as it was;
* ``quantization.json`` — the scheme and, per tensor, bits, symmetry, granularity, group
  size, shape and block shape: everything needed to read the codes back, in plain JSON;
* the source's ``config.json``, tokenizer files (a Hugging Face model's chat template and
  generation config too) and, for a sentence-transformers folder, its module description
  and pooling folders, so the model can be rebuilt.

``load_quantized`` dequantizes it back to a float state dict; ``export_dequantized`` writes
an ordinary checkpoint (``model.safetensors``) that the trainer's Generate runs as is.
Writes go to a ``.partial`` folder that is renamed at the end, and an existing folder is
never overwritten.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import shutil
import stat
from pathlib import Path
from typing import Any

import torch

from studio.api import StudioFileError, looks_like_pickle, read_json, write_json

from .affine import QuantizedTensor, error_stats, quantize_tensor
from .packing import pack, unpack
from .scheme import Scheme

FORMAT = "tensor-studio.quantized"
VERSION = 1
COPIED = (
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "modules.json",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
    # a Hugging Face causal LM's tokenizer, chat template and generation settings (its end-of-turn tokens)
    "chat_template.jinja",
    "chat_template.json",
    "generation_config.json",
    "vocab.json",
    "merges.txt",
    "added_tokens.json",
    "tokenizer.model",
)


class QuantizeError(StudioFileError):
    """A checkpoint that cannot be quantized or read; the message says which file and why."""


def read_state_dict(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = Path(folder)
    if folder.is_dir() and (folder / SHARD_INDEX).is_file() and not (folder / "model.safetensors").exists():
        check_config(folder)
        state: dict[str, torch.Tensor] = {}
        for shard in _shards(folder):
            state.update(read_state_dict(shard))
        return state
    path = folder / "model.safetensors" if folder.is_dir() else folder
    if not path.exists():
        pickles = sorted(p.name for p in folder.glob("*.bin")) if folder.is_dir() else []
        if pickles:
            raise QuantizeError(
                f"{folder / pickles[0]}: a PyTorch pickle, not safetensors; it is never unpickled (a pickle "
                "can run code): convert it to safetensors"
            )
        raise QuantizeError(f"{path}: no such checkpoint (expected a folder with model.safetensors)")
    if not path.is_file():
        raise QuantizeError(f"{path}: not a regular file (a folder, pipe or device)")
    if folder.is_dir():
        check_config(folder)
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        if looks_like_pickle(path):
            raise QuantizeError(
                f"{path}: a PyTorch pickle, not safetensors; it is never unpickled (a pickle can "
                "run code): convert it to safetensors"
            ) from None
        raise QuantizeError(f"{path}: not a readable safetensors file ({exc})") from None


SHARD_INDEX = "model.safetensors.index.json"  # a Hugging Face model's weights in several files


def _shards(folder: Path) -> list[Path]:
    """The shard files the index names, each a plain name inside ``folder``."""
    try:
        names = set(json.loads((folder / SHARD_INDEX).read_text(encoding="utf-8"))["weight_map"].values())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise QuantizeError(f"{folder / SHARD_INDEX}: not a readable weight index (expected a weight_map)") from None
    if any(not isinstance(n, str) or Path(n).name != n or not (folder / n).is_file() for n in names):
        raise QuantizeError(f"{folder / SHARD_INDEX} names a shard that is not a file in {folder}")
    return [folder / n for n in sorted(names)]


def check_config(folder: Path) -> None:
    """The config.json a quantized copy takes along must be a readable JSON object, or the
    copy could not be opened again: refused before any work."""
    path = Path(folder) / "config.json"
    if not path.exists():
        return
    if not path.is_file():
        raise QuantizeError(f"{path}: not a regular file (a folder, pipe or device)")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise QuantizeError(f"{path}: unreadable ({exc})") from None
    except ValueError as exc:
        raise QuantizeError(f"{path}: not valid JSON ({exc}); fix or restore the model's config") from None
    except RecursionError:
        raise QuantizeError(f"{path}: nested too deeply to be a model config") from None
    if not isinstance(config, dict):
        raise QuantizeError(f"{path}: expected a JSON object of model settings, found {type(config).__name__}")


def quantize_state_dict(state: dict[str, torch.Tensor], scheme: Scheme, transposed: frozenset[str] = frozenset()):
    """(quantized tensors by name, tensors kept as they were, per-layer report rows).
    ``transposed``: weights stored [in, out] (GPT-2's Conv1D, see ``stored_transposed``):
    they are Linear layers too, quantized as their transpose so that a channel is an output."""
    quantized: dict[str, QuantizedTensor] = {}
    kept: dict[str, torch.Tensor] = {}
    rows: list[dict[str, Any]] = []
    for name, tensor in state.items():
        bits = scheme.bits_for(name)
        if bits is None or not scheme.quantizes(name, tensor):
            kept[name] = tensor
            continue
        granularity = scheme.granularity
        flip = name in transposed
        matrix = tensor.t() if flip else tensor  # [out, in]: a row is an output channel
        if granularity == "group" and matrix.shape[-1] % scheme.group_size:
            granularity = "channel"  # a row that does not split into groups: one scale per row instead
        qt = quantize_tensor(matrix.contiguous(), bits, scheme.symmetric, granularity, scheme.group_size)
        qt.transposed = flip
        quantized[name] = qt
        rows.append(
            {
                "name": name,
                "shape": list(tensor.shape),
                "bits": bits,
                "granularity": granularity,
                "fp32_bytes": tensor.numel() * 4,
                "bytes": qt.storage_bits() / 8,
                **error_stats(tensor, qt),
            }
        )
    return quantized, kept, rows


#: transformers' ``Conv1D`` layers of a GPT-2 (weight [in, out]); every other family's are nn.Linear
CONV1D = re.compile(r"\.(attn\.c_attn|attn\.c_proj|mlp\.c_fc|mlp\.c_proj)\.weight$")


def stored_transposed(source: Path, state: dict[str, torch.Tensor]) -> frozenset[str]:
    """The 2-D weights that a Hugging Face GPT-2 folder stores [in, out] (its Conv1D layers)."""
    folder = Path(source) if Path(source).is_dir() else Path(source).parent
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return frozenset()
    if not isinstance(config, dict) or config.get("model_type") != "gpt2":
        return frozenset()
    return frozenset(n for n, t in state.items() if t.dim() == 2 and CONV1D.search(n))


def new_folder(out: Path) -> Path:
    """A fresh ``<out>.partial`` to write into (renamed to ``out`` when complete); an
    existing ``out`` is refused, never overwritten."""
    out = Path(out)
    if out.exists():
        raise QuantizeError(f"{out} already exists: choose another folder (nothing was overwritten)")
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    return partial


def copy_model_files(source_dir: Path, partial: Path) -> None:
    for name in COPIED:
        if (source_dir / name).exists():
            shutil.copy2(source_dir / name, partial / name)
    for module in source_dir.glob("[0-9]_*"):  # sentence-transformers pooling / normalize folders
        if module.is_dir() and not (partial / module.name).exists():
            shutil.copytree(module, partial / module.name)


def save_quantized(
    quantized: dict[str, QuantizedTensor], kept: dict[str, torch.Tensor], scheme: Scheme, source: Path, out: Path
) -> Path:
    out = Path(out)
    partial = new_folder(out)
    with removed_on_failure(partial):
        _write_quantized(partial, quantized, kept, scheme, source)
    partial.rename(out)
    return out


@contextlib.contextmanager
def removed_on_failure(partial: Path):
    """A write that fails (a full disk…) leaves no half-written ``.partial`` folder behind."""
    try:
        yield
    except BaseException as exc:
        shutil.rmtree(partial, ignore_errors=True)
        if isinstance(exc, OSError):
            raise QuantizeError(
                f"could not write {partial.with_suffix('')}: {exc.strerror or exc} (nothing was left behind)"
            ) from None
        raise


def _write_quantized(
    partial: Path, quantized: dict[str, QuantizedTensor], kept: dict[str, torch.Tensor], scheme: Scheme, source: Path
) -> None:
    from safetensors.torch import save_file

    tensors: dict[str, torch.Tensor] = {k: v.contiguous() for k, v in kept.items()}
    entries = {}
    for name, qt in quantized.items():
        offset = 2 ** (qt.bits - 1) if qt.symmetric else 0  # symmetric codes are signed: shift them to ≥ 0
        tensors[f"{name}.qcodes"] = pack(qt.q, qt.bits, offset)
        tensors[f"{name}.scale"] = qt.scale.half().contiguous()
        if not qt.symmetric:
            tensors[f"{name}.zero_point"] = qt.zero_point.to(torch.uint8).contiguous()
        entries[name] = {
            "bits": qt.bits,
            "symmetric": qt.symmetric,
            "granularity": qt.granularity,
            "group_size": qt.group_size,
            "shape": list(qt.shape),
            "blocks": list(qt.q.shape),
            "offset": offset,
            **({"transposed": True} if qt.transposed else {}),
        }
    save_file(tensors, str(partial / "quantized.safetensors"))
    write_json(
        partial / "quantization.json",
        {
            "format": FORMAT,
            "version": VERSION,
            "scheme": scheme.model_dump(),
            "source": str(source),
            "tensors": entries,
        },
    )
    copy_model_files(Path(source) if Path(source).is_dir() else Path(source).parent, partial)


def load_quantized(folder: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The dequantized float state dict and the manifest."""
    quantized, kept, manifest = load_codes(folder)
    state = {}
    for name, qt in quantized.items():
        try:
            state[name] = qt.dequantize()
        except RuntimeError as exc:  # scales that do not fit the codes
            raise QuantizeError(f"{folder}: tensor {name} does not match its manifest entry ({exc})") from None
    state.update(kept)
    return state, manifest


def load_codes(folder: Path) -> tuple[dict[str, QuantizedTensor], dict[str, torch.Tensor], dict[str, Any]]:
    """A quantized checkpoint as written: its quantized tensors (integer codes, scales, zero
    points), the tensors kept in float, and the manifest."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = Path(folder)
    if not (folder / "quantization.json").exists():
        raise QuantizeError(f"{folder}: no quantization.json (not a quantized checkpoint)")
    try:  # read_json: a FIFO or /dev/zero in its place is refused, not read forever
        manifest = read_json(folder / "quantization.json")
    except StudioFileError as exc:
        raise QuantizeError(f"{folder}/quantization.json: unreadable ({exc})") from None
    if (
        not isinstance(manifest, dict)
        or manifest.get("format") != FORMAT
        or not isinstance(manifest.get("version", 0), int)
        or manifest.get("version", 0) > VERSION
        or not isinstance(manifest.get("tensors"), dict)
    ):  # a list, null or a manifest without its tensors table is no manifest
        raise QuantizeError(f"{folder}: quantization.json is not a version-{VERSION} {FORMAT} manifest")
    try:
        if not stat.S_ISREG((folder / "quantized.safetensors").stat().st_mode):
            raise OSError("not a regular file")
        tensors = load_file(str(folder / "quantized.safetensors"))
    except (SafetensorError, OSError, ValueError) as exc:
        raise QuantizeError(f"{folder}/quantized.safetensors: unreadable ({exc})") from None
    quantized: dict[str, QuantizedTensor] = {}
    for name, entry in manifest["tensors"].items():
        try:
            blocks = tuple(entry["blocks"])
            count = 1
            for dim in blocks:
                count *= dim
            q = unpack(tensors.pop(f"{name}.qcodes"), entry["bits"], entry["offset"], count).reshape(blocks)
            scale = tensors.pop(f"{name}.scale").float()
            zero = (
                tensors.pop(f"{name}.zero_point").to(torch.int32)
                if not entry["symmetric"]
                else torch.zeros_like(scale, dtype=torch.int32)
            )
            shape = tuple(entry["shape"])
            if q.numel() != math.prod(shape):
                raise ValueError(f"{q.numel()} codes for shape {list(shape)}")
            quantized[name] = QuantizedTensor(
                q,
                scale,
                zero,
                shape,
                entry["bits"],
                entry["symmetric"],
                entry["granularity"],
                entry.get("group_size", 0),
                bool(entry.get("transposed", False)),
            )
        except (KeyError, RuntimeError, ValueError, TypeError) as exc:  # TypeError: an entry of the wrong type
            raise QuantizeError(f"{folder}: tensor {name} does not match its manifest entry ({exc})") from None
    return quantized, tensors, manifest


def read_weights(folder: Path) -> dict[str, torch.Tensor]:
    """The float weights of a quantized checkpoint (the ``studio_weight_readers`` entry)."""
    return load_quantized(folder)[0]


def export_dequantized(folder: Path, out: Path) -> Path:
    """An ordinary float checkpoint folder from a quantized one (for tools that want fp32)."""
    from safetensors.torch import save_file

    state, _manifest = load_quantized(folder)
    out = Path(out)
    partial = new_folder(out)
    with removed_on_failure(partial):
        save_file({k: v.contiguous() for k, v in state.items()}, str(partial / "model.safetensors"))
        copy_model_files(Path(folder), partial)
    partial.rename(out)
    return out


def summarize(rows: list[dict[str, Any]], kept: dict[str, torch.Tensor], scheme: Scheme) -> dict[str, Any]:
    """Sizes and bits per weight, before and after."""
    linear_fp32 = sum(r["fp32_bytes"] for r in rows)
    linear_after = sum(r["bytes"] for r in rows)
    kept_bytes = sum(t.numel() * t.element_size() for t in kept.values())
    weights = sum(r["fp32_bytes"] // 4 for r in rows)
    return {
        "scheme": scheme.label(),
        "quantized_tensors": len(rows),
        "quantized_weights": weights,
        "linear_fp32_bytes": linear_fp32,
        "linear_bytes": round(linear_after),
        "linear_ratio": linear_after / linear_fp32 if linear_fp32 else 1.0,
        "bits_per_weight": 8 * linear_after / weights if weights else 32.0,
        "model_fp32_bytes": linear_fp32 + kept_bytes,
        "model_bytes": round(linear_after + kept_bytes),
        "worst_snr_db": min((r["snr_db"] for r in rows), default=float("inf")),
    }
