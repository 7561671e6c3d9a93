"""Tokenizers: characters, or a byte-level BPE trained on the corpus (``tokenizers``).

Both save as a readable ``tokenizer.json``: ours is ``{"type": "char", "chars": [...]}``,
the BPE one is the ``tokenizers`` library's own format, so either can be opened in a text
editor or loaded by other tools. Id 0 of the char tokenizer and the ``<|endoftext|>``
token of the BPE mark the end of a document (and pad fine-tuning batches).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from studio.api import StudioFileError, atomic_write_text, read_json

EOS = "<|endoftext|>"


class CharTokenizer:
    kind = "char"

    def __init__(self, chars: list[str]):
        self.chars = list(chars)  # position + 1 is the id; id 0 is EOS
        self.stoi = {c: i + 1 for i, c in enumerate(self.chars)}
        self.eos_id = 0

    @classmethod
    def train(cls, texts: list[str]) -> CharTokenizer:
        return cls(sorted(set().union(*map(set, texts))))

    @property
    def vocab_size(self) -> int:
        return len(self.chars) + 1

    def encode(self, text: str) -> list[int]:
        """Ids of the known characters; unknown ones are dropped (see ``unknown``)."""
        stoi = self.stoi
        return [stoi[c] for c in text if c in stoi]

    def unknown(self, text: str) -> set[str]:
        return {c for c in text if c not in self.stoi}

    def decode(self, ids: list[int]) -> str:
        return "".join(self.chars[i - 1] if i > 0 else "" for i in ids)

    def pieces(self, text: str) -> list[tuple[int, str]]:
        """(id, the text it stands for), for showing how text splits."""
        return [(self.stoi[c], c) for c in text if c in self.stoi]

    def save(self, path: Path) -> None:
        atomic_write_text(
            path, json.dumps({"type": "char", "eos": EOS, "chars": self.chars}, ensure_ascii=False, indent=1)
        )


class BPETokenizer:
    kind = "bpe"

    def __init__(self, tokenizer):
        self.tok = tokenizer
        self.eos_id = tokenizer.token_to_id(EOS)
        if self.eos_id is None:
            raise StudioFileError(f"the BPE tokenizer has no {EOS} token")

    @classmethod
    def train(cls, texts: list[str], vocab_size: int) -> BPETokenizer:
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=[EOS],
            show_progress=False,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        )
        tok.train_from_iterator(_training_pieces(texts), trainer=trainer)
        return cls(tok)

    @property
    def vocab_size(self) -> int:
        return self.tok.get_vocab_size()

    def encode(self, text: str) -> list[int]:
        return self.tok.encode(text).ids

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self.tok.encode_batch(texts)]

    def unknown(self, text: str) -> set[str]:
        return set()  # byte-level: every string has a spelling

    def decode(self, ids: list[int]) -> str:
        return self.tok.decode(ids, skip_special_tokens=True)

    def pieces(self, text: str) -> list[tuple[int, str]]:
        enc = self.tok.encode(text)
        return [(i, text[a:b]) for i, (a, b) in zip(enc.ids, enc.offsets, strict=True)]

    def save(self, path: Path) -> None:
        atomic_write_text(path, self.tok.to_str(pretty=True))


Tokenizer = CharTokenizer | BPETokenizer

#: BPE training slows down with the square of a word's length: a text that is one
#: multi-megabyte "word" (a minified file, a huge single line) would train for hours
MAX_WORD = 1000
_LONG_RUN = re.compile(rf"\S{{{MAX_WORD},}}")


def _training_pieces(texts: list[str]):
    """The texts, with runs of more than ``MAX_WORD`` non-space characters cut into pieces
    (each piece is its own sequence for the trainer, so nothing is added to the text)."""
    for text in texts:
        start = 0
        for match in _LONG_RUN.finditer(text):
            yield text[start : match.start()]
            run = match.group()
            yield from (run[i : i + MAX_WORD] for i in range(0, len(run), MAX_WORD))
            start = match.end()
        yield text[start:]


def load_tokenizer(path: Path) -> Tokenizer:
    data = read_json(path)
    if isinstance(data, dict) and data.get("type") == "char":
        chars = data.get("chars")
        if not isinstance(chars, list) or not all(isinstance(c, str) and len(c) == 1 for c in chars):
            raise StudioFileError(f"{path}: 'chars' must be a list of single characters")
        return CharTokenizer(chars)
    from tokenizers import Tokenizer as HFTokenizer

    try:
        return BPETokenizer(HFTokenizer.from_str(json.dumps(data)))
    except Exception as exc:  # the tokenizers library raises plain Exceptions
        raise StudioFileError(f"{path} is not a tokenizer file: {exc}") from None


def build_tokenizer(kind: str, texts: list[str], vocab_size: int) -> Tokenizer:
    return CharTokenizer.train(texts) if kind == "char" else BPETokenizer.train(texts, vocab_size)


def encode_documents(tok: Tokenizer, texts: list[str]) -> list[int]:
    """One token stream: documents joined by EOS (a single document gets no EOS)."""
    if len(texts) == 1:
        return tok.encode(texts[0])
    encoded = tok.encode_batch(texts) if isinstance(tok, BPETokenizer) else [tok.encode(t) for t in texts]
    stream: list[int] = []
    for ids in encoded:
        stream.extend(ids)
        stream.append(tok.eos_id)
    return stream
