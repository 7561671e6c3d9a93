"""Interventions carried into programs: a saved file a local model call applies while it
generates (the provider's ``intervention=`` option, a workflow node's setting).

The file is ``<name>.json`` (readable, ``"format": "studio.intervention/1"``) and, where
it holds numbers (a steering vector, the stored means of "mean" ablations), a sibling
``<name>.safetensors``; never pickle, never code::

    {"format": "studio.intervention/1",
     "model": {"n_layer": 2, "n_head": 2, "n_embd": 16},       # the shape it was made for
     "tensors": "steer.safetensors",                             # sibling file, if any
     "interventions": [
       {"kind": "head", "layer": 1, "head": 0, "mode": "zero"},
       {"kind": "head", "layer": 1, "head": 1, "mode": "mean", "mean": "mean.1"},  # a key in tensors
       {"kind": "layer", "layer": 0, "part": "mlp", "mode": "zero"},
       {"kind": "steer", "layer": 1, "scale": 4.0, "vector": "steer.3",
        "made_from": {"text_a": "…", "text_b": "…", "reduce": "mean"}}]}

A "mean" ablation replaces the part's output by its stored mean (over the inspected
text's positions), so each generated position is changed alone. Every hook is
position-wise: generation keeps its key/value cache. Residual patches are tied to one
prompt's positions and are refused here.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from studio.api import StudioFileError, read_json, write_json

from .capture import capture
from .intervene import FORMAT, LAYER_PARTS, MODES, HeadAblation, LayerAblation, ResidualPatch, _hooks
from .steering import Steering, check_steering

SHAPE_KEYS = ("n_layer", "n_head", "n_embd")
MAX_TENSOR_BYTES = 256 * 2**20


class InterventionFileError(StudioFileError, ValueError):
    """An intervention file that cannot be applied: one line naming the file."""


@dataclass(eq=False)
class Program:
    """A loaded intervention file: the items, each one's stored tensor (a mean or a vector)."""

    items: list[Any]  # HeadAblation | LayerAblation | Steering
    means: dict[int, torch.Tensor] = field(default_factory=dict)  # item index → stored mean
    shape: dict[str, int] = field(default_factory=dict)
    path: Path | None = None

    def summary(self) -> str:
        return summary(self.items)

    def check(self, model: Any, name: str = "the model") -> None:
        """The file was made for ``model``'s shape, and each item fits it."""
        where = self.path or "the intervention"
        have = model_shape(model)
        wrong = [k for k in SHAPE_KEYS if k in self.shape and self.shape[k] != have.get(k)]
        if wrong:
            made = ", ".join(f"{k}={self.shape[k]}" for k in wrong)
            now = ", ".join(f"{k}={have.get(k)}" for k in wrong)
            raise InterventionFileError(f"{where} was made for a model with {made}; {name} has {now}")
        for item in self.items:
            try:
                if isinstance(item, Steering):
                    check_steering(model, item)
                elif not 0 <= item.layer < have["n_layer"]:
                    raise ValueError(f"layer {item.layer} is out of range ({have['n_layer']} layers)")
                elif isinstance(item, HeadAblation) and not 0 <= item.head < have["n_head"]:
                    raise ValueError(f"head {item.head} is out of range ({have['n_head']} heads)")
            except ValueError as exc:
                raise InterventionFileError(f"{where}: {exc}") from None


def model_shape(model: Any) -> dict[str, int]:
    config = model.config
    return {"n_layer": len(model.blocks), "n_head": int(config.n_head), "n_embd": int(config.n_embd)}


def summary(items: list[Any]) -> str:
    """``ablate L1H0 (zero); ablate L0 mlp (zero); steer L2 ×4.0``."""
    parts = []
    for item in items:
        if isinstance(item, HeadAblation):
            parts.append(f"ablate L{item.layer}H{item.head} ({item.mode})")
        elif isinstance(item, LayerAblation):
            parts.append(f"ablate L{item.layer} {item.part} ({item.mode})")
        elif isinstance(item, Steering):
            parts.append(f"steer L{item.layer} ×{item.scale:g}")
        else:
            parts.append(type(item).__name__)
    return "; ".join(parts) or "nothing"


@torch.no_grad()
def stored_means(model: Any, ids: list[int], items: list[Any]) -> dict[int, torch.Tensor]:
    """For each "mean" ablation in ``items``, its part's output averaged over the positions of
    ``ids`` (the text the Inspector shows): what ``intervene`` replaces it with, kept."""
    wanted = [
        i for i, item in enumerate(items) if isinstance(item, (HeadAblation, LayerAblation)) and item.mode == "mean"
    ]
    if not wanted:
        return {}
    cap = capture(model, torch.tensor([ids]))
    means: dict[int, torch.Tensor] = {}
    for i in wanted:
        item = items[i]
        if isinstance(item, HeadAblation):
            heads = cap.head_in[item.layer]
            if heads is None:
                raise InterventionFileError("the heads' outputs were not seen (the attention type has no proj)")
            D = heads.size(-1) // int(model.config.n_head)
            means[i] = heads[:, item.head * D : (item.head + 1) * D].float().mean(dim=0)
        elif item.part == "block":
            means[i] = (cap.resid[item.layer + 1] - cap.resid[item.layer]).mean(dim=0)
        else:
            seen = cap.attn_out[item.layer] if item.part == "attn" else cap.mlp_out[item.layer]
            if seen is None:
                raise InterventionFileError(f"layer {item.layer}'s {item.part} was not seen")
            means[i] = seen.float().mean(dim=0)
    return means


def save_program(
    path: str | Path,
    items: list[Any],
    model: Any | None = None,
    *,
    ids: list[int] | None = None,
    means: dict[int, torch.Tensor] | None = None,
) -> Path:
    """Write ``items`` as an intervention file (+ ``<stem>.safetensors`` for any numbers).
    ``model``: records its shape; with ``ids`` (the inspected text) "mean" ablations get
    their stored means. A residual patch is refused: it belongs to one prompt's positions."""
    from safetensors.torch import save_file

    path = Path(path)
    if path.suffix != ".json":
        raise InterventionFileError(f"{path}: an intervention file's name ends in .json")
    for item in items:
        if isinstance(item, ResidualPatch):
            raise InterventionFileError(PATCH_REFUSED)
    if means is None:
        means = stored_means(model, ids, items) if model is not None and ids else {}
    tensors: dict[str, torch.Tensor] = {}
    entries: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        if isinstance(item, Steering):
            tensors[f"steer.{i}"] = item.vector.detach().float().contiguous().cpu()
            entry = {"kind": "steer", "layer": item.layer, "scale": float(item.scale), "vector": f"steer.{i}"}
            if item.made_from:
                entry["made_from"] = dict(item.made_from)
        elif isinstance(item, (HeadAblation, LayerAblation)):
            entry = {"kind": "head" if isinstance(item, HeadAblation) else "layer", **asdict(item)}
            if item.mode == "mean":
                if i not in means:
                    raise InterventionFileError(
                        f"{summary([item])}: a mean ablation in a program needs its stored mean "
                        "(save it from an inspection)"
                    )
                tensors[f"mean.{i}"] = means[i].detach().float().contiguous().cpu()
                entry["mean"] = f"mean.{i}"
        else:
            raise InterventionFileError(f"not an intervention: {item!r}")
        entries.append(entry)
    data: dict[str, Any] = {"format": FORMAT}
    if model is not None:
        data["model"] = model_shape(model)
    tensor_path = path.with_suffix(".safetensors")
    if tensors:
        data["tensors"] = tensor_path.name
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = tensor_path.with_name(tensor_path.name + ".partial")
        save_file(tensors, str(partial))
        partial.replace(tensor_path)
    data["interventions"] = entries
    write_json(path, data)
    return path


PATCH_REFUSED = (
    "a residual patch is tied to one prompt's positions and cannot be carried into a program: "
    "use a steering direction (made from two prompts) instead"
)


def _tensors(path: Path, name: Any) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not isinstance(name, str) or not name or Path(name).name != name:
        raise InterventionFileError(f"{path}: 'tensors' names a file beside it, got {name!r}")
    tensor_path = path.with_name(name)
    if not tensor_path.is_file():
        raise InterventionFileError(f"{path}: its numbers file {tensor_path} is missing")
    if tensor_path.stat().st_size > MAX_TENSOR_BYTES:
        raise InterventionFileError(f"{tensor_path} is too large for an intervention's numbers")
    try:
        return load_file(str(tensor_path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise InterventionFileError(f"{tensor_path} is not a readable safetensors file ({exc})") from None


def load_program(path: str | Path) -> Program:
    """Read an intervention file for a program: every error is one line naming the file."""
    path = Path(path)
    if not path.exists():
        raise InterventionFileError(f"intervention file {path} does not exist")
    try:
        data = read_json(path)
    except StudioFileError as exc:
        raise InterventionFileError(f"intervention file {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("interventions"), list):
        found = data.get("format") if isinstance(data, dict) else None
        said = f" (its format is {found!r})" if found else ""
        raise InterventionFileError(f"{path} is not an intervention file ({FORMAT}){said}")
    shape = data.get("model") or {}
    if not isinstance(shape, dict) or any(not isinstance(shape.get(k, 0), int) for k in SHAPE_KEYS):
        raise InterventionFileError(f"{path}: 'model' is the shape {{n_layer, n_head, n_embd}}, got {shape!r}")
    tensors = _tensors(path, data["tensors"]) if data.get("tensors") is not None else {}

    def tensor(key: Any, what: str) -> torch.Tensor:
        value = tensors.get(key) if isinstance(key, str) else None
        if value is None:
            raise ValueError(f"{what} {key!r} is not in its numbers file")
        if value.dim() != 1 or not value.is_floating_point() or not bool(torch.isfinite(value).all()):
            raise ValueError(f"{what} {key!r} is not a finite vector")
        return value.float()

    items: list[Any] = []
    means: dict[int, torch.Tensor] = {}
    for i, entry in enumerate(data["interventions"]):
        try:
            if not isinstance(entry, dict):
                raise ValueError(f"an entry is {entry!r}, not an object")
            fields = dict(entry)
            kind = fields.pop("kind", None)
            if kind == "patch":
                raise ValueError(PATCH_REFUSED)
            if kind == "steer":
                scale = fields.get("scale", 1.0)
                if isinstance(scale, bool) or not isinstance(scale, (int, float)) or scale != scale:
                    raise ValueError(f"scale {scale!r} is not a number")
                made_from = fields.get("made_from") or {}
                items.append(
                    Steering(_int(fields, "layer"), tensor(fields.get("vector"), "vector"), float(scale), made_from)
                )
                continue
            if kind not in ("head", "layer"):
                raise ValueError(f"unknown kind {kind!r} (head, layer, steer)")
            mean_key = fields.pop("mean", None)
            item = HeadAblation(**fields) if kind == "head" else LayerAblation(**fields)
            _int(fields, "layer")
            if isinstance(item, HeadAblation):
                _int(fields, "head")
            if item.mode not in MODES:
                raise ValueError(f"ablation mode {item.mode!r}: use one of {', '.join(MODES)}")
            if isinstance(item, LayerAblation) and item.part not in LAYER_PARTS:
                raise ValueError(f"layer part {item.part!r}: use one of {', '.join(LAYER_PARTS)}")
            if item.mode == "mean":
                means[i] = tensor(mean_key, "mean")
            items.append(item)
        except (TypeError, ValueError) as exc:
            raise InterventionFileError(f"{path}: intervention {i + 1} cannot be used: {exc}") from None
    return Program(items, means, {k: int(v) for k, v in shape.items() if k in SHAPE_KEYS}, path)


def _int(fields: dict[str, Any], key: str) -> int:
    value = fields.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{key} {value!r} is not a whole number")
    return value


@contextmanager
def applied(model: Any, program: Program | list[Any]) -> Iterator[Any]:
    """Install the program's hooks on ``model`` for the duration (a ``sample_text`` call):
    forward hooks on the registry's submodules, each position-wise, so generation keeps its
    key/value cache. Always removed, even when generation fails."""
    if isinstance(program, list):
        program = Program(program)
    handles: list = []
    try:
        for i, item in enumerate(program.items):
            if isinstance(item, ResidualPatch):
                raise InterventionFileError(PATCH_REFUSED)
            mean = program.means.get(i)
            if isinstance(item, (HeadAblation, LayerAblation)) and item.mode == "mean" and mean is None:
                raise InterventionFileError(f"{summary([item])}: no stored mean to ablate with")
            handles += _hooks(model, None, item, mean)
        yield model
    finally:
        for handle in handles:
            handle.remove()
