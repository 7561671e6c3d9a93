"""Token records: the per-token data of one model call, saved beside a run.

A model call's reply as tokens, each with its log-probability and the top-k alternatives,
so a trace can be followed down to the model's choices. Local models (``studio/…``) record
every call; remote models record what their provider returned (OpenAI's ``logprobs``).

On disk a record is two files with one stem: ``<stem>.json`` (strings and metadata, with
``"format": "studio.token-record/1"``) and ``<stem>.safetensors`` (the numbers). Never
pickle. numpy and safetensors are imported when a record is saved or loaded, so importing
``studio.api`` stays light.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.core.files import StudioFileError, check_regular_file, dumps_stable

FORMAT = "studio.token-record/1"
#: a stem names two files inside one folder: no separators, no hidden or empty names
_BAD_STEM_CHARS = set('/\\:*?"<>|\0')
MAX_RECORD_BYTES = 512 * 2**20
NO_LOGPROBS = "the provider returned no logprobs"


class TokenRecordError(StudioFileError):
    """A token record could not be read or written; the message says which file and why."""


@dataclass
class TokenRecord:
    """Per-token data of one model call. Saved as <stem>.json (strings, metadata) +
    <stem>.safetensors (numbers); never pickle."""

    model: str  # the call's model string, e.g. "studio/<run id>" or "openai/gpt-4o-mini"
    prompt: str  # the text the model continued ("" if unknown)
    reply: str
    reply_tokens: list[str]
    logprobs: list[float]  # per reply token (natural log)
    top_tokens: list[list[str]]  # per reply token, k alternatives, likeliest first (k may be 0)
    top_logprobs: list[list[float]]
    prompt_tokens: list[str] = field(default_factory=list)  # local models only
    prompt_ids: list[int] | None = None  # local models only
    reply_ids: list[int] | None = None
    entropy: list[float] | None = None  # exact, per reply token (local models); None: unknown
    sampling: dict[str, Any] = field(default_factory=dict)  # temperature, top_k, seed as sent
    note: str = ""  # e.g. "the provider returned no logprobs"
    #: the model's context length in tokens (local models): a longer prompt was seen only in its last ``context``
    context: int | None = None
    #: what the provider resolved the call's model to (e.g. a checkpoint folder); "" when the same or unknown
    resolved_model: str = ""

    def seen_from(self) -> int:
        """The index of the first prompt token the first reply token was predicted from: the
        model saw only the last ``context`` tokens of a longer prompt (0: it saw them all)."""
        if self.context is None or self.context <= 0:
            return 0
        return max(0, len(self.prompt_tokens) - self.context)

    # -- reading one step ----------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.reply_tokens)

    def rank(self, index: int) -> int | None:
        """Where the chosen token stands among the step's top-k (0 = likeliest); None when
        it is not among them (the view says ">k")."""
        token = self.reply_tokens[index]
        for position, alternative in enumerate(self.top_tokens[index]):
            if alternative == token:
                return position
        return None

    def step_entropy(self, index: int) -> tuple[float | None, bool]:
        """The entropy (nats) at a step and whether it is exact. Without a recorded entropy
        it is the part the top-k contribute, a lower bound on the true entropy (each term
        -p log p is positive); None when the step has no alternatives."""
        if self.entropy is not None:
            return float(self.entropy[index]), True
        # a log-probability is at most 0: a file's 1e30 is clipped there, never exp-overflowed
        values = [min(lp, 0.0) for lp in self.top_logprobs[index] if math.isfinite(lp)]
        if not values:
            return None, False
        return float(sum(-math.exp(lp) * lp for lp in values)), False

    def to_json(self) -> dict[str, Any]:
        """The whole record as plain JSON data (the view's *Copy as JSON*)."""
        return {
            "format": FORMAT,
            "model": self.model,
            "resolved_model": self.resolved_model,
            "context": self.context,
            "prompt": self.prompt,
            "reply": self.reply,
            "note": self.note,
            "sampling": self.sampling,
            "prompt_tokens": self.prompt_tokens,
            "prompt_ids": self.prompt_ids,
            "tokens": [
                {
                    "token": token,
                    "logprob": _finite(self.logprobs[i]),
                    "id": self.reply_ids[i] if self.reply_ids is not None else None,
                    "rank": self.rank(i),
                    "entropy": _finite(self.entropy[i]) if self.entropy is not None else None,
                    "top": [[t, _finite(lp)] for t, lp in zip(self.top_tokens[i], self.top_logprobs[i], strict=False)],
                }
                for i, token in enumerate(self.reply_tokens)
            ],
        }

    # -- checking --------------------------------------------------------------------------

    def check(self) -> None:
        """Raise TokenRecordError when the per-token lists disagree in length."""
        n = len(self.reply_tokens)
        for name, values in (("logprobs", self.logprobs), ("top_tokens", self.top_tokens)):
            if len(values) != n:
                raise TokenRecordError(f"{name} has {len(values)} entries for {n} reply tokens")
        if len(self.top_logprobs) != n:
            raise TokenRecordError(f"top_logprobs has {len(self.top_logprobs)} rows for {n} reply tokens")
        for i, (tokens, values) in enumerate(zip(self.top_tokens, self.top_logprobs, strict=True)):
            if len(tokens) != len(values):
                raise TokenRecordError(f"step {i}: {len(tokens)} top tokens but {len(values)} top logprobs")
        for name, optional in (("reply_ids", self.reply_ids), ("entropy", self.entropy)):
            if optional is not None and len(optional) != n:
                raise TokenRecordError(f"{name} has {len(optional)} entries for {n} reply tokens")
        if self.prompt_ids is not None and self.prompt_tokens and len(self.prompt_ids) != len(self.prompt_tokens):
            raise TokenRecordError(
                f"prompt_ids has {len(self.prompt_ids)} entries for {len(self.prompt_tokens)} prompt tokens"
            )

    # -- files -----------------------------------------------------------------------------

    def save(self, folder: Path, stem: str) -> Path:
        """Write ``<stem>.safetensors`` then ``<stem>.json`` atomically; returns the .json path.
        The JSON is written last, so a record whose JSON exists is whole."""
        if not stem or stem.startswith(".") or _BAD_STEM_CHARS & set(stem):
            raise TokenRecordError(f"{stem!r} cannot name a token record (no separators or leading dots)")
        self.check()
        import numpy as np
        from safetensors.numpy import save as save_tensors

        n = len(self.reply_tokens)
        k = max((len(row) for row in self.top_logprobs), default=0)
        top = np.full((n, k), np.nan, dtype=np.float32)
        for i, row in enumerate(self.top_logprobs):
            top[i, : len(row)] = row
        tensors: dict[str, Any] = {
            "logprobs": np.asarray(self.logprobs, dtype=np.float32).reshape(n),
            "top_logprobs": top,
        }
        if self.entropy is not None:
            tensors["entropy"] = np.asarray(self.entropy, dtype=np.float32).reshape(n)
        if self.reply_ids is not None:
            tensors["reply_ids"] = np.asarray(self.reply_ids, dtype=np.int64).reshape(n)
        if self.prompt_ids is not None:
            tensors["prompt_ids"] = np.asarray(self.prompt_ids, dtype=np.int64).reshape(len(self.prompt_ids))
        meta: dict[str, Any] = {
            "format": FORMAT,
            "model": self.model,
            "prompt": self.prompt,
            "reply": self.reply,
            "reply_tokens": self.reply_tokens,
            "top_tokens": self.top_tokens,
            "prompt_tokens": self.prompt_tokens,
            "sampling": self.sampling,
            "note": self.note,
        }
        if self.context is not None:
            meta["context"] = self.context
        if self.resolved_model:
            meta["resolved_model"] = self.resolved_model
        folder = Path(folder)
        json_path = folder / f"{stem}.json"
        try:
            _atomic_write_bytes(folder / f"{stem}.safetensors", save_tensors(tensors, metadata={"format": FORMAT}))
            _atomic_write_bytes(json_path, dumps_stable(meta).encode("utf-8"))
        except (OSError, UnicodeEncodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise TokenRecordError(f"cannot write the token record {json_path}: {reason}") from exc
        return json_path

    @classmethod
    def load(cls, json_path: Path) -> TokenRecord:
        """Read a record from its .json path (the .safetensors beside it); TokenRecordError
        with a clear message when either file is missing, corrupt or disagrees."""
        json_path = Path(json_path)
        meta = _read_meta(json_path)
        tensor_path = json_path.with_suffix(".safetensors")
        tensors = _read_tensors(tensor_path)

        def strings(name: str) -> list[str]:
            value = meta.get(name, [])
            if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
                raise TokenRecordError(f"{json_path}: {name!r} is not a list of strings")
            return value

        def text(name: str) -> str:
            value = meta.get(name, "")
            if not isinstance(value, str):
                raise TokenRecordError(f"{json_path}: {name!r} is not a string")
            return value

        reply_tokens = strings("reply_tokens")
        prompt_tokens = strings("prompt_tokens")
        top_tokens_raw = meta.get("top_tokens", [])
        if not isinstance(top_tokens_raw, list) or not all(
            isinstance(row, list) and all(isinstance(s, str) for s in row) for row in top_tokens_raw
        ):
            raise TokenRecordError(f"{json_path}: 'top_tokens' is not a list of lists of strings")
        sampling = meta.get("sampling", {})
        if not isinstance(sampling, dict):
            raise TokenRecordError(f"{json_path}: 'sampling' is not an object")
        context = meta.get("context")  # absent in records written before it was kept
        if context is not None and (isinstance(context, bool) or not isinstance(context, int) or context < 0):
            raise TokenRecordError(f"{json_path}: 'context' is not a token count (a whole number ≥ 0)")
        n = len(reply_tokens)
        for name in ("logprobs", "top_logprobs"):
            if name not in tensors:
                raise TokenRecordError(f"{tensor_path} has no {name!r} tensor")
        logprobs = tensors["logprobs"]
        top = tensors["top_logprobs"]
        if logprobs.ndim != 1 or logprobs.shape[0] != n:
            raise TokenRecordError(f"{tensor_path}: 'logprobs' has shape {list(logprobs.shape)} for {n} reply tokens")
        if top.ndim != 2 or top.shape[0] != n:
            raise TokenRecordError(f"{tensor_path}: 'top_logprobs' has shape {list(top.shape)} for {n} reply tokens")
        if len(top_tokens_raw) != n:
            raise TokenRecordError(f"{json_path}: 'top_tokens' has {len(top_tokens_raw)} rows for {n} reply tokens")
        top_logprobs = []
        for i, row in enumerate(top_tokens_raw):
            if len(row) > top.shape[1]:
                raise TokenRecordError(f"{json_path}: step {i} has {len(row)} top tokens, the tensor {top.shape[1]}")
            top_logprobs.append([float(v) for v in top[i, : len(row)]])

        def optional(name: str, length: int | None) -> list[Any] | None:
            if name not in tensors:
                return None
            array = tensors[name]
            if array.ndim != 1 or (length is not None and array.shape[0] != length):
                raise TokenRecordError(f"{tensor_path}: {name!r} has shape {list(array.shape)}, expected [{length}]")
            if name.endswith("_ids") and array.dtype.kind not in "iu":  # ids of NaN or 2.5 are no tokens
                raise TokenRecordError(f"{tensor_path}: {name!r} holds {array.dtype} values, not token ids (integers)")
            return [int(v) for v in array] if array.dtype.kind in "iu" else [float(v) for v in array]

        record = cls(
            model=text("model"),
            prompt=text("prompt"),
            reply=text("reply"),
            reply_tokens=reply_tokens,
            logprobs=[float(v) for v in logprobs],
            top_tokens=top_tokens_raw,
            top_logprobs=top_logprobs,
            prompt_tokens=prompt_tokens,
            prompt_ids=optional("prompt_ids", len(prompt_tokens) if prompt_tokens else None),
            reply_ids=optional("reply_ids", n),
            entropy=optional("entropy", n),
            sampling=sampling,
            note=text("note"),
            context=context,
            resolved_model=text("resolved_model"),
        )
        return record

    @classmethod
    def from_openai(
        cls, model: str, prompt: str, reply: str, logprobs_content: list[dict[str, Any]] | None, **extra: Any
    ) -> TokenRecord:
        """A record from OpenAI's ``choices[0].logprobs.content`` (``[{"token", "logprob",
        "top_logprobs": [{"token", "logprob"}, …]}, …]``; litellm objects or dicts). None or
        empty: a record with no tokens whose note says the provider returned none."""
        tokens: list[str] = []
        logprobs: list[float] = []
        top_tokens: list[list[str]] = []
        top_logprobs: list[list[float]] = []
        for item in logprobs_content or []:
            tokens.append(str(_get(item, "token", "")))
            logprobs.append(float(_get(item, "logprob", math.nan)))
            alternatives = _get(item, "top_logprobs", None) or []
            top_tokens.append([str(_get(alt, "token", "")) for alt in alternatives])
            top_logprobs.append([float(_get(alt, "logprob", math.nan)) for alt in alternatives])
        if not tokens:
            extra.setdefault("note", NO_LOGPROBS)
        record = cls(
            model=model,
            prompt=prompt,
            reply=reply,
            reply_tokens=tokens,
            logprobs=logprobs,
            top_tokens=top_tokens,
            top_logprobs=top_logprobs,
            **extra,
        )
        record.check()
        return record


def _get(item: Any, name: str, default: Any) -> Any:
    if isinstance(item, dict):
        return item.get(name, default)
    return getattr(item, name, default)


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_meta(json_path: Path) -> dict[str, Any]:
    if not json_path.exists():
        raise TokenRecordError(f"the token record {json_path} is missing")
    try:
        check_regular_file(json_path)
        if json_path.stat().st_size > MAX_RECORD_BYTES:
            raise TokenRecordError(f"the token record {json_path} is too large ({json_path.stat().st_size} bytes)")
        meta = json.loads(json_path.read_text(encoding="utf-8"))
    except StudioFileError as exc:
        raise TokenRecordError(str(exc)) from None
    except OSError as exc:
        raise TokenRecordError(f"cannot read the token record {json_path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # ValueError: also an int of 5,000 digits
        raise TokenRecordError(f"the token record {json_path} is not valid JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise TokenRecordError(f"the token record {json_path} is not a JSON object")
    if meta.get("format") != FORMAT:
        raise TokenRecordError(
            f"{json_path} is not a token record (format {meta.get('format')!r}, expected {FORMAT!r})"
        )
    return meta


def _read_tensors(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise TokenRecordError(f"the token record's numbers {path} are missing")
    try:
        check_regular_file(path)
        if path.stat().st_size > MAX_RECORD_BYTES:
            raise TokenRecordError(f"{path} is too large for a token record ({path.stat().st_size} bytes)")
        from safetensors.numpy import load

        return dict(load(path.read_bytes()))
    except TokenRecordError:
        raise
    except StudioFileError as exc:
        raise TokenRecordError(str(exc)) from None
    except OSError as exc:
        raise TokenRecordError(f"cannot read {path}: {exc.strerror or exc}") from None
    except Exception as exc:  # safetensors reports a truncated or foreign file with its own error types
        raise TokenRecordError(f"{path} is not a readable safetensors file ({exc})") from None
