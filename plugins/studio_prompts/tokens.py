"""Token records of model calls: a reply's tokens with their log-probabilities, saved
beside the run (``runs/<id>/tensors/<span id>.json`` + ``.safetensors``) and referenced
from the ``llm`` span as ``token_record`` (relative to the run folder), so ``events.jsonl``
stays small and the numbers are read only when a span is opened in Traces.

Where they come from: a local model (``studio/…``) sends OpenAI-shaped ``logprobs`` and its
own ``studio_tokens`` (prompt tokens, ids, exact entropy) with every reply; a litellm model
sends ``logprobs`` when the node or workflow asks for them (``logprobs: true``,
``top_logprobs: K``). A call without them gets a ``token_note`` on its span instead, so the
view can say why there are no tokens.

Cached calls: the cache entry keeps the reply's token data (``Completion.to_cache``), so a
cache hit writes the same record as the call it repeats; an entry cached before token data
was kept says "cached call: no token data".

Writing is never a failed call: a full or read-only disk is a warning in the log and a
note on the span.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

from studio.api import TokenRecord, TokenRecordError

log = logging.getLogger(__name__)

FOLDER = "tensors"  # inside the run folder
MAX_TOP_LOGPROBS = 20  # OpenAI's limit, and the local provider's
NOT_ASKED = "token probabilities were not asked for (the node's or workflow's 'token probabilities' setting is off)"
NO_LOGPROBS = "the provider returned no logprobs"
MALFORMED = "the provider's logprobs were malformed ({})"
CACHED_WITHOUT = "cached call: no token data (cached before token data was kept)"
#: request parameters that ask a litellm model for logprobs (never sent to a local provider)
LOGPROB_PARAMS = ("logprobs", "top_logprobs")
_SAMPLING = ("temperature", "top_k", "top_p", "seed", "max_tokens")


def asked_for(params: dict[str, Any]) -> bool:
    return bool(params.get("logprobs"))


def plain_content(logprobs: Any) -> list[dict[str, Any]] | None:
    """``choices[0].logprobs`` (a dict or litellm's object) → OpenAI's ``content`` as plain
    dicts (token, logprob, top_logprobs), or None when the provider sent none, or sent
    something else than that shape (a string, a logprob of "abc"): a provider's malformed
    logprobs are a warning and no token data, never a failed call."""
    return read_logprobs(logprobs)[0]


def read_logprobs(logprobs: Any) -> tuple[list[dict[str, Any]] | None, str]:
    """``plain_content`` and why there is none when the provider's logprobs were there but
    malformed (a short reason, e.g. "a logprob of 'abc' is no number"; "" otherwise), so
    the span's note can tell a malformed reply from a provider that sent none."""
    if logprobs is None:
        return None, ""
    content = logprobs.get("content") if isinstance(logprobs, dict) else getattr(logprobs, "content", None)
    if not content:
        return None, ""
    try:
        return [_plain_item(item) for item in _items(content)], ""
    except (TypeError, ValueError) as exc:
        log.warning("the provider's logprobs are malformed, no token data kept: %s", exc)
        return None, str(exc)[:120]


def _get(item: Any, name: str, default: Any = None) -> Any:
    return item.get(name, default) if isinstance(item, dict) else getattr(item, name, default)


def _items(value: Any) -> list[Any]:
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise TypeError(f"a list of tokens was expected, not {type(value).__name__}")
    for item in value:
        if not isinstance(item, dict) and not hasattr(item, "token"):
            raise TypeError(f"a token entry was expected, not {type(item).__name__}")
    return list(value)


def _number(value: Any) -> float:
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"a logprob of {value!r:.40} is no number")
    return float(value)


def _plain_item(item: Any) -> dict[str, Any]:
    return {
        "token": str(_get(item, "token", "")),
        "logprob": _number(_get(item, "logprob")),
        "top_logprobs": [
            {"token": str(_get(alt, "token", "")), "logprob": _number(_get(alt, "logprob"))}
            for alt in _items(_get(item, "top_logprobs") or [])
        ],
    }


def token_fields(
    span_id: str | None,
    completion: Any,
    messages: list[dict[str, Any]],
    params: dict[str, Any],
    tokens_dir: Path | None,
    local: bool,
    model: str | None = None,
) -> dict[str, Any]:
    """Save the call's token record and return the span's fields: ``token_record``
    ("tensors/<span id>.json") or a ``token_note``. Nothing outside a job (no folder).
    ``model``: the call's model string as the workflow named it (``LM.model``); the record
    keeps it, and what the provider resolved it to (a checkpoint folder) as ``resolved_model``."""
    if tokens_dir is None or span_id is None:
        return {}
    content = completion.logprobs
    if not content:
        if completion.cache_hit and completion.logprobs is None and (local or asked_for(params)):
            return {"token_note": CACHED_WITHOUT}
        malformed = getattr(completion, "logprobs_error", "")
        if malformed:
            return {"token_note": MALFORMED.format(malformed)}
        return {"token_note": NO_LOGPROBS if local or asked_for(params) else NOT_ASKED}
    extra: dict[str, Any] = {"sampling": {k: params[k] for k in _SAMPLING if k in params}}
    studio_tokens = completion.studio_tokens if isinstance(completion.studio_tokens, dict) else {}
    prompt = str(studio_tokens.get("prompt") or "")
    try:
        if studio_tokens:
            extra.update(
                prompt_tokens=[str(t) for t in studio_tokens.get("prompt_tokens") or []],
                prompt_ids=_ints(studio_tokens.get("prompt_ids")),
                reply_ids=_ints(studio_tokens.get("reply_ids")),
                entropy=_floats(studio_tokens.get("entropy")),
                context=_count(studio_tokens.get("context")),
            )
            if isinstance(studio_tokens.get("dtype"), str):  # what the local model computed in
                extra["sampling"]["dtype"] = studio_tokens["dtype"][:32]
        named = model or completion.model
        if completion.model and completion.model != named:
            extra["resolved_model"] = str(completion.model)
        record = TokenRecord.from_openai(named, prompt, completion.text, content, **extra)
        if record.reply_ids is not None and len(record.reply_ids) != len(record):  # a provider's mismatch: drop ids
            record.reply_ids = None
        if record.entropy is not None and len(record.entropy) != len(record):
            record.entropy = None
        if record.prompt_ids is not None and len(record.prompt_ids) != len(record.prompt_tokens):
            record.prompt_ids = None
        path = record.save(tokens_dir, span_id)
    except (TokenRecordError, TypeError, ValueError, OverflowError) as exc:  # OverflowError: an id of 10**30
        log.warning("the token record of model call %s was not saved: %s", span_id, exc)
        return {"token_note": f"token data not saved: {exc}"}
    return {"token_record": f"{FOLDER}/{path.name}"}


def _count(value: Any) -> int | None:
    """A provider's context length: a whole number > 0, else unknown."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _ints(value: Any) -> list[int] | None:
    return [int(v) for v in value] if isinstance(value, list) else None


def _floats(value: Any) -> list[float] | None:
    return [float(v) for v in value] if isinstance(value, list) else None
