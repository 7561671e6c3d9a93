"""Sections → chunks sized in the embedder's own tokens, and never longer than a character cap.

Paragraphs (blank-line separated) are packed whole into a chunk while they fit in
``size`` tokens; a chunk never crosses a heading (sections are chunked apart). A
paragraph longer than ``size`` is cut at token boundaries into windows that overlap by
``overlap`` tokens; between packed chunks the last paragraphs (up to ``overlap`` tokens)
are repeated, so an answer that straddles a boundary is whole in one of them.
Every chunk keeps its heading, page and character span in the file.

Why a character cap and streaming: one token can cover any length of text (WordPiece
reads a word longer than 100 characters as a single ``[UNK]``), so a 20 MB line without
spaces was one chunk "of 1 token", and tokenizing it whole took 2.4 GB. Now a token span
longer than ``MAX_TOKEN_CHARS`` counts as one token per ``MAX_TOKEN_CHARS`` characters
(never fewer than the model sees, and cuttable), a chunk holds at most ``max_chars``
characters (``CHARS_PER_TOKEN`` × ``size`` by default), and a paragraph longer than that
is tokenized ``SEGMENT`` characters at a time and windowed as it streams, so memory
stays bounded by the chunks themselves whatever the file holds.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from .embedder import TokenCounter
from .parse import Section

MAX_TOKEN_CHARS = 16  # longer token spans count (and may be cut) per this many characters
CHARS_PER_TOKEN = 8  # the default character cap of a chunk: this × its token budget
SEGMENT = 8192  # characters of a long paragraph tokenized at a time
BATCH = 64  # paragraphs or segments per tokenizer call

_BLANK_LINES = re.compile(r"\n(?:[^\S\n]*\n)+")
_NON_SPACE = re.compile(r"\S")


@dataclass
class Chunk:
    text: str
    start: int  # character span in the file's text (the page's, for a PDF)
    end: int
    heading: str = ""
    page: int | None = None
    tokens: int = 0
    line: int = 1


@dataclass
class _Piece:
    start: int
    end: int
    tokens: int


def chunk_sections(
    sections: list[Section], counter: TokenCounter, size: int = 200, overlap: int = 30, max_chars: int | None = None
) -> list[Chunk]:
    if size < 8:
        raise ValueError("chunk size must be at least 8 tokens")
    overlap = max(0, min(overlap, size // 2))
    max_chars = max(4 * MAX_TOKEN_CHARS, max_chars or CHARS_PER_TOKEN * size)
    chunks: list[Chunk] = []
    for section in sections:
        text = section.text
        groups = _pack(_pieces(text, counter, size, overlap, max_chars), size, overlap, max_chars)
        if len(groups) > 1 and len(groups[0]) == 1 and _is_heading_line(text, groups[0][0]):
            groups = groups[1:]  # a lone heading line: every chunk of the section carries it already
        lines = _Lines(text, section.line)
        for group in groups:
            start, end = group[0].start, group[-1].end
            chunks.append(
                Chunk(
                    text[start:end],
                    section.offset + start,
                    section.offset + end,
                    section.heading,
                    section.page,
                    sum(p.tokens for p in group),
                    lines.at(start),
                )
            )
    return chunks


class _Lines:
    """Line numbers of offsets visited mostly in order, counted incrementally (counting
    from the top for every chunk is quadratic in a large file)."""

    def __init__(self, text: str, first: int):
        self.text, self.pos, self.line = text, 0, first

    def at(self, offset: int) -> int:
        if offset >= self.pos:
            self.line += self.text.count("\n", self.pos, offset)
        else:
            self.line -= self.text.count("\n", offset, self.pos)
        self.pos = offset
        return self.line


def _paragraphs(text: str) -> Iterator[tuple[int, int]]:
    """Spans of the text between blank lines, without their surrounding whitespace."""
    at = 0
    for sep in _BLANK_LINES.finditer(text):
        yield from _trimmed(text, at, sep.start())
        at = sep.end()
    yield from _trimmed(text, at, len(text))


def _trimmed(text: str, a: int, b: int) -> Iterator[tuple[int, int]]:
    first = _NON_SPACE.search(text, a, b)
    if first is None:
        return
    while b > a:  # the last non-space, looked for a block at a time (no copy of a huge paragraph)
        tail = text[max(a, b - 4096) : b]
        kept = tail.rstrip()
        if kept:
            yield first.start(), b - len(tail) + len(kept)
            return
        b -= len(tail)


def _split_long(spans: Iterable[tuple[int, int]], shift: int = 0) -> Iterator[tuple[int, int]]:
    """Token spans, shifted by ``shift``, with spans over MAX_TOKEN_CHARS cut into pieces."""
    for s, e in spans:
        s, e = s + shift, e + shift
        if e - s <= MAX_TOKEN_CHARS:
            yield s, e
        else:
            yield from ((p, min(p + MAX_TOKEN_CHARS, e)) for p in range(s, e, MAX_TOKEN_CHARS))


def _pieces(text: str, counter: TokenCounter, size: int, overlap: int, max_chars: int) -> Iterator[_Piece]:
    """Paragraphs that fit whole (in tokens and characters), and windows of those that do not."""
    batch: list[tuple[int, int]] = []

    def flush() -> Iterator[_Piece]:
        spans_of = counter.spans([text[a:b] for a, b in batch]) if batch else []
        for (a, b), spans in zip(batch, spans_of, strict=True):
            spans = list(_split_long(spans, a))
            if len(spans) <= size:
                yield _Piece(a, b, len(spans))
            else:
                yield from _windows(iter(spans), size, overlap, max_chars, text)
        batch.clear()

    for a, b in _paragraphs(text):
        if b - a <= max_chars:
            batch.append((a, b))
            if len(batch) >= BATCH:
                yield from flush()
        else:  # a long paragraph: tokenized a segment at a time
            yield from flush()
            yield from _windows(_streamed_spans(text, a, b, counter), size, overlap, max_chars, text)
    yield from flush()


def _streamed_spans(text: str, a: int, b: int, counter: TokenCounter) -> Iterator[tuple[int, int]]:
    """The token spans of ``text[a:b]``, tokenized SEGMENT characters at a time (cut at a
    space where one is near the end of a segment)."""
    segments, at = [], a
    while at < b:
        end = min(b, at + SEGMENT)
        if end < b:
            space = max(text.rfind(" ", at + SEGMENT // 2, end), text.rfind("\n", at + SEGMENT // 2, end))
            end = space if space > at else end
        segments.append((at, end))
        at = end
        if len(segments) == BATCH or at >= b:
            for (s, _), spans in zip(segments, counter.spans([text[s:e] for s, e in segments]), strict=True):
                yield from _split_long(spans, s)
            segments = []


def _windows(spans: Iterator[tuple[int, int]], size: int, overlap: int, max_chars: int, text: str) -> Iterator[_Piece]:
    """Windows of at most ``size`` tokens and ``max_chars`` characters, ``overlap`` shared,
    cut between words where a word boundary lies within a few tokens. Reads ``spans`` as
    it goes: only one window's tokens are held at a time."""
    slack = max(1, size // 8)
    buf: list[tuple[int, int]] = []
    exhausted = False
    while True:
        while not exhausted and len(buf) <= size:  # one token of look-ahead: is there more?
            token = next(spans, None)
            if token is None:
                exhausted = True
            else:
                buf.append(token)
        if not buf:
            return
        end = min(size, len(buf))
        while end > 1 and buf[end - 1][1] - buf[0][0] > max_chars:
            end -= 1
        if end < len(buf):
            for cut in range(end, max(0, end - slack), -1):
                if _word_start(text, buf[cut][0]):
                    end = cut
                    break
        yield _Piece(buf[0][0], buf[end - 1][1], end)
        if end >= len(buf):
            return
        nxt = max(1, end - min(overlap, end // 2))  # overlap, yet always at least half a window forward
        for candidate in range(nxt, min(end, nxt + slack)):
            if _word_start(text, buf[candidate][0]):
                nxt = candidate
                break
        buf = buf[nxt:]


def _word_start(text: str, offset: int) -> bool:
    return offset == 0 or text[offset - 1].isspace()


def _is_heading_line(text: str, piece: _Piece) -> bool:
    line = text[piece.start : piece.end]
    return "\n" not in line.strip() and (line.startswith("#") or piece.tokens <= 12)


def _pack(pieces: Iterable[_Piece], size: int, overlap: int, max_chars: int) -> list[list[_Piece]]:
    groups: list[list[_Piece]] = []
    current: list[_Piece] = []
    for piece in pieces:
        if current and (
            sum(p.tokens for p in current) + piece.tokens > size or piece.end - current[0].start > max_chars
        ):
            groups.append(current)
            carried: list[_Piece] = []
            for previous in reversed(current):  # repeat the tail of the last chunk, whole paragraphs only
                kept = sum(p.tokens for p in carried) + previous.tokens
                if kept > overlap or kept + piece.tokens > size or piece.end - previous.start > max_chars:
                    break
                carried.insert(0, previous)
            current = carried
        current.append(piece)
    if current:
        groups.append(current)
    return groups
