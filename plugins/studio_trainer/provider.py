"""A studio checkpoint as a chat model, in-process: model strings ``studio/<checkpoint>``.

``completion_function()`` returns ``complete(model, messages, **options)``, which answers
in the OpenAI chat-completion shape litellm also returns, so the prompt-module engine can
call a local checkpoint like any provider. The prompt is the messages' contents joined
by newlines (the template is shown in ``render``: nothing hidden); the model continues it.
``<checkpoint>`` is a checkpoint folder, a run folder, or a run id of the active workspace.
Loaded models are cached per checkpoint; the first call imports torch, and its reply
says how long the load took (``studio_load``), so a trace shows loading apart from generating.

Every reply carries the sampler's record of each token, always: ``choices[0]["logprobs"]``
in OpenAI's shape (``{"content": [{"token", "logprob", "bytes", "top_logprobs": [...20]}]}``,
log-probabilities of the model's own distribution, before temperature and top-k), so
local and remote replies are read the same way; and ``studio_tokens`` (``TOKENS_FIELD``)
with what only a local model can tell: the rendered prompt, its tokens and ids, the reply's
ids and the entropy at each step.

``intervention="<file>.json"`` applies a saved intervention (``inspect/program.py``: head
or layer ablations, a steering direction) while generating; the path is absolute or
relative to the active workspace (``program_file.py``), and the reply then says which ran
(``studio_intervention``: {"file", "summary"}).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

_models: dict[Path, tuple[Any, Any]] = {}
_lock = threading.Lock()
PREFIX = "studio/"
#: an extra field of the reply when the call loaded the model: {"start" (Unix time),
#: "seconds", "name"}; the prompt engine traces it as a ``load`` span inside the call's span
LOAD_FIELD = "studio_load"
#: an extra field of every reply: {"prompt", "prompt_tokens", "prompt_ids", "reply_ids", "entropy"}
TOKENS_FIELD = "studio_tokens"
INTERVENTION_FIELD = "studio_intervention"  # program_file.INTERVENTION_FIELD (torch-free here)


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
    intervention: str | Path | None = None,
    **_ignored: Any,
) -> dict[str, Any]:
    ref = model[len(PREFIX) :] if model.startswith(PREFIX) else model
    (folder, net, tokenizer), loaded = timed_load(_models, lambda: _load(ref, Path(runs_dir) if runs_dir else None))
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


def timed_load(models: dict, load: Callable[[], tuple]) -> tuple[tuple, dict[str, Any] | None]:
    """``load()`` (→ folder, model, tokenizer, kept in ``models``) and, when this call loaded
    the weights (or waited for their load), the reply's ``studio_load`` field. The load is
    everything until the model is ready: importing torch included (seconds, once)."""
    before, start, t0 = len(models), time.time(), time.perf_counter()
    found = load()
    if len(models) == before:
        return found, None
    return found, {"start": start, "seconds": time.perf_counter() - t0, "name": f"load {found[0].name}"}


def rendered(tokenizer: Any, messages: list[dict[str, str]]) -> tuple[str, str | None]:
    """(the prompt the model reads, how it was rendered): a chat model's own template (a
    Hugging Face model, or a studio fine-tune of one), else the messages' contents, one
    per line (None: the studio's plain rendering, said nowhere as nothing else was possible)."""
    if getattr(tokenizer, "has_chat_template", False):
        return tokenizer.chat(messages), "the model's chat template"
    if getattr(tokenizer, "kind", "") == "hf":
        return render(messages), "plain (the folder has no chat template): the messages' contents, one per line"
    return render(messages), None


def respond(
    prefix: str,
    model: str,
    folder: Path,
    net: Any,
    tokenizer: Any,
    prompt: str,
    *,
    max_tokens: int,
    temperature: float,
    top_k: int | None,
    seed: int | None,
    stop: list[str] | str | None,
    intervention: str | Path | None,
    loaded: dict[str, Any] | None,
    template: str | None = None,
) -> dict[str, Any]:
    """Sample a reply to the rendered ``prompt`` from a loaded model, as an OpenAI-shaped
    chat completion with the token record (``logprobs``, ``studio_tokens``), the intervention
    that ran and, when this call loaded the model, ``studio_load``. Shared by the local
    providers (``studio/``, ``hf/``); ``template`` names how the prompt was rendered."""
    from .train.sampling import sample_with_record

    applied, ran = _intervention(intervention, net, model)
    with _lock, applied:  # one generation at a time per process: the model is shared (its hooks too)
        sample = sample_with_record(
            net, tokenizer, prompt, max_tokens, max(temperature, 0.0), top_k, seed=seed, stop_at_eos=True
        )
    text, steps, finish = sample.text, sample.steps, "length"
    for s in [stop] if isinstance(stop, str) else (stop or []):
        if s and s in text:
            text, finish = text[: text.index(s)], "stop"
    if len(text) < len(sample.text):
        steps = steps.truncated(tokens_within(tokenizer, steps.ids, text))
    names = _TokenNames(tokenizer)
    prompt_tokens, completion_tokens = len(tokenizer.encode(prompt)), len(steps)
    response: dict[str, Any] = {
        "id": f"studio-{uuid.uuid4().hex[:12]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": f"{prefix}{folder}",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": finish,
                "logprobs": {"content": openai_logprobs(steps, names)},
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }
    response[TOKENS_FIELD] = {
        "prompt": prompt,
        "prompt_tokens": [names(i) for i in sample.prompt_ids],
        "prompt_ids": sample.prompt_ids,
        "reply_ids": steps.ids,
        "entropy": steps.entropy,
        # the model saw only the last `context` prompt tokens: a record says so (Traces dims the rest)
        "context": getattr(getattr(net, "config", None), "block_size", None),
        "dtype": compute_dtype(net),  # the Inspector's check allows for a bfloat16 model's rounding
    }
    if template is not None:
        response[TOKENS_FIELD]["template"] = template
    if ran is not None:
        response[INTERVENTION_FIELD] = ran
    if loaded is not None:
        response[LOAD_FIELD] = loaded
    return response


def compute_dtype(net: Any) -> str:
    """The floating-point type the model computes in ("float32", "bfloat16"…)."""
    for p in net.parameters():
        if p.is_floating_point():
            return str(p.dtype).removeprefix("torch.")
    return "float32"


def token_record(model: str, tokenizer, sample, *, context: int | None = None, sampling: dict | None = None):
    """A whole sample as a ``studio.api.TokenRecord`` (what the prompt engine makes of a
    reply), for a generation that is not a model call: the generate job saves one beside
    its run, so Generate → Inspect checks the recomputed log-probabilities against it."""
    from studio.api import TokenRecord

    names = _TokenNames(tokenizer)
    steps = sample.steps
    return TokenRecord.from_openai(
        model,
        tokenizer.decode(sample.prompt_ids),
        sample.text,
        openai_logprobs(steps, names),
        prompt_tokens=[names(i) for i in sample.prompt_ids],
        prompt_ids=list(sample.prompt_ids),
        reply_ids=list(steps.ids),
        entropy=list(steps.entropy),
        context=context,
        sampling=dict(sampling or {}),
    )


def _intervention(value: str | Path | None, net: Any, model: str) -> tuple[Any, dict[str, str] | None]:
    """The context that applies ``value``'s intervention file while generating (hooks,
    position-wise: the key/value cache still works), and the reply's field saying so."""
    if value is None or value == "":
        return nullcontext(), None
    from .inspect.program import applied
    from .program_file import load_for

    program, ran = load_for(value, net, model)
    return applied(net, program), ran


def tokens_within(tokenizer, ids: list[int], text: str) -> int:
    """How many of the reply tokens ``ids`` lie wholly within ``text``, the reply cut at a
    stop string: the longest prefix of tokens that decodes to a prefix of ``text``. A token
    that straddles the cut (part of its text before the stop string, part in it) is left
    out with everything after it, so the kept tokens never claim text the reply lacks."""
    kept = 0
    for n in range(1, len(ids) + 1):
        decoded = tokenizer.decode(ids[:n])
        if len(decoded) <= len(text) and text.startswith(decoded):
            kept = n
        elif len(decoded) > len(text) and not decoded.endswith("\ufffd"):
            break  # past the cut (a partial UTF-8 sequence may still shrink when completed)
    return kept


class _TokenNames:
    """Each id's text (the end-of-text token by its name) and bytes, cached for one reply."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.names: dict[int, str] = {}
        self.byte_names: dict[int, list[int]] = {}

    def bytes(self, token_id: int) -> list[int]:
        """The token's UTF-8 bytes: a byte-level BPE token can hold part of a character,
        which its text (``\ufffd``) cannot show; OpenAI's ``bytes`` field carries them."""
        found = self.byte_names.get(token_id)
        if found is None:
            found = list(self(token_id).encode("utf-8"))
            raw = getattr(self.tokenizer, "tok", None)
            if raw is not None and token_id != self.tokenizer.eos_id:
                symbols = raw.id_to_token(token_id) or ""
                if symbols and all(ch in _BYTE_OF for ch in symbols):
                    found = [_BYTE_OF[ch] for ch in symbols]
            self.byte_names[token_id] = found
        return found

    def __call__(self, token_id: int) -> str:
        name = self.names.get(token_id)
        if name is None:
            if token_id == self.tokenizer.eos_id:
                from .data.tokenizer import EOS

                name = EOS
            else:
                name = self.tokenizer.decode([token_id])
            self.names[token_id] = name
        return name


def openai_logprobs(steps, names: _TokenNames) -> list[dict[str, Any]]:
    """``choices[0].logprobs.content`` as OpenAI returns it, from a ``Steps`` record."""

    def entry(token_id: int, logprob: float) -> dict[str, Any]:
        token = names(token_id)
        return {"token": token, "logprob": logprob, "bytes": names.bytes(token_id)}

    return [
        {
            **entry(token_id, logprob),
            "top_logprobs": [entry(i, lp) for i, lp in zip(top_ids, top_lps, strict=True)],
        }
        for token_id, logprob, top_ids, top_lps in zip(
            steps.ids, steps.logprobs, steps.top_ids, steps.top_logprobs, strict=True
        )
    ]


def _byte_level_alphabet() -> dict[str, int]:
    """The byte-level BPE's printable stand-in for each byte (GPT-2's ``bytes_to_unicode``), inverted."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("\u00a1"), ord("\u00ac") + 1)]
    printable += range(ord("\u00ae"), ord("\u00ff") + 1)
    stand_in, extra = {b: b for b in printable}, 0
    for b in range(256):
        if b not in stand_in:
            stand_in[b], extra = 256 + extra, extra + 1
    return {chr(c): b for b, c in stand_in.items()}


_BYTE_OF = _byte_level_alphabet()
