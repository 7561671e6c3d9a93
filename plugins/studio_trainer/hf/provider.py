"""A Hugging Face folder as a chat model, in-process: model strings ``hf/<folder>``.

As the studio's own provider (``provider.py``: the same reply, token record, intervention
and load span), with what a real chat model needs: the messages are rendered by the
model's own chat template (``tokenizer_config.json`` / ``chat_template.jinja``, through
transformers' sandboxed Jinja), so the model reads the turns it was trained on, and the
reply ends at its end-of-turn token (``generation_config.json``'s eos ids). A folder
without a template gets the plain rendering of ``studio/`` models, and the token record
says so (``studio_tokens.template``). ``<folder>`` is a folder path or anything the model
picker lists (``studio.api.resolve_model``: a Hugging Face cache entry → its snapshot).

Per call: ``max_tokens``, ``temperature`` (0: greedy), ``top_k``, ``seed``, ``stop``,
``intervention``; ``dtype`` ("auto", "float32", "bfloat16") picks how the model is held
(one loaded copy per folder and dtype).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

PREFIX = "hf/"
_models: dict[tuple[Path, str], tuple[Any, Any]] = {}
_lock = threading.Lock()


def completion_function():
    return complete


def _load(ref: str, dtype: str) -> tuple[Path, Any, Any]:
    from studio.api import resolve_model

    from .folder import HFFolderError, is_hf_folder
    from .load import load_hf

    folder = resolve_model(ref).resolve()
    if not is_hf_folder(folder):
        raise HFFolderError(f"{folder} is not a Hugging Face model folder (hf/ takes one; studio/ takes a run)")
    with _lock:
        if (folder, dtype) not in _models:
            model, tokenizer, _ = load_hf(folder, "cpu", dtype, generate=True)
            _models[(folder, dtype)] = (model, tokenizer)
        return folder, *_models[(folder, dtype)]


def complete(
    model: str,
    messages: list[dict[str, str]],
    *,
    max_tokens: int = 256,
    temperature: float = 0.8,
    top_k: int | None = 200,
    seed: int | None = None,
    stop: list[str] | str | None = None,
    intervention: str | Path | None = None,
    dtype: str = "auto",
    **_ignored: Any,
) -> dict[str, Any]:
    from ..provider import rendered, respond, timed_load

    ref = model[len(PREFIX) :] if model.startswith(PREFIX) else model
    (folder, net, tokenizer), loaded = timed_load(_models, lambda: _load(ref, dtype))
    prompt, template = rendered(tokenizer, messages)
    return respond(
        PREFIX,
        model,
        folder,
        net,
        tokenizer,
        prompt,
        max_tokens=max_tokens,
        temperature=temperature,
        top_k=top_k,
        seed=seed,
        stop=stop,
        intervention=intervention,
        loaded=loaded,
        template=template,
    )
