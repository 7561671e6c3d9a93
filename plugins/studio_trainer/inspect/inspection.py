"""The result of an inspection: numpy arrays small enough to hold for 4,096 tokens (no
T × T attention map is stored; maps are computed per layer on demand from the captured
attention inputs, and kept in a small LRU cache), saved as safetensors + JSON."""

from __future__ import annotations

import functools
import inspect as pyinspect
import math
import os
import stat
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from studio.api import StudioFileError, read_json, write_json

FORMAT = "studio.inspection/1"
JSON_NAME = "inspection.json"
TENSORS_NAME = "inspection.safetensors"
MAPS_NAME = "attention.safetensors"
CACHE_BYTES = 512 << 20  # on-demand attention maps kept (64 MB each at 4,096 tokens)
SAVE_MAPS_BYTES = 64 << 20  # maps are saved with an inspection up to this size (float16)
PARTS = ("attn", "mlp", "block")
ARRAYS = (
    "logprobs",
    "top_ids",
    "top_logprobs",
    "entropy",
    "lens_top_ids",
    "lens_top_prob",
    "lens_target_rank",
    "lens_target_prob",
    "resid_norm",
    "mlp_norm",
)
LENS = ("top_ids", "top_prob", "target_rank", "target_prob")  # the lens arrays, saved as lens_<name>
ATTRIBUTION = ("embed", "attn", "mlp", "bias", "target_ids", "heads", "attn_bias")


class InspectError(StudioFileError, ValueError):
    """Bad input to an inspection, or a saved inspection that cannot be read: one line."""


class LayerLens:
    """The logit lens's arrays (``LENS``, each [L+1, T]): held, or computed on first read
    by ``compute()`` (thread-safe: the Inspector's worker computes, the GUI then reads)."""

    def __init__(self, compute: Callable[[], dict[str, np.ndarray]]):
        self._compute: Callable[[], dict[str, np.ndarray]] | None = compute
        self._arrays: dict[str, np.ndarray] | None = None
        self._lock = threading.Lock()

    @classmethod
    def of(cls, arrays: dict[str, np.ndarray]) -> LayerLens:
        lens = cls(lambda: arrays)
        lens.arrays()
        return lens

    def ready(self) -> bool:
        return self._arrays is not None

    def arrays(self) -> dict[str, np.ndarray]:
        if self._arrays is None:
            with self._lock:
                if self._arrays is None:
                    assert self._compute is not None
                    self._arrays = self._compute()
                    self._compute = None  # what it held (the residual stream) can go
        return self._arrays


@dataclass(eq=False)
class Inspection:
    tokens: list[str]
    ids: list[int]
    n_layer: int
    n_head: int | None
    model: str
    reply_start: int | None
    logprobs: np.ndarray  # [T]; position 0: nan
    top_ids: np.ndarray  # [T, k]: at position t, the prediction of token t+1
    top_logprobs: np.ndarray
    entropy: np.ndarray
    # the logit lens of every layer: "top_ids", "top_prob" [L+1, T], "target_rank" (-1 at the
    # last position), "target_prob"; a fresh inspection computes the layers before the last
    # on first read (``lens_ready``: a vocabulary × every layer is most of a full inspection's
    # work), a loaded one holds them all. Read them as ``lens_top_ids`` and so on
    lens: LayerLens
    # direct logit attribution toward target_ids[t] (the next token; at the last position the
    # top prediction): "embed" [T], "attn"/"mlp" [L, T], "heads" [L, H, T] or None,
    # "attn_bias" [L, T] (heads.sum(1) + attn_bias == attn), "bias" [T] (ln_f's β); all of
    # them sum to the final logit. None when unavailable (see ``unavailable``)
    attribution: dict | None
    resid_norm: np.ndarray  # [L+1, T]
    mlp_norm: np.ndarray  # [L, T]: norm of the MLP's hidden (post-activation) values
    # per layer: counts[64], edges[65]; a fresh inspection computes each on first access
    mlp_hist: Sequence[tuple[np.ndarray, np.ndarray]]
    attention_available: bool
    unavailable: list[str]
    vocab: dict[int, str] = field(default_factory=dict)  # token strings of the ids shown
    code_locations: dict[str, list] = field(default_factory=dict)  # "layer:part" → [file, line, name]
    # a text longer than the context is inspected over its last context-long window: the
    # window's first token index in the whole text, and the whole text's length in tokens
    window_start: int = 0
    full_length: int | None = None
    # live parts (absent after load): the model, its tokenizer, each layer's attention input
    _model: Any = field(default=None, repr=False)
    _tokenizer: Any = field(default=None, repr=False)
    _full_ids: list[int] | None = field(default=None, repr=False)  # the whole text's ids (a cropped window's)
    _attn_in: list = field(default_factory=list, repr=False)
    _maps: OrderedDict = field(default_factory=OrderedDict, repr=False)
    _all_maps: list[np.ndarray] | None = field(default=None, repr=False)  # [H, T, T] per layer
    _thumbs: dict = field(default_factory=dict, repr=False)

    @property
    def lens_top_ids(self) -> np.ndarray:  # [L+1, T]
        return self.lens.arrays()["top_ids"]

    @property
    def lens_top_prob(self) -> np.ndarray:
        return self.lens.arrays()["top_prob"]

    @property
    def lens_target_rank(self) -> np.ndarray:  # -1 at the last position
        return self.lens.arrays()["target_rank"]

    @property
    def lens_target_prob(self) -> np.ndarray:
        return self.lens.arrays()["target_prob"]

    @property
    def lens_ready(self) -> bool:
        """Whether reading the lens costs nothing (else it runs the model's unembedding over
        every layer: the Inspector does that on its worker)."""
        return self.lens.ready()

    @property
    def T(self) -> int:  # noqa: N802 - the length, named as in the shapes
        return len(self.ids)

    def window_note(self) -> str:
        """ "" for a whole text; for a cropped one what was inspected, for the banner."""
        total = self.full_length or self.T
        if total <= self.T:
            return ""
        return f"the text is {total:,} tokens; the model's context is {self.T}: inspecting the last {self.T}"

    def token(self, token_id: int) -> str:
        """The text of a token id (from the tokenizer, or the saved vocabulary)."""
        token_id = int(token_id)
        if token_id not in self.vocab and self._tokenizer is not None:
            try:
                self.vocab[token_id] = self._tokenizer.decode([token_id])
            except (IndexError, KeyError, ValueError):  # a padded vocabulary's unused row: no text
                self.vocab[token_id] = f"<{token_id}>"
        return self.vocab.get(token_id, f"<{token_id}>")

    # ------------------------------------------------------------------ attention

    def _require_maps(self, layer: int, head: int | None = None) -> None:
        if not self.attention_available:
            reason = next((u for u in self.unavailable if u.startswith("attention")), "attention maps are unavailable")
            raise InspectError(reason)
        if not 0 <= layer < self.n_layer:
            raise InspectError(f"layer {layer} is out of range (0 to {self.n_layer - 1})")
        if head is not None and not 0 <= head < (self.n_head or 0):
            raise InspectError(f"head {head} is out of range (0 to {(self.n_head or 0) - 1})")

    def attention(self, layer: int, head: int) -> np.ndarray:
        """[T, T] probabilities (rows: queries), computed on demand for the whole layer."""
        self._require_maps(layer, head)
        if self._all_maps is not None:
            return self._all_maps[layer][head]
        key = (layer, head)
        if key in self._maps:
            self._maps.move_to_end(key)
            return self._maps[key]
        maps = self._layer_maps(layer)
        for h in range(maps.shape[0]):  # copies: evicting one map frees its memory (64 MB at 4,096 tokens)
            self._maps[(layer, h)] = maps[h].copy()
            self._maps.move_to_end((layer, h))
        self._maps.move_to_end(key)  # the one asked for is evicted last
        while len(self._maps) > 1 and sum(m.nbytes for m in self._maps.values()) > CACHE_BYTES:
            self._maps.popitem(last=False)
        return self._maps[key]

    def _layer_maps(self, layer: int) -> np.ndarray:
        import torch

        if self._model is None or not self._attn_in:
            raise InspectError("attention maps need the model: this inspection was loaded without it (inspect again)")
        attn = self._model.blocks[layer].attn
        with torch.no_grad():
            return attn.attention_weights(self._attn_in[layer].unsqueeze(0))[0].float().numpy()

    def attention_all(self) -> np.ndarray:
        """[L, H, T, T]: every map at once (the full inspection; 36 maps of 256² are 9 MB)."""
        if self._all_maps is None:
            self._require_maps(0)
            self._all_maps = [self._layer_maps(layer) for layer in range(self.n_layer)]
        return np.stack(self._all_maps)

    def layer_attention(self, layer: int) -> np.ndarray:
        """[H, T, T]: one layer's maps (not cached unless every map is held)."""
        self._require_maps(layer)
        return self._all_maps[layer] if self._all_maps is not None else self._layer_maps(layer)

    def attention_thumbnail(self, layer: int, head: int, size: int = 64) -> np.ndarray:
        """[size, size]: the map max-pooled (every strong link stays visible), or repeated
        when the text is shorter than ``size``."""
        key = (layer, head, size)
        if key not in self._thumbs:
            self._thumbs[key] = pool_max(self.attention(layer, head), size)
        return self._thumbs[key]

    # ------------------------------------------------------------------ code

    def code_location(self, layer: int, part: str = "attn") -> tuple[str, int, str]:
        """(source file, first line of the class, "module.Class") of a layer's part."""
        if part not in PARTS:
            raise InspectError(f"no part {part!r}: the parts are {', '.join(PARTS)}")
        key = f"{layer}:{part}"
        if key not in self.code_locations:
            raise InspectError(f"layer {layer} has no {part} whose source can be shown")
        file, line, name = self.code_locations[key]
        return str(file), int(line), str(name)

    # ------------------------------------------------------------------ records

    def check_record(self, record: Any) -> tuple[bool, str]:
        """Do the recomputed log-probabilities of the reply match the recorded ones?"""
        return check_record(self, record)

    # ------------------------------------------------------------------ JSON, files

    def attention_shape(self) -> list[int]:
        return [self.n_layer, self.n_head or 0, self.T, self.T]

    def alternatives(self, t: int, k: int | None = None) -> list[list[Any]]:
        """[[token, logprob], ...] of the step that produced token ``t`` (the distribution
        given the tokens before it, likeliest first); ``t`` = T: the prediction after the
        text; position 0 (nothing before it): []."""
        if t <= 0:
            return []
        k = self.top_ids.shape[1] if k is None else min(k, self.top_ids.shape[1])
        return [
            [self.token(i), _num(lp)]
            for i, lp in zip(self.top_ids[t - 1, :k], self.top_logprobs[t - 1, :k], strict=True)
        ]

    def to_json(self, top_k: int | None = None) -> dict[str, Any]:
        """``positions[t]`` describes one distribution, the step that produced token t (given
        the tokens before it): the token, its ``logprob``, the step's ``entropy`` and ``top``
        alternatives (position 0, with nothing before it: null, null, []); ``next`` and
        ``next_entropy``: the prediction after the last token. As the Inspector shows them."""
        positions = [
            {
                "token": self.tokens[t],
                "id": self.ids[t],
                "logprob": _num(self.logprobs[t]),
                "entropy": _num(self.entropy[t - 1]) if t > 0 else None,
                "top": self.alternatives(t, top_k),
            }
            for t in range(self.T)
        ]
        lens = [
            [
                {
                    "top": self.token(self.lens_top_ids[layer, t]),
                    "top_prob": _num(self.lens_top_prob[layer, t]),
                    "target_rank": int(self.lens_target_rank[layer, t]),
                    "target_prob": _num(self.lens_target_prob[layer, t]),
                }
                for t in range(self.T)
            ]
            for layer in range(self.lens_top_ids.shape[0])
        ]
        return {
            "format": FORMAT,
            "model": self.model,
            "tokens": list(self.tokens),
            "ids": list(self.ids),
            "reply_start": self.reply_start,
            "window_start": self.window_start,
            "text_tokens": self.full_length or self.T,
            "positions": positions,
            "next": self.alternatives(self.T, top_k),
            "next_entropy": _num(self.entropy[-1]),
            "logit_lens": lens,
            "attention_shape": self.attention_shape(),
            "attention_available": self.attention_available,
            "unavailable": list(self.unavailable),
            "attribution": None if self.attribution is None else {k: _nums(v) for k, v in self.attribution.items()},
            "resid_norm": _nums(self.resid_norm),
            "mlp_norm": _nums(self.mlp_norm),
        }

    def save(self, folder: Path) -> Path:
        """``folder``/inspection.json (strings, metadata) + inspection.safetensors (numbers),
        + attention.safetensors (float16 maps) when they are small. Returns the JSON's path."""
        from safetensors.numpy import save

        folder = Path(folder)
        _check_save_folder(folder)
        try:
            return self._save(folder, save)
        except OSError as exc:
            raise InspectError(f"cannot save the inspection in {folder}: {exc.strerror or exc}") from None

    def _save(self, folder: Path, save: Any) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        tensors = {name: np.ascontiguousarray(getattr(self, name)) for name in ARRAYS}
        if self.attribution is not None:
            for name in ATTRIBUTION:
                if self.attribution.get(name) is not None:
                    tensors[f"attribution.{name}"] = np.ascontiguousarray(self.attribution[name])
        for layer, (counts, edges) in enumerate(self.mlp_hist):
            tensors[f"mlp_hist.{layer}.counts"] = np.ascontiguousarray(counts)
            tensors[f"mlp_hist.{layer}.edges"] = np.ascontiguousarray(edges)
        _atomic_bytes(folder / TENSORS_NAME, save(tensors))
        maps_saved = False
        size = self.n_layer * (self.n_head or 0) * self.T * self.T * 2
        if self.attention_available and 0 < size <= SAVE_MAPS_BYTES and (self._all_maps is not None or self._model):
            _atomic_bytes(folder / MAPS_NAME, save({"attention": self.attention_all().astype(np.float16)}))
            maps_saved = True
        for t in np.unique(np.concatenate([self.top_ids.ravel(), self.lens_top_ids.ravel()])):
            self.token(int(t))
        meta = {
            "format": FORMAT,
            "model": self.model,
            "tokens": self.tokens,
            "ids": self.ids,
            "n_layer": self.n_layer,
            "n_head": self.n_head,
            "reply_start": self.reply_start,
            "window_start": self.window_start,
            "full_length": self.full_length,
            "attention_available": self.attention_available,
            "attention_saved": maps_saved,
            "unavailable": self.unavailable,
            "vocab": {str(k): v for k, v in self.vocab.items()},
            "code_locations": self.code_locations,
            "attribution": self.attribution is not None,
        }
        path = folder / JSON_NAME
        write_json(path, meta)
        return path

    @classmethod
    def load(cls, folder: Path) -> Inspection:
        folder = Path(folder)
        if folder.is_file():
            folder = folder.parent
        try:
            meta = read_json(folder / JSON_NAME)
        except StudioFileError as exc:
            raise InspectError(f"cannot open the inspection in {folder}: {exc}") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise InspectError(f"{folder / JSON_NAME} is not a saved inspection ({FORMAT})")
        tensors = _read_tensors(folder / TENSORS_NAME)
        try:
            hist = []
            layer = 0
            while f"mlp_hist.{layer}.counts" in tensors:
                hist.append((tensors[f"mlp_hist.{layer}.counts"], tensors[f"mlp_hist.{layer}.edges"]))
                layer += 1
            attribution = None
            if meta.get("attribution"):
                attribution = {name: tensors.get(f"attribution.{name}") for name in ATTRIBUTION}
            inspection = cls(
                tokens=[str(t) for t in meta["tokens"]],
                ids=[int(i) for i in meta["ids"]],
                n_layer=int(meta["n_layer"]),
                n_head=None if meta.get("n_head") is None else int(meta["n_head"]),
                model=str(meta["model"]),
                reply_start=None if meta.get("reply_start") is None else int(meta["reply_start"]),
                attribution=attribution,
                mlp_hist=hist,
                attention_available=bool(meta.get("attention_available")),
                unavailable=[str(u) for u in meta.get("unavailable", [])],
                vocab={int(k): str(v) for k, v in dict(meta.get("vocab", {})).items()},
                code_locations=dict(meta.get("code_locations", {})),
                window_start=int(meta.get("window_start") or 0),
                full_length=None if meta.get("full_length") is None else int(meta["full_length"]),
                lens=LayerLens.of({name: tensors[f"lens_{name}"] for name in LENS}),
                **{name: tensors[name] for name in ARRAYS if not name.startswith("lens_")},  # type: ignore[arg-type]
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InspectError(f"the inspection in {folder} is incomplete or corrupt ({exc!r})") from None
        if len(inspection.tokens) != inspection.T or inspection.logprobs.shape != (inspection.T,):
            raise InspectError(f"the inspection in {folder} does not match its tokens (saved by another version?)")
        wrong = _wrong_shapes(inspection)
        if wrong:
            raise InspectError(f"the inspection in {folder} is corrupt: {wrong}")
        if meta.get("attention_saved") and (folder / MAPS_NAME).exists():
            maps = _read_tensors(folder / MAPS_NAME).get("attention")
            if maps is not None and list(maps.shape) == inspection.attention_shape():
                inspection._all_maps = list(maps.astype(np.float32))
            elif inspection.attention_available:
                inspection.unavailable.append("attention maps: the saved maps do not match the tokens (corrupt)")
                inspection.attention_available = False
        elif inspection.attention_available:
            inspection.unavailable.append("attention maps: not saved with this inspection (inspect again to see them)")
            inspection.attention_available = False
        return inspection


def _check_save_folder(folder: Path) -> None:
    """Save into a new or empty folder, or over an earlier saved inspection: never among
    someone's files (their own inspection.json would be replaced)."""
    if folder.exists() and not folder.is_dir():
        raise InspectError(f"cannot save the inspection in {folder}: it is a file, not a folder")
    if not folder.is_dir() or not any(folder.iterdir()):
        return
    try:
        earlier = read_json(folder / JSON_NAME)
    except StudioFileError:
        earlier = None
    if not isinstance(earlier, dict) or earlier.get("format") != FORMAT:
        raise InspectError(
            f"cannot save the inspection in {folder}: the folder holds other files; choose a new or empty folder"
        )


def _wrong_shapes(insp: Inspection) -> str:
    """The first array of a loaded inspection whose shape disagrees with its tokens and
    layers ("" when all agree): the views index them by position and layer unchecked."""
    T, L = insp.T, insp.n_layer
    if L < 0 or (insp.n_head is not None and insp.n_head < 1):
        return f"{L} layers, {insp.n_head} heads"
    if insp.window_start < 0 or (insp.full_length is not None and insp.full_length != insp.window_start + T):
        return f"a window at token {insp.window_start} of {insp.full_length} does not hold its {T} tokens"
    k = insp.top_ids.shape[1] if insp.top_ids.ndim == 2 else -1
    expected: dict[str, tuple[Any, tuple[int, ...]]] = {
        "entropy": (insp.entropy, (T,)),
        "top_ids": (insp.top_ids, (T, k)),
        "top_logprobs": (insp.top_logprobs, (T, k)),
        "resid_norm": (insp.resid_norm, (L + 1, T)),
        "mlp_norm": (insp.mlp_norm, (L, T)),
    }
    for name in ("lens_top_ids", "lens_top_prob", "lens_target_rank", "lens_target_prob"):
        expected[name] = (getattr(insp, name), (L + 1, T))
    for name in ("embed", "bias", "target_ids"):
        expected[f"attribution.{name}"] = ((insp.attribution or {}).get(name), (T,))
    for name in ("attn", "mlp", "attn_bias"):
        expected[f"attribution.{name}"] = ((insp.attribution or {}).get(name), (L, T))
    expected["attribution.heads"] = ((insp.attribution or {}).get("heads"), (L, insp.n_head or 0, T))
    for name, (array, shape) in expected.items():
        if array is not None and tuple(array.shape) != shape:
            return f"{name} has shape {list(array.shape)}, expected {list(shape)}"
    if insp.mlp_hist and len(insp.mlp_hist) != L:
        return f"{len(insp.mlp_hist)} activation histograms for {L} layers"
    for key in [k for k, v in insp.code_locations.items() if not _is_location(v)]:
        del insp.code_locations[key]  # [file, line, name]; anything else cannot be shown
    return ""


def _is_location(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 3 and type(value[1]) is int and isinstance(value[0], str)


def pool_max(a: np.ndarray, size: int) -> np.ndarray:
    n = a.shape[0]
    if n == 0:
        return np.zeros((size, size), dtype=a.dtype)
    if n <= size:
        index = (np.arange(size) * n) // size
        return a[np.ix_(index, index)]
    edges = (np.arange(size) * n) // size
    return np.maximum.reduceat(np.maximum.reduceat(a, edges, axis=0), edges, axis=1)


def code_location_of(module: Any) -> list:
    return list(_class_location(type(module)))  # type: ignore[arg-type]


@functools.lru_cache(maxsize=256)
def _class_location(cls: type) -> tuple[str, int, str]:
    try:
        file = pyinspect.getsourcefile(cls) or pyinspect.getfile(cls)
        line = pyinspect.getsourcelines(cls)[1]
    except (OSError, TypeError):
        file, line = "<unknown>", 0
    return str(file), int(line), f"{cls.__module__}.{cls.__qualname__}"


MAX_WINDOWS = 256  # reply tokens of other windows recomputed for a check (the last ones)


def check_record(inspection: Inspection, record: Any) -> tuple[bool, str]:
    """Recomputed against recorded log-probabilities of a recorded reply (duck-typed: the
    fields of ``studio.api.TokenRecord``). The record holds the model's own distribution
    (before temperature and top-k), so a sampled reply matches too; another model, other
    weights or another tokenization does not. A call longer than the context: generation
    predicted the token at index p from ``ids[max(0, p - bs):p]``; a token whose window is
    the inspected one's prefix is read from the inspection, the others are recomputed from
    their own windows while the model is held (``windows.py``), else not checked."""
    recorded = [float(x) for x in (getattr(record, "logprobs", None) or [])]
    if not recorded:
        note = getattr(record, "note", "") or "no log-probabilities were recorded"
        return False, f"cannot compare: the record has no log-probabilities ({note})"
    start = inspection.reply_start
    if start is None:
        return False, "cannot compare: this inspection does not know where the reply starts"
    reply_ids = getattr(record, "reply_ids", None)
    n = len(recorded)
    offset, T = inspection.window_start, inspection.T
    total = max(inspection.full_length or T, T + offset)
    first = offset + start if (start > 0 or offset == 0) else total - n  # the reply's absolute start
    if first + n > total:
        return False, (
            f"the record has {n} reply tokens but the inspection only {total - first}: "
            "the reply was tokenized differently or cut to the context"
        )
    full = inspection._full_ids if inspection._full_ids is not None and len(inspection._full_ids) == total else None
    if reply_ids is not None:
        ids = list(map(int, reply_ids))
        if full is not None:
            same = ids == full[first : first + n]
        else:  # the part inside the window
            skip = max(0, offset - first)
            same = ids[skip:] == inspection.ids[first + skip - offset : first + n - offset]
        if not same:
            return False, "the reply's token ids differ from the recorded ones: another tokenizer made this record"
    mine = np.full(n, np.nan)
    for j in range(n):  # the same window as the inspection's: the whole text fits, or it starts where it does
        p = first + j
        if offset < p < offset + T and (offset == 0 or p - T == offset):
            mine[j] = inspection.logprobs[p - offset]
    other = [first + j for j in range(n) if not np.isfinite(mine[j]) and first + j > 0][-MAX_WINDOWS:]
    if other and full is not None and inspection._model is not None:
        from .windows import window_logprobs

        for p, value in window_logprobs(inspection._model, full, other).items():
            mine[p - first] = value
    theirs = np.asarray(recorded, dtype=np.float64)
    usable = np.isfinite(mine) & np.isfinite(theirs)
    if not usable.any():
        return False, (
            f"cannot compare: none of the {n} reply tokens was generated from the inspected window "
            "(inspect it with the model loaded to recompute the others)"
        )
    checked = int(usable.sum())
    scope = f" over {n} tokens" if checked == n else ""
    skipped = (
        ""
        if checked == n
        else f": checked {checked} of {n} reply tokens (the others were generated from other windows)"
    )
    diff = np.abs(mine - theirs)
    diff[~usable] = 0.0
    worst = int(diff.argmax())
    sampling = getattr(record, "sampling", None) or {}
    sampling = sampling if isinstance(sampling, dict) else {}
    recorded_model = str(getattr(record, "model", "") or "")
    # a model that computed in bfloat16 or float16 (a Hugging Face model's "auto" dtype) wrote
    # log-probabilities rounded to a few digits; the inspection recomputes in float32
    low = sampling.get("dtype") if sampling.get("dtype") in LOW_PRECISION else None
    tolerance = LOW_PRECISION[low] if low else 1e-3
    if float(diff[worst]) <= tolerance:
        how = ""
        temperature = sampling.get("temperature")
        if temperature not in (None, 0, 1, 0.0, 1.0):
            how = f"; sampled at temperature {temperature}, recorded from the model's own distribution"
        if low:
            how += f"; recorded in {low}, recomputed in float32: within {low}'s rounding"
        return (
            True,
            f"recomputed log-probabilities match the recorded ones (max |Δ| {diff[worst]:.1e}{scope}{how}){skipped}",
        )
    model_note = ""
    if recorded_model and _bare(recorded_model) != _bare(inspection.model):
        model_note = f"; the record is of {recorded_model!r}, this inspection of {inspection.model!r}"
    p = first + worst
    token = inspection.tokens[p - offset] if offset <= p < offset + T else inspection.token(full[p] if full else 0)
    return False, (
        f"recomputed log-probabilities do NOT match the recorded ones: max |Δ| {diff[worst]:.3g} at reply token "
        f"{worst} ({token!r}: recorded {theirs[worst]:.4f}, now {mine[worst]:.4f}){skipped}{model_note}. "
        "Another model or other weights made the record, "
        "or it holds something else than the model's own log-probabilities"
    )


#: dtypes a record may have been computed in, and how far their log-probabilities may lie from float32's
LOW_PRECISION = {"bfloat16": 0.15, "float16": 0.02}


def _bare(model: str) -> str:
    """A model string without its provider prefix (``studio/``, ``hf/``) or trailing slash."""
    for prefix in ("studio/", "hf/"):
        model = model.removeprefix(prefix)
    return model.rstrip("/")


def _num(value: Any) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _nums(array: Any) -> Any:
    if array is None:
        return None
    a = np.asarray(array)
    if a.dtype.kind in "iub":
        return a.tolist()
    return np.where(np.isfinite(a), a.astype(object), None).tolist()  # type: ignore[call-overload]


def _atomic_bytes(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_tensors(path: Path) -> dict[str, np.ndarray]:
    from safetensors import SafetensorError
    from safetensors.numpy import load

    try:
        if not stat.S_ISREG(path.stat().st_mode):  # a FIFO would block the reader, a device never end
            raise InspectError(f"{path} is not a regular file: refusing to read it")
        return dict(load(path.read_bytes()))
    except FileNotFoundError:
        raise InspectError(f"{path} is missing: the inspection's numbers are gone") from None
    except OSError as exc:
        raise InspectError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (SafetensorError, ValueError) as exc:
        raise InspectError(f"{path} is corrupt or not safetensors ({exc})") from None


def attention_summary(inspection: Inspection) -> list[dict[str, Any]]:
    """Per layer and head: the token attended most on average over the queries, the mean
    weight on the previous token, and the mean entropy of the rows (nats). Computed a
    layer at a time, so a long text never holds every map."""
    rows: list[dict[str, Any]] = []
    if not inspection.attention_available:
        return rows
    T = inspection.T
    for layer in range(inspection.n_layer):
        maps = inspection.layer_attention(layer)
        received = maps.sum(axis=1) / T  # [H, T]: mean weight each key gets
        previous = np.diagonal(maps, offset=-1, axis1=1, axis2=2).mean(axis=1) if T > 1 else np.zeros(len(maps))
        with np.errstate(divide="ignore", invalid="ignore"):
            entropy = -np.nansum(np.where(maps > 0, maps * np.log(maps), 0.0), axis=2).mean(axis=1)
        for head in range(maps.shape[0]):
            key = int(received[head].argmax())
            rows.append(
                {
                    "layer": layer,
                    "head": head,
                    "top_position": key,
                    "top_token": inspection.tokens[key],
                    "top_weight": float(received[head, key]),
                    "previous_token_weight": float(previous[head]),
                    "entropy": float(entropy[head]),
                }
            )
    return rows
