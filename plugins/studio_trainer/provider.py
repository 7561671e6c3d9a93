"""A studio checkpoint as a chat model, in-process: model strings ``studio/<checkpoint>``.

``completion_function()`` returns ``complete(model, messages, **options)``, which answers
in the OpenAI chat-completion shape litellm also returns, so the prompt-module engine can
call a local checkpoint like any provider. The prompt is the messages' contents joined
by newlines (the template is shown in ``render``: nothing hidden); the model continues it.
``<checkpoint>`` is a checkpoint folder, a run folder, or a run id of the active workspace.
Loaded models are cached per checkpoint; the first call imports torch, and its reply
says how long the load took (``studio_load``), so a trace shows loading apart from generating.
"""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path
from typing import Any

_models: dict[Path, tuple[Any, Any]] = {}
_lock = threading.Lock()
PREFIX = "studio/"
#: an extra field of the reply when the call loaded the model: {"start" (Unix time),
#: "seconds", "name"}; the prompt engine traces it as a ``load`` span inside the call's span
LOAD_FIELD = "studio_load"


def completion_function():
    return complete


def render(messages: list[dict[str, str]]) -> str:
    return "".join(f"{m.get('content', '')}\n" for m in messages)


def _load(ref: str, runs_dir: Path | None):
    from .train.checkpoint import load_checkpoint, resolve_checkpoint

    # a run id names a run of ``runs_dir``, else of the active workspace (the studio's, in
    # its process and its workers), through the shell's resolver, as every model field
    folder = resolve_checkpoint(ref, runs_dir, prefer="best").resolve()
    with _lock:
        if folder not in _models:
            model, tokenizer, _ = load_checkpoint(folder, "cpu", generate=True)
            _models[folder] = (model, tokenizer)
        return folder, *_models[folder]


def complete(
    model: str,
    messages: list[dict[str, str]],
    *,
    max_tokens: int = 256,
    temperature: float = 0.8,
    top_k: int | None = 200,
    seed: int | None = None,
    stop: list[str] | str | None = None,
    runs_dir: str | Path | None = None,
    **_ignored: Any,
) -> dict[str, Any]:
    # the load is everything until the model is ready: importing torch included (seconds, once)
    loaded_before, load_start, t0 = len(_models), time.time(), time.perf_counter()
    from .train.sampling import sample_text

    ref = model[len(PREFIX) :] if model.startswith(PREFIX) else model
    folder, net, tokenizer = _load(ref, Path(runs_dir) if runs_dir else None)
    load_seconds = time.perf_counter() - t0
    prompt = render(messages)
    with _lock:  # one generation at a time per process: the model is shared
        text = sample_text(
            net, tokenizer, prompt, max_tokens, max(temperature, 0.0), top_k, seed=seed, stop_at_eos=True
        )
    finish = "length"
    for s in [stop] if isinstance(stop, str) else (stop or []):
        if s and s in text:
            text, finish = text[: text.index(s)], "stop"
    prompt_tokens, completion_tokens = len(tokenizer.encode(prompt)), len(tokenizer.encode(text))
    response: dict[str, Any] = {
        "id": f"studio-{uuid.uuid4().hex[:12]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": f"{PREFIX}{folder}",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }
    if len(_models) != loaded_before:  # this call loaded the weights (or waited for their load)
        response[LOAD_FIELD] = {"start": load_start, "seconds": load_seconds, "name": f"load {folder.name}"}
    return response
