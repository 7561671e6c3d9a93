"""Inspect a text with a model: one hooked forward pass, then the logit lens, direct logit
attribution and activation statistics from what it captured. Attention maps are not
computed here; :class:`Inspection` computes them per layer when asked."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .attribution import direct_logit_attribution
from .capture import capture, submodule
from .hooking import on_input, on_output
from .inspection import InspectError, Inspection, LayerLens, code_location_of
from .lens import Lens, layer_rows, logit_lens
from .load import load_model, model_ref

MAX_TOP_K = 50
HIST_BINS = 64


def inspect_text(
    model: str | Path,
    text: str,
    *,
    top_k: int = 10,
    folders: Any = None,
    reply_start: int | None = None,
    last: bool = False,
) -> Inspection:
    """``model``: a run id, checkpoint folder or quantized folder (or ``studio/<that>``), or a
    Hugging Face model folder (or ``hf/<folder>``);
    ``reply_start``: the token index where a reply begins (for shading), if any; ``last``:
    a text longer than the context is inspected over its last context-long window (what
    generation sees: ``GPT.generate`` crops to the last ``block_size`` tokens), not refused."""
    if not text:
        raise InspectError("no text to inspect: give some text")
    check_top_k(top_k)
    loaded = load_model(model, folders)
    ids = loaded.tokenizer.encode(text)
    if not ids:
        raise InspectError(f"none of the text's characters are in {loaded.ref}'s vocabulary")
    return inspect_ids(
        loaded.model, loaded.tokenizer, ids, top_k=top_k, name=loaded.ref, reply_start=reply_start, last=last
    )


def inspect_record(record: Any, *, top_k: int = 10, folders: Any = None) -> Inspection:
    """Inspect a recorded local-model call (``studio.api.TokenRecord``) over its prompt +
    reply, by the recorded token ids where there are some; ``check_record`` then compares.
    A call longer than the context is inspected over its last context-long window."""
    loaded = load_model(model_ref(record.model), folders)
    prompt_ids, reply_ids = record.prompt_ids, record.reply_ids
    if prompt_ids is None or reply_ids is None:
        prompt_ids, reply_ids = loaded.tokenizer.encode(record.prompt), loaded.tokenizer.encode(record.reply)
    ids = [int(i) for i in [*prompt_ids, *reply_ids]]
    if not ids:
        raise InspectError("the record holds no tokens to inspect")
    vocab = loaded.tokenizer.vocab_size
    if any(not 0 <= i < vocab for i in ids):
        raise InspectError(f"the record's token ids are outside {loaded.ref}'s vocabulary ({vocab}): another model's")
    check_top_k(top_k)
    return inspect_ids(
        loaded.model, loaded.tokenizer, ids, top_k=top_k, name=loaded.ref, reply_start=len(prompt_ids), last=True
    )


def check_top_k(top_k: Any) -> None:
    if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= MAX_TOP_K:
        raise InspectError(f"top-k must be 1 to {MAX_TOP_K}, not {top_k!r}")


def inspect_ids(
    model_obj: Any,
    tokenizer: Any,
    ids: list[int],
    *,
    top_k: int = 10,
    name: str = "",
    reply_start: int | None = None,
    attention: str = "lazy",
    last: bool = False,
) -> Inspection:
    """Inspect token ids with a loaded model. ``attention="all"`` computes every map now
    (the full inspection the benchmark times); "lazy" computes them when asked. ``last``:
    more ids than the context → the last context-long window (``window_start`` says where
    it starts; ``reply_start`` is then counted within it)."""
    if attention not in ("lazy", "all"):
        raise InspectError(f"attention must be 'lazy' or 'all', not {attention!r}")
    context = int(model_obj.config.block_size)
    if not ids:
        raise InspectError("no tokens to inspect")
    full_ids = [int(i) for i in ids]
    window_start = 0
    if len(ids) > context:
        if not last:
            raise InspectError(
                f"the text is {len(ids)} tokens; {name or 'the model'}'s context is {context} tokens: shorten it, "
                f"or inspect its last {context} tokens (--last)"
            )
        window_start = len(ids) - context
        ids = full_ids[window_start:]
        if reply_start is not None:
            reply_start = max(0, reply_start - window_start)
    check_top_k(top_k)
    model_obj.eval()
    idx = torch.tensor([ids], dtype=torch.long)
    with torch.no_grad():
        blocks = list(model_obj.blocks)
        attns = [submodule(b, "attn") for b in blocks]
        has_maps = bool(blocks) and all(callable(getattr(a, "attention_weights", None)) for a in attns)
        cap = capture(model_obj, idx, maps=attention == "all" and has_maps)
        # the last layer's lens now, from the pass's logits; the layers before it when first read
        lens = logit_lens(model_obj, cap.resid[-1:], idx[0], top_k, final_logits=cap.logits)
        layer_lens = LayerLens(functools.partial(_all_layers, model_obj, cap.resid[:-1], idx[0], lens))
        unavailable: list[str] = []
        n_heads = {getattr(a, "n_head", None) for a in attns}
        n_head = next(iter(n_heads)) if len(n_heads) == 1 and isinstance(next(iter(n_heads)), int) else None
        if not has_maps:
            kinds = sorted({type(a).__qualname__ for a in attns if not callable(getattr(a, "attention_weights", None))})
            unavailable.append(
                f"attention maps: the attention type {', '.join(kinds) or '(none)'} has no attention_weights(x)"
            )
        if n_head is None:
            unavailable.append("per-head views: the attention type does not say its number of heads (n_head)")
        attribution, why = direct_logit_attribution(
            model_obj, cap, torch.from_numpy(lens.target_ids), n_head, torch.from_numpy(lens.final_logits_target)
        )
        if why:
            unavailable.append(why)
        elif attribution is not None and attribution["heads"] is None and n_head is not None:
            unavailable.append("per-head attribution: the heads' outputs (attn.proj's input) were not seen")
        resid_norm = cap.resid.norm(dim=-1).numpy()
        hidden = [h if h is not None else o for h, o in zip(cap.mlp_hidden, cap.mlp_out, strict=True)]
        T = len(ids)
        mlp_norm = np.stack([h.float().norm(dim=-1).numpy() if h is not None else np.zeros(T) for h in hidden])
        # each layer's histogram when the Activations view (or a save) first asks for it: block
        # ``layer`` re-run on its stored input, not five passes over every layer's values now
        run_block = getattr(model_obj, "run_block", None)  # a layer that needs its positions (Hugging Face)
        mlp_hist = Histograms(
            [
                functools.partial(
                    _block_histogram, block, cap.resid[i], functools.partial(run_block, i) if run_block else None
                )
                for i, block in enumerate(blocks)
            ]
        )
    locations: dict[str, list] = {}
    for layer, block in enumerate(blocks):
        locations[f"{layer}:block"] = code_location_of(block)
        for part in ("attn", "mlp"):
            module = submodule(block, part)
            if module is not None:
                locations[f"{layer}:{part}"] = code_location_of(module)
    seen = {int(i) for i in ids}
    vocab = {i: tokenizer.decode([i]) for i in seen}
    inspection = Inspection(
        tokens=[vocab[int(i)] for i in ids],
        ids=[int(i) for i in ids],
        n_layer=len(blocks),
        n_head=n_head,
        model=name,
        reply_start=reply_start,
        logprobs=lens.logprobs,
        top_ids=lens.final_top_ids,
        top_logprobs=lens.final_top_logprobs,
        entropy=lens.entropy,
        lens=layer_lens,
        attribution=attribution,
        resid_norm=resid_norm,
        mlp_norm=mlp_norm.reshape(len(blocks), T),
        mlp_hist=mlp_hist,
        attention_available=has_maps,
        unavailable=unavailable,
        vocab=vocab,
        code_locations=locations,
        window_start=window_start,
        full_length=len(full_ids),
        _full_ids=full_ids,
        _model=model_obj,
        _tokenizer=tokenizer,
        _attn_in=[x.float() if x is not None else None for x in cap.attn_in],
    )
    if cap.maps is not None:
        inspection._all_maps = [m.numpy() for m in cap.maps]
    return inspection


def _all_layers(model: Any, earlier: torch.Tensor, ids: torch.Tensor, last: Lens) -> dict[str, np.ndarray]:
    """Every layer's lens: the layers before the last (``earlier`` [L, T, C]) through the
    final norm and unembedding, then the last layer's row, computed with the inspection."""
    rows = layer_rows(model, earlier, ids)
    final = {
        "top_ids": last.top_ids,
        "top_prob": last.top_prob,
        "target_rank": last.target_rank,
        "target_prob": last.target_prob,
    }
    return {name: np.concatenate([rows[name].astype(final[name].dtype), final[name]]) for name in final}


class Histograms(Sequence):
    """Per-layer (counts, edges) of the MLP's hidden values, each computed on first access
    from a zero-argument function and kept; a plain list works wherever this does."""

    def __init__(self, makers: list[Callable[[], tuple[np.ndarray, np.ndarray]]]):
        self._items: list[Any] = list(makers)

    def __len__(self) -> int:
        return len(self._items)

    def ready(self, index: int) -> bool:
        """Whether layer ``index``'s histogram is computed (reading it then costs nothing)."""
        return not callable(self._items[index])

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        item = self._items[index]
        if callable(item):
            item = self._items[index] = item()
        return item


def _block_histogram(
    block: Any, x: torch.Tensor, run: Callable[[torch.Tensor], Any] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The histogram of a block's MLP hidden values, the block re-run on its input ``x`` [T, C]
    (by ``run``, the model's ``run_block``, where a layer needs more than its input) with the
    capture's hook (``mlp.proj``'s input, else the MLP's output)."""
    seen: dict[str, torch.Tensor] = {}
    mlp = submodule(block, "mlp")
    proj = submodule(mlp, "proj") if mlp is not None else None
    if proj is not None:
        handle = on_input(proj, lambda h: seen.__setitem__("h", h[0]))
    elif mlp is not None:
        handle = on_output(mlp, lambda _x, out: seen.__setitem__("h", out[0]))
    else:
        return _histogram(None)
    try:
        with torch.no_grad():
            (run or block)(x.unsqueeze(0))
    finally:
        handle.remove()
    return _histogram(seen.get("h"))


def _histogram(values: torch.Tensor | None) -> tuple[np.ndarray, np.ndarray]:
    if values is None:
        return np.zeros(HIST_BINS, dtype=np.int64), np.linspace(0.0, 1.0, HIST_BINS + 1)
    v = values.float().reshape(-1)
    low, high = torch.aminmax(v)
    lo, hi = float(low), float(high)
    if hi <= lo:
        hi = lo + 1.0
    # bin numbers as bytes (v >= lo, so 0 to 63 with no clamping): a third of torch.histc's time
    bins = torch.sub(v, lo).mul_((HIST_BINS - 1e-3) / (hi - lo)).to(torch.uint8)
    return torch.bincount(bins, minlength=HIST_BINS).numpy(), np.linspace(lo, hi, HIST_BINS + 1)
