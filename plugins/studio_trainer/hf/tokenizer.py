"""A transformers tokenizer with the studio tokenizer's interface (``data/tokenizer.py``):
``encode``, ``decode``, ``vocab_size``, ``eos_id``, ``unknown``, ``pieces``, ``save``, and
``tok`` (the ``tokenizers`` object, whose byte-level symbols give each token's bytes).

``encode`` adds no special tokens: a chat prompt rendered by :meth:`HFTokenizer.chat`
already holds them as text (``<|begin_of_text|>``, ``<|im_start|>``), and a reply's ids
must be the model's own tokens only. ``stop_ids`` are the tokens that end a reply: the
end-of-text token and whatever ``generation_config.json`` lists (a chat model's end of turn).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class HFTokenizer:
    kind = "hf"

    def __init__(self, tokenizer: Any, stop_ids: frozenset[int] = frozenset()):
        self.hf = tokenizer
        self.tok = getattr(tokenizer, "backend_tokenizer", None)
        eos = tokenizer.eos_token_id
        self.eos_id: int = int(eos) if eos is not None else (min(stop_ids) if stop_ids else -1)
        self.stop_ids = frozenset(stop_ids) | ({self.eos_id} if self.eos_id >= 0 else set())

    @classmethod
    def load(cls, folder: Path) -> HFTokenizer:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True, trust_remote_code=False)
        return cls(tokenizer, _generation_stops(Path(folder)))

    @property
    def vocab_size(self) -> int:
        return len(self.hf)

    @property
    def has_chat_template(self) -> bool:
        return bool(getattr(self.hf, "chat_template", None))

    def encode(self, text: str) -> list[int]:
        return list(self.hf.encode(text, add_special_tokens=False))

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return [list(ids) for ids in self.hf(texts, add_special_tokens=False)["input_ids"]]

    def decode(self, ids: list[int]) -> str:
        return self.hf.decode(list(ids), skip_special_tokens=False, clean_up_tokenization_spaces=False)

    def unknown(self, text: str) -> set[str]:
        """Characters the tokenizer maps to its unknown token (none for a byte-level BPE)."""
        unk = self.hf.unk_token_id
        if unk is None:
            return set()
        return {c for c in set(text) if unk in self.hf.encode(c, add_special_tokens=False)}

    def pieces(self, text: str) -> list[tuple[int, str]]:
        return [(i, self.decode([i])) for i in self.encode(text)]

    def chat(self, messages: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
        """The messages as the model was trained to read them (its chat template, rendered by
        transformers' sandboxed Jinja); raises ``ValueError`` when the folder has no template."""
        if not self.has_chat_template:
            raise ValueError("the model's folder has no chat template")
        from jinja2 import TemplateError

        try:
            rendered = self.hf.apply_chat_template(
                [{"role": m.get("role", "user"), "content": m.get("content", "")} for m in messages],
                tokenize=False,
                add_generation_prompt=add_generation_prompt,
            )
        except TemplateError as exc:  # a sandbox refusal (SecurityError) is one too
            why = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
            raise ValueError(f"the model's chat template could not be rendered: {why}") from None
        return str(rendered)

    def save(self, folder: Path) -> None:
        self.hf.save_pretrained(str(folder))


def _generation_stops(folder: Path) -> frozenset[int]:
    """``eos_token_id`` of generation_config.json (an id or a list of ids), if any."""
    try:
        data = json.loads((folder / "generation_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return frozenset()
    value = data.get("eos_token_id") if isinstance(data, dict) else None
    values = value if isinstance(value, list) else [value]
    return frozenset(v for v in values if isinstance(v, int) and not isinstance(v, bool) and v >= 0)
